//! Purchase-history models (issue 18), as pure functions over orders the storage hands
//! in: no database, no clock (`now` is a parameter), no randomness; the same orders give
//! the same parameters, bit for bit, whatever their order.
//!
//! - `summary` — orders → one history per shopper (one transaction a calendar day,
//!   frequency / recency / age in weeks, mean repeat spend);
//! - `readiness` — the minimums of data below which nothing is predicted, and what is short;
//! - `bgnbd` — the BG/NBD model: likelihood, fit, P(alive), expected purchases, P(no purchase);
//! - `gamma_gamma` — spend per order, and lifetime value over a horizon;
//! - `next_order` — expected next order date and average days between orders;
//! - `repurchase` — per item or item group, the median gap between repeat purchases;
//! - `predictions` — one shopper's predictions and the `predicted` trait, churn bands;
//! - `special` — ln Γ, digamma, the hypergeometric series; `optimize` — the L-BFGS fits;
//! - `logistic` — L2-regularised logistic regression, AUC and log-loss (the intent fit).
//!
//! [`fit`] runs the summary, the readiness check and both fits; [`predict`] answers for
//! one shopper. `tests/predict_cdnow.rs` reproduces the published CDNOW estimates and
//! compares every customer with the Python package `lifetimes`.

pub mod bgnbd;
pub mod gamma_gamma;
pub mod logistic;
pub mod next_order;
pub mod optimize;
pub mod predictions;
pub mod readiness;
pub mod repurchase;
pub mod special;
pub mod summary;

use crate::time::{Duration, Timestamp, Zone, DAY};

pub use self::bgnbd::{BgNbd, FitReport};
pub use self::gamma_gamma::{GammaGamma, Spend, SpendReport};
pub use self::predictions::{ChurnRisk, ChurnSettings, ClvSettings, Predictions};
pub use self::readiness::{Minimums, Shortfall};
pub use self::repurchase::{RepurchaseInterval, RepurchaseSettings};
pub use self::summary::{Customer, History, Summary};

/// One order as the storage holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    /// The shopper's key.
    pub shopper: String,
    /// When it was placed.
    pub at: Timestamp,
    /// Its value (net of refunds if the shop records them so); negative: a refund.
    pub value: f64,
    /// The item ids it holds (for repurchase intervals; the fits do not read them).
    pub items: Vec<String>,
}

/// Settings of a fit and of the predictions made with it.
#[derive(Debug, Clone, PartialEq)]
pub struct FitSettings {
    /// The models' time unit (a week, as in the BG/NBD paper). Predictions do not depend
    /// on it; the parameter α and the log-likelihood are in it.
    pub unit: Duration,
    /// The zone whose calendar days are transactions (the shop's).
    pub zone: Zone,
    /// The least data to fit on.
    pub minimums: Minimums,
    /// Churn-risk horizon and bands.
    pub churn: ChurnSettings,
    /// Lifetime-value horizon and discount.
    pub clv: ClvSettings,
}

impl Default for FitSettings {
    fn default() -> Self {
        FitSettings {
            unit: Duration(7 * DAY),
            zone: Zone::utc(),
            minimums: Minimums::default(),
            churn: ChurnSettings::default(),
            clv: ClvSettings::default(),
        }
    }
}

/// Why a fit made no model.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FitError {
    /// The data misses a minimum; each shortfall names one.
    #[error("not enough data: {}", list(.0))]
    NotEnoughData(Vec<Shortfall>),
    /// The likelihood's maximum was not found.
    #[error("the {model} fit did not converge: {why}")]
    NoConvergence {
        /// `bgnbd`, `gamma_gamma` or `logistic`.
        model: &'static str,
        /// What the optimizer reported.
        why: String,
    },
    /// The spend model's q is at most 1: the mean spend it implies is infinite.
    #[error("the spend model's q is {q}, at most 1: its mean spend per order is infinite")]
    SpendUndefined {
        /// The estimate of q.
        q: f64,
    },
    /// A setting is out of range.
    #[error("setting {field}: {problem}")]
    BadSettings {
        /// The setting.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
}

fn list(shortfalls: &[Shortfall]) -> String {
    shortfalls.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

impl FitError {
    /// Stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            FitError::NotEnoughData(_) => "not_enough_data",
            FitError::NoConvergence { .. } => "no_convergence",
            FitError::SpendUndefined { .. } => "spend_model_undefined",
            FitError::BadSettings { .. } => "bad_settings",
        }
    }
}

/// The fitted models with the histories they were fitted on.
#[derive(Debug, Clone, PartialEq)]
pub struct Fitted {
    /// The settings of the fit (predictions use them too).
    pub settings: FitSettings,
    /// `now` of the fit.
    pub now: Timestamp,
    /// Every shopper's history at `now`.
    pub summary: Summary,
    /// The purchase model.
    pub bgnbd: BgNbd,
    /// How its fit went.
    pub bgnbd_report: FitReport,
    /// The spend model, or why there is none (then `clv` stays unset).
    pub gamma_gamma: Result<(GammaGamma, SpendReport), FitError>,
}

impl Fitted {
    /// The fit's time unit in days.
    pub fn unit_days(&self) -> f64 {
        summary::unit_days(self.settings.unit).unwrap_or(7.0)
    }
}

fn check_settings(settings: &FitSettings) -> Result<f64, FitError> {
    let bad = |field, problem: &str| FitError::BadSettings { field, problem: problem.to_owned() };
    let unit = summary::unit_days(settings.unit).ok_or_else(|| bad("unit", "must be positive"))?;
    let churn = &settings.churn;
    if churn.horizon.0 <= 0 {
        return Err(bad("churn.horizon", "must be positive"));
    }
    if !(0.0..=1.0).contains(&churn.low_below)
        || !(0.0..=1.0).contains(&churn.high_above)
        || churn.low_below > churn.high_above
    {
        return Err(bad("churn", "bands need 0 ≤ low_below ≤ high_above ≤ 1"));
    }
    if settings.clv.month.0 <= 0 || settings.clv.monthly_discount <= -1.0 || !settings.clv.monthly_discount.is_finite()
    {
        return Err(bad("clv", "a positive month and a discount rate above −1 are needed"));
    }
    Ok(unit)
}

/// Summarizes the orders up to `now`, checks the minimums, and fits BG/NBD and (when its
/// own minimum is met) Gamma-Gamma. Fails with [`FitError::NotEnoughData`] naming every
/// shortfall when the purchase model's minimums are not met; a spend model that cannot be
/// fitted only leaves `gamma_gamma` as its reason.
pub fn fit(orders: &[Order], now: Timestamp, settings: &FitSettings) -> Result<Fitted, FitError> {
    let unit_days = check_settings(settings)?;
    let summary = summary::summarize(orders, now, &settings.zone);
    let short = readiness::purchase_shortfalls(&summary, &settings.minimums);
    if !short.is_empty() {
        return Err(FitError::NotEnoughData(short));
    }
    let histories: Vec<History> = summary.customers.iter().map(|c| c.history(summary.now_day, unit_days)).collect();
    let (bgnbd, bgnbd_report) = BgNbd::fit(&histories)?;
    let gamma_gamma = match readiness::spend_shortfall(&summary, &settings.minimums) {
        Some(short) => Err(FitError::NotEnoughData(vec![short])),
        None => {
            let spends: Vec<Spend> =
                summary.customers.iter().map(|c| Spend { x: c.repeat, mean: c.repeat_spend }).collect();
            GammaGamma::fit(&spends)
        }
    };
    Ok(Fitted { settings: settings.clone(), now, summary, bgnbd, bgnbd_report, gamma_gamma })
}

/// What the models predict of one customer at `now` (their history is taken at `now`'s
/// calendar day, so a fit can serve later predictions until the next refit).
pub fn predict(fitted: &Fitted, customer: &Customer, now: Timestamp) -> Predictions {
    let unit_days = fitted.unit_days();
    let settings = &fitted.settings;
    let history = customer.history(summary::day_of(now, &settings.zone), unit_days);
    let model = &fitted.bgnbd;
    let horizon = settings.churn.horizon.0 as f64 / DAY as f64 / unit_days;
    let p_no_order = model.p_no_purchase(&history, horizon);
    let month = settings.clv.month.0 as f64 / DAY as f64 / unit_days;
    let clv = match &fitted.gamma_gamma {
        Ok((spend, _)) => {
            spend.clv(model, &history, customer.repeat_spend, settings.clv.months, month, settings.clv.monthly_discount)
        }
        Err(_) => None,
    };
    Predictions {
        p_alive: model.p_alive(&history),
        p_no_order,
        churn_risk: settings.churn.band(p_no_order),
        expected_orders: model.expected_purchases(&history, horizon),
        expected_next_order_at: next_order::expected_next_order_at(model, &history, now, unit_days),
        clv,
        avg_days_between_orders: next_order::avg_days_between_orders(customer),
    }
}
