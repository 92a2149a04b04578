//! The outbox: sends the engine decided (email, SMS, push, ads) are written in the same
//! transaction as the state that decided them, keyed by an idempotency key
//! (shopper, journey, step, decision time, channel), so a retry or a second replica can
//! never enqueue one twice. Delivery claims due rows (Postgres: `FOR UPDATE SKIP LOCKED`)
//! and leases them, re-checks suppression against the freshest state just before sending
//! (an on-site offer shown since, a purchase, a withdrawn consent), sends through an
//! adapter, and retries failures with exponential backoff until `max_attempts`.

use std::time::Duration;

use sqlx::{AnyConnection, Row};

use super::analytics::Tally;
use super::clock::Clock;
use super::config::DeliverySettings;
use super::delivery::{Delivery, Message};
use super::journeys::Journeys;
use super::metrics::Metrics;
use super::storage::{Db, StorageResult};
use crate::decision::{Action, Decision};
use crate::journey::Channel;
use crate::state::ShopperState;
use crate::time::Timestamp;

/// How long a claimed row is reserved for the replica that claimed it.
const LEASE_MS: i64 = 60_000;
/// Rows claimed per round.
const CLAIM_BATCH: i64 = 64;

/// A send waiting for delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    /// Idempotency key.
    pub key: String,
    /// Shopper row key (or any alias of it).
    pub shopper: String,
    /// Journey id.
    pub journey: String,
    /// Step id.
    pub step: String,
    /// Channel.
    pub channel: Channel,
    /// Content key.
    pub content: String,
    /// Incentive id.
    pub incentive: Option<String>,
    /// When the engine decided it.
    pub decided_at: Timestamp,
}

/// The outbox rows of a list of decisions: sends on channels the backend delivers
/// (on-site and in-app sends are shown by the page; they only count in analytics).
pub fn rows_for(shopper: &str, decisions: &[Decision]) -> Vec<OutboxRow> {
    decisions
        .iter()
        .filter(|d| d.action == Action::Send)
        .filter_map(|d| {
            let channel = d.channel.filter(|c| !c.is_in_session())?;
            let step = d.step.clone().unwrap_or_default();
            Some(OutboxRow {
                key: format!("{shopper}|{}|{step}|{}|{}", d.journey, d.time.0, channel.as_str()),
                shopper: shopper.to_owned(),
                journey: d.journey.clone(),
                step,
                channel,
                content: d.content.clone().unwrap_or_default(),
                incentive: d.incentive.clone(),
                decided_at: d.time,
            })
        })
        .collect()
}

/// Inserts rows in the caller's transaction; a key already present is left alone.
pub async fn enqueue(conn: &mut AnyConnection, rows: &[OutboxRow], now: Timestamp) -> StorageResult<()> {
    for r in rows {
        sqlx::query(
            "INSERT INTO outbox (key, shopper_id, journey, step, channel, content, incentive, decided_at, status, \
             attempts, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', 0, $9, $9) \
             ON CONFLICT (key) DO NOTHING",
        )
        .bind(r.key.clone())
        .bind(r.shopper.clone())
        .bind(r.journey.clone())
        .bind(r.step.clone())
        .bind(r.channel.as_str())
        .bind(r.content.clone())
        .bind(r.incentive.clone())
        .bind(r.decided_at.0)
        .bind(now.0)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// What one delivery round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RoundReport {
    /// Delivered.
    pub sent: usize,
    /// Suppressed at the last moment.
    pub suppressed: usize,
    /// Failed, will retry.
    pub retried: usize,
    /// Failed for good.
    pub failed: usize,
}

impl RoundReport {
    /// Rows handled.
    pub fn total(&self) -> usize {
        self.sent + self.suppressed + self.retried + self.failed
    }
}

/// Delivers the outbox.
#[derive(Debug, Clone)]
pub struct Outbox {
    /// Database.
    pub db: Db,
    /// Journeys (for the engine's recheck).
    pub journeys: Journeys,
    /// Adapters.
    pub delivery: Delivery,
    /// Retry settings.
    pub settings: DeliverySettings,
    /// Clock.
    pub clock: Clock,
    /// Metrics.
    pub metrics: Metrics,
}

enum Verdict {
    Sent,
    Suppressed(String),
    Retry(String),
    Failed(String),
}

impl Outbox {
    /// Claims due rows and leases them to this replica.
    async fn claim(&self, now: Timestamp) -> StorageResult<Vec<OutboxRow>> {
        let mut tx = self.db.begin().await?;
        let sql = format!(
            "SELECT key, shopper_id, journey, step, channel, content, incentive, decided_at FROM outbox \
             WHERE (status = 'pending' AND next_attempt_at <= $1) OR (status = 'sending' AND lease_until <= $1) \
             ORDER BY next_attempt_at LIMIT $2{}",
            self.db.skip_locked()
        );
        let rows = sqlx::query(&sql).bind(now.0).bind(CLAIM_BATCH).fetch_all(&mut *tx).await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in rows {
            let channel: String = row.try_get("channel")?;
            let Some(channel) = Channel::parse(&channel) else { continue };
            claimed.push(OutboxRow {
                key: row.try_get("key")?,
                shopper: row.try_get("shopper_id")?,
                journey: row.try_get("journey")?,
                step: row.try_get("step")?,
                channel,
                content: row.try_get("content")?,
                incentive: row.try_get("incentive")?,
                decided_at: Timestamp(row.try_get("decided_at")?),
            });
        }
        for r in &claimed {
            sqlx::query(
                "UPDATE outbox SET status = 'sending', lease_until = $1, attempts = attempts + 1 WHERE key = $2",
            )
            .bind(now.0 + LEASE_MS)
            .bind(r.key.clone())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// One round: claim what is due, recheck, deliver, record. Returns what it did.
    pub async fn deliver_due(&self) -> StorageResult<RoundReport> {
        let now = self.clock.now();
        let claimed = self.claim(now).await?;
        let mut report = RoundReport::default();
        let published = self.journeys.current();
        for row in claimed {
            let fresh = self.db.state_by_alias(&row.shopper).await?.map(|(_, s)| s);
            let verdict = match &fresh {
                None => Verdict::Failed("unknown_shopper".into()),
                Some(state) => {
                    let check = published.engine.recheck_send(state, &row.journey, row.channel, row.decided_at, now);
                    if !check.allowed {
                        Verdict::Suppressed(check.reasons.iter().map(|r| r.code()).collect::<Vec<_>>().join(","))
                    } else {
                        match recipient(state, row.channel) {
                            None => Verdict::Failed("unreachable".into()),
                            Some(to) => {
                                // Only email templates read the customer id and traits.
                                let email = row.channel == Channel::Email;
                                let message = Message {
                                    key: row.key.clone(),
                                    channel: row.channel,
                                    to,
                                    shopper: state.primary_id().to_owned(),
                                    journey: row.journey.clone(),
                                    step: row.step.clone(),
                                    content: row.content.clone(),
                                    incentive: row.incentive.clone(),
                                    decided_at: row.decided_at,
                                    customer_id: state.customer_id.as_ref().filter(|_| email).map(|c| c.value.clone()),
                                    traits: if email { traits_json(state) } else { serde_json::Value::Null },
                                };
                                match self.delivery.send(&message).await {
                                    Ok(()) => Verdict::Sent,
                                    Err(e) => Verdict::Retry(e.to_string()),
                                }
                            }
                        }
                    }
                }
            };
            self.record(&row, verdict, now, &mut report).await?;
        }
        Ok(report)
    }

    async fn record(
        &self,
        row: &OutboxRow,
        verdict: Verdict,
        now: Timestamp,
        report: &mut RoundReport,
    ) -> StorageResult<()> {
        let mut tally = Tally::default();
        let channel = row.channel.as_str();
        let mut tx = self.db.begin().await?;
        let attempts: i64 = sqlx::query("SELECT attempts FROM outbox WHERE key = $1")
            .bind(row.key.clone())
            .fetch_one(&mut *tx)
            .await?
            .try_get("attempts")?;
        let (status, reasons, error, next) = match verdict {
            Verdict::Sent => {
                report.sent += 1;
                tally.bump(&row.journey, "deliveries", &format!("{channel}:sent"), 1);
                ("sent", None, None, now.0)
            }
            Verdict::Suppressed(reasons) => {
                report.suppressed += 1;
                for r in reasons.split(',') {
                    tally.bump(&row.journey, "suppressions", r, 1);
                }
                tally.bump(&row.journey, "deliveries", &format!("{channel}:suppressed"), 1);
                ("suppressed", Some(reasons), None, now.0)
            }
            Verdict::Retry(error) if attempts < self.settings.max_attempts => {
                report.retried += 1;
                let base = i64::try_from(self.settings.retry_base.as_millis()).unwrap_or(30_000);
                let backoff = base.saturating_mul(1i64 << attempts.clamp(0, 20));
                ("pending", None, Some(error), now.0.saturating_add(backoff))
            }
            Verdict::Retry(error) | Verdict::Failed(error) => {
                report.failed += 1;
                tally.bump(&row.journey, "deliveries", &format!("{channel}:failed"), 1);
                ("failed", None, Some(error), now.0)
            }
        };
        self.metrics.sends.with_label_values(&[channel, if status == "pending" { "retry" } else { status }]).inc();
        if status == "failed" || status == "pending" {
            tracing::warn!(key = %row.key, status, error = error.as_deref().unwrap_or(""), "delivery did not go through");
        }
        sqlx::query(
            "UPDATE outbox SET status = $1, reasons = $2, last_error = $3, next_attempt_at = $4, lease_until = NULL, \
             done_at = $5 WHERE key = $6 AND status = 'sending'",
        )
        .bind(status)
        .bind(reasons)
        .bind(error)
        .bind(next)
        .bind(if status == "pending" { None } else { Some(now.0) })
        .bind(row.key.clone())
        .execute(&mut *tx)
        .await?;
        tally.flush(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Runs rounds every `poll` until `shutdown` turns true.
    pub async fn run(self, poll: Duration, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            match self.deliver_due().await {
                Ok(report) if report.total() > 0 => {
                    tracing::info!(
                        sent = report.sent,
                        suppressed = report.suppressed,
                        retried = report.retried,
                        failed = report.failed,
                        "outbox round"
                    );
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "outbox round failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = shutdown.changed() => break,
            }
            if *shutdown.borrow() {
                break;
            }
        }
    }
}

/// Where a message goes: traits `email`, `phone`, `push_token`; ads go by shopper id.
pub fn recipient(state: &ShopperState, channel: Channel) -> Option<String> {
    let trait_name = match channel {
        Channel::Email => "email",
        Channel::Sms => "phone",
        Channel::Push => "push_token",
        Channel::Ads => return Some(state.primary_id().to_owned()),
        Channel::Onsite | Channel::Inapp => return None,
    };
    state.trait_value(trait_name).and_then(|v| v.as_str()).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// The shopper's traits as a JSON object (for email templates); withdrawn ones (null) left out.
fn traits_json(state: &ShopperState) -> serde_json::Value {
    let traits: serde_json::Map<String, serde_json::Value> = (&state.traits)
        .into_iter()
        .filter(|(_, stamped)| !matches!(stamped.value, crate::value::Value::Null))
        .filter_map(|(key, stamped)| Some((key.clone(), serde_json::to_value(&stamped.value).ok()?)))
        .collect();
    serde_json::Value::Object(traits)
}
