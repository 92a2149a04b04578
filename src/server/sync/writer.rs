//! The writer task: jobs queue on one channel; the task takes all jobs waiting as a
//! batch, applies and commits it ([`super::batch`]), and answers each job after the
//! commit. Transient database errors retry the whole batch.

use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection};
use tokio::sync::{mpsc, oneshot, watch};

use super::batch::apply_batch;
use super::{Done, Identity, Work};
use crate::server::clock::Clock;
use crate::server::error::ApiError;
use crate::server::journeys::Journeys;
use crate::server::metrics::Metrics;
use crate::server::storage::{Db, StorageError};

/// Whole-batch retries after a transient database error (deadlock, serialization).
const BATCH_RETRIES: usize = 3;

struct Job {
    identity: Identity,
    work: Work,
    arrived: Instant,
    reply: oneshot::Sender<Result<Done, ApiError>>,
}

/// Handle to the writer task.
#[derive(Debug, Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
}

/// What the writer needs.
#[derive(Debug, Clone)]
pub struct WriterContext {
    /// Database.
    pub db: Db,
    /// Current journeys.
    pub journeys: Journeys,
    /// Clock.
    pub clock: Clock,
    /// Metrics.
    pub metrics: Metrics,
    /// Most jobs per batch.
    pub batch_max: usize,
}

impl Writer {
    /// Starts the writer task; it drains what is queued and stops when `shutdown` turns true.
    pub fn spawn(ctx: WriterContext, shutdown: watch::Receiver<bool>) -> (Writer, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(ctx.batch_max.saturating_mul(8).max(64));
        let runtime = tokio::runtime::Handle::current();
        let own_thread =
            !ctx.db.is_postgres() && runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread;
        let handle = if own_thread {
            // SQLite: on a thread of its own. Each statement runs on the connection's own
            // thread, which wakes the writer when it is done; a task woken from outside the
            // runtime waits in its global queue, which a busy worker looks at only every few
            // dozen tasks, so under load each of a batch's statements can wait behind
            // request tasks. Here it resumes as soon as the OS runs the thread. (Postgres answers arrive through the
            // runtime's own I/O driver: a task is the shorter path there. A current-thread
            // runtime, as in tests, drives I/O on its own thread only.)
            tokio::task::spawn_blocking(move || runtime.block_on(run(ctx, rx, shutdown)))
        } else {
            tokio::spawn(run(ctx, rx, shutdown))
        };
        (Writer { tx }, handle)
    }

    /// Queues a job and waits until it is committed.
    pub async fn submit(&self, identity: Identity, work: Work) -> Result<Done, ApiError> {
        let answer = self.enqueue(identity, work).await?;
        answer.await.map_err(|_| ApiError::shutting_down())?
    }

    /// Queues several jobs at once (they share a commit when they fit in one batch) and
    /// waits for all of them.
    pub async fn submit_many(&self, jobs: Vec<(Identity, Work)>) -> Vec<Result<Done, ApiError>> {
        let mut answers = Vec::with_capacity(jobs.len());
        for (identity, work) in jobs {
            answers.push(self.enqueue(identity, work).await);
        }
        let mut out = Vec::with_capacity(answers.len());
        for answer in answers {
            out.push(match answer {
                Ok(rx) => rx.await.unwrap_or_else(|_| Err(ApiError::shutting_down())),
                Err(e) => Err(e),
            });
        }
        out
    }

    async fn enqueue(
        &self,
        identity: Identity,
        work: Work,
    ) -> Result<oneshot::Receiver<Result<Done, ApiError>>, ApiError> {
        let (reply, answer) = oneshot::channel();
        let job = Job { identity, work, arrived: Instant::now(), reply };
        self.tx.send(job).await.map_err(|_| ApiError::shutting_down())?;
        Ok(answer)
    }
}

/// How long the writer keeps the writing connection while jobs keep coming. Between
/// back-to-back batches it skips the pool's hand-back (a spawned task and a test round
/// trip to the database) and the next acquire; past this it hands it back anyway, so the
/// scheduler and the outbox get their turn on SQLite's single writing connection.
const HOLD: Duration = Duration::from_millis(100);

async fn run(ctx: WriterContext, mut rx: mpsc::Receiver<Job>, mut shutdown: watch::Receiver<bool>) {
    let mut held: Option<(PoolConnection<Any>, Instant)> = None;
    loop {
        let first = match rx.try_recv() {
            Ok(job) => Some(job),
            Err(_) => {
                // Idle: give the connection back before waiting.
                held = None;
                tokio::select! {
                    job = rx.recv() => job,
                    _ = shutdown.changed() => {
                        // Finish what was accepted, refuse the rest.
                        rx.close();
                        rx.recv().await
                    }
                }
            }
        };
        let Some(first) = first else { break };
        let mut batch = vec![first];
        while batch.len() < ctx.batch_max {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if held.as_ref().is_some_and(|(_, since)| since.elapsed() >= HOLD) {
            held = None;
        }
        let mut conn = match held.take() {
            Some(held) => held,
            None => match ctx.db.writer().await {
                Ok(conn) => (conn, Instant::now()),
                Err(e) => {
                    fail(batch, &e);
                    continue;
                }
            },
        };
        if process(&ctx, &mut conn.0, batch).await {
            held = Some(conn);
        }
    }
    tracing::info!("writer stopped: every accepted job committed");
}

/// Applies and commits a batch, answers its jobs; false when it failed (the connection
/// is then not reused).
async fn process(ctx: &WriterContext, conn: &mut AnyConnection, batch: Vec<Job>) -> bool {
    let published = ctx.journeys.current();
    let now = ctx.clock.now();
    let items: Vec<(&Identity, &Work)> = batch.iter().map(|j| (&j.identity, &j.work)).collect();
    let started = Instant::now();
    let mut attempt = 0;
    let outcome = loop {
        attempt += 1;
        match apply_batch(conn, &published.engine, &items, now).await {
            Ok(results) => break Ok(results),
            Err(e) if attempt < BATCH_RETRIES && transient(&e) => {
                tracing::warn!(error = %e, attempt, "batch failed, retrying");
            }
            Err(e) => break Err(e),
        }
    };
    tracing::debug!(jobs = batch.len(), micros = started.elapsed().as_micros() as u64, "batch committed");
    ctx.metrics.batch_size.with_label_values(&["writer"]).observe(batch.len() as f64);
    match outcome {
        Ok((results, decisions)) => {
            ctx.metrics.count_decisions(&decisions);
            for (job, result) in batch.into_iter().zip(results) {
                ctx.metrics.commit_seconds.with_label_values(&["writer"]).observe(job.arrived.elapsed().as_secs_f64());
                let _ = job.reply.send(result);
            }
            true
        }
        Err(e) => {
            fail(batch, &e);
            false
        }
    }
}

/// Answers every job of a batch that could not be committed with the error.
fn fail(batch: Vec<Job>, e: &StorageError) {
    tracing::error!(error = %e, jobs = batch.len(), "group commit failed");
    for job in batch {
        let _ = job.reply.send(Err(ApiError::storage(e)));
    }
}

fn transient(e: &StorageError) -> bool {
    match e {
        StorageError::Sql(sqlx::Error::Database(db)) => {
            // Postgres deadlock / serialization failure / unique violation from a racing insert.
            matches!(db.code().as_deref(), Some("40P01") | Some("40001") | Some("23505"))
        }
        StorageError::Sql(sqlx::Error::PoolTimedOut) => true,
        _ => false,
    }
}
