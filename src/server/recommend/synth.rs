//! Deterministic synthetic shop data for the bench and the tests: a catalog in categories
//! and interactions with the skew real shops show (a few popular items per category,
//! shoppers who stay mostly in one category, a few heavy shoppers and crawlers). The same
//! parameters always give the same data (a seeded SplitMix64, no global randomness).

use super::{CatalogItem, Interaction, Kind};
use crate::time::{Timestamp, DAY};

/// The size and seed of a synthetic shop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynthParams {
    /// Catalog items.
    pub items: usize,
    /// Interactions in all.
    pub interactions: usize,
    /// Distinct shoppers (at most).
    pub shoppers: usize,
    /// Categories the items fall in.
    pub categories: usize,
    /// The seed.
    pub seed: u64,
    /// Interactions fall in the 30 days before this time.
    pub now: Timestamp,
}

impl SynthParams {
    /// The bench size: 10k items, 1M interactions, 100k shoppers, 40 categories.
    pub fn bench() -> SynthParams {
        SynthParams {
            items: 10_000,
            interactions: 1_000_000,
            shoppers: 100_000,
            categories: 40,
            seed: 17,
            now: Timestamp(1_780_000_000_000),
        }
    }

    /// A small shop of the same shape (tests).
    pub fn small() -> SynthParams {
        SynthParams { items: 300, interactions: 6_000, shoppers: 600, categories: 6, ..SynthParams::bench() }
    }
}

/// SplitMix64: a tiny, well-mixed generator.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, n); 0 when n is 0.
    pub fn below(&mut self, n: usize) -> usize {
        ((self.unit() * n as f64) as usize).min(n.saturating_sub(1))
    }
}

/// The item id of item number `n`.
pub fn item_id(n: usize) -> String {
    format!("i{n:05}")
}

/// The category name of category number `c`.
pub fn category_name(c: usize) -> String {
    format!("cat{c:02}")
}

/// The category number of item number `n`.
pub fn category_of(n: usize, params: &SynthParams) -> usize {
    n % params.categories.max(1)
}

const ADJECTIVES: [&str; 8] = ["Running", "Leather", "Classic", "Waterproof", "Organic", "Slim", "Winter", "Trail"];
const NOUNS: [&str; 8] = ["Shoe", "Jacket", "Bag", "Shirt", "Scarf", "Boot", "Cap", "Sock"];

/// The catalog: titles from a small vocabulary, 95% in stock.
pub fn catalog(params: &SynthParams) -> Vec<CatalogItem> {
    let mut rng = Rng::new(params.seed ^ 0xC0FFEE);
    (0..params.items)
        .map(|n| {
            let adjective = ADJECTIVES.get(rng.below(ADJECTIVES.len())).copied().unwrap_or("Plain");
            let noun = NOUNS.get(rng.below(NOUNS.len())).copied().unwrap_or("Thing");
            let category = category_name(category_of(n, params));
            CatalogItem {
                id: item_id(n),
                title: format!("{adjective} {noun} {n}"),
                description: format!(
                    "A {} {} from the {category} range.",
                    adjective.to_lowercase(),
                    noun.to_lowercase()
                ),
                category,
                brand: format!("brand{}", n % 25),
                in_stock: rng.unit() < 0.95,
            }
        })
        .collect()
}

/// The interactions: each shopper has a home category (70% of their interactions); within a
/// category the item is drawn with a cubic skew (a few items are most of the traffic);
/// shoppers are drawn with a quadratic skew, and one in 500 is a crawler who touches items
/// uniformly. Kinds: 85% views, 10% carts, 5% purchases.
pub fn interactions(params: &SynthParams) -> Vec<Interaction> {
    let mut rng = Rng::new(params.seed);
    let categories = params.categories.max(1);
    let per_category = params.items.div_ceil(categories).max(1);
    let mut out = Vec::with_capacity(params.interactions);
    while out.len() < params.interactions && params.items > 0 {
        let r = rng.unit();
        let shopper = ((r * r) * params.shoppers as f64) as usize;
        let crawler = shopper % 500 == 7;
        let item = if crawler {
            rng.below(params.items)
        } else {
            let home = shopper.wrapping_mul(2_654_435_761) % categories;
            let category = if rng.unit() < 0.7 { home } else { rng.below(categories) };
            let r = rng.unit();
            let within = ((r * r * r) * per_category as f64) as usize;
            within * categories + category
        };
        if item >= params.items {
            continue;
        }
        let k = rng.unit();
        let kind = if k < 0.85 {
            Kind::Viewed
        } else if k < 0.95 {
            Kind::Carted
        } else {
            Kind::Bought
        };
        let at = Timestamp(params.now.0 - (rng.unit() * (30 * DAY) as f64) as i64);
        out.push(Interaction { shopper: format!("s{shopper}"), item: item_id(item), kind, at });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_parameters_give_the_same_data() {
        let p = SynthParams::small();
        assert_eq!(interactions(&p), interactions(&p));
        assert_eq!(catalog(&p), catalog(&p));
        assert_eq!(interactions(&p).len(), p.interactions);
        let other = SynthParams { seed: 18, ..p };
        assert_ne!(interactions(&p), interactions(&other));
    }
}
