//! Catalog lookups for the rest of the backend (messages, triggers, recommendations):
//! items by id (removed ones too, so old links and history still resolve), current items
//! in a category, items first seen since a time, which items can be bought now, and the
//! price and availability history (the price at a time, the lowest price since a time).
//! All SQL of the catalog's reads lives here; `store` reuses the row decoding.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::errors::StoreError;
use super::item::{Availability, Item};
use crate::server::storage::Db;
use crate::time::Timestamp;

/// Ids per `IN (…)` list.
pub(super) const CHUNK: usize = 256;

/// The columns of `catalog_items`, in the order [`stored_item`] reads them.
pub(super) const ITEM_COLUMNS: &str = "id, title, description, link, image_link, price_hundredths, \
     sale_price_hundredths, currency, availability, product_type, google_product_category, brand, item_group_id, \
     first_seen, updated_at, removed_at, history_seq";

/// An item as stored: the feed's fields and its life in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredItem {
    /// The fields of the last feed row that carried it.
    #[serde(flatten)]
    pub item: Item,
    /// When an import first carried it.
    pub first_seen: Timestamp,
    /// When an import last changed it.
    pub updated_at: Timestamp,
    /// When a full replace left it out; None while it is in the catalog.
    pub removed_at: Option<Timestamp>,
    /// The number of its history rows (the sequence number of the newest).
    #[serde(skip)]
    pub(super) history_seq: i64,
}

impl StoredItem {
    /// In the catalog and orderable (in stock, preorder or backorder).
    pub fn is_available(&self) -> bool {
        self.removed_at.is_none() && self.item.availability.is_available()
    }

    /// Its availability, None when it was removed.
    pub fn current_availability(&self) -> Option<Availability> {
        self.removed_at.is_none().then_some(self.item.availability)
    }
}

/// One row of an item's price and availability history: what held from `at` on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    /// When it started to hold.
    pub at: Timestamp,
    /// The effective price, hundredths.
    pub price_hundredths: i64,
    /// The currency.
    pub currency: Option<String>,
    /// The availability; None while the item was removed.
    pub availability: Option<Availability>,
}

fn availability(id: &str, column: &'static str, text: Option<String>) -> Result<Option<Availability>, StoreError> {
    match text {
        None => Ok(None),
        Some(text) => match Availability::parse(&text) {
            Some(a) => Ok(Some(a)),
            None => Err(StoreError::Corrupt { id: id.to_owned(), column, value: text }),
        },
    }
}

/// Decodes a row of [`ITEM_COLUMNS`].
pub(super) fn stored_item(row: &AnyRow) -> Result<StoredItem, StoreError> {
    let id: String = row.try_get("id")?;
    let availability = availability(&id, "availability", row.try_get("availability")?)?
        .ok_or_else(|| StoreError::Corrupt { id: id.clone(), column: "availability", value: "NULL".into() })?;
    let item = Item {
        id,
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        link: row.try_get("link")?,
        image_link: row.try_get("image_link")?,
        price_hundredths: row.try_get("price_hundredths")?,
        sale_price_hundredths: row.try_get("sale_price_hundredths")?,
        currency: row.try_get("currency")?,
        availability,
        product_type: row.try_get("product_type")?,
        google_product_category: row.try_get("google_product_category")?,
        brand: row.try_get("brand")?,
        item_group_id: row.try_get("item_group_id")?,
    };
    Ok(StoredItem {
        item,
        first_seen: Timestamp(row.try_get("first_seen")?),
        updated_at: Timestamp(row.try_get("updated_at")?),
        removed_at: row.try_get::<Option<i64>, _>("removed_at")?.map(Timestamp),
        history_seq: row.try_get("history_seq")?,
    })
}

/// `$first, …, $first+count-1`.
pub(super) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// The stored rows of these ids (removed ones included), by id; absent ids are left out.
pub(super) async fn load(conn: &mut AnyConnection, ids: &[&str]) -> Result<HashMap<String, StoredItem>, StoreError> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let sql = format!("SELECT {ITEM_COLUMNS} FROM catalog_items WHERE id IN ({})", placeholders(1, chunk.len()));
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind((*id).to_owned());
        }
        for row in q.fetch_all(&mut *conn).await? {
            let item = stored_item(&row)?;
            out.insert(item.item.id.clone(), item);
        }
    }
    Ok(out)
}

/// Every item in the catalog now (not removed).
pub(super) async fn current(conn: &mut AnyConnection) -> Result<Vec<StoredItem>, StoreError> {
    let sql = format!("SELECT {ITEM_COLUMNS} FROM catalog_items WHERE removed_at IS NULL");
    sqlx::query(&sql).fetch_all(conn).await?.iter().map(stored_item).collect()
}

/// Items by id, in the order asked (removed ones included: check
/// [`StoredItem::removed_at`]); ids the catalog never had are left out.
pub async fn items(db: &Db, ids: &[&str]) -> Result<Vec<StoredItem>, StoreError> {
    let mut conn = db.reader().acquire().await?;
    let mut found = load(&mut conn, ids).await?;
    Ok(ids.iter().filter_map(|id| found.remove(*id)).collect())
}

/// One item by id (removed or not).
pub async fn item(db: &Db, id: &str) -> Result<Option<StoredItem>, StoreError> {
    Ok(items(db, &[id]).await?.into_iter().next())
}

/// Items in the catalog now whose `product_type` or `google_product_category` is exactly
/// `category`, newest first, at most `limit`.
pub async fn in_category(db: &Db, category: &str, limit: usize) -> Result<Vec<StoredItem>, StoreError> {
    let sql = format!(
        "SELECT {ITEM_COLUMNS} FROM catalog_items WHERE removed_at IS NULL \
         AND (product_type = $1 OR google_product_category = $1) ORDER BY first_seen DESC, id LIMIT $2"
    );
    let rows = sqlx::query(&sql)
        .bind(category.to_owned())
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(db.reader())
        .await?;
    rows.iter().map(stored_item).collect()
}

/// Items in the catalog now that were first seen at or after `since`, newest first, at
/// most `limit`.
pub async fn new_since(db: &Db, since: Timestamp, limit: usize) -> Result<Vec<StoredItem>, StoreError> {
    let sql = format!(
        "SELECT {ITEM_COLUMNS} FROM catalog_items WHERE removed_at IS NULL AND first_seen >= $1 \
         ORDER BY first_seen DESC, id LIMIT $2"
    );
    let rows =
        sqlx::query(&sql).bind(since.0).bind(i64::try_from(limit).unwrap_or(i64::MAX)).fetch_all(db.reader()).await?;
    rows.iter().map(stored_item).collect()
}

/// Of these ids, the ones a shopper can order now (in the catalog; in stock, preorder or
/// backorder). Unknown, removed and out-of-stock ids are left out.
pub async fn in_stock(db: &Db, ids: &[&str]) -> Result<BTreeSet<String>, StoreError> {
    let mut conn = db.reader().acquire().await?;
    let mut out = BTreeSet::new();
    for chunk in ids.chunks(CHUNK) {
        let sql = format!(
            "SELECT id, availability FROM catalog_items WHERE removed_at IS NULL AND id IN ({})",
            placeholders(1, chunk.len())
        );
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind((*id).to_owned());
        }
        for row in q.fetch_all(&mut *conn).await? {
            let id: String = row.try_get("id")?;
            if availability(&id, "availability", row.try_get("availability")?)?.is_some_and(Availability::is_available)
            {
                out.insert(id);
            }
        }
    }
    Ok(out)
}

fn history_entry(id: &str, row: &AnyRow) -> Result<HistoryEntry, StoreError> {
    Ok(HistoryEntry {
        at: Timestamp(row.try_get("changed_at")?),
        price_hundredths: row.try_get("price_hundredths")?,
        currency: row.try_get("currency")?,
        availability: availability(id, "catalog_history.availability", row.try_get("availability")?)?,
    })
}

/// An item's newest `limit` history rows, newest first.
pub async fn history(db: &Db, id: &str, limit: usize) -> Result<Vec<HistoryEntry>, StoreError> {
    let rows = sqlx::query(
        "SELECT changed_at, price_hundredths, currency, availability FROM catalog_history \
         WHERE item_id = $1 ORDER BY seq DESC LIMIT $2",
    )
    .bind(id.to_owned())
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(db.reader())
    .await?;
    rows.iter().map(|r| history_entry(id, r)).collect()
}

/// What held for an item at time `at`: its effective price and availability then. None
/// before it was first seen.
pub async fn price_at(db: &Db, id: &str, at: Timestamp) -> Result<Option<HistoryEntry>, StoreError> {
    let row = sqlx::query(
        "SELECT changed_at, price_hundredths, currency, availability FROM catalog_history \
         WHERE item_id = $1 AND changed_at <= $2 ORDER BY seq DESC LIMIT 1",
    )
    .bind(id.to_owned())
    .bind(at.0)
    .fetch_optional(db.reader())
    .await?;
    row.map(|r| history_entry(id, &r)).transpose()
}

/// The lowest effective price an item had from `since` until now (the price in effect at
/// `since` included). None when it has no history in that time.
pub async fn lowest_price_since(db: &Db, id: &str, since: Timestamp) -> Result<Option<i64>, StoreError> {
    let row = sqlx::query(
        "SELECT MIN(price_hundredths) AS low FROM catalog_history WHERE item_id = $1 AND (changed_at > $2 \
         OR seq = (SELECT MAX(seq) FROM catalog_history WHERE item_id = $1 AND changed_at <= $2))",
    )
    .bind(id.to_owned())
    .bind(since.0)
    .fetch_one(db.reader())
    .await?;
    Ok(row.try_get::<Option<i64>, _>("low")?)
}

/// Whether the catalog holds any item (removed ones included).
pub async fn any_item(db: &Db) -> Result<bool, StoreError> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM (SELECT 1 FROM catalog_items LIMIT 1) AS one")
        .fetch_one(db.reader())
        .await
        .map_err(StoreError::from)?;
    Ok(row.try_get::<i64, _>("n").map_err(StoreError::from)? > 0)
}
