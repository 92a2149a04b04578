//! Prometheus metrics, one registry per server instance (tests run several side by side):
//! syncs by outcome (`rate_limited` among them), decisions by action and reason, sends by
//! channel and outcome, queue depths, shoppers the rate limit remembers, request latency
//! by route and group-commit batch sizes. `GET /metrics` renders them.

use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

use crate::decision::Decision;

/// The metrics of one server.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Syncs by outcome (ok | error code).
    pub syncs: IntCounterVec,
    /// Server-side events by outcome (accepted | duplicate).
    pub events: IntCounterVec,
    /// Engine decisions taken on the server, by action and main reason.
    pub decisions: IntCounterVec,
    /// Deliveries by channel and outcome (sent | suppressed | retry | failed).
    pub sends: IntCounterVec,
    /// Shoppers with a due timer.
    pub due_timers: IntGauge,
    /// Outbox rows not yet delivered.
    pub outbox_depth: IntGauge,
    /// Shoppers the sync rate limit remembers (after its last prune).
    pub rate_limited_shoppers: IntGauge,
    /// HTTP latency by route and status class.
    pub http_seconds: HistogramVec,
    /// Jobs per group commit and commit latency.
    pub batch_size: HistogramVec,
    /// Time from a sync's arrival at the writer to its commit.
    pub commit_seconds: HistogramVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec, prometheus::Error> {
            let c = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let syncs = counter("waymark_syncs_total", "State syncs by outcome", &["outcome"])?;
        let events = counter("waymark_events_total", "Server-side events by outcome", &["outcome"])?;
        let decisions =
            counter("waymark_decisions_total", "Engine decisions by action and reason", &["action", "reason"])?;
        let sends = counter("waymark_sends_total", "Deliveries by channel and outcome", &["channel", "outcome"])?;
        let due_timers = IntGauge::new("waymark_due_timers", "Shoppers whose timer is due")?;
        registry.register(Box::new(due_timers.clone()))?;
        let outbox_depth = IntGauge::new("waymark_outbox_depth", "Outbox rows pending delivery")?;
        registry.register(Box::new(outbox_depth.clone()))?;
        let rate_limited_shoppers = IntGauge::new(
            "waymark_rate_limit_shoppers",
            "Shoppers the sync rate limit remembers (after its last prune)",
        )?;
        registry.register(Box::new(rate_limited_shoppers.clone()))?;
        let buckets = vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];
        let http_seconds = HistogramVec::new(
            HistogramOpts::new("waymark_http_request_duration_seconds", "HTTP request latency")
                .buckets(buckets.clone()),
            &["route", "status"],
        )?;
        registry.register(Box::new(http_seconds.clone()))?;
        let batch_size = HistogramVec::new(
            HistogramOpts::new("waymark_commit_batch_size", "Jobs per group commit")
                .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0]),
            &["kind"],
        )?;
        registry.register(Box::new(batch_size.clone()))?;
        let commit_seconds = HistogramVec::new(
            HistogramOpts::new("waymark_commit_duration_seconds", "Group commit latency").buckets(buckets),
            &["kind"],
        )?;
        registry.register(Box::new(commit_seconds.clone()))?;
        Ok(Metrics {
            registry,
            syncs,
            events,
            decisions,
            sends,
            due_timers,
            outbox_depth,
            rate_limited_shoppers,
            http_seconds,
            batch_size,
            commit_seconds,
        })
    }

    /// Counts decisions by action and main reason.
    pub fn count_decisions(&self, decisions: &[Decision]) {
        for d in decisions {
            self.decisions.with_label_values(&[d.action.as_str(), d.reason()]).inc();
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if TextEncoder::new().encode(&self.registry.gather(), &mut out).is_err() {
            return String::new();
        }
        String::from_utf8(out).unwrap_or_default()
    }
}
