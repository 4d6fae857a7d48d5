//! Image bytes on disk, named by their sha256, written atomically (temp file + rename) and
//! fsynced with their folder before `put` returns.

use std::path::{Path, PathBuf};

use crate::storage::{ImageBlobStore, StorageError};

pub(in crate::storage) struct FileBlobs {
    root: PathBuf,
}

impl FileBlobs {
    pub(in crate::storage) fn open(root: &Path) -> Result<FileBlobs, StorageError> {
        std::fs::create_dir_all(root).map_err(|e| StorageError::Io {
            action: "create",
            path: root.display().to_string(),
            source: e,
        })?;
        Ok(FileBlobs {
            root: root.to_path_buf(),
        })
    }

    fn path_of(&self, sha256: &str) -> PathBuf {
        let prefix = sha256.get(..2).unwrap_or("xx");
        self.root.join(prefix).join(sha256)
    }
}

impl ImageBlobStore for FileBlobs {
    fn put(&self, sha: &str, bytes: &[u8]) -> Result<(), StorageError> {
        let path = self.path_of(sha);
        if path.exists() {
            return Ok(());
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
        Ok(())
    }

    fn get(&self, sha256: &str) -> Result<Option<Vec<u8>>, StorageError> {
        match std::fs::read(self.path_of(sha256)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StorageError::Io {
                action: "read",
                path: self.path_of(sha256).display().to_string(),
                source: e,
            }),
        }
    }
}
