//! One node's attempts: start, run with a timeout, retry with backoff, finish — each
//! transition committed together with its hooks' writes.

use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

use super::Inner;
use super::backoff;
use super::run_state::RunShared;
use crate::hooks::{FailureKind, NodeHookContext};
use crate::step::{FailureCode, Step, StepContext, StepError, StepLog};
use crate::store::now_ms;
use crate::store::{AttemptOutcome, HookError, LedgerTables, NodeRecord, NodeStatus, RunRecord};
use crate::workflow::StepDef;
use crate::{EngineError, Refusal};

pub(crate) struct NodeTask {
    pub index: usize,
    pub record: NodeRecord,
    pub runnable: Arc<dyn Step>,
    /// The node was running when the process died; it runs again with `on_resume`.
    pub interrupted: bool,
    /// What stops the node: the run's cancellation, or for a finalizer only an abort.
    pub cancel: CancellationToken,
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

/// What one node's task works with.
struct NodeRun<'a> {
    shared: &'a RunShared,
    step: &'a StepDef,
    index: usize,
    /// What stops the node: the run's cancellation, or for a finalizer only an abort.
    cancel: &'a CancellationToken,
}

/// How a start transition went.
enum Start {
    /// The attempt may run; `deferred`: its record is not written yet (no hook work), so the
    /// attempt writes it once the step has to wait.
    Started { at: u64, deferred: bool },
    /// A hook refused the start; nothing of it was written.
    Refused(Refusal),
}

/// What the node does after an attempt's outcome is recorded.
enum Settled {
    /// The node ended (succeeded or failed); `flush`: steps wait for its record on disk.
    Ended { flush: bool },
    /// The run was cancelled during the attempt.
    Cancelled,
    /// Another attempt follows after this wait.
    Retry(Duration),
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
    let node = NodeRun {
        shared: &shared,
        step: &shared.workflow.steps[index],
        index,
        cancel: &cancel,
    };
    let Some(permits) = node.wait_for_slots().await else {
        return node.finish_cancelled(record, None).await;
    };
    let mut start_hook = if interrupted {
        // The attempt the process died in ends here, in the history.
        record.end_attempt(AttemptOutcome::Interrupted, None, None);
        StartHook::OnResume
    } else {
        StartHook::BeforeStart
    };
    loop {
        let (started, deferred) = match node.start(&mut record, start_hook)? {
            Start::Started { at, deferred } => (at, deferred),
            Start::Refused(refusal) => return node.fail_unstarted(record, refusal).await,
        };
        start_hook = StartHook::None;
        shared.emit(Some(&node.step.id), "running", record.attempt, None);
        let outcome = node.attempt(&record, runnable.as_ref(), deferred).await?;
        match node.settle(&mut record, outcome, started)? {
            Settled::Ended { flush } => {
                // A step waiting for its result to reach disk no longer runs: its slots go to
                // the next steps, which then share that flush.
                drop(permits);
                if flush {
                    shared.inner.durable().await?;
                }
                shared.emit(
                    Some(&node.step.id),
                    record.status.as_str(),
                    record.attempt,
                    record.error.clone(),
                );
                return Ok((index, record));
            }
            Settled::Cancelled => return node.finish_cancelled(record, Some(started)).await,
            Settled::Retry(wait) => {
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => return node.finish_cancelled(record, None).await,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
}

impl NodeRun<'_> {
    /// Waits for a slot in the run and in the engine; `None` if the run is cancelled first.
    /// The slots are held until the node's result is committed (none is ever closed).
    async fn wait_for_slots(&self) -> Option<[Option<OwnedSemaphorePermit>; 2]> {
        tokio::select! {
            biased;
            _ = self.cancel.cancelled() => None,
            permits = async {
                let run = self.shared.limit.clone().acquire_owned().await;
                let global = self.shared.inner.global.clone().acquire_owned().await;
                [run.ok(), global.ok()]
            } => Some(permits),
        }
    }

    /// Starts an attempt: the record as running, committed with the start hooks' work.
    fn start(&self, record: &mut NodeRecord, hook: StartHook) -> Result<Start, EngineError> {
        let (shared, inner, step) = (self.shared, &self.shared.inner, self.step);
        record.attempt += 1;
        record.status = NodeStatus::Running;
        let at = now_ms();
        record.started_at.get_or_insert(at);
        let work = |txn: &mut dyn LedgerTables| -> Result<(), HookError> {
            let ctx = NodeHookContext {
                run: &shared.run,
                step,
                node: record,
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
        let Some(start_work) = inner.hook_work(&shared.run, step, &work) else {
            return Ok(Start::Started { at, deferred: true });
        };
        match shared.commit(record, Some(start_work)) {
            Ok(()) => Ok(Start::Started {
                at,
                deferred: false,
            }),
            Err(EngineError::Refused(refusal)) => Ok(Start::Refused(refusal)),
            Err(e) => Err(e),
        }
    }

    /// Ends a node whose start a hook refused: it fails without having started, with the
    /// hook's code and message.
    async fn fail_unstarted(
        &self,
        mut record: NodeRecord,
        refusal: Refusal,
    ) -> Result<(usize, NodeRecord), EngineError> {
        let inner = &self.shared.inner;
        let reason = refusal.to_string();
        record.attempt -= 1;
        record.status = NodeStatus::Failed;
        record.tolerated = self.step.continue_on_error;
        record.error = Some(reason.clone());
        record.error_code = Some(refusal.code().as_str().to_string());
        record.finished_at = Some(now_ms());
        self.shared.commit(&record, None)?;
        inner.durable().await?;
        self.shared
            .emit(Some(&self.step.id), "failed", record.attempt, Some(reason));
        Ok((self.index, record))
    }

    /// Runs one attempt of the step under its timeout, until it ends or the node is cancelled.
    async fn attempt(
        &self,
        record: &NodeRecord,
        runnable: &dyn Step,
        deferred_start: bool,
    ) -> Result<Outcome, EngineError> {
        let (shared, inner, step) = (self.shared, &self.shared.inner, self.step);
        let log = StepLog::new(&shared.run.id, &step.id, record.attempt);
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
            cancel: self.cancel.clone(),
            resources: inner.resources.clone(),
            log: log.clone(),
        };
        let timed_out = || {
            StepError::retryable(format!(
                "timed out after {}",
                humantime::format_duration(step.timeout)
            ))
        };
        let mut attempt = std::pin::pin!(tokio::time::timeout(step.timeout, runnable.run(ctx)));
        if self.cancel.is_cancelled() {
            return Ok(Outcome::Cancelled);
        }
        let outcome = match futures::poll!(attempt.as_mut()) {
            Poll::Ready(result) => Outcome::Done(result.unwrap_or_else(|_| Err(timed_out()))),
            Poll::Pending => {
                if deferred_start {
                    shared.commit(record, None)?;
                }
                tokio::select! {
                    biased;
                    _ = self.cancel.cancelled() => Outcome::Cancelled,
                    result = attempt => Outcome::Done(result.unwrap_or_else(|_| Err(timed_out()))),
                }
            }
        };
        // Before the attempt's end is recorded, so whoever reads that end finds its lines.
        // Steps that said nothing write nothing.
        let kept = log.snapshot();
        if !kept.lines.is_empty() {
            inner
                .store
                .put_attempt_log(&shared.run.id, &step.id, &kept)?;
        }
        Ok(outcome)
    }

    /// Records an attempt's outcome (with the hooks' success or failure work) and says what
    /// comes next.
    fn settle(
        &self,
        record: &mut NodeRecord,
        outcome: Outcome,
        attempt_started: u64,
    ) -> Result<Settled, EngineError> {
        let (shared, inner, step) = (self.shared, &self.shared.inner, self.step);
        match outcome {
            Outcome::Cancelled => Ok(Settled::Cancelled),
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
                        node: record,
                    };
                    inner
                        .hooks
                        .iter()
                        .try_for_each(|h| h.after_success(&ctx, txn))
                };
                let committed =
                    shared.commit_success(record, inner.hook_work(&shared.run, step, &work));
                match committed {
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
                        commit_failure(shared, step, record, FailureKind::Failed)?;
                    }
                    Err(e) => return Err(e),
                }
                Ok(Settled::Ended {
                    flush: shared.has_dependents[self.index],
                })
            }
            Outcome::Done(Err(error))
                if error.retryable && record.round_attempt() < step.retry.attempts =>
            {
                record.error = Some(error.message.clone());
                record.end_attempt(
                    AttemptOutcome::Failed,
                    Some(attempt_started),
                    error.code.as_ref().map(FailureCode::as_str),
                );
                shared.commit(record, None)?;
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
                Ok(Settled::Retry(wait))
            }
            Outcome::Done(Err(error)) => {
                record.status = NodeStatus::Failed;
                record.tolerated = step.continue_on_error;
                record.error_code = error.code.as_ref().map(|code| code.as_str().to_string());
                record.error = Some(error.message);
                record.finished_at = Some(now_ms());
                record.end_attempt(
                    AttemptOutcome::Failed,
                    Some(attempt_started),
                    error.code.as_ref().map(FailureCode::as_str),
                );
                commit_failure(shared, step, record, FailureKind::Failed)?;
                Ok(Settled::Ended { flush: true })
            }
        }
    }

    /// Ends a node because its run was cancelled; `attempt_started` is set when an attempt
    /// was under way (rather than waiting for a slot or for its next attempt).
    async fn finish_cancelled(
        &self,
        mut record: NodeRecord,
        attempt_started: Option<u64>,
    ) -> Result<(usize, NodeRecord), EngineError> {
        let shared = self.shared;
        record.status = NodeStatus::Cancelled;
        record.error = Some("run cancelled".into());
        record.finished_at = Some(now_ms());
        if attempt_started.is_some() {
            record.end_attempt(AttemptOutcome::Cancelled, attempt_started, None);
        }
        commit_failure(shared, self.step, &record, FailureKind::Cancelled)?;
        shared.inner.durable().await?;
        shared.emit(
            Some(&self.step.id),
            "cancelled",
            record.attempt,
            record.error.clone(),
        );
        Ok((self.index, record))
    }
}

fn round_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis() as u64)
}

/// Commits a node's unsuccessful end together with every hook's `after_failure`.
pub(crate) fn commit_failure(
    shared: &RunShared,
    step: &StepDef,
    record: &NodeRecord,
    kind: FailureKind,
) -> Result<(), EngineError> {
    shared.with_run_start(|run| {
        commit_failure_with(&shared.inner, &shared.run, run, step, record, kind)
    })
}

/// [`commit_failure`] with the run's record to write in the same transaction (`write_run`), or
/// outside a run's execution (a run cancelled where nothing executes it).
pub(crate) fn commit_failure_with(
    inner: &Inner,
    run: &RunRecord,
    write_run: Option<&RunRecord>,
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
    inner.commit(Some(record), write_run, inner.hook_work(run, step, &work))
}
