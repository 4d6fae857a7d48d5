//! Durable state: runs, node states and hook-owned records, behind the [`StateStore`] trait.
//!
//! Every transition that matters is one transaction: the node record, optionally the run
//! record, and whatever the lifecycle hooks write (the credit ledger) commit together or not
//! at all, as one [`Batch`] of the data directory's [`Database`] (sled behind a write-ahead
//! log of our own, `wal`, so a durable commit is one write and one `fdatasync`).

mod admission;
mod deliveries;
mod error;
pub mod postgres;
mod records;
mod run_page;
mod sled;

pub use admission::{Contender, RunLimits, admit};
pub use deliveries::{DeliveryAttempt, DeliveryRecord, DeliveryStatus};
pub use error::StoreError;
pub use postgres::{PgStore, PgStoreOptions};
pub use records::{
    AttemptOutcome, AttemptRecord, NodeRecord, NodeStatus, RunRecord, RunStatus, RunWarning, now_ms,
};
pub use run_page::RunQuery;
pub use sled::{Batch, Database, DbError, SledStore, StoredBytes, StoredPair, Tree};

use crate::EngineError;
pub use crate::credits::{LedgerTables, TxnError};

/// How hard the store works to keep a transition across a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// A finished step's record is on disk (committed to the store's log with `fdatasync`, so
    /// the disk's write cache is flushed too) before any step that depends on it starts, and the
    /// run's final state before the run is reported done. Survives `kill -9`, an OS crash and
    /// power loss: a resumed run never re-runs a step that was reported finished. Steps that
    /// finish together share one flush (group commit).
    #[default]
    Sync,
    /// Writes are committed in the background (within ~500 ms). Survives `kill -9` of steps that
    /// finished before the last background flush; after a crash a step that finished just
    /// before it may run again (with the same idempotency key). Records stay consistent with
    /// each other: a node state and its ledger entries are lost or kept together.
    Relaxed,
}

/// The store's unfinished runs by status ([`StateStore::count_unfinished_runs`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnfinishedRuns {
    pub queued: u64,
    pub pending: u64,
    /// Running, or interrupted (no process executes it) until resumed.
    pub running: u64,
}

impl UnfinishedRuns {
    /// Counts one more run of `status`; a finished one is not counted.
    pub fn add(&mut self, status: RunStatus, n: u64) {
        match status {
            RunStatus::Queued => self.queued += n,
            RunStatus::Pending => self.pending += n,
            RunStatus::Running => self.running += n,
            RunStatus::Succeeded | RunStatus::Failed | RunStatus::Cancelled => {}
        }
    }
}

/// Why a hook refused a transition, or could not do its part of it.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// The transition is refused for this reason (e.g. insufficient credits); nothing of it
    /// is written, and the store returns [`EngineError::Refused`] with the refusal.
    #[error("{0}")]
    Refused(crate::Refusal),
    /// Reading or writing the hook's records failed.
    #[error(transparent)]
    Txn(#[from] TxnError),
}

/// Hook code run inside a transition's transaction, on the ledger's records.
pub type TxnWork<'a> = &'a (dyn Fn(&mut dyn LedgerTables) -> Result<(), HookError> + Sync);

/// Code that reads the ledger's records outside a transition ([`StateStore::read_ledger`]).
pub type LedgerRead<'a> = &'a mut dyn FnMut(&mut dyn LedgerTables) -> Result<(), TxnError>;

/// Persistent state of runs and nodes.
pub trait StateStore: Send + Sync + 'static {
    /// Writes a new run, and its workflow text if no run stored it yet, in one transaction.
    /// Its nodes get records from their first transition on.
    fn create_run(&self, run: &RunRecord, workflow_source: &str) -> Result<(), EngineError>;

    /// The workflow text with this sha256, as a run was started with it.
    fn workflow_source(&self, sha256: &str) -> Result<Option<String>, EngineError>;

    /// Writes a new run of a workflow with `concurrency:` limits (or one retried: the same
    /// record again, going on): as `create_run`, with the
    /// status decided in the same atomic step as the count of the workflow's runs holding
    /// slots ([`admit`]; on PostgreSQL across workers): `pending` if the limits leave it a
    /// slot now, else `queued`. Returns the status written.
    fn create_run_limited(
        &self,
        run: &RunRecord,
        workflow_source: &str,
        limits: &RunLimits,
    ) -> Result<RunStatus, EngineError>;

    /// Makes pending the queued runs of workflow `workflow_name` that `limits` leave slots
    /// for now ([`admit`], counted and changed in one atomic step); returns their ids, for
    /// the caller to execute (on PostgreSQL this process holds their leases).
    fn admit_queued(
        &self,
        workflow_name: &str,
        limits: &RunLimits,
    ) -> Result<Vec<String>, EngineError>;

    /// Every queued run, oldest first.
    fn queued_runs(&self) -> Result<Vec<RunRecord>, EngineError>;

    /// How many runs are queued, pending and running (or interrupted) now, across every
    /// process on the store. Read from the index of unfinished runs, so its cost follows the
    /// runs in flight, not the store's history.
    fn count_unfinished_runs(&self) -> Result<UnfinishedRuns, EngineError>;

    /// Writes a node record, optionally its run record, and `work`'s writes in one
    /// transaction. If `work` refuses, nothing is written and the refusal is returned.
    fn commit(
        &self,
        node: Option<&NodeRecord>,
        run: Option<&RunRecord>,
        work: Option<TxnWork<'_>>,
    ) -> Result<(), EngineError>;

    /// Writes a run's last node transition and the run's end (`ended`, finished) in one
    /// transaction, with `work`'s writes — as [`StateStore::commit`] with both records.
    /// `started` is the run's start when it was not written yet (a store that keeps run
    /// events records its "running" event first).
    fn commit_end(
        &self,
        node: &NodeRecord,
        started: Option<&RunRecord>,
        ended: &RunRecord,
        work: Option<TxnWork<'_>>,
    ) -> Result<(), EngineError> {
        let _ = started;
        self.commit(Some(node), Some(ended), work)
    }

    /// Makes everything written so far durable (fsync).
    fn flush(&self) -> Result<(), EngineError>;

    fn run(&self, run_id: &str) -> Result<Option<RunRecord>, EngineError>;

    /// The run's nodes that have a record (those that started or were settled), in no
    /// particular order.
    fn nodes(&self, run_id: &str) -> Result<Vec<NodeRecord>, EngineError>;

    /// Every run, newest first.
    fn runs(&self) -> Result<Vec<RunRecord>, EngineError>;

    /// One page of runs, newest first: those `query` selects below its cursor, at most its
    /// `limit`. Reads that page (and, for filters the backend cannot index, the rows it skips
    /// on the way), never every run.
    fn runs_page(&self, query: &RunQuery) -> Result<Vec<RunRecord>, EngineError>;

    /// Keeps the log lines of one attempt of a node, replacing what was kept for it.
    fn put_attempt_log(
        &self,
        run_id: &str,
        step_id: &str,
        log: &crate::step::AttemptLog,
    ) -> Result<(), EngineError>;

    /// The kept log lines of a node's attempts, oldest attempt first.
    fn attempt_logs(
        &self,
        run_id: &str,
        step_id: &str,
    ) -> Result<Vec<crate::step::AttemptLog>, EngineError>;

    /// Runs `read` on the ledger's records as the last committed transition left them.
    fn read_ledger(&self, read: LedgerRead<'_>) -> Result<(), EngineError>;

    // Several processes on one store (PostgreSQL): which of them executes a run. A store that
    // one process holds alone (the embedded one) keeps these defaults.

    /// Whether this process already holds the run (it created, admitted or claimed it). A
    /// queued run is never held: it has no lease until it is admitted.
    fn holds(&self, _run_id: &str) -> bool {
        false
    }

    /// Takes the run for this process to execute: `false` if another process holds it.
    fn claim(&self, _run_id: &str) -> Result<bool, EngineError> {
        Ok(true)
    }

    /// This process stops executing the run (finished or not).
    fn release(&self, _run_id: &str) {}

    /// Claims up to `limit` runs whose executing process stopped renewing its lease (it died
    /// or was cut off); the caller resumes them.
    fn claim_expired(&self, _limit: usize) -> Result<Vec<String>, EngineError> {
        Ok(Vec::new())
    }

    /// Asks whichever process executes the run to cancel it; `false` if none does.
    fn request_cancel(&self, _run_id: &str) -> Result<bool, EngineError> {
        Ok(false)
    }

    /// Runs of this process that others asked to cancel since the last call.
    fn take_cancel_requests(&self) -> Vec<String> {
        Vec::new()
    }

    /// The run's events after `after` (a [`StoredEvent::seq`]), oldest first, at most
    /// `limit`; `None` when this store keeps no events (the embedded one: its only process
    /// broadcasts them, [`crate::Engine::subscribe`]). A store shared by several processes
    /// records each node and run transition's event in the transition's own transaction, so
    /// a stream on any process sees what the executing one committed, in order.
    fn events_after(
        &self,
        _run_id: &str,
        _after: u64,
        _limit: usize,
    ) -> Result<Option<Vec<crate::StoredEvent>>, EngineError> {
        Ok(None)
    }

    /// True when other processes share the store.
    fn shared(&self) -> bool {
        false
    }

    // Completion callbacks: a finished run with a callback gets a delivery queued by
    // `commit`, in the final state's own transaction (`DeliveryRecord::for_finished_run`).

    /// Claims up to `limit` pending deliveries due at `now`, oldest due first, for `hold_ms`:
    /// until then no other claim takes them (on PostgreSQL, across workers). Each comes back
    /// with its [`DeliveryRecord::claim`] token set.
    fn claim_deliveries(
        &self,
        now: u64,
        hold_ms: u64,
        limit: usize,
    ) -> Result<Vec<DeliveryRecord>, EngineError>;

    /// Writes a delivery the caller claimed with `claim` (its new status, due time, attempts);
    /// `false`, writing nothing, if that claim is no longer the delivery's (it ran out and
    /// another sender claimed it).
    fn save_delivery(&self, delivery: &DeliveryRecord, claim: &str) -> Result<bool, EngineError>;

    /// The run's deliveries, oldest first.
    fn deliveries(&self, run_id: &str) -> Result<Vec<DeliveryRecord>, EngineError>;
}
