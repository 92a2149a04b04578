//! `--mode catalog` (bench/catalog.sh): the catalog's figures against the real server, on
//! loopback, bounded by `--shoppers`, `--items`, `--interactions` and `--seconds`:
//! 1. seed: `PUT /v1/catalog` (the synthetic shop's items and the item that will drop),
//!    then every shopper through `POST /v1/sync` with an encoded state, as a storefront
//!    syncs — the real path, which writes the interest index: `--shoppers` who viewed the
//!    item at its old price, then the shoppers whose memories hold the recommender's
//!    interactions (so that the index holds `--interactions` in all);
//! 2. fan-out: one `PATCH /v1/catalog` drops the item's price; the route fans the drop out
//!    before it answers: the time to the answer, `triggered` (it must equal the seeded
//!    shoppers, else the bench fails) and the server's peak memory (`VmHWM`, reset just
//!    before: the fan-out's own peak);
//! 3. refresh: `PATCH /v1/catalog` of an unchanged item drops the recommender's build; the
//!    next `GET /v1/recommendations` rebuilds it from storage: that query's time, a warm
//!    query's, the server's own timing of the build (its log), and the peak memory;
//! 4. latency: `GET /v1/recommendations?item=…&k=10`, then `?q=…&k=10`, open loop at
//!    `--rate` per second for `--seconds` each: p50 / p99 (from the scheduled time);
//! 5. state size: a typical shopper's encoded state without and with the interest memory.
//!
//! The server runs the shipped trigger templates (`--journeys`), so each price drop
//! enters the price-drop journey and queues its email, with delivery held off (a poll of
//! ten minutes, no relay): the figures are of the fan-out, not of sending.

mod api;
mod shop;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use waymark::server::recommend::synth::{self, Rng};
use waymark::Timestamp;

use crate::load::{self, percentile, Shopper, Target};
use crate::server::{Launch, ServerProcess};
use crate::usage;
use api::Api;

/// What the catalog bench runs.
pub struct Params {
    /// Shoppers who viewed the item that drops.
    pub shoppers: usize,
    /// Synthetic catalog items (the item that drops comes on top).
    pub items: usize,
    /// Interactions the interest index holds in all (the fan-out shoppers' views count).
    pub interactions: usize,
    /// Open-loop rate of the recommendation queries, per second.
    pub rate: f64,
    /// Seconds of each open loop.
    pub seconds: f64,
    /// Syncs in flight while seeding.
    pub concurrency: usize,
    /// Queries in flight at most in the open loops.
    pub max_in_flight: usize,
    /// Refreshes timed (the median is reported).
    pub refreshes: usize,
    /// The trigger templates the server runs.
    pub journeys: PathBuf,
}

const SETTLE: Duration = Duration::from_millis(500);

fn mib(kib: u64) -> f64 {
    (kib as f64 / 1024.0 * 10.0).round() / 10.0
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 100_000.0).round() / 100.0
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

/// The wall clock: the server's `now`, which sightings must be recent against.
fn wall_clock() -> Timestamp {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    Timestamp(since.as_millis() as i64)
}

/// The flags and environment the server runs with here.
pub fn server_flags(journeys: &Path) -> (Vec<String>, Vec<(String, String)>) {
    let flags = ["--journeys", &journeys.display().to_string(), "--poll-ms", "600000", "--log-json"]
        .map(str::to_owned)
        .to_vec();
    // The recommender's build line at info, whatever else the caller's filter says.
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into());
    (flags, vec![("RUST_LOG".into(), format!("{filter},waymark::server::recommend::service=info"))])
}

/// Syncs every shopper once; returns the time taken. Panics if any sync failed.
async fn seed(client: &reqwest::Client, base: &str, shoppers: Vec<Shopper>, concurrency: usize) -> Duration {
    let target = Target { client: client.clone(), url: format!("{base}/v1/sync").into(), shoppers: Arc::new(shoppers) };
    let started = std::time::Instant::now();
    let failed = load::warm_up(&target, concurrency).await;
    assert_eq!(failed, 0, "{failed} of {} seeding syncs failed", target.shoppers.len());
    started.elapsed()
}

/// Runs the bench against a server started from `launch` (with [`server_flags`]), whose
/// log goes to `log`; returns its figures as JSON.
pub async fn run(launch: &Launch<'_>, log: &Path, p: &Params) -> serde_json::Value {
    let load_before = usage::load_average();
    let client = reqwest::Client::builder().pool_max_idle_per_host(p.max_in_flight.max(p.concurrency)).build().unwrap();
    let server = ServerProcess::start(launch, &client).await;
    let api = Api { client: client.clone(), base: server.base.clone(), admin: launch.admin_token.to_owned() };
    let now = wall_clock();
    let shop = shop::params(p.items);

    // 1. Seed: the catalog, the fan-out shoppers, the recommender's shoppers.
    let (report, import_time) = api.import(Method::PUT, shop::feed(&shop)).await;
    let loaded = report["counts"]["loaded"].as_u64().unwrap_or(0);
    assert_eq!(loaded, p.items as u64 + 1, "catalog import: {report}");
    eprintln!("catalog: {loaded} items imported in {:.2} s", import_time.as_secs_f64());

    let fan: Vec<Shopper> = (0..p.shoppers)
        .map(|i| {
            let id = format!("fan-{i}");
            Shopper::new(&id, &shop::fan_out_state(&id, i, now), launch.token_secret)
        })
        .collect();
    let fan_state_bytes = fan.first().map_or(0, |s| s.state().len());
    let fan_time = seed(&client, &server.base, fan, p.concurrency).await;
    eprintln!("seeded {} fan-out shoppers in {:.1} s", p.shoppers, fan_time.as_secs_f64());

    let (reco, reco_interactions) = shop::reco_states(&shop, p.interactions.saturating_sub(p.shoppers), now);
    let reco_shoppers = reco.len();
    let reco: Vec<Shopper> = reco.iter().map(|(id, state)| Shopper::new(id, state, launch.token_secret)).collect();
    let reco_state_bytes = reco.iter().map(|s| s.state().len()).sum::<usize>() / reco.len().max(1);
    let reco_time = seed(&client, &server.base, reco, p.concurrency).await;
    let interactions = p.shoppers + reco_interactions;
    eprintln!(
        "seeded {reco_shoppers} recommender shoppers ({reco_interactions} interactions) in {:.1} s",
        reco_time.as_secs_f64()
    );
    tokio::time::sleep(SETTLE).await;

    // 2. Fan-out of one price drop.
    let peak_reset = server.reset_peak();
    let (rss_before, peak_before) = (server.rss_kib(), server.peak_kib());
    let (report, fan_out_time) = api.import(Method::PATCH, shop::drop_line(shop::NEW_PRICE)).await;
    let (rss_after, peak_after) = (server.rss_kib(), server.peak_kib());
    let triggered = &report["triggered"];
    let price_drops = triggered["events"]["price_drop"].as_u64().unwrap_or(0);
    eprintln!(
        "fan-out: {price_drops} price_drop events in {:.2} s; peak memory {:.1} MiB (from {:.1})",
        fan_out_time.as_secs_f64(),
        mib(peak_after),
        mib(peak_before)
    );
    assert_eq!(
        price_drops, p.shoppers as u64,
        "the drop reached {price_drops} of {} shoppers: {triggered}",
        p.shoppers
    );
    tokio::time::sleep(SETTLE).await;

    // 3. Refresh from storage: the first query after an import rebuilds.
    let mut rng = Rng::new(7);
    let anchor = |rng: &mut Rng| format!("item={}&k=10", synth::item_id(rng.below(p.items)));
    let mut refreshes = Vec::new();
    let mut refresh_peak = 0;
    let rss_before_refresh = server.rss_kib();
    for _ in 0..p.refreshes.max(1) {
        // An unchanged item: nothing changes, nothing fans out, the build is dropped.
        api.import(Method::PATCH, shop::drop_line(shop::NEW_PRICE)).await;
        let logged = api::builds(log).len();
        server.reset_peak();
        let (cards, cold) = api.recommend(&anchor(&mut rng)).await;
        refresh_peak = refresh_peak.max(server.peak_kib());
        let (_, warm) = api.recommend(&anchor(&mut rng)).await;
        let build = api::builds(log).get(logged).copied();
        refreshes.push((cold, warm, build, cards));
    }
    refreshes.sort_by_key(|r| r.0);
    let (cold, warm, build, cards) = refreshes[refreshes.len() / 2];
    let build = build.unwrap_or_default();
    eprintln!(
        "refresh: first query {:.0} ms (server: read {} ms, build {} ms; {} interactions, {} items), warm {:.1} ms",
        ms(cold),
        build.load_ms,
        build.build_ms,
        build.interactions,
        build.items,
        ms(warm)
    );
    assert!(cards > 0, "the first query after the refresh answered no cards");
    assert_eq!(build.interactions, interactions as u64, "interactions read by the build (0: no build logged)");

    // 4. Latency at a fixed rate: item anchors, then searches.
    let words = ["running shoes", "leather bag", "waterproof boots", "winter jacket", "slim shirt", "trail cap"];
    let mut latency = Vec::new();
    for (label, queries) in [
        ("item", (0..1000).map(|_| anchor(&mut rng)).collect::<Vec<_>>()),
        ("search", words.iter().map(|w| format!("q={}&k=10", w.replace(' ', "+"))).collect()),
    ] {
        api.recommend(&queries[0]).await;
        let (client, base, queries) = (client.clone(), server.base.clone(), Arc::new(queries));
        let r = load::open_loop_with(p.rate, p.seconds, p.max_in_flight, move |i| {
            let url = format!("{base}/v1/recommendations?{}", queries[i % queries.len()]);
            let client = client.clone();
            async move {
                match client.get(url).send().await {
                    Ok(resp) => resp.status().is_success() && resp.bytes().await.is_ok(),
                    Err(_) => false,
                }
            }
        })
        .await;
        let at = |q: f64| (percentile(&r.latencies, q) * 100.0).round() / 100.0;
        eprintln!("{label}: {:.0}/s, p50 {} ms, p99 {} ms, {} errors", r.achieved, at(0.5), at(0.99), r.errors);
        latency.push(serde_json::json!({
            "query": label, "rate_target": p.rate, "rate_achieved": r.achieved.round(), "errors": r.errors,
            "answered": r.latencies.len(), "p50_ms": at(0.5), "p99_ms": at(0.99), "p999_ms": at(0.999),
            "max_ms": at(1.0),
        }));
    }
    let load_after = usage::load_average();
    server.stop();

    // 5. State size.
    let (typical_without, typical_with) = shop::typical_state_bytes();

    serde_json::json!({
        "seeding": {
            "via": "POST /v1/sync (encoded states; the server writes the interest index)",
            "catalog_items": loaded,
            "catalog_import_s": secs(import_time),
            "fan_out_shoppers": p.shoppers,
            "fan_out_seed_s": secs(fan_time),
            "fan_out_syncs_per_s": (p.shoppers as f64 / fan_time.as_secs_f64()).round(),
            "recommender_shoppers": reco_shoppers,
            "recommender_seed_s": secs(reco_time),
            "recommender_syncs_per_s": (reco_shoppers as f64 / reco_time.as_secs_f64()).round(),
            "interactions": interactions,
        },
        "fan_out": {
            "seconds": secs(fan_out_time),
            "price_drop_events": price_drops,
            "expected": p.shoppers,
            "duplicates": triggered["duplicates"],
            "skipped": triggered["skipped"],
            "failed": triggered["failed"],
            "decisions": triggered["decisions"],
            "events_per_s": (price_drops as f64 / fan_out_time.as_secs_f64()).round(),
            "rss_before_mib": mib(rss_before),
            "rss_after_mib": mib(rss_after),
            "peak_before_mib": mib(peak_before),
            "peak_after_mib": mib(peak_after),
            "peak_reset": peak_reset,
        },
        "refresh": {
            "runs": refreshes.len(),
            "first_query_ms": ms(cold),
            "warm_query_ms": ms(warm),
            "server_read_ms": build.load_ms,
            "server_build_ms": build.build_ms,
            "interactions_read": build.interactions,
            "items_read": build.items,
            "rss_before_mib": mib(rss_before_refresh),
            "peak_mib": mib(refresh_peak),
        },
        "latency": latency,
        "state_bytes": {
            "typical_without_interests": typical_without,
            "typical_with_interests": typical_with,
            "fan_out_shopper": fan_state_bytes,
            "recommender_shopper_mean": reco_state_bytes,
        },
        "load_average_before": load_before,
        "load_average_after": load_after,
    })
}
