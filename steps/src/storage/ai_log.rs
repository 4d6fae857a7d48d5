//! The AI operation log: every provider call with tokens, timing and errors. Inputs are
//! summarised (never raw image bytes or keys).

use std::sync::Arc;

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
}

impl AiOperationLog {
    pub fn new(store: Arc<dyn AiOperationStore>) -> Self {
        AiOperationLog { store }
    }

    /// Stores `operation`, with a new id when it has none.
    pub fn append(&self, mut operation: AiOperation) -> Result<AiOperation, StorageError> {
        if operation.id.is_empty() {
            operation.id = new_id("op");
        }
        self.store.append(&operation)?;
        Ok(operation)
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
