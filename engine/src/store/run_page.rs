//! [`RunQuery`]: which runs a page of [`crate::StateStore::runs_page`] holds. Pages go newest
//! first and continue below a cursor (the last run id of the page before), so a listing
//! reads one page of runs, however many there are.

use super::{RunRecord, RunStatus};

/// A page of runs: newest first, below `before`, at most `limit`, every filter applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunQuery {
    /// Only this user's runs (`None`: everyone's, the operator's too).
    pub owner: Option<String>,
    pub status: Option<RunStatus>,
    /// Only runs of the workflow with this name.
    pub workflow: Option<String>,
    /// Only runs whose id contains this text.
    pub id_contains: Option<String>,
    /// Only runs older than this one (run ids are UUIDv7: their order is creation order).
    pub before: Option<String>,
    pub limit: usize,
}

impl RunQuery {
    /// Whether `run` passes the filters other than the owner and the cursor (which the stores
    /// apply with their keys).
    pub fn matches(&self, id: &str, status: RunStatus, workflow: &str) -> bool {
        self.status.is_none_or(|s| s == status)
            && self.workflow.as_deref().is_none_or(|w| w == workflow)
            && self
                .id_contains
                .as_deref()
                .is_none_or(|text| id.contains(text))
    }

    /// Whether `run` is on this query's pages (any page).
    pub fn selects(&self, run: &RunRecord) -> bool {
        self.owner
            .as_deref()
            .is_none_or(|owner| run.owner.as_deref() == Some(owner))
            && self.matches(&run.id, run.status, &run.workflow_name)
    }
}
