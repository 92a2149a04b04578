//! Per-shopper inspection for operators and the demo's debug panel: what the backend
//! holds for one shopper — its pending timers (from the stored state) and its outbox rows
//! (pending, sent, suppressed at delivery, failed) with their reasons.

use serde_json::{json, Value as Json};
use sqlx::{AnyPool, Row};

use super::storage::StorageResult;
use crate::state::{RunStatus, ShopperState};

/// Outbox rows kept in a report (newest first).
const MAX_ROWS: i64 = 200;

/// Timers of the shopper's running journeys: `{journey, step, due}` (due in epoch ms).
pub fn timers(state: &ShopperState) -> Vec<Json> {
    state
        .runs
        .iter()
        .filter_map(|run| match &run.status {
            RunStatus::Active { step, wake_at: Some(due), .. } => {
                Some(json!({ "journey": run.journey, "step": step, "due": due.0, "entered_at": run.entered_at.0 }))
            }
            _ => None,
        })
        .collect()
}

/// The shopper's outbox rows, newest decision first, and the suppressed ones apart.
pub async fn outbox(pool: &AnyPool, shopper_key: &str) -> StorageResult<(Vec<Json>, Vec<Json>)> {
    let rows = sqlx::query(
        "SELECT journey, step, channel, content, incentive, decided_at, status, attempts, next_attempt_at, reasons, \
         last_error, done_at FROM outbox WHERE shopper_id = $1 ORDER BY decided_at DESC LIMIT $2",
    )
    .bind(shopper_key.to_owned())
    .bind(MAX_ROWS)
    .fetch_all(pool)
    .await?;
    let mut all = Vec::with_capacity(rows.len());
    let mut suppressed = Vec::new();
    for row in rows {
        let status: String = row.try_get("status")?;
        let reasons: Option<String> = row.try_get("reasons")?;
        let reasons: Vec<&str> =
            reasons.as_deref().map(|r| r.split(',').filter(|s| !s.is_empty()).collect()).unwrap_or_default();
        let decided_at: i64 = row.try_get("decided_at")?;
        let journey: String = row.try_get("journey")?;
        let channel: String = row.try_get("channel")?;
        let item = json!({
            "journey": journey,
            "step": row.try_get::<String, _>("step")?,
            "channel": channel,
            "content": row.try_get::<String, _>("content")?,
            "incentive": row.try_get::<Option<String>, _>("incentive")?,
            "status": status,
            "decided_at": decided_at,
            "due": if status == "pending" { Some(row.try_get::<i64, _>("next_attempt_at")?) } else { None },
            "attempts": row.try_get::<i64, _>("attempts")?,
            "reasons": reasons,
            "last_error": row.try_get::<Option<String>, _>("last_error")?,
            "done_at": row.try_get::<Option<i64>, _>("done_at")?,
        });
        if status == "suppressed" {
            suppressed.push(json!({ "journey": journey, "channel": channel, "reasons": reasons, "time": decided_at }));
        }
        all.push(item);
    }
    Ok((all, suppressed))
}
