//! Events about node and run transitions, for progress displays and streams.

use serde::Serialize;

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
