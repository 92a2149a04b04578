//! A/B splits: a shopper's stable bucket in a journey (xxh3 of journey, shopper and a
//! salt, seeded by the bundle), holdout first, then a variant by cumulative weight.

use super::report::concat;

/// Stable bucket in [0, 10_000) for a shopper in a journey.
fn bucket(seed: u64, journey: &str, shopper: &str, salt: &str) -> u32 {
    let key = concat(&[journey, "\u{1f}", shopper, "\u{1f}", salt]);
    (xxhash_rust::xxh3::xxh3_64_with_seed(key.as_bytes(), seed) % 10_000) as u32
}

/// Holdout first (its own hash), then a variant by cumulative weight.
pub(super) fn pick_variant<'v>(
    seed: u64,
    journey: &str,
    shopper: &str,
    variants: &'v [(String, u32, usize)],
    holdout_bp: u32,
) -> Option<(&'v str, usize)> {
    if bucket(seed, journey, shopper, "holdout") < holdout_bp {
        return None;
    }
    let roll = bucket(seed, journey, shopper, "variant");
    let mut cumulative = 0u32;
    for (name, weight, next) in variants {
        cumulative = cumulative.saturating_add(*weight);
        if roll < cumulative {
            return Some((name, *next));
        }
    }
    variants.last().map(|(name, _, next)| (name.as_str(), *next))
}
