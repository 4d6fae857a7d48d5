//! Products, image revisions, analyses, close-ups and sketches in the catalog: the callers'
//! API, over the backend's [`super::CatalogStore`].

use techpack_engine::store::now_ms;

use super::{
    AnalysisRecord, Catalog, CloseUpRecord, ImageRevision, NewRevision, Product, RevisionOrigin,
    SketchRecord, StorageError, new_id,
};
use crate::techpack::View;

impl Catalog {
    pub fn create_product(
        &self,
        name: &str,
        description: Option<String>,
        owner: Option<String>,
    ) -> Result<Product, StorageError> {
        let product = Product {
            id: new_id("prod"),
            name: name.to_string(),
            description,
            owner,
            created_at: now_ms(),
        };
        self.records.insert_product(&product)?;
        Ok(product)
    }

    /// The product with `id`, created with that id if it does not exist (idempotent: a
    /// resumed CLI run finds the product its first attempt made).
    pub fn ensure_product(
        &self,
        id: &str,
        name: &str,
        owner: Option<String>,
    ) -> Result<Product, StorageError> {
        self.records.insert_product_if_absent(&Product {
            id: id.to_string(),
            name: name.to_string(),
            description: None,
            owner,
            created_at: now_ms(),
        })
    }

    pub fn product(&self, id: &str) -> Result<Product, StorageError> {
        self.records
            .product(id)?
            .ok_or_else(|| StorageError::ProductNotFound(id.to_string()))
    }

    /// The product if `owner` may see it (`None`: the operator, who sees every product).
    /// Another user's product is "not found", never "forbidden", so ids do not leak.
    pub fn owned_product(&self, id: &str, owner: Option<&str>) -> Result<Product, StorageError> {
        self.records
            .owned_product(id, owner)?
            .ok_or_else(|| StorageError::ProductNotFound(id.to_string()))
    }

    /// The user's products, newest first.
    pub fn products_of(&self, owner: &str) -> Result<Vec<Product>, StorageError> {
        self.records.products_of(owner)
    }

    /// Adds a new version of `view`'s image and makes it current. If the current revision of
    /// that view already has these exact bytes, it is returned instead (idempotent uploads).
    #[allow(clippy::too_many_arguments)]
    pub fn add_revision(
        &self,
        product_id: &str,
        view: View,
        image_hash: &str,
        mime: &str,
        width: u32,
        height: u32,
        origin: RevisionOrigin,
    ) -> Result<ImageRevision, StorageError> {
        self.records.add_revision(&NewRevision {
            product_id,
            view,
            image_hash,
            mime,
            width,
            height,
            origin,
        })
    }

    /// Every revision of a product, by view then version.
    pub fn revisions(&self, product_id: &str) -> Result<Vec<ImageRevision>, StorageError> {
        self.records.revisions(product_id)
    }

    pub fn revision(
        &self,
        product_id: &str,
        revision_id: &str,
    ) -> Result<ImageRevision, StorageError> {
        self.records
            .revision(product_id, revision_id)?
            .ok_or_else(|| StorageError::RevisionNotFound {
                product: product_id.to_string(),
                revision: revision_id.to_string(),
            })
    }

    /// A revision found by its id alone (an `images` input gives only that).
    pub fn revision_by_id(&self, revision_id: &str) -> Result<ImageRevision, StorageError> {
        self.records
            .revision_by_id(revision_id)?
            .ok_or_else(|| StorageError::PhotoNotFound(revision_id.to_string()))
    }

    pub fn put_analysis(&self, record: &AnalysisRecord) -> Result<(), StorageError> {
        self.records.put_analysis(record)
    }

    /// A product's analyses, oldest first (on the embedded store, those indexed by
    /// [`Catalog::put_analysis`]: an analysis stored before the index is found by its id
    /// alone).
    pub fn analyses_of(&self, product_id: &str) -> Result<Vec<AnalysisRecord>, StorageError> {
        self.records.analyses_of(product_id)
    }

    /// A product's newest analysis (the last of [`Catalog::analyses_of`]), if it has one.
    pub fn latest_analysis(
        &self,
        product_id: &str,
    ) -> Result<Option<AnalysisRecord>, StorageError> {
        self.records.latest_analysis(product_id)
    }

    pub fn analysis(&self, id: &str) -> Result<AnalysisRecord, StorageError> {
        self.records
            .analysis(id)?
            .ok_or_else(|| StorageError::AnalysisNotFound(id.to_string()))
    }

    pub fn put_close_up(&self, record: &CloseUpRecord) -> Result<(), StorageError> {
        self.records.put_close_up(record)
    }

    pub fn close_ups(&self, product_id: &str) -> Result<Vec<CloseUpRecord>, StorageError> {
        self.records.close_ups(product_id)
    }

    pub fn put_sketch(&self, record: &SketchRecord) -> Result<(), StorageError> {
        self.records.put_sketch(record)
    }

    pub fn sketches(&self, product_id: &str) -> Result<Vec<SketchRecord>, StorageError> {
        self.records.sketches(product_id)
    }
}
