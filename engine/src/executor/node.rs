//! One node's attempts: start, run with a timeout, retry with backoff, finish — each
//! transition committed together with its hooks' writes.

use std::sync::Arc;
use std::task::Poll;

use super::Inner;
use super::backoff;
use super::run::RunShared;
use crate::EngineError;
use crate::hooks::{FailureKind, NodeHookContext};
use crate::step::{Step, StepContext, StepError};
use crate::store::now_ms;
use crate::store::{AttemptOutcome, HookError, LedgerTables, NodeRecord, NodeStatus, RunRecord};
use crate::workflow::StepDef;

pub(crate) struct NodeTask {
    pub index: usize,
    pub record: NodeRecord,
    pub runnable: Arc<dyn Step>,
    /// The node was running when the process died; it runs again with `on_resume`.
    pub interrupted: bool,
    /// What stops the node: the run's cancellation, or for a finalizer only an abort.
    pub cancel: tokio_util::sync::CancellationToken,
}

enum Outcome {
    Done(Result<crate::step::StepOutput, StepError>),
    Cancelled,
}

/// Which hook a start transition calls.
#[derive(Clone, Copy, PartialEq)]
enum StartHook {
    BeforeStart,
    OnResume,
    None,
}

pub(crate) async fn run(
    shared: Arc<RunShared>,
    task: NodeTask,
) -> Result<(usize, NodeRecord), EngineError> {
    let NodeTask {
        index,
        mut record,
        runnable,
        interrupted,
        cancel,
    } = task;
    let step = &shared.workflow.steps[index];
    let inner = &shared.inner;

    // Wait for a slot in the run and in the engine; cancellation wins over waiting.
    let permits = tokio::select! {
        biased;
        _ = cancel.cancelled() => None,
        permits = async {
            let run = shared.limit.clone().acquire_owned().await;
            let global = inner.global.clone().acquire_owned().await;
            (run, global)
        } => Some(permits),
    };
    if permits.is_none() {
        return finish_cancelled(&shared, step, record, index, None).await;
    }

    let mut start_hook = if interrupted {
        // The attempt the process died in ends here, in the history.
        record.end_attempt(AttemptOutcome::Interrupted, None, None);
        StartHook::OnResume
    } else {
        StartHook::BeforeStart
    };
    loop {
        record.attempt += 1;
        record.status = NodeStatus::Running;
        let attempt_started = now_ms();
        record.started_at.get_or_insert(attempt_started);
        let hook = start_hook;
        let work = |txn: &mut dyn LedgerTables| -> Result<(), HookError> {
            let ctx = NodeHookContext {
                run: &shared.run,
                step,
                node: &record,
            };
            for h in &inner.hooks {
                match hook {
                    StartHook::BeforeStart => h.before_start(&ctx, txn)?,
                    StartHook::OnResume => h.on_resume(&ctx, txn)?,
                    StartHook::None => {}
                }
            }
            Ok(())
        };
        // Not flushed: if the process dies before the step's result is durable, the node is
        // run again on resume with the same idempotency key either way. With no hook work to
        // commit, the start is written only once the step has to wait for something: a step
        // that finishes on its first poll writes one record, not two.
        let start_work = inner.hook_work(&shared.run, step, &work);
        let deferred_start = start_work.is_none();
        if !deferred_start {
            match inner.store.commit(Some(&record), None, start_work) {
                Ok(()) => {}
                Err(EngineError::Refused(refusal)) => {
                    // Nothing of the refused start was written; the node fails without
                    // starting, with the hook's code.
                    let code = refusal.code();
                    let reason = refusal.to_string();
                    record.attempt -= 1;
                    record.status = NodeStatus::Failed;
                    record.tolerated = step.continue_on_error;
                    record.error = Some(reason.clone());
                    record.error_code = Some(code.to_string());
                    record.finished_at = Some(now_ms());
                    inner.store.commit(Some(&record), None, None)?;
                    inner.durable().await?;
                    shared.emit(Some(&step.id), "failed", record.attempt, Some(reason));
                    return Ok((index, record));
                }
                Err(e) => return Err(e),
            }
        }
        start_hook = StartHook::None;
        shared.emit(Some(&step.id), "running", record.attempt, None);

        let ctx = StepContext {
            run_id: shared.run.id.clone(),
            step_id: step.id.clone(),
            attempt: record.attempt,
            idempotency_key: record.idempotency_key.clone(),
            owner: shared.run.owner.clone(),
            files: crate::step::FileAccess::for_run(
                shared.run.owner.clone(),
                inner.config.file_roots.clone(),
            ),
            inputs: shared.inputs.clone(),
            cancel: cancel.clone(),
            resources: inner.resources.clone(),
        };
        let timed_out = || {
            StepError::retryable(format!(
                "timed out after {}",
                humantime::format_duration(step.timeout)
            ))
        };
        let mut attempt = std::pin::pin!(tokio::time::timeout(step.timeout, runnable.run(ctx)));
        let outcome = if cancel.is_cancelled() {
            Outcome::Cancelled
        } else {
            match futures::poll!(attempt.as_mut()) {
                Poll::Ready(result) => Outcome::Done(result.unwrap_or_else(|_| Err(timed_out()))),
                Poll::Pending => {
                    if deferred_start {
                        inner.store.commit(Some(&record), None, None)?;
                    }
                    tokio::select! {
                        biased;
                        _ = cancel.cancelled() => Outcome::Cancelled,
                        result = attempt => Outcome::Done(result.unwrap_or_else(|_| Err(timed_out()))),
                    }
                }
            }
        };

        match outcome {
            Outcome::Cancelled => {
                return finish_cancelled(&shared, step, record, index, Some(attempt_started)).await;
            }
            Outcome::Done(Ok(output)) => {
                record.status = NodeStatus::Succeeded;
                record.output = Some(output.value);
                record.free = output.free;
                record.error = None;
                record.error_code = None;
                record.finished_at = Some(now_ms());
                record.end_attempt(AttemptOutcome::Succeeded, Some(attempt_started), None);
                let work = |txn: &mut dyn LedgerTables| -> Result<(), HookError> {
                    let ctx = NodeHookContext {
                        run: &shared.run,
                        step,
                        node: &record,
                    };
                    inner
                        .hooks
                        .iter()
                        .try_for_each(|h| h.after_success(&ctx, txn))
                };
                match inner.store.commit(
                    Some(&record),
                    None,
                    inner.hook_work(&shared.run, step, &work),
                ) {
                    Ok(()) => {}
                    Err(EngineError::Refused(refusal)) => {
                        record.status = NodeStatus::Failed;
                        record.tolerated = step.continue_on_error;
                        record.output = None;
                        record.error = Some(format!("could not record success: {refusal}"));
                        if let Some(last) = record.attempts.last_mut() {
                            last.outcome = AttemptOutcome::Failed;
                            last.error = record.error.clone();
                        }
                        commit_failure(inner, &shared.run, step, &record, FailureKind::Failed)?;
                    }
                    Err(e) => return Err(e),
                }
                // A step waiting for its result to reach disk no longer runs: its slots go to
                // the next steps, which then share that flush.
                drop(permits);
                if shared.has_dependents[index] {
                    inner.durable().await?;
                }
                shared.emit(
                    Some(&step.id),
                    record.status.as_str(),
                    record.attempt,
                    record.error.clone(),
                );
                return Ok((index, record));
            }
            Outcome::Done(Err(error))
                if error.retryable && record.round_attempt() < step.retry.attempts =>
            {
                record.error = Some(error.message.clone());
                record.end_attempt(AttemptOutcome::Failed, Some(attempt_started), error.code);
                inner.store.commit(Some(&record), None, None)?;
                let wait = backoff::delay(&step.retry, record.round_attempt() + 1);
                shared.emit(
                    Some(&step.id),
                    "retrying",
                    record.attempt,
                    Some(format!(
                        "{}; next attempt in {}",
                        error.message,
                        humantime::format_duration(round_ms(wait))
                    )),
                );
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => return finish_cancelled(&shared, step, record, index, None).await,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
            Outcome::Done(Err(error)) => {
                record.status = NodeStatus::Failed;
                record.tolerated = step.continue_on_error;
                record.error_code = error.code.map(str::to_string);
                record.error = Some(error.message);
                record.finished_at = Some(now_ms());
                record.end_attempt(AttemptOutcome::Failed, Some(attempt_started), error.code);
                commit_failure(inner, &shared.run, step, &record, FailureKind::Failed)?;
                drop(permits);
                inner.durable().await?;
                shared.emit(
                    Some(&step.id),
                    "failed",
                    record.attempt,
                    record.error.clone(),
                );
                return Ok((index, record));
            }
        }
    }
}

fn round_ms(d: std::time::Duration) -> std::time::Duration {
    std::time::Duration::from_millis(d.as_millis() as u64)
}

/// Ends a node because its run was cancelled; `attempt_started` is set when an attempt was
/// under way (rather than waiting for a slot or for its next attempt).
async fn finish_cancelled(
    shared: &RunShared,
    step: &StepDef,
    mut record: NodeRecord,
    index: usize,
    attempt_started: Option<u64>,
) -> Result<(usize, NodeRecord), EngineError> {
    record.status = NodeStatus::Cancelled;
    record.error = Some("run cancelled".into());
    record.finished_at = Some(now_ms());
    if attempt_started.is_some() {
        record.end_attempt(AttemptOutcome::Cancelled, attempt_started, None);
    }
    commit_failure(
        &shared.inner,
        &shared.run,
        step,
        &record,
        FailureKind::Cancelled,
    )?;
    shared.inner.durable().await?;
    shared.emit(
        Some(&step.id),
        "cancelled",
        record.attempt,
        record.error.clone(),
    );
    Ok((index, record))
}

/// Commits a node's unsuccessful end together with every hook's `after_failure`.
pub(crate) fn commit_failure(
    inner: &Inner,
    run: &RunRecord,
    step: &StepDef,
    record: &NodeRecord,
    kind: FailureKind,
) -> Result<(), EngineError> {
    let work = |txn: &mut dyn LedgerTables| -> Result<(), HookError> {
        let ctx = NodeHookContext {
            run,
            step,
            node: record,
        };
        inner
            .hooks
            .iter()
            .try_for_each(|h| h.after_failure(&ctx, kind, txn))
    };
    inner
        .store
        .commit(Some(record), None, inner.hook_work(run, step, &work))
}
