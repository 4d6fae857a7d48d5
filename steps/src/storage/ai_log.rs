//! The AI operation log: every provider call with tokens, timing and errors. Inputs are
//! summarised (never raw image bytes or keys).

use serde::{Deserialize, Serialize};

use super::{StorageError, decode, encode, new_id};
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

pub struct AiOperationLog {
    tree: techpack_engine::store::Tree,
}

impl AiOperationLog {
    pub fn new(tree: techpack_engine::store::Tree) -> Self {
        AiOperationLog { tree }
    }

    pub fn append(&self, mut operation: AiOperation) -> Result<AiOperation, StorageError> {
        if operation.id.is_empty() {
            operation.id = new_id("op");
        }
        self.tree
            .insert(operation.id.as_bytes(), encode(&operation))?;
        Ok(operation)
    }

    /// Oldest first; filtered by run and/or user when given.
    pub fn list(
        &self,
        run_id: Option<&str>,
        user: Option<&str>,
    ) -> Result<Vec<AiOperation>, StorageError> {
        let mut out = Vec::new();
        for (_, bytes) in self.tree.iter()? {
            let operation: AiOperation = decode(&bytes)?;
            if run_id.is_some_and(|r| operation.run_id.as_deref() != Some(r)) {
                continue;
            }
            if user.is_some_and(|u| operation.user.as_deref() != Some(u)) {
                continue;
            }
            out.push(operation);
        }
        Ok(out)
    }
}
