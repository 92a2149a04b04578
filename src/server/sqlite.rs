//! SQLite connection settings and the WAL checkpointer.
//!
//! Every connection runs in WAL mode (readers never block the writer) and waits instead
//! of failing on a lock. How a commit is made durable is the operator's choice
//! ([`Synchronous`]): `full` (the default) syncs the WAL to disk before a commit returns,
//! so an answered `/v1/sync` survives a power loss; `normal` returns once the commit is in
//! the WAL file, which survives a crash or kill of the process but not of the machine
//! (the newest commits can be lost on power loss; the database stays consistent).
//!
//! Copying the WAL back into the database file (a checkpoint) is work the commit that
//! crosses SQLite's auto-checkpoint threshold would otherwise do itself, waiting for the
//! copy and an fsync of the database file: tens of milliseconds added to every request of
//! that batch. [`checkpointer`] does it on its own connection instead, every
//! [`CHECKPOINT_EVERY`]; the writer keeps a high auto-checkpoint threshold only as a
//! backstop should the checkpointer fall behind.

use std::time::Duration;

use sqlx::pool::PoolConnectionMetadata;
use sqlx::{AnyConnection, AnyPool, Row};

/// A boxed, sendable future (what sqlx's `after_connect` wants).
type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// How SQLite makes a commit durable (`PRAGMA synchronous` in WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Synchronous {
    /// The WAL is synced to disk before a commit returns: durable against power loss.
    #[default]
    Full,
    /// A commit returns once it is in the WAL file: durable against a crash of the process,
    /// not of the machine. Commits skip an fsync each.
    Normal,
}

impl Synchronous {
    fn pragma(self) -> &'static str {
        match self {
            Synchronous::Full => "PRAGMA synchronous = FULL",
            Synchronous::Normal => "PRAGMA synchronous = NORMAL",
        }
    }
}

/// How often the checkpointer copies the WAL into the database file.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// WAL pages past which the writer checkpoints by itself (the checkpointer fell behind):
/// 8192 pages of 4 KiB, 32 MiB.
const WRITER_AUTOCHECKPOINT: u32 = 8192;

/// Bytes the WAL file is cut back to after a checkpoint reset it (after a burst).
const WAL_SIZE_LIMIT: u64 = 64 * 1024 * 1024;

/// The `after_connect` hook of a pool: [`configure_writer`] for the writing connection,
/// else [`configure`].
pub fn on_connect(
    synchronous: Synchronous,
    writer: bool,
) -> impl Fn(&mut AnyConnection, PoolConnectionMetadata) -> BoxFuture<'_, Result<(), sqlx::Error>> + Send + Sync + 'static
{
    move |conn, _meta| {
        Box::pin(async move {
            if writer {
                configure_writer(conn, synchronous).await
            } else {
                configure(conn, synchronous).await
            }
        })
    }
}

/// Settings of every connection.
pub async fn configure(conn: &mut AnyConnection, synchronous: Synchronous) -> Result<(), sqlx::Error> {
    for pragma in ["PRAGMA journal_mode = WAL", synchronous.pragma(), "PRAGMA busy_timeout = 10000"] {
        sqlx::query(pragma).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Settings of the writing connection: as [`configure`], and checkpoints left to the
/// [`checkpointer`] below the backstop threshold.
pub async fn configure_writer(conn: &mut AnyConnection, synchronous: Synchronous) -> Result<(), sqlx::Error> {
    configure(conn, synchronous).await?;
    sqlx::query(&format!("PRAGMA wal_autocheckpoint = {WRITER_AUTOCHECKPOINT}")).execute(&mut *conn).await?;
    sqlx::query(&format!("PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")).execute(&mut *conn).await?;
    Ok(())
}

/// Checkpoints the WAL every [`CHECKPOINT_EVERY`] on `pool`'s connection, PASSIVE: it
/// never waits for the writer nor blocks it (commits keep appending to the WAL meanwhile);
/// what it could not copy this time it copies next time. Stops when the pool is closed.
pub async fn checkpointer(pool: AnyPool) {
    let mut every = tokio::time::interval(CHECKPOINT_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if pool.is_closed() {
            break;
        }
        let started = std::time::Instant::now();
        match sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").fetch_optional(&pool).await {
            Ok(row) => {
                // (busy, frames in the WAL, frames copied into the database file)
                let frame = |i: usize| row.as_ref().and_then(|r| r.try_get::<i64, _>(i).ok()).unwrap_or(-1);
                tracing::debug!(
                    micros = started.elapsed().as_micros() as u64,
                    wal_frames = frame(1),
                    copied = frame(2),
                    "WAL checkpoint"
                );
            }
            Err(e) => {
                if pool.is_closed() {
                    break;
                }
                tracing::warn!(error = %e, "WAL checkpoint failed; the writer checkpoints past its backstop");
            }
        }
    }
}
