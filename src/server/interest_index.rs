//! The interest index: every shopper's interest memory ([`crate::interest`]) as rows of
//! `interest_items` (item → shoppers, with the price each saw and when) and
//! `interest_categories` (category → shoppers, with their affinity), written in the same
//! transaction as the state they come from. A catalog change finds the shoppers it
//! concerns here — by item for a price drop or a restock, by category for new arrivals —
//! without reading every state, and the recommender reads who interacted with what.
//!
//! Only what changed is written: [`diff`] compares a state's memory before and after a
//! batch and lists the rows to upsert and delete.

use sqlx::{AnyConnection, Row};

use super::storage::{padded_chunks, value_rows, StorageResult};
use crate::hash::Hash32;
use crate::interest::{Affinity, Interests, ItemInterest};
use crate::time::Timestamp;

/// The rows one batch changes.
#[derive(Debug, Default)]
pub struct IndexChanges {
    items: Vec<(String, ItemInterest)>,
    gone_items: Vec<(String, String)>,
    categories: Vec<(String, Affinity)>,
    gone_categories: Vec<(String, Hash32)>,
}

impl IndexChanges {
    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
            && self.gone_items.is_empty()
            && self.categories.is_empty()
            && self.gone_categories.is_empty()
    }
}

/// Adds to `changes` what moving shopper row `shopper` from `before` to `after` changes
/// in the index: entries new or different are upserted, entries gone deleted.
pub fn diff(shopper: &str, before: Option<&Interests>, after: &Interests, changes: &mut IndexChanges) {
    let empty = Interests::default();
    let before = before.unwrap_or(&empty);
    if before == after {
        return;
    }
    for item in &after.items {
        if before.item(&item.id) != Some(item) {
            changes.items.push((shopper.to_owned(), item.clone()));
        }
    }
    for item in &before.items {
        if after.item(&item.id).is_none() {
            changes.gone_items.push((shopper.to_owned(), item.id.clone()));
        }
    }
    for affinity in &after.affinities {
        if !before.affinities.contains(affinity) {
            changes.categories.push((shopper.to_owned(), *affinity));
        }
    }
    for affinity in &before.affinities {
        if !after.affinities.iter().any(|a| a.category == affinity.category) {
            changes.gone_categories.push((shopper.to_owned(), affinity.category));
        }
    }
}

/// Writes the changes (inside the caller's transaction).
pub async fn write(conn: &mut AnyConnection, changes: &IndexChanges) -> StorageResult<()> {
    for (padded, chunk) in padded_chunks(&changes.items) {
        let rows = value_rows(padded, 7, |sql, i| {
            sql.push_str(&format!(
                "CAST(${} AS TEXT), CAST(${} AS TEXT), CAST(${} AS BIGINT), CAST(${} AS BIGINT), \
                 CAST(${} AS BIGINT), CAST(${} AS BIGINT), CAST(${} AS BIGINT)",
                i,
                i + 1,
                i + 2,
                i + 3,
                i + 4,
                i + 5,
                i + 6
            ));
        });
        let sql = format!(
            "WITH v (item_id, shopper_id, views, in_cart, flags, price_seen, last_at) AS (VALUES {rows}) \
             INSERT INTO interest_items (item_id, shopper_id, views, in_cart, flags, price_seen, last_at) \
             SELECT item_id, shopper_id, views, in_cart, flags, price_seen, last_at FROM v WHERE v.item_id IS NOT NULL \
             ON CONFLICT (item_id, shopper_id) DO UPDATE SET views = excluded.views, in_cart = excluded.in_cart, \
             flags = excluded.flags, price_seen = excluded.price_seen, last_at = excluded.last_at"
        );
        let mut q = sqlx::query(&sql);
        for row in chunk {
            let item = row.map(|(_, item)| item);
            q = q
                .bind(item.map(|i| i.id.clone()))
                .bind(row.map(|(shopper, _)| shopper.clone()))
                .bind(item.map(|i| i64::from(i.views)))
                .bind(item.map(|i| i64::from(i.in_cart)))
                .bind(item.map(|i| i64::from(i.flags)))
                .bind(item.and_then(|i| i.price).map(i64::from))
                .bind(item.map(|i| i.last_at.0));
        }
        q.execute(&mut *conn).await?;
    }
    for (padded, chunk) in padded_chunks(&changes.gone_items) {
        let rows =
            value_rows(padded, 2, |sql, i| sql.push_str(&format!("CAST(${} AS TEXT), CAST(${} AS TEXT)", i, i + 1)));
        let sql = format!("DELETE FROM interest_items WHERE (item_id, shopper_id) IN (VALUES {rows})");
        let mut q = sqlx::query(&sql);
        for row in chunk {
            q = q.bind(row.map(|(_, item)| item.clone())).bind(row.map(|(shopper, _)| shopper.clone()));
        }
        q.execute(&mut *conn).await?;
    }
    for (padded, chunk) in padded_chunks(&changes.categories) {
        let rows = value_rows(padded, 4, |sql, i| {
            sql.push_str(&format!(
                "CAST(${} AS BIGINT), CAST(${} AS TEXT), CAST(${} AS BIGINT), CAST(${} AS BIGINT)",
                i,
                i + 1,
                i + 2,
                i + 3
            ));
        });
        let sql = format!(
            "WITH v (category, shopper_id, points, at) AS (VALUES {rows}) \
             INSERT INTO interest_categories (category, shopper_id, points, at) \
             SELECT category, shopper_id, points, at FROM v WHERE v.shopper_id IS NOT NULL \
             ON CONFLICT (category, shopper_id) DO UPDATE SET points = excluded.points, at = excluded.at"
        );
        let mut q = sqlx::query(&sql);
        for row in chunk {
            let affinity = row.map(|(_, a)| a);
            q = q
                .bind(affinity.map(|a| i64::from(a.category.0)))
                .bind(row.map(|(shopper, _)| shopper.clone()))
                .bind(affinity.map(|a| i64::from(a.points)))
                .bind(affinity.map(|a| a.at.0));
        }
        q.execute(&mut *conn).await?;
    }
    for (padded, chunk) in padded_chunks(&changes.gone_categories) {
        let rows =
            value_rows(padded, 2, |sql, i| sql.push_str(&format!("CAST(${} AS BIGINT), CAST(${} AS TEXT)", i, i + 1)));
        let sql = format!("DELETE FROM interest_categories WHERE (category, shopper_id) IN (VALUES {rows})");
        let mut q = sqlx::query(&sql);
        for row in chunk {
            q = q.bind(row.map(|(_, c)| i64::from(c.0))).bind(row.map(|(shopper, _)| shopper.clone()));
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Removes every index row of shopper row `shopper` (folded into another, or erased).
pub async fn forget(conn: &mut AnyConnection, shopper: &str) -> StorageResult<()> {
    sqlx::query("DELETE FROM interest_items WHERE shopper_id = $1")
        .bind(shopper.to_owned())
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM interest_categories WHERE shopper_id = $1")
        .bind(shopper.to_owned())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// A shopper's memory of one item, as the index holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interested {
    /// The shopper's row key.
    pub shopper: String,
    /// Times viewed.
    pub views: u16,
    /// Quantity in the cart.
    pub in_cart: u16,
    /// [`crate::interest::CARTED`] | `WISHLISTED` | `BOUGHT`.
    pub flags: u8,
    /// The latest price seen, in hundredths.
    pub price_seen: Option<u32>,
    /// When the shopper last saw the item.
    pub last_at: Timestamp,
}

/// The shoppers whose memory holds `item` with a sighting at or after `since`, in row-key
/// order after `after` (keyset paging), at most `limit`.
pub async fn interested_in(
    conn: &mut AnyConnection,
    item: &str,
    since: Timestamp,
    after: &str,
    limit: i64,
) -> StorageResult<Vec<Interested>> {
    let rows = sqlx::query(
        "SELECT shopper_id, views, in_cart, flags, price_seen, last_at FROM interest_items \
         WHERE item_id = $1 AND last_at >= $2 AND shopper_id > $3 ORDER BY shopper_id LIMIT $4",
    )
    .bind(item.to_owned())
    .bind(since.0)
    .bind(after.to_owned())
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let number = |name: &str| -> StorageResult<i64> { Ok(row.try_get::<i64, _>(name)?) };
        let price: Option<i64> = row.try_get("price_seen")?;
        out.push(Interested {
            shopper: row.try_get("shopper_id")?,
            views: clamp(number("views")?),
            in_cart: clamp(number("in_cart")?),
            flags: u8::try_from(number("flags")?).unwrap_or(0),
            price_seen: price.and_then(|p| u32::try_from(p).ok()),
            last_at: Timestamp(number("last_at")?),
        });
    }
    Ok(out)
}

/// The shoppers with an affinity for `category` of at least `min_points` (hundredths, as
/// stored, before decay) grown at or after `since`, in row-key order after `after`, at
/// most `limit`: (row key, points, when).
pub async fn by_category(
    conn: &mut AnyConnection,
    category: Hash32,
    min_points: u32,
    since: Timestamp,
    after: &str,
    limit: i64,
) -> StorageResult<Vec<(String, Affinity)>> {
    let rows = sqlx::query(
        "SELECT shopper_id, points, at FROM interest_categories \
         WHERE category = $1 AND points >= $2 AND at >= $3 AND shopper_id > $4 ORDER BY shopper_id LIMIT $5",
    )
    .bind(i64::from(category.0))
    .bind(i64::from(min_points))
    .bind(since.0)
    .bind(after.to_owned())
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let points: i64 = row.try_get("points")?;
        let affinity =
            Affinity { category, points: u32::try_from(points).unwrap_or(u32::MAX), at: Timestamp(row.try_get("at")?) };
        out.push((row.try_get("shopper_id")?, affinity));
    }
    Ok(out)
}

fn clamp(n: i64) -> u16 {
    u16::try_from(n.max(0)).unwrap_or(u16::MAX)
}
