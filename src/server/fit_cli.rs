//! `waymark fit orders [--db URL] [--dry-run] [--now RFC3339]`: fits the purchase-history
//! models on the order history of the database `waymark serve` uses, prints the
//! parameters, log-likelihoods and the holdout check as JSON on stdout, and writes each
//! customer's `predicted` trait (not with `--dry-run`). Exits 1 when nothing could be
//! fitted (the reason and its code are in the output) or the database failed.
//!
//! `waymark fit intent [--db URL] [--dry-run] [--now RFC3339] [--l2 X] [--export FILE]`:
//! fits the intent model on the recorded sessions, prints the fitted weights and the
//! held-out AUC and log-loss next to the running model's and the shipped defaults', and
//! publishes a bundle carrying the weights when they beat the running ones (not with
//! `--dry-run`). Exits 1 when nothing was fitted; a fit that is no better exits 0.
//!
//! `waymark fit mix [--db URL] [--dry-run] [--now RFC3339]`: the learned best mix
//! ([`super::mix::job`]), printed as JSON and published unless `--dry-run`.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use tokio::sync::watch;

use super::clock::Clock;
use super::config::{DEFAULT_BATCH_MAX, DEFAULT_DB};
use super::forecast;
use super::intent_fit::{self, IntentFitSettings};
use super::journeys::Journeys;
use super::metrics::Metrics;
use super::predict::FitSettings;
use super::sqlite::Synchronous;
use super::storage::Db;
use super::sync::{Writer, WriterContext};
use crate::time::Timestamp;

/// `waymark fit …`.
#[derive(Debug, Clone, Args)]
pub struct FitArgs {
    /// What to fit.
    #[command(subcommand)]
    pub command: FitCommand,
}

/// The models.
#[derive(Debug, Clone, Subcommand)]
pub enum FitCommand {
    /// The purchase-history models (BG/NBD, Gamma-Gamma) on the order history.
    #[command(after_help = "Examples:\n  \
        waymark fit orders --dry-run\n  \
        waymark fit orders --db postgres://waymark@db/waymark\n\n\
        Prints {orders, customers, bgnbd, gamma_gamma, holdout, written, ...} as JSON. Without enough data\n\
        (500 customers with orders, 180 days of history, customers with 3+ orders) nothing is written.")]
    Orders(OrdersArgs),
    /// The intent model's weights on the recorded sessions (logistic regression, L2).
    #[command(after_help = "Examples:\n  \
        waymark fit intent --dry-run\n  \
        waymark fit intent --l2 0.5 --export sessions.csv\n\n\
        Prints {sessions, fitted_on, held_out, model, evaluation: {fitted, running, defaults}, published,\n\
        verdict, code} as JSON. Needs 1,000 finished sessions, 50 converted among the older 80 % and 10\n\
        among the newest 20 % (held out); publishes only a model that beats the running one on both the\n\
        held-out AUC and log-loss.")]
    Intent(IntentArgs),
    /// The learned best mix: per-send conversion rates and adaptive split shares from the
    /// counted sends, split assignments and conversions, published into the bundle.
    #[command(after_help = "Examples:\n  \
        waymark fit mix --dry-run\n  \
        waymark fit mix --db postgres://waymark@db/waymark\n\n\
        Prints {counts, open, fit: {prior_rate, sends, splits}, changed, published_version} as JSON.")]
    Mix(MixArgs),
}

/// Flags of `waymark fit mix`.
#[derive(Debug, Clone, Args)]
pub struct MixArgs {
    /// Database URL, as `waymark serve --db`.
    #[arg(long, env = "WAYMARK_DB", default_value = DEFAULT_DB)]
    pub db: String,
    /// Fit and print, publish nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The time to fit at (RFC 3339); now by default.
    #[arg(long, value_parser = parse_time)]
    pub now: Option<Timestamp>,
}

/// Flags of `waymark fit intent`.
#[derive(Debug, Clone, Args)]
pub struct IntentArgs {
    /// Database URL, as `waymark serve --db`.
    #[arg(long, env = "WAYMARK_DB", default_value = DEFAULT_DB)]
    pub db: String,
    /// Fit and print, publish nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The time to fit at (RFC 3339); now by default.
    #[arg(long, value_parser = parse_time)]
    pub now: Option<Timestamp>,
    /// The L2 penalty on the weights (scikit-learn's C is 1 / this).
    #[arg(long, default_value_t = 1.0)]
    pub l2: f64,
    /// Also write the sessions as CSV (part, session_start, converted, one column a feature).
    #[arg(long)]
    pub export: Option<std::path::PathBuf>,
}

/// Flags of `waymark fit orders`.
#[derive(Debug, Clone, Args)]
pub struct OrdersArgs {
    /// Database URL, as `waymark serve --db`.
    #[arg(long, env = "WAYMARK_DB", default_value = DEFAULT_DB)]
    pub db: String,
    /// Fit and print, write no trait.
    #[arg(long)]
    pub dry_run: bool,
    /// The time to fit at (RFC 3339); now by default.
    #[arg(long, value_parser = parse_time)]
    pub now: Option<Timestamp>,
}

fn parse_time(text: &str) -> Result<Timestamp, String> {
    Timestamp::parse_rfc3339(text).map_err(|e| format!("{text:?}: {e}: an RFC 3339 time such as 2026-01-31T00:00:00Z"))
}

/// Runs a fit subcommand.
pub fn run(args: &FitArgs) -> ExitCode {
    match &args.command {
        FitCommand::Orders(orders) => run_orders(orders),
        FitCommand::Intent(intent) => run_intent(intent),
        FitCommand::Mix(mix) => super::mix::job::run_cli(&mix.db, mix.dry_run, mix.now),
    }
}

fn run_intent(args: &IntentArgs) -> ExitCode {
    let settings = IntentFitSettings { l2: args.l2, ..IntentFitSettings::default() };
    let result = with_runtime(|| async {
        let db = Db::connect(&args.db, 2, Synchronous::Full).await.map_err(|e| e.to_string())?;
        let journeys = Journeys::new();
        journeys.refresh(&db).await.map_err(|e| e.to_string())?;
        let now = args.now.unwrap_or_else(|| Clock::System.now());
        let report = intent_fit::run(&db, &journeys, !args.dry_run, &settings, now, args.export.as_deref()).await;
        db.close().await;
        report.map_err(|e| e.to_string())
    });
    match result {
        Ok(report) => {
            println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
            if report.model.is_none() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(message) => {
            eprintln!("error[fit_failed]: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `work` on a small runtime; an error building it is returned as text.
fn with_runtime<F, Fut, T>(work: F) -> Result<T, String>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    runtime.block_on(work())
}

fn run_orders(args: &OrdersArgs) -> ExitCode {
    let fail = |code: &str, message: &dyn std::fmt::Display| {
        eprintln!("error[{code}]: {message}");
        ExitCode::FAILURE
    };
    let result = with_runtime(|| async {
        let db = Db::connect(&args.db, 2, Synchronous::Full).await.map_err(|e| e.to_string())?;
        let now = args.now.unwrap_or_else(|| Clock::System.now());
        let report = if args.dry_run {
            forecast::run(&db, None, &FitSettings::default(), now).await
        } else {
            let (shutdown, shutdown_rx) = watch::channel(false);
            let journeys = Journeys::new();
            journeys.refresh(&db).await.map_err(|e| e.to_string())?;
            let metrics = Metrics::new().map_err(|e| e.to_string())?;
            let ctx =
                WriterContext { db: db.clone(), journeys, clock: Clock::System, metrics, batch_max: DEFAULT_BATCH_MAX };
            let (writer, task) = Writer::spawn(ctx, shutdown_rx);
            let report = forecast::run(&db, Some(&writer), &FitSettings::default(), now).await;
            let _ = shutdown.send(true);
            drop(writer);
            let _ = task.await;
            report
        };
        db.close().await;
        report.map_err(|e| e.to_string())
    });
    match result {
        Ok(report) => {
            println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
            if report.not_fitted.is_some() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(message) => fail("storage_error", &message),
    }
}
