//! What the tech-pack steps keep: products, image revisions, analyses, close-ups, sketches,
//! the analysis cache, the AI operation log and the image bytes.
//!
//! Callers use [`Catalog`] (and its fields [`BlobStore`], [`AnalysisCache`],
//! [`AiOperationLog`]); each is a thin handle over a trait object, so the same code runs on
//! either backend:
//!
//! - embedded ([`Catalog::open`], module `sled`): records in sled trees beside the engine's,
//!   image bytes content-addressed in files under the data dir;
//! - PostgreSQL ([`Catalog::open_postgres`], module `postgres`): everything, image bytes
//!   included, in tables an operator can query with SQL.
//!
//! The traits ([`CatalogStore`], [`AnalysisCacheStore`], [`AiOperationStore`],
//! [`ImageBlobStore`]) say what each backend keeps and how; the handles add what is common
//! (ids, timestamps, the not-found errors, JSON encoding of cached values).

mod ai_log;
mod blobs;
pub mod cache;
mod catalog;
mod postgres;
mod records;
mod sled;
mod store;

use std::path::Path;
use std::sync::Arc;

use techpack_engine::store::Database;
use techpack_engine::store::postgres::PgPool;

pub use ai_log::{AiOperation, AiOperationLog, AiOperationStore, ProviderTally};
pub use blobs::{BlobStore, ImageBlobStore, sha256_hex};
pub use cache::{AnalysisCache, AnalysisCacheStore};
pub use records::{
    AnalysisRecord, CloseUpRecord, EditRecord, ImageRevision, Product, RevisionOrigin, SketchRecord,
};
pub use store::{CatalogStore, NewRevision, RevisionPlan};

/// Errors of the tech-pack storage.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The backend (sled, PostgreSQL) failed; the message says how, without credentials.
    #[error("storage error: {0}")]
    Backend(String),
    #[error("{0}")]
    Engine(#[from] techpack_engine::EngineError),
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no product with id `{0}`")]
    ProductNotFound(String),
    #[error("no image revision `{revision}` in product `{product}`")]
    RevisionNotFound { product: String, revision: String },
    #[error("no uploaded photo with id `{0}`")]
    PhotoNotFound(String),
    #[error("no analysis with id `{0}`")]
    AnalysisNotFound(String),
    #[error("stored image {0} is missing from the blob store")]
    BlobMissing(String),
    #[error("stored record is unreadable: {0}")]
    Corrupt(String),
}

/// Every tech-pack record and image.
pub struct Catalog {
    pub blobs: BlobStore,
    pub cache: AnalysisCache,
    pub ai_log: AiOperationLog,
    records: Arc<dyn CatalogStore>,
}

impl Catalog {
    /// The embedded catalog: records in the engine's database, image bytes in
    /// `data_dir/blobs`.
    pub fn open(db: &Database, data_dir: &Path) -> Result<Catalog, StorageError> {
        sled::open(db, data_dir)
    }

    /// The PostgreSQL catalog: creates or upgrades its tables (embedded migrations, component
    /// `catalog`), then keeps everything there, image bytes included.
    pub fn open_postgres(pool: &PgPool) -> Result<Catalog, StorageError> {
        postgres::open(pool)
    }

    /// A catalog over stores of the caller's choosing (e.g. PostgreSQL records with image
    /// bytes in an object store).
    pub fn from_stores(
        records: Arc<dyn CatalogStore>,
        blobs: Arc<dyn ImageBlobStore>,
        cache: Arc<dyn AnalysisCacheStore>,
        ai_log: Arc<dyn AiOperationStore>,
    ) -> Catalog {
        Catalog {
            blobs: BlobStore::new(blobs),
            cache: AnalysisCache::new(cache),
            ai_log: AiOperationLog::new(ai_log),
            records,
        }
    }
}

pub(crate) fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("records serialize")
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, StorageError> {
    serde_json::from_slice(bytes).map_err(|e| StorageError::Corrupt(e.to_string()))
}

pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}
