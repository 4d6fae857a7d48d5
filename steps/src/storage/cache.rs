//! The analysis cache: the same image (by sha256), step kind, schema/prompt version and model
//! give the stored answer without calling a provider.

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::StorageError;

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
    /// The sha256 of the key's JSON form: what a backend keys the answer by.
    pub fn digest(&self) -> Vec<u8> {
        let text = serde_json::to_string(self).expect("keys serialize");
        Sha256::digest(text.as_bytes()).to_vec()
    }
}

/// Where a backend keeps cached answers, as JSON text (decoded by [`AnalysisCache`] straight
/// into the caller's type, with no `serde_json::Value` in between).
pub trait AnalysisCacheStore: Send + Sync {
    /// The JSON text stored under `key`, or `None`.
    fn get(&self, key: &CacheKey<'_>) -> Result<Option<Vec<u8>>, StorageError>;

    /// Whether an answer is stored under `key`, without reading it.
    fn contains(&self, key: &CacheKey<'_>) -> Result<bool, StorageError> {
        Ok(self.get(key)?.is_some())
    }

    /// Stores `json` (a JSON document) under `key`, replacing what was there.
    fn put(&self, key: &CacheKey<'_>, json: &str) -> Result<(), StorageError>;
}

/// The cache, over its backend's [`AnalysisCacheStore`].
#[derive(Clone)]
pub struct AnalysisCache {
    store: Arc<dyn AnalysisCacheStore>,
}

impl AnalysisCache {
    pub fn new(store: Arc<dyn AnalysisCacheStore>) -> Self {
        AnalysisCache { store }
    }

    /// The cached answer, or `None` (also when what is stored no longer reads as a `T`: a
    /// miss, answered again).
    pub fn get<T: DeserializeOwned>(&self, key: &CacheKey) -> Result<Option<T>, StorageError> {
        Ok(self
            .store
            .get(key)?
            .and_then(|json| serde_json::from_slice(&json).ok()))
    }

    /// Whether an answer is stored under `key` (not decoded).
    pub fn contains(&self, key: &CacheKey) -> Result<bool, StorageError> {
        self.store.contains(key)
    }

    pub fn put<T: Serialize>(&self, key: &CacheKey, value: &T) -> Result<(), StorageError> {
        let json =
            serde_json::to_string(value).map_err(|e| StorageError::Corrupt(e.to_string()))?;
        self.store.put(key, &json)
    }
}
