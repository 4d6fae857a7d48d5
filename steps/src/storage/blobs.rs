//! Image bytes on disk, named by their sha256, written atomically (temp file + rename).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::StorageError;

pub struct BlobStore {
    root: PathBuf,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl BlobStore {
    pub fn open(root: &Path) -> Result<BlobStore, StorageError> {
        std::fs::create_dir_all(root).map_err(|e| StorageError::Io {
            action: "create",
            path: root.display().to_string(),
            source: e,
        })?;
        Ok(BlobStore {
            root: root.to_path_buf(),
        })
    }

    fn path_of(&self, sha256: &str) -> PathBuf {
        let prefix = sha256.get(..2).unwrap_or("xx");
        self.root.join(prefix).join(sha256)
    }

    /// Stores `bytes` and returns their sha256; storing the same bytes twice is a no-op.
    pub fn put(&self, bytes: &[u8]) -> Result<String, StorageError> {
        let sha = sha256_hex(bytes);
        let path = self.path_of(&sha);
        if path.exists() {
            return Ok(sha);
        }
        let dir = path.parent().expect("blob paths have a parent");
        let io = |action, source| StorageError::Io {
            action,
            path: path.display().to_string(),
            source,
        };
        let new_dir = !dir.exists();
        std::fs::create_dir_all(dir).map_err(|e| io("create", e))?;
        if new_dir {
            // The new folder's own entry, in the blob root.
            std::fs::File::open(&self.root)
                .and_then(|d| d.sync_all())
                .map_err(|e| io("sync", e))?;
        }
        let temp = dir.join(format!(".{sha}.{}.tmp", std::process::id()));
        std::fs::write(&temp, bytes).map_err(|e| io("write", e))?;
        std::fs::File::open(&temp)
            .and_then(|f| f.sync_all())
            .map_err(|e| io("sync", e))?;
        std::fs::rename(&temp, &path).map_err(|e| io("rename", e))?;
        // The rename is durable only once its folder is: a record that names the blob may be
        // committed (and fsynced) right after this returns.
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io("sync", e))?;
        Ok(sha)
    }

    pub fn get(&self, sha256: &str) -> Result<Vec<u8>, StorageError> {
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StorageError::BlobMissing(sha256.to_string()));
        }
        std::fs::read(self.path_of(sha256)).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => StorageError::BlobMissing(sha256.to_string()),
            _ => StorageError::Io {
                action: "read",
                path: self.path_of(sha256).display().to_string(),
                source: e,
            },
        })
    }
}
