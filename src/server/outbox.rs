//! The outbox: sends the engine decided (email, SMS, push, ads) are written in the same
//! transaction as the state that decided them, keyed by an idempotency key
//! (shopper, journey, step, decision time, channel), so a retry or a second replica can
//! never enqueue one twice. Delivery claims due rows (Postgres: `FOR UPDATE SKIP LOCKED`)
//! and leases them, re-checks suppression against the freshest state just before sending
//! (an on-site offer shown since, a purchase, a withdrawn consent), sends through an
//! adapter, and retries failures with exponential backoff until `max_attempts`.
//!
//! Leases are short (`DeliverySettings::lease`, 4 s by default) and carry the claiming
//! replica's id (`lease_owner`). While a round is working, a heartbeat renews every lease
//! the replica holds each third of the lease, so a slow relay never lets a live replica's
//! rows expire; a replica killed mid-round stops renewing, and its rows are due again for
//! any replica within one lease. Live replicas claim lapsed leases before pending rows and
//! end each round after half a lease (handing back what they did not start), so they take
//! a crashed replica's rows over within about one and a half leases plus one send.
//!
//! A send starts only after the row's lease was renewed by its owner, and a result is
//! recorded only by the owner, so a second replica can take over a row but never send or
//! record it beside the first: a message is sent twice only when its replica died (or lost
//! its database for a whole lease) between handing it to the relay and recording it —
//! always with the same Message-ID / `Idempotency-Key`, derived from the outbox key.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::{AnyConnection, Row};

use super::analytics::Tally;
use super::clock::Clock;
use super::config::DeliverySettings;
use super::delivery::{content, Delivery, Message};
use super::journeys::Journeys;
use super::metrics::Metrics;
use super::recommend::service::Recommender;
use super::storage::{Db, StorageResult};
use crate::decision::{Action, Decision};
use crate::journey::Channel;
use crate::state::ShopperState;
use crate::time::Timestamp;

/// Rows claimed per round.
const CLAIM_BATCH: i64 = 64;
/// The shortest lease honoured (a zero or tiny setting would expire before a send starts).
const MIN_LEASE_MS: i64 = 200;
/// A round starts no new send after this share of a lease (1/2): what it claimed and did
/// not start goes back to pending, and the next round claims lapsed leases first. So a
/// live replica looks for a crashed one's rows at least every half lease, whatever its
/// batch and its relay's speed.
const ROUND_SHARE: i64 = 2;

/// A replica's id in `lease_owner`: `PID-N-START`, the process id, a counter of outboxes
/// built in the process (tests run several replicas in one), and the start time in
/// microseconds (hex), so ids differ across restarts and hosts.
pub fn replica_id() -> String {
    static BUILT: AtomicU64 = AtomicU64::new(0);
    let n = BUILT.fetch_add(1, Ordering::Relaxed);
    let start = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros());
    format!("{}-{n}-{start:x}", std::process::id())
}

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
    /// What the message is about, as JSON: `{"entry": {…}, "items": […]}` (the run's
    /// remembered entry properties and the decision's items), for its content.
    pub context: String,
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
                context: serde_json::json!({ "entry": d.entry, "items": d.items }).to_string(),
            })
        })
        .collect()
}

/// Inserts rows in the caller's transaction; a key already present is left alone.
pub async fn enqueue(conn: &mut AnyConnection, rows: &[OutboxRow], now: Timestamp) -> StorageResult<()> {
    for r in rows {
        sqlx::query(
            "INSERT INTO outbox (key, shopper_id, journey, step, channel, content, incentive, decided_at, status, \
             attempts, next_attempt_at, created_at, context) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', 0, $9, $9, $10) ON CONFLICT (key) DO NOTHING",
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
        .bind(r.context.clone())
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
    /// Not sent or not recorded here: the lease expired and another replica took the row.
    pub lost: usize,
    /// Claimed but not started within the round's time, given back to pending.
    pub released: usize,
}

impl RoundReport {
    /// Rows handled.
    pub fn total(&self) -> usize {
        self.sent + self.suppressed + self.retried + self.failed + self.lost
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
    /// This replica's id, written to `lease_owner` of the rows it claims (`replica_id`).
    pub replica: Arc<str>,
    /// The catalog and recommendations, for the products a message shows.
    pub recommender: Arc<Recommender>,
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
        // Rows whose lease lapsed (a crashed replica's) first, then due pending rows: a
        // backlog never keeps a dead replica's rows waiting.
        let lapsed = format!(
            "SELECT key, shopper_id, journey, step, channel, content, incentive, decided_at, context FROM outbox \
             WHERE status = 'sending' AND lease_until <= $1 ORDER BY lease_until LIMIT $2{}",
            self.db.skip_locked()
        );
        let mut rows = sqlx::query(&lapsed).bind(now.0).bind(CLAIM_BATCH).fetch_all(&mut *tx).await?;
        let room = CLAIM_BATCH - i64::try_from(rows.len()).unwrap_or(CLAIM_BATCH);
        if room > 0 {
            let due = format!(
                "SELECT key, shopper_id, journey, step, channel, content, incentive, decided_at, context FROM outbox \
                 WHERE status = 'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $2{}",
                self.db.skip_locked()
            );
            rows.extend(sqlx::query(&due).bind(now.0).bind(room).fetch_all(&mut *tx).await?);
        }
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
                context: row.try_get::<Option<String>, _>("context")?.unwrap_or_default(),
            });
        }
        for r in &claimed {
            sqlx::query(
                "UPDATE outbox SET status = 'sending', lease_until = $1, lease_owner = $2, attempts = attempts + 1 \
                 WHERE key = $3",
            )
            .bind(now.0.saturating_add(self.lease_ms()))
            .bind(&*self.replica)
            .bind(r.key.clone())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// The lease length in milliseconds.
    fn lease_ms(&self) -> i64 {
        i64::try_from(self.settings.lease.as_millis()).unwrap_or(i64::MAX).max(MIN_LEASE_MS)
    }

    /// Extends every lease this replica holds to one lease from now (the heartbeat).
    /// Returns the rows renewed.
    pub async fn renew_leases(&self) -> StorageResult<u64> {
        let now = self.clock.now();
        let done = sqlx::query("UPDATE outbox SET lease_until = $1 WHERE status = 'sending' AND lease_owner = $2")
            .bind(now.0.saturating_add(self.lease_ms()))
            .bind(&*self.replica)
            .execute(self.db.write_pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// Renews one row's lease just before its send; false when another replica took it
    /// over meanwhile (the lease had expired): then this replica must not send it.
    async fn still_ours(&self, key: &str) -> StorageResult<bool> {
        let now = self.clock.now();
        let done = sqlx::query(
            "UPDATE outbox SET lease_until = $1 WHERE key = $2 AND status = 'sending' AND lease_owner = $3",
        )
        .bind(now.0.saturating_add(self.lease_ms()))
        .bind(key.to_owned())
        .bind(&*self.replica)
        .execute(self.db.write_pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// One round: claim what is due, recheck, deliver, record. Returns what it did. While
    /// the round works, a heartbeat renews this replica's leases every third of a lease.
    pub async fn deliver_due(&self) -> StorageResult<RoundReport> {
        let now = self.clock.now();
        let claimed = self.claim(now).await?;
        if claimed.is_empty() {
            return Ok(RoundReport::default());
        }
        let every = Duration::from_millis(u64::try_from(self.lease_ms() / 3).unwrap_or(1).max(1));
        let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Both run together: the heartbeat's write never waits on the round (on SQLite both
        // queue for the one writing connection). The heartbeat stops between statements,
        // never in the middle of one, once the round is done.
        let (done_tx, mut done_rx) = tokio::sync::watch::channel(false);
        let work = async {
            let report = self.deliver_claimed(claimed, now).await;
            let _ = done_tx.send(true);
            report
        };
        let beat = async {
            loop {
                tokio::select! {
                    _ = heartbeat.tick() => {}
                    _ = done_rx.changed() => break,
                }
                if let Err(e) = self.renew_leases().await {
                    tracing::warn!(error = %e, "outbox lease heartbeat failed");
                }
            }
        };
        let (report, ()) = tokio::join!(work, beat);
        report
    }

    /// Gives rows this replica claimed but did not start back to pending (the claim's
    /// attempt is not counted).
    async fn release(&self, rows: &[OutboxRow]) -> StorageResult<()> {
        let mut tx = self.db.begin().await?;
        for r in rows {
            sqlx::query(
                "UPDATE outbox SET status = 'pending', lease_until = NULL, lease_owner = NULL, attempts = attempts - 1 \
                 WHERE key = $1 AND status = 'sending' AND lease_owner = $2",
            )
            .bind(r.key.clone())
            .bind(&*self.replica)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn deliver_claimed(&self, claimed: Vec<OutboxRow>, now: Timestamp) -> StorageResult<RoundReport> {
        let mut report = RoundReport::default();
        let published = self.journeys.current();
        let started = std::time::Instant::now();
        let budget = Duration::from_millis(u64::try_from(self.lease_ms() / ROUND_SHARE).unwrap_or(1));
        for (i, row) in claimed.iter().enumerate() {
            if i > 0 && started.elapsed() >= budget {
                let rest = claimed.get(i..).unwrap_or_default();
                self.release(rest).await?;
                report.released = rest.len();
                break;
            }
            let fresh = self.db.state_by_alias(&row.shopper).await?.map(|(_, s)| s);
            // The products it shows, read before the lease check below: nothing slow may
            // sit between that check and the send.
            let context = match &fresh {
                Some(state) => content::build(&self.recommender, &self.db, state, &row.context, now).await,
                None => serde_json::Value::Null,
            };
            if !self.still_ours(&row.key).await? {
                tracing::warn!(key = %row.key, "outbox lease expired before the send; another replica has the row");
                report.lost += 1;
                continue;
            }
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
                                    context,
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
            self.record(row, verdict, now, &mut report).await?;
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
                tally.bump(&row.journey, "deliveries", &format!("{channel}:sent"), 1);
                ("sent", None, None, now.0)
            }
            Verdict::Suppressed(reasons) => {
                for r in reasons.split(',') {
                    tally.bump(&row.journey, "suppressions", r, 1);
                }
                tally.bump(&row.journey, "deliveries", &format!("{channel}:suppressed"), 1);
                ("suppressed", Some(reasons), None, now.0)
            }
            Verdict::Retry(error) if attempts < self.settings.max_attempts => {
                let base = i64::try_from(self.settings.retry_base.as_millis()).unwrap_or(30_000);
                let backoff = base.saturating_mul(1i64 << attempts.clamp(0, 20));
                ("pending", None, Some(error), now.0.saturating_add(backoff))
            }
            Verdict::Retry(error) | Verdict::Failed(error) => {
                tally.bump(&row.journey, "deliveries", &format!("{channel}:failed"), 1);
                ("failed", None, Some(error), now.0)
            }
        };
        // Only the lease's owner records: a row another replica took over after this
        // lease expired is that replica's to record (its analytics count it once).
        let done = sqlx::query(
            "UPDATE outbox SET status = $1, reasons = $2, last_error = $3, next_attempt_at = $4, lease_until = NULL, \
             lease_owner = NULL, done_at = $5 WHERE key = $6 AND status = 'sending' AND lease_owner = $7",
        )
        .bind(status)
        .bind(reasons)
        .bind(error.clone())
        .bind(next)
        .bind(if status == "pending" { None } else { Some(now.0) })
        .bind(row.key.clone())
        .bind(&*self.replica)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            tracing::warn!(key = %row.key, status, "outbox lease expired before the result was recorded");
            report.lost += 1;
            return Ok(());
        }
        tally.flush(&mut tx).await?;
        tx.commit().await?;
        match status {
            "sent" => report.sent += 1,
            "suppressed" => report.suppressed += 1,
            "pending" => report.retried += 1,
            _ => report.failed += 1,
        }
        self.metrics.sends.with_label_values(&[channel, if status == "pending" { "retry" } else { status }]).inc();
        if status == "failed" || status == "pending" {
            tracing::warn!(key = %row.key, status, error = error.as_deref().unwrap_or(""), "delivery did not go through");
        }
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
                        lost = report.lost,
                        released = report.released,
                        "outbox round"
                    );
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "outbox round failed"),
            }
            if !super::clock::pause(poll, &mut shutdown).await {
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
