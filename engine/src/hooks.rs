//! Node lifecycle hooks: the extension point for work that must commit atomically with a
//! node's state (the credit ledger reserves, posts and voids here).
//!
//! Every hook runs inside the store transaction of the transition it belongs to, through a
//! [`LedgerTables`]; returning [`HookError::Refused`] aborts that transition as a whole.
//! The order for one node is: `before_start` (first attempt) or `on_resume` (first attempt
//! after an interruption), then exactly one of `after_success` or `after_failure`.
//! A node that never starts (its `when:` was false, a step it needs failed, or the run was
//! cancelled first) gets only `after_failure`.

use crate::store::{HookError, LedgerTables, NodeRecord, RunRecord};
use crate::workflow::StepDef;

/// What a hook is told about the node it is called for.
pub struct NodeHookContext<'a> {
    pub run: &'a RunRecord,
    pub step: &'a StepDef,
    /// The node record as it will be committed by this transition.
    pub node: &'a NodeRecord,
}

/// How a node ended without succeeding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Its last attempt failed or timed out.
    Failed,
    /// The run was cancelled, or a step it needs failed.
    Cancelled,
    /// Its `when:` condition was false.
    Skipped,
}

pub trait NodeHook: Send + Sync + 'static {
    /// Whether the hook takes part in the transitions of `step` in `run` at all. When no
    /// hook does, the engine calls none of them for that node and commits each of its
    /// transitions as a single write, without taking the lock that hook work runs under.
    fn takes_part(&self, _run: &RunRecord, _step: &StepDef) -> bool {
        true
    }

    /// Before the node's first attempt. Refuse to keep the step from starting.
    fn before_start(
        &self,
        _ctx: &NodeHookContext,
        _txn: &mut dyn LedgerTables,
    ) -> Result<(), HookError> {
        Ok(())
    }

    /// The node succeeded (`ctx.node.free` tells whether the work was free, e.g. cached).
    fn after_success(
        &self,
        _ctx: &NodeHookContext,
        _txn: &mut dyn LedgerTables,
    ) -> Result<(), HookError> {
        Ok(())
    }

    /// The node failed, was cancelled or skipped.
    fn after_failure(
        &self,
        _ctx: &NodeHookContext,
        _kind: FailureKind,
        _txn: &mut dyn LedgerTables,
    ) -> Result<(), HookError> {
        Ok(())
    }

    /// The node was interrupted (the process died while it ran) and is about to run again
    /// with the same idempotency key.
    fn on_resume(
        &self,
        _ctx: &NodeHookContext,
        _txn: &mut dyn LedgerTables,
    ) -> Result<(), HookError> {
        Ok(())
    }
}
