//! The backend (feature `server`, `waymark serve`): where browser and edge copies of a
//! shopper's state meet, timers fire after the shopper left, and email / SMS / push go
//! out or are suppressed. A thin adapter around the pure engine:
//!
//! - `app` — the HTTP API (`fn app(state) -> Router`), `error` — its error type,
//!   `auth` — shopper tokens and the admin token, `cors` — which browser origins may
//!   call the shopper routes, `limit` — the per-shopper rate limit of the sync routes,
//!   `openapi` — the API document;
//! - `sync` — the group-commit writer every state change goes through, `link` — its
//!   connection during a batch (a transaction only when the batch needs one);
//! - `storage` — SQLite / Postgres through sqlx, migrations, the shopper key scheme;
//!   `sqlite` — SQLite's connection settings (durability) and WAL checkpointer;
//! - `scheduler` — due timers → `Engine::tick` → outbox, in one transaction;
//! - `outbox` + `delivery` — claim, recheck, deliver (SMTP, webhooks), retry;
//! - `journeys` — the published bundle; `analytics`, `metrics`; `config`, `clock`;
//! - `inspect` — one shopper's timers and outbox rows (`GET /v1/shoppers/{id}`);
//! - `catalog` — the product catalog: feed import (`PUT` / `PATCH /v1/catalog`, `waymark
//!   catalog import`), price and availability history, lookups, the changes an import made.
//! - `recommend` — item-to-item neighbours, popular and trending items, personal blends and
//!   catalog search, pure functions over rows the storage hands in.
//! - `mix` — the learned best mix: sends and split assignments counted with their
//!   conversions, Beta posteriors, learned values and adaptive split shares published
//!   into the bundle (`waymark fit mix`, on a schedule).
//! - `predict` — purchase-history models (BG/NBD, Gamma-Gamma): P(alive), churn risk,
//!   expected next order, lifetime value, repurchase intervals; pure functions over orders.

pub mod analytics;
pub mod app;
pub mod auth;
pub mod catalog;
pub mod clock;
pub mod config;
pub mod cors;
pub mod delivery;
pub mod error;
pub mod fit_cli;
pub mod forecast;
pub mod inspect;
pub mod intent_fit;
pub mod intent_sessions;
pub mod interest_index;
pub mod journeys;
pub mod limit;
pub mod link;
pub mod metrics;
pub mod mix;
pub mod openapi;
pub mod orders;
pub mod outbox;
pub mod predict;
pub mod recommend;
pub mod scheduler;
pub mod sqlite;
pub mod storage;
pub mod sync;
pub mod trigger_jobs;
pub mod triggers;

use std::path::PathBuf;

use tokio::sync::watch;

use self::app::{AppState, Inner};
use self::clock::Clock;
use self::config::{ServeArgs, Settings};
use self::delivery::Delivery;
use self::journeys::Journeys;
use self::limit::ShopperLimit;
use self::metrics::Metrics;
use self::outbox::Outbox;
use self::scheduler::Scheduler;
use self::storage::Db;
use self::sync::{Writer, WriterContext};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Bad settings.
    #[error("configuration: {0}")]
    Config(String),
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Storage(#[from] storage::StorageError),
    /// The metrics registry refused a metric.
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// A delivery adapter could not be built.
    #[error("delivery: {0}")]
    Delivery(#[from] delivery::DeliveryError),
    /// The journeys given at start do not validate.
    #[error("journeys: {0}")]
    Journeys(String),
    /// The listener failed.
    #[error("listen: {0}")]
    Io(#[from] std::io::Error),
}

/// A running server: its shared state, its background parts, and the shutdown switch.
#[derive(Debug)]
pub struct Server {
    /// What handlers share.
    pub state: AppState,
    /// Due timers.
    pub scheduler: Scheduler,
    /// Delivery.
    pub outbox: Outbox,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Server {
    /// Connects and migrates the database, loads the newest bundle, starts the writer and
    /// (when `settings.background`) the scheduler and outbox loops.
    pub async fn start(settings: Settings, clock: Clock) -> Result<Server, StartError> {
        settings.validate().map_err(StartError::Config)?;
        let db = Db::connect(&settings.db, settings.db_connections, settings.sqlite_synchronous).await?;
        let journeys = Journeys::new();
        journeys.refresh(&db).await?;
        let metrics = Metrics::new()?;
        let delivery = Delivery::new(&settings.delivery)?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let ctx = WriterContext {
            db: db.clone(),
            journeys: journeys.clone(),
            clock: clock.clone(),
            metrics: metrics.clone(),
            batch_max: settings.batch_max,
        };
        let (writer, writer_task) = Writer::spawn(ctx, shutdown_rx.clone());
        let scheduler =
            Scheduler { db: db.clone(), journeys: journeys.clone(), clock: clock.clone(), metrics: metrics.clone() };
        let recommender = std::sync::Arc::new(recommend::service::Recommender::default());
        let outbox = Outbox {
            db: db.clone(),
            journeys: journeys.clone(),
            delivery,
            settings: settings.delivery.clone(),
            clock: clock.clone(),
            metrics: metrics.clone(),
            replica: outbox::replica_id().into(),
            recommender: std::sync::Arc::clone(&recommender),
        };
        let mut tasks = vec![writer_task];
        // Always, background or not: the limiter's memory must stay bounded in every server.
        let limit = ShopperLimit::new(settings.shopper_rate);
        tasks.push(tokio::spawn(limit.clone().run_pruner(
            limit::PRUNE_EVERY,
            metrics.rate_limited_shoppers.clone(),
            shutdown_rx.clone(),
        )));
        if settings.background {
            tasks.push(tokio::spawn(scheduler.clone().run(settings.poll, shutdown_rx.clone())));
            tasks.push(tokio::spawn(trigger_jobs::run_loop(
                db.clone(),
                writer.clone(),
                clock.clone(),
                settings.poll,
                shutdown_rx.clone(),
            )));
            if !settings.fit_every.is_zero() {
                tasks.push(tokio::spawn(forecast::run_loop(
                    db.clone(),
                    writer.clone(),
                    clock.clone(),
                    settings.fit_every,
                    shutdown_rx.clone(),
                )));
            }
            if !settings.fit_intent_every.is_zero() {
                tasks.push(tokio::spawn(intent_fit::run_loop(
                    db.clone(),
                    journeys.clone(),
                    clock.clone(),
                    settings.fit_intent_every,
                    shutdown_rx.clone(),
                )));
            }
            if !settings.mix_every.is_zero() {
                tasks.push(tokio::spawn(mix::job::run_loop(
                    db.clone(),
                    journeys.clone(),
                    clock.clone(),
                    settings.mix_every,
                    shutdown_rx.clone(),
                )));
            }
            tasks.push(tokio::spawn(outbox.clone().run(settings.poll, shutdown_rx)));
        }
        let state = AppState::new(Inner { settings, db, journeys, writer, clock, metrics, limit, recommender });
        Ok(Server { state, scheduler, outbox, shutdown, tasks })
    }

    /// The router over this server's state.
    pub fn router(&self) -> axum::Router {
        app::app(self.state.clone())
    }

    /// Compiles journey files and publishes them when they differ from the published bundle.
    pub async fn publish_paths(&self, paths: &[PathBuf]) -> Result<i64, StartError> {
        let inner = self.state.inner();
        let bundle =
            crate::journey::diagnostics::compile_paths(paths, &crate::journey::tzdb::Tzdb).map_err(|errors| {
                StartError::Journeys(errors.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"))
            })?;
        let published = inner
            .journeys
            .publish(&inner.db, bundle, inner.clock.now())
            .await
            .map_err(|e| StartError::Journeys(e.to_string()))?;
        Ok(published.version)
    }

    /// Stops background loops, lets the writer commit every accepted job, closes the pools.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        self.state.inner().db.close().await;
    }
}

/// `waymark serve`: logs, start, listen, serve until Ctrl-C / SIGTERM, then shut down
/// gracefully (in-flight requests finish, accepted writes commit).
pub async fn serve(args: &ServeArgs) -> Result<(), StartError> {
    init_logs(args.log_json);
    let settings = Settings::try_from(args).map_err(StartError::Config)?;
    let server = Server::start(settings, Clock::System).await?;
    if !args.journeys.is_empty() {
        let version = server.publish_paths(&args.journeys).await?;
        tracing::info!(version, "journeys from --journeys published");
    }
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    tracing::info!(listen = %args.listen, db = %redact(&args.db), replica = %server.outbox.replica, "waymark serving");
    axum::serve(listener, server.router()).with_graceful_shutdown(signal()).await?;
    tracing::info!("draining: finishing accepted writes");
    server.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

fn init_logs(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}

/// A database URL without its password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

async fn signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutdown signal received");
}
