//! When a shopper is expected to order next, and how often they have ordered.
//!
//! - `avg_days_between_orders`: the observed mean gap between a shopper's order days,
//!   (last order day − first order day) / repeat orders, for shoppers with at least two
//!   order days; unset for one-time buyers.
//! - `expected_next_order_at`: `now` plus the median wait to the next order of a shopper
//!   who is still buying, under the fitted BG/NBD model ([`BgNbd::median_wait`]): the wait
//!   is exponential with the shopper's rate λ, whose distribution given their history is
//!   Gamma(r + x, α + T). Set only for shoppers with a repeat order (for one-time buyers
//!   the model knows too little of their rate to name a date). Whether they are still
//!   buying at all is `p_alive`'s and `churn_risk`'s to say: this date answers "when,
//!   if at all".

use crate::time::{Duration, Timestamp, DAY};

use super::bgnbd::BgNbd;
use super::summary::{Customer, History};

/// The observed mean days between order days, for a shopper with a repeat order.
pub fn avg_days_between_orders(customer: &Customer) -> Option<f64> {
    (customer.repeat > 0).then(|| (customer.last_day - customer.first_day) as f64 / f64::from(customer.repeat))
}

/// `now` plus the median wait to the next order (see the module doc), for a shopper with
/// a repeat order; `unit_days` is the fit's time unit in days.
pub fn expected_next_order_at(model: &BgNbd, history: &History, now: Timestamp, unit_days: f64) -> Option<Timestamp> {
    if history.x == 0 {
        return None;
    }
    let millis = model.median_wait(history) * unit_days * DAY as f64;
    // Beyond the range of a timestamp (or not a number): no date.
    (0.0..1e15).contains(&millis).then(|| now.plus(Duration(millis.round() as i64)))
}
