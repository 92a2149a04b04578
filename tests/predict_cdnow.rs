//! The purchase-history models on CDNOW, the data set of the BG/NBD paper: 2,357 customers
//! who first bought at CDNOW in the first quarter of 1997, calibration period to 1997-09-30.
//!
//! - The fits reproduce the published estimates within 0.5 %: BG/NBD r = 0.243,
//!   α = 4.414, a = 0.793, b = 2.426 with log-likelihood −9582.4 (Fader, Hardie & Lee 2005,
//!   "Counting your customers the easy way"), and Gamma-Gamma p = 6.25, q = 3.74, v = 15.45
//!   on the 946 repeat customers (Fader & Hardie, "The Gamma-Gamma model of monetary
//!   value").
//! - Every customer is compared with the Python package `lifetimes` 0.11.3
//!   (tests/reference/lifetimes_cdnow.py): the summary (frequency, recency, T, mean repeat
//!   spend) exactly; P(alive), expected purchases in the next 39 weeks, expected spend per
//!   order and 12-month lifetime value at our parameters within 1e-10 relative (the formulas),
//!   and at each side's own fit within 1e-5 relative (formulas and fits together).
//!
//! The data is the file `lifetimes/datasets/CDNOW_sample.txt` of the lifetimes wheel, which
//! scripts/test.sh downloads (`ensure_cdnow` in scripts/lib.sh) and names in `WAYMARK_CDNOW`
//! (else this test looks in target/data/lifetimes-0.11.3/); lifetimes itself is installed
//! from PyPI when missing. Without either, the tests that need it are ignored, and fail
//! under `CI=true`. Run by libtest-mimic (`harness = false`).
#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test: malformed data or reference output should fail loudly"
)]

#[path = "support/harness.rs"]
mod harness;

use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::sync::OnceLock;
use std::time::{Duration as StdDuration, Instant};

use libtest_mimic::{Completion, Failed, Trial};
use waymark::server::predict::{self, BgNbd, FitSettings, Fitted, GammaGamma, Order};
use waymark::time::{Timestamp, DAY};

const LIFETIMES: &str = "0.11.3";
/// The last day of the calibration period (inclusive).
const END: &str = "1997-09-30";
const HORIZON_WEEKS: f64 = 39.0;
/// lifetimes' month for weekly data (its `customer_lifetime_value`, `freq="W"`).
const MONTH_WEEKS: f64 = 4.345;
const MONTHS: u32 = 12;
const DISCOUNT: f64 = 0.01;
/// Formulas at the same parameters.
const SAME_PARAMS: f64 = 1e-10;
/// Each side at its own fit.
const OWN_FITS: f64 = 1e-5;

fn main() -> ExitCode {
    harness::run(vec![
        Trial::ignorable_test("bgnbd_reproduces_the_published_estimates", bgnbd_published),
        Trial::ignorable_test("gamma_gamma_reproduces_the_published_estimates", gamma_gamma_published),
        Trial::ignorable_test("fit_ignores_the_order_of_the_orders", order_independent),
        Trial::ignorable_test("every_customer_matches_lifetimes", against_lifetimes),
        Trial::ignorable_test("the_backend_fits_cdnow_backfilled_through_the_cli", through_the_backend),
    ])
}

/// The whole path a shop takes: CDNOW's transactions written as an order file, loaded by
/// `waymark orders import` (the backfill the API route runs too) into a database, fitted
/// by `waymark fit orders` at the end of the calibration period: the same published
/// estimates, and every customer's `predicted` trait written into their state.
fn through_the_backend() -> Result<Completion, Failed> {
    let path = data_path();
    let Ok(text) = std::fs::read_to_string(&path) else {
        return harness::absent(&format!("CDNOW_sample.txt not readable at {}", path.display()));
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cdnow.csv");
    let mut csv = String::from("order_id,customer_id,time,value\n");
    for (n, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let d = cols[2];
        csv.push_str(&format!("cdnow-{n},{},{}-{}-{},{}\n", cols[1], &d[..4], &d[4..6], &d[6..8], cols[4]));
    }
    std::fs::write(&file, csv).unwrap();
    let db = format!("sqlite://{}", dir.path().join("waymark.db").display());
    let waymark = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_waymark")).args(args).env("WAYMARK_DB", &db).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = waymark(&["orders", "import", file.to_str().unwrap()]);
    if code != Some(0) || !stdout.contains("6919 rows, 6919 loaded, 0 rejected") {
        return Err(format!("orders import: {stdout}{stderr}").into());
    }
    let start = Instant::now();
    let (code, stdout, stderr) = waymark(&["fit", "orders", "--now", &now().to_rfc3339()]);
    let took = start.elapsed();
    if code != Some(0) {
        return Err(format!("fit orders: {stdout}{stderr}").into());
    }
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let number = |path: &str| report.pointer(path).and_then(serde_json::Value::as_f64).unwrap_or(f64::NAN);
    let mut lines =
        vec![format!("CDNOW through orders import + fit orders (the CLI, SQLite, {:.2} s):", took.as_secs_f64())];
    let mut ok = true;
    ok &= within("r", number("/bgnbd/r"), 0.243, 0.005, &mut lines);
    ok &= within("alpha", number("/bgnbd/alpha_days") / 7.0, 4.414, 0.005, &mut lines);
    ok &= within("a", number("/bgnbd/a"), 0.793, 0.005, &mut lines);
    ok &= within("b", number("/bgnbd/b"), 2.426, 0.005, &mut lines);
    ok &= within("p", number("/gamma_gamma/p"), 6.25, 0.005, &mut lines);
    ok &= within("q", number("/gamma_gamma/q"), 3.74, 0.005, &mut lines);
    ok &= within("v", number("/gamma_gamma/v"), 15.45, 0.005, &mut lines);
    lines.push(format!("  holdout: {}", report["holdout"]));
    println!("{}", lines.join("\n"));
    if !ok {
        return Err(format!("off the published estimates:\n{}", lines.join("\n")).into());
    }
    if report["customers"] != 2357 || report["written"] != 2357 || report["failed"] != 0 {
        return Err(format!("every customer gets the trait: {report}").into());
    }
    // The first customer's state holds the trait the engine reads as traits.predicted.*.
    let first = text.split_whitespace().nth(1).unwrap().to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let state = runtime.block_on(async {
        let db =
            waymark::server::storage::Db::connect(&db, 1, waymark::server::sqlite::Synchronous::Full).await.unwrap();
        let found = db.state_by_alias(&format!("cust:{first}")).await.unwrap();
        db.close().await;
        found
    });
    let Some((_, state)) = state else { return Err(format!("no state for customer {first}").into()) };
    let predicted = state.trait_value("predicted").cloned();
    let Some(waymark::value::Value::Object(fields)) = predicted else {
        return Err(format!("customer {first} has no predicted trait: {:?}", state.traits).into());
    };
    for key in ["p_alive", "p_no_order", "churn_risk"] {
        if !fields.contains_key(key) {
            return Err(format!("predicted.{key} missing: {fields:?}").into());
        }
    }
    Ok(Completion::Completed)
}

fn data_path() -> PathBuf {
    match std::env::var_os("WAYMARK_CDNOW") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join(format!("target/data/lifetimes-{LIFETIMES}/CDNOW_sample.txt")),
    }
}

/// The CDNOW transactions as orders (midnight UTC of their day), or why they are absent.
fn orders() -> Result<&'static [Order], String> {
    static ORDERS: OnceLock<Result<Vec<Order>, String>> = OnceLock::new();
    ORDERS
        .get_or_init(|| {
            let path = data_path();
            let text = std::fs::read_to_string(&path).map_err(|e| {
                format!(
                    "CDNOW_sample.txt not readable at {} ({e}): scripts/test.sh fetches it (ensure_cdnow in \
                     scripts/lib.sh), or set WAYMARK_CDNOW",
                    path.display()
                )
            })?;
            Ok(text.lines().filter(|l| !l.trim().is_empty()).map(parse_line).collect())
        })
        .as_ref()
        .map(Vec::as_slice)
        .map_err(Clone::clone)
}

fn parse_line(line: &str) -> Order {
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cols.len(), 5, "CDNOW line {line:?}");
    let customer: u32 = cols[1].parse().unwrap();
    let d = cols[2];
    let at = Timestamp::parse_rfc3339(&format!("{}-{}-{}T00:00:00Z", &d[..4], &d[4..6], &d[6..8])).unwrap();
    Order { shopper: customer.to_string(), at, value: cols[4].parse().unwrap(), items: Vec::new() }
}

fn now() -> Timestamp {
    // The end of the last calibration day: its orders count, and T is measured to it.
    Timestamp::parse_rfc3339(&format!("{END}T00:00:00Z")).unwrap().plus(waymark::time::Duration(DAY - 1))
}

/// The fit every test shares, and how long it took.
fn fitted() -> Result<&'static (Fitted, StdDuration), String> {
    static FITTED: OnceLock<Result<(Fitted, StdDuration), String>> = OnceLock::new();
    let orders = orders()?;
    FITTED
        .get_or_init(|| {
            let start = Instant::now();
            let fitted = predict::fit(orders, now(), &FitSettings::default()).map_err(|e| e.to_string())?;
            Ok((fitted, start.elapsed()))
        })
        .as_ref()
        .map_err(|e| format!("the fit failed: {e}"))
}

fn within(name: &str, ours: f64, published: f64, rel: f64, report: &mut Vec<String>) -> bool {
    let dev = (ours - published).abs() / published.abs();
    let ok = dev <= rel;
    report.push(format!(
        "  {name:<6} {ours:>12.6}  paper {published:>9}  {:>7.3} %{}",
        dev * 100.0,
        if ok { "" } else { "  <- off" }
    ));
    ok
}

fn bgnbd_published() -> Result<Completion, Failed> {
    let (fitted, took) = match fitted() {
        Ok(f) => f,
        Err(why) if orders().is_err() => return harness::absent(&why),
        Err(why) => return Err(why.into()),
    };
    let summary = &fitted.summary;
    assert_eq!(summary.customers.len(), 2357, "customers");
    assert_eq!(summary.customers.iter().filter(|c| c.repeat > 0).count(), 946, "repeat customers");
    let BgNbd { r, alpha, a, b } = fitted.bgnbd;
    let report = fitted.bgnbd_report;
    let mut lines = vec![format!(
        "BG/NBD on CDNOW ({} customers, {} distinct histories), fitted in {:.1} ms, {} L-BFGS iterations:",
        summary.customers.len(),
        report.patterns,
        took.as_secs_f64() * 1e3,
        report.iterations
    )];
    let mut ok = true;
    ok &= within("r", r, 0.243, 0.005, &mut lines);
    ok &= within("alpha", alpha, 4.414, 0.005, &mut lines);
    ok &= within("a", a, 0.793, 0.005, &mut lines);
    ok &= within("b", b, 2.426, 0.005, &mut lines);
    ok &= within("LL", report.log_likelihood, -9582.4, 0.005, &mut lines);
    // The published log-likelihood is given to 0.1.
    ok &= (report.log_likelihood - -9582.4).abs() < 0.05 + 1e-9;
    println!("{}", lines.join("\n"));
    if ok {
        Ok(Completion::Completed)
    } else {
        Err(format!("off the published estimates:\n{}", lines.join("\n")).into())
    }
}

fn gamma_gamma_published() -> Result<Completion, Failed> {
    let fitted = match fitted() {
        Ok((f, _)) => f,
        Err(why) if orders().is_err() => return harness::absent(&why),
        Err(why) => return Err(why.into()),
    };
    let (GammaGamma { p, q, v }, report) = fitted.gamma_gamma.clone().map_err(|e| e.to_string())?;
    assert_eq!(report.customers, 946);
    let mut lines = vec![format!(
        "Gamma-Gamma on CDNOW's {} repeat customers, {} L-BFGS iterations, log-likelihood {:.2}:",
        report.customers, report.iterations, report.log_likelihood
    )];
    let mut ok = true;
    ok &= within("p", p, 6.25, 0.005, &mut lines);
    ok &= within("q", q, 3.74, 0.005, &mut lines);
    ok &= within("v", v, 15.45, 0.005, &mut lines);
    println!("{}", lines.join("\n"));
    if ok {
        Ok(Completion::Completed)
    } else {
        Err(format!("off the published estimates:\n{}", lines.join("\n")).into())
    }
}

fn order_independent() -> Result<Completion, Failed> {
    let (fitted, orders) = match (fitted(), orders()) {
        (Ok((f, _)), Ok(o)) => (f, o),
        (_, Err(why)) => return harness::absent(&why),
        (Err(why), _) => return Err(why.into()),
    };
    let mut reversed = orders.to_vec();
    reversed.reverse();
    // Interleave: every other order to the end.
    let (even, odd): (Vec<_>, Vec<_>) = reversed.into_iter().enumerate().partition(|(n, _)| n % 2 == 0);
    let shuffled: Vec<Order> = even.into_iter().chain(odd).map(|(_, o)| o).collect();
    let again = predict::fit(&shuffled, now(), &FitSettings::default()).map_err(|e| e.to_string())?;
    let bits = |m: &BgNbd| [m.r, m.alpha, m.a, m.b].map(f64::to_bits);
    assert_eq!(bits(&again.bgnbd), bits(&fitted.bgnbd), "BG/NBD estimates differ with the input order");
    let (g1, g2) = (again.gamma_gamma.clone().unwrap().0, fitted.gamma_gamma.clone().unwrap().0);
    assert_eq!([g1.p, g1.q, g1.v].map(f64::to_bits), [g2.p, g2.q, g2.v].map(f64::to_bits));
    Ok(Completion::Completed)
}

fn python() -> String {
    std::env::var("WAYMARK_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn has_lifetimes(python: &str) -> Result<bool, String> {
    let check = format!("import lifetimes, sys; sys.exit(lifetimes.__version__ != '{LIFETIMES}')");
    let status = Command::new(python)
        .args(["-c", &check])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("{python} does not run ({e}): Python 3 is needed for the lifetimes reference"))?;
    Ok(status.success())
}

/// Python with lifetimes, installed from PyPI when missing (as scripts/lib.sh does).
fn ensure_lifetimes() -> Result<String, String> {
    let python = python();
    if has_lifetimes(&python)? {
        return Ok(python);
    }
    let package = format!("lifetimes=={LIFETIMES}");
    for extra in [&[][..], &["--break-system-packages"][..]] {
        let _ = Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--retries", "1", "--timeout", "20", &package])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if has_lifetimes(&python)? {
            return Ok(python);
        }
    }
    Err(format!("the Python package {package} is not installed for {python} and pip could not install it"))
}

/// The largest relative deviation seen for one quantity, and where.
#[derive(Default)]
struct Worst {
    rel: f64,
    customer: String,
    ours: f64,
    theirs: f64,
}

impl Worst {
    fn see(&mut self, customer: &str, ours: f64, theirs: f64) {
        let rel = (ours - theirs).abs() / theirs.abs().max(1e-12);
        if rel > self.rel || self.customer.is_empty() {
            *self = Worst { rel, customer: customer.to_owned(), ours, theirs };
        }
    }
}

fn against_lifetimes() -> Result<Completion, Failed> {
    let fitted = match fitted() {
        Ok((f, _)) => f,
        Err(why) if orders().is_err() => return harness::absent(&why),
        Err(why) => return Err(why.into()),
    };
    let python = match ensure_lifetimes() {
        Ok(p) => p,
        Err(why) => return harness::absent(&why),
    };
    let (gg, _) = fitted.gamma_gamma.clone().map_err(|e| e.to_string())?;
    let BgNbd { r, alpha, a, b } = fitted.bgnbd;
    let ours_json = format!(
        r#"{{"bgnbd": [{r:?}, {alpha:?}, {a:?}, {b:?}], "gamma_gamma": [{:?}, {:?}, {:?}]}}"#,
        gg.p, gg.q, gg.v
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/reference/lifetimes_cdnow.py");
    let out = Command::new(&python)
        .arg(script)
        .arg(data_path())
        .args([
            END.to_owned(),
            HORIZON_WEEKS.to_string(),
            MONTHS.to_string(),
            MONTH_WEEKS.to_string(),
            DISCOUNT.to_string(),
        ])
        .arg(&ours_json)
        .output()
        .map_err(|e| format!("{python} {script}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{script} failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    let reference: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let version = reference["lifetimes"].as_str().unwrap_or("?");
    let theirs_bgnbd = BgNbd {
        r: reference["bgnbd"]["r"].as_f64().unwrap(),
        alpha: reference["bgnbd"]["alpha"].as_f64().unwrap(),
        a: reference["bgnbd"]["a"].as_f64().unwrap(),
        b: reference["bgnbd"]["b"].as_f64().unwrap(),
    };
    let theirs_gg = GammaGamma {
        p: reference["gamma_gamma"]["p"].as_f64().unwrap(),
        q: reference["gamma_gamma"]["q"].as_f64().unwrap(),
        v: reference["gamma_gamma"]["v"].as_f64().unwrap(),
    };
    println!(
        "lifetimes {version}: BG/NBD r {:.6} alpha {:.6} a {:.6} b {:.6}; Gamma-Gamma p {:.6} q {:.6} v {:.6}",
        theirs_bgnbd.r, theirs_bgnbd.alpha, theirs_bgnbd.a, theirs_bgnbd.b, theirs_gg.p, theirs_gg.q, theirs_gg.v
    );
    println!(
        "waymark:         BG/NBD r {:.6} alpha {:.6} a {:.6} b {:.6}; Gamma-Gamma p {:.6} q {:.6} v {:.6}",
        r, alpha, a, b, gg.p, gg.q, gg.v
    );
    let customers = reference["customers"].as_object().unwrap();
    assert_eq!(customers.len(), fitted.summary.customers.len(), "lifetimes summarized a different customer count");

    let unit_days = fitted.unit_days();
    let names = ["p_alive", "expected", "spend", "clv"];
    let mut same: Vec<Worst> = names.iter().map(|_| Worst::default()).collect();
    let mut own: Vec<Worst> = names.iter().map(|_| Worst::default()).collect();
    let mut failures = Vec::new();
    for customer in &fitted.summary.customers {
        let Some(theirs) = customers.get(&customer.shopper) else {
            failures.push(format!("{}: not in lifetimes' summary", customer.shopper));
            continue;
        };
        let h = customer.history(fitted.summary.now_day, unit_days);
        let f = |k: &str| theirs[k].as_f64().unwrap();
        // The summary: same conventions, same numbers.
        if u64::from(h.x) != theirs["frequency"].as_u64().unwrap()
            || (h.t_x - f("recency")).abs() > 1e-9
            || (h.t - f("T")).abs() > 1e-9
            || (customer.repeat_spend - f("monetary_value")).abs() > 1e-9
        {
            failures.push(format!(
                "{}: summary x {} t_x {} T {} m {} vs lifetimes {}",
                customer.shopper, h.x, h.t_x, h.t, customer.repeat_spend, theirs
            ));
            continue;
        }
        let predict = |m: &BgNbd, g: &GammaGamma| {
            [
                m.p_alive(&h),
                m.expected_purchases(&h, HORIZON_WEEKS).unwrap(),
                g.expected_spend(h.x, customer.repeat_spend),
                g.clv(m, &h, customer.repeat_spend, MONTHS, MONTH_WEEKS, DISCOUNT).unwrap(),
            ]
        };
        let at_ours = predict(&fitted.bgnbd, &gg);
        for (i, name) in names.iter().enumerate() {
            let at_given = theirs["at_given"][name].as_f64().unwrap();
            same[i].see(&customer.shopper, at_ours[i], at_given);
            own[i].see(&customer.shopper, at_ours[i], f(name));
        }
    }
    let mut lines = vec![format!(
        "{} customers vs lifetimes {version}: largest relative deviation (at our parameters / each side's own fit):",
        customers.len()
    )];
    for (i, name) in names.iter().enumerate() {
        let (s, o) = (&same[i], &own[i]);
        lines.push(format!(
            "  {name:<8} {:.2e} (customer {}: {} vs {})   /   {:.2e} (customer {}: {} vs {})",
            s.rel, s.customer, s.ours, s.theirs, o.rel, o.customer, o.ours, o.theirs
        ));
        if s.rel > SAME_PARAMS {
            failures.push(format!("{name} at the same parameters: {:.3e} > {SAME_PARAMS:e}", s.rel));
        }
        if o.rel > OWN_FITS {
            failures.push(format!("{name} at each side's own fit: {:.3e} > {OWN_FITS:e}", o.rel));
        }
    }
    println!("{}", lines.join("\n"));
    if failures.is_empty() {
        Ok(Completion::Completed)
    } else {
        let shown: Vec<&str> = failures.iter().take(20).map(String::as_str).collect();
        Err(format!("{} failures (first 20):\n{}", failures.len(), shown.join("\n")).into())
    }
}
