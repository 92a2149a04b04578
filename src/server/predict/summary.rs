//! Orders → one purchase history per shopper, in the conventions of the BG/NBD paper: all
//! orders of one calendar day (in the shop's zone) are one transaction; frequency `x` is
//! the number of repeat transactions (days with an order after the first), recency `t_x`
//! the time from the first to the last transaction, age `T` the time from the first
//! transaction to `now`, both in the model's time unit (a week by default); spend per
//! order is the mean of the repeat days' totals (the first day's is left out).

use std::collections::BTreeMap;

use crate::time::{Duration, Timestamp, Zone, DAY, SECOND};

use super::Order;

/// One shopper's purchase history, from which their [`History`] at any `now` follows.
#[derive(Debug, Clone, PartialEq)]
pub struct Customer {
    /// The shopper's key, as the orders name it.
    pub shopper: String,
    /// Calendar day (days since 1970-01-01 in the zone) of the first transaction.
    pub first_day: i64,
    /// Calendar day of the last transaction.
    pub last_day: i64,
    /// Repeat transactions: days with an order after the first day.
    pub repeat: u32,
    /// Mean of the repeat days' totals; 0 without a repeat transaction.
    pub repeat_spend: f64,
    /// The first day's total.
    pub first_spend: f64,
}

/// A customer's history in the model's terms at some `now`: `x`, `t_x`, `T`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct History {
    /// Repeat transactions.
    pub x: u32,
    /// Recency: first to last transaction, in time units.
    pub t_x: f64,
    /// Age: first transaction to `now`, in time units (≥ `t_x`).
    pub t: f64,
}

impl Customer {
    /// The history at calendar day `now_day`, in units of `unit_days` days. A `now_day`
    /// before the last transaction counts as that day (age is never below recency).
    pub fn history(&self, now_day: i64, unit_days: f64) -> History {
        let age_days = now_day.max(self.last_day) - self.first_day;
        History {
            x: self.repeat,
            t_x: (self.last_day - self.first_day) as f64 / unit_days,
            t: age_days as f64 / unit_days,
        }
    }

    /// Transactions (order days) in the history: `x + 1`.
    pub fn transactions(&self) -> u64 {
        u64::from(self.repeat) + 1
    }
}

/// Every shopper's history, with what the summary left out and why.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Summary {
    /// One entry per shopper with a counted order, sorted by shopper key.
    // INVARIANT: sorted by `shopper`, unique.
    pub customers: Vec<Customer>,
    /// The calendar day of `now`.
    pub now_day: i64,
    /// Orders after `now` (left out).
    pub future: usize,
    /// Orders with a negative value: refunds, not purchases (left out).
    pub refunds: usize,
    /// Orders with a value that is not a number, or without a shopper key (left out).
    pub invalid: usize,
}

impl Summary {
    /// Days from the earliest first transaction to `now` (0 without customers).
    pub fn history_days(&self) -> i64 {
        self.customers.iter().map(|c| self.now_day - c.first_day).max().unwrap_or(0).max(0)
    }
}

/// The calendar day of an instant in a zone: days since 1970-01-01, local time.
pub fn day_of(t: Timestamp, zone: &Zone) -> i64 {
    let local = t.0.saturating_add(i64::from(zone.offset_at(t)) * SECOND);
    local.div_euclid(DAY)
}

/// The time unit in days (a week: 7), or `None` for a unit that is not positive.
pub fn unit_days(unit: Duration) -> Option<f64> {
    (unit.0 > 0).then(|| unit.0 as f64 / DAY as f64)
}

/// Summarizes orders up to `now` (inclusive), in any order: one transaction per shopper and
/// calendar day in `zone`, its value the day's total. An order of value 0 is a transaction
/// (the shopper ordered) that adds nothing to spend; a negative value is a refund and
/// not a purchase, so it is left out (store net order values if refunds should lower
/// spend); orders after `now`, with a value that is not finite, or with an empty shopper
/// key are left out too. Each is counted in the summary.
pub fn summarize(orders: &[Order], now: Timestamp, zone: &Zone) -> Summary {
    let mut summary = Summary { now_day: day_of(now, zone), ..Summary::default() };
    // Shopper → day → total: sorted maps, so sums run in one order whatever the input's.
    let mut days: BTreeMap<&str, BTreeMap<i64, Vec<f64>>> = BTreeMap::new();
    for order in orders {
        if order.at > now {
            summary.future += 1;
        } else if !order.value.is_finite() || order.shopper.is_empty() {
            summary.invalid += 1;
        } else if order.value < 0.0 {
            summary.refunds += 1;
        } else {
            days.entry(order.shopper.as_str())
                .or_default()
                .entry(day_of(order.at, zone))
                .or_default()
                .push(order.value);
        }
    }
    for (shopper, by_day) in days {
        let (Some(first_day), Some(last_day)) = (by_day.keys().next().copied(), by_day.keys().next_back().copied())
        else {
            continue;
        };
        let mut totals = by_day.into_values().map(|mut values| {
            // A day's values summed in value order: the total does not depend on input order.
            values.sort_by(f64::total_cmp);
            values.iter().sum::<f64>()
        });
        let first_spend = totals.next().unwrap_or(0.0);
        let repeat_totals: Vec<f64> = totals.collect();
        let repeat = u32::try_from(repeat_totals.len()).unwrap_or(u32::MAX);
        let repeat_spend =
            if repeat_totals.is_empty() { 0.0 } else { repeat_totals.iter().sum::<f64>() / repeat_totals.len() as f64 };
        summary.customers.push(Customer {
            shopper: shopper.to_owned(),
            first_day,
            last_day,
            repeat,
            repeat_spend,
            first_spend,
        });
    }
    summary
}
