//! The catalog's trigger jobs (`catalog_jobs`): each import queues the changes that can
//! concern shoppers in its own transaction ([`crate::server::catalog::store`]), and a job
//! is run here — its changes turned into [`Trigger`]s and fanned out
//! ([`triggers::fan_out`]). The catalog route runs its import's job at once, so its answer
//! says who was reached; every server's background loop runs what is left: the jobs of
//! CLI imports (`waymark catalog import` against the server's database), of a route whose
//! process stopped mid-way, and of a failed fan-out.
//!
//! A job is leased while it runs ([`LEASE`]); a lapsed lease is taken over by any
//! replica. Running a job twice is safe: every event it submits has an idempotency key
//! (see [`crate::server::triggers`]), so a second run only counts duplicates.

use sqlx::Row;

use super::catalog::report::CatalogChange;
use super::clock::Clock;
use super::storage::{Db, StorageError};
use super::sync::Writer;
use super::triggers::{self, FanoutError, FanoutReport, Trigger, TriggerSettings};
use crate::time::{Duration, Timestamp};

/// How long a run holds its job before another replica may take it over.
pub const LEASE: Duration = Duration(10 * 60 * 1000);

/// A claimed job.
struct Job {
    id: i64,
    changes: Vec<CatalogChange>,
    announce_arrivals: bool,
}

/// Runs job `id` if it is pending and not leased by another run; `None` when it is done
/// or taken.
pub async fn run_one(db: &Db, writer: &Writer, id: i64, now: Timestamp) -> Result<Option<FanoutReport>, FanoutError> {
    match claim(db, Some(id), now).await? {
        Some(job) => run(db, writer, job, now).await.map(Some),
        None => Ok(None),
    }
}

/// Runs every pending job, oldest first; returns how many ran.
pub async fn run_due(db: &Db, writer: &Writer, clock: &Clock) -> Result<usize, FanoutError> {
    let mut ran = 0;
    while let Some(job) = claim(db, None, clock.now()).await? {
        let id = job.id;
        let report = run(db, writer, job, clock.now()).await?;
        tracing::info!(job = id, events = ?report.events, duplicates = report.duplicates, "catalog trigger job run");
        ran += 1;
    }
    Ok(ran)
}

/// Runs pending jobs every `poll` until shutdown.
pub async fn run_loop(
    db: Db,
    writer: Writer,
    clock: Clock,
    poll: std::time::Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        if let Err(e) = run_due(&db, &writer, &clock).await {
            tracing::error!(error = %e, "catalog trigger jobs failed; retried next round");
        }
        if !super::clock::pause(poll, &mut shutdown).await {
            break;
        }
    }
}

/// Leases the oldest pending job (or job `id`) whose lease is free or lapsed. The lease
/// condition is checked again by the update itself, so two replicas never both win.
async fn claim(db: &Db, id: Option<i64>, now: Timestamp) -> Result<Option<Job>, StorageError> {
    let free = "done_at IS NULL AND (lease_until IS NULL OR lease_until < $2)";
    let pick = match id {
        Some(_) => format!("SELECT id FROM catalog_jobs WHERE id = $3 AND {free}"),
        None => format!("SELECT id FROM catalog_jobs WHERE {free} ORDER BY id LIMIT 1"),
    };
    let sql = format!(
        "UPDATE catalog_jobs SET lease_until = $1 WHERE id = ({pick}) AND {free} \
         RETURNING id, changes, announce_arrivals"
    );
    let mut query = sqlx::query(&sql).bind(now.plus(LEASE).0).bind(now.0);
    if let Some(id) = id {
        query = query.bind(id);
    }
    let Some(row) = query.fetch_optional(db.write_pool()).await? else { return Ok(None) };
    let id: i64 = row.try_get("id")?;
    let text: String = row.try_get("changes")?;
    // A job this version cannot read is run as empty (and so closed), never retried forever.
    let changes = serde_json::from_str(&text).unwrap_or_else(|e| {
        tracing::error!(job = id, error = %e, "catalog trigger job does not decode; closed without a fan-out");
        Vec::new()
    });
    let announce_arrivals = row.try_get::<i64, _>("announce_arrivals")? != 0;
    Ok(Some(Job { id, changes, announce_arrivals }))
}

/// Fans a claimed job out and closes it with its report.
async fn run(db: &Db, writer: &Writer, job: Job, now: Timestamp) -> Result<FanoutReport, FanoutError> {
    let (mut found, previous) = triggers::from_changes(db, &job.changes).await;
    if !job.announce_arrivals {
        found.retain(|t| !matches!(t, Trigger::NewArrival { .. }));
    }
    let reference = |item: &str, _: Timestamp| previous.get(item).copied();
    let report = triggers::fan_out(db, writer, &found, TriggerSettings::default(), Some(&reference), now).await?;
    let text = serde_json::to_string(&report).unwrap_or_default();
    sqlx::query("UPDATE catalog_jobs SET done_at = $1, report = $2 WHERE id = $3")
        .bind(now.0)
        .bind(text)
        .bind(job.id)
        .execute(db.write_pool())
        .await
        .map_err(StorageError::from)?;
    Ok(report)
}
