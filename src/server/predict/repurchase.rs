//! The typical gap between repeat purchases of the same item (or item group, e.g. a
//! product line in several sizes): over every shopper who bought it on two or more
//! calendar days, the gaps in days between their consecutive purchase days, and the
//! median of all those gaps. Same-day purchases of one item are one purchase. Below a
//! minimum number of gaps the interval is unset: a median of two gaps is an anecdote.

use std::collections::{BTreeMap, HashMap};

use crate::time::{Timestamp, Zone};

use super::summary::day_of;
use super::Order;

/// Settings of the repurchase intervals.
#[derive(Debug, Clone, PartialEq)]
pub struct RepurchaseSettings {
    /// The fewest gaps a median is taken over (5).
    pub min_gaps: usize,
    /// The zone whose calendar days count.
    pub zone: Zone,
}

impl Default for RepurchaseSettings {
    fn default() -> Self {
        RepurchaseSettings { min_gaps: 5, zone: Zone::utc() }
    }
}

/// One item's (or group's) repurchase interval.
#[derive(Debug, Clone, PartialEq)]
pub struct RepurchaseInterval {
    /// The item id, or the group id of grouped items.
    pub key: String,
    /// The median gap in days between repeat purchases; `None` below the minimum count of gaps.
    pub median_days: Option<f64>,
    /// Gaps the median is taken over.
    pub gaps: usize,
    /// Shoppers who bought it on two or more days.
    pub repeat_shoppers: usize,
    /// Shoppers who bought it.
    pub shoppers: usize,
}

/// The repurchase interval of every item bought up to `now` (inclusive), sorted by key.
/// `groups` maps an item id to its group: items of one group count as one (an item not in
/// it is its own key). Orders with a negative or non-finite value (refunds, invalid) are
/// left out, as in the summary.
pub fn intervals(
    orders: &[Order],
    groups: &HashMap<String, String>,
    now: Timestamp,
    settings: &RepurchaseSettings,
) -> Vec<RepurchaseInterval> {
    // key → shopper → purchase days (a sorted set).
    let mut bought: BTreeMap<&str, BTreeMap<&str, Vec<i64>>> = BTreeMap::new();
    for order in orders {
        if order.at > now || !order.value.is_finite() || order.value < 0.0 || order.shopper.is_empty() {
            continue;
        }
        let day = day_of(order.at, &settings.zone);
        for item in &order.items {
            let key = groups.get(item).map_or(item.as_str(), String::as_str);
            bought.entry(key).or_default().entry(order.shopper.as_str()).or_default().push(day);
        }
    }
    let mut out = Vec::with_capacity(bought.len());
    for (key, shoppers) in bought {
        let mut gaps: Vec<i64> = Vec::new();
        let mut repeat_shoppers = 0;
        for mut days in shoppers.values().cloned() {
            days.sort_unstable();
            days.dedup();
            if days.len() > 1 {
                repeat_shoppers += 1;
            }
            gaps.extend(days.windows(2).filter_map(|w| Some(w.get(1)? - w.first()?)));
        }
        gaps.sort_unstable();
        let median_days = if gaps.len() >= settings.min_gaps.max(1) { median(&gaps) } else { None };
        out.push(RepurchaseInterval {
            key: key.to_owned(),
            median_days,
            gaps: gaps.len(),
            repeat_shoppers,
            shoppers: shoppers.len(),
        });
    }
    out
}

/// The median of sorted values: the middle one, or the mean of the two middle ones.
fn median(sorted: &[i64]) -> Option<f64> {
    let n = sorted.len();
    let upper = *sorted.get(n / 2)?;
    if n % 2 == 1 {
        Some(upper as f64)
    } else {
        Some((*sorted.get(n / 2 - 1)? as f64 + upper as f64) / 2.0)
    }
}
