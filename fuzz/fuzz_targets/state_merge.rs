//! `ShopperState::merge` is a bounded join: for states a, b, c that decode, merge(a, b)
//! and merge(b, a) encode to the same bytes, merge(a, a) is a, merge is associative, and
//! every merge result stays within every bound of src/state.rs (traits, runs, runs per
//! journey, contacts, incentives, ids, encoded size) and round-trips.
//!
//! Input: a first byte, then either (even) three states as raw bytes in the `parts`
//! layout of the crate, or (odd) a recipe for three structured states (long strings, many
//! entries; see `waymark_fuzz::state`). A state only takes part if its encoding decodes,
//! as a synced copy must.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use waymark::ShopperState;
use waymark_fuzz::{assert_roundtrip, check_bounds, parts};

fn merged(a: &ShopperState, b: &ShopperState) -> ShopperState {
    let mut out = a.clone();
    out.merge(b);
    out
}

/// The three states of an input; `None` when one of them is not a valid state.
fn states(data: &[u8]) -> Option<[ShopperState; 3]> {
    let (&mode, rest) = data.split_first()?;
    let decode = |bytes: &[u8]| ShopperState::decode(bytes).ok();
    if mode & 1 == 0 {
        let p = parts(rest, 3);
        Some([decode(p[0])?, decode(p[1])?, decode(p[2])?])
    } else {
        let mut u = Unstructured::new(rest);
        let mut one = || waymark_fuzz::state(&mut u).ok().and_then(|s| decode(&s.encode()));
        Some([one()?, one()?, one()?])
    }
}

fuzz_target!(|data: &[u8]| {
    let Some([a, b, c]) = states(data) else { return };
    let ab = merged(&a, &b);
    check_bounds(&ab, "merge(a, b)");
    let ab_bytes = assert_roundtrip(&ab, "merge(a, b)");
    assert!(merged(&b, &a).encode() == ab_bytes, "merge(a, b) != merge(b, a)");
    assert!(merged(&a, &a).encode() == a.encode(), "merge(a, a) != a");
    assert!(merged(&ab, &ab).encode() == ab_bytes, "merge(ab, ab) != ab");
    let ab_c = merged(&ab, &c);
    check_bounds(&ab_c, "merge(merge(a, b), c)");
    assert_roundtrip(&ab_c, "merge(merge(a, b), c)");
    assert!(merged(&a, &merged(&b, &c)).encode() == ab_c.encode(), "merge is not associative");
});
