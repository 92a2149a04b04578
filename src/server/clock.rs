//! Time for the backend: the engine never reads a clock, the server passes `now` in.
//! `Clock::System` is the wall clock; `Clock::manual` is a clock tests move by hand
//! (timers 10 days ahead fire without waiting 10 days).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use crate::time::Timestamp;

/// Where `now` comes from.
#[derive(Debug, Clone)]
pub enum Clock {
    /// The system wall clock.
    System,
    /// A clock set by hand (tests, replays).
    Manual(Arc<AtomicI64>),
}

impl Clock {
    /// A manual clock at `start`.
    pub fn manual(start: Timestamp) -> Clock {
        Clock::Manual(Arc::new(AtomicI64::new(start.0)))
    }

    /// The current time.
    pub fn now(&self) -> Timestamp {
        match self {
            Clock::System => {
                let ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
                    .unwrap_or(0);
                Timestamp(ms)
            }
            Clock::Manual(ms) => Timestamp(ms.load(Ordering::SeqCst)),
        }
    }

    /// Sets a manual clock (no effect on the system clock).
    pub fn set(&self, t: Timestamp) {
        if let Clock::Manual(ms) = self {
            ms.store(t.0, Ordering::SeqCst);
        }
    }
}

/// Sleeps `period` unless shutdown comes first; whether to go on (false: shutting down).
/// The background loops (scheduler, outbox, trigger jobs, the fit) wait between rounds
/// with it.
pub async fn pause(period: std::time::Duration, shutdown: &mut tokio::sync::watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(period) => !*shutdown.borrow(),
        _ = shutdown.changed() => false,
    }
}
