//! What a run may cost, so a caller can refuse it before any work (HTTP: 402 when
//! [`super::Ledger::can_afford`] says the owner cannot cover it).

use crate::workflow::Workflow;

/// The most one run of `workflow` can be charged: every paid step succeeding. Skipped,
/// failed, cancelled and free steps cost nothing, so a run usually costs less.
pub fn credits_required(workflow: &Workflow) -> u64 {
    workflow
        .steps
        .iter()
        .map(|s| s.credits)
        .fold(0, u64::saturating_add)
}
