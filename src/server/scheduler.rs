//! The scheduler: shoppers whose next timer (`Engine::next_wakeup`, kept in the indexed
//! `shoppers.wake_at` column) is due are claimed — on Postgres with `FOR UPDATE SKIP
//! LOCKED`, so replicas split the work and never tick one shopper twice — run through
//! `Engine::tick`, and written back together with their sends (outbox) and analytics in
//! one transaction. Each round also refreshes the published bundle and the queue gauges.

use std::time::Duration;

use super::analytics::Tally;
use super::clock::Clock;
use super::journeys::Journeys;
use super::metrics::Metrics;
use super::outbox;
use super::storage::{self, Db, StorageError, StorageResult};
use crate::time::Timestamp;

/// Shoppers ticked per transaction.
const TICK_BATCH: i64 = 128;
/// A timer that does not move after a tick is looked at again this much later.
const STUCK_RETRY_MS: i64 = 60_000;

/// Runs due timers.
#[derive(Debug, Clone)]
pub struct Scheduler {
    /// Database.
    pub db: Db,
    /// Journeys.
    pub journeys: Journeys,
    /// Clock.
    pub clock: Clock,
    /// Metrics.
    pub metrics: Metrics,
}

impl Scheduler {
    /// Ticks every shopper due now; returns how many were ticked.
    pub async fn run_due(&self) -> StorageResult<usize> {
        let mut total = 0;
        loop {
            let n = self.round(self.clock.now()).await?;
            total += n;
            if n < usize::try_from(TICK_BATCH).unwrap_or(usize::MAX) {
                return Ok(total);
            }
        }
    }

    async fn round(&self, now: Timestamp) -> StorageResult<usize> {
        let published = self.journeys.current();
        let engine = &published.engine;
        let lock = self.db.skip_locked();
        let mut tx = self.db.begin().await?;
        let keys = storage::claim_due(&mut tx, now, TICK_BATCH, lock).await?;
        let mut tally = Tally::default();
        let mut rows = Vec::new();
        let mut ticked = 0;
        for key in &keys {
            // Locked by the claim on Postgres; on SQLite this is the only writer.
            let stored = match storage::load_shopper(&mut tx, key, "").await {
                Ok(Some(stored)) => stored,
                Ok(None) => continue,
                Err(e @ StorageError::CorruptState { .. }) => {
                    // One unreadable row must not stall every other shopper's timers.
                    tracing::error!(error = %e, "shopper state does not decode; its timers are parked");
                    storage::park_unreadable(&mut tx, key).await?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let before = stored.state.clone();
            let mut state = stored.state;
            let decisions = engine.tick(&mut state, now);
            let mut wake = engine.next_check(&state, now);
            if wake.is_some_and(|w| w <= now) {
                wake = Some(Timestamp(now.0 + STUCK_RETRY_MS));
            }
            if storage::write_shopper(&mut tx, key, &state, Some(stored.version), wake, now).await? {
                self.metrics.count_decisions(&decisions);
                tally.shopper_decisions(key, engine.bundle(), &state, &decisions);
                tally.shopper_diff(key, engine.bundle(), Some(&before), &state);
                rows.extend(outbox::rows_for(key, &decisions));
                ticked += 1;
            }
        }
        outbox::enqueue(&mut tx, &rows, now).await?;
        tally.flush(&mut tx).await?;
        tx.commit().await?;
        if ticked > 0 {
            self.metrics.batch_size.with_label_values(&["scheduler"]).observe(ticked as f64);
            tracing::debug!(ticked, sends = rows.len(), "scheduler round");
        }
        Ok(keys.len())
    }

    /// Updates the queue gauges and picks up a bundle another replica published.
    pub async fn housekeeping(&self) -> StorageResult<()> {
        if self.journeys.refresh(&self.db).await? {
            tracing::info!(version = self.journeys.current().version, "loaded a newer bundle");
        }
        let (timers, outbox) = self.db.queue_depth(self.clock.now()).await?;
        self.metrics.due_timers.set(timers);
        self.metrics.outbox_depth.set(outbox);
        Ok(())
    }

    /// Runs rounds every `poll` until `shutdown` turns true.
    pub async fn run(self, poll: Duration, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.housekeeping().await {
                tracing::error!(error = %e, "scheduler housekeeping failed");
            }
            match self.run_due().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(shoppers = n, "timers run"),
                Err(e) => tracing::error!(error = %e, "scheduler round failed"),
            }
            if !super::clock::pause(poll, &mut shutdown).await {
                break;
            }
        }
    }
}
