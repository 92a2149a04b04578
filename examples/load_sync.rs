//! Load generator for `POST /v1/sync` (run by bench/load-sync.sh; loopback only, bounded
//! in time). Starts the server in-process on a loopback port, on a tokio runtime of its
//! own (as if in its own process: the client's tasks never queue in front of the
//! server's; the two still share the machine's cores), then:
//! 1. closed loop: `--concurrency` clients sync as fast as they can for `--seconds`;
//! 2. open loop at half that throughput for `--seconds`: p50 / p99 latency, and how often
//!    a task on the client's runtime waking every 1 ms fired more than 5 ms late (the
//!    client was starved: its latencies include the stall, the server's may not) and
//!    how late a plain OS thread's 1 ms sleep woke at worst (late too: the process or
//!    machine stalled);
//! 3. the ceiling: a raw single-row upsert loop (one statement, autocommit) on the same
//!    database for `--seconds`.
//!
//! `--sqlite-synchronous normal` runs SQLite with `synchronous = NORMAL` instead of the
//! default FULL. Logs go to stderr by `RUST_LOG` (e.g. `waymark::server::sync=debug` for
//! each batch's size and duration). Prints one JSON line of figures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use waymark::server::auth::{self, Claims};
use waymark::server::clock::Clock;
use waymark::server::config::Settings;
use waymark::server::sqlite::Synchronous;
use waymark::server::Server;
use waymark::{ShopperState, Timestamp};

const ADMIN: &str = "load-admin-token-0123456789";
const SECRET: &str = "load-token-secret-0123456789";

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned().unwrap_or_else(|| default.to_owned())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

struct Shopper {
    token: String,
    body: Vec<u8>,
}

fn shoppers(n: usize) -> Arc<Vec<Shopper>> {
    let now = Timestamp(1_780_000_000_000);
    Arc::new(
        (0..n)
            .map(|i| {
                let id = format!("load-{i}");
                let mut s = ShopperState::new(&id);
                s.set_trait("email", format!("{id}@example.com").into(), now).unwrap();
                s.set_trait("tier", "gold".into(), now).unwrap();
                s.set_consent(waymark::journey::Channel::Email, true, now);
                let token = auth::issue(SECRET.as_bytes(), &Claims { sub: id, cid: None, exp: i64::MAX }).unwrap();
                Shopper { token, body: s.encode() }
            })
            .collect(),
    )
}

async fn one(client: &reqwest::Client, url: &str, s: &Shopper) -> Option<f64> {
    let start = Instant::now();
    let resp = client
        .post(url)
        .header("authorization", format!("Bearer {}", s.token))
        .header("content-type", "application/octet-stream")
        .body(s.body.clone())
        .send()
        .await
        .ok()?;
    let ok = resp.status().is_success();
    let _ = resp.bytes().await.ok()?;
    ok.then(|| start.elapsed().as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
    let db = arg("--db", "sqlite:///tmp/waymark-load.db");
    let seconds: f64 = arg("--seconds", "5").parse().unwrap();
    let concurrency: usize = arg("--concurrency", "64").parse().unwrap();
    let n: usize = arg("--shoppers", "10000").parse().unwrap();
    let mut settings = Settings::new(&db, ADMIN, SECRET);
    settings.background = false;
    settings.db_connections = 8;
    settings.sqlite_synchronous = match arg("--sqlite-synchronous", "full").as_str() {
        "normal" => Synchronous::Normal,
        _ => Synchronous::Full,
    };
    // The server on a runtime of its own, as it would be in its own process: the client's
    // tasks never queue in front of the server's (they still share the machine's cores).
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("server")
        .enable_all()
        .build()
        .unwrap();
    let (server, url) = server_rt
        .spawn(async move {
            let server = Server::start(settings, Clock::System).await.unwrap();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/v1/sync", listener.local_addr().unwrap());
            let router = server.router();
            tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
            (server, url)
        })
        .await
        .unwrap();
    let people = shoppers(n);
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency * 2).build().unwrap();

    // Warm-up: every shopper exists (steady state is updates, not inserts).
    {
        let next = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for _ in 0..concurrency {
            let (client, url, people, next) = (client.clone(), url.clone(), people.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    let Some(s) = people.get(i) else { break };
                    one(&client, &url, s).await;
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    }

    // 1. Closed loop.
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..concurrency {
        let (client, url, people, stop, done, errors) =
            (client.clone(), url.clone(), people.clone(), stop.clone(), done.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = c * 7919;
            while !stop.load(Ordering::Relaxed) {
                i = (i + concurrency) % people.len();
                match one(&client, &url, &people[i]).await {
                    Some(_) => done.fetch_add(1, Ordering::Relaxed),
                    None => errors.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let max_rate = done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();

    // 2. Open loop at half the closed-loop throughput.
    let rate = (max_rate / 2.0).max(1.0);
    let latencies = Arc::new(Mutex::new(Vec::<f64>::new()));
    let open_errors = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut issued = 0u64;
    let mut handles = Vec::new();
    // In-flight requests are bounded (as a real client's connection pool is): without a
    // bound, a short stall makes the client open hundreds of new connections and the
    // handshakes starve the server. Latency counts from each request's *scheduled* time,
    // so waiting for a slot is measured too (no coordinated omission).
    let in_flight = Arc::new(tokio::sync::Semaphore::new(4 * concurrency));
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    // A task of its own on the runtime (shared by client and server) waking every 1 ms:
    // how late it fires is how long ready tasks waited for a worker. Stalls here show up
    // in p99 without being the database's doing.
    let runtime_probe = {
        let stop = Arc::new(AtomicBool::new(false));
        let handle = tokio::spawn({
            let stop = stop.clone();
            async move {
                let (mut worst, mut stalls) = (Duration::ZERO, 0u64);
                let mut every = tokio::time::interval(Duration::from_millis(1));
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                while !stop.load(Ordering::Relaxed) {
                    let late = every.tick().await.elapsed();
                    worst = worst.max(late);
                    if late > Duration::from_millis(5) {
                        stalls += 1;
                    }
                }
                (worst, stalls)
            }
        });
        (stop, handle)
    };
    // The same from a plain OS thread sleeping 1 ms at a time: when it was late too, the
    // whole process (or machine) stalled, not the runtime.
    let os_stall_us = Arc::new(AtomicU64::new(0));
    let os_probe = {
        let (stop, worst) = (Arc::new(AtomicBool::new(false)), os_stall_us.clone());
        let handle = std::thread::spawn({
            let stop = stop.clone();
            move || {
                while !stop.load(Ordering::Relaxed) {
                    let before = Instant::now();
                    std::thread::sleep(Duration::from_millis(1));
                    let late = before.elapsed().saturating_sub(Duration::from_millis(1));
                    worst.fetch_max(late.as_micros() as u64, Ordering::Relaxed);
                }
            }
        });
        (stop, handle)
    };
    while start.elapsed().as_secs_f64() < seconds {
        tick.tick().await;
        let due = (start.elapsed().as_secs_f64() * rate) as u64;
        while issued < due {
            let s = issued as usize % people.len();
            let scheduled = start + Duration::from_secs_f64(issued as f64 / rate);
            let permit = in_flight.clone().acquire_owned().await.unwrap();
            let (client, url, people, lat, errs) =
                (client.clone(), url.clone(), people.clone(), latencies.clone(), open_errors.clone());
            handles.push(tokio::spawn(async move {
                let _slot = permit;
                match one(&client, &url, &people[s]).await {
                    Some(_) => lat.lock().unwrap().push(scheduled.elapsed().as_secs_f64() * 1000.0),
                    None => {
                        errs.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
            issued += 1;
        }
    }
    os_probe.0.store(true, Ordering::Relaxed);
    os_probe.1.join().unwrap();
    runtime_probe.0.store(true, Ordering::Relaxed);
    let (stall_max, stalls) = runtime_probe.1.await.unwrap();
    for h in handles {
        h.await.unwrap();
    }
    let achieved = issued as f64 / start.elapsed().as_secs_f64();
    let mut lat = latencies.lock().unwrap().clone();
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());

    // 3. Raw single-row upsert loop on the same database (on the server's runtime, where
    // its connections live): the ceiling.
    let body = people[0].body.clone();
    let raw_rate = {
        let (db, body) = (server.state.inner().db.clone(), body.clone());
        server_rt
            .spawn(async move {
                let mut tx_count = 0u64;
                let start = Instant::now();
                while start.elapsed().as_secs_f64() < seconds {
                    let mut tx = db.begin().await.unwrap();
                    let key = format!("raw:{}", tx_count % 1000);
                    waymark::server::storage::raw_upsert(&mut tx, &key, &body, Timestamp(0)).await.unwrap();
                    tx.commit().await.unwrap();
                    tx_count += 1;
                }
                tx_count as f64 / start.elapsed().as_secs_f64()
            })
            .await
            .unwrap()
    };

    let kind = if db.starts_with("postgres") { "postgres" } else { "sqlite" };
    println!(
        "{}",
        serde_json::json!({
            "db": kind,
            "sqlite_synchronous": arg("--sqlite-synchronous", "full"),
            "concurrency": concurrency,
            "shoppers": n,
            "state_bytes": body.len(),
            "sync_per_s_max": max_rate.round(),
            "sync_errors": errors.load(Ordering::Relaxed),
            "open_loop_rate_target": rate.round(),
            "open_loop_rate_achieved": achieved.round(),
            "open_loop_errors": open_errors.load(Ordering::Relaxed),
            "p50_ms": (percentile(&lat, 0.50) * 100.0).round() / 100.0,
            "p99_ms": (percentile(&lat, 0.99) * 100.0).round() / 100.0,
            "raw_upsert_per_s": raw_rate.round(),
            "client_stall_max_ms": (stall_max.as_secs_f64() * 10_000.0).round() / 10.0,
            "client_stalls_over_5ms": stalls,
            "os_thread_stall_max_ms": (os_stall_us.load(Ordering::Relaxed) as f64 / 100.0).round() / 10.0,
        })
    );
    server_rt.spawn(async move { server.shutdown().await }).await.unwrap();
    server_rt.shutdown_background();
}
