//! The sessions the intent model is fitted on (`intent_sessions`, migration 0008): the
//! writer diffs each written state against what it held before ([`diff`]) and writes, in
//! the same transaction ([`write`]), the current session's features at its last event
//! (not yet converted) and the state's intent sample — the features of a converting
//! session just before its first purchase — as converted. A converted row's features
//! never change again; a session whose features show a purchase without a sample (a
//! state written before samples existed) is left out rather than counted as a loss.

use sqlx::AnyConnection;

use crate::intent::{IntentModel, IntentSample};
use crate::server::storage::StorageResult;
use crate::state::ShopperState;
use crate::time::Timestamp;

/// One session row to write.
#[derive(Debug)]
struct SessionRow {
    shopper: String,
    session_start: Timestamp,
    last_event: Timestamp,
    features: String,
    converted: bool,
}

/// The session rows a batch writes.
#[derive(Debug, Default)]
pub struct SessionChanges {
    rows: Vec<SessionRow>,
}

impl SessionChanges {
    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// A sample's features as the column holds them: a JSON array of thousandths.
pub fn features_text(sample: &IntentSample) -> String {
    let parts: Vec<String> = sample.features.iter().map(u32::to_string).collect();
    format!("[{}]", parts.join(","))
}

/// Adds what `after` says about its sessions that `before` did not, for shopper row
/// `shopper`, with the features as `model` computes them.
pub fn diff(
    shopper: &str,
    before: Option<&ShopperState>,
    after: &ShopperState,
    model: &IntentModel,
    changes: &mut SessionChanges,
) {
    let signals = &after.signals;
    if let Some(sample) = after.intent_sample {
        if before.and_then(|b| b.intent_sample) != Some(sample) {
            let last_event = if signals.session_start() == sample.session_start {
                signals.last_event()
            } else {
                sample.session_start
            };
            changes.rows.push(SessionRow {
                shopper: shopper.to_owned(),
                session_start: sample.session_start,
                last_event,
                features: features_text(&sample),
                converted: true,
            });
        }
    }
    if signals.sessions() == 0 || signals.session_purchased() {
        return;
    }
    let moved = before.map(|b| (b.signals.session_start(), b.signals.last_event()))
        != Some((signals.session_start(), signals.last_event()));
    if moved {
        let values = signals.features(signals.last_event(), model).map(|c| c.value);
        changes.rows.push(SessionRow {
            shopper: shopper.to_owned(),
            session_start: signals.session_start(),
            last_event: signals.last_event(),
            features: features_text(&IntentSample::new(signals.session_start(), &values)),
            converted: false,
        });
    }
}

/// Writes the changes (inside the caller's transaction).
pub async fn write(conn: &mut AnyConnection, changes: &SessionChanges, now: Timestamp) -> StorageResult<()> {
    for row in &changes.rows {
        let statement = if row.converted {
            "INSERT INTO intent_sessions (shopper_id, session_start, last_event, features, converted, updated_at) \
             VALUES ($1, $2, $3, $4, 1, $5) \
             ON CONFLICT (shopper_id, session_start) DO UPDATE SET \
             last_event = excluded.last_event, features = excluded.features, converted = 1, \
             updated_at = excluded.updated_at"
        } else {
            "INSERT INTO intent_sessions (shopper_id, session_start, last_event, features, converted, updated_at) \
             VALUES ($1, $2, $3, $4, 0, $5) \
             ON CONFLICT (shopper_id, session_start) DO UPDATE SET \
             last_event = excluded.last_event, features = excluded.features, updated_at = excluded.updated_at \
             WHERE intent_sessions.converted = 0 AND excluded.last_event >= intent_sessions.last_event"
        };
        sqlx::query(statement)
            .bind(row.shopper.clone())
            .bind(row.session_start.0)
            .bind(row.last_event.0)
            .bind(row.features.clone())
            .bind(now.0)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
