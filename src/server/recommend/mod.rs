//! Recommendations and catalog search, as pure functions over plain data: no database, no
//! clock (`now` is a parameter), no randomness; every ranking breaks ties by item id. The
//! server loads interactions and catalog rows from storage and hands them in.
//!
//! - `cosine` — item-to-item neighbours (viewed together, bought together) by cosine
//!   similarity over the shopper–item matrix; a full refresh, run on a schedule;
//! - `popular` — popular (decayed counts) and trending (short versus long half-life rate)
//!   items, per category;
//! - `blend` — a shopper's personal recommendations, and those anchored on one item, each
//!   with the reason it was chosen;
//! - `search` — catalog search, BM25 over stemmed title, brand, category and description;
//! - `synth` — deterministic synthetic catalogs and interactions, `bench` — the refresh and
//!   query bench on them (`examples/reco_bench.rs`).

pub mod bench;
pub mod blend;
pub mod cosine;
pub mod popular;
pub mod routes;
pub mod search;
pub mod service;
pub mod synth;

use std::cmp::Ordering;

use crate::time::Timestamp;

pub use self::blend::{for_item, for_shopper, Anchor, BlendConfig, Reason, Recommendation, Seen, Shopper, Sources};
pub use self::cosine::{CosineConfig, Neighbour, Neighbours, Similarity};
pub use self::popular::{Popularity, PopularityConfig};
pub use self::search::{CatalogItem, SearchHit, SearchIndex, Stock};

/// What a shopper did with an item: the implicit feedback recommendations learn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// Viewed the item's page.
    Viewed,
    /// Added the item to the cart (or the wishlist).
    Carted,
    /// Bought the item.
    Bought,
}

impl Kind {
    /// How much one interaction of this kind counts in popularity and in a shopper's seeds:
    /// a view 1, a cart 3, a purchase 5 (a cart or a purchase says more than a glance).
    pub const fn weight(self) -> f64 {
        match self {
            Kind::Viewed => 1.0,
            Kind::Carted => 3.0,
            Kind::Bought => 5.0,
        }
    }

    /// The stable name: `viewed`, `carted`, `bought`.
    pub const fn code(self) -> &'static str {
        match self {
            Kind::Viewed => "viewed",
            Kind::Carted => "carted",
            Kind::Bought => "bought",
        }
    }

    /// The kind named by [`Kind::code`].
    pub fn from_code(code: &str) -> Option<Kind> {
        match code {
            "viewed" => Some(Kind::Viewed),
            "carted" => Some(Kind::Carted),
            "bought" => Some(Kind::Bought),
            _ => None,
        }
    }
}

/// One interaction of one shopper with one item.
#[derive(Debug, Clone, PartialEq)]
pub struct Interaction {
    /// The shopper's key (the storage row key, e.g. `cust:42`).
    pub shopper: String,
    /// The catalog item id.
    pub item: String,
    /// What the shopper did.
    pub kind: Kind,
    /// When.
    pub at: Timestamp,
}

/// An item with a score, as the ranked lists return them.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// The catalog item id.
    pub item: String,
    /// Higher ranks first.
    pub score: f64,
}

/// The ranking order every list uses: higher score first, then the smaller item id.
/// Scores are compared totally (`f64::total_cmp`), so the order never depends on input order.
pub(crate) fn rank(a_score: f64, a_item: &str, b_score: f64, b_item: &str) -> Ordering {
    b_score.total_cmp(&a_score).then_with(|| a_item.cmp(b_item))
}

/// `2^(-age / half_life)`: the weight of something `age` ago with that half-life. A future
/// time counts as now; a half-life under 1 ms is taken as 1 ms.
pub(crate) fn decay(now: Timestamp, at: Timestamp, half_life_ms: i64) -> f64 {
    let age = now.0.saturating_sub(at.0).max(0) as f64;
    (-age / half_life_ms.max(1) as f64).exp2()
}
