//! Popular and trending items, overall and per category, from decayed interaction counts.
//!
//! With `S_h` = Σ `Kind::weight` · 2^(−age / h) over an item's interactions (a view 1, a cart
//! 3, a purchase 5; an interaction in the future counts as now):
//!
//! - **popularity** = `S_long` (half-life [`PopularityConfig::long_half_life`], 7 days);
//! - **trend** = `r_short / (r_long + r_0)`, where `r_h = S_h · ln 2 / h` is the decayed
//!   rate (a steady rate λ gives `r_h ≈ λ` for every `h`) and `r_0 = ln 2 / long` is one
//!   weighted interaction per long half-life, so a handful of events on an item nobody saw
//!   before does not top the list. A steady item scores about 1, a rising one above.
//!   Only items with `S_short ≥` [`PopularityConfig::min_trending_mass`] are trending.
//!
//! Lists rank by score, then item id.

use std::collections::{BTreeMap, HashMap};

use super::{decay, rank, Interaction, Scored};
use crate::time::{Duration, Timestamp, DAY};

/// Half-lives and the trending threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PopularityConfig {
    /// Half-life of popularity and of the long rate (7 days).
    pub long_half_life: Duration,
    /// Half-life of the short rate (1 day).
    pub short_half_life: Duration,
    /// The least `S_short` an item needs to be trending (3: three views, or one cart).
    pub min_trending_mass: f64,
}

impl Default for PopularityConfig {
    fn default() -> Self {
        PopularityConfig { long_half_life: Duration(7 * DAY), short_half_life: Duration(DAY), min_trending_mass: 3.0 }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Stats {
    long: f64,
    short: f64,
    trend: f64,
}

/// Ranked lists of one category (or of the whole store).
#[derive(Debug, Clone, Default, PartialEq)]
struct Lists {
    /// Item ids by popularity, best first.
    popular: Vec<String>,
    /// Trending item ids by trend, best first.
    trending: Vec<String>,
}

/// Popularity and trend of every item with interactions, with ranked lists per category.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Popularity {
    stats: HashMap<String, Stats>,
    categories: HashMap<String, String>,
    all: Lists,
    by_category: BTreeMap<String, Lists>,
}

impl Popularity {
    /// Scores every item of `interactions` at `now`; `categories` maps item id → category
    /// (an item without one is only in the store-wide lists).
    pub fn build(
        interactions: &[Interaction],
        categories: &HashMap<String, String>,
        now: Timestamp,
        config: &PopularityConfig,
    ) -> Popularity {
        let long = config.long_half_life.0.max(1);
        let short = config.short_half_life.0.max(1);
        let mut stats: HashMap<String, Stats> = HashMap::new();
        for i in interactions {
            let s = stats.entry(i.item.clone()).or_default();
            s.long += i.kind.weight() * decay(now, i.at, long);
            s.short += i.kind.weight() * decay(now, i.at, short);
        }
        let ln2 = std::f64::consts::LN_2;
        for s in stats.values_mut() {
            let r_short = s.short * ln2 / short as f64;
            let r_long = s.long * ln2 / long as f64;
            let r_0 = ln2 / long as f64;
            s.trend = if s.short >= config.min_trending_mass { r_short / (r_long + r_0) } else { 0.0 };
        }
        let mut members: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        let mut kept_categories = HashMap::new();
        for item in stats.keys() {
            if let Some(category) = categories.get(item) {
                members.entry(category.clone()).or_default().push(item);
                kept_categories.insert(item.clone(), category.clone());
            }
        }
        let all_items: Vec<&str> = stats.keys().map(String::as_str).collect();
        let all = lists(&stats, all_items);
        let by_category = members.into_iter().map(|(c, items)| (c, lists(&stats, items))).collect();
        Popularity { stats, categories: kept_categories, all, by_category }
    }

    /// The item's popularity (0 without interactions).
    pub fn popularity(&self, item: &str) -> f64 {
        self.stats.get(item).map_or(0.0, |s| s.long)
    }

    /// The item's trend (0 when it is not trending).
    pub fn trend(&self, item: &str) -> f64 {
        self.stats.get(item).map_or(0.0, |s| s.trend)
    }

    /// The category the item was scored under, if it has interactions and a category.
    pub fn category_of(&self, item: &str) -> Option<&str> {
        self.categories.get(item).map(String::as_str)
    }

    /// The highest popularity in the category (the whole store for `None`); 0 when empty.
    pub fn top_popularity(&self, category: Option<&str>) -> f64 {
        self.lists(category).and_then(|l| l.popular.first()).map_or(0.0, |item| self.popularity(item))
    }

    /// The `k` most popular items of the category (the whole store for `None`), leaving out
    /// those `exclude` names.
    pub fn popular(&self, category: Option<&str>, k: usize, exclude: impl Fn(&str) -> bool) -> Vec<Scored> {
        let list = self.lists(category).map(|l| l.popular.as_slice()).unwrap_or_default();
        take(list, k, exclude, |item| self.popularity(item))
    }

    /// The `k` items of the category (the whole store for `None`) that trend most, leaving
    /// out those `exclude` names.
    pub fn trending(&self, category: Option<&str>, k: usize, exclude: impl Fn(&str) -> bool) -> Vec<Scored> {
        let list = self.lists(category).map(|l| l.trending.as_slice()).unwrap_or_default();
        take(list, k, exclude, |item| self.trend(item))
    }

    fn lists(&self, category: Option<&str>) -> Option<&Lists> {
        match category {
            None => Some(&self.all),
            Some(c) => self.by_category.get(c),
        }
    }
}

fn lists(stats: &HashMap<String, Stats>, items: Vec<&str>) -> Lists {
    let score = |item: &str, f: fn(&Stats) -> f64| stats.get(item).map_or(0.0, f);
    let mut popular: Vec<&str> = items.iter().copied().filter(|i| score(i, |s| s.long) > 0.0).collect();
    popular.sort_by(|a, b| rank(score(a, |s| s.long), a, score(b, |s| s.long), b));
    let mut trending: Vec<&str> = items.into_iter().filter(|i| score(i, |s| s.trend) > 0.0).collect();
    trending.sort_by(|a, b| rank(score(a, |s| s.trend), a, score(b, |s| s.trend), b));
    Lists {
        popular: popular.into_iter().map(str::to_owned).collect(),
        trending: trending.into_iter().map(str::to_owned).collect(),
    }
}

fn take(list: &[String], k: usize, exclude: impl Fn(&str) -> bool, score: impl Fn(&str) -> f64) -> Vec<Scored> {
    list.iter()
        .filter(|item| !exclude(item))
        .take(k)
        .map(|item| Scored { item: item.clone(), score: score(item) })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::recommend::Kind;
    use crate::time::HOUR;

    fn at(item: &str, kind: Kind, hours_ago: i64) -> Interaction {
        Interaction { shopper: "s".into(), item: item.into(), kind, at: Timestamp(100 * DAY - hours_ago * HOUR) }
    }

    fn categories() -> HashMap<String, String> {
        [("a", "shoes"), ("b", "shoes"), ("c", "shoes"), ("d", "bags")]
            .into_iter()
            .map(|(i, c)| (i.to_owned(), c.to_owned()))
            .collect()
    }

    fn ids(list: &[Scored]) -> Vec<&str> {
        list.iter().map(|s| s.item.as_str()).collect()
    }

    #[test]
    fn popularity_decays_with_the_long_half_life() {
        let now = Timestamp(100 * DAY);
        let p = Popularity::build(
            &[at("a", Kind::Viewed, 7 * 24), at("a", Kind::Bought, 0)],
            &categories(),
            now,
            &PopularityConfig::default(),
        );
        assert!((p.popularity("a") - (0.5 + 5.0)).abs() < 1e-12);
        assert_eq!(p.popularity("zzz"), 0.0);
        assert_eq!(p.category_of("a"), Some("shoes"));
    }

    #[test]
    fn popular_per_category_excludes_and_breaks_ties_by_id() {
        let now = Timestamp(100 * DAY);
        let events =
            [at("c", Kind::Viewed, 1), at("b", Kind::Viewed, 1), at("a", Kind::Carted, 1), at("d", Kind::Bought, 1)];
        let p = Popularity::build(&events, &categories(), now, &PopularityConfig::default());
        assert_eq!(ids(&p.popular(Some("shoes"), 10, |_| false)), ["a", "b", "c"]);
        assert_eq!(ids(&p.popular(Some("shoes"), 10, |i| i == "a")), ["b", "c"]);
        assert_eq!(ids(&p.popular(Some("shoes"), 1, |_| false)), ["a"]);
        assert_eq!(ids(&p.popular(None, 2, |_| false)), ["d", "a"]);
        assert!(p.popular(Some("hats"), 3, |_| false).is_empty());
        assert!((p.top_popularity(Some("shoes")) - p.popularity("a")).abs() < 1e-12);
    }

    #[test]
    fn trending_favours_a_recent_burst_over_steady_popularity() {
        let now = Timestamp(100 * DAY);
        let mut events = Vec::new();
        // a: three views a day for 4 weeks (steady); b: eight views in the last few hours.
        for day in 0..28 {
            for hour in [3, 11, 19] {
                events.push(at("a", Kind::Viewed, day * 24 + hour));
            }
        }
        for h in 0..8 {
            events.push(at("b", Kind::Viewed, h));
        }
        // c: two views just now, below the trending mass.
        events.push(at("c", Kind::Viewed, 0));
        events.push(at("c", Kind::Viewed, 0));
        let p = Popularity::build(&events, &categories(), now, &PopularityConfig::default());
        assert_eq!(ids(&p.popular(Some("shoes"), 10, |_| false)), ["a", "b", "c"]);
        assert_eq!(ids(&p.trending(Some("shoes"), 10, |_| false)), ["b", "a"]);
        assert!(p.trend("b") > 3.0, "b trends: {}", p.trend("b"));
        assert!((0.5..1.5).contains(&p.trend("a")), "a is steady: {}", p.trend("a"));
        assert_eq!(p.trend("c"), 0.0);
    }
}
