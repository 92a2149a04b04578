//! `--mode soak`: the server under steady load for `--minutes`. A closed loop of
//! `--seconds` finds the maximum sync throughput; then an open loop runs at half of it,
//! one minute at a time, and after each minute prints the server's resident memory
//! (`VmRSS` of `/proc/PID/status`), the client's p99 latency of that minute, and the
//! server's own p99 bound of the same syncs from its `/metrics`.
//!
//! Drift is flagged when the last minute's memory exceeds the first minute's by more than
//! 25% and 16 MiB, or the last minute's client p99 exceeds twice the first's and 5 ms more
//! (the first minute is the baseline: caches and pools have filled by its end).

use std::time::Duration;

use crate::load::{self, percentile, Target};
use crate::scrape::ServerTimes;
use crate::server::ServerProcess;

/// One minute of the soak.
pub struct Minute {
    /// Syncs answered.
    pub syncs: usize,
    /// Failed syncs.
    pub errors: u64,
    /// Client p99, ms.
    pub p99_ms: f64,
    /// Server p99 bucket bound, ms.
    pub server_p99_le_ms: f64,
    /// Server RSS at the end of the minute, MiB.
    pub rss_mib: f64,
}

/// The soak's figures.
pub struct Soak {
    /// Closed-loop maximum, syncs/s.
    pub max_rate: f64,
    /// Rate held, syncs/s.
    pub rate: f64,
    /// Per minute.
    pub minutes: Vec<Minute>,
    /// Drift found (empty when flat).
    pub drift: Vec<String>,
}

/// Runs the soak against `server`.
pub async fn run(
    server: &ServerProcess,
    target: &Target,
    concurrency: usize,
    probe_seconds: f64,
    minutes: usize,
    max_in_flight: usize,
) -> Soak {
    load::warm_up(target, concurrency).await;
    let closed = load::closed_loop(target, concurrency, probe_seconds).await;
    let rate = (closed.rate / 2.0).max(1.0);
    eprintln!("soak: maximum {:.0} syncs/s; holding {rate:.0}/s for {minutes} min", closed.rate);
    eprintln!("{:>6} {:>8} {:>6} {:>9} {:>12} {:>9}", "minute", "syncs", "errors", "p99 ms", "srv p99<=ms", "RSS MiB");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut out = Vec::new();
    for m in 1..=minutes {
        let before = ServerTimes::read(&target.client, &server.base).await;
        let r = load::open_loop(target, rate, 60.0, max_in_flight).await;
        let times = ServerTimes::read(&target.client, &server.base).await.since(&before);
        let minute = Minute {
            syncs: r.latencies.len(),
            errors: r.errors,
            p99_ms: percentile(&r.latencies, 0.99),
            server_p99_le_ms: times.sync.quantile_bound_ms(0.99),
            rss_mib: server.rss_kib() as f64 / 1024.0,
        };
        eprintln!(
            "{m:>6} {:>8} {:>6} {:>9.2} {:>12.1} {:>9.1}",
            minute.syncs, minute.errors, minute.p99_ms, minute.server_p99_le_ms, minute.rss_mib
        );
        out.push(minute);
    }
    let drift = drift(&out);
    Soak { max_rate: closed.rate, rate, minutes: out, drift }
}

/// The drift rules of the module comment.
pub fn drift(minutes: &[Minute]) -> Vec<String> {
    let (Some(first), Some(last)) = (minutes.first(), minutes.last()) else { return Vec::new() };
    let mut found = Vec::new();
    if last.rss_mib > first.rss_mib * 1.25 && last.rss_mib > first.rss_mib + 16.0 {
        found.push(format!("memory grew from {:.1} to {:.1} MiB", first.rss_mib, last.rss_mib));
    }
    if last.p99_ms > first.p99_ms * 2.0 && last.p99_ms > first.p99_ms + 5.0 {
        found.push(format!("p99 rose from {:.2} to {:.2} ms", first.p99_ms, last.p99_ms));
    }
    if minutes.iter().any(|m| m.errors > 0) {
        found.push(format!("{} failed syncs", minutes.iter().map(|m| m.errors).sum::<u64>()));
    }
    found
}
