//! The import: a read feed into the catalog tables, in one transaction. `Replace`
//! (`PUT /v1/catalog`, the CLI's default) makes the catalog the feed: items it leaves out
//! are marked removed (kept, so history and old links resolve; they count as not
//! available), except the ids of rows rejected for an error, which stay as they were.
//! `Patch` (`PATCH /v1/catalog`, `--patch`) only adds and updates the items it carries.
//!
//! Every change of an item's effective price or availability (removal and return
//! included) adds a row to `catalog_history` with the import's time, and is returned as
//! a [`CatalogChange`]. Anything failing rolls the whole import back: the previous
//! catalog stays whole. On Postgres the import locks `catalog_items` against other
//! imports (readers go on); on SQLite it holds the one writing connection.

use std::collections::BTreeSet;

use serde::Serialize;
use sqlx::AnyConnection;

use super::errors::{ImportError, StoreError};
use super::feed::ParsedFeed;
use super::item::{Availability, Item};
use super::read::{self, placeholders, StoredItem};
use super::report::{CatalogChange, ImportCounts, ImportReport};
use crate::server::storage::Db;
use crate::time::Timestamp;

/// Rows per multi-row insert (16 parameters each: 1024 a statement).
const WRITE_CHUNK: usize = 64;

/// How an import treats the items it does not carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImportMode {
    /// The feed is the whole catalog: items it leaves out are removed.
    Replace,
    /// The feed holds changed items: the others stay.
    Patch,
}

impl ImportMode {
    /// `replace` or `patch`.
    pub fn as_str(self) -> &'static str {
        match self {
            ImportMode::Replace => "replace",
            ImportMode::Patch => "patch",
        }
    }
}

/// A row of `catalog_history` to write.
struct HistoryRow<'a> {
    id: &'a str,
    seq: i64,
    price: i64,
    currency: Option<&'a str>,
    availability: Option<Availability>,
}

/// An item row to write (insert, or replace the stored one).
struct ItemRow<'a> {
    item: &'a Item,
    first_seen: Timestamp,
    seq: i64,
}

/// Imports a read feed at time `now`. A feed without one good row changes nothing
/// ([`ImportError::NoValidRows`]): a full replace from it would only remove items.
pub async fn import(db: &Db, feed: &ParsedFeed, mode: ImportMode, now: Timestamp) -> Result<ImportReport, ImportError> {
    if feed.items.is_empty() {
        return Err(ImportError::NoValidRows { rejected: feed.rejected, errors: feed.errors.clone() });
    }
    let mut tx = db.begin().await.map_err(StoreError::from)?;
    if db.is_postgres() {
        // One import at a time across replicas; reads are not blocked.
        sqlx::query("LOCK TABLE catalog_items IN SHARE ROW EXCLUSIVE MODE").execute(&mut *tx).await?;
    }
    let had_items = sqlx::query("SELECT id FROM catalog_items LIMIT 1").fetch_optional(&mut *tx).await?.is_some();
    let mut report = apply(&mut tx, feed, mode, now).await?;
    report.job = queue_triggers(&mut tx, &report.changes, had_items, now).await?;
    tx.commit().await?;
    Ok(report)
}

async fn apply(
    conn: &mut AnyConnection,
    feed: &ParsedFeed,
    mode: ImportMode,
    now: Timestamp,
) -> Result<ImportReport, ImportError> {
    let ids: Vec<&str> = feed.items.iter().map(|f| f.item.id.as_str()).collect();
    let stored = read::load(conn, &ids).await?;
    let mut counts = ImportCounts { rows: feed.rows, rejected: feed.rejected, ..ImportCounts::default() };
    let mut changes = Vec::new();
    let mut items = Vec::new();
    let mut history = Vec::new();
    for row in &feed.items {
        let item = &row.item;
        let price = item.effective_price_hundredths();
        let currency = item.currency.as_deref();
        let Some(old) = stored.get(&item.id) else {
            counts.new += 1;
            changes.push(CatalogChange::New {
                id: item.id.clone(),
                product_type: item.product_type.clone(),
                google_product_category: item.google_product_category.clone(),
                price_hundredths: price,
                currency: item.currency.clone(),
                availability: item.availability,
                at: now,
            });
            items.push(ItemRow { item, first_seen: now, seq: 1 });
            history.push(HistoryRow { id: &item.id, seq: 1, price, currency, availability: Some(item.availability) });
            continue;
        };
        if old.removed_at.is_none() && old.item == *item {
            counts.unchanged += 1;
            continue;
        }
        counts.updated += 1;
        let old_price = old.item.effective_price_hundredths();
        let price_changed = old_price != price || old.item.currency != item.currency;
        if price_changed {
            changes.push(CatalogChange::PriceChanged {
                id: item.id.clone(),
                from_hundredths: old_price,
                to_hundredths: price,
                currency: item.currency.clone(),
                at: now,
            });
        }
        let was = old.current_availability();
        let availability_changed = was != Some(item.availability);
        if availability_changed {
            changes.push(CatalogChange::AvailabilityChanged {
                id: item.id.clone(),
                from: was,
                to: Some(item.availability),
                at: now,
            });
        }
        let seq = if price_changed || availability_changed {
            let seq = old.history_seq + 1;
            history.push(HistoryRow { id: &item.id, seq, price, currency, availability: Some(item.availability) });
            seq
        } else {
            old.history_seq
        };
        items.push(ItemRow { item, first_seen: old.first_seen, seq });
    }
    counts.loaded = counts.new + counts.updated + counts.unchanged;
    write_items(conn, &items, now).await?;

    let mut removed: Vec<StoredItem> = Vec::new();
    if mode == ImportMode::Replace {
        let carried: BTreeSet<&str> = ids.iter().copied().collect();
        removed = read::current(conn)
            .await?
            .into_iter()
            .filter(|s| !carried.contains(s.item.id.as_str()) && !feed.rejected_ids.contains(&s.item.id))
            .collect();
        removed.sort_by(|a, b| a.item.id.cmp(&b.item.id));
    }
    for gone in &removed {
        history.push(HistoryRow {
            id: &gone.item.id,
            seq: gone.history_seq + 1,
            price: gone.item.effective_price_hundredths(),
            currency: gone.item.currency.as_deref(),
            availability: None,
        });
        changes.push(CatalogChange::AvailabilityChanged {
            id: gone.item.id.clone(),
            from: Some(gone.item.availability),
            to: None,
            at: now,
        });
    }
    counts.removed = removed.len();
    let removed_ids: Vec<&str> = removed.iter().map(|s| s.item.id.as_str()).collect();
    mark_removed(conn, &removed_ids, now).await?;
    write_history(conn, &history, now).await?;
    Ok(ImportReport {
        mode,
        at: now,
        counts,
        errors: feed.errors.clone(),
        errors_truncated: feed.errors_truncated,
        changes,
        job: None,
    })
}

/// Queues the changes that can concern shoppers as a trigger job
/// ([`crate::server::trigger_jobs`]), in the import's transaction: the job exists exactly
/// when the import does. New arrivals are announced only when the catalog had items
/// before (the first import, every item new, announces nothing). Ids are the next after
/// the largest: imports are serialized (the table lock on Postgres, the one writer on
/// SQLite).
async fn queue_triggers(
    conn: &mut AnyConnection,
    changes: &[CatalogChange],
    had_items: bool,
    now: Timestamp,
) -> Result<Option<i64>, ImportError> {
    let relevant: Vec<&CatalogChange> = changes.iter().filter(|c| c.can_trigger()).collect();
    if relevant.is_empty() {
        return Ok(None);
    }
    // Strings, numbers and unit variants: serializing them cannot fail.
    let changes = serde_json::to_string(&relevant).unwrap_or_else(|_| "[]".to_owned());
    let row = sqlx::query(
        "INSERT INTO catalog_jobs (id, changes, announce_arrivals, created_at) \
         SELECT COALESCE(MAX(id), 0) + 1, $1, $2, $3 FROM catalog_jobs RETURNING id",
    )
    .bind(changes)
    .bind(i64::from(had_items))
    .bind(now.0)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Some(sqlx::Row::try_get(&row, "id")?))
}

/// Inserts new items and replaces changed ones (a removed item that came back is in the
/// catalog again).
async fn write_items(conn: &mut AnyConnection, rows: &[ItemRow<'_>], now: Timestamp) -> Result<(), StoreError> {
    const WIDTH: usize = 16;
    for chunk in rows.chunks(WRITE_CHUNK) {
        let values: Vec<String> =
            (0..chunk.len()).map(|r| format!("({}, NULL)", placeholders(r * WIDTH + 1, WIDTH))).collect();
        let sql = format!(
            "INSERT INTO catalog_items (id, title, description, link, image_link, price_hundredths, \
             sale_price_hundredths, currency, availability, product_type, google_product_category, brand, \
             item_group_id, first_seen, updated_at, history_seq, removed_at) VALUES {} \
             ON CONFLICT (id) DO UPDATE SET title = excluded.title, description = excluded.description, \
             link = excluded.link, image_link = excluded.image_link, price_hundredths = excluded.price_hundredths, \
             sale_price_hundredths = excluded.sale_price_hundredths, currency = excluded.currency, \
             availability = excluded.availability, product_type = excluded.product_type, \
             google_product_category = excluded.google_product_category, brand = excluded.brand, \
             item_group_id = excluded.item_group_id, updated_at = excluded.updated_at, \
             history_seq = excluded.history_seq, removed_at = NULL",
            values.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for row in chunk {
            let item = row.item;
            q = q
                .bind(item.id.clone())
                .bind(item.title.clone())
                .bind(item.description.clone())
                .bind(item.link.clone())
                .bind(item.image_link.clone())
                .bind(item.price_hundredths)
                .bind(item.sale_price_hundredths)
                .bind(item.currency.clone())
                .bind(item.availability.as_str().to_owned())
                .bind(item.product_type.clone())
                .bind(item.google_product_category.clone())
                .bind(item.brand.clone())
                .bind(item.item_group_id.clone())
                .bind(row.first_seen.0)
                .bind(now.0)
                .bind(row.seq);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Marks items removed; each gets a history row of its own (written by the caller).
async fn mark_removed(conn: &mut AnyConnection, ids: &[&str], now: Timestamp) -> Result<(), StoreError> {
    for chunk in ids.chunks(read::CHUNK) {
        let sql = format!(
            "UPDATE catalog_items SET removed_at = $1, updated_at = $1, history_seq = history_seq + 1 \
             WHERE id IN ({})",
            placeholders(2, chunk.len())
        );
        let mut q = sqlx::query(&sql).bind(now.0);
        for id in chunk {
            q = q.bind((*id).to_owned());
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

async fn write_history(conn: &mut AnyConnection, rows: &[HistoryRow<'_>], now: Timestamp) -> Result<(), StoreError> {
    const WIDTH: usize = 5;
    for chunk in rows.chunks(WRITE_CHUNK) {
        let values: Vec<String> = (0..chunk.len())
            .map(|r| {
                let first = r * WIDTH + 2;
                format!("(${}, ${}, $1, ${}, ${}, ${})", first, first + 1, first + 2, first + 3, first + 4)
            })
            .collect();
        let sql = format!(
            "INSERT INTO catalog_history (item_id, seq, changed_at, price_hundredths, currency, availability) VALUES {}",
            values.join(", ")
        );
        let mut q = sqlx::query(&sql).bind(now.0);
        for row in chunk {
            q = q
                .bind(row.id.to_owned())
                .bind(row.seq)
                .bind(row.price)
                .bind(row.currency.map(str::to_owned))
                .bind(row.availability.map(|a| a.as_str().to_owned()));
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}
