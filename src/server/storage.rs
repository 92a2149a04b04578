//! Storage through sqlx's `Any` driver: one code path for SQLite (the default, one file,
//! nothing to install) and Postgres (several replicas). Migrations live in
//! `migrations/sqlite` and `migrations/postgres` and run on start. SQLite gets a pool of
//! one writing connection (writes are serialized there, never "database is locked"), a
//! pool of readers (WAL) and a connection for the WAL checkpointer (`sqlite`); Postgres
//! one pool for both.
//!
//! Key scheme: a shopper's state is one row of `shoppers`, keyed `cust:<customer id>` once
//! the shopper logged in, else `anon:<anonymous id>`. `shopper_aliases` maps every key ever
//! seen (each row's own key included) to the row holding the state, so an anonymous id
//! that logged in keeps finding the merged customer state. Rows carry a `version`; writes
//! are conditional on it (optimistic concurrency between replicas: on a conflict the
//! writer re-reads and merges again, which is safe because merge is a join).

use std::str::FromStr;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::Row;
use sqlx::{AnyConnection, AnyPool};

use super::sqlite::{self, Synchronous};
use crate::state::ShopperState;
use crate::time::Timestamp;

/// The database.
#[derive(Debug, Clone)]
pub struct Db {
    write: AnyPool,
    read: AnyPool,
    /// SQLite: the checkpointer's connection.
    checkpoint: Option<AnyPool>,
    postgres: bool,
}

/// A stored shopper row.
#[derive(Debug, Clone)]
pub struct StoredShopper {
    /// Decoded state.
    pub state: ShopperState,
    /// Row version (optimistic concurrency).
    pub version: i64,
}

/// A published bundle.
#[derive(Debug, Clone)]
pub struct StoredBundle {
    /// Monotonic version.
    pub version: i64,
    /// `Bundle::to_bytes`.
    pub bytes: Vec<u8>,
    /// Entity tag served with it.
    pub etag: String,
    /// Number of journeys.
    pub journeys: i64,
    /// When it was published (epoch ms).
    pub published_at: i64,
}

/// Why a stored row could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database said no.
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored state does not decode.
    #[error("stored state of {key} does not decode: {source}")]
    CorruptState {
        /// Row key.
        key: String,
        /// What the state decoder said.
        source: crate::state::StateError,
    },
}

/// Result of storage calls.
pub type StorageResult<T> = Result<T, StorageError>;

/// Key of an anonymous id.
pub fn anon_key(id: &str) -> String {
    format!("anon:{id}")
}

/// Key of a customer id.
pub fn customer_key(id: &str) -> String {
    format!("cust:{id}")
}

impl Db {
    /// Connects, creates the SQLite file when missing, and migrates; on SQLite, starts the
    /// WAL checkpointer (it stops with [`Db::close`]). `synchronous` applies to SQLite only.
    pub async fn connect(url: &str, connections: u32, synchronous: Synchronous) -> StorageResult<Db> {
        sqlx::any::install_default_drivers();
        let postgres = url.starts_with("postgres:") || url.starts_with("postgresql:");
        if postgres {
            let options = AnyConnectOptions::from_str(url)?;
            let pool = AnyPoolOptions::new().max_connections(connections.max(2)).connect_with(options).await?;
            sqlx::migrate!("./migrations/postgres").run(&pool).await?;
            return Ok(Db { write: pool.clone(), read: pool, checkpoint: None, postgres });
        }
        let url = if url.contains("mode=") {
            url.to_owned()
        } else if url.contains('?') {
            format!("{url}&mode=rwc")
        } else {
            format!("{url}?mode=rwc")
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let write = AnyPoolOptions::new()
            .max_connections(1)
            .after_connect(sqlite::on_connect(synchronous, true))
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&write).await?;
        let read = AnyPoolOptions::new()
            .max_connections(connections.max(1))
            .after_connect(sqlite::on_connect(synchronous, false))
            .connect_with(options.clone())
            .await?;
        let checkpoint = AnyPoolOptions::new()
            .max_connections(1)
            .after_connect(sqlite::on_connect(synchronous, false))
            .connect_with(options)
            .await?;
        tokio::spawn(sqlite::checkpointer(checkpoint.clone()));
        Ok(Db { write, read, checkpoint: Some(checkpoint), postgres })
    }

    /// True on Postgres (work is claimed with `FOR UPDATE SKIP LOCKED`).
    pub fn is_postgres(&self) -> bool {
        self.postgres
    }

    /// `FOR UPDATE SKIP LOCKED` on Postgres, nothing on SQLite (one writer anyway).
    pub fn skip_locked(&self) -> &'static str {
        if self.postgres {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        }
    }

    /// A write transaction.
    pub async fn begin(&self) -> StorageResult<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(self.write.begin().await?)
    }

    /// The pool for single write statements outside a transaction (lease renewals).
    pub fn write_pool(&self) -> &AnyPool {
        &self.write
    }

    /// The pool for reads.
    pub fn reader(&self) -> &AnyPool {
        &self.read
    }

    /// The writing connection, for a caller that runs several transactions in a row on it
    /// (the group-commit writer). On SQLite it is the only one: give it back soon.
    pub async fn writer(&self) -> StorageResult<sqlx::pool::PoolConnection<sqlx::Any>> {
        Ok(self.write.acquire().await?)
    }

    /// Closes the pools (and so stops the checkpointer).
    pub async fn close(&self) {
        if let Some(checkpoint) = &self.checkpoint {
            checkpoint.close().await;
        }
        self.write.close().await;
        self.read.close().await;
    }

    /// `SELECT 1` on the read and the write side.
    pub async fn ping(&self) -> StorageResult<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        sqlx::query("SELECT 1").execute(&self.write).await?;
        Ok(())
    }

    /// The newest published bundle.
    pub async fn latest_bundle(&self) -> StorageResult<Option<StoredBundle>> {
        let row = sqlx::query(
            "SELECT version, bytes, etag, journeys, published_at FROM bundles ORDER BY version DESC LIMIT 1",
        )
        .fetch_optional(&self.read)
        .await?;
        Ok(match row {
            Some(row) => Some(StoredBundle {
                version: row.try_get("version")?,
                bytes: row.try_get("bytes")?,
                etag: row.try_get("etag")?,
                journeys: row.try_get("journeys")?,
                published_at: row.try_get("published_at")?,
            }),
            None => None,
        })
    }

    /// Version of the newest bundle (cheap; replicas poll it).
    pub async fn latest_bundle_version(&self) -> StorageResult<Option<i64>> {
        let row = sqlx::query("SELECT MAX(version) AS v FROM bundles").fetch_one(&self.read).await?;
        Ok(row.try_get::<Option<i64>, _>("v")?)
    }

    /// Stores a new bundle version; older versions stay (roll back by re-publishing one).
    pub async fn publish_bundle(&self, bytes: &[u8], etag: &str, journeys: i64, now: Timestamp) -> StorageResult<i64> {
        let mut tx = self.begin().await?;
        let row = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM bundles").fetch_one(&mut *tx).await?;
        let version: i64 = row.try_get::<i64, _>("v")? + 1;
        sqlx::query("INSERT INTO bundles (version, bytes, etag, journeys, published_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(version)
            .bind(bytes.to_vec())
            .bind(etag.to_owned())
            .bind(journeys)
            .bind(now.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(version)
    }

    /// A shopper's current state by any of its keys (through the alias table).
    pub async fn state_by_alias(&self, alias: &str) -> StorageResult<Option<(String, ShopperState)>> {
        let row = sqlx::query(
            "SELECT s.id, s.state FROM shopper_aliases a JOIN shoppers s ON s.id = a.shopper_id WHERE a.alias = $1",
        )
        .bind(alias.to_owned())
        .fetch_optional(&self.read)
        .await?;
        match row {
            Some(row) => {
                let key: String = row.try_get("id")?;
                let bytes: Vec<u8> = row.try_get("state")?;
                let state = decode(&key, &bytes)?;
                Ok(Some((key, state)))
            }
            None => Ok(None),
        }
    }

    /// Counts for gauges: (shoppers with a due timer, pending outbox rows).
    pub async fn queue_depth(&self, now: Timestamp) -> StorageResult<(i64, i64)> {
        let timers: i64 = sqlx::query("SELECT COUNT(*) AS n FROM shoppers WHERE wake_at <= $1")
            .bind(now.0)
            .fetch_one(&self.read)
            .await?
            .try_get("n")?;
        let outbox: i64 = sqlx::query("SELECT COUNT(*) AS n FROM outbox WHERE status IN ('pending', 'sending')")
            .fetch_one(&self.read)
            .await?
            .try_get("n")?;
        Ok((timers, outbox))
    }
}

fn decode(key: &str, bytes: &[u8]) -> StorageResult<ShopperState> {
    ShopperState::decode(bytes).map_err(|e| StorageError::CorruptState { key: key.to_owned(), source: e })
}

/// The row an alias points to.
pub async fn resolve_alias(conn: &mut AnyConnection, alias: &str) -> StorageResult<Option<String>> {
    let row = sqlx::query("SELECT shopper_id FROM shopper_aliases WHERE alias = $1")
        .bind(alias.to_owned())
        .fetch_optional(conn)
        .await?;
    Ok(match row {
        Some(row) => Some(row.try_get("shopper_id")?),
        None => None,
    })
}

/// Points an alias at a row.
pub async fn set_alias(conn: &mut AnyConnection, alias: &str, key: &str) -> StorageResult<()> {
    sqlx::query(
        "INSERT INTO shopper_aliases (alias, shopper_id) VALUES ($1, $2) \
         ON CONFLICT (alias) DO UPDATE SET shopper_id = excluded.shopper_id",
    )
    .bind(alias.to_owned())
    .bind(key.to_owned())
    .execute(conn)
    .await?;
    Ok(())
}

/// Moves every alias of `from` to `to` and deletes row `from` (after its state was
/// merged into `to`).
pub async fn fold_into(conn: &mut AnyConnection, from: &str, to: &str) -> StorageResult<()> {
    sqlx::query("UPDATE shopper_aliases SET shopper_id = $1 WHERE shopper_id = $2")
        .bind(to.to_owned())
        .bind(from.to_owned())
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM shoppers WHERE id = $1").bind(from.to_owned()).execute(&mut *conn).await?;
    super::interest_index::forget(conn, from).await?;
    Ok(())
}

/// Loads a row; `lock` adds `FOR UPDATE` (Postgres, when the caller will write it).
pub async fn load_shopper(conn: &mut AnyConnection, key: &str, lock: &str) -> StorageResult<Option<StoredShopper>> {
    let sql = format!("SELECT state, version FROM shoppers WHERE id = $1{lock}");
    let row = sqlx::query(&sql).bind(key.to_owned()).fetch_optional(conn).await?;
    match row {
        Some(row) => {
            let bytes: Vec<u8> = row.try_get("state")?;
            Ok(Some(StoredShopper { state: decode(key, &bytes)?, version: row.try_get("version")? }))
        }
        None => Ok(None),
    }
}

/// Writes a row if it is still at `expected` (None: if it does not exist yet).
/// Returns false on a conflict (someone else wrote first).
pub async fn write_shopper(
    conn: &mut AnyConnection,
    key: &str,
    state: &ShopperState,
    expected: Option<i64>,
    wake_at: Option<Timestamp>,
    now: Timestamp,
) -> StorageResult<bool> {
    let bytes = state.encode();
    let done = match expected {
        None => sqlx::query(
            "INSERT INTO shoppers (id, state, version, wake_at, updated_at) VALUES ($1, $2, 1, $3, $4) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(key.to_owned())
        .bind(bytes)
        .bind(wake_at.map(|t| t.0))
        .bind(now.0)
        .execute(conn)
        .await?
        .rows_affected(),
        Some(version) => sqlx::query(
            "UPDATE shoppers SET state = $1, version = version + 1, wake_at = $2, updated_at = $3 \
             WHERE id = $4 AND version = $5",
        )
        .bind(bytes)
        .bind(wake_at.map(|t| t.0))
        .bind(now.0)
        .bind(key.to_owned())
        .bind(version)
        .execute(conn)
        .await?
        .rows_affected(),
    };
    Ok(done == 1)
}

/// Rows per multi-row statement. Lists are padded to a power of two so that each
/// connection keeps a handful of prepared statements instead of one per batch size; the
/// padding rows are NULL (no `IN (…)` matches NULL, and the writes skip rows whose key is
/// NULL), so a padded statement does exactly what the unpadded one would.
pub const CHUNK: usize = 256;

/// The statements a list is cut into: chunks of at most [`CHUNK`], each padded to a power
/// of two with `None` (the padded length comes with each chunk).
pub(crate) fn padded_chunks<T>(items: &[T]) -> impl Iterator<Item = (usize, impl Iterator<Item = Option<&T>>)> {
    items.chunks(CHUNK).map(|chunk| {
        let padded = chunk.len().next_power_of_two();
        let pad = std::iter::repeat_n(None, padded - chunk.len());
        (padded, chunk.iter().map(Some).chain(pad))
    })
}

/// `$first, $first+1, …` for `count` rows of `width` placeholders each, as `(…), (…)`.
pub(crate) fn value_rows(count: usize, width: usize, row: impl Fn(&mut String, usize)) -> String {
    let mut sql = String::with_capacity(count * width * 6);
    for r in 0..count {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        row(&mut sql, r * width + 1);
        sql.push(')');
    }
    sql
}

pub(crate) fn placeholders(count: usize) -> String {
    let mut sql = String::with_capacity(count * 5);
    for i in 1..=count {
        if i > 1 {
            sql.push_str(", ");
        }
        sql.push('$');
        sql.push_str(&i.to_string());
    }
    sql
}

/// What one alias resolves to, with the row it points at when that row exists.
#[derive(Debug)]
pub struct Resolved {
    /// The alias asked for.
    pub alias: String,
    /// The row key it points at.
    pub key: String,
    /// That row, when it exists (an error when its state does not decode: only the jobs
    /// of that shopper fail, not the batch that read it).
    pub row: Option<StorageResult<StoredShopper>>,
}

fn resolve_and_load_sql(padded: usize) -> String {
    format!(
        "SELECT a.alias, a.shopper_id, s.state, s.version FROM shopper_aliases a \
         LEFT JOIN shoppers s ON s.id = a.shopper_id WHERE a.alias IN ({})",
        placeholders(padded)
    )
}

/// Resolves many aliases and loads the rows they point at, one statement per chunk
/// (aliases absent from the answer are unknown).
pub async fn resolve_and_load(conn: &mut AnyConnection, aliases: &[&str]) -> StorageResult<Vec<Resolved>> {
    let mut out = Vec::with_capacity(aliases.len());
    for (padded, chunk) in padded_chunks(aliases) {
        let sql = resolve_and_load_sql(padded);
        let mut q = sqlx::query(&sql);
        for alias in chunk {
            q = q.bind(alias.map(|a| (*a).to_owned()));
        }
        for row in q.fetch_all(&mut *conn).await? {
            let alias: String = row.try_get("alias")?;
            let key: String = row.try_get("shopper_id")?;
            let state: Option<Vec<u8>> = row.try_get("state")?;
            let row = match state {
                Some(bytes) => {
                    let version = row.try_get("version")?;
                    Some(decode(&key, &bytes).map(|state| StoredShopper { state, version }))
                }
                None => None,
            };
            out.push(Resolved { alias, key, row });
        }
    }
    Ok(out)
}

/// Loads many rows by key, one statement per chunk (absent keys are left out; a row whose
/// state does not decode is an error of its own).
pub async fn load_shoppers(
    conn: &mut AnyConnection,
    keys: &[&str],
) -> StorageResult<Vec<(String, StorageResult<StoredShopper>)>> {
    let mut out = Vec::with_capacity(keys.len());
    for (padded, chunk) in padded_chunks(keys) {
        let sql = format!("SELECT id, state, version FROM shoppers WHERE id IN ({})", placeholders(padded));
        let mut q = sqlx::query(&sql);
        for key in chunk {
            q = q.bind(key.map(|k| (*k).to_owned()));
        }
        for row in q.fetch_all(&mut *conn).await? {
            let key: String = row.try_get("id")?;
            let bytes: Vec<u8> = row.try_get("state")?;
            let version = row.try_get("version")?;
            let stored = decode(&key, &bytes).map(|state| StoredShopper { state, version });
            out.push((key, stored));
        }
    }
    Ok(out)
}

/// Points many aliases at rows (alias, key), one upsert per chunk.
pub async fn set_aliases(conn: &mut AnyConnection, pairs: &[(String, String)]) -> StorageResult<()> {
    for (padded, chunk) in padded_chunks(pairs) {
        let rows = value_rows(padded, 2, |sql, i| {
            sql.push_str(&format!("CAST(${} AS TEXT), CAST(${} AS TEXT)", i, i + 1));
        });
        let sql = format!(
            "WITH v (alias, shopper_id) AS (VALUES {rows}) \
             INSERT INTO shopper_aliases (alias, shopper_id) SELECT alias, shopper_id FROM v WHERE v.alias IS NOT NULL \
             ON CONFLICT (alias) DO UPDATE SET shopper_id = excluded.shopper_id"
        );
        let mut q = sqlx::query(&sql);
        for pair in chunk {
            q = q.bind(pair.map(|(alias, _)| alias.clone())).bind(pair.map(|(_, key)| key.clone()));
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// One row for [`write_shoppers`].
#[derive(Debug)]
pub struct ShopperWrite<'a> {
    /// Row key.
    pub key: &'a str,
    /// Encoded state.
    pub bytes: Vec<u8>,
    /// Version the row must still have (None: the row must not exist yet).
    pub expected: Option<i64>,
    /// Next timer.
    pub wake_at: Option<Timestamp>,
}

fn write_shoppers_sql(padded: usize) -> String {
    let values = value_rows(padded, 4, |sql, i| {
        sql.push_str(&format!(
            "CAST(${} AS TEXT), ${}, CAST(${} AS BIGINT), CAST(${} AS BIGINT)",
            i,
            i + 1,
            i + 2,
            i + 3
        ));
    });
    let last = padded * 4 + 1;
    format!(
        "WITH v (id, state, version, wake_at) AS (VALUES {values}) \
         INSERT INTO shoppers (id, state, version, wake_at, updated_at) \
         SELECT id, state, version, wake_at, CAST(${last} AS BIGINT) FROM v WHERE v.id IS NOT NULL \
         ON CONFLICT (id) DO UPDATE SET state = excluded.state, version = excluded.version, \
         wake_at = excluded.wake_at, updated_at = excluded.updated_at \
         WHERE shoppers.version = excluded.version - 1 \
         RETURNING id"
    )
}

/// Writes many rows, each only if it is still at its expected version (as
/// [`write_shopper`]), one statement per chunk; returns the keys written (the others
/// lost a race and must be re-read and merged).
///
/// New and changed rows go through one `INSERT … ON CONFLICT (id) DO UPDATE … WHERE`:
/// each row carries the version it creates (`expected + 1`, or 1 for a new row) and
/// replaces the stored row only when that is one below it — never, for a new row, as
/// versions start at 1. Every row is found through the primary key whatever the batch
/// size, so a batch costs time in proportion to its rows, not to the table. (The join
/// `UPDATE shoppers … FROM (VALUES …)` used before let SQLite's planner switch, from a
/// few hundred rows on, to scanning the whole table against an automatic index on the
/// version column: batches grow exactly when the writer falls behind, so one slow commit
/// made the next ones slower, and latency ran away to seconds.) A row deleted meanwhile
/// (folded into a customer row by another replica) is inserted again, as the re-read
/// after a conflict would do. Rows arrive sorted by key, so replicas on Postgres lock them
/// in the same order.
pub async fn write_shoppers(
    conn: &mut AnyConnection,
    rows: &[ShopperWrite<'_>],
    now: Timestamp,
) -> StorageResult<Vec<String>> {
    let mut written = Vec::with_capacity(rows.len());
    for (padded, chunk) in padded_chunks(rows) {
        let sql = write_shoppers_sql(padded);
        let mut q = sqlx::query(&sql);
        for r in chunk {
            q = q
                .bind(r.map(|r| r.key.to_owned()))
                .bind(r.map(|r| r.bytes.clone()).unwrap_or_default())
                .bind(r.map(|r| r.expected.unwrap_or(0) + 1))
                .bind(r.and_then(|r| r.wake_at.map(|t| t.0)));
        }
        q = q.bind(now.0);
        for row in q.fetch_all(&mut *conn).await? {
            written.push(row.try_get("id")?);
        }
    }
    Ok(written)
}

/// Records an event id; false when it was seen before (idempotency).
pub async fn first_sighting(
    conn: &mut AnyConnection,
    event_id: &str,
    key: &str,
    now: Timestamp,
) -> StorageResult<bool> {
    let n = sqlx::query(
        "INSERT INTO events_seen (event_id, shopper_id, received_at) VALUES ($1, $2, $3) ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(event_id.to_owned())
    .bind(key.to_owned())
    .bind(now.0)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Keys of shoppers whose timer is due, claimed (Postgres: locked, others skip them).
pub async fn claim_due(conn: &mut AnyConnection, now: Timestamp, limit: i64, lock: &str) -> StorageResult<Vec<String>> {
    let sql = format!("SELECT id FROM shoppers WHERE wake_at <= $1 ORDER BY wake_at LIMIT $2{lock}");
    let rows = sqlx::query(&sql).bind(now.0).bind(limit).fetch_all(conn).await?;
    rows.iter().map(|r| r.try_get::<String, _>("id").map_err(StorageError::from)).collect()
}

/// Takes a row whose state does not decode off the timer queue, so the scheduler stops
/// claiming it (its bytes stay for an operator to look at).
pub async fn park_unreadable(conn: &mut AnyConnection, key: &str) -> StorageResult<()> {
    sqlx::query("UPDATE shoppers SET wake_at = NULL WHERE id = $1").bind(key.to_owned()).execute(conn).await?;
    Ok(())
}

/// Raw single-row upsert used by the load script as the ceiling of the database itself.
pub async fn raw_upsert(conn: &mut AnyConnection, key: &str, bytes: &[u8], now: Timestamp) -> StorageResult<()> {
    sqlx::query(
        "INSERT INTO shoppers (id, state, version, wake_at, updated_at) VALUES ($1, $2, 1, NULL, $3) \
         ON CONFLICT (id) DO UPDATE SET state = excluded.state, version = shoppers.version + 1, updated_at = excluded.updated_at",
    )
    .bind(key.to_owned())
    .bind(bytes.to_vec())
    .bind(now.0)
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    async fn sqlite_with_rows(dir: &tempfile::TempDir, rows: usize) -> Db {
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let db = Db::connect(&url, 2, Synchronous::Full).await.unwrap();
        let mut tx = db.begin().await.unwrap();
        for i in 0..rows {
            raw_upsert(&mut tx, &format!("anon:{i:05}"), &[1, 2, 3], Timestamp(0)).await.unwrap();
        }
        tx.commit().await.unwrap();
        db
    }

    async fn plan(db: &Db, sql: &str, params: usize) -> String {
        let mut q = sqlx::query_as::<_, (i64, i64, i64, String)>(sql);
        for _ in 0..params {
            q = q.bind(None::<String>);
        }
        let rows = q.fetch_all(db.reader()).await.unwrap();
        rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("; ")
    }

    /// The batch statements find rows through the keys whatever the batch size: a plan
    /// that scans a table makes a batch cost time in proportion to the table.
    #[tokio::test]
    async fn batch_statements_never_scan_a_table() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite_with_rows(&dir, 2000).await;
        sqlx::query("ANALYZE").execute(db.reader()).await.unwrap();
        for padded in [1, 16, 64, 128, 256] {
            let write = plan(&db, &format!("EXPLAIN QUERY PLAN {}", write_shoppers_sql(padded)), padded * 4 + 1).await;
            assert!(!write.contains("SCAN shoppers"), "{padded} rows: {write}");
            let read = plan(&db, &format!("EXPLAIN QUERY PLAN {}", resolve_and_load_sql(padded)), padded).await;
            assert!(!read.contains("SCAN shoppers") && !read.contains("SCAN a"), "{padded} rows: {read}");
        }
        db.close().await;
    }

    /// Each row is written only over the version it was read at, across chunks and padding.
    #[tokio::test]
    async fn write_shoppers_is_conditional_per_row() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite_with_rows(&dir, 300).await;
        let keys: Vec<String> = (0..300).map(|i| format!("anon:{i:05}")).collect();
        let fresh = "anon:new".to_owned();
        let mut rows: Vec<ShopperWrite<'_>> = keys
            .iter()
            .map(|key| ShopperWrite { key, bytes: vec![9], expected: Some(1), wake_at: Some(Timestamp(7)) })
            .collect();
        rows[3].expected = Some(5); // stale: another writer got there first
        rows[4].expected = None; // "new", but the row exists
        rows.push(ShopperWrite { key: &fresh, bytes: vec![8], expected: None, wake_at: None });
        let mut tx = db.begin().await.unwrap();
        let written: BTreeSet<String> =
            write_shoppers(&mut tx, &rows, Timestamp(1)).await.unwrap().into_iter().collect();
        tx.commit().await.unwrap();
        assert_eq!(written.len(), 299);
        assert!(!written.contains(&keys[3]) && !written.contains(&keys[4]) && written.contains(&fresh));
        let mut conn = db.reader().acquire().await.unwrap();
        for key in [&keys[3], &keys[4]] {
            let kept: (Vec<u8>, i64) = sqlx::query_as("SELECT state, version FROM shoppers WHERE id = $1")
                .bind(key.clone())
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            assert_eq!(kept, (vec![1, 2, 3], 1), "{key} keeps what it had");
        }
        let counts: (i64, i64) =
            sqlx::query_as("SELECT COUNT(*), SUM(version) FROM shoppers").fetch_one(&mut *conn).await.unwrap();
        assert_eq!(counts, (301, 300 + 298 + 1));
        drop(conn);
        db.close().await;
    }
}
