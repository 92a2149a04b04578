//! Item-to-item neighbours by cosine similarity over the shopper–item matrix: each item is
//! a vector over shoppers (the summed weight of that shopper's interactions with it), and
//! two items are as similar as the cosine of their vectors. Two lists per item:
//! *viewed together* (views weigh [`VIEW_WEIGHT`], carts [`CART_WEIGHT`]) and *bought
//! together* (each purchase weighs 1).
//!
//! Computation: the vectors are normalised to unit length, then each item's dot products
//! are accumulated through the item lists of the shoppers who touched it (sparse
//! co-occurrence, work = the sum over shoppers of their item count squared), and the `k`
//! best are kept, the item itself left out. A shopper counts with at most
//! [`CosineConfig::max_items_per_shopper`] items, their heaviest (ties: smaller item id),
//! so one crawler or reseller who touched thousands of items cannot make the work blow up
//! or make everything similar to everything. Items are split over threads; each item's list
//! depends only on the data, never on the thread count or the input order.
//!
//! Refresh: a **full rebuild on a schedule**, not an incremental update. A new interaction
//! changes its item's norm and so every cosine that item takes part in, in the lists of
//! items it never touched directly; a rebuild keeps every list exact. It is cheap enough to
//! run every few minutes and swap in (see `bench`: 10k items × 1M interactions).

use std::collections::HashMap;

use super::{Interaction, Kind};

/// How much a view counts in the viewed-together vectors.
pub const VIEW_WEIGHT: f32 = 1.0;
/// How much an add to cart counts in the viewed-together vectors.
pub const CART_WEIGHT: f32 = 3.0;
/// How much a purchase counts in the bought-together vectors.
pub const BUY_WEIGHT: f32 = 1.0;

/// Settings of a similarity build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CosineConfig {
    /// Neighbours kept per item (20).
    pub k: usize,
    /// The most items one shopper contributes (300): their heaviest, ties by item id.
    pub max_items_per_shopper: usize,
    /// Worker threads; 0 uses every core.
    pub threads: usize,
}

impl Default for CosineConfig {
    fn default() -> Self {
        CosineConfig { k: 20, max_items_per_shopper: 300, threads: 0 }
    }
}

/// One neighbour of an item.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Neighbour<'a> {
    /// The neighbour's item id.
    pub item: &'a str,
    /// Cosine similarity, in (0, 1].
    pub score: f32,
}

/// Every item's `k` nearest neighbours, best first (ties: smaller item id).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Similarity {
    /// Item ids, sorted; an item's index is its place here.
    // INVARIANT: sorted and unique, so index order is id order (ties break by index).
    items: Vec<String>,
    /// Per item (same index), its neighbours as (index, cosine), best first.
    lists: Vec<Vec<(u32, f32)>>,
}

/// The two neighbour lists recommendations use.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Neighbours {
    /// Items viewed or carted by the same shoppers.
    pub viewed_together: Similarity,
    /// Items bought by the same shoppers.
    pub bought_together: Similarity,
}

impl Neighbours {
    /// Both lists from raw interactions (repeated interactions add up).
    pub fn build(interactions: &[Interaction], config: &CosineConfig) -> Neighbours {
        let viewed = interactions.iter().filter_map(|i| match i.kind {
            Kind::Viewed => Some((i.shopper.as_str(), i.item.as_str(), VIEW_WEIGHT)),
            Kind::Carted => Some((i.shopper.as_str(), i.item.as_str(), CART_WEIGHT)),
            Kind::Bought => None,
        });
        let bought = interactions
            .iter()
            .filter(|i| i.kind == Kind::Bought)
            .map(|i| (i.shopper.as_str(), i.item.as_str(), BUY_WEIGHT));
        Neighbours {
            viewed_together: Similarity::from_weights(viewed, config),
            bought_together: Similarity::from_weights(bought, config),
        }
    }
}

impl Similarity {
    /// Builds the lists from (shopper, item, weight) entries; entries of the same shopper
    /// and item add up, and a total that is not a positive finite number is dropped.
    pub fn from_weights<'a, I>(entries: I, config: &CosineConfig) -> Similarity
    where
        I: IntoIterator<Item = (&'a str, &'a str, f32)>,
    {
        let matrix = Matrix::new(entries, config.max_items_per_shopper);
        let lists = all_top_k(&matrix, config.k, config.threads);
        Similarity { items: matrix.items.into_iter().map(str::to_owned).collect(), lists }
    }

    /// The neighbours of `item`, best first; none for an unknown item.
    pub fn neighbours<'s>(&'s self, item: &str) -> impl Iterator<Item = Neighbour<'s>> + 's {
        let list = match self.items.binary_search_by(|probe| probe.as_str().cmp(item)) {
            Ok(index) => self.lists.get(index).map(Vec::as_slice).unwrap_or_default(),
            Err(_) => &[],
        };
        list.iter()
            .filter_map(|&(j, score)| self.items.get(j as usize).map(|item| Neighbour { item: item.as_str(), score }))
    }

    /// The items that have interactions (each has a list, possibly empty), sorted.
    pub fn items(&self) -> impl Iterator<Item = &str> {
        self.items.iter().map(String::as_str)
    }

    /// How many items have interactions.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when no item has interactions.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// The normalised matrix twice: by item (for the outer loop) and by shopper.
struct Matrix<'a> {
    /// Item ids, sorted and unique.
    items: Vec<&'a str>,
    /// Item `i`'s entries are `by_item[item_start[i]..item_start[i + 1]]`: (shopper, weight).
    item_start: Vec<usize>,
    by_item: Vec<(u32, f64)>,
    /// Shopper `u`'s entries are `by_shopper[shopper_start[u]..shopper_start[u + 1]]`.
    shopper_start: Vec<usize>,
    by_shopper: Vec<(u32, f64)>,
}

impl<'a> Matrix<'a> {
    fn new<I>(entries: I, cap: usize) -> Matrix<'a>
    where
        I: IntoIterator<Item = (&'a str, &'a str, f32)>,
    {
        // Intern ids, then renumber both in sorted order, so nothing below depends on the
        // order entries came in.
        let mut item_ids: HashMap<&'a str, u32> = HashMap::new();
        let mut shopper_ids: HashMap<&'a str, u32> = HashMap::new();
        let mut raw: Vec<(u32, u32, f64)> = Vec::new();
        for (shopper, item, weight) in entries {
            let next = item_ids.len() as u32;
            let i = *item_ids.entry(item).or_insert(next);
            let next = shopper_ids.len() as u32;
            let u = *shopper_ids.entry(shopper).or_insert(next);
            raw.push((u, i, f64::from(weight)));
        }
        let (items, item_order) = sorted_numbering(item_ids);
        let (_, shopper_order) = sorted_numbering(shopper_ids);
        for entry in &mut raw {
            entry.0 = shopper_order.get(entry.0 as usize).copied().unwrap_or(entry.0);
            entry.1 = item_order.get(entry.1 as usize).copied().unwrap_or(entry.1);
        }
        // Sum repeated (shopper, item) entries; the stable sort keeps each sum's order fixed.
        raw.sort_by_key(|&(u, i, _)| (u, i));
        let mut summed: Vec<(u32, u32, f64)> = Vec::with_capacity(raw.len());
        for (u, i, w) in raw {
            match summed.last_mut() {
                Some(last) if last.0 == u && last.1 == i => last.2 += w,
                _ => summed.push((u, i, w)),
            }
        }
        summed.retain(|e| e.2.is_finite() && e.2 > 0.0);
        let summed = cap_per_shopper(summed, cap);

        let mut norms = vec![0.0f64; items.len()];
        for &(_, i, w) in &summed {
            if let Some(n) = norms.get_mut(i as usize) {
                *n += w * w;
            }
        }
        let normalised: Vec<(u32, u32, f64)> = summed
            .into_iter()
            .map(|(u, i, w)| {
                let norm = norms.get(i as usize).copied().unwrap_or(1.0).sqrt();
                (u, i, w / norm)
            })
            .collect();

        let shoppers = shopper_order.len();
        let (shopper_start, by_shopper) = group(shoppers, normalised.iter().copied());
        let mut by_item_entries: Vec<(u32, u32, f64)> = normalised.iter().map(|&(u, i, w)| (i, u, w)).collect();
        by_item_entries.sort_by_key(|&(i, u, _)| (i, u));
        let (item_start, by_item) = group(items.len(), by_item_entries.into_iter());
        Matrix { items, item_start, by_item, shopper_start, by_shopper }
    }

    fn item_entries(&self, item: usize) -> &[(u32, f64)] {
        slice_of(&self.item_start, &self.by_item, item)
    }

    fn shopper_entries(&self, shopper: usize) -> &[(u32, f64)] {
        slice_of(&self.shopper_start, &self.by_shopper, shopper)
    }
}

/// Ids sorted, and for each first-seen number its sorted number.
fn sorted_numbering(ids: HashMap<&str, u32>) -> (Vec<&str>, Vec<u32>) {
    let mut pairs: Vec<(&str, u32)> = ids.into_iter().collect();
    pairs.sort_unstable();
    let mut order = vec![0u32; pairs.len()];
    for (sorted, &(_, seen)) in pairs.iter().enumerate() {
        if let Some(slot) = order.get_mut(seen as usize) {
            *slot = sorted as u32;
        }
    }
    (pairs.into_iter().map(|(id, _)| id).collect(), order)
}

/// Keeps each shopper's `cap` heaviest items (ties: smaller item index). Input and output are
/// sorted by (shopper, item).
fn cap_per_shopper(entries: Vec<(u32, u32, f64)>, cap: usize) -> Vec<(u32, u32, f64)> {
    let mut out = Vec::with_capacity(entries.len());
    for run in entries.chunk_by(|a, b| a.0 == b.0) {
        if run.len() <= cap {
            out.extend_from_slice(run);
        } else {
            let mut kept = run.to_vec();
            kept.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.1.cmp(&b.1)));
            kept.truncate(cap);
            kept.sort_by_key(|e| e.1);
            out.extend(kept);
        }
    }
    out
}

/// Groups entries sorted by their first field into (starts, rest): the entries of key `k`
/// are `rest[starts[k]..starts[k + 1]]`.
fn group(keys: usize, entries: impl Iterator<Item = (u32, u32, f64)>) -> (Vec<usize>, Vec<(u32, f64)>) {
    let mut starts = vec![0usize; keys + 1];
    let mut rest = Vec::new();
    for (key, other, w) in entries {
        if let Some(count) = starts.get_mut(key as usize + 1) {
            *count += 1;
        }
        rest.push((other, w));
    }
    for k in 1..starts.len() {
        let before = starts.get(k - 1).copied().unwrap_or(0);
        if let Some(s) = starts.get_mut(k) {
            *s += before;
        }
    }
    (starts, rest)
}

fn slice_of<'s, T>(starts: &[usize], entries: &'s [T], key: usize) -> &'s [T] {
    match (starts.get(key), starts.get(key + 1)) {
        (Some(&from), Some(&to)) => entries.get(from..to).unwrap_or_default(),
        _ => &[],
    }
}

/// One item's neighbours as (index, cosine), best first.
type List = Vec<(u32, f32)>;

/// Every item's top `k`, items split round-robin over the threads.
fn all_top_k(matrix: &Matrix<'_>, k: usize, threads: usize) -> Vec<Vec<(u32, f32)>> {
    let n = matrix.items.len();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let threads = if threads == 0 { cores } else { threads }.clamp(1, n.max(1));
    let mut lists: Vec<Vec<(u32, f32)>> = vec![Vec::new(); n];
    let parts: Vec<Vec<(usize, List)>> = std::thread::scope(|scope| {
        let work = |part: usize| -> Vec<(usize, List)> {
            let mut acc = Accumulator::new(n);
            (part..n).step_by(threads).map(|i| (i, acc.top_k(matrix, i, k))).collect()
        };
        let spawned: Vec<_> = (1..threads)
            .map(|part| {
                (
                    part,
                    std::thread::Builder::new().name(format!("cosine-{part}")).spawn_scoped(scope, move || work(part)),
                )
            })
            .collect();
        let mut parts = vec![work(0)];
        for (part, handle) in spawned {
            match handle {
                // A thread that could not start: its share is done here.
                Err(_) => parts.push(work(part)),
                Ok(handle) => match handle.join() {
                    Ok(done) => parts.push(done),
                    Err(payload) => std::panic::resume_unwind(payload),
                },
            }
        }
        parts
    });
    for (i, list) in parts.into_iter().flatten() {
        if let Some(slot) = lists.get_mut(i) {
            *slot = list;
        }
    }
    lists
}

/// A dense accumulator of one item's dot products, reused across items.
struct Accumulator {
    sums: Vec<f64>,
    /// Whether `sums[j]` is in `touched` (a sum may round to zero, so it cannot tell).
    seen: Vec<bool>,
    touched: Vec<u32>,
}

impl Accumulator {
    fn new(items: usize) -> Accumulator {
        Accumulator { sums: vec![0.0; items], seen: vec![false; items], touched: Vec::new() }
    }

    /// Item `i`'s `k` best neighbours (itself excluded), best first, ties by smaller index.
    fn top_k(&mut self, matrix: &Matrix<'_>, i: usize, k: usize) -> Vec<(u32, f32)> {
        for &(shopper, wi) in matrix.item_entries(i) {
            for &(j, wj) in matrix.shopper_entries(shopper as usize) {
                if let (Some(sum), Some(seen)) = (self.sums.get_mut(j as usize), self.seen.get_mut(j as usize)) {
                    if !*seen {
                        *seen = true;
                        self.touched.push(j);
                    }
                    *sum += wi * wj;
                }
            }
        }
        let mut found: Vec<(u32, f64)> = Vec::with_capacity(self.touched.len());
        for j in self.touched.drain(..) {
            if let (Some(sum), Some(seen)) = (self.sums.get_mut(j as usize), self.seen.get_mut(j as usize)) {
                if j as usize != i {
                    found.push((j, *sum));
                }
                *sum = 0.0;
                *seen = false;
            }
        }
        let order = |a: &(u32, f64), b: &(u32, f64)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if found.len() > k && k > 0 {
            found.select_nth_unstable_by(k - 1, order);
        }
        found.truncate(k);
        found.sort_unstable_by(order);
        found.into_iter().map(|(j, s)| (j, s as f32)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(entries: &[(&'static str, &'static str, f32)], k: usize, cap: usize) -> Similarity {
        let config = CosineConfig { k, max_items_per_shopper: cap, threads: 2 };
        Similarity::from_weights(entries.iter().copied(), &config)
    }

    fn list(s: &Similarity, item: &str) -> Vec<(String, f32)> {
        s.neighbours(item).map(|n| (n.item.to_owned(), n.score)).collect()
    }

    #[test]
    fn cosine_of_two_items_over_shoppers() {
        // a = (1, 1, 0), b = (1, 0, 2) over shoppers u, v, w: cos = 1 / (sqrt 2 · sqrt 5).
        let s = build(&[("u", "a", 1.0), ("v", "a", 1.0), ("u", "b", 1.0), ("w", "b", 2.0)], 10, 100);
        let expected = 1.0 / (2.0f64.sqrt() * 5.0f64.sqrt());
        let a = list(&s, "a");
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].0, "b");
        assert!((f64::from(a[0].1) - expected).abs() < 1e-6);
        assert_eq!(list(&s, "b")[0].0, "a");
        assert!(list(&s, "zzz").is_empty());
    }

    #[test]
    fn repeated_entries_add_up_and_order_does_not_matter() {
        let entries =
            [("u", "a", 1.0), ("u", "a", 2.0), ("u", "b", 1.0), ("v", "b", 1.0), ("v", "c", 4.0), ("w", "c", 1.0)];
        let forward = build(&entries, 5, 100);
        let mut reversed = entries;
        reversed.reverse();
        assert_eq!(forward, build(&reversed, 5, 100));
        let single =
            build(&[("u", "a", 3.0), ("u", "b", 1.0), ("v", "b", 1.0), ("v", "c", 4.0), ("w", "c", 1.0)], 5, 100);
        assert_eq!(forward, single);
    }

    #[test]
    fn ties_break_by_item_id_and_k_cuts() {
        // b, c, d are identical to each other, each shares shopper u with a.
        let s = build(&[("u", "a", 1.0), ("u", "d", 1.0), ("u", "c", 1.0), ("u", "b", 1.0)], 2, 100);
        let a: Vec<String> = list(&s, "a").into_iter().map(|x| x.0).collect();
        assert_eq!(a, ["b", "c"]);
    }

    #[test]
    fn the_cap_keeps_a_shoppers_heaviest_items() {
        // Shopper u touched a (5), b (4), c (1); with a cap of 2, c is not in u's vector.
        let s = build(&[("u", "a", 5.0), ("u", "b", 4.0), ("u", "c", 1.0), ("v", "c", 1.0), ("v", "a", 1.0)], 10, 2);
        let c: Vec<String> = list(&s, "c").into_iter().map(|x| x.0).collect();
        assert_eq!(c, ["a"], "c co-occurs with a only through v");
        let b: Vec<String> = list(&s, "b").into_iter().map(|x| x.0).collect();
        assert_eq!(b, ["a"]);
    }

    #[test]
    fn bad_weights_are_dropped_and_threads_do_not_change_lists() {
        let entries: Vec<(String, String, f32)> = (0..400u32)
            .map(|n| (format!("s{}", n % 37), format!("i{}", (n * 7919) % 53), 1.0 + (n % 5) as f32))
            .collect();
        let borrowed = || entries.iter().map(|(s, i, w)| (s.as_str(), i.as_str(), *w));
        let one = Similarity::from_weights(borrowed(), &CosineConfig { k: 8, max_items_per_shopper: 100, threads: 1 });
        let three =
            Similarity::from_weights(borrowed(), &CosineConfig { k: 8, max_items_per_shopper: 100, threads: 3 });
        assert_eq!(one, three);
        let with_bad = Similarity::from_weights(
            borrowed().chain([("x", "bad", f32::NAN), ("y", "neg", -1.0)]),
            &CosineConfig { k: 8, max_items_per_shopper: 100, threads: 1 },
        );
        assert_eq!(with_bad.neighbours("bad").count(), 0);
        assert_eq!(with_bad.neighbours("i3").collect::<Vec<_>>(), one.neighbours("i3").collect::<Vec<_>>());
    }

    #[test]
    fn neighbours_builds_both_lists() {
        let t = crate::time::Timestamp(0);
        let at =
            |shopper: &str, item: &str, kind| Interaction { shopper: shopper.into(), item: item.into(), kind, at: t };
        let n = Neighbours::build(
            &[
                at("u", "a", Kind::Viewed),
                at("u", "b", Kind::Carted),
                at("v", "a", Kind::Bought),
                at("v", "c", Kind::Bought),
            ],
            &CosineConfig::default(),
        );
        assert_eq!(n.viewed_together.neighbours("a").map(|x| x.item).collect::<Vec<_>>(), ["b"]);
        assert_eq!(n.bought_together.neighbours("a").map(|x| x.item).collect::<Vec<_>>(), ["c"]);
        assert!(n.bought_together.neighbours("b").next().is_none());
    }
}
