//! Small stable sorts for the engine's bounded lists (runs, contacts, incentives, paths).
//! std's `sort_by` is monomorphized per element type and comparator, and its driftsort
//! is several KB each time: a dozen call sites made ~70 KB of the wasm module. Here the
//! merge sort runs once, over indices with a `dyn` comparator; the generic part is an
//! already-sorted check (the common case: states stay sorted between calls) and a
//! permutation. Same results as std's stable sort: both are stable, so for a comparator
//! that is a total order the output is the one sorted order of the input.

use std::cmp::Ordering;

/// Sorts `v` stably by `cmp`, like `slice::sort_by`. O(n) when already sorted,
/// O(n log n) otherwise (one index vector and one slot vector allocated).
pub fn sort_by<T>(v: &mut Vec<T>, mut cmp: impl FnMut(&T, &T) -> Ordering) {
    if v.windows(2).all(|w| match w {
        [a, b] => cmp(a, b) != Ordering::Greater,
        _ => true,
    }) {
        return;
    }
    let order = {
        let items: &[T] = v;
        let mut by_index = |i: usize, j: usize| match (items.get(i), items.get(j)) {
            (Some(a), Some(b)) => cmp(a, b),
            _ => Ordering::Equal,
        };
        sorted_indices(items.len(), &mut by_index)
    };
    let mut slots: Vec<Option<T>> = v.drain(..).map(Some).collect();
    v.extend(order.into_iter().filter_map(|i| slots.get_mut(i).and_then(Option::take)));
}

/// Sorts `v` stably in ascending order, like `slice::sort`.
pub fn sort<T: Ord>(v: &mut Vec<T>) {
    sort_by(v, T::cmp);
}

/// The indices `0..n` in stable sorted order under `cmp` (bottom-up merge sort).
fn sorted_indices(n: usize, cmp: &mut dyn FnMut(usize, usize) -> Ordering) -> Vec<usize> {
    let mut src: Vec<usize> = (0..n).collect();
    let mut dst: Vec<usize> = Vec::with_capacity(n);
    let mut width = 1;
    while width < n {
        dst.clear();
        for chunk in src.chunks(2 * width) {
            let (left, right) = chunk.split_at(width.min(chunk.len()));
            let (mut l, mut r) = (left.iter().peekable(), right.iter().peekable());
            loop {
                let take_left = match (l.peek(), r.peek()) {
                    // Ties take the left (earlier) element: that is what keeps it stable.
                    (Some(&&a), Some(&&b)) => cmp(a, b) != Ordering::Greater,
                    (Some(_), None) => true,
                    (None, Some(_)) => false,
                    (None, None) => break,
                };
                let next = if take_left { l.next() } else { r.next() };
                dst.extend(next.copied());
            }
        }
        std::mem::swap(&mut src, &mut dst);
        width = width.saturating_mul(2);
    }
    src
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_std_stable_sort() {
        // Pairs sorted by the first field only: stability shows in the second.
        let mut seed = 7u64;
        for n in 0..70 {
            let mut v: Vec<(u8, usize)> = (0..n)
                .map(|i| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    ((seed >> 60) as u8, i)
                })
                .collect();
            let mut want = v.clone();
            want.sort_by_key(|a| a.0);
            sort_by(&mut v, |a, b| a.0.cmp(&b.0));
            assert_eq!(v, want, "n = {n}");
        }
    }

    #[test]
    fn sorted_and_reversed_inputs() {
        let mut v: Vec<u32> = (0..100).collect();
        sort(&mut v);
        assert_eq!(v, (0..100).collect::<Vec<_>>());
        let mut r: Vec<u32> = (0..100).rev().collect();
        sort(&mut r);
        assert_eq!(r, (0..100).collect::<Vec<_>>());
    }
}
