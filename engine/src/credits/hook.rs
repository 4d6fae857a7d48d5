//! [`CreditHook`]: charges a run's owner for its paid steps, inside the transaction of each
//! node transition.
//!
//! - Start (`before_start`): reserve the step's `credits`; too few available refuses the
//!   start, so the step fails without running and its dependents are cancelled.
//! - Resume (`on_resume`): an interrupted step keeps its pending reservation, with a fresh
//!   hold since it runs in full again; never a second reservation. If the hold ran out and
//!   the sweep expired it while the run was down, the expired one stays final (I3) and the
//!   step reserves again as the next generation (`run_id/step_id#2`), or does not start.
//! - Success: post the reservation, or void it if the output was free (a cache hit). If the
//!   step outran its hold and the sweep got there first, the charge is reserved and posted
//!   at once, so a success is always paid for; a user who can no longer pay gets a failed
//!   step rather than free work.
//! - Failure, timeout, cancellation, skip: void the pending reservation, if any.
//! - Retry (`runs retry`): a step run again is in a new round, with reservations of its own
//!   (`run_id/step_id/retry-<round>`); what earlier rounds posted stays posted, once.
//!
//! Operator runs (no owner) and free steps (`credits: 0`) leave no ledger trace.

use std::time::Duration;

use super::bookkeeping::{Books, Hold};
use super::reservation::{generation_id, round_key};
use super::{CreditError, EntryKind, Ledger, ReservationState};
use crate::EngineError;
use crate::hooks::{FailureKind, NodeHook, NodeHookContext};
use crate::store::{HookError, LedgerTables, RunRecord, StateStore, now_ms};
use crate::workflow::StepDef;

/// The credit ledger's node lifecycle hook. Install it in the [`crate::Engine`]'s hooks.
#[derive(Debug, Clone)]
pub struct CreditHook {
    /// Added to a step's own worst-case duration to get its hold: how long an interrupted
    /// run may take to be resumed before its held credits are released.
    restart_allowance: Duration,
    /// A hold for every step instead of the per-step one (for operators who know better).
    fixed_hold: Option<Duration>,
}

impl CreditHook {
    /// How long an interrupted run may stay down before its held credits expire, by default.
    pub const DEFAULT_RESTART_ALLOWANCE: Duration = Duration::from_secs(10 * 60);

    /// Checks the ledger in `store` against its entry log (I6) and returns the hook, or
    /// [`CreditError::LedgerMismatch`] (refused) naming every disagreement: a server must not start
    /// charging on top of balances it cannot account for.
    pub fn open(store: &dyn StateStore) -> Result<CreditHook, EngineError> {
        Ledger::new(store).verify()?;
        Ok(CreditHook {
            restart_allowance: Self::DEFAULT_RESTART_ALLOWANCE,
            fixed_hold: None,
        })
    }

    /// Sets how long an interrupted run may take to be resumed (default 10 minutes).
    pub fn with_restart_allowance(mut self, allowance: Duration) -> Self {
        self.restart_allowance = allowance;
        self
    }

    /// Holds every reservation for exactly `hold`, whatever the step.
    pub fn with_hold(mut self, hold: Duration) -> Self {
        self.fixed_hold = Some(hold);
        self
    }

    /// How long a reservation for `step` is held before the sweep may expire it: by default
    /// every attempt timing out, the longest waits between them, and the restart allowance.
    pub fn hold_for(&self, step: &StepDef) -> Duration {
        if let Some(hold) = self.fixed_hold {
            return hold;
        }
        let attempts = step.retry.attempts.max(1);
        step.timeout
            .saturating_mul(attempts)
            .saturating_add(step.retry.max_delay.saturating_mul(attempts - 1))
            .saturating_add(self.restart_allowance)
    }

    /// Makes sure the node holds a pending reservation (start and resume).
    fn hold_credits(
        &self,
        ctx: &NodeHookContext,
        txn: &mut dyn LedgerTables,
    ) -> Result<(), HookError> {
        let Some(user) = payer(ctx.run, ctx.step) else {
            return Ok(());
        };
        let now = now_ms();
        let expires_at = now.saturating_add(millis(self.hold_for(ctx.step)));
        let mut books = Books::new(txn);
        let (generation, latest) = books.latest_reservation(&reservation_key(ctx))?;
        match latest {
            Some(held) if held.state == ReservationState::Pending => {
                if held.expires_at < expires_at {
                    books.renew(&held.id, expires_at, now)?;
                }
            }
            Some(charged) if charged.state == ReservationState::Posted => {
                return Err(HookError::Refused(
                    CreditError::AlreadyCharged {
                        step: ctx.step.id.clone(),
                        reservation: charged.id,
                    }
                    .refusal(),
                ));
            }
            // Nothing held yet, or the last hold was returned: reserve (again).
            _ => {
                books.reserve(hold(ctx, user, generation + 1, expires_at), now)?;
            }
        }
        Ok(())
    }
}

impl NodeHook for CreditHook {
    /// Only paid steps of runs charged to a user touch the ledger.
    fn takes_part(&self, run: &RunRecord, step: &StepDef) -> bool {
        payer(run, step).is_some()
    }

    fn before_start(
        &self,
        ctx: &NodeHookContext,
        txn: &mut dyn LedgerTables,
    ) -> Result<(), HookError> {
        self.hold_credits(ctx, txn)
    }

    fn on_resume(
        &self,
        ctx: &NodeHookContext,
        txn: &mut dyn LedgerTables,
    ) -> Result<(), HookError> {
        self.hold_credits(ctx, txn)
    }

    fn after_success(
        &self,
        ctx: &NodeHookContext,
        txn: &mut dyn LedgerTables,
    ) -> Result<(), HookError> {
        let Some(user) = payer(ctx.run, ctx.step) else {
            return Ok(());
        };
        let now = now_ms();
        let mut books = Books::new(txn);
        let (generation, latest) = books.latest_reservation(&reservation_key(ctx))?;
        match latest {
            Some(held) if held.state == ReservationState::Pending => {
                let kind = if ctx.node.free {
                    EntryKind::Void
                } else {
                    EntryKind::Post
                };
                books.resolve(&held.id, kind, now)?;
            }
            Some(charged) if charged.state == ReservationState::Posted => {}
            _ if ctx.node.free => {}
            // The hold expired under a step that outran it (or none was taken): charge now.
            _ => {
                let expires_at = now.saturating_add(millis(self.hold_for(ctx.step)));
                let late = books.reserve(hold(ctx, user, generation + 1, expires_at), now)?;
                books.resolve(&late.id, EntryKind::Post, now)?;
            }
        }
        Ok(())
    }

    fn after_failure(
        &self,
        ctx: &NodeHookContext,
        _kind: FailureKind,
        txn: &mut dyn LedgerTables,
    ) -> Result<(), HookError> {
        if payer(ctx.run, ctx.step).is_none() {
            return Ok(());
        }
        let mut books = Books::new(txn);
        if let (_, Some(held)) = books.latest_reservation(&reservation_key(ctx))?
            && held.state == ReservationState::Pending
        {
            books.resolve(&held.id, EntryKind::Void, now_ms())?;
        }
        Ok(())
    }
}

/// The user a node's credits are charged to: the run's owner, for a step with a price.
fn payer<'a>(run: &'a RunRecord, step: &StepDef) -> Option<&'a str> {
    match step.credits {
        0 => None,
        _ => run.owner.as_deref(),
    }
}

/// What the node's reservation ids in its current round are generations of.
fn reservation_key(ctx: &NodeHookContext) -> String {
    round_key(&ctx.node.idempotency_key, ctx.node.round)
}

fn hold<'a>(
    ctx: &NodeHookContext<'a>,
    user: &'a str,
    generation: u32,
    expires_at: u64,
) -> Hold<'a> {
    Hold {
        id: generation_id(&reservation_key(ctx), generation),
        run_id: &ctx.run.id,
        step_id: &ctx.step.id,
        user,
        amount: ctx.step.credits,
        expires_at,
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
