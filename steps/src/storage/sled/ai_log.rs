//! The AI operation log in the `techpack/ai_log` tree, keyed by operation id.

use techpack_engine::store::Tree;

use super::OrBackend;
use crate::storage::{AiOperation, AiOperationStore, StorageError, decode, encode};

pub(super) struct SledAiLog {
    tree: Tree,
}

impl SledAiLog {
    pub(super) fn new(tree: Tree) -> Self {
        SledAiLog { tree }
    }
}

impl AiOperationStore for SledAiLog {
    fn append(&self, operation: &AiOperation) -> Result<(), StorageError> {
        self.tree
            .insert(operation.id.as_bytes(), encode(operation))
            .or_backend()
    }

    fn list(
        &self,
        run_id: Option<&str>,
        user: Option<&str>,
    ) -> Result<Vec<AiOperation>, StorageError> {
        let mut out = Vec::new();
        for (_, bytes) in self.tree.iter().or_backend()? {
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
