//! [`Counters`]: what this process's engine has done since it started — runs and steps
//! finished by status, the steps' wall time, credits moved by node transitions — counted as
//! each transition commits, for `/metrics`.
//!
//! Per process on purpose: several workers on one PostgreSQL each count what they executed,
//! and Prometheus sums the instances and sees a restart as a counter reset. What is true of
//! the store as a whole right now (runs queued, pending, running) is a store query instead
//! ([`crate::StateStore::unfinished_runs`]).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::credits::{
    AppliedOperation, Balance, EntryKind, LedgerEntry, LedgerTables, Reservation, TxnError,
};
use crate::store::{NodeRecord, NodeStatus, RunRecord, RunStatus};

/// Upper bounds (seconds) of the step wall-time histogram's buckets.
pub const STEP_DURATION_BUCKETS: [f64; 10] =
    [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0];

/// The run statuses a run finishes with, in the order the counters keep them.
const RUN_ENDS: [RunStatus; 3] = [
    RunStatus::Succeeded,
    RunStatus::Failed,
    RunStatus::Cancelled,
];
/// The node statuses a node finishes with.
const NODE_ENDS: [NodeStatus; 4] = [
    NodeStatus::Succeeded,
    NodeStatus::Failed,
    NodeStatus::Skipped,
    NodeStatus::Cancelled,
];
/// The ledger entries that move credits in a node transition. A renewal moves none; grants
/// and the expiry of holds past their time are the ledger's own operations, not node
/// transitions, and are not counted here.
const CREDIT_MOVES: [EntryKind; 3] = [EntryKind::Reserve, EntryKind::Post, EntryKind::Void];

/// The engine's event counters; every field only grows.
#[derive(Default)]
pub struct Counters {
    runs_finished: [AtomicU64; RUN_ENDS.len()],
    steps_finished: [AtomicU64; NODE_ENDS.len()],
    /// Cumulative: `[i]` counts durations ≤ `STEP_DURATION_BUCKETS[i]`.
    step_duration_buckets: [AtomicU64; STEP_DURATION_BUCKETS.len()],
    step_duration_count: AtomicU64,
    step_duration_ms: AtomicU64,
    credits: [AtomicU64; CREDIT_MOVES.len()],
}

/// The counters at one moment, for rendering.
#[derive(Debug, Clone, PartialEq)]
pub struct CountersSnapshot {
    /// Runs this process finished, by final status (every status, zeros included).
    pub runs_finished: Vec<(RunStatus, u64)>,
    /// Nodes this process finished, by final status.
    pub steps_finished: Vec<(NodeStatus, u64)>,
    /// Per bucket of [`STEP_DURATION_BUCKETS`]: finished steps that took at most that long.
    pub step_duration_buckets: Vec<(f64, u64)>,
    /// Finished steps that had started (the histogram's count).
    pub step_duration_count: u64,
    pub step_duration_seconds: f64,
    /// Credits moved by the ledger entries of committed node transitions, by entry kind.
    pub credits: Vec<(EntryKind, u64)>,
}

impl Counters {
    /// Counts what a committed transition finished: its node's end (with the node's wall
    /// time when it had started), its run's end, and the credits its ledger entries moved.
    pub(crate) fn committed(
        &self,
        node: Option<&NodeRecord>,
        run: Option<&RunRecord>,
        moved: &[(EntryKind, u64)],
    ) {
        if let Some(node) = node
            && let Some(i) = NODE_ENDS.iter().position(|s| *s == node.status)
        {
            self.steps_finished[i].fetch_add(1, Ordering::Relaxed);
            if let (Some(start), Some(end)) = (node.started_at, node.finished_at) {
                self.observe_duration(end.saturating_sub(start));
            }
        }
        if let Some(run) = run
            && let Some(i) = RUN_ENDS.iter().position(|s| *s == run.status)
        {
            self.runs_finished[i].fetch_add(1, Ordering::Relaxed);
        }
        for (kind, amount) in moved {
            if let Some(i) = CREDIT_MOVES.iter().position(|k| k == kind) {
                self.credits[i].fetch_add(*amount, Ordering::Relaxed);
            }
        }
    }

    fn observe_duration(&self, ms: u64) {
        let seconds = ms as f64 / 1000.0;
        for (bucket, le) in self.step_duration_buckets.iter().zip(STEP_DURATION_BUCKETS) {
            if seconds <= le {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.step_duration_count.fetch_add(1, Ordering::Relaxed);
        self.step_duration_ms.fetch_add(ms, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> CountersSnapshot {
        let read = |n: &AtomicU64| n.load(Ordering::Relaxed);
        CountersSnapshot {
            runs_finished: RUN_ENDS
                .iter()
                .zip(&self.runs_finished)
                .map(|(s, n)| (*s, read(n)))
                .collect(),
            steps_finished: NODE_ENDS
                .iter()
                .zip(&self.steps_finished)
                .map(|(s, n)| (*s, read(n)))
                .collect(),
            step_duration_buckets: STEP_DURATION_BUCKETS
                .iter()
                .zip(&self.step_duration_buckets)
                .map(|(le, n)| (*le, read(n)))
                .collect(),
            step_duration_count: read(&self.step_duration_count),
            step_duration_seconds: read(&self.step_duration_ms) as f64 / 1000.0,
            credits: CREDIT_MOVES
                .iter()
                .zip(&self.credits)
                .map(|(k, n)| (*k, read(n)))
                .collect(),
        }
    }
}

/// The credits one transaction's ledger entries moved, noted as they are appended. A store
/// may run a transaction's work more than once (a conflict retries it): each run starts
/// afresh, so after the commit it holds what the committed run appended.
#[derive(Default)]
pub(crate) struct CreditMoves(Mutex<Vec<(EntryKind, u64)>>);

impl CreditMoves {
    pub fn restart(&self) {
        self.lock().clear();
    }

    pub fn note(&self, entry: &LedgerEntry) {
        self.lock().push((entry.kind, entry.amount));
    }

    pub fn take(&self) -> Vec<(EntryKind, u64)> {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(EntryKind, u64)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A transaction's ledger tables that note each appended entry in [`CreditMoves`]; every
/// other call goes through unchanged.
pub(crate) struct NotingTables<'t> {
    pub tables: &'t mut dyn LedgerTables,
    pub moves: &'t CreditMoves,
}

impl LedgerTables for NotingTables<'_> {
    fn account(&mut self, user: &str) -> Result<Option<Balance>, TxnError> {
        self.tables.account(user)
    }
    fn put_account(&mut self, user: &str, balance: &Balance) -> Result<(), TxnError> {
        self.tables.put_account(user, balance)
    }
    fn accounts(&mut self) -> Result<Vec<(String, Balance)>, TxnError> {
        self.tables.accounts()
    }
    fn next_seq(&mut self) -> Result<u64, TxnError> {
        self.tables.next_seq()
    }
    fn last_seq(&mut self) -> Result<u64, TxnError> {
        self.tables.last_seq()
    }
    fn gapless_seq(&self) -> bool {
        self.tables.gapless_seq()
    }
    fn append_entry(&mut self, entry: &LedgerEntry) -> Result<(), TxnError> {
        self.tables.append_entry(entry)?;
        self.moves.note(entry);
        Ok(())
    }
    fn entries(&mut self, user: Option<&str>) -> Result<Vec<LedgerEntry>, TxnError> {
        self.tables.entries(user)
    }
    fn reservation(&mut self, id: &str) -> Result<Option<Reservation>, TxnError> {
        self.tables.reservation(id)
    }
    fn put_reservation(&mut self, reservation: &Reservation) -> Result<(), TxnError> {
        self.tables.put_reservation(reservation)
    }
    fn reservations(&mut self, of: Option<(&str, &str)>) -> Result<Vec<Reservation>, TxnError> {
        self.tables.reservations(of)
    }
    fn pending(&mut self) -> Result<Vec<(u64, String)>, TxnError> {
        self.tables.pending()
    }
    fn operation(&mut self, op_id: &str) -> Result<Option<AppliedOperation>, TxnError> {
        self.tables.operation(op_id)
    }
    fn put_operation(&mut self, op_id: &str, applied: &AppliedOperation) -> Result<(), TxnError> {
        self.tables.put_operation(op_id, applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_node_and_run_count_once_and_a_running_one_not_at_all() {
        let counters = Counters::default();
        let mut node = NodeRecord::pending("r", "a");
        node.status = NodeStatus::Running;
        node.started_at = Some(1_000);
        counters.committed(Some(&node), None, &[(EntryKind::Reserve, 3)]);
        node.status = NodeStatus::Failed;
        node.finished_at = Some(1_300);
        counters.committed(Some(&node), None, &[(EntryKind::Void, 3)]);
        let snapshot = counters.snapshot();
        assert!(snapshot.steps_finished.contains(&(NodeStatus::Failed, 1)));
        assert!(
            snapshot
                .steps_finished
                .contains(&(NodeStatus::Succeeded, 0))
        );
        assert_eq!(snapshot.step_duration_count, 1);
        assert_eq!(snapshot.step_duration_seconds, 0.3);
        // 0.3 s is above the 0.25 s bucket and within the 0.5 s one.
        assert!(snapshot.step_duration_buckets.contains(&(0.25, 0)));
        assert!(snapshot.step_duration_buckets.contains(&(0.5, 1)));
        assert!(snapshot.credits.contains(&(EntryKind::Reserve, 3)));
        assert!(snapshot.credits.contains(&(EntryKind::Void, 3)));
        assert!(snapshot.runs_finished.iter().all(|(_, n)| *n == 0));
    }
}
