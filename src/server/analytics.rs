//! Exit analytics: per journey, entries, exits by outcome (conversion vs exhaustion and
//! the rest), sends by channel, suppressions by reason, deliveries by channel and outcome.
//! Counts are tallied in memory during a transaction and added to `journey_stats` in the
//! same commit. Entries and exits come from the difference between the stored state and
//! the state written, so journeys run in the browser are counted too, each exactly once.
//! The same tally carries the learned mix's exposures and conversions
//! ([`crate::server::mix::count`]), and the report adds conversion rate and lift versus
//! the holdout per journey and variant from them.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::{AnyConnection, Row};

use super::mix::MixTally;
use super::storage::StorageResult;
use crate::decision::{Action, Decision};
use crate::journey::Bundle;
use crate::state::{RunStatus, ShopperState};
use crate::time::Timestamp;

/// Counts to add, keyed (journey, metric, label), and the learned mix's exposures and
/// conversions ([`MixTally`]).
#[derive(Debug, Default, Clone)]
pub struct Tally(BTreeMap<(String, &'static str, String), i64>, MixTally);

impl Tally {
    /// Adds `n` to one counter.
    pub fn bump(&mut self, journey: &str, metric: &'static str, label: &str, n: i64) {
        *self.0.entry((journey.to_owned(), metric, label.to_owned())).or_insert(0) += n;
    }

    /// What the server's engine decided for shopper row `shopper` (state `after` them):
    /// [`Tally::decisions`], and its sends for the learned mix.
    pub fn shopper_decisions(&mut self, shopper: &str, bundle: &Bundle, after: &ShopperState, decisions: &[Decision]) {
        self.decisions(decisions);
        self.1.sends(shopper, bundle, after, decisions);
    }

    /// What a write of shopper row `shopper` changes: [`Tally::state_diff`], and split
    /// assignments and conversions for the learned mix.
    pub fn shopper_diff(
        &mut self,
        shopper: &str,
        bundle: &Bundle,
        before: Option<&ShopperState>,
        after: &ShopperState,
    ) {
        self.state_diff(before, after);
        self.1.runs(shopper, bundle, before, after);
    }

    /// Sends and suppressions decided by the server's engine.
    pub fn decisions(&mut self, decisions: &[Decision]) {
        for d in decisions {
            match d.action {
                Action::Send => self.bump(&d.journey, "sends", d.channel.map(|c| c.as_str()).unwrap_or("none"), 1),
                Action::Suppress => self.bump(&d.journey, "suppressions", d.reason(), 1),
                _ => {}
            }
        }
    }

    /// Entries and exits that a write adds: runs new in `after`, runs finished in `after`
    /// that were absent or active in `before`.
    pub fn state_diff(&mut self, before: Option<&ShopperState>, after: &ShopperState) {
        let mut entered: BTreeSet<(&str, Timestamp)> = BTreeSet::new();
        let mut finished: BTreeSet<(&str, Timestamp)> = BTreeSet::new();
        if let Some(before) = before {
            for r in &before.runs {
                entered.insert((&r.journey, r.entered_at));
                if !r.is_active() {
                    finished.insert((&r.journey, r.entered_at));
                }
            }
        }
        let mut adds = Vec::new();
        for r in &after.runs {
            let key = (r.journey.as_str(), r.entered_at);
            if !entered.contains(&key) {
                adds.push((r.journey.clone(), "entries", String::new()));
            }
            if let RunStatus::Done { outcome, .. } = r.status {
                if !finished.contains(&key) {
                    adds.push((r.journey.clone(), "exits", outcome.as_str().to_owned()));
                }
            }
        }
        for (journey, metric, label) in adds {
            self.bump(&journey, metric, &label, 1);
        }
    }

    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty() && self.1.is_empty()
    }

    /// Adds the counts in the caller's transaction.
    pub async fn flush(&self, conn: &mut AnyConnection) -> StorageResult<()> {
        for ((journey, metric, label), n) in &self.0 {
            sqlx::query(
                "INSERT INTO journey_stats (journey, metric, label, count) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (journey, metric, label) DO UPDATE SET count = journey_stats.count + excluded.count",
            )
            .bind(journey.clone())
            .bind(*metric)
            .bind(label.clone())
            .bind(*n)
            .execute(&mut *conn)
            .await?;
        }
        self.1.flush(conn).await
    }
}

/// The report `GET /v1/analytics` answers:
/// `{"journeys": {"<id>": {"entries": n, "exits": {"converted": n, "completed": n, ...},
/// "conversions": n, "exhaustions": n, "sends": {...}, "suppressions": {...}, "deliveries": {...},
/// "variants": {"<variant>" | "holdout": {"assigned", "settled", "conversions",
/// "conversion_rate", "lift"}}}}}` — `variants` for journeys with a split and a
/// conversion goal (see [`variants`]).
pub async fn report(pool: &sqlx::AnyPool, now: Timestamp) -> StorageResult<serde_json::Value> {
    let rows = sqlx::query("SELECT journey, metric, label, count FROM journey_stats ORDER BY journey, metric, label")
        .fetch_all(pool)
        .await?;
    let mut journeys = serde_json::Map::new();
    for row in rows {
        let journey: String = row.try_get("journey")?;
        let metric: String = row.try_get("metric")?;
        let label: String = row.try_get("label")?;
        let count: i64 = row.try_get("count")?;
        let entry = journeys.entry(journey).or_insert_with(|| {
            serde_json::json!({
                "entries": 0, "conversions": 0, "exhaustions": 0,
                "exits": {}, "sends": {}, "suppressions": {}, "deliveries": {}
            })
        });
        let Some(obj) = entry.as_object_mut() else { continue };
        if metric == "entries" {
            obj.insert("entries".into(), count.into());
            continue;
        }
        if metric == "exits" {
            let alias = match label.as_str() {
                "converted" => Some("conversions"),
                "completed" => Some("exhaustions"),
                _ => None,
            };
            if let Some(alias) = alias {
                obj.insert(alias.into(), count.into());
            }
        }
        if let Some(map) = obj.get_mut(metric.as_str()).and_then(|m| m.as_object_mut()) {
            map.insert(label, count.into());
        }
    }
    for (journey, arms) in variants(pool, now).await? {
        let entry = journeys.entry(journey).or_insert_with(|| {
            serde_json::json!({
                "entries": 0, "conversions": 0, "exhaustions": 0,
                "exits": {}, "sends": {}, "suppressions": {}, "deliveries": {}
            })
        });
        if let Some(obj) = entry.as_object_mut() {
            obj.insert("variants".into(), arms);
        }
    }
    Ok(serde_json::json!({ "journeys": journeys }))
}

/// Per journey, each split variant and the holdout: runs `assigned`, of which `settled`
/// (converted, or their conversion window closed), `conversions` within the window,
/// `conversion_rate` = conversions / settled, and `lift` versus the holdout =
/// (rate − holdout rate) / holdout rate (null without a holdout conversion). Counted
/// by the server (`mix_exposures`, see [`crate::server::mix::count`]).
pub async fn variants(pool: &sqlx::AnyPool, now: Timestamp) -> StorageResult<BTreeMap<String, serde_json::Value>> {
    let rows = sqlx::query(
        "SELECT journey, variant, COUNT(*) AS n, COUNT(converted_at) AS c, \
         SUM(CASE WHEN converted_at IS NOT NULL OR window_end < $1 THEN 1 ELSE 0 END) AS settled \
         FROM mix_exposures WHERE kind = 'split' GROUP BY journey, variant ORDER BY journey, variant",
    )
    .bind(now.0)
    .fetch_all(pool)
    .await?;
    let mut arms: BTreeMap<String, Vec<(String, i64, i64, i64)>> = BTreeMap::new();
    for row in rows {
        let journey: String = row.try_get("journey")?;
        let settled: Option<i64> = row.try_get("settled")?;
        arms.entry(journey).or_default().push((
            row.try_get("variant")?,
            row.try_get("n")?,
            settled.unwrap_or(0),
            row.try_get("c")?,
        ));
    }
    let rate = |settled: i64, conversions: i64| (settled > 0).then(|| conversions as f64 / settled as f64);
    Ok(arms
        .into_iter()
        .map(|(journey, list)| {
            let holdout = list
                .iter()
                .find(|(v, ..)| v == crate::journey::HOLDOUT_VARIANT)
                .and_then(|(_, _, s, c)| rate(*s, *c))
                .filter(|r| *r > 0.0);
            let map: serde_json::Map<String, serde_json::Value> = list
                .iter()
                .map(|(variant, n, settled, c)| {
                    let r = rate(*settled, *c);
                    let lift = match (r, holdout) {
                        (Some(r), Some(h)) if variant != crate::journey::HOLDOUT_VARIANT => Some((r - h) / h),
                        _ => None,
                    };
                    let arm = serde_json::json!({
                        "assigned": n, "settled": settled, "conversions": c,
                        "conversion_rate": r, "lift": lift,
                    });
                    (variant.clone(), arm)
                })
                .collect();
            (journey, serde_json::Value::Object(map))
        })
        .collect())
}
