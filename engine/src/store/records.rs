//! What the store keeps about runs and nodes.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Created, not yet started.
    Pending,
    /// Being executed, or interrupted if no process is executing it (resumable).
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl RunStatus {
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            RunStatus::Succeeded | RunStatus::Failed | RunStatus::Cancelled
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Pending => "pending",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    /// Its `when:` was false; counts as satisfied for the steps that need it.
    Skipped,
    /// The run was cancelled, or a step it needs failed.
    Cancelled,
}

impl NodeStatus {
    pub fn is_finished(self) -> bool {
        !matches!(self, NodeStatus::Pending | NodeStatus::Running)
    }

    /// Finished in a way that lets dependent steps run.
    pub fn satisfies_needs(self) -> bool {
        matches!(self, NodeStatus::Succeeded | NodeStatus::Skipped)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NodeStatus::Pending => "pending",
            NodeStatus::Running => "running",
            NodeStatus::Succeeded => "succeeded",
            NodeStatus::Failed => "failed",
            NodeStatus::Skipped => "skipped",
            NodeStatus::Cancelled => "cancelled",
        }
    }
}

/// A run: pinned to the exact workflow text it started with (kept once per distinct text,
/// by its sha256; see [`super::StateStore::workflow_source`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: String,
    pub workflow_name: String,
    pub workflow_version: String,
    /// sha256 of the workflow text the run was started with; resume re-reads that text, not
    /// the file.
    pub workflow_sha256: String,
    /// Where the workflow was read from, for messages.
    pub workflow_origin: String,
    pub inputs: Map<String, Value>,
    pub status: RunStatus,
    /// The user the run is charged to; `None` for operator runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    pub created_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How many times the run was resumed after an interruption or cancellation.
    #[serde(default)]
    pub resumes: u32,
}

/// One step of one run. A step that has not started has no stored record: the store holds
/// what happened, [`NodeRecord::pending`] stands for the rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeRecord {
    pub run_id: String,
    pub step_id: String,
    pub status: NodeStatus,
    /// Attempts started so far, across restarts.
    pub attempt: u32,
    /// `run_id/step_id`: the same for every attempt, also after resume.
    pub idempotency_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The failing step's error class (`not_found`, `invalid_input` …), if it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<u64>,
    /// Set when the step's output was free (a cache hit): its credits are refunded.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub free: bool,
}

impl NodeRecord {
    pub fn pending(run_id: &str, step_id: &str) -> Self {
        NodeRecord {
            run_id: run_id.to_string(),
            step_id: step_id.to_string(),
            status: NodeStatus::Pending,
            attempt: 0,
            idempotency_key: format!("{run_id}/{step_id}"),
            output: None,
            error: None,
            error_code: None,
            started_at: None,
            finished_at: None,
            free: false,
        }
    }

    /// Wall time of the step so far, in milliseconds.
    pub fn elapsed_ms(&self) -> Option<u64> {
        let start = self.started_at?;
        Some(
            self.finished_at
                .unwrap_or_else(now_ms)
                .saturating_sub(start),
        )
    }
}
