//! The audience sweep at shop scale (bench/sweep.sh runs it): `cargo run --profile fast
//! --features server --example sweep_bench -- --db URL --shoppers N`.
//!
//! Stores N known shoppers (1,000,000 by default) who never visit, each with a birthday
//! (seeded, spread over the year), an email address and email consent, under the shipped
//! journeys of `templates/`; each row's wake-up is what the engine says
//! (`Engine::next_check`: their next birthday). Then it runs the scheduler as
//! `waymark serve` does, and prints:
//! - the time to store the shoppers;
//! - idle rounds (nobody due): what the sweep costs while nothing happens;
//! - the birthday: at midnight UTC the day's shoppers enter the journey and wait for 09:00;
//!   at 09:00 their emails are queued — shoppers ticked, emails queued and time of each
//!   (the day before, the start day's own birthdays are sent the same way at 09:00).
//!
//! There is no per-day scan: only the due rows of the `wake_at` index are read.

use std::process::ExitCode;
use std::time::Instant;

use waymark::journey::Channel;
use waymark::server::clock::Clock;
use waymark::server::config::Settings;
use waymark::server::storage::{self, ShopperWrite};
use waymark::server::Server;
use waymark::state::ShopperState;
use waymark::time::{Timestamp, DAY, HOUR, MINUTE};
use waymark::Value;

struct Args {
    db: String,
    shoppers: usize,
}

fn args() -> Result<Args, String> {
    let mut out = Args { db: String::new(), shoppers: 1_000_000 };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let (Some(flag), Some(value)) = (pair.first(), pair.get(1)) else {
            return Err("usage: sweep_bench --db URL [--shoppers N]".into());
        };
        match flag.as_str() {
            "--db" => out.db = value.clone(),
            "--shoppers" => out.shoppers = value.parse().map_err(|_| format!("--shoppers: not a number: {value}"))?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if out.db.is_empty() {
        return Err("--db URL is required (sqlite://PATH or postgres://...)".into());
    }
    Ok(out)
}

/// The shipped journeys as one bundle.
fn templates() -> Result<waymark::journey::Bundle, String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    let mut journeys = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(&dir).map_err(|e| e.to_string())?.flatten().map(|e| e.path()).collect();
    paths.sort();
    for path in paths.iter().filter(|p| p.extension().is_some_and(|x| x == "json")) {
        journeys.push(std::fs::read_to_string(path).map_err(|e| e.to_string())?);
    }
    let text = format!("{{\"journeys\": [{}]}}", journeys.join(","));
    waymark::server::journeys::compile_json(&text).map_err(|e| e.to_string())
}

/// SplitMix64: the same birthdays every run.
fn mix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

async fn outbox_rows(server: &Server) -> Result<i64, String> {
    let row: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outbox")
        .fetch_one(server.state.inner().db.reader())
        .await
        .map_err(|e| e.to_string())?;
    Ok(row.0)
}

/// Sets the clock to `at`, runs every due timer as the scheduler does, prints what it did.
async fn round(server: &Server, clock: &Clock, label: &str, at: Timestamp) -> Result<(usize, i64), String> {
    clock.set(at);
    let took = Instant::now();
    let ticked = server.scheduler.run_due().await.map_err(|e| e.to_string())?;
    let seconds = took.elapsed().as_secs_f64();
    let queued = outbox_rows(server).await?;
    let each = if ticked > 0 { format!(" ({:.0} µs each)", seconds * 1e6 / ticked as f64) } else { String::new() };
    println!("{label:<34} {ticked:>7} shoppers ticked in {seconds:>7.3} s{each}  outbox {queued}");
    Ok((ticked, queued))
}

async fn run(args: Args) -> Result<(), String> {
    // A Tuesday, 05:00 UTC; the bench's birthday is the next day.
    let start = Timestamp::parse_rfc3339("2026-06-02T05:00:00Z").map_err(|e| e.to_string())?;
    let clock = Clock::manual(start);
    let mut settings =
        Settings::new(&args.db, "admin-token-for-the-sweep-bench-0123", "sweep-bench-token-secret-0123456789");
    settings.background = false;
    let server = Server::start(settings, clock.clone()).await.map_err(|e| e.to_string())?;
    let inner = server.state.inner();
    let published = inner.journeys.publish(&inner.db, templates()?, start).await.map_err(|e| e.to_string())?;
    let engine = &published.engine;

    let birthday = Timestamp(start.0 - start.0.rem_euclid(DAY) + DAY);
    let (by, bm, bd) = waymark::time::civil_date(birthday);
    let took = Instant::now();
    let mut due_tomorrow = 0usize;
    const CHUNK: usize = 1_000;
    let mut next = 0usize;
    while next < args.shoppers {
        let end = (next + CHUNK).min(args.shoppers);
        let mut keys = Vec::with_capacity(end - next);
        let mut states = Vec::with_capacity(end - next);
        for i in next..end {
            let r = mix(i as u64);
            // A day of the year; about one shopper in 365 has the bench's birthday.
            let day_of_year = (r % 365) as i64;
            let (_, month, day) = waymark::time::civil_date(Timestamp(birthday.0 + day_of_year * DAY));
            due_tomorrow += usize::from((month, day) == (bm, bd));
            let year = 1950 + (r >> 20) % 55;
            let id = format!("cust:{i}");
            let mut state = ShopperState::new(&id);
            let at = start.minus(waymark::Duration(HOUR));
            state.set_consent(Channel::Email, true, at);
            let traits = [
                ("email", Value::from(format!("shopper{i}@example.com"))),
                ("birthday", Value::from(format!("{year}-{month:02}-{day:02}"))),
            ];
            for (key, value) in traits {
                state.set_trait(key, value, at).map_err(|e| e.to_string())?;
            }
            engine.tick(&mut state, start);
            keys.push(id);
            states.push(state);
        }
        let rows: Vec<ShopperWrite<'_>> = keys
            .iter()
            .zip(&states)
            .map(|(key, state)| ShopperWrite {
                key,
                bytes: state.encode(),
                expected: None,
                wake_at: engine.next_check(state, start),
            })
            .collect();
        let mut tx = inner.db.begin().await.map_err(|e| e.to_string())?;
        storage::write_shoppers(&mut tx, &rows, start).await.map_err(|e| e.to_string())?;
        tx.commit().await.map_err(|e| e.to_string())?;
        next = end;
    }
    println!(
        "stored {} shoppers with a birthday in {:.1} s ({} of them born on {by}-{bm:02}-{bd:02}'s day)",
        args.shoppers,
        took.elapsed().as_secs_f64(),
        due_tomorrow
    );

    let minute = waymark::Duration(MINUTE);
    round(&server, &clock, "idle round (nobody due)", start.plus(minute)).await?;
    let today = birthday.minus(waymark::Duration(DAY));
    let (_, before) =
        round(&server, &clock, "today's birthdays, 09:00 UTC (send)", today.plus(waymark::Duration(9 * HOUR))).await?;
    round(&server, &clock, "idle round, an hour later", today.plus(waymark::Duration(10 * HOUR))).await?;
    // The day's shoppers enter; yesterday's, whose window closes, are looked at once more.
    round(&server, &clock, "the birthday, 00:00 UTC (enter)", birthday.plus(minute)).await?;
    let (sent, queued) =
        round(&server, &clock, "the birthday, 09:00 UTC (send)", birthday.plus(waymark::Duration(9 * HOUR))).await?;
    round(&server, &clock, "idle round after", birthday.plus(waymark::Duration(10 * HOUR))).await?;
    if sent != due_tomorrow || queued - before != due_tomorrow as i64 {
        return Err(format!(
            "expected the {due_tomorrow} shoppers born that day to be ticked at 09:00 and get one email each; got {sent}, {}",
            queued - before
        ));
    }
    server.shutdown().await;
    Ok(())
}

fn main() -> ExitCode {
    let args = match args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sweep bench failed: {e}");
            ExitCode::FAILURE
        }
    }
}
