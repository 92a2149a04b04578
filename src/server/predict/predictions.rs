//! What the fitted models say of one shopper, and the read-only trait `predicted` that
//! carries it to the engine: `p_alive`, `churn_risk` (`low` / `medium` / `high`, from the
//! probability of no order in the next 90 days: low below 33 %, high above 66 %),
//! `p_no_order` (that probability), `expected_next_order_at`, `clv`, `avg_days_between_orders`.

use crate::map::SortedMap;
use crate::time::{Duration, Timestamp, DAY};
use crate::value::Value;

/// The churn-risk band of a shopper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChurnRisk {
    /// No order in the horizon is unlikely.
    Low,
    /// Neither likely nor unlikely.
    Medium,
    /// No order in the horizon is likely.
    High,
}

impl ChurnRisk {
    /// The stable name: `low`, `medium`, `high`.
    pub const fn code(self) -> &'static str {
        match self {
            ChurnRisk::Low => "low",
            ChurnRisk::Medium => "medium",
            ChurnRisk::High => "high",
        }
    }
}

/// How churn risk is banded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChurnSettings {
    /// The horizon of "no order" (90 days).
    pub horizon: Duration,
    /// Below this probability of no order, the risk is low (0.33).
    pub low_below: f64,
    /// Above this probability of no order, the risk is high (0.66).
    pub high_above: f64,
}

impl Default for ChurnSettings {
    fn default() -> Self {
        ChurnSettings { horizon: Duration(90 * DAY), low_below: 0.33, high_above: 0.66 }
    }
}

impl ChurnSettings {
    /// The band of a probability of no order in the horizon.
    pub fn band(&self, p_no_order: f64) -> ChurnRisk {
        if p_no_order < self.low_below {
            ChurnRisk::Low
        } else if p_no_order > self.high_above {
            ChurnRisk::High
        } else {
            ChurnRisk::Medium
        }
    }
}

/// How lifetime value is summed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClvSettings {
    /// Months ahead (12).
    pub months: u32,
    /// The length of a month (30 days).
    pub month: Duration,
    /// Discount rate per month (0.01).
    pub monthly_discount: f64,
}

impl Default for ClvSettings {
    fn default() -> Self {
        ClvSettings { months: 12, month: Duration(30 * DAY), monthly_discount: 0.01 }
    }
}

/// One shopper's predictions; what the data cannot support stays `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct Predictions {
    /// Probability the shopper is still a customer.
    pub p_alive: f64,
    /// Probability of no order within the churn horizon.
    pub p_no_order: f64,
    /// `p_no_order` banded.
    pub churn_risk: ChurnRisk,
    /// Expected orders (order days) within the churn horizon; `None` if not computable.
    pub expected_orders: Option<f64>,
    /// See [`super::next_order`]; `None` for one-time buyers.
    pub expected_next_order_at: Option<Timestamp>,
    /// Discounted spend over the CLV horizon; `None` without a spend model.
    pub clv: Option<f64>,
    /// Observed mean days between order days; `None` for one-time buyers.
    pub avg_days_between_orders: Option<f64>,
}

/// Rounds to `digits` decimals (traits carry no false precision, and stay small).
fn round(v: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (v * scale).round() / scale
}

impl Predictions {
    /// The value of the server trait `predicted` (an object, so conditions read
    /// `traits.predicted.churn_risk`): probabilities to 4 decimals, money and days to 2,
    /// the date as RFC 3339. A prediction that is unset is absent.
    pub fn to_trait(&self) -> Value {
        let fields = [
            ("p_alive", Some(Value::from(round(self.p_alive, 4)))),
            ("p_no_order", Some(Value::from(round(self.p_no_order, 4)))),
            ("churn_risk", Some(Value::from(self.churn_risk.code()))),
            ("expected_next_order_at", self.expected_next_order_at.map(|at| Value::from(at.to_rfc3339()))),
            ("clv", self.clv.map(|v| Value::from(round(v, 2)))),
            ("avg_days_between_orders", self.avg_days_between_orders.map(|d| Value::from(round(d, 2)))),
        ];
        let map: SortedMap<String, Value> = fields.into_iter().filter_map(|(k, v)| Some((k.to_owned(), v?))).collect();
        Value::Object(map)
    }
}
