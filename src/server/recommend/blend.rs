//! Blends the neighbour lists and popularity into one shopper's recommendations, each with
//! the reason it was chosen.
//!
//! **For a shopper** ([`for_shopper`]): the seeds are their most recent distinct items,
//! each weighing `Kind::weight` · 2^(−age / [`BlendConfig::recent_half_life`]), scaled so
//! the heaviest seed is 1. A candidate collects
//! - `seed · cosine · bought_weight` from each seed's bought-together list,
//! - `seed · cosine · viewed_weight` from each seed's viewed-together list,
//! - `affinity · popularity / top popularity of the category · popular_weight` for the
//!   popular items of the shopper's strongest categories (affinity scaled so the strongest
//!   is 1).
//!
//! Its reason is its largest single contribution ("bought together with X", "viewed together
//! with X", "popular in shoes"); on equal contributions the first found wins (seeds newest
//! first, bought before viewed, categories strongest first). When fewer than `k` remain,
//! the store's most popular items fill the rest, after every blended one ("popular").
//!
//! **For an item** ([`for_item`]): its bought-together then viewed-together neighbours
//! (scored `cosine · weight`), then popular items of its category, then of the store.
//!
//! Both leave out items the shopper bought, items out of stock, and the seeds themselves
//! (the anchor; for a shopper, their recent items unless [`BlendConfig::exclude_seen`] is
//! off). Ranking: score, then item id.

use std::collections::{HashMap, HashSet};
use std::fmt;

use super::{decay, rank, Kind, Neighbours, Popularity};
use crate::time::{Duration, Timestamp, DAY};

/// Weights and limits of the blend.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlendConfig {
    /// Half-life of a seed's weight (3 days).
    pub recent_half_life: Duration,
    /// The most recent distinct items used as seeds (20).
    pub max_seeds: usize,
    /// Weight of bought-together similarity (1.0).
    pub bought_weight: f64,
    /// Weight of viewed-together similarity (0.8).
    pub viewed_weight: f64,
    /// Weight of popularity in an affine category (0.3).
    pub popular_weight: f64,
    /// How many of the shopper's strongest categories bring popular items (3).
    pub affinity_categories: usize,
    /// Leave the shopper's recent items out of their recommendations (true).
    pub exclude_seen: bool,
}

impl Default for BlendConfig {
    fn default() -> Self {
        BlendConfig {
            recent_half_life: Duration(3 * DAY),
            max_seeds: 20,
            bought_weight: 1.0,
            viewed_weight: 0.8,
            popular_weight: 0.3,
            affinity_categories: 3,
            exclude_seen: true,
        }
    }
}

/// An item the shopper interacted with recently.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    /// The item id.
    pub item: String,
    /// What they did.
    pub kind: Kind,
    /// When.
    pub at: Timestamp,
}

/// What is known of the shopper.
#[derive(Debug, Clone, Copy, Default)]
pub struct Shopper<'a> {
    /// Recent items, in any order.
    pub recent: &'a [Seen],
    /// Category → affinity (any positive scale).
    pub affinity: &'a [(String, f64)],
    /// Items they bought (never recommended).
    pub bought: &'a [String],
}

/// The models and the catalog's stock the blend draws on.
#[derive(Clone, Copy)]
pub struct Sources<'a> {
    /// Item-to-item neighbour lists.
    pub neighbours: &'a Neighbours,
    /// Popularity per category.
    pub popularity: &'a Popularity,
    /// Whether an item may be recommended now (in the catalog and in stock).
    pub in_stock: &'a dyn Fn(&str) -> bool,
}

/// The item an item-anchored request is about.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Anchor<'a> {
    /// The item id.
    pub item: &'a str,
    /// Its category, for the popular fallback.
    pub category: Option<&'a str>,
}

/// Why an item was recommended.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Bought by the shoppers who bought `with`.
    BoughtTogether {
        /// The seed item.
        with: String,
    },
    /// Viewed by the shoppers who viewed `with`.
    ViewedTogether {
        /// The seed item.
        with: String,
    },
    /// Popular in a category the shopper likes (or the anchor's category).
    PopularIn {
        /// The category.
        category: String,
    },
    /// Popular in the whole store (the fallback).
    Popular,
}

impl Reason {
    /// The stable code: `bought_together`, `viewed_together`, `popular_in_category`,
    /// `popular`.
    pub fn code(&self) -> &'static str {
        match self {
            Reason::BoughtTogether { .. } => "bought_together",
            Reason::ViewedTogether { .. } => "viewed_together",
            Reason::PopularIn { .. } => "popular_in_category",
            Reason::Popular => "popular",
        }
    }

    /// The item or category the reason names, if any.
    pub fn subject(&self) -> Option<&str> {
        match self {
            Reason::BoughtTogether { with } | Reason::ViewedTogether { with } => Some(with),
            Reason::PopularIn { category } => Some(category),
            Reason::Popular => None,
        }
    }
}

impl fmt::Display for Reason {
    /// The sentence: "bought together with X", "viewed together with X", "popular in
    /// shoes", "popular".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::BoughtTogether { with } => write!(f, "bought together with {with}"),
            Reason::ViewedTogether { with } => write!(f, "viewed together with {with}"),
            Reason::PopularIn { category } => write!(f, "popular in {category}"),
            Reason::Popular => f.write_str("popular"),
        }
    }
}

/// One recommended item.
#[derive(Debug, Clone, PartialEq)]
pub struct Recommendation {
    /// The item id.
    pub item: String,
    /// The blended score, higher first.
    pub score: f64,
    /// Its largest contribution.
    pub reason: Reason,
}

/// Candidates being scored: total and strongest reason per item.
#[derive(Default)]
struct Candidates {
    by_item: HashMap<String, (f64, f64, Reason)>,
}

impl Candidates {
    fn add(&mut self, item: &str, contribution: f64, reason: impl FnOnce() -> Reason) {
        if !(contribution.is_finite() && contribution > 0.0) {
            return;
        }
        match self.by_item.get_mut(item) {
            Some((total, best, best_reason)) => {
                *total += contribution;
                if contribution > *best {
                    *best = contribution;
                    *best_reason = reason();
                }
            }
            None => {
                self.by_item.insert(item.to_owned(), (contribution, contribution, reason()));
            }
        }
    }

    fn ranked(self) -> Vec<Recommendation> {
        let mut out: Vec<Recommendation> =
            self.by_item.into_iter().map(|(item, (score, _, reason))| Recommendation { item, score, reason }).collect();
        out.sort_by(|a, b| rank(a.score, &a.item, b.score, &b.item));
        out
    }
}

/// Items never recommended: bought, out of stock, and the given seeds.
struct Excluded<'a> {
    items: HashSet<&'a str>,
    in_stock: &'a dyn Fn(&str) -> bool,
}

impl Excluded<'_> {
    fn contains(&self, item: &str) -> bool {
        self.items.contains(item) || !(self.in_stock)(item)
    }
}

/// The shopper's top `k` recommendations at `now` (see the module doc).
pub fn for_shopper(
    shopper: &Shopper<'_>,
    sources: &Sources<'_>,
    now: Timestamp,
    k: usize,
    config: &BlendConfig,
) -> Vec<Recommendation> {
    let seeds = seeds(shopper.recent, now, config);
    let mut excluded =
        Excluded { items: shopper.bought.iter().map(String::as_str).collect(), in_stock: sources.in_stock };
    if config.exclude_seen {
        excluded.items.extend(shopper.recent.iter().map(|s| s.item.as_str()));
    }
    let mut candidates = Candidates::default();
    for (seed, weight) in &seeds {
        add_neighbours(&mut candidates, sources.neighbours, seed, *weight, config, &excluded);
    }
    for (category, affinity) in strongest_categories(shopper.affinity, config.affinity_categories) {
        add_popular(&mut candidates, sources.popularity, category, affinity * config.popular_weight, k, &excluded);
    }
    let mut out = candidates.ranked();
    out.truncate(k);
    fill_with_popular(&mut out, sources.popularity, k, config, &excluded);
    out
}

/// The top `k` recommendations next to `anchor` for a shopper who bought `bought` (see the
/// module doc).
pub fn for_item(
    anchor: &Anchor<'_>,
    bought: &[String],
    sources: &Sources<'_>,
    k: usize,
    config: &BlendConfig,
) -> Vec<Recommendation> {
    let mut excluded = Excluded { items: bought.iter().map(String::as_str).collect(), in_stock: sources.in_stock };
    excluded.items.insert(anchor.item);
    let mut candidates = Candidates::default();
    add_neighbours(&mut candidates, sources.neighbours, anchor.item, 1.0, config, &excluded);
    let mut out = candidates.ranked();
    out.truncate(k);
    if let Some(category) = anchor.category {
        if out.len() < k {
            let mut fallback = Candidates::default();
            let taken: HashSet<String> = out.iter().map(|r| r.item.clone()).collect();
            let more = Excluded {
                items: excluded.items.iter().copied().chain(taken.iter().map(String::as_str)).collect(),
                in_stock: sources.in_stock,
            };
            add_popular(&mut fallback, sources.popularity, category, config.popular_weight, k, &more);
            out.extend(fallback.ranked().into_iter().take(k - out.len()));
        }
    }
    fill_with_popular(&mut out, sources.popularity, k, config, &excluded);
    out
}

/// Distinct recent items, newest first (ties: item id), with their weight scaled so the
/// heaviest is 1; at most `max_seeds`.
fn seeds<'a>(recent: &'a [Seen], now: Timestamp, config: &BlendConfig) -> Vec<(&'a str, f64)> {
    let mut newest: Vec<&Seen> = recent.iter().collect();
    newest.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| a.item.cmp(&b.item)));
    let mut order: Vec<&str> = Vec::new();
    let mut weight: HashMap<&str, f64> = HashMap::new();
    for seen in newest {
        let w = seen.kind.weight() * decay(now, seen.at, config.recent_half_life.0);
        match weight.get_mut(seen.item.as_str()) {
            Some(best) => *best = best.max(w),
            None if order.len() < config.max_seeds => {
                order.push(&seen.item);
                weight.insert(&seen.item, w);
            }
            None => {}
        }
    }
    let top = weight.values().copied().fold(0.0f64, f64::max);
    order
        .into_iter()
        .map(|item| (item, weight.get(item).copied().unwrap_or(0.0) / top.max(f64::MIN_POSITIVE)))
        .collect()
}

fn add_neighbours(
    candidates: &mut Candidates,
    neighbours: &Neighbours,
    seed: &str,
    weight: f64,
    config: &BlendConfig,
    excluded: &Excluded<'_>,
) {
    for n in neighbours.bought_together.neighbours(seed).filter(|n| !excluded.contains(n.item)) {
        let c = weight * f64::from(n.score) * config.bought_weight;
        candidates.add(n.item, c, || Reason::BoughtTogether { with: seed.to_owned() });
    }
    for n in neighbours.viewed_together.neighbours(seed).filter(|n| !excluded.contains(n.item)) {
        let c = weight * f64::from(n.score) * config.viewed_weight;
        candidates.add(n.item, c, || Reason::ViewedTogether { with: seed.to_owned() });
    }
}

/// Adds the category's popular items, scaled by its top popularity; `k` of them at most.
fn add_popular(
    candidates: &mut Candidates,
    popularity: &Popularity,
    category: &str,
    weight: f64,
    k: usize,
    excluded: &Excluded<'_>,
) {
    let top = popularity.top_popularity(Some(category));
    if top <= 0.0 {
        return;
    }
    for item in popularity.popular(Some(category), k, |item| excluded.contains(item)) {
        candidates.add(&item.item, weight * item.score / top, || Reason::PopularIn { category: category.to_owned() });
    }
}

/// Appends the store's most popular items not yet listed, until there are `k`.
fn fill_with_popular(
    out: &mut Vec<Recommendation>,
    popularity: &Popularity,
    k: usize,
    config: &BlendConfig,
    excluded: &Excluded<'_>,
) {
    if out.len() >= k {
        return;
    }
    let top = popularity.top_popularity(None).max(f64::MIN_POSITIVE);
    let listed: HashSet<String> = out.iter().map(|r| r.item.clone()).collect();
    let more = popularity.popular(None, k - out.len(), |item| excluded.contains(item) || listed.contains(item));
    out.extend(more.into_iter().map(|s| Recommendation {
        score: config.popular_weight * s.score / top,
        item: s.item,
        reason: Reason::Popular,
    }));
}

/// The `n` categories of highest affinity (ties: name), affinity scaled so the highest is 1.
fn strongest_categories(affinity: &[(String, f64)], n: usize) -> Vec<(&str, f64)> {
    let mut positive: Vec<(&str, f64)> =
        affinity.iter().filter(|(_, a)| a.is_finite() && *a > 0.0).map(|(c, a)| (c.as_str(), *a)).collect();
    positive.sort_by(|a, b| rank(a.1, a.0, b.1, b.0));
    positive.dedup_by(|a, b| a.0 == b.0);
    positive.truncate(n);
    let top = positive.first().map_or(1.0, |c| c.1);
    positive.into_iter().map(|(c, a)| (c, a / top)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::recommend::{CosineConfig, Interaction, PopularityConfig};

    fn interaction(shopper: &str, item: &str, kind: Kind) -> Interaction {
        Interaction { shopper: shopper.into(), item: item.into(), kind, at: Timestamp(0) }
    }

    #[test]
    fn seeds_dedupe_and_scale() {
        let now = Timestamp(10 * DAY);
        let recent = [
            Seen { item: "a".into(), kind: Kind::Viewed, at: Timestamp(10 * DAY) },
            Seen { item: "a".into(), kind: Kind::Bought, at: Timestamp(7 * DAY) },
            Seen { item: "b".into(), kind: Kind::Viewed, at: Timestamp(9 * DAY) },
        ];
        let s = seeds(&recent, now, &BlendConfig::default());
        assert_eq!(s.iter().map(|x| x.0).collect::<Vec<_>>(), ["a", "b"]);
        // a: max(1, 5 · 0.5) = 2.5 → 1; b: 2^(−1/3) / 2.5.
        assert!((s[0].1 - 1.0).abs() < 1e-12);
        assert!((s[1].1 - (-1.0f64 / 3.0).exp2() / 2.5).abs() < 1e-12);
    }

    #[test]
    fn shopper_blend_explains_and_excludes() {
        let mut rows = Vec::new();
        for s in ["u1", "u2", "u3"] {
            rows.push(interaction(s, "tee", Kind::Viewed));
            rows.push(interaction(s, "cap", Kind::Viewed));
        }
        rows.push(interaction("u1", "sock", Kind::Viewed));
        rows.push(interaction("u4", "tee", Kind::Bought));
        rows.push(interaction("u4", "belt", Kind::Bought));
        rows.push(interaction("u5", "boot", Kind::Bought));
        let neighbours = Neighbours::build(&rows, &CosineConfig::default());
        let categories: HashMap<String, String> =
            [("boot", "shoes"), ("tee", "tops"), ("cap", "hats"), ("sock", "tops"), ("belt", "acc")]
                .into_iter()
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .collect();
        let popularity = Popularity::build(&rows, &categories, Timestamp(0), &PopularityConfig::default());
        let in_stock = |item: &str| item != "sock";
        let sources = Sources { neighbours: &neighbours, popularity: &popularity, in_stock: &in_stock };
        let recent = [Seen { item: "tee".into(), kind: Kind::Viewed, at: Timestamp(0) }];
        let affinity = [("shoes".to_owned(), 2.0)];
        let shopper = Shopper { recent: &recent, affinity: &affinity, bought: &[] };
        let got = for_shopper(&shopper, &sources, Timestamp(0), 10, &BlendConfig::default());
        let why: Vec<(String, String)> = got.iter().map(|r| (r.item.clone(), r.reason.to_string())).collect();
        assert_eq!(
            why,
            [
                ("belt".to_owned(), "bought together with tee".to_owned()),
                ("cap".to_owned(), "viewed together with tee".to_owned()),
                ("boot".to_owned(), "popular in shoes".to_owned()),
            ],
            "{got:?}"
        );
        let bought = ["belt".to_owned()];
        let shopper = Shopper { bought: &bought, ..shopper };
        let got = for_shopper(&shopper, &sources, Timestamp(0), 2, &BlendConfig::default());
        assert_eq!(got.iter().map(|r| r.item.as_str()).collect::<Vec<_>>(), ["cap", "boot"]);
    }

    #[test]
    fn item_anchored_falls_back_to_its_category_then_the_store() {
        let rows = [
            interaction("u1", "a", Kind::Viewed),
            interaction("u1", "b", Kind::Viewed),
            interaction("u2", "c", Kind::Carted),
            interaction("u3", "d", Kind::Bought),
        ];
        let neighbours = Neighbours::build(&rows, &CosineConfig::default());
        let categories: HashMap<String, String> = [("a", "x"), ("b", "x"), ("c", "x"), ("d", "y")]
            .into_iter()
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
            .collect();
        let popularity = Popularity::build(&rows, &categories, Timestamp(0), &PopularityConfig::default());
        let in_stock = |_: &str| true;
        let sources = Sources { neighbours: &neighbours, popularity: &popularity, in_stock: &in_stock };
        let anchor = Anchor { item: "a", category: Some("x") };
        let got = for_item(&anchor, &[], &sources, 5, &BlendConfig::default());
        let why: Vec<String> = got.iter().map(|r| format!("{} {} {}", r.item, r.reason.code(), r.reason)).collect();
        assert_eq!(
            why,
            ["b viewed_together viewed together with a", "c popular_in_category popular in x", "d popular popular"],
            "{got:?}"
        );
    }
}
