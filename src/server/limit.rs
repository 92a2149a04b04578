//! The per-shopper rate limit of the shopper routes (`POST /v1/sync`, `/v1/sync/beacon`):
//! one token cannot flood the writer. Keyed by the anonymous id of the verified token, so
//! only shoppers the store issued a token for take a slot. GCRA (governor's keyed
//! limiter): a burst, then a sustained rate per second; over it a request answers 429
//! `rate_limited` with `Retry-After`. Idle shoppers are dropped by [`ShopperLimit::prune`]
//! (the server runs it every [`PRUNE_EVERY`]), so memory follows the shoppers active in the
//! last few seconds, not every shopper ever seen.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use governor::clock::{Clock as _, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use tokio::sync::watch;

use super::error::ApiError;

/// How often idle shoppers are dropped from the limiter.
pub const PRUNE_EVERY: Duration = Duration::from_secs(5);

/// The limit's settings: `per_second` sustained, `burst` at once; `per_second` 0 turns it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests a second one shopper may keep sending (0: no limit).
    pub per_second: u32,
    /// Requests one shopper may send at once before the rate applies.
    pub burst: u32,
}

impl RateLimit {
    /// The default: far above what a storefront sends (a sync per page view or change,
    /// a beacon per page hide), low enough that one token cannot occupy the writer.
    pub const DEFAULT: RateLimit = RateLimit { per_second: 10, burst: 30 };

    /// No limit.
    pub const OFF: RateLimit = RateLimit { per_second: 0, burst: 0 };

    /// Checks the pair; the error names the flag to fix.
    pub fn validate(&self) -> Result<(), String> {
        if self.per_second > 0 && self.burst == 0 {
            return Err("--shopper-burst (WAYMARK_SHOPPER_BURST) must be at least 1 while \
                        --shopper-rate (WAYMARK_SHOPPER_RATE) is on; set the rate to 0 to turn the limit off"
                .into());
        }
        Ok(())
    }
}

type Keyed = RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock>;

/// The limiter the shopper routes share (cheap to clone).
#[derive(Clone)]
pub struct ShopperLimit(Option<Arc<Keyed>>);

impl std::fmt::Debug for ShopperLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShopperLimit").field("on", &self.0.is_some()).field("shoppers", &self.len()).finish()
    }
}

impl ShopperLimit {
    /// A limiter for the settings (none when the rate is 0).
    pub fn new(limit: RateLimit) -> ShopperLimit {
        match (NonZeroU32::new(limit.per_second), NonZeroU32::new(limit.burst)) {
            (Some(rate), Some(burst)) => {
                ShopperLimit(Some(Arc::new(RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)))))
            }
            _ => ShopperLimit(None),
        }
    }

    /// Takes one request of `shopper` (an anonymous id from a verified token): 429
    /// `rate_limited` with the seconds to wait when it is over its limit.
    pub fn check(&self, shopper: &str) -> Result<(), ApiError> {
        let Some(limiter) = &self.0 else { return Ok(()) };
        match limiter.check_key(&shopper.to_owned()) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(limiter.clock().now());
                // Whole seconds, rounded up: a client that waits that long gets through.
                let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                Err(ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!("too many syncs for this shopper: retry in {} s", seconds.max(1)),
                )
                .with_retry_after(seconds.max(1)))
            }
        }
    }

    /// Forgets shoppers whose allowance is full again (they look exactly like new ones)
    /// and gives the memory back; returns how many shoppers it still tracks.
    pub fn prune(&self) -> usize {
        let Some(limiter) = &self.0 else { return 0 };
        limiter.retain_recent();
        limiter.shrink_to_fit();
        limiter.len()
    }

    /// Shoppers tracked now.
    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |l| l.len())
    }

    /// True when no shopper is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Prunes every `every` until shutdown; `tracked` is told the count after each pass.
    pub async fn run_pruner(self, every: Duration, tracked: prometheus::IntGauge, mut shutdown: watch::Receiver<bool>) {
        if self.0.is_none() {
            return;
        }
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let n = self.prune();
                    tracked.set(i64::try_from(n).unwrap_or(i64::MAX));
                }
                _ = shutdown.changed() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shopper_gets_its_burst_then_429_with_retry_after() {
        let limit = ShopperLimit::new(RateLimit { per_second: 1, burst: 3 });
        for _ in 0..3 {
            limit.check("a").unwrap();
        }
        let e = limit.check("a").unwrap_err();
        assert_eq!((e.status(), e.code(), e.retry_after()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited", Some(1)));
        // Another shopper is not affected.
        limit.check("b").unwrap();
    }

    #[test]
    fn off_never_limits_or_tracks() {
        let limit = ShopperLimit::new(RateLimit::OFF);
        for i in 0..1000 {
            limit.check(&format!("s{}", i % 3)).unwrap();
        }
        assert!(limit.is_empty());
        assert_eq!(limit.prune(), 0);
    }

    #[test]
    fn idle_shoppers_are_forgotten() {
        // A fast refill: every allowance is full again after a few milliseconds.
        let limit = ShopperLimit::new(RateLimit { per_second: 1000, burst: 2 });
        for i in 0..10_000 {
            limit.check(&format!("shopper-{i}")).unwrap();
        }
        assert_eq!(limit.len(), 10_000);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(limit.prune(), 0, "every allowance is full again: nothing to remember");
    }

    #[test]
    fn burst_zero_with_a_rate_is_refused() {
        assert!(RateLimit { per_second: 5, burst: 0 }.validate().is_err());
        assert!(RateLimit::OFF.validate().is_ok());
        assert!(RateLimit::DEFAULT.validate().is_ok());
    }
}
