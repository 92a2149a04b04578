//! The learned mix as the backend runs it: settled counts read from `mix_exposures`
//! (an exposure is settled once it converted or its window closed: an open one would
//! count as a miss too early), fitted ([`super::fit`]), and, when anything moved,
//! published as a new bundle version through [`Journeys::publish`] — the learned values
//! and split weights are bundle fields, so every runtime that loads the bundle ranks and
//! splits the same. Periodic on one replica a period (`scheduled_jobs`, like the
//! purchase-history fit), and on demand (`waymark fit mix`).

use serde::Serialize;
use sqlx::Row;

use super::fit::{self, Counts, MixFit, MixSettings};
use crate::server::error::ApiError;
use crate::server::journeys::Journeys;
use crate::server::storage::{Db, StorageError};
use crate::time::{Duration, Timestamp};

/// What one run did.
#[derive(Debug, Clone, Serialize)]
pub struct MixReport {
    /// When it ran.
    pub now: String,
    /// Settled counts per (journey, step, kind, variant, channel).
    pub counts: Vec<Counts>,
    /// Exposures whose window is still open (not fitted yet).
    pub open: u64,
    /// Posteriors, learned values and split shares.
    pub fit: MixFit,
    /// The bundle version published, when anything changed and publishing was asked.
    pub published_version: Option<i64>,
    /// The bundle version the fit started from.
    pub from_version: i64,
    /// Whether the fit changed any learned value or split weight.
    pub changed: bool,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum MixError {
    /// The database failed.
    #[error("{0}")]
    Storage(#[from] StorageError),
    /// Publishing the new bundle failed.
    #[error("publishing the learned mix failed: {0:?}")]
    Publish(ApiError),
}

impl MixError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            MixError::Storage(_) => "storage_error",
            MixError::Publish(_) => "publish_failed",
        }
    }
}

/// Settled counts at `now`, and how many exposures are still open.
pub async fn load_counts(db: &Db, now: Timestamp) -> Result<(Vec<Counts>, u64), StorageError> {
    let rows = sqlx::query(
        "SELECT journey, step, kind, variant, channel, COUNT(*) AS n, COUNT(converted_at) AS c FROM mix_exposures \
         WHERE converted_at IS NOT NULL OR window_end < $1 GROUP BY journey, step, kind, variant, channel \
         ORDER BY journey, step, kind, variant, channel",
    )
    .bind(now.0)
    .fetch_all(db.reader())
    .await?;
    let mut counts = Vec::with_capacity(rows.len());
    for row in rows {
        let n: i64 = row.try_get("n")?;
        let c: i64 = row.try_get("c")?;
        counts.push(Counts {
            journey: row.try_get("journey")?,
            step: row.try_get("step")?,
            kind: row.try_get("kind")?,
            variant: row.try_get("variant")?,
            channel: row.try_get("channel")?,
            exposures: u64::try_from(n).unwrap_or(0),
            conversions: u64::try_from(c).unwrap_or(0),
        });
    }
    let open: i64 =
        sqlx::query("SELECT COUNT(*) AS n FROM mix_exposures WHERE converted_at IS NULL AND window_end >= $1")
            .bind(now.0)
            .fetch_one(db.reader())
            .await?
            .try_get("n")?;
    Ok((counts, u64::try_from(open).unwrap_or(0)))
}

/// Fits the published bundle's mix at `now`; with `publish`, publishes it when it moved.
pub async fn run(
    db: &Db,
    journeys: &Journeys,
    settings: &MixSettings,
    now: Timestamp,
    publish: bool,
) -> Result<MixReport, MixError> {
    journeys.refresh(db).await?;
    let current = journeys.current();
    let (counts, open) = load_counts(db, now).await?;
    let fitted = fit::fit(current.engine.bundle(), &counts, settings);
    let mut bundle = current.engine.bundle().clone();
    let changed = fit::apply(&mut bundle, &fitted);
    let mut report = MixReport {
        now: now.to_rfc3339(),
        counts,
        open,
        fit: fitted,
        published_version: None,
        from_version: current.version,
        changed,
    };
    if changed && publish && current.version > 0 {
        let published = journeys.publish(db, bundle, now).await.map_err(MixError::Publish)?;
        report.published_version = Some(published.version);
    }
    Ok(report)
}

/// The name of the fit in `scheduled_jobs`.
pub const JOB: &str = "fit_mix";
/// How often a replica looks whether the fit is due.
const CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs the fit every `every` until shutdown, on one replica a period (the one whose
/// update moves the job's `next_at` forward while it is due).
pub async fn run_loop(
    db: Db,
    journeys: Journeys,
    clock: crate::server::clock::Clock,
    every: std::time::Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let period = Duration(i64::try_from(every.as_millis()).unwrap_or(i64::MAX));
    loop {
        match crate::server::forecast::claim(&db, JOB, clock.now(), period).await {
            Ok(true) => match run(&db, &journeys, &MixSettings::default(), clock.now(), true).await {
                Ok(report) => tracing::info!(
                    changed = report.changed,
                    published = report.published_version.unwrap_or(0),
                    sends = report.fit.sends.len(),
                    splits = report.fit.splits.len(),
                    "learned mix fit"
                ),
                Err(e) => tracing::error!(error = %e, code = e.code(), "learned mix fit failed; retried next period"),
            },
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, "learned mix fit: the schedule could not be read"),
        }
        if !crate::server::clock::pause(CHECK_EVERY, &mut shutdown).await {
            break;
        }
    }
}

/// `waymark fit mix`: fits at `now` (the clock by default), prints the report as JSON
/// and publishes unless `dry_run`. Exits 1 when the database or the publish failed.
pub fn run_cli(db_url: &str, dry_run: bool, now: Option<Timestamp>) -> std::process::ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error[runtime]: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let db = Db::connect(db_url, 2, crate::server::sqlite::Synchronous::Full)
            .await
            .map_err(|e| ("storage_error", e.to_string()))?;
        let now = now.unwrap_or_else(|| crate::server::clock::Clock::System.now());
        let report = run(&db, &Journeys::new(), &MixSettings::default(), now, !dry_run).await;
        db.close().await;
        report.map_err(|e| (e.code(), e.to_string()))
    });
    match result {
        Ok(report) => {
            println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
            std::process::ExitCode::SUCCESS
        }
        Err((code, message)) => {
            eprintln!("error[{code}]: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}
