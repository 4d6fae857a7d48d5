//! The analysis cache: the same image (by sha256), step kind, schema/prompt version and model
//! give the stored answer without calling a provider.

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::{StorageError, decode, encode};

pub struct AnalysisCache {
    tree: techpack_engine::store::Tree,
}

/// What identifies a cached answer.
#[derive(Debug, Clone, Serialize)]
pub struct CacheKey<'a> {
    pub image_sha256: &'a str,
    pub operation: &'a str,
    pub schema_version: &'a str,
    pub provider: &'a str,
    pub model: &'a str,
    /// Anything else the answer depends on (view name, detail name, reference size …).
    pub variant: &'a str,
}

impl CacheKey<'_> {
    fn digest(&self) -> Vec<u8> {
        let text = serde_json::to_string(self).expect("keys serialize");
        Sha256::digest(text.as_bytes()).to_vec()
    }
}

impl AnalysisCache {
    pub fn new(tree: techpack_engine::store::Tree) -> Self {
        AnalysisCache { tree }
    }

    pub fn get<T: DeserializeOwned>(&self, key: &CacheKey) -> Result<Option<T>, StorageError> {
        match self.tree.get(key.digest())? {
            Some(bytes) => Ok(decode(&bytes).ok()),
            None => Ok(None),
        }
    }

    pub fn put<T: Serialize>(&self, key: &CacheKey, value: &T) -> Result<(), StorageError> {
        self.tree.insert(key.digest(), encode(value))?;
        Ok(())
    }
}
