//! A shopper's recent orders ([`Orders`]): each `purchase` the engine sees (its
//! `transaction_id`, time and value) and what `refund` events took back, so the backend
//! records every order a browser, an edge worker or a server-side event saw — from the
//! synced state, exactly once per order id — into the order history its predictions are
//! fitted on. Every runtime builds it the same way from the same events.
//!
//! Bounded ([`MAX_ORDERS`], the newest kept) and merged as a join: each order id is one
//! entry, and of two copies of an entry the later changed (then the greater encoding)
//! wins whole, so trimming to the newest N commutes with merging.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::time::Timestamp;
use crate::value::Value;
use crate::wire;

/// Orders remembered (the most recently changed kept).
pub const MAX_ORDERS: usize = 8;
/// Longest order id remembered, in bytes (a longer one is not remembered).
pub const MAX_ORDER_ID_BYTES: usize = 64;
/// The largest order value kept, in hundredths of the currency unit (10 billion units).
pub const MAX_ORDER_HUNDREDTHS: u64 = 1_000_000_000_000;

/// The event of an order.
pub const PURCHASE: &str = "purchase";
/// The event of money given back on an order (GA4's `refund`: `transaction_id`, and
/// `value` for a partial refund; without a value the whole order).
pub const REFUND: &str = "refund";

/// One order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// The order id: the event's `transaction_id`, else `@` and the purchase time in
    /// milliseconds.
    pub id: String,
    /// When it was bought.
    pub at: Timestamp,
    /// Its value, in hundredths of the currency unit (GA4's `value`, else the items'
    /// price × quantity).
    pub value: u64,
    /// What refunds took back, in hundredths (at most `value`).
    pub refunded: u64,
    /// The last change (the purchase, or the latest refund).
    pub changed_at: Timestamp,
}

impl Order {
    /// Which copy of an order wins, and which orders are kept: the later changed, then
    /// the greater encoding. One rank for both is what makes the trimmed merge a join.
    fn rank(&self, other: &Order) -> Ordering {
        self.changed_at.cmp(&other.changed_at).then_with(|| wire::to_vec(self).cmp(&wire::to_vec(other)))
    }
}

/// The recent orders, sorted by id.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Orders {
    /// Orders, sorted by id, at most [`MAX_ORDERS`].
    pub list: Vec<Order>,
}

impl Orders {
    /// Folds an event in: a `purchase` adds its order (once per id), a `refund` adds to
    /// the refunded amount of an order it names. Other events leave it unchanged.
    pub fn observe(&mut self, event: &Event) {
        match event.name.as_str() {
            PURCHASE => self.purchase(event),
            REFUND => self.refund(event),
            _ => return,
        }
        self.normalize();
    }

    /// One order, if kept.
    pub fn get(&self, id: &str) -> Option<&Order> {
        self.list.binary_search_by(|o| o.id.as_str().cmp(id)).ok().and_then(|i| self.list.get(i))
    }

    fn purchase(&mut self, event: &Event) {
        let id = match transaction_id(event) {
            Some(id) => id.to_owned(),
            None => format!("@{}", event.time.0),
        };
        if id.len() > MAX_ORDER_ID_BYTES || self.get(&id).is_some() {
            return;
        }
        let value = event.value().and_then(hundredths).unwrap_or(0);
        self.list.push(Order { id, at: event.time, value, refunded: 0, changed_at: event.time });
    }

    fn refund(&mut self, event: &Event) {
        let Some(id) = transaction_id(event) else { return };
        let Ok(index) = self.list.binary_search_by(|o| o.id.as_str().cmp(id)) else { return };
        let Some(order) = self.list.get_mut(index) else { return };
        let amount = match event.prop("value").and_then(Value::as_number_lenient) {
            Some(value) => hundredths(value).unwrap_or(0),
            None => order.value,
        };
        order.refunded = order.refunded.saturating_add(amount).min(order.value);
        order.changed_at = order.changed_at.max(event.time);
    }

    /// Joins another copy into this one (see the module doc).
    pub fn merge(&mut self, other: &Orders) {
        self.list.extend(other.list.iter().cloned());
        self.normalize();
    }

    /// The first part over a bound, as (field, problem).
    pub fn check_bounds(&self) -> Result<(), (String, String)> {
        if self.list.len() > MAX_ORDERS {
            return Err(("orders".into(), format!("{} entries, the limit is {MAX_ORDERS}", self.list.len())));
        }
        match self.list.iter().position(|o| !order_fits(o)) {
            Some(i) => Err((
                format!("orders[{i}]"),
                format!(
                    "an order id is 1 to {MAX_ORDER_ID_BYTES} bytes, a value at most {MAX_ORDER_HUNDREDTHS} \
                     hundredths, a refund at most the value"
                ),
            )),
            None => Ok(()),
        }
    }

    /// Leaves out every entry over an item bound (judged alone, so it commutes with merge).
    pub fn drop_out_of_bounds(&mut self) {
        self.list.retain(order_fits);
    }

    /// Moves every stamp later than `latest` back to `latest`.
    pub fn clamp_stamps(&mut self, latest: Timestamp) {
        for order in &mut self.list {
            order.at = order.at.min(latest);
            order.changed_at = order.changed_at.min(latest);
        }
    }

    /// Sorted by id, one entry per id (the greatest by rank), the N greatest kept.
    pub fn normalize(&mut self) {
        let sorted = self.list.windows(2).all(|w| matches!(w, [a, b] if a.id < b.id));
        if sorted && self.list.len() <= MAX_ORDERS {
            return;
        }
        // INVARIANT: sorted by id, one per id (the latest changed, then the greater
        // encoding), the MAX_ORDERS most recently changed kept.
        crate::sort::sort_by(&mut self.list, |a, b| a.id.cmp(&b.id).then_with(|| b.rank(a)));
        self.list.dedup_by(|later, earlier| later.id == earlier.id);
        if self.list.len() > MAX_ORDERS {
            crate::sort::sort_by(&mut self.list, |a, b| b.rank(a));
            self.list.truncate(MAX_ORDERS);
            crate::sort::sort_by(&mut self.list, |a, b| a.id.cmp(&b.id));
        }
    }
}

fn transaction_id(event: &Event) -> Option<&str> {
    event.prop("transaction_id").and_then(Value::as_str).filter(|id| !id.is_empty())
}

/// An amount as hundredths (rounded), when it is a sensible one: finite, not negative,
/// at most [`MAX_ORDER_HUNDREDTHS`].
pub fn hundredths(amount: f64) -> Option<u64> {
    let h = libm::round(amount * 100.0);
    (h.is_finite() && h >= 0.0 && h <= MAX_ORDER_HUNDREDTHS as f64).then_some(h as u64)
}

fn order_fits(order: &Order) -> bool {
    !order.id.is_empty()
        && order.id.len() <= MAX_ORDER_ID_BYTES
        && order.value <= MAX_ORDER_HUNDREDTHS
        && order.refunded <= order.value
}

crate::wire_struct!(Order { id, at, value, refunded, changed_at });
crate::wire_struct!(Orders { list });
