//! The AI operation log: every provider call with tokens, timing and errors. Inputs are
//! summarised (never raw image bytes or keys).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::{StorageError, new_id};
use crate::providers::Usage;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AiOperation {
    pub id: String,
    /// e.g. `analyze-view`, `generate-close-up`.
    pub operation: String,
    pub provider: String,
    pub model: String,
    /// `vision` or `image`.
    pub kind: String,
    pub user: Option<String>,
    pub run_id: Option<String>,
    pub step_id: Option<String>,
    pub input_summary: String,
    pub output_summary: String,
    pub usage: Usage,
    pub latency_ms: u64,
    /// `ok` or `error`.
    pub status: String,
    pub error: Option<String>,
    pub at: u64,
}

/// Where a backend keeps the log.
pub trait AiOperationStore: Send + Sync {
    /// Stores `operation` (its id is set), replacing one with the same id.
    fn append(&self, operation: &AiOperation) -> Result<(), StorageError>;

    /// By id (ids are time-ordered: oldest first), only those of `run_id` and/or `user`
    /// when given.
    fn list(
        &self,
        run_id: Option<&str>,
        user: Option<&str>,
    ) -> Result<Vec<AiOperation>, StorageError>;
}

/// The log, over its backend's [`AiOperationStore`].
#[derive(Clone)]
pub struct AiOperationLog {
    store: Arc<dyn AiOperationStore>,
    /// What this process appended since it started, for `/metrics` (per process: several
    /// workers on one database each count their own calls).
    tallies: Arc<Mutex<BTreeMap<String, ProviderTally>>>,
}

/// One provider's calls and tokens as this process logged them; every field only grows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProviderTally {
    /// Calls that answered (`ok`).
    pub ok: u64,
    /// Calls that failed (`error`).
    pub errors: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl AiOperationLog {
    pub fn new(store: Arc<dyn AiOperationStore>) -> Self {
        AiOperationLog {
            store,
            tallies: Arc::default(),
        }
    }

    /// Stores `operation`, with a new id when it has none. The call is counted in
    /// [`AiOperationLog::tallies`] even when storing it fails: it was made either way.
    pub fn append(&self, mut operation: AiOperation) -> Result<AiOperation, StorageError> {
        if operation.id.is_empty() {
            operation.id = new_id("op");
        }
        self.tally(&operation);
        self.store.append(&operation)?;
        Ok(operation)
    }

    fn tally(&self, operation: &AiOperation) {
        let mut tallies = self.tallies.lock().unwrap_or_else(|e| e.into_inner());
        let tally = tallies.entry(operation.provider.clone()).or_default();
        match operation.status.as_str() {
            "ok" => tally.ok += 1,
            _ => tally.errors += 1,
        }
        tally.prompt_tokens += operation.usage.prompt_tokens;
        tally.completion_tokens += operation.usage.completion_tokens;
    }

    /// Every provider's calls and tokens this process logged since it started, by provider.
    pub fn tallies(&self) -> BTreeMap<String, ProviderTally> {
        self.tallies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Oldest first; filtered by run and/or user when given.
    pub fn list(
        &self,
        run_id: Option<&str>,
        user: Option<&str>,
    ) -> Result<Vec<AiOperation>, StorageError> {
        self.store.list(run_id, user)
    }
}
