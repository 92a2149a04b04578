//! Whether there is enough purchase history to fit the models, and if not, what is short.
//! The defaults follow the minimums Klaviyo states for its predictive analytics (500
//! customers with orders, 180 days of history, some customers with three or more
//! orders); "some" is ours to fix (25), as is the floor of the spend model (50 repeat
//! customers with spend). Below them no prediction is made: none is better than an
//! invented one.

use super::summary::Summary;

/// The least data a fit needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Minimums {
    /// Customers with at least one order (500).
    pub customers: usize,
    /// Days from the earliest order to `now` (180).
    pub history_days: i64,
    /// Customers with at least [`Minimums::frequent_orders`] orders (25).
    pub frequent_customers: usize,
    /// The order count (order days) that makes a customer frequent (3).
    pub frequent_orders: u64,
    /// Repeat customers with a positive repeat spend, for the spend model and so the
    /// lifetime value (50). Below it the purchase model is still fitted.
    pub repeat_spenders: usize,
}

impl Default for Minimums {
    fn default() -> Self {
        Minimums { customers: 500, history_days: 180, frequent_customers: 25, frequent_orders: 3, repeat_spenders: 50 }
    }
}

/// One minimum the data does not reach.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Shortfall {
    /// Too few customers with orders.
    #[error("{found} customers with orders, {needed} needed")]
    Customers {
        /// Customers found.
        found: usize,
        /// The minimum.
        needed: usize,
    },
    /// The history is too short.
    #[error("{days} days of order history, {needed} needed")]
    History {
        /// Days from the earliest order to now.
        days: i64,
        /// The minimum.
        needed: i64,
    },
    /// Too few customers with several orders.
    #[error("{found} customers with {orders} or more orders, {needed} needed")]
    FrequentCustomers {
        /// Customers found.
        found: usize,
        /// Orders (order days) that make a customer frequent.
        orders: u64,
        /// The minimum.
        needed: usize,
    },
    /// Too few repeat customers with spend for the spend model.
    #[error("{found} repeat customers with spend, {needed} needed for the spend model")]
    RepeatSpenders {
        /// Customers found.
        found: usize,
        /// The minimum.
        needed: usize,
    },
}

impl Shortfall {
    /// Stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            Shortfall::Customers { .. } => "too_few_customers",
            Shortfall::History { .. } => "history_too_short",
            Shortfall::FrequentCustomers { .. } => "too_few_frequent_customers",
            Shortfall::RepeatSpenders { .. } => "too_few_repeat_spenders",
        }
    }
}

/// Every minimum of the purchase model the summary misses (empty: ready).
pub fn purchase_shortfalls(summary: &Summary, minimums: &Minimums) -> Vec<Shortfall> {
    let mut short = Vec::new();
    let customers = summary.customers.len();
    if customers < minimums.customers {
        short.push(Shortfall::Customers { found: customers, needed: minimums.customers });
    }
    let days = summary.history_days();
    if days < minimums.history_days {
        short.push(Shortfall::History { days, needed: minimums.history_days });
    }
    let frequent = summary.customers.iter().filter(|c| c.transactions() >= minimums.frequent_orders).count();
    if frequent < minimums.frequent_customers {
        short.push(Shortfall::FrequentCustomers {
            found: frequent,
            orders: minimums.frequent_orders,
            needed: minimums.frequent_customers,
        });
    }
    short
}

/// The spend model's minimum, if the summary misses it.
pub fn spend_shortfall(summary: &Summary, minimums: &Minimums) -> Option<Shortfall> {
    let found = summary.customers.iter().filter(|c| c.repeat > 0 && c.repeat_spend > 0.0).count();
    (found < minimums.repeat_spenders).then_some(Shortfall::RepeatSpenders { found, needed: minimums.repeat_spenders })
}
