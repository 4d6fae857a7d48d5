//! Image bytes, content-addressed by their sha256: in files on the embedded backend, in a
//! table on PostgreSQL.

use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::StorageError;

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Where a backend keeps image bytes. `sha256` is always the lowercase hex sha256 of the
/// bytes (checked by [`BlobStore`]).
pub trait ImageBlobStore: Send + Sync {
    /// Stores `bytes` under `sha256`; durable when it returns. Storing bytes that are there
    /// already is a no-op.
    fn put(&self, sha256: &str, bytes: &[u8]) -> Result<(), StorageError>;

    fn get(&self, sha256: &str) -> Result<Option<Vec<u8>>, StorageError>;
}

/// The image bytes, over the backend's [`ImageBlobStore`].
#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ImageBlobStore>,
}

impl BlobStore {
    pub fn new(store: Arc<dyn ImageBlobStore>) -> BlobStore {
        BlobStore { store }
    }

    /// Files under `root`, named by their sha256, written atomically (temp file + rename).
    pub fn open(root: &Path) -> Result<BlobStore, StorageError> {
        Ok(BlobStore::new(Arc::new(super::sled::FileBlobs::open(
            root,
        )?)))
    }

    /// Stores `bytes` and returns their sha256; storing the same bytes twice is a no-op.
    pub fn put(&self, bytes: &[u8]) -> Result<String, StorageError> {
        let sha = sha256_hex(bytes);
        self.store.put(&sha, bytes)?;
        Ok(sha)
    }

    pub fn get(&self, sha256: &str) -> Result<Vec<u8>, StorageError> {
        if sha256.len() != 64
            || !sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(StorageError::BlobMissing(sha256.to_string()));
        }
        self.store
            .get(sha256)?
            .ok_or_else(|| StorageError::BlobMissing(sha256.to_string()))
    }
}
