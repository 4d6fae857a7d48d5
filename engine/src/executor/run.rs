//! Scheduling one run: ready steps start as soon as their needs are satisfied.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use futures::stream::{FuturesUnordered, StreamExt};
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::node::{self, NodeTask};
use super::run_state::RunShared;
use super::{Inner, RunReport};
use crate::EngineError;
use crate::hooks::FailureKind;
use crate::store::{NodeRecord, NodeStatus, RunRecord, RunStatus, RunWarning, now_ms};
use crate::workflow::expression;

/// Executes `run_id`; `created` is its record when the caller just created it (else it is
/// read from the store).
pub(crate) async fn execute(
    inner: Arc<Inner>,
    run_id: &str,
    created: Option<RunRecord>,
    cancel: CancellationToken,
) -> Result<RunReport, EngineError> {
    let mut run = match created {
        Some(run) => run,
        None => inner
            .store
            .run(run_id)?
            .ok_or_else(|| EngineError::RunNotFound(run_id.to_string()))?,
    };
    if run.status.is_finished() {
        return Err(EngineError::RunFinished {
            id: run.id.clone(),
            status: run.status.as_str(),
        });
    }
    let workflow = inner.workflow_of(&run)?;

    let mut records = inner.node_records(&run, workflow.steps.iter().map(|s| s.id.as_str()))?;

    if run.status == RunStatus::Running {
        run.resumes += 1;
    }
    run.status = RunStatus::Running;
    run.started_at.get_or_insert_with(now_ms);
    // Not written here: the start travels with the first node transition (`RunShared::commit`)
    // or the run's end. A run that dies before any step's result is durable is still unfinished
    // in the store (pending or running) and is resumed either way.

    let steps = &workflow.steps;
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); steps.len()];
    let mut waiting_on: Vec<usize> = vec![0; steps.len()];
    for (i, step) in steps.iter().enumerate() {
        for &need in &step.needs {
            dependents[need].push(i);
            if !records[need].status.is_finished() {
                waiting_on[i] += 1;
            }
        }
    }
    let mut ready: VecDeque<usize> = (0..steps.len())
        .filter(|&i| !records[i].status.is_finished() && waiting_on[i] == 0)
        .collect();

    let limit = workflow
        .parallelism
        .unwrap_or(inner.config.run_parallelism)
        .max(1);
    let shared = Arc::new(RunShared {
        inputs: Arc::new(Value::Object(run.inputs.clone())),
        limit: Arc::new(Semaphore::new(limit)),
        inner: inner.clone(),
        run: run.clone(),
        has_dependents: dependents.iter().map(|d| !d.is_empty()).collect(),
        workflow,
        cancel: cancel.clone(),
        abort: CancellationToken::new(),
        start_unwritten: AtomicBool::new(true),
        unfinished: AtomicUsize::new(records.iter().filter(|r| !r.status.is_finished()).count()),
        clean_so_far: AtomicBool::new(
            records
                .iter()
                .filter(|r| r.status.is_finished())
                .all(|r| r.satisfies_needs() && RunWarning::of(r).is_none()),
        ),
        ended: Mutex::new(None),
    });
    shared.emit(None, "running", 0, None);

    // The run's steps are polled by this task rather than spawned: a step hands back to the
    // scheduler without crossing threads, which is most of the per-step cost on few cores.
    // Steps must not block (CPU-heavy work goes to `spawn_blocking`; WASM guests yield).
    let mut tasks = FuturesUnordered::new();
    let mut failure: Option<EngineError> = None;
    loop {
        while let Some(i) = ready.pop_front() {
            match start_or_settle(&shared, i, &records)? {
                Settled::Now(record) => {
                    shared.node_ended(&record);
                    records[i] = record;
                    release(i, &dependents, &mut waiting_on, &mut ready);
                }
                Settled::Later(task) => {
                    records[i].status = NodeStatus::Running;
                    tasks.push(
                        std::panic::AssertUnwindSafe(node::run(shared.clone(), task))
                            .catch_unwind(),
                    );
                }
            }
        }
        let Some(joined) = tasks.next().await else {
            break;
        };
        match joined {
            Ok(Ok((i, record))) => {
                shared.node_ended(&record);
                records[i] = record;
                release(i, &dependents, &mut waiting_on, &mut ready);
            }
            Ok(Err(e)) => {
                // The store failed: stop everything and leave the run resumable.
                shared.abort.cancel();
                cancel.cancel();
                failure.get_or_insert(e);
            }
            Err(panic) => {
                shared.abort.cancel();
                cancel.cancel();
                let reason = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                failure.get_or_insert(EngineError::StepPanicked(reason));
            }
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }

    // The last node's success may have written the run's end already.
    let ended = shared.ended.lock().expect("run end lock").take();
    let run = match ended {
        Some(run) => run,
        None => end_run(&inner, &shared, &cancel, &records)?,
    };
    inner.durable().await?;
    shared.emit(None, run.status.as_str(), 0, run.error.clone());
    Ok(RunReport {
        run,
        nodes: records,
    })
}

/// Decides and commits how the run ended, once every node has.
fn end_run(
    inner: &Inner,
    shared: &RunShared,
    cancel: &CancellationToken,
    records: &[NodeRecord],
) -> Result<RunRecord, EngineError> {
    let mut run = shared.run.clone();
    run.finished_at = Some(now_ms());
    run.warnings = records.iter().filter_map(RunWarning::of).collect();
    if cancel.is_cancelled() {
        run.status = RunStatus::Cancelled;
        run.error = Some("cancelled".into());
    } else if records.iter().all(NodeRecord::satisfies_needs) {
        run.status = RunStatus::Succeeded;
    } else {
        run.status = RunStatus::Failed;
        run.error = records
            .iter()
            .find(|r| r.status == NodeStatus::Failed && !r.tolerated)
            .map(|r| {
                format!(
                    "step `{}` failed: {}",
                    r.step_id,
                    r.error.as_deref().unwrap_or("unknown error")
                )
            });
    }
    inner.commit(None, Some(&run), None)?;
    Ok(run)
}

/// Marks `i` finished for the steps that wait on it.
fn release(
    i: usize,
    dependents: &[Vec<usize>],
    waiting_on: &mut [usize],
    ready: &mut VecDeque<usize>,
) {
    for &d in &dependents[i] {
        waiting_on[d] -= 1;
        if waiting_on[d] == 0 {
            ready.push_back(d);
        }
    }
}

enum Settled {
    /// Finished without running (skipped, or cancelled because of a need or the run).
    Now(NodeRecord),
    /// Will run in a task.
    Later(NodeTask),
}

fn start_or_settle(
    shared: &Arc<RunShared>,
    i: usize,
    records: &[NodeRecord],
) -> Result<Settled, EngineError> {
    let step = &shared.workflow.steps[i];
    let mut record = records[i].clone();
    let settle = |mut record: NodeRecord,
                  status: NodeStatus,
                  kind: FailureKind,
                  message: String|
     -> Result<Settled, EngineError> {
        record.status = status;
        record.tolerated = status == NodeStatus::Failed && step.continue_on_error;
        record.error = Some(message.clone());
        record.finished_at = Some(now_ms());
        node::commit_failure(shared, step, &record, kind)?;
        shared.emit(
            Some(&step.id),
            status.as_str(),
            record.attempt,
            Some(message),
        );
        Ok(Settled::Now(record))
    };
    // A finalizer (its `when:` calls a status function) decides by its condition whether it
    // runs after a failure upstream or the run's cancellation; other steps do not run then.
    if shared.abort.is_cancelled() || (shared.cancel.is_cancelled() && !step.finalizer) {
        return settle(
            record,
            NodeStatus::Cancelled,
            FailureKind::Cancelled,
            "run cancelled".into(),
        );
    }
    if let (Some(&need), false) = (
        step.needs.iter().find(|&&n| !records[n].satisfies_needs()),
        step.finalizer,
    ) {
        let need = &records[need];
        let message = format!(
            "needs `{}`, which {}",
            need.step_id,
            match need.status {
                NodeStatus::Failed => "failed",
                _ => "was cancelled",
            }
        );
        return settle(
            record,
            NodeStatus::Cancelled,
            FailureKind::Cancelled,
            message,
        );
    }
    let interrupted = record.status == NodeStatus::Running;
    if let (Some(when), false) = (&step.when, interrupted) {
        let upstream = shared.upstream(i, records);
        let condition = shared
            .context(i, records)
            .and_then(|context| expression::evaluate_condition(when, &context, upstream));
        match condition {
            Ok(true) => {}
            Ok(false) => {
                record.status = NodeStatus::Skipped;
                record.finished_at = Some(now_ms());
                let message = format!("skipped: `when: {when}` is false");
                record.error = None;
                node::commit_failure(shared, step, &record, FailureKind::Skipped)?;
                shared.emit(Some(&step.id), "skipped", 0, Some(message));
                return Ok(Settled::Now(record));
            }
            Err(e) => {
                return settle(
                    record,
                    NodeStatus::Failed,
                    FailureKind::Failed,
                    format!("cannot evaluate `when`: {e}"),
                );
            }
        }
    }
    let with = if step.templated {
        let rendered = shared
            .context(i, records)
            .and_then(|context| expression::render(&step.with, &context));
        match rendered {
            Ok(with) => with,
            Err(e) => {
                return settle(
                    record,
                    NodeStatus::Failed,
                    FailureKind::Failed,
                    format!("cannot resolve `with`: {e}"),
                );
            }
        }
    } else {
        step.with.clone()
    };
    let kind = shared
        .inner
        .registry
        .get(&step.uses)
        .expect("validated uses");
    let runnable = match kind.build(&with) {
        Ok(runnable) => runnable,
        Err(e) => {
            return settle(
                record,
                NodeStatus::Failed,
                FailureKind::Failed,
                format!("invalid `with` for `{}`: {e}", step.uses),
            );
        }
    };
    Ok(Settled::Later(NodeTask {
        index: i,
        record,
        runnable,
        interrupted,
        // Once started, a finalizer runs to its end (or its timeout) when the run is
        // cancelled.
        cancel: if step.finalizer {
            shared.abort.clone()
        } else {
            shared.cancel.clone()
        },
    }))
}
