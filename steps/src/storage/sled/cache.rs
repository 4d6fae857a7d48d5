//! The analysis cache in the `techpack/cache` tree, keyed by the key's digest.

use serde_json::Value;
use techpack_engine::store::Tree;

use super::OrBackend;
use crate::storage::cache::{AnalysisCacheStore, CacheKey};
use crate::storage::{StorageError, encode};

pub(super) struct SledCache {
    tree: Tree,
}

impl SledCache {
    pub(super) fn new(tree: Tree) -> Self {
        SledCache { tree }
    }
}

impl AnalysisCacheStore for SledCache {
    fn get(&self, key: &CacheKey<'_>) -> Result<Option<Value>, StorageError> {
        Ok(self
            .tree
            .get(key.digest())
            .or_backend()?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }

    fn put(&self, key: &CacheKey<'_>, value: &Value) -> Result<(), StorageError> {
        self.tree.insert(key.digest(), encode(value)).or_backend()
    }
}
