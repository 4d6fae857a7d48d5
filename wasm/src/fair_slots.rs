//! [`FairSlots`]: the plugin call slots, shared fairly between tenants (the users runs
//! belong to, and the operator), so one tenant's burst of slow or hostile calls cannot keep
//! another tenant's calls waiting.
//!
//! Two caps apply: `total` calls at once across everyone (the pool's size) and `per_tenant`
//! calls at once for any one tenant. A call that finds both caps clear runs at once;
//! otherwise it waits in its tenant's queue (first come, first served within a tenant).
//! When a slot frees it goes to the waiting tenants in turn (round robin), skipping those
//! at their own cap, rather than to whoever has waited longest overall: one call queued
//! behind another tenant's hundred gets the next slot its turn brings, not the 101st.
//!
//! [`FairQueue`] is the bookkeeping alone, synchronous and deterministic; [`FairSlots`]
//! wraps it for async callers. A [`SlotPermit`] gives its slot back when dropped, and a
//! waiting [`Acquire`] that is dropped (its step timed out or the run was cancelled) leaves
//! the queue, or gives back the slot it was handed just before.
//!
//! The invariant every operation keeps: no waiter that could run is left waiting while a
//! slot is free. So a newcomer that finds a free slot and its tenant under its cap may take
//! it without queueing: everyone waiting is held by their own tenant's cap.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

/// Whom a call counts against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Tenant {
    /// Runs started from the CLI, which belong to no user; all of them are one tenant.
    Operator,
    User(Arc<str>),
}

impl Tenant {
    /// The tenant of a run with this owner (`None`: the operator's).
    pub(crate) fn of(owner: Option<&str>) -> Tenant {
        match owner {
            Some(user) => Tenant::User(Arc::from(user)),
            None => Tenant::Operator,
        }
    }
}

/// One waiting call's place in its tenant's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Ticket(u64);

/// What [`FairQueue::admit`] decided.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// The call holds a slot now.
    Granted,
    /// The call waits; a later [`FairQueue::release`] names the ticket when it is granted.
    Queued(Ticket),
}

#[derive(Debug, Default)]
struct TenantSlots {
    running: usize,
    waiting: VecDeque<Ticket>,
}

/// The slot bookkeeping: who runs, who waits, whose turn is next.
#[derive(Debug)]
pub(crate) struct FairQueue {
    total: usize,
    per_tenant: usize,
    running: usize,
    /// Only tenants that run or wait are here, so the map does not grow with every user
    /// ever seen.
    tenants: HashMap<Tenant, TenantSlots>,
    /// Tenants with waiters, next to be served first; one that is served moves to the back.
    turn: VecDeque<Tenant>,
    next_ticket: u64,
}

impl FairQueue {
    /// `total` and `per_tenant` are clamped to at least 1, and `per_tenant` to `total`.
    pub(crate) fn new(total: usize, per_tenant: usize) -> FairQueue {
        let total = total.max(1);
        FairQueue {
            total,
            per_tenant: per_tenant.clamp(1, total),
            running: 0,
            tenants: HashMap::new(),
            turn: VecDeque::new(),
            next_ticket: 0,
        }
    }

    /// A call for `tenant` asks for a slot.
    pub(crate) fn admit(&mut self, tenant: &Tenant) -> Admission {
        let slots = self.tenants.entry(tenant.clone()).or_default();
        if self.running < self.total && slots.running < self.per_tenant {
            slots.running += 1;
            self.running += 1;
            return Admission::Granted;
        }
        let ticket = Ticket(self.next_ticket);
        self.next_ticket += 1;
        if slots.waiting.is_empty() {
            self.turn.push_back(tenant.clone());
        }
        slots.waiting.push_back(ticket);
        Admission::Queued(ticket)
    }

    /// A call for `tenant` gives its slot back; returns the waiting call granted it, if
    /// any.
    pub(crate) fn release(&mut self, tenant: &Tenant) -> Option<Ticket> {
        let slots = self
            .tenants
            .get_mut(tenant)
            .filter(|slots| slots.running > 0)?;
        slots.running -= 1;
        self.running -= 1;
        self.forget_if_idle(tenant);
        self.grant_free_slot()
    }

    /// A waiting call gives up. False when `ticket` was not waiting (it was granted: its
    /// holder must [`release`](Self::release) instead).
    pub(crate) fn withdraw(&mut self, tenant: &Tenant, ticket: Ticket) -> bool {
        let Some(slots) = self.tenants.get_mut(tenant) else {
            return false;
        };
        let Some(at) = slots.waiting.iter().position(|t| *t == ticket) else {
            return false;
        };
        slots.waiting.remove(at);
        if slots.waiting.is_empty() {
            self.turn.retain(|t| t != tenant);
        }
        self.forget_if_idle(tenant);
        // One fewer waiter frees no slot and lifts no cap: nothing to grant.
        true
    }

    /// Hands the free slot to the first waiting tenant in turn that is under its cap (those
    /// skipped keep their place); it moves to the back of the turn.
    fn grant_free_slot(&mut self) -> Option<Ticket> {
        if self.running >= self.total {
            return None;
        }
        let at = self.turn.iter().position(|tenant| {
            self.tenants
                .get(tenant)
                .is_some_and(|slots| slots.running < self.per_tenant)
        })?;
        let tenant = self.turn.remove(at)?;
        let slots = self.tenants.get_mut(&tenant)?;
        let ticket = slots.waiting.pop_front()?;
        slots.running += 1;
        self.running += 1;
        if !slots.waiting.is_empty() {
            self.turn.push_back(tenant);
        }
        Some(ticket)
    }

    fn forget_if_idle(&mut self, tenant: &Tenant) {
        if self
            .tenants
            .get(tenant)
            .is_some_and(|slots| slots.running == 0 && slots.waiting.is_empty())
        {
            self.tenants.remove(tenant);
        }
    }
}

/// [`FairQueue`] for async callers: [`FairSlots::acquire`] waits for a slot.
pub(crate) struct FairSlots {
    state: Mutex<State>,
}

struct State {
    queue: FairQueue,
    /// Waiting calls that have been polled, to wake when granted.
    wakers: HashMap<Ticket, Waker>,
    /// Granted tickets whose [`Acquire`] has not yet seen the grant.
    granted: HashSet<Ticket>,
}

impl State {
    /// Marks `ticket` granted and returns its waker, to call once the lock is let go.
    fn grant(&mut self, ticket: Ticket) -> Option<Waker> {
        self.granted.insert(ticket);
        self.wakers.remove(&ticket)
    }
}

impl FairSlots {
    pub(crate) fn new(total: usize, per_tenant: usize) -> FairSlots {
        FairSlots {
            state: Mutex::new(State {
                queue: FairQueue::new(total, per_tenant),
                wakers: HashMap::new(),
                granted: HashSet::new(),
            }),
        }
    }

    /// Waits for a slot for `tenant`; the slot is held until the permit is dropped.
    pub(crate) fn acquire(&self, tenant: Tenant) -> Acquire<'_> {
        Acquire {
            slots: self,
            tenant: Some(tenant),
            ticket: None,
        }
    }

    /// The bookkeeping holds no invariant a panic elsewhere could break halfway (nothing
    /// under the lock panics), so a poisoned lock is still good.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn release(&self, tenant: &Tenant) {
        let waker = {
            let mut state = self.lock();
            let granted = state.queue.release(tenant);
            granted.and_then(|ticket| state.grant(ticket))
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The future of [`FairSlots::acquire`].
pub(crate) struct Acquire<'a> {
    slots: &'a FairSlots,
    /// Taken when the permit is handed out.
    tenant: Option<Tenant>,
    /// Set while the call waits in the queue.
    ticket: Option<Ticket>,
}

impl<'a> Future for Acquire<'a> {
    type Output = SlotPermit<'a>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<SlotPermit<'a>> {
        let this = self.get_mut();
        let Some(tenant) = this.tenant.take() else {
            // Polled after it completed: a contract breach by the caller, answered by
            // never completing again rather than by a second permit.
            return Poll::Pending;
        };
        let mut state = this.slots.lock();
        let ready = match this.ticket {
            None => match state.queue.admit(&tenant) {
                Admission::Granted => true,
                Admission::Queued(ticket) => {
                    this.ticket = Some(ticket);
                    state.wakers.insert(ticket, cx.waker().clone());
                    false
                }
            },
            Some(ticket) if state.granted.remove(&ticket) => {
                this.ticket = None;
                true
            }
            Some(ticket) => {
                state.wakers.insert(ticket, cx.waker().clone());
                false
            }
        };
        drop(state);
        if ready {
            Poll::Ready(SlotPermit {
                slots: this.slots,
                tenant,
            })
        } else {
            this.tenant = Some(tenant);
            Poll::Pending
        }
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        let (Some(tenant), Some(ticket)) = (&self.tenant, self.ticket) else {
            return;
        };
        let mut state = self.slots.lock();
        state.wakers.remove(&ticket);
        let handed_over = state.granted.remove(&ticket);
        if !handed_over {
            state.queue.withdraw(tenant, ticket);
            return;
        }
        // Granted but never seen: the slot is ours, so give it back.
        drop(state);
        self.slots.release(tenant);
    }
}

/// A held slot; dropping it gives the slot back (to the next tenant in turn).
pub(crate) struct SlotPermit<'a> {
    slots: &'a FairSlots,
    tenant: Tenant,
}

impl Drop for SlotPermit<'_> {
    fn drop(&mut self) {
        self.slots.release(&self.tenant);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn user(name: &str) -> Tenant {
        Tenant::User(Arc::from(name))
    }

    fn queued(admission: Admission) -> Ticket {
        match admission {
            Admission::Queued(ticket) => ticket,
            Admission::Granted => panic!("expected to wait"),
        }
    }

    #[test]
    fn calls_run_at_once_up_to_the_tenant_cap_then_wait() {
        let mut queue = FairQueue::new(8, 2);
        let a = user("a");
        assert_eq!(queue.admit(&a), Admission::Granted);
        assert_eq!(queue.admit(&a), Admission::Granted);
        let third = queued(queue.admit(&a));
        // Another tenant is not held by a's cap.
        assert_eq!(queue.admit(&user("b")), Admission::Granted);
        assert_eq!(queue.release(&a), Some(third));
    }

    #[test]
    fn a_burst_from_one_tenant_leaves_slots_for_the_others() {
        let mut queue = FairQueue::new(4, 2);
        let (a, b, c) = (user("a"), user("b"), user("c"));
        for _ in 0..2 {
            assert_eq!(queue.admit(&a), Admission::Granted);
        }
        let a_waiting: Vec<_> = (0..10).map(|_| queued(queue.admit(&a))).collect();
        assert_eq!(queue.admit(&b), Admission::Granted);
        assert_eq!(queue.admit(&c), Admission::Granted);
        // The pool is full now: b waits, but a's ten queued calls do not go first.
        let b_waiting = queued(queue.admit(&b));
        assert_eq!(queue.release(&c), Some(b_waiting));
        // a's slot goes back to a (nobody else waits), in a's order.
        assert_eq!(queue.release(&a), Some(a_waiting[0]));
        assert_eq!(queue.release(&a), Some(a_waiting[1]));
    }

    #[test]
    fn freed_slots_go_to_waiting_tenants_in_turn_not_first_come() {
        let mut queue = FairQueue::new(2, 2);
        let (a, b, c, x) = (user("a"), user("b"), user("c"), user("x"));
        assert_eq!(queue.admit(&x), Admission::Granted);
        assert_eq!(queue.admit(&x), Admission::Granted);
        let a1 = queued(queue.admit(&a));
        let a2 = queued(queue.admit(&a));
        let a3 = queued(queue.admit(&a));
        let b1 = queued(queue.admit(&b));
        let c1 = queued(queue.admit(&c));
        let b2 = queued(queue.admit(&b));
        let tenant_of = |ticket: Ticket| {
            if [a1, a2, a3].contains(&ticket) {
                a.clone()
            } else if [b1, b2].contains(&ticket) {
                b.clone()
            } else {
                c.clone()
            }
        };
        // The oldest running call ends each time, and the granted call runs in its place.
        let mut running = VecDeque::from([x.clone(), x]);
        let mut order = Vec::new();
        while let Some(finished) = running.pop_front() {
            if let Some(ticket) = queue.release(&finished) {
                running.push_back(tenant_of(ticket));
                order.push(ticket);
            }
        }
        assert_eq!(order, vec![a1, b1, c1, a2, b2, a3]);
        assert!(queue.tenants.is_empty() && queue.turn.is_empty());
    }

    #[test]
    fn a_tenant_at_its_cap_is_skipped_and_keeps_its_turn() {
        let mut queue = FairQueue::new(3, 1);
        let (a, b, c) = (user("a"), user("b"), user("c"));
        assert_eq!(queue.admit(&a), Admission::Granted);
        assert_eq!(queue.admit(&b), Admission::Granted);
        assert_eq!(queue.admit(&c), Admission::Granted);
        let a2 = queued(queue.admit(&a));
        let b2 = queued(queue.admit(&b));
        let c2 = queued(queue.admit(&c));
        // c's slot frees: a and b, ahead in turn, are at their cap; c's own waiter runs.
        assert_eq!(queue.release(&c), Some(c2));
        // a is still first in turn when its slot frees.
        assert_eq!(queue.release(&a), Some(a2));
        assert_eq!(queue.release(&b), Some(b2));
    }

    #[test]
    fn the_operator_is_one_tenant_apart_from_a_user_named_operator() {
        let mut queue = FairQueue::new(4, 1);
        assert_eq!(Tenant::of(None), Tenant::Operator);
        assert_eq!(queue.admit(&Tenant::of(None)), Admission::Granted);
        queued(queue.admit(&Tenant::of(None)));
        assert_eq!(
            queue.admit(&Tenant::of(Some("operator"))),
            Admission::Granted
        );
    }

    #[test]
    fn a_withdrawn_waiter_is_never_granted() {
        let mut queue = FairQueue::new(1, 1);
        let (a, b) = (user("a"), user("b"));
        assert_eq!(queue.admit(&a), Admission::Granted);
        let b1 = queued(queue.admit(&b));
        let a2 = queued(queue.admit(&a));
        assert!(queue.withdraw(&b, b1));
        assert!(!queue.withdraw(&b, b1));
        assert_eq!(queue.release(&a), Some(a2));
        assert!(!queue.withdraw(&a, a2), "granted, not waiting");
        assert_eq!(queue.release(&a), None);
        assert!(queue.tenants.is_empty() && queue.turn.is_empty());
        assert_eq!(queue.running, 0);
    }

    #[test]
    fn caps_are_clamped_to_something_that_can_run() {
        let mut queue = FairQueue::new(0, 0);
        assert_eq!(queue.admit(&user("a")), Admission::Granted);
        queued(queue.admit(&user("b")));
        assert_eq!(FairQueue::new(2, 10).per_tenant, 2);
    }

    #[test]
    fn a_release_without_a_slot_changes_nothing() {
        let mut queue = FairQueue::new(1, 1);
        assert_eq!(queue.release(&user("nobody")), None);
        assert_eq!(queue.admit(&user("a")), Admission::Granted);
        assert_eq!(queue.running, 1);
    }

    /// Counts the wakes of the wakers made from it.
    #[derive(Default)]
    struct Wakes(AtomicUsize);

    impl std::task::Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn poll_once<F: Future + Unpin>(future: &mut F, wakes: &Arc<Wakes>) -> Poll<F::Output> {
        let waker = Waker::from(wakes.clone());
        Pin::new(future).poll(&mut Context::from_waker(&waker))
    }

    #[test]
    fn a_dropped_permit_wakes_the_waiter_it_is_handed_to() {
        let slots = FairSlots::new(1, 1);
        let (a_wakes, b_wakes) = (Arc::new(Wakes::default()), Arc::new(Wakes::default()));
        let Poll::Ready(a_permit) = poll_once(&mut slots.acquire(user("a")), &a_wakes) else {
            panic!("a free slot is granted at once");
        };
        let mut b = slots.acquire(user("b"));
        assert!(poll_once(&mut b, &b_wakes).is_pending());
        let mut a_again = slots.acquire(user("a"));
        assert!(poll_once(&mut a_again, &a_wakes).is_pending());
        drop(a_permit);
        assert_eq!(b_wakes.0.load(Ordering::Relaxed), 1);
        assert_eq!(a_wakes.0.load(Ordering::Relaxed), 0);
        assert!(poll_once(&mut a_again, &a_wakes).is_pending());
        let Poll::Ready(b_permit) = poll_once(&mut b, &b_wakes) else {
            panic!("b was woken for its slot");
        };
        drop(b_permit);
        assert_eq!(a_wakes.0.load(Ordering::Relaxed), 1);
        assert!(poll_once(&mut a_again, &a_wakes).is_ready());
    }

    #[test]
    fn a_dropped_waiter_leaves_the_queue_and_a_granted_one_gives_the_slot_back() {
        let slots = FairSlots::new(1, 1);
        let wakes = Arc::new(Wakes::default());
        let Poll::Ready(permit) = poll_once(&mut slots.acquire(user("a")), &wakes) else {
            panic!("a free slot is granted at once");
        };
        let mut cancelled = slots.acquire(user("b"));
        assert!(poll_once(&mut cancelled, &wakes).is_pending());
        drop(cancelled);
        let mut granted_unseen = slots.acquire(user("c"));
        assert!(poll_once(&mut granted_unseen, &wakes).is_pending());
        let mut last = slots.acquire(user("d"));
        assert!(poll_once(&mut last, &wakes).is_pending());
        // The slot goes to c (b left); c is dropped before it sees it, so d gets it.
        drop(permit);
        drop(granted_unseen);
        let Poll::Ready(d_permit) = poll_once(&mut last, &wakes) else {
            panic!("c gave its slot back");
        };
        {
            let state = slots.lock();
            assert!(state.wakers.is_empty() && state.granted.is_empty());
            assert_eq!(state.queue.running, 1);
        }
        drop(d_permit);
        assert_eq!(slots.lock().queue.running, 0);
    }
}
