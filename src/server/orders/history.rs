//! A state's orders as `orders` rows: the writer diffs each written state's orders
//! against what it held before ([`diff`]) and writes the new and changed ones in the
//! same transaction ([`write`]). A row a backfill wrote keeps its values (the shop's own
//! record outranks a browser's copy); it is only linked to the shopper row. A refund only
//! ever raises the refunded amount. After a login fold the merged state names the
//! orders again, and their rows move to the customer's row.

use sqlx::AnyConnection;

use crate::orders::{Order, Orders};
use crate::server::storage::StorageResult;
use crate::time::Timestamp;

/// The order rows a batch writes.
#[derive(Debug, Default)]
pub struct OrderChanges {
    rows: Vec<(String, Option<String>, Order)>,
}

impl OrderChanges {
    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// Adds the orders of `after` that `before` did not hold as they are now, for shopper row
/// `shopper` (customer id `customer`).
pub fn diff(
    shopper: &str,
    customer: Option<&str>,
    before: Option<&Orders>,
    after: &Orders,
    changes: &mut OrderChanges,
) {
    for order in &after.list {
        if before.and_then(|b| b.get(&order.id)) != Some(order) {
            changes.rows.push((shopper.to_owned(), customer.map(str::to_owned), order.clone()));
        }
    }
}

/// Writes the changes (inside the caller's transaction).
pub async fn write(conn: &mut AnyConnection, changes: &OrderChanges, now: Timestamp) -> StorageResult<()> {
    for (shopper, customer, order) in &changes.rows {
        sqlx::query(
            "INSERT INTO orders (order_id, shopper_id, customer_id, ordered_at, value, refunded, source, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'state', $7) \
             ON CONFLICT (order_id) DO UPDATE SET \
             shopper_id = excluded.shopper_id, \
             customer_id = COALESCE(excluded.customer_id, orders.customer_id), \
             refunded = CASE WHEN orders.source = 'state' AND excluded.refunded > orders.refunded \
                        THEN excluded.refunded ELSE orders.refunded END, \
             updated_at = excluded.updated_at",
        )
        .bind(order.id.clone())
        .bind(shopper.clone())
        .bind(customer.clone())
        .bind(order.at.0)
        .bind(i64::try_from(order.value).unwrap_or(i64::MAX))
        .bind(i64::try_from(order.refunded).unwrap_or(i64::MAX))
        .bind(now.0)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
