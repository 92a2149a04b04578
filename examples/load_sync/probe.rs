//! Stall probes of the load client. A task on the client's runtime waking every 1 ms:
//! how late it fires is how long the client's ready tasks waited (its latencies then
//! include the stall, the server's may not). A plain OS thread sleeping 1 ms at a time:
//! when it is late too, the whole client process or the machine stalled.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A task wake-up later than this counts as a stall.
pub const STALL: Duration = Duration::from_millis(5);

/// What the probes saw.
#[derive(Debug, Clone, Copy)]
pub struct Stalls {
    /// Worst lateness of the runtime task.
    pub runtime_max: Duration,
    /// Runtime wake-ups later than [`STALL`].
    pub runtime_count: u64,
    /// Worst lateness of the OS thread's sleep.
    pub os_thread_max: Duration,
}

/// Both probes, running until [`Probes::finish`].
pub struct Probes {
    stop: Arc<AtomicBool>,
    runtime: tokio::task::JoinHandle<(Duration, u64)>,
    os_thread: std::thread::JoinHandle<()>,
    os_worst_us: Arc<AtomicU64>,
}

impl Probes {
    /// Starts both probes (call from within the client's runtime).
    pub fn start() -> Probes {
        let stop = Arc::new(AtomicBool::new(false));
        let runtime = tokio::spawn({
            let stop = stop.clone();
            async move {
                let (mut worst, mut stalls) = (Duration::ZERO, 0u64);
                let mut every = tokio::time::interval(Duration::from_millis(1));
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                while !stop.load(Ordering::Relaxed) {
                    let late = every.tick().await.elapsed();
                    worst = worst.max(late);
                    if late > STALL {
                        stalls += 1;
                    }
                }
                (worst, stalls)
            }
        });
        let os_worst_us = Arc::new(AtomicU64::new(0));
        let os_thread = std::thread::spawn({
            let (stop, worst) = (stop.clone(), os_worst_us.clone());
            move || {
                while !stop.load(Ordering::Relaxed) {
                    let before = Instant::now();
                    std::thread::sleep(Duration::from_millis(1));
                    let late = before.elapsed().saturating_sub(Duration::from_millis(1));
                    worst.fetch_max(late.as_micros() as u64, Ordering::Relaxed);
                }
            }
        });
        Probes { stop, runtime, os_thread, os_worst_us }
    }

    /// Stops both probes and reports.
    pub async fn finish(self) -> Stalls {
        self.stop.store(true, Ordering::Relaxed);
        let (runtime_max, runtime_count) = self.runtime.await.unwrap();
        self.os_thread.join().unwrap();
        let os_thread_max = Duration::from_micros(self.os_worst_us.load(Ordering::Relaxed));
        Stalls { runtime_max, runtime_count, os_thread_max }
    }
}
