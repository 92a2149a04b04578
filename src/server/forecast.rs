//! The purchase-history predictions as the backend runs them: the order history
//! (`orders`, [`crate::server::orders`]) read into [`predict::Order`]s, the models fitted
//! ([`predict::fit`]), a calibration / holdout check of the same models on the older part
//! of the history, and each customer's predictions written as the server trait
//! `predicted` through the writer, like `POST /v1/events` — read-only for the shopper,
//! usable in any condition, audience, branch or template (`traits.predicted.churn_risk`).
//! With too little data nothing is written and the report says what is short.
//!
//! A customer is their customer id when an order names one (`cust:<id>`), else the
//! shopper row the order was recorded on; an order's value is what was not refunded.
//!
//! Besides the models' fields the trait carries `repurchase_at`: when the soonest of the
//! customer's items is due again — its last purchase plus the item's typical gap between
//! repeat purchases ([`predict::repurchase`], from orders that list their items: the
//! backfilled ones) — for customers who bought an item with a known interval.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::Row;

use super::error::ApiError;
use super::predict::{self, FitSettings, Fitted, Order};
use super::storage::{Db, StorageError};
use super::sync::{ServerEvent, Work, Writer};
use super::triggers::identity_of;
use crate::time::{Duration, Timestamp, DAY};
use crate::value::Map;

/// The trait the predictions are written to.
pub const TRAIT: &str = "predicted";
/// How far back the holdout check starts: the newest 90 days are predicted from the rest.
pub const HOLDOUT: Duration = Duration(90 * DAY);

/// What one run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ForecastReport {
    /// Orders read.
    pub orders: usize,
    /// Customers with a counted order.
    pub customers: usize,
    /// The purchase model's parameters (r, α in days, a, b) and log-likelihood.
    pub bgnbd: Option<serde_json::Value>,
    /// The spend model's parameters (p, q, v), or why there is none.
    pub gamma_gamma: Option<serde_json::Value>,
    /// The holdout check, or why it could not run.
    pub holdout: Option<serde_json::Value>,
    /// Why nothing was predicted, when so.
    pub not_fitted: Option<String>,
    /// Its stable code.
    pub code: Option<&'static str>,
    /// Shoppers whose `predicted` trait was written.
    pub written: usize,
    /// Writes that failed (the others went on).
    pub failed: usize,
}

/// Every order of the history, keyed by customer.
pub async fn load_orders(db: &Db) -> Result<Vec<Order>, StorageError> {
    let rows = sqlx::query("SELECT order_id, shopper_id, customer_id, ordered_at, value, refunded, items FROM orders")
        .fetch_all(db.reader())
        .await?;
    let mut orders = Vec::with_capacity(rows.len());
    for row in rows {
        let customer: Option<String> = row.try_get("customer_id")?;
        let shopper: Option<String> = row.try_get("shopper_id")?;
        let Some(key) = customer.map(|c| crate::server::storage::customer_key(&c)).or(shopper) else { continue };
        let value: i64 = row.try_get("value")?;
        let refunded: i64 = row.try_get("refunded")?;
        let items: Option<String> = row.try_get("items")?;
        orders.push(Order {
            shopper: key,
            at: Timestamp(row.try_get("ordered_at")?),
            value: (value - refunded).max(0) as f64 / 100.0,
            items: items.and_then(|text| serde_json::from_str(&text).ok()).unwrap_or_default(),
        });
    }
    Ok(orders)
}

/// Fits on the history at `now` and, unless `dry_run`, writes every customer's trait.
pub async fn run(
    db: &Db,
    writer: Option<&Writer>,
    settings: &FitSettings,
    now: Timestamp,
) -> Result<ForecastReport, StorageError> {
    let orders = load_orders(db).await?;
    let mut report = ForecastReport { orders: orders.len(), ..ForecastReport::default() };
    report.holdout = Some(holdout_check(&orders, settings, now));
    let fitted = match predict::fit(&orders, now, settings) {
        Ok(fitted) => fitted,
        Err(e) => {
            report.code = Some(e.code());
            report.not_fitted = Some(e.to_string());
            return Ok(report);
        }
    };
    describe(&fitted, &mut report);
    if let Some(writer) = writer {
        let due = repurchase_due(&orders, now);
        write_traits(&fitted, &due, writer, now, &mut report).await;
    }
    Ok(report)
}

fn describe(fitted: &Fitted, report: &mut ForecastReport) {
    let days = fitted.unit_days();
    let m = &fitted.bgnbd;
    report.customers = fitted.summary.customers.len();
    report.bgnbd = Some(serde_json::json!({
        "r": m.r, "alpha_days": m.alpha * days, "a": m.a, "b": m.b,
        "log_likelihood": fitted.bgnbd_report.log_likelihood,
        "unit_days": days,
    }));
    report.gamma_gamma = Some(match &fitted.gamma_gamma {
        Ok((g, spend)) => serde_json::json!({ "p": g.p, "q": g.q, "v": g.v, "log_likelihood": spend.log_likelihood }),
        Err(e) => serde_json::json!({ "not_fitted": e.to_string(), "code": e.code() }),
    });
}

/// Fits on the orders before `now - HOLDOUT` and compares, for the customers known then,
/// the repeat purchases the model expected in the holdout with those that happened.
fn holdout_check(orders: &[Order], settings: &FitSettings, now: Timestamp) -> serde_json::Value {
    let cut = now.minus(HOLDOUT);
    let calibration: Vec<Order> = orders.iter().filter(|o| o.at <= cut).cloned().collect();
    let fitted = match predict::fit(&calibration, cut, settings) {
        Ok(fitted) => fitted,
        Err(e) => return serde_json::json!({ "not_run": e.to_string(), "code": e.code() }),
    };
    let zone = &settings.zone;
    let horizon = HOLDOUT.0 as f64 / DAY as f64 / fitted.unit_days();
    let later = predict::summary::summarize(orders, now, zone);
    let (mut expected, mut actual, mut absolute_error) = (0.0, 0.0, 0.0);
    for customer in &fitted.summary.customers {
        let history = customer.history(fitted.summary.now_day, fitted.unit_days());
        let want = fitted.bgnbd.expected_purchases(&history, horizon).unwrap_or(0.0);
        let got = later
            .customers
            .binary_search_by(|c| c.shopper.cmp(&customer.shopper))
            .ok()
            .and_then(|i| later.customers.get(i))
            .map_or(0.0, |c| f64::from(c.repeat.saturating_sub(customer.repeat)));
        expected += want;
        actual += got;
        absolute_error += (want - got).abs();
    }
    let n = fitted.summary.customers.len().max(1) as f64;
    serde_json::json!({
        "calibration_end": cut.to_rfc3339(),
        "holdout_days": HOLDOUT.0 / DAY,
        "customers": fitted.summary.customers.len(),
        "expected_repeat_purchases": expected,
        "actual_repeat_purchases": actual,
        "mean_absolute_error": absolute_error / n,
    })
}

/// Per customer, when the soonest of their items with a known repurchase interval is due.
pub fn repurchase_due(orders: &[Order], now: Timestamp) -> HashMap<String, Timestamp> {
    let settings = predict::RepurchaseSettings::default();
    let typical: HashMap<String, f64> = predict::repurchase::intervals(orders, &HashMap::new(), now, &settings)
        .into_iter()
        .filter_map(|i| Some((i.key, i.median_days?)))
        .collect();
    // customer → item → last purchase.
    let mut last: HashMap<&str, HashMap<&str, Timestamp>> = HashMap::new();
    for order in orders.iter().filter(|o| o.at <= now && o.value >= 0.0) {
        for item in order.items.iter().filter(|i| typical.contains_key(i.as_str())) {
            let at = last.entry(order.shopper.as_str()).or_default().entry(item.as_str()).or_insert(order.at);
            *at = (*at).max(order.at);
        }
    }
    last.into_iter()
        .filter_map(|(customer, items)| {
            let due = items
                .into_iter()
                .filter_map(|(item, at)| {
                    let days = typical.get(item)?;
                    Some(at.plus(Duration((days * DAY as f64) as i64)))
                })
                .min()?;
            Some((customer.to_owned(), due))
        })
        .collect()
}

async fn write_traits(
    fitted: &Fitted,
    due: &HashMap<String, Timestamp>,
    writer: &Writer,
    now: Timestamp,
    report: &mut ForecastReport,
) {
    const PAGE: usize = 1000;
    for page in fitted.summary.customers.chunks(PAGE) {
        let jobs: Vec<_> = page
            .iter()
            .map(|customer| {
                let mut value = predict::predict(fitted, customer, now).to_trait();
                if let (crate::value::Value::Object(fields), Some(at)) = (&mut value, due.get(&customer.shopper)) {
                    fields.insert("repurchase_at".to_owned(), crate::value::Value::from(at.to_rfc3339()));
                }
                let mut traits = Map::new();
                traits.insert(TRAIT.to_owned(), value);
                let event = ServerEvent {
                    id: format!("{TRAIT}:{}:{}", customer.shopper, now.0),
                    time: now,
                    name: None,
                    properties: Map::new(),
                    traits,
                    consent: Default::default(),
                };
                (identity_of(&customer.shopper), Work::Event(Box::new(event)))
            })
            .collect();
        for result in writer.submit_many(jobs).await {
            match result {
                Ok(_) => report.written += 1,
                Err(e) => {
                    report.failed += 1;
                    log_failure(&e);
                }
            }
        }
    }
}

fn log_failure(e: &ApiError) {
    tracing::warn!(error = ?e, "writing a shopper's predictions failed; the others go on");
}

/// The name of the fit in `scheduled_jobs`.
const JOB: &str = "fit_orders";
/// How often a replica looks whether the fit is due.
const CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs the fit every `every` until shutdown, on one replica a period: the one whose
/// update moves the job's `next_at` forward while it is due. A fresh database fits at once.
pub async fn run_loop(
    db: Db,
    writer: Writer,
    clock: crate::server::clock::Clock,
    every: std::time::Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let period = Duration(i64::try_from(every.as_millis()).unwrap_or(i64::MAX));
    loop {
        match claim(&db, clock.now(), period).await {
            Ok(true) => match run(&db, Some(&writer), &FitSettings::default(), clock.now()).await {
                Ok(report) => tracing::info!(
                    customers = report.customers,
                    written = report.written,
                    not_fitted = report.not_fitted.as_deref().unwrap_or(""),
                    "purchase-history fit"
                ),
                Err(e) => tracing::error!(error = %e, "purchase-history fit failed; retried next period"),
            },
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, "purchase-history fit: the schedule could not be read"),
        }
        if !crate::server::clock::pause(CHECK_EVERY, &mut shutdown).await {
            break;
        }
    }
}

/// Whether this replica runs the fit now: it is due, and this update moved it on.
pub async fn claim(db: &Db, now: Timestamp, period: Duration) -> Result<bool, StorageError> {
    claim_job(db, JOB, now, period).await
}

/// Whether this replica runs the periodic job `job` now (see [`claim`]).
pub async fn claim_job(db: &Db, job: &str, now: Timestamp, period: Duration) -> Result<bool, StorageError> {
    sqlx::query("INSERT INTO scheduled_jobs (name, next_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
        .bind(job.to_owned())
        .bind(now.0)
        .execute(db.write_pool())
        .await?;
    let moved = sqlx::query("UPDATE scheduled_jobs SET next_at = $1 WHERE name = $2 AND next_at <= $3")
        .bind(now.plus(period).0)
        .bind(job.to_owned())
        .bind(now.0)
        .execute(db.write_pool())
        .await?;
    Ok(moved.rows_affected() == 1)
}
