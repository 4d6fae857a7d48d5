//! What the tech-pack steps keep: products, image revisions, analyses, close-ups, sketches,
//! the analysis cache and the AI operation log — metadata in sled trees beside the engine's,
//! image bytes content-addressed on disk.

mod ai_log;
mod blobs;
pub mod cache;
mod products;
mod records;

use std::path::Path;

use techpack_engine::store::{Database, Tree};

pub use ai_log::{AiOperation, AiOperationLog};
pub use blobs::BlobStore;
pub use cache::AnalysisCache;
pub use records::{
    AnalysisRecord, CloseUpRecord, EditRecord, ImageRevision, Product, RevisionOrigin, SketchRecord,
};

/// Errors of the tech-pack storage.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
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

/// Every tech-pack record and image, opened from the engine's database and the data dir.
pub struct Catalog {
    pub blobs: BlobStore,
    pub cache: AnalysisCache,
    pub ai_log: AiOperationLog,
    db: Database,
    products: Tree,
    revisions: Tree,
    /// Revision id -> its product's id, to find an uploaded photo by its id alone.
    revision_products: Tree,
    analyses: Tree,
    /// `product_id/analysis_id` -> nothing: a product's analyses without a scan of all.
    product_analyses: Tree,
    close_ups: Tree,
    sketches: Tree,
}

impl Catalog {
    pub fn open(db: &Database, data_dir: &Path) -> Result<Catalog, StorageError> {
        Ok(Catalog {
            blobs: BlobStore::open(&data_dir.join("blobs"))?,
            cache: AnalysisCache::new(db.open_tree("techpack/cache")?),
            ai_log: AiOperationLog::new(db.open_tree("techpack/ai_log")?),
            products: db.open_tree("techpack/products")?,
            revisions: db.open_tree("techpack/revisions")?,
            revision_products: db.open_tree("techpack/revision_products")?,
            analyses: db.open_tree("techpack/analyses")?,
            product_analyses: db.open_tree("techpack/product_analyses")?,
            close_ups: db.open_tree("techpack/close_ups")?,
            sketches: db.open_tree("techpack/sketches")?,
            db: db.clone(),
        })
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
