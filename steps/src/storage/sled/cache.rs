//! The analysis cache in the `techpack/cache` tree, keyed by the key's digest.

use techpack_engine::store::Tree;

use super::OrBackend;
use crate::storage::StorageError;
use crate::storage::cache::{AnalysisCacheStore, CacheKey};

pub(super) struct SledCache {
    tree: Tree,
}

impl SledCache {
    pub(super) fn new(tree: Tree) -> Self {
        SledCache { tree }
    }
}

impl AnalysisCacheStore for SledCache {
    fn get(&self, key: &CacheKey<'_>) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self
            .tree
            .get(key.digest())
            .or_backend()?
            .map(|bytes| bytes.to_vec()))
    }

    fn contains(&self, key: &CacheKey<'_>) -> Result<bool, StorageError> {
        self.tree.contains_key(key.digest()).or_backend()
    }

    fn put(&self, key: &CacheKey<'_>, json: &str) -> Result<(), StorageError> {
        self.tree.insert(key.digest(), json).or_backend()
    }
}
