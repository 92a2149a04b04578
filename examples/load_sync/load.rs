//! The load itself: shoppers with their tokens and encoded states, one `POST /v1/sync`,
//! and the phases — warm-up (every shopper exists), closed loop (the throughput), open
//! loop at a fixed rate (the latency; `open_loop_with` for any request, not only syncs).

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use waymark::server::auth::{self, Claims};
use waymark::{ShopperState, Timestamp};

use crate::probe::{Probes, Stalls};

/// A shopper's request, built once: the token header and the state's bytes.
pub struct Shopper {
    authorization: HeaderValue,
    body: Bytes,
}

impl Shopper {
    /// Shopper `id` syncing `state`, with a token for `id` signed with `secret`.
    pub fn new(id: &str, state: &ShopperState, secret: &str) -> Shopper {
        let claims = Claims { sub: id.to_owned(), cid: None, exp: i64::MAX };
        let token = auth::issue(secret.as_bytes(), &claims).unwrap();
        let authorization = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
        Shopper { authorization, body: Bytes::from(state.encode()) }
    }

    /// The encoded state it syncs.
    pub fn state(&self) -> &[u8] {
        &self.body
    }
}

/// `n` shoppers with a few traits and a consent each, tokens signed with `secret`.
pub fn shoppers(n: usize, secret: &str) -> Arc<Vec<Shopper>> {
    let now = Timestamp(1_780_000_000_000);
    Arc::new(
        (0..n)
            .map(|i| {
                let id = format!("load-{i}");
                let mut s = ShopperState::new(&id);
                s.set_trait("email", format!("{id}@example.com").into(), now).unwrap();
                s.set_trait("tier", "gold".into(), now).unwrap();
                s.set_consent(waymark::journey::Channel::Email, true, now);
                Shopper::new(&id, &s, secret)
            })
            .collect(),
    )
}

/// Where the load goes.
#[derive(Clone)]
pub struct Target {
    /// HTTP client (keep-alive pool).
    pub client: reqwest::Client,
    /// `…/v1/sync`.
    pub url: Arc<str>,
    /// Who syncs.
    pub shoppers: Arc<Vec<Shopper>>,
}

impl Target {
    /// One sync of shopper `i`; true when answered with success.
    async fn sync(&self, i: usize) -> bool {
        let s = &self.shoppers[i % self.shoppers.len()];
        let sent = self
            .client
            .post(&*self.url)
            .header(AUTHORIZATION, s.authorization.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"))
            .body(s.body.clone())
            .send()
            .await;
        let Ok(resp) = sent else { return false };
        let ok = resp.status().is_success();
        resp.bytes().await.is_ok() && ok
    }
}

/// Every shopper synced once, `concurrency` at a time (steady state is updates, not
/// inserts); returns the syncs that failed.
pub async fn warm_up(target: &Target, concurrency: usize) -> u64 {
    let next = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (target, next, failed) = (target.clone(), next.clone(), failed.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    if i >= target.shoppers.len() {
                        break;
                    }
                    if !target.sync(i).await {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    failed.load(Ordering::Relaxed)
}

/// Closed loop: `concurrency` clients sync back to back for `seconds`.
pub struct ClosedLoop {
    /// Syncs answered per second.
    pub rate: f64,
    /// Failed syncs.
    pub errors: u64,
}

/// Runs the closed loop.
pub async fn closed_loop(target: &Target, concurrency: usize, seconds: f64) -> ClosedLoop {
    let stop = Arc::new(AtomicBool::new(false));
    let (done, errors) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|c| {
            let (target, stop, done, errors) = (target.clone(), stop.clone(), done.clone(), errors.clone());
            tokio::spawn(async move {
                let mut i = c * 7919;
                while !stop.load(Ordering::Relaxed) {
                    i = (i + concurrency) % target.shoppers.len();
                    let counter = if target.sync(i).await { &done } else { &errors };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    ClosedLoop {
        rate: done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64(),
        errors: errors.load(Ordering::Relaxed),
    }
}

/// What an open-loop phase measured.
pub struct OpenLoop {
    /// Rate asked for, syncs/s.
    pub target: f64,
    /// Rate issued.
    pub achieved: f64,
    /// Failed syncs.
    pub errors: u64,
    /// Latencies of the answered syncs, milliseconds, sorted.
    pub latencies: Vec<f64>,
    /// The client's stalls meanwhile.
    pub stalls: Stalls,
}

/// Open loop: syncs issued at `rate` per second for `seconds`, whatever the answers do.
/// In-flight requests are bounded by `max_in_flight` (as a real client's connection pool
/// is: without a bound, a short stall makes the client open hundreds of connections and
/// their handshakes starve the server). Latency counts from each request's *scheduled*
/// time, so waiting for a slot is measured too (no coordinated omission).
pub async fn open_loop(target: &Target, rate: f64, seconds: f64, max_in_flight: usize) -> OpenLoop {
    let target = target.clone();
    open_loop_with(rate, seconds, max_in_flight, move |i| {
        let target = target.clone();
        async move { target.sync(i).await }
    })
    .await
}

/// The open loop of [`open_loop`] for any request: `request(i)` makes the `i`th request
/// and tells whether it was answered with success.
pub async fn open_loop_with<F, Fut>(rate: f64, seconds: f64, max_in_flight: usize, request: F) -> OpenLoop
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = bool> + Send + 'static,
{
    let latencies = Arc::new(Mutex::new(Vec::<f64>::with_capacity((rate * seconds * 1.1) as usize)));
    let errors = Arc::new(AtomicU64::new(0));
    let in_flight = Arc::new(tokio::sync::Semaphore::new(max_in_flight));
    let probes = Probes::start();
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    let mut issued = 0u64;
    let mut handles = Vec::new();
    while start.elapsed().as_secs_f64() < seconds {
        tick.tick().await;
        // Request n is scheduled at n / rate: due as soon as that time has come (not one
        // interval later, which at a low rate would add a whole interval to every latency).
        let due = ((start.elapsed().as_secs_f64() * rate) as u64 + 1).min((seconds * rate).ceil() as u64);
        while issued < due {
            let scheduled = start + Duration::from_secs_f64(issued as f64 / rate);
            let permit = in_flight.clone().acquire_owned().await.unwrap();
            let (latencies, errors) = (latencies.clone(), errors.clone());
            let answered = request(issued as usize);
            handles.push(tokio::spawn(async move {
                let _slot = permit;
                if answered.await {
                    let ms = scheduled.elapsed().as_secs_f64() * 1000.0;
                    latencies.lock().unwrap().push(ms);
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }));
            issued += 1;
        }
    }
    let achieved = issued as f64 / start.elapsed().as_secs_f64();
    let stalls = probes.finish().await;
    for h in handles {
        h.await.unwrap();
    }
    let mut latencies = std::mem::take(&mut *latencies.lock().unwrap());
    latencies.sort_by(f64::total_cmp);
    OpenLoop { target: rate, achieved, errors: errors.load(Ordering::Relaxed), latencies, stalls }
}

/// The `p` quantile (0..=1) of sorted values; 0 when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}
