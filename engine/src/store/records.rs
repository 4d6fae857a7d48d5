//! What the store keeps about runs and nodes.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::JsonText;

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
    /// Created (or retried with `runs retry`), not yet started.
    Pending,
    /// Waiting for a slot of its workflow's `concurrency:` limits; becomes pending, in
    /// turn, when one frees.
    Queued,
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
            RunStatus::Queued => "queued",
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
    /// How many times `runs retry` made the finished run go on; the nodes it ran again carry
    /// this number as their [`NodeRecord::round`].
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: u32,
    /// The run this one replays (`runs replay`): its steps not downstream of
    /// [`RunRecord::replay_from`] took that run's outputs without running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_run_id: Option<String>,
    /// The step the replay started from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_from: Option<String>,
    /// What went wrong in a run that succeeded anyway: each step that failed with
    /// `continue_on_error`. Empty for a clean success, so apps tell the two apart by it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<RunWarning>,
    /// Where the run's end is reported (a URL the caller gave; the binary checks and calls
    /// it). Each time the run finishes, the store queues a [`super::DeliveryRecord`] in the
    /// same transaction as the final state, so a crash cannot lose the report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback: Option<String>,
}

/// A tolerated failure in a run ([`RunRecord::warnings`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunWarning {
    /// The step that failed.
    pub step: String,
    /// Its error.
    pub message: String,
    /// Its error class (`invalid_input` …), if it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

impl RunWarning {
    /// The warning for a node that failed with its failure tolerated, if it did.
    pub fn of(node: &NodeRecord) -> Option<RunWarning> {
        node.tolerated.then(|| RunWarning {
            step: node.step_id.clone(),
            message: node.error.clone().unwrap_or_else(|| "failed".into()),
            code: node.error_code.clone(),
        })
    }
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
    pub output: Option<JsonText>,
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
    /// The run's retry ([`RunRecord::retries`]) this node last ran in; 0 for its first
    /// execution. Each round has its own retry budget and its own credit reservations, so a
    /// retried paid step never meets the reservation an earlier round posted or voided.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub round: u32,
    /// Attempts started before this round: the step's `retry.attempts` counts from here,
    /// while `attempt` keeps counting across rounds.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub round_base: u32,
    /// Every ended attempt, oldest first, across retries of the step, rounds and restarts:
    /// `error` holds only the last one's message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<AttemptRecord>,
    /// The run this node's output was taken from without running (a replay's steps that are
    /// not downstream of the step it replays from).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reused_from: Option<String>,
    /// The node failed and its step has `continue_on_error`: the steps after it run, and the
    /// run does not fail because of it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tolerated: bool,
}

/// How one attempt of a node ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    Succeeded,
    Failed,
    Cancelled,
    /// The process died while it ran; the next attempt resumed it.
    Interrupted,
}

/// One ended attempt of a node, kept in [`NodeRecord::attempts`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// The attempt's number, as [`NodeRecord::attempt`] counted it.
    pub attempt: u32,
    /// The [`NodeRecord::round`] it ran in.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub round: u32,
    pub outcome: AttemptOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<u64>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
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
            round: 0,
            round_base: 0,
            attempts: Vec::new(),
            reused_from: None,
            tolerated: false,
        }
    }

    /// Finished in a way that lets dependent steps run: succeeded, skipped, or failed with
    /// the failure tolerated.
    pub fn satisfies_needs(&self) -> bool {
        self.status.satisfies_needs() || (self.status == NodeStatus::Failed && self.tolerated)
    }

    /// Makes the node pending again in round `round` of its run (`runs retry`): its result
    /// goes, its attempt count and history stay.
    pub(crate) fn start_round(&mut self, round: u32) {
        self.status = NodeStatus::Pending;
        self.output = None;
        self.error = None;
        self.error_code = None;
        self.started_at = None;
        self.finished_at = None;
        self.free = false;
        self.round = round;
        self.round_base = self.attempt;
        self.reused_from = None;
        self.tolerated = false;
    }

    /// Attempts started in this round, the one counted against the step's `retry.attempts`.
    pub fn round_attempt(&self) -> u32 {
        self.attempt.saturating_sub(self.round_base)
    }

    /// Records the end of the current attempt in [`NodeRecord::attempts`] (once), with the
    /// node's `error` as its message when it did not succeed.
    pub(crate) fn end_attempt(
        &mut self,
        outcome: AttemptOutcome,
        started_at: Option<u64>,
        error_code: Option<&str>,
    ) {
        if self.attempt == 0 || self.attempts.last().map(|a| a.attempt) >= Some(self.attempt) {
            return;
        }
        let error = match outcome {
            AttemptOutcome::Failed | AttemptOutcome::Cancelled => self.error.clone(),
            AttemptOutcome::Succeeded | AttemptOutcome::Interrupted => None,
        };
        let error_code = error.as_ref().and(error_code).map(str::to_string);
        self.attempts.push(AttemptRecord {
            attempt: self.attempt,
            round: self.round,
            outcome,
            error,
            error_code,
            started_at,
            finished_at: Some(now_ms()),
        });
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
