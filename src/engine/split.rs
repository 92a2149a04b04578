//! A/B splits: a shopper's stable bucket in a journey (xxh3 of journey, shopper and a
//! salt, seeded by the bundle), holdout first, then a variant by cumulative weight —
//! the written weights, or those the backend learned for an adaptive split. The holdout
//! has its own hash, so shifting the variants' weights never moves a shopper in or out
//! of it.

use super::report::concat;

/// Stable bucket in [0, 10_000) for a shopper in a journey.
fn bucket(seed: u64, journey: &str, shopper: &str, salt: &str) -> u32 {
    let key = concat(&[journey, "\u{1f}", shopper, "\u{1f}", salt]);
    (xxhash_rust::xxh3::xxh3_64_with_seed(key.as_bytes(), seed) % 10_000) as u32
}

/// Whether a shopper falls in a split's holdout of `holdout_bp` basis points: the
/// backend checks a run's holdout claim with it.
pub fn held_out(seed: u64, journey: &str, shopper: &str, holdout_bp: u32) -> bool {
    bucket(seed, journey, shopper, "holdout") < holdout_bp
}

/// Holdout first (its own hash), then a variant by cumulative weight: `learned` (basis
/// points, one per variant) when given, else the variants' own.
pub(super) fn pick_variant<'v>(
    seed: u64,
    journey: &str,
    shopper: &str,
    variants: &'v [(String, u32, usize)],
    learned: Option<&[u32]>,
    holdout_bp: u32,
) -> Option<(&'v str, usize)> {
    if held_out(seed, journey, shopper, holdout_bp) {
        return None;
    }
    let roll = bucket(seed, journey, shopper, "variant");
    let mut cumulative = 0u32;
    for (i, (name, weight, next)) in variants.iter().enumerate() {
        let weight = learned.and_then(|l| l.get(i)).unwrap_or(weight);
        cumulative = cumulative.saturating_add(*weight);
        if roll < cumulative {
            return Some((name, *next));
        }
    }
    variants.last().map(|(name, _, next)| (name.as_str(), *next))
}
