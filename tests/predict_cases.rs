//! Purchase-history conventions, data-driven: every `tests/cases/predict/*.json` is one
//! kind of case, named by its file:
//!
//! - `summary.json` — orders → per-shopper histories and what was left out;
//! - `readiness.json` — the minimums: shortfall codes and messages, and `fit` refusing;
//! - `churn.json` — P(no order in 90 days) and its band at fixed parameters;
//! - `predict.json` — one shopper's `predicted` trait at fixed parameters;
//! - `repurchase.json` — per item or group, the median gap between repeat purchases.
//!
//! Orders are `[shopper, RFC 3339 time, value]` (a value may be the string "NaN"), with
//! the item ids as a fourth element where they matter.
#![expect(clippy::panic, reason = "a test: malformed case files should fail loudly")]

#[path = "support/cases.rs"]
mod cases;

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use waymark::server::predict::readiness::{purchase_shortfalls, spend_shortfall};
use waymark::server::predict::repurchase::{self, RepurchaseSettings};
use waymark::server::predict::summary::summarize;
use waymark::server::predict::{
    self, BgNbd, ChurnSettings, FitError, FitReport, FitSettings, Fitted, GammaGamma, History, Minimums, Order,
    SpendReport,
};
use waymark::time::{Timestamp, Zone, DAY};
use waymark::Value;

#[derive(Deserialize)]
#[serde(untagged)]
enum Amount {
    Number(f64),
    Text(String),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Row {
    Plain(String, String, Amount),
    WithItems(String, String, Amount, Vec<String>),
}

fn time(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn order(row: &Row) -> Order {
    let (shopper, at, amount, items) = match row {
        Row::Plain(s, t, a) => (s, t, a, Vec::new()),
        Row::WithItems(s, t, a, i) => (s, t, a, i.clone()),
    };
    let value = match amount {
        Amount::Number(v) => *v,
        Amount::Text(t) => t.parse().unwrap_or_else(|_| panic!("value {t:?}: not a number")),
    };
    Order { shopper: shopper.clone(), at: time(at), value, items }
}

fn zone(text: Option<&str>) -> Zone {
    text.map_or_else(Zone::utc, |z| Zone::parse_fixed(z).unwrap_or_else(|| panic!("zone {z:?}")))
}

fn read<T: serde::de::DeserializeOwned>(path: &Path) -> T {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_case_file_is_known() {
    for file in cases::case_files("predict") {
        let name = cases::case_name(&file);
        assert!(
            ["summary", "readiness", "churn", "predict", "repurchase"].contains(&name.as_str()),
            "{}: no harness for this case file",
            file.display()
        );
    }
}

// ---- summary ---------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SummaryFile {
    about: String,
    cases: Vec<SummaryCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SummaryCase {
    name: String,
    now: String,
    #[serde(default)]
    zone: Option<String>,
    orders: Vec<Row>,
    expect: SummaryExpect,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SummaryExpect {
    customers: Vec<CustomerExpect>,
    #[serde(default)]
    future: usize,
    #[serde(default)]
    refunds: usize,
    #[serde(default)]
    invalid: usize,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct CustomerExpect {
    shopper: String,
    x: u32,
    t_x_days: f64,
    t_days: f64,
    first_spend: f64,
    repeat_spend: f64,
}

#[test]
fn summary() {
    let file: SummaryFile = read(&cases::case_file("predict/summary.json"));
    assert!(!file.about.is_empty());
    for case in file.cases {
        let orders: Vec<Order> = case.orders.iter().map(order).collect();
        let summary = summarize(&orders, time(&case.now), &zone(case.zone.as_deref()));
        let got: Vec<CustomerExpect> = summary
            .customers
            .iter()
            .map(|c| {
                let h = c.history(summary.now_day, 1.0);
                CustomerExpect {
                    shopper: c.shopper.clone(),
                    x: h.x,
                    t_x_days: h.t_x,
                    t_days: h.t,
                    first_spend: c.first_spend,
                    repeat_spend: c.repeat_spend,
                }
            })
            .collect();
        assert_eq!(got, case.expect.customers, "{}", case.name);
        let left_out = (summary.future, summary.refunds, summary.invalid);
        assert_eq!(left_out, (case.expect.future, case.expect.refunds, case.expect.invalid), "{}: left out", case.name);
        // The same orders reversed give the same summary.
        let mut reversed = orders.clone();
        reversed.reverse();
        assert_eq!(summarize(&reversed, time(&case.now), &zone(case.zone.as_deref())), summary, "{}", case.name);
    }
}

// ---- readiness -------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadinessFile {
    about: String,
    cases: Vec<ReadinessCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadinessCase {
    name: String,
    now: String,
    #[serde(default)]
    minimums: Option<MinimumsCase>,
    cohorts: Vec<Cohort>,
    expect: ReadinessExpect,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MinimumsCase {
    customers: usize,
    history_days: i64,
    frequent_customers: usize,
    frequent_orders: u64,
    repeat_spenders: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Cohort {
    customers: usize,
    start: String,
    days: Vec<i64>,
    value: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadinessExpect {
    purchase: Vec<(String, String)>,
    spend: Option<(String, String)>,
}

#[test]
fn readiness() {
    let file: ReadinessFile = read(&cases::case_file("predict/readiness.json"));
    assert!(!file.about.is_empty());
    for case in file.cases {
        let minimums = case.minimums.map_or_else(Minimums::default, |m| Minimums {
            customers: m.customers,
            history_days: m.history_days,
            frequent_customers: m.frequent_customers,
            frequent_orders: m.frequent_orders,
            repeat_spenders: m.repeat_spenders,
        });
        let mut orders = Vec::new();
        let mut next = 0;
        for cohort in &case.cohorts {
            let start = time(&format!("{}T10:00:00Z", cohort.start));
            for _ in 0..cohort.customers {
                next += 1;
                for day in &cohort.days {
                    let at = start.plus(waymark::time::Duration(day * DAY));
                    orders.push(Order { shopper: format!("c{next}"), at, value: cohort.value, items: Vec::new() });
                }
            }
        }
        let now = time(&case.now);
        let summary = summarize(&orders, now, &Zone::utc());
        let purchase: Vec<(String, String)> =
            purchase_shortfalls(&summary, &minimums).iter().map(|s| (s.code().to_owned(), s.to_string())).collect();
        assert_eq!(purchase, case.expect.purchase, "{}: purchase model", case.name);
        let spend = spend_shortfall(&summary, &minimums).map(|s| (s.code().to_owned(), s.to_string()));
        assert_eq!(spend, case.expect.spend, "{}: spend model", case.name);
        if !purchase.is_empty() {
            let settings = FitSettings { minimums, ..FitSettings::default() };
            match predict::fit(&orders, now, &settings) {
                Err(e @ FitError::NotEnoughData(_)) => {
                    assert_eq!(e.code(), "not_enough_data");
                    let FitError::NotEnoughData(short) = &e else { unreachable!() };
                    let codes: Vec<&str> = short.iter().map(|s| s.code()).collect();
                    let expected: Vec<&str> = case.expect.purchase.iter().map(|(c, _)| c.as_str()).collect();
                    assert_eq!(codes, expected, "{}: fit", case.name);
                    assert!(e.to_string().starts_with("not enough data: "), "{e}");
                }
                other => panic!("{}: fit should refuse, got {other:?}", case.name),
            }
        }
    }
}

// ---- churn -----------------------------------------------------------------------------

#[derive(Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
struct Params {
    r: f64,
    alpha: f64,
    a: f64,
    b: f64,
}

impl From<Params> for BgNbd {
    fn from(p: Params) -> BgNbd {
        BgNbd { r: p.r, alpha: p.alpha, a: p.a, b: p.b }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChurnFile {
    about: String,
    params: Params,
    cases: Vec<ChurnCase>,
    bands: Vec<(f64, String)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChurnCase {
    name: String,
    history: (u32, f64, f64),
    p_no_order: f64,
    band: String,
}

#[test]
fn churn() {
    let file: ChurnFile = read(&cases::case_file("predict/churn.json"));
    assert!(!file.about.is_empty());
    let model = BgNbd::from(file.params);
    let settings = ChurnSettings::default();
    let horizon = settings.horizon.0 as f64 / DAY as f64 / 7.0;
    for case in file.cases {
        let (x, t_x, t) = case.history;
        let p = model.p_no_purchase(&History { x, t_x, t }, horizon);
        assert!((p - case.p_no_order).abs() < 1e-12, "{}: {p} vs {}", case.name, case.p_no_order);
        assert_eq!(settings.band(p).code(), case.band, "{}", case.name);
    }
    for (p, band) in file.bands {
        assert_eq!(settings.band(p).code(), band, "band of {p}");
    }
}

// ---- predict ---------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PredictFile {
    about: String,
    bgnbd: Params,
    cases: Vec<PredictCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpendParams {
    p: f64,
    q: f64,
    v: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PredictCase {
    name: String,
    now: String,
    gamma_gamma: Option<SpendParams>,
    orders: Vec<Row>,
    expect: Value,
}

#[test]
fn predicted_trait() {
    let file: PredictFile = read(&cases::case_file("predict/predict.json"));
    assert!(!file.about.is_empty());
    for case in file.cases {
        let now = time(&case.now);
        let orders: Vec<Order> = case.orders.iter().map(order).collect();
        let summary = summarize(&orders, now, &Zone::utc());
        let gamma_gamma = match case.gamma_gamma {
            Some(SpendParams { p, q, v }) => {
                Ok((GammaGamma { p, q, v }, SpendReport { log_likelihood: 0.0, iterations: 0, customers: 0 }))
            }
            None => Err(FitError::NotEnoughData(Vec::new())),
        };
        let fitted = Fitted {
            settings: FitSettings::default(),
            now,
            summary: summary.clone(),
            bgnbd: file.bgnbd.into(),
            bgnbd_report: FitReport { log_likelihood: 0.0, iterations: 0, patterns: 0 },
            gamma_gamma,
        };
        let [customer] = summary.customers.as_slice() else { panic!("{}: one shopper per case", case.name) };
        let got = predict::predict(&fitted, customer, now).to_trait();
        assert_eq!(
            got,
            case.expect,
            "{}:\n got      {}\n expected {}",
            case.name,
            got.to_json(),
            case.expect.to_json()
        );
    }
}

// ---- repurchase ------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RepurchaseFile {
    about: String,
    cases: Vec<RepurchaseCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RepurchaseCase {
    name: String,
    now: String,
    min_gaps: usize,
    #[serde(default)]
    groups: HashMap<String, String>,
    orders: Vec<Row>,
    expect: Vec<IntervalExpect>,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct IntervalExpect {
    key: String,
    median_days: Option<f64>,
    gaps: usize,
    repeat_shoppers: usize,
    shoppers: usize,
}

#[test]
fn repurchase_intervals() {
    let file: RepurchaseFile = read(&cases::case_file("predict/repurchase.json"));
    assert!(!file.about.is_empty());
    for case in file.cases {
        let orders: Vec<Order> = case.orders.iter().map(order).collect();
        let settings = RepurchaseSettings { min_gaps: case.min_gaps, ..RepurchaseSettings::default() };
        let got: Vec<IntervalExpect> = repurchase::intervals(&orders, &case.groups, time(&case.now), &settings)
            .into_iter()
            .map(|i| IntervalExpect {
                key: i.key,
                median_days: i.median_days,
                gaps: i.gaps,
                repeat_shoppers: i.repeat_shoppers,
                shoppers: i.shoppers,
            })
            .collect();
        assert_eq!(got, case.expect, "{}", case.name);
    }
}

/// The `repurchase_at` the backend writes: each customer's soonest item due again — its
/// last purchase plus the item's median gap between repeat purchases (5 gaps at least);
/// items without a known interval give none.
#[test]
fn repurchase_due_is_the_soonest_item_again() {
    use waymark::server::forecast::repurchase_due;
    use waymark::server::predict::Order;
    use waymark::time::{Duration, Timestamp, DAY};
    let day = |d: i64| Timestamp(1_780_000_000_000 - 1_780_000_000_000 % DAY + d * DAY);
    let order = |who: &str, d: i64, items: &[&str]| Order {
        shopper: who.into(),
        at: day(d),
        value: 10.0,
        items: items.iter().map(|i| (*i).to_owned()).collect(),
    };
    let mut orders = Vec::new();
    // Six shoppers rebuy coffee every 30 days (6 gaps); tea is rebought once (1 gap).
    for s in 0..6 {
        let who = format!("s{s}");
        orders.push(order(&who, 0, &["coffee"]));
        orders.push(order(&who, 30, &["coffee"]));
    }
    orders.push(order("t", 0, &["tea"]));
    orders.push(order("t", 10, &["tea"]));
    orders.push(order("me", 40, &["coffee", "tea"]));
    orders.push(order("me", 50, &["mug"]));
    let due = repurchase_due(&orders, day(60));
    assert_eq!(due.get("me"), Some(&day(70)), "coffee bought on day 40, every 30 days");
    assert_eq!(due.get("s0"), Some(&day(60)));
    assert!(!due.contains_key("t"), "tea has too few gaps to know");
    assert_eq!(day(1).0 - day(0).0, Duration(DAY).0);
}
