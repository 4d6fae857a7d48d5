//! [`RunShared`]: what the scheduler of one run (`run`) and each of its node tasks (`node`)
//! share: the run, its workflow and inputs, its slots and its cancellation.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::{Inner, RunEvent};
use crate::EngineError;
use crate::store::{NodeRecord, NodeStatus, RunRecord, RunStatus, RunWarning, TxnWork, now_ms};
use crate::workflow::Workflow;
use crate::workflow::expression::Upstream;

/// What every node task of one run shares.
pub(crate) struct RunShared {
    pub inner: Arc<Inner>,
    pub run: RunRecord,
    pub workflow: Arc<Workflow>,
    pub limit: Arc<Semaphore>,
    pub inputs: Arc<Value>,
    pub cancel: CancellationToken,
    /// Cancelled when the run must stop at once (the store failed, a step panicked): it stops
    /// the finalizers too, which a cancellation of the run does not.
    pub abort: CancellationToken,
    /// Per step: whether any step waits for it. A leaf's result needs no flush of its own:
    /// nothing starts after it, and the run's end is flushed before the run is reported.
    pub has_dependents: Vec<bool>,
    /// The run's start (status running, a resume counted) is not in the store yet: it is
    /// written with the run's first node transition rather than in a transaction of its own.
    pub start_unwritten: AtomicBool,
    /// Nodes the scheduler has not seen end yet.
    pub unfinished: AtomicUsize,
    /// Every node the scheduler saw end satisfied the steps that need it, with no warning.
    pub clean_so_far: AtomicBool,
    /// The run's end, when its last node's success wrote it ([`RunShared::commit_success`]).
    pub ended: Mutex<Option<RunRecord>>,
}

impl RunShared {
    /// Runs `commit` with the run's record when its start is still to be written; if the
    /// commit fails, the next one writes it.
    pub fn with_run_start(
        &self,
        commit: impl FnOnce(Option<&RunRecord>) -> Result<(), EngineError>,
    ) -> Result<(), EngineError> {
        let unwritten = self.start_unwritten.swap(false, Ordering::AcqRel);
        let result = commit(unwritten.then_some(&self.run));
        if unwritten && result.is_err() {
            self.start_unwritten.store(true, Ordering::Release);
        }
        result
    }

    /// Commits a transition of one of the run's nodes with the hooks' work.
    pub fn commit(&self, node: &NodeRecord, work: Option<TxnWork<'_>>) -> Result<(), EngineError> {
        self.with_run_start(|run| self.inner.commit(Some(node), run, work))
    }

    /// Notes, for the scheduler, that a node ended with `record`.
    pub fn node_ended(&self, record: &NodeRecord) {
        self.unfinished.fetch_sub(1, Ordering::AcqRel);
        if !record.satisfies_needs() || RunWarning::of(record).is_some() {
            self.clean_so_far.store(false, Ordering::Release);
        }
    }

    /// Commits a node's success. When it is the run's last node and every other one ended
    /// clean, the run's end (succeeded) goes in the same transaction — one transaction fewer
    /// per run — and is kept in `ended` for the scheduler.
    pub fn commit_success(
        &self,
        node: &NodeRecord,
        work: Option<TxnWork<'_>>,
    ) -> Result<(), EngineError> {
        let ends_run = self.unfinished.load(Ordering::Acquire) == 1
            && self.clean_so_far.load(Ordering::Acquire)
            && node.satisfies_needs()
            && RunWarning::of(node).is_none()
            && !self.cancel.is_cancelled()
            && !self.abort.is_cancelled();
        if !ends_run {
            return self.commit(node, work);
        }
        let mut ended = self.run.clone();
        ended.status = RunStatus::Succeeded;
        ended.finished_at = Some(now_ms());
        ended.warnings = Vec::new();
        ended.error = None;
        self.with_run_start(|started| self.inner.commit_end(node, started, &ended, work))?;
        *self.ended.lock().expect("run end lock") = Some(ended);
        Ok(())
    }

    pub fn emit(&self, step_id: Option<&str>, status: &str, attempt: u32, message: Option<String>) {
        let _ = self.inner.events.send(RunEvent {
            run_id: self.run.id.clone(),
            step_id: step_id.map(str::to_string),
            status: status.to_string(),
            attempt,
            message,
            at: now_ms(),
        });
    }

    /// The values expressions of step `index` may read: inputs, run, and the steps it needs.
    /// Fails only when an output cannot be read back (nested deeper than 128 levels).
    pub fn context(&self, index: usize, records: &[NodeRecord]) -> Result<Value, String> {
        let mut steps = Map::new();
        for &need in &self.workflow.steps[index].needs {
            let record = &records[need];
            let error = match record.status {
                NodeStatus::Failed | NodeStatus::Cancelled => record.error.clone(),
                _ => None,
            };
            let output = match &record.output {
                Some(text) => text.value().map_err(|e| {
                    format!("cannot read the output of step `{}`: {e}", record.step_id)
                })?,
                None => Value::Null,
            };
            steps.insert(
                record.step_id.clone(),
                json!({
                    "output": output,
                    "status": record.status.as_str(),
                    "error": error,
                }),
            );
        }
        Ok(json!({ "inputs": *self.inputs, "run": { "id": self.run.id }, "steps": steps }))
    }

    /// How the steps upstream of step `index` ended, for its `when:`'s status functions.
    pub fn upstream(&self, index: usize, records: &[NodeRecord]) -> Upstream {
        let steps = &self.workflow.steps;
        let mut seen = vec![false; steps.len()];
        let mut todo = steps[index].needs.clone();
        let mut failed = false;
        while let Some(i) = todo.pop() {
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            failed |= records[i].status == NodeStatus::Failed && !records[i].tolerated;
            todo.extend(&steps[i].needs);
        }
        Upstream {
            failed,
            cancelled: self.cancel.is_cancelled(),
            satisfied: steps[index]
                .needs
                .iter()
                .all(|&n| records[n].satisfies_needs()),
        }
    }
}
