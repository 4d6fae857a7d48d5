//! Running a finished run's steps again: `retry` (the same run goes on from its failed and
//! cancelled steps) and `replay` (a new run from a chosen step that takes its parent's other
//! outputs). Both only prepare the run, from the store; [`Engine::execute`] runs it.

use serde_json::{Map, Value};

use super::{Engine, RunReport, new_run};
use crate::EngineError;
use crate::store::{NodeRecord, RunRecord, RunStatus, now_ms};
use crate::workflow::{InputOrigin, Workflow};

impl Engine {
    /// Makes a run that failed or was cancelled go on, as a new round of the same run: its
    /// failed and cancelled steps and every step downstream of them (succeeded ones too:
    /// their inputs may change) become pending, keeping their attempt count and history; the
    /// other steps keep their outputs. Returns the run, pending and durable; execute it with
    /// [`Engine::execute`] — or queued, when its workflow's concurrency limits leave it no
    /// slot now ([`Engine::admit_queued`] starts it). A paid step that runs again reserves under its new round's id.
    pub async fn retry(&self, run_id: &str) -> Result<RunRecord, EngineError> {
        let report = self.finished_report(run_id)?;
        if report.run.status == RunStatus::Succeeded {
            return Err(EngineError::NothingToRetry(run_id.to_string()));
        }
        let workflow = self.inner.workflow_of(&report.run)?;
        let nodes = self
            .inner
            .node_records(&report.run, workflow.steps.iter().map(|s| s.id.as_str()))?;
        let again = downstream_of(&workflow, |i| !nodes[i].satisfies_needs());
        if !again.contains(&true) {
            return Err(EngineError::NothingToRetry(run_id.to_string()));
        }
        let mut run = report.run;
        run.retries += 1;
        // The nodes first, the run last: until the run is pending again it is still the
        // finished run it was, and a retry asked again after a crash redoes the same.
        for (mut node, _) in nodes.into_iter().zip(&again).filter(|(_, again)| **again) {
            node.start_round(run.retries);
            self.inner.store.commit(Some(&node), None, None)?;
        }
        run.status = RunStatus::Pending;
        run.finished_at = None;
        run.error = None;
        run.warnings.clear();
        match &workflow.concurrency {
            // Like a new run, it waits as queued when its limits leave it no slot now.
            Some(limits) => {
                run.status = self
                    .inner
                    .store
                    .create_run_limited(&run, &workflow.source, limits)?;
            }
            None => self.inner.store.commit(None, Some(&run), None)?,
        }
        self.inner.durable().await?;
        Ok(run)
    }

    /// Records a new run replaying `run_id` from step `from`, on the parent's pinned workflow
    /// text and for its owner: `from` and every step downstream of it run, with `inputs`
    /// merged over the parent's (checked like any run's); the other steps take the parent's
    /// outputs without running and without a charge — except those the parent did not
    /// finish with an output (failed, cancelled), which run too. Returns the new run, pending
    /// (or queued, as a retried run) and durable; execute it with [`Engine::execute`].
    pub async fn replay(
        &self,
        run_id: &str,
        from: &str,
        inputs: Map<String, Value>,
    ) -> Result<RunRecord, EngineError> {
        let parent = self.finished_report(run_id)?.run;
        let workflow = self.inner.workflow_of(&parent)?;
        let Some(start) = workflow.step_index(from) else {
            return Err(EngineError::UnknownStep {
                run: run_id.to_string(),
                step: from.to_string(),
                steps: workflow.steps.iter().map(|s| s.id.clone()).collect(),
            });
        };
        let nodes = self
            .inner
            .node_records(&parent, workflow.steps.iter().map(|s| s.id.as_str()))?;
        let again = downstream_of(&workflow, |i| i == start || !nodes[i].satisfies_needs());

        // Inputs the parent left unset are null in its record: unset here too, unless given.
        let mut given: Map<String, Value> = parent
            .inputs
            .iter()
            .filter(|(_, value)| !value.is_null())
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        given.extend(inputs);
        let origin = match parent.owner {
            Some(_) => InputOrigin::User,
            None => InputOrigin::Operator,
        };
        let inputs = workflow.resolve_inputs(given, origin)?;
        let mut run = new_run(&workflow, inputs, parent.owner.clone());
        run.parent_run_id = Some(parent.id.clone());
        run.replay_from = Some(from.to_string());

        // The taken outputs first, the run last: a run that exists has all of them.
        let now = now_ms();
        for (taken, _) in nodes.iter().zip(&again).filter(|(_, again)| !**again) {
            let mut node = NodeRecord::pending(&run.id, &taken.step_id);
            node.status = taken.status;
            node.output = taken.output.clone();
            node.free = taken.free;
            node.tolerated = taken.tolerated;
            node.error = taken.error.clone();
            node.error_code = taken.error_code.clone();
            node.finished_at = Some(now);
            node.reused_from = Some(parent.id.clone());
            self.inner.store.commit(Some(&node), None, None)?;
        }
        self.inner.record_new_run(&mut run, &workflow)?;
        self.inner.durable().await?;
        Ok(run)
    }

    /// The run, if it has finished and is not executing: retry and replay start from there.
    fn finished_report(&self, run_id: &str) -> Result<RunReport, EngineError> {
        if self.active_runs().iter().any(|id| id == run_id) {
            return Err(EngineError::RunActive(run_id.to_string()));
        }
        let report = self.report(run_id)?;
        match report.run.status {
            RunStatus::Pending => Err(EngineError::RunUnfinished {
                id: run_id.to_string(),
                status: "pending",
            }),
            RunStatus::Running => Err(EngineError::RunUnfinished {
                id: run_id.to_string(),
                status: "interrupted",
            }),
            RunStatus::Queued => Err(EngineError::RunUnfinished {
                id: run_id.to_string(),
                status: "queued",
            }),
            _ => Ok(report),
        }
    }
}

/// Per step of `workflow`: whether it is one of `seeds` or needs one, directly or not.
fn downstream_of(workflow: &Workflow, seeds: impl Fn(usize) -> bool) -> Vec<bool> {
    let steps = &workflow.steps;
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); steps.len()];
    for (i, step) in steps.iter().enumerate() {
        for &need in &step.needs {
            dependents[need].push(i);
        }
    }
    let mut marked: Vec<bool> = (0..steps.len()).map(seeds).collect();
    let mut todo: Vec<usize> = (0..steps.len()).filter(|&i| marked[i]).collect();
    while let Some(i) = todo.pop() {
        for &d in &dependents[i] {
            if !marked[d] {
                marked[d] = true;
                todo.push(d);
            }
        }
    }
    marked
}
