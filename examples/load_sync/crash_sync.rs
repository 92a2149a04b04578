//! `--mode crash-sync`: kill -9 under sync load, restart, and check that every
//! acknowledged sync is there. Each shopper carries a counter trait `seq`; lanes (one per
//! `--concurrency`, each owning its shoppers, so a shopper has one sync in flight at a
//! time) sync `seq + 1` stamped later than the last, back to back. An answer 200 is an
//! acknowledgement: the highest acknowledged `seq` per shopper is recorded. Each run kills
//! the server with SIGKILL at a point between 40% and 90% of `--seconds`, while syncs are
//! in flight, restarts it on the same database, and re-syncs every shopper with an empty
//! state: the merged state the server answers must hold `seq` ≥ the acknowledged one.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use waymark::server::auth::{self, Claims};
use waymark::{ShopperState, Timestamp};

use crate::server::{Launch, ServerProcess};

/// What the crash runs found.
pub struct SyncCrashReport {
    /// Kill -9 runs.
    pub runs: usize,
    /// Syncs answered 200 before the kills.
    pub acknowledged: u64,
    /// Shoppers whose stored `seq` was below their acknowledged one after a restart.
    pub lost: u64,
    /// Syncs that failed (refused or cut by the kill): not acknowledged, not counted.
    pub failed: u64,
}

struct Shoppers {
    ids: Vec<String>,
    tokens: Vec<HeaderValue>,
    /// Last `seq` sent and highest `seq` acknowledged, per shopper.
    sent: Vec<AtomicU64>,
    acked: Vec<AtomicU64>,
    /// Last stamp used, per shopper (stamps strictly increase).
    stamp: Vec<AtomicI64>,
    /// Syncs answered 200.
    acks: AtomicU64,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// One sync of shopper `i` with `state`; the merged state when answered 200.
async fn sync(client: &reqwest::Client, base: &str, token: &HeaderValue, state: &ShopperState) -> Option<ShopperState> {
    let resp = client
        .post(format!("{base}/v1/sync"))
        .header(AUTHORIZATION, token.clone())
        .header(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"))
        .body(state.encode())
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()?;
    if !resp.status().is_success() {
        return None;
    }
    let body = resp.bytes().await.ok()?;
    ShopperState::decode(&body).ok()
}

async fn lane(
    client: reqwest::Client,
    base: Arc<str>,
    shoppers: Arc<Shoppers>,
    lane: usize,
    lanes: usize,
    stop: Arc<AtomicBool>,
    failed: Arc<AtomicU64>,
) {
    let mine: Vec<usize> = (lane..shoppers.ids.len()).step_by(lanes).collect();
    let mut k = 0;
    while !stop.load(Ordering::Relaxed) {
        let i = mine[k % mine.len()];
        k += 1;
        let seq = shoppers.sent[i].fetch_add(1, Ordering::Relaxed) + 1;
        let stamp = now_ms().max(shoppers.stamp[i].load(Ordering::Relaxed) + 1);
        shoppers.stamp[i].store(stamp, Ordering::Relaxed);
        let mut state = ShopperState::new(&shoppers.ids[i]);
        state.set_trait("seq", i64::try_from(seq).unwrap_or(i64::MAX).into(), Timestamp(stamp)).unwrap();
        if sync(&client, &base, &shoppers.tokens[i], &state).await.is_some() {
            shoppers.acked[i].fetch_max(seq, Ordering::Relaxed);
            shoppers.acks.fetch_add(1, Ordering::Relaxed);
        } else {
            failed.fetch_add(1, Ordering::Relaxed);
            // The server is gone: do not spin on refused connections.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Re-syncs every shopper with an empty state (`lanes` at a time); returns the shoppers
/// whose stored `seq` is below the acknowledged one.
async fn verify(client: &reqwest::Client, base: &str, shoppers: &Arc<Shoppers>, lanes: usize) -> u64 {
    let tasks: Vec<_> = (0..lanes)
        .map(|l| {
            let (client, base, shoppers) = (client.clone(), base.to_owned(), shoppers.clone());
            tokio::spawn(async move {
                let mut lost = 0;
                for i in (l..shoppers.ids.len()).step_by(lanes) {
                    let acked = shoppers.acked[i].load(Ordering::Relaxed);
                    if acked == 0 {
                        continue;
                    }
                    let empty = ShopperState::new(&shoppers.ids[i]);
                    let mut merged = None;
                    for _ in 0..5 {
                        merged = sync(&client, &base, &shoppers.tokens[i], &empty).await;
                        if merged.is_some() {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    let stored = merged
                        .as_ref()
                        .and_then(|s| s.trait_value("seq"))
                        .and_then(|v| serde_json::to_value(v).ok())
                        .and_then(|v| v.as_f64())
                        .unwrap_or(0.0);
                    if stored < acked as f64 {
                        lost += 1;
                        eprintln!("LOST: shopper {} acknowledged seq {acked}, stored {stored}", shoppers.ids[i]);
                    }
                }
                lost
            })
        })
        .collect();
    let mut lost = 0;
    for t in tasks {
        lost += t.await.unwrap();
    }
    lost
}

/// A pseudo-random fraction in [0, 1) from the clock (no generator needed for a kill time).
fn jitter() -> f64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    f64::from(xxhash_rust::xxh3::xxh3_64(&nanos.to_le_bytes()) as u32) / f64::from(u32::MAX)
}

/// `runs` kill -9 runs of `seconds` each with `lanes` lanes over `n` shoppers.
pub async fn run(
    launch: &Launch<'_>,
    secret: &str,
    n: usize,
    lanes: usize,
    runs: usize,
    seconds: f64,
) -> SyncCrashReport {
    let client = reqwest::Client::builder().pool_max_idle_per_host(lanes).build().unwrap();
    let ids: Vec<String> = (0..n).map(|i| format!("crash-{i}")).collect();
    let tokens = ids
        .iter()
        .map(|id| {
            let token = auth::issue(secret.as_bytes(), &Claims { sub: id.clone(), cid: None, exp: i64::MAX }).unwrap();
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap()
        })
        .collect();
    let shoppers = Arc::new(Shoppers {
        ids,
        tokens,
        sent: (0..n).map(|_| AtomicU64::new(0)).collect(),
        acked: (0..n).map(|_| AtomicU64::new(0)).collect(),
        stamp: (0..n).map(|_| AtomicI64::new(0)).collect(),
        acks: AtomicU64::new(0),
    });
    let failed = Arc::new(AtomicU64::new(0));
    let mut lost = 0;
    let mut server = ServerProcess::start(launch, &client).await;
    for run in 0..runs {
        let stop = Arc::new(AtomicBool::new(false));
        let base: Arc<str> = server.base.clone().into();
        let tasks: Vec<_> = (0..lanes)
            .map(|l| {
                tokio::spawn(lane(
                    client.clone(),
                    base.clone(),
                    shoppers.clone(),
                    l,
                    lanes,
                    stop.clone(),
                    failed.clone(),
                ))
            })
            .collect();
        let kill_at = seconds * (0.4 + 0.5 * jitter());
        tokio::time::sleep(Duration::from_secs_f64(kill_at)).await;
        let before = shoppers.acks.load(Ordering::Relaxed);
        let killed = Instant::now();
        server.kill9();
        // Syncs in flight fail now; let the lanes see the refusals for a moment.
        tokio::time::sleep(Duration::from_millis(200)).await;
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await.unwrap();
        }
        server = ServerProcess::start(launch, &client).await;
        let restart = killed.elapsed().as_secs_f64();
        let found = verify(&client, &server.base, &shoppers, lanes).await;
        lost += found;
        eprintln!(
            "crash-sync run {}/{runs}: killed at {kill_at:.1}s after {before} acknowledged syncs in all, back in {restart:.1}s, lost {found}",
            run + 1
        );
    }
    server.stop();
    let acknowledged = shoppers.acks.load(Ordering::Relaxed);
    SyncCrashReport { runs, acknowledged, lost, failed: failed.load(Ordering::Relaxed) }
}
