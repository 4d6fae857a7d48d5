//! Events about node and run transitions, for progress displays and streams.

use serde::Serialize;

use crate::store::{NodeRecord, NodeStatus, RunRecord, now_ms};

/// One transition, broadcast as it is committed.
#[derive(Debug, Clone, Serialize)]
pub struct RunEvent {
    pub run_id: String,
    /// `None` for run-level events.
    pub step_id: Option<String>,
    /// The new status (`running`, `retrying`, `succeeded`, …).
    pub status: String,
    pub attempt: u32,
    pub message: Option<String>,
    /// Unix milliseconds.
    pub at: u64,
}

impl RunEvent {
    /// The event a committed node record stands for: its status, or `retrying` while an
    /// attempt that failed waits for the next one.
    pub fn of_node(node: &NodeRecord) -> RunEvent {
        let retrying = node.status == NodeStatus::Running
            && node
                .attempts
                .last()
                .is_some_and(|a| a.attempt == node.attempt && a.finished_at.is_some());
        RunEvent {
            run_id: node.run_id.clone(),
            step_id: Some(node.step_id.clone()),
            status: if retrying {
                "retrying"
            } else {
                node.status.as_str()
            }
            .to_string(),
            attempt: node.attempt,
            message: node.error.clone(),
            at: node.finished_at.or(node.started_at).unwrap_or_else(now_ms),
        }
    }

    /// The event a committed run record stands for.
    pub fn of_run(run: &RunRecord) -> RunEvent {
        RunEvent {
            run_id: run.id.clone(),
            step_id: None,
            status: run.status.as_str().to_string(),
            attempt: 0,
            message: run.error.clone(),
            at: run.finished_at.unwrap_or_else(now_ms),
        }
    }

    /// True for the event that ends a run's stream: the run's own, once it stopped running.
    pub fn ends_run(&self) -> bool {
        self.step_id.is_none() && self.status != "running" && self.status != "pending"
    }
}

/// A run event as a store that keeps them recorded it: `seq` orders every event of the
/// store, and a stream resumes after the last one it saw (`Last-Event-ID`).
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub seq: u64,
    pub event: RunEvent,
}
