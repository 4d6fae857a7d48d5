//! One memory budget for all image work: upload bodies being received and pixels being
//! decoded and processed each hold a share of it for as long as they hold the memory, so
//! concurrent work queues instead of growing the process.
//!
//! Weights are bytes, kept in KiB so the semaphore's `u32` counts reach terabytes. Work that
//! would need more than the whole budget takes the whole budget (it runs alone rather than
//! never). Each user may hold at most a share of the budget at once, so one user's burst
//! queues behind itself and leaves the rest to others; waiting is bounded by `max_wait`,
//! after which the caller is told the server is busy and when to come back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::local::{DecodeLimits, decode_cost};

/// The budget when nothing else is configured (`--memory-budget-mib`).
pub const DEFAULT_BUDGET_BYTES: u64 = 256 * MIB;
/// How long work waits for the budget by default (`--memory-wait`).
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(30);
/// The part of the budget one user may hold at once, in percent.
pub const DEFAULT_USER_SHARE_PERCENT: u64 = 50;

const MIB: u64 = 1024 * 1024;
const KIB: u64 = 1024;

/// Waiting for the budget took longer than allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the server is busy with other images ({wanted_mib} MiB of image memory was not free \
     within {waited_secs} s); retry in {retry_after_secs} s"
)]
pub struct Busy {
    pub wanted_mib: u64,
    pub waited_secs: u64,
    /// When trying again is likely to find room, for a `Retry-After` header.
    pub retry_after_secs: u64,
}

/// The budget. Cheap to share behind an `Arc`; every permit gives its share back on drop.
#[derive(Debug)]
pub struct MemoryBudget {
    all: Arc<Semaphore>,
    total_kib: u32,
    user_share_kib: u32,
    max_wait: Duration,
    /// One semaphore per user (`None`: the operator) holding work right now; an entry
    /// leaves when its last permit or waiter does, so the map stays as small as the crowd.
    users: Arc<Mutex<HashMap<Option<String>, Arc<Semaphore>>>>,
}

impl Default for MemoryBudget {
    fn default() -> Self {
        MemoryBudget::new(DEFAULT_BUDGET_BYTES, DEFAULT_MAX_WAIT)
    }
}

impl MemoryBudget {
    /// A budget of `total_bytes` (at least 1 MiB) where work waits at most `max_wait`.
    pub fn new(total_bytes: u64, max_wait: Duration) -> Self {
        Self::with_user_share(total_bytes, max_wait, DEFAULT_USER_SHARE_PERCENT)
    }

    /// As [`MemoryBudget::new`], letting one user hold at most `percent` (1 to 100) of it.
    pub fn with_user_share(total_bytes: u64, max_wait: Duration, percent: u64) -> Self {
        let total_kib = kib(total_bytes.max(MIB)).min(u64::from(u32::MAX)) as u32;
        let user_share_kib = (u64::from(total_kib) * percent.clamp(1, 100) / 100).max(1) as u32;
        MemoryBudget {
            all: Arc::new(Semaphore::new(total_kib as usize)),
            total_kib,
            user_share_kib,
            max_wait,
            users: Arc::default(),
        }
    }

    /// The whole budget, in bytes.
    pub fn total_bytes(&self) -> u64 {
        u64::from(self.total_kib) * KIB
    }

    /// What is not held right now, in bytes.
    pub fn available_bytes(&self) -> u64 {
        self.all.available_permits() as u64 * KIB
    }

    pub fn max_wait(&self) -> Duration {
        self.max_wait
    }

    /// Waits (at most `max_wait`) until `bytes` of the budget are free for `owner`'s work
    /// and holds them until the permit is dropped. The user's share is taken first, then
    /// the budget, both in arrival order.
    ///
    /// # Errors
    /// [`Busy`] when the wait would be longer than `max_wait`.
    pub async fn acquire(&self, owner: Option<&str>, bytes: u64) -> Result<MemoryPermit, Busy> {
        let started = Instant::now();
        let weight = kib(bytes).clamp(1, u64::from(self.total_kib)) as u32;
        let share_weight = weight.min(self.user_share_kib);
        let user = self.user_semaphore(owner);
        let waiting = async {
            let share = user.clone().acquire_many_owned(share_weight).await;
            let all = self.all.clone().acquire_many_owned(weight).await;
            (share, all)
        };
        let outcome = tokio::time::timeout(self.max_wait, waiting).await;
        // The user's semaphore may be the last thing keeping its entry; `forget_idle` below
        // (or the permit's drop) takes it out once nothing holds it.
        let permit = match outcome {
            Ok((Ok(share), Ok(all))) => Ok(MemoryPermit {
                share: Some(share),
                all: Some(all),
                owner: owner.map(str::to_string),
                users: self.users.clone(),
            }),
            // The semaphores are never closed; a closed one reads as a full budget.
            Ok(_) | Err(_) => Err(Busy {
                wanted_mib: bytes.div_ceil(MIB),
                waited_secs: started.elapsed().as_secs(),
                retry_after_secs: self.max_wait.as_secs().max(1),
            }),
        };
        drop(user);
        if permit.is_err() {
            forget_idle(&self.users, &owner.map(str::to_string));
        }
        permit
    }

    /// As [`MemoryBudget::acquire`], for decoding and processing the image `bytes`: the
    /// weight is what [`decode_cost`] reads from the header. Bytes that are not an image
    /// weigh their length (decoding them fails at once, saying why).
    ///
    /// # Errors
    /// [`Busy`] when the wait would be longer than `max_wait`.
    pub async fn acquire_for_image(
        &self,
        owner: Option<&str>,
        bytes: &[u8],
        limits: &DecodeLimits,
    ) -> Result<MemoryPermit, Busy> {
        let cost = decode_cost(bytes, limits).unwrap_or(bytes.len() as u64);
        self.acquire(owner, cost).await
    }

    fn user_semaphore(&self, owner: Option<&str>) -> Arc<Semaphore> {
        let mut users = self.users.lock().expect("budget users lock");
        users
            .entry(owner.map(str::to_string))
            .or_insert_with(|| Arc::new(Semaphore::new(self.user_share_kib as usize)))
            .clone()
    }
}

/// A held part of the budget; given back on drop.
#[derive(Debug)]
pub struct MemoryPermit {
    share: Option<OwnedSemaphorePermit>,
    all: Option<OwnedSemaphorePermit>,
    owner: Option<String>,
    users: Arc<Mutex<HashMap<Option<String>, Arc<Semaphore>>>>,
}

impl MemoryPermit {
    /// How much of the budget this permit holds, in bytes.
    pub fn bytes(&self) -> u64 {
        self.all
            .as_ref()
            .map_or(0, |p| p.num_permits() as u64 * KIB)
    }
}

impl Drop for MemoryPermit {
    fn drop(&mut self) {
        self.all.take();
        self.share.take();
        forget_idle(&self.users, &self.owner);
    }
}

/// Drops a user's entry once only the map refers to its semaphore. Clones are made under
/// the same lock, so nobody can be about to use an entry that is removed.
fn forget_idle(users: &Mutex<HashMap<Option<String>, Arc<Semaphore>>>, owner: &Option<String>) {
    let mut users = users.lock().expect("budget users lock");
    if users
        .get(owner)
        .is_some_and(|semaphore| Arc::strong_count(semaphore) == 1)
    {
        users.remove(owner);
    }
}

fn kib(bytes: u64) -> u64 {
    bytes.div_ceil(KIB)
}

tokio::task_local! {
    /// The user on whose behalf image work runs, for providers that are not handed a step
    /// context (they share the budget by user all the same).
    static WORK_OWNER: Option<String>;
}

/// Runs `work` on behalf of `owner` (`None`: the operator); see [`current_owner`].
pub async fn on_behalf_of<F: std::future::Future>(owner: Option<String>, work: F) -> F::Output {
    WORK_OWNER.scope(owner, work).await
}

/// The user whose work this is, set by [`on_behalf_of`]; the operator outside of one.
pub fn current_owner() -> Option<String> {
    WORK_OWNER.try_with(Clone::clone).ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_millis(200);

    #[tokio::test]
    async fn weights_are_held_until_dropped_and_then_given_back() {
        let budget = MemoryBudget::with_user_share(10 * MIB, WAIT, 100);
        let first = budget.acquire(Some("a"), 6 * MIB).await.unwrap();
        assert_eq!(first.bytes(), 6 * MIB);
        assert_eq!(budget.available_bytes(), 4 * MIB);
        let second = budget.acquire(Some("a"), 4 * MIB).await.unwrap();
        assert_eq!(budget.available_bytes(), 0);
        drop(first);
        assert_eq!(budget.available_bytes(), 6 * MIB);
        drop(second);
        assert_eq!(budget.available_bytes(), 10 * MIB);
        assert!(
            budget.users.lock().unwrap().is_empty(),
            "idle users are forgotten"
        );
    }

    #[tokio::test]
    async fn small_weights_round_up_to_a_kib_and_never_to_nothing() {
        let budget = MemoryBudget::new(MIB, WAIT);
        assert_eq!(budget.acquire(None, 0).await.unwrap().bytes(), KIB);
        assert_eq!(budget.acquire(None, 1025).await.unwrap().bytes(), 2 * KIB);
    }

    #[tokio::test]
    async fn work_larger_than_the_budget_takes_all_of_it_instead_of_waiting_forever() {
        let budget = MemoryBudget::with_user_share(4 * MIB, WAIT, 50);
        let huge = budget.acquire(Some("a"), 100 * MIB).await.unwrap();
        assert_eq!(huge.bytes(), 4 * MIB);
        assert_eq!(budget.available_bytes(), 0);
        // Anyone else now waits, and is told so after `max_wait`.
        let busy = budget.acquire(Some("b"), KIB).await.unwrap_err();
        assert_eq!(busy.retry_after_secs, 1);
        drop(huge);
        budget.acquire(Some("b"), 100 * MIB).await.unwrap();
    }

    #[tokio::test]
    async fn a_wait_longer_than_allowed_is_busy_and_says_when_to_retry() {
        let budget = MemoryBudget::new(30 * MIB, Duration::from_millis(50));
        let _held = budget.acquire(Some("a"), 22 * MIB).await.unwrap();
        let started = Instant::now();
        let busy = budget.acquire(Some("b"), 22 * MIB).await.unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert_eq!(busy.wanted_mib, 22);
        assert!(busy.to_string().contains("retry in 1 s"), "{busy}");
        assert!(
            !budget.users.lock().unwrap().contains_key(&Some("b".into())),
            "a user who gave up is forgotten"
        );
    }

    #[tokio::test]
    async fn one_users_burst_does_not_keep_another_user_waiting() {
        let budget = Arc::new(MemoryBudget::with_user_share(
            100 * MIB,
            Duration::from_secs(5),
            50,
        ));
        let burst = budget.acquire(Some("a"), 50 * MIB).await.unwrap();
        // More of a's work queues behind a's share, not in front of b.
        let queued = {
            let budget = budget.clone();
            tokio::spawn(async move { budget.acquire(Some("a"), 10 * MIB).await })
        };
        tokio::task::yield_now().await;
        let other = tokio::time::timeout(WAIT, budget.acquire(Some("b"), 40 * MIB))
            .await
            .expect("b is served while a's work waits")
            .unwrap();
        assert!(!queued.is_finished(), "a stays within its share");
        drop(burst);
        let a_again = queued.await.unwrap().unwrap();
        assert_eq!(a_again.bytes(), 10 * MIB);
        drop(other);
    }

    #[tokio::test]
    async fn the_budget_is_granted_in_arrival_order() {
        let budget = Arc::new(MemoryBudget::with_user_share(
            10 * MIB,
            Duration::from_secs(5),
            100,
        ));
        let held = budget.acquire(Some("a"), 5 * MIB).await.unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut waiters = Vec::new();
        // A large image that does not fit yet, then small ones from other users that would:
        // they wait behind it rather than overtake it (large images are never starved).
        for (name, mib) in [("big", 8), ("b", 1), ("c", 1)] {
            let (budget, order) = (budget.clone(), order.clone());
            waiters.push(tokio::spawn(async move {
                let permit = budget.acquire(Some(name), mib * MIB).await.unwrap();
                order.lock().unwrap().push(name);
                tokio::time::sleep(Duration::from_millis(20)).await;
                drop(permit);
            }));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            order.lock().unwrap().is_empty(),
            "nobody overtook the large image"
        );
        drop(held);
        for waiter in waiters {
            waiter.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), ["big", "b", "c"]);
    }

    #[tokio::test]
    async fn a_share_larger_than_the_users_cap_is_capped_there_too() {
        let budget = MemoryBudget::with_user_share(10 * MIB, WAIT, 50);
        let permit = budget.acquire(Some("a"), 8 * MIB).await.unwrap();
        assert_eq!(permit.bytes(), 8 * MIB);
        // a's share is full: a's next work waits although the budget has 2 MiB free.
        assert!(budget.acquire(Some("a"), MIB).await.is_err());
        assert!(budget.acquire(Some("b"), MIB).await.is_ok());
    }

    #[tokio::test]
    async fn the_owner_travels_with_the_work() {
        assert_eq!(current_owner(), None);
        let seen = on_behalf_of(Some("ada".into()), async { current_owner() }).await;
        assert_eq!(seen.as_deref(), Some("ada"));
    }
}
