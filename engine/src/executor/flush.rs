//! Group commit: transitions waiting for durability share one fsync, and a lone waiter pays
//! no thread hand-off.
//!
//! The first caller to need durability becomes the *leader*: it lets the other ready steps
//! (its siblings in the run's task, other runs' tasks) commit and join, then flushes on its
//! own thread and wakes everyone its flush covered. While flushes are fast it holds its
//! worker for the fsync; once they are slow it flushes with `block_in_place`, so the runtime
//! moves the worker's other tasks elsewhere meanwhile. Callers arriving while a flush is on
//! disk wait for the next one, which one of them leads. A flush covers every write committed
//! before it begins.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::Notify;

use crate::EngineError;
use crate::store::{Durability, StateStore, StoreError};

pub(crate) struct Flusher {
    durability: Durability,
    state: Mutex<Progress>,
    finished: Notify,
}

#[derive(Default)]
struct Progress {
    /// Flushes begun; the one on disk, if any, is number `begun`.
    begun: u64,
    /// Flushes finished; equal to `begun` when none is on disk.
    finished: u64,
    /// The newest flush that succeeded, and why the newest failed one failed.
    succeeded: u64,
    error: Option<StoreError>,
    /// A leader has claimed flush `begun + 1` and is letting others join before it begins.
    claimed: bool,
    stats: FlushStats,
    /// The recent flushes' mean time (a moving average).
    recent: Duration,
}

/// The store flushes an engine made, and the time they took.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FlushStats {
    pub flushes: u64,
    pub time: Duration,
}

impl Flusher {
    pub fn new(durability: Durability) -> Flusher {
        Flusher {
            durability,
            state: Mutex::new(Progress::default()),
            finished: Notify::new(),
        }
    }

    fn progress(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.state.lock().expect("flush state lock")
    }

    pub fn stats(&self) -> FlushStats {
        self.progress().stats
    }

    /// Returns once everything committed to `store` before the call is on disk (`sync`), or
    /// at once (`relaxed`).
    pub async fn durable(&self, store: &dyn StateStore) -> Result<(), EngineError> {
        if self.durability == Durability::Relaxed {
            return Ok(());
        }
        // The next flush to begin is the first that covers what the caller committed.
        let target = self.progress().begun + 1;
        loop {
            let notified = self.finished.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let lead = {
                let mut progress = self.progress();
                if progress.finished >= target {
                    return if progress.succeeded >= target {
                        Ok(())
                    } else {
                        Err(EngineError::Store(progress.error.clone().unwrap_or_else(
                            || StoreError::unavailable(std::io::Error::other("a flush failed")),
                        )))
                    };
                }
                let idle = progress.begun == progress.finished && !progress.claimed;
                progress.claimed |= idle;
                idle
            };
            if lead {
                return self.lead(store, target).await;
            }
            notified.await;
        }
    }

    async fn lead(&self, store: &dyn StateStore, target: u64) -> Result<(), EngineError> {
        /// Gives up the claim if the leader is dropped before it begins, so nobody waits on
        /// a flush that will never happen.
        struct Claim<'a>(&'a Flusher, bool);
        impl Drop for Claim<'_> {
            fn drop(&mut self) {
                if self.1 {
                    self.0.progress().claimed = false;
                    self.0.finished.notify_waiters();
                }
            }
        }
        let mut claim = Claim(self, true);
        // One turn for every other ready task (and this run's other steps) to commit and join.
        tokio::task::yield_now().await;
        {
            let mut progress = self.progress();
            progress.claimed = false;
            progress.begun = target;
        }
        claim.1 = false;
        let started = Instant::now();
        let result = flush_off_the_runtime(store, self.progress().recent);
        let took = started.elapsed();
        {
            let mut progress = self.progress();
            progress.recent = (progress.recent * 7 + took) / 8;
            progress.finished = target;
            progress.stats.flushes += 1;
            progress.stats.time += took;
            match &result {
                Ok(()) => progress.succeeded = target,
                Err(EngineError::Store(e)) => progress.error = Some(e.clone()),
                Err(e) => {
                    progress.error = Some(StoreError::unavailable(std::io::Error::other(
                        e.to_string(),
                    )))
                }
            }
        }
        self.finished.notify_waiters();
        result
    }
}

/// Flushes that recently took longer than this (on average) are run with the worker's other
/// tasks moved to another thread; shorter ones hold the worker, which costs less than handing
/// its tasks off (measured in BENCHMARKS.md, "Engine overhead").
const BLOCK_IN_PLACE_AFTER: Duration = Duration::from_micros(500);

/// Flushes on this thread; on a multi-threaded runtime, when flushes have been slow, the
/// worker's other tasks move to another thread meanwhile.
fn flush_off_the_runtime(store: &dyn StateStore, recent: Duration) -> Result<(), EngineError> {
    let multi_thread = Handle::try_current()
        .map(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread)
        .unwrap_or(false);
    if multi_thread && recent > BLOCK_IN_PLACE_AFTER {
        tokio::task::block_in_place(|| store.flush())
    } else {
        store.flush()
    }
}
