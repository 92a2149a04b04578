//! Load generator for `POST /v1/sync` (run by bench/load-sync.sh; loopback only, bounded
//! in time). Starts the real server — `waymark serve`, by default the `waymark` binary
//! next to this example's directory — as a child process on a loopback port, so client
//! and server share only the machine's cores, never a runtime or a process. The client is
//! light: one thread (a current-thread runtime; `--client-threads N` for more) and one
//! keep-alive HTTP client. Then:
//! 1. closed loop: `--concurrency` clients sync as fast as they can for `--seconds`;
//! 2. open loop for `--seconds` at half the goal throughput (`--goal`, default 10000/s on
//!    SQLite, 5000/s on Postgres: "p99 ≤ 10 ms at half that load"), then at half the
//!    throughput the closed loop measured: p50 / p99 latency of each, the client's stalls
//!    (see `probe`), the CPU share of client and server, and the server's own timing of
//!    the same syncs from its `/metrics` (see `scrape`);
//! 3. the server stops (SIGTERM, graceful), and the ceiling: a raw single-row upsert loop
//!    (one statement, autocommit) on the same database for `--seconds`, from this process.
//!
//! Other modes (`--mode`), for scripts/crash.sh and scripts/soak.sh:
//! - `crash-sync`: kill -9 under sync load and check every acknowledged sync (`crash_sync`);
//! - `crash-mail`: kill -9 during email delivery, count lost and duplicate emails and the
//!   lease recovery time (`crash_mail`; `--replicas 2` on Postgres: the survivor delivers);
//! - `soak`: half the maximum throughput for `--minutes`, memory and p99 per minute (`soak`).
//!
//! And for bench/catalog.sh, `catalog`: a price drop's fan-out to `--shoppers`, the
//! recommender's refresh from storage (`--items` × `--interactions`) and
//! `GET /v1/recommendations` at `--rate` for `--seconds` (`catalog`).
//!
//! `--sqlite-synchronous normal` runs SQLite with `synchronous = NORMAL` instead of the
//! default FULL. The server logs to stderr by `RUST_LOG` (e.g.
//! `waymark::server::sync=debug` for each batch's size and phases). Prints one JSON line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod catalog;
mod crash_mail;
mod crash_sync;
mod load;
mod probe;
mod raw;
mod scrape;
mod server;
mod soak;
mod usage;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use waymark::server::sqlite::Synchronous;

use load::{percentile, OpenLoop, Target};
use scrape::ServerTimes;
use server::{Launch, ServerProcess};

const ADMIN: &str = "load-admin-token-0123456789";
const SECRET: &str = "load-token-secret-0123456789";

/// Pause between phases: the server's queues drain and a WAL checkpoint runs.
const SETTLE: Duration = Duration::from_millis(500);

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn arg_or(name: &str, default: &str) -> String {
    arg(name).unwrap_or_else(|| default.to_owned())
}

/// `waymark` in the profile directory this example was built into (`…/fast/examples/load_sync`
/// → `…/fast/waymark`).
fn default_server_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(|examples| examples.parent()).unwrap().join("waymark")
}

fn ms(d: f64) -> f64 {
    (d * 100.0).round() / 100.0
}

/// CPU seconds of client and server, and the machine's CPU pressure, at a point in time:
/// to share out per phase.
struct CpuMark {
    at: Instant,
    client: f64,
    server: f64,
    pressure: f64,
}

/// Per phase: cores busy in the client and in the server (1.0 = one core), and the share of
/// the time some task on the machine waited for a core.
struct CpuShares {
    client: f64,
    server: f64,
    pressure: f64,
}

impl CpuMark {
    fn now(server: &ServerProcess) -> CpuMark {
        CpuMark {
            at: Instant::now(),
            client: usage::own_cpu_seconds(),
            server: server.cpu_seconds(),
            pressure: usage::cpu_pressure_seconds(),
        }
    }

    fn shares(&self, server: &ServerProcess) -> CpuShares {
        let wall = self.at.elapsed().as_secs_f64().max(1e-9);
        let share = |x: f64| ((x / wall) * 100.0).round() / 100.0;
        CpuShares {
            client: share(usage::own_cpu_seconds() - self.client),
            server: share(server.cpu_seconds() - self.server),
            pressure: share(usage::cpu_pressure_seconds() - self.pressure),
        }
    }
}

fn open_loop_json(label: &str, r: &OpenLoop, cpu: &CpuShares, server: &ServerTimes) -> serde_json::Value {
    let share = |x: f64| (x * 10_000.0).round() / 10_000.0;
    serde_json::json!({
        "label": label,
        "rate_target": r.target.round(),
        "rate_achieved": r.achieved.round(),
        "errors": r.errors,
        "p50_ms": ms(percentile(&r.latencies, 0.50)),
        "p99_ms": ms(percentile(&r.latencies, 0.99)),
        "p999_ms": ms(percentile(&r.latencies, 0.999)),
        "max_ms": ms(r.latencies.last().copied().unwrap_or(0.0)),
        "client_stall_max_ms": (r.stalls.runtime_max.as_secs_f64() * 10_000.0).round() / 10.0,
        "client_stalls_over_5ms": r.stalls.runtime_count,
        "os_thread_stall_max_ms": (r.stalls.os_thread_max.as_secs_f64() * 10_000.0).round() / 10.0,
        "client_cpu": cpu.client,
        "server_cpu": cpu.server,
        "cpu_pressure": cpu.pressure,
        "server_syncs": server.sync.count(),
        "server_p99_le_ms": server.sync.quantile_bound_ms(0.99),
        "server_over_10ms": share(server.sync.share_over_ms(10.0)),
        "commit_p99_le_ms": server.commit.quantile_bound_ms(0.99),
        "commit_over_10ms": share(server.commit.share_over_ms(10.0)),
    })
}

fn main() {
    let threads: usize = arg_or("--client-threads", "1").parse().unwrap();
    let runtime = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build().unwrap()
    };
    runtime.block_on(run(threads.max(1)));
}

async fn run(threads: usize) {
    let db = arg_or("--db", "sqlite:///tmp/waymark-load.db");
    let postgres = db.starts_with("postgres");
    let seconds: f64 = arg_or("--seconds", "5").parse().unwrap();
    let concurrency: usize = arg_or("--concurrency", "64").parse().unwrap();
    let n: usize = arg_or("--shoppers", "10000").parse().unwrap();
    let goal: f64 = arg_or("--goal", if postgres { "5000" } else { "10000" }).parse().unwrap();
    let max_in_flight: usize = arg("--max-in-flight").map_or(4 * concurrency, |v| v.parse().unwrap());
    let sync_name = arg_or("--sqlite-synchronous", "full");
    let synchronous = if sync_name == "normal" { Synchronous::Normal } else { Synchronous::Full };
    let bin = arg("--server-bin").map_or_else(default_server_bin, PathBuf::from);
    let mode = arg_or("--mode", "bench");
    let log = arg("--server-log").map(PathBuf::from);
    match mode.as_str() {
        "bench" => {}
        "crash-sync" => {
            let launch = Launch {
                bin: &bin,
                db: &db,
                sqlite_synchronous: &sync_name,
                admin_token: ADMIN,
                token_secret: SECRET,
                extra: Vec::new(),
                env: Vec::new(),
                log,
            };
            let runs: usize = arg_or("--runs", "2").parse().unwrap();
            let r = crash_sync::run(&launch, SECRET, n, concurrency, runs, seconds).await;
            println!(
                "{}",
                serde_json::json!({ "mode": mode, "db": if postgres { "postgres".to_owned() } else { format!("sqlite ({sync_name})") },
                    "runs": r.runs, "acknowledged": r.acknowledged, "lost": r.lost, "failed": r.failed })
            );
            return;
        }
        "crash-mail" => {
            let replicas: usize = arg_or("--replicas", "1").parse().unwrap();
            let messages: usize = arg_or("--messages", "300").parse().unwrap();
            let delay: u64 = arg_or("--smtp-delay-ms", "10").parse().unwrap();
            let work = tempfile::tempdir().unwrap();
            let script = arg("--sink").map_or_else(
                || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_sink.py"),
                PathBuf::from,
            );
            let python = std::env::var("WAYMARK_PYTHON").unwrap_or_else(|_| "python3".into());
            let sink = crash_mail::Sink::start(&python, &script, work.path().join("mail.jsonl"), delay);
            let journeys = work.path().join("crash_mail.json");
            std::fs::write(&journeys, crash_mail::JOURNEY).unwrap();
            let extra = vec![
                "--smtp-url".to_owned(),
                sink.url.clone(),
                "--journeys".to_owned(),
                journeys.display().to_string(),
                "--poll-ms".to_owned(),
                arg_or("--poll-ms", "200"),
            ];
            let launches: Vec<Launch> = (0..replicas.max(1))
                .map(|i| Launch {
                    bin: &bin,
                    db: &db,
                    sqlite_synchronous: &sync_name,
                    admin_token: ADMIN,
                    token_secret: SECRET,
                    extra: extra.clone(),
                    env: Vec::new(),
                    log: log.as_ref().map(|l| PathBuf::from(format!("{}.{i}", l.display()))),
                })
                .collect();
            let r = crash_mail::run(&launches, &db, &sink, ADMIN, messages).await;
            println!(
                "{}",
                serde_json::json!({ "mode": mode, "db": if postgres { "postgres".to_owned() } else { format!("sqlite ({sync_name})") },
                    "replicas": replicas, "expected": r.expected, "delivered": r.delivered, "lost": r.lost,
                    "duplicates": r.duplicates, "unexplained_duplicates": r.unexplained, "held_at_kill": r.held,
                    "in_flight": r.in_flight, "recovery_s": (r.recovery_s * 100.0).round() / 100.0 })
            );
            return;
        }
        "soak" => {
            let minutes: usize = arg_or("--minutes", "10").parse().unwrap();
            let max_in_flight: usize = arg("--max-in-flight").map_or(4 * concurrency, |v| v.parse().unwrap());
            let client = reqwest::Client::builder().pool_max_idle_per_host(max_in_flight).build().unwrap();
            let launch = Launch {
                bin: &bin,
                db: &db,
                sqlite_synchronous: &sync_name,
                admin_token: ADMIN,
                token_secret: SECRET,
                extra: Vec::new(),
                env: Vec::new(),
                log,
            };
            let server = ServerProcess::start(&launch, &client).await;
            let target =
                Target { client, url: format!("{}/v1/sync", server.base).into(), shoppers: load::shoppers(n, SECRET) };
            let r = soak::run(&server, &target, concurrency, seconds, minutes, max_in_flight).await;
            server.stop();
            let minutes: Vec<serde_json::Value> = r
                .minutes
                .iter()
                .map(|m| {
                    serde_json::json!({ "syncs": m.syncs, "errors": m.errors, "p99_ms": ms(m.p99_ms),
                        "server_p99_le_ms": m.server_p99_le_ms, "rss_mib": ms(m.rss_mib) })
                })
                .collect();
            println!(
                "{}",
                serde_json::json!({ "mode": mode, "db": if postgres { "postgres".to_owned() } else { format!("sqlite ({sync_name})") },
                    "max_per_s": r.max_rate.round(), "rate_per_s": r.rate.round(), "minutes": minutes, "drift": r.drift })
            );
            return;
        }
        "catalog" => {
            let work = tempfile::tempdir().unwrap();
            let log = log.unwrap_or_else(|| work.path().join("server.log"));
            let params = catalog::Params {
                shoppers: n,
                items: arg_or("--items", "10000").parse().unwrap(),
                interactions: arg_or("--interactions", "1000000").parse().unwrap(),
                rate: arg_or("--rate", "200").parse().unwrap(),
                seconds,
                concurrency,
                max_in_flight,
                refreshes: arg_or("--refreshes", "3").parse().unwrap(),
                journeys: arg("--journeys")
                    .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("templates"), PathBuf::from),
            };
            let (extra, env) = catalog::server_flags(&params.journeys);
            let launch = Launch {
                bin: &bin,
                db: &db,
                sqlite_synchronous: &sync_name,
                admin_token: ADMIN,
                token_secret: SECRET,
                extra,
                env,
                log: Some(log.clone()),
            };
            let mut figures = catalog::run(&launch, &log, &params).await;
            figures["db"] = (if postgres { "postgres" } else { "sqlite" }).into();
            figures["mode"] = "catalog".into();
            println!("{figures}");
            return;
        }
        other => panic!("unknown --mode {other}: bench, crash-sync, crash-mail, soak or catalog"),
    }
    let load_before = usage::load_average();

    let client = reqwest::Client::builder().pool_max_idle_per_host(max_in_flight).build().unwrap();
    let launch = Launch {
        bin: &bin,
        db: &db,
        sqlite_synchronous: &sync_name,
        admin_token: ADMIN,
        token_secret: SECRET,
        extra: Vec::new(),
        env: Vec::new(),
        log: None,
    };
    let server = ServerProcess::start(&launch, &client).await;
    let target = Target { client, url: format!("{}/v1/sync", server.base).into(), shoppers: load::shoppers(n, SECRET) };

    load::warm_up(&target, concurrency).await;
    tokio::time::sleep(SETTLE).await;

    // 1. Closed loop.
    let mark = CpuMark::now(&server);
    let closed = load::closed_loop(&target, concurrency, seconds).await;
    let closed_cpu = mark.shares(&server);
    tokio::time::sleep(SETTLE).await;

    // 2. Open loop at half the goal, then at half the measured maximum.
    let mut open = Vec::new();
    for (label, rate) in [("half_goal", goal / 2.0), ("half_max", (closed.rate / 2.0).max(1.0))] {
        let times = ServerTimes::read(&target.client, &server.base).await;
        let mark = CpuMark::now(&server);
        let r = load::open_loop(&target, rate, seconds, max_in_flight).await;
        let cpu = mark.shares(&server);
        let times = ServerTimes::read(&target.client, &server.base).await.since(&times);
        open.push(open_loop_json(label, &r, &cpu, &times));
        tokio::time::sleep(SETTLE).await;
    }
    let load_after = usage::load_average();
    server.stop();

    // 3. The ceiling, on the same database.
    let body = target.shoppers[0].state();
    let raw_rate = raw::upserts_per_second(&db, synchronous, body, seconds).await;

    println!(
        "{}",
        serde_json::json!({
            "db": if postgres { "postgres" } else { "sqlite" },
            "sqlite_synchronous": sync_name,
            "concurrency": concurrency,
            "max_in_flight": max_in_flight,
            "client_threads": threads,
            "shoppers": n,
            "state_bytes": body.len(),
            "goal_per_s": goal,
            "sync_per_s_max": closed.rate.round(),
            "sync_errors": closed.errors,
            "closed_loop_client_cpu": closed_cpu.client,
            "closed_loop_server_cpu": closed_cpu.server,
            "closed_loop_cpu_pressure": closed_cpu.pressure,
            "open_loop": open,
            "raw_upsert_per_s": raw_rate.round(),
            "load_average_before": load_before,
            "load_average_after": load_after,
        })
    );
}
