//! The embedded backend: records in sled trees of the engine's [`Database`] (beside the
//! engine's own), image bytes in content-addressed files under the data dir. No sled type or
//! error leaves this module: errors become [`StorageError::Backend`].

mod ai_log;
mod cache;
mod catalog;
mod files;

use std::path::Path;
use std::sync::Arc;

use techpack_engine::store::{Database, DbError, Tree};

pub(super) use files::FileBlobs;

use super::{Catalog, StorageError, decode};

/// The embedded catalog of `db`, with image bytes in `data_dir/blobs`.
pub(super) fn open(db: &Database, data_dir: &Path) -> Result<Catalog, StorageError> {
    let tree = |name: &str| db.open_tree(name).or_backend();
    Ok(Catalog::from_stores(
        Arc::new(catalog::SledCatalog::open(db)?),
        Arc::new(FileBlobs::open(&data_dir.join("blobs"))?),
        Arc::new(cache::SledCache::new(tree("techpack/cache")?)),
        Arc::new(ai_log::SledAiLog::new(tree("techpack/ai_log")?)),
    ))
}

/// The embedded database's errors as the storage's.
trait OrBackend<T> {
    fn or_backend(self) -> Result<T, StorageError>;
}

impl<T> OrBackend<T> for Result<T, DbError> {
    fn or_backend(self) -> Result<T, StorageError> {
        self.map_err(|e| StorageError::Backend(e.to_string()))
    }
}

/// The records under `prefix`, in key order.
fn scan<T: serde::de::DeserializeOwned>(tree: &Tree, prefix: &str) -> Result<Vec<T>, StorageError> {
    tree.scan_prefix(prefix.as_bytes())
        .or_backend()?
        .into_iter()
        .map(|(_, bytes)| decode(&bytes))
        .collect()
}
