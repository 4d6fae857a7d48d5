//! [`CatalogStore`]: what a backend keeps for the catalog's records, and the revision rule
//! both backends share ([`NewRevision::plan`]).

use techpack_engine::store::now_ms;

use super::{
    AnalysisRecord, CloseUpRecord, ImageRevision, Product, RevisionOrigin, SketchRecord,
    StorageError, new_id,
};
use crate::techpack::View;

/// The catalog's records: products, image revisions, analyses, close-ups and sketches.
///
/// Lookups answer `None` for a missing record; [`super::Catalog`] turns that into the
/// matching not-found error. Writes of a record that names a product refuse a product that
/// does not exist with [`StorageError::ProductNotFound`]. Every multi-record write is atomic.
pub trait CatalogStore: Send + Sync {
    /// Stores a new product (or replaces the one with its id).
    fn insert_product(&self, product: &Product) -> Result<(), StorageError>;

    /// Stores `product` unless one with its id exists; returns the stored one either way.
    fn insert_product_if_absent(&self, product: &Product) -> Result<Product, StorageError>;

    fn product(&self, id: &str) -> Result<Option<Product>, StorageError>;

    /// The product if `owner` may see it: any product for `None` (the operator), only the
    /// user's own for `Some(user)`.
    fn owned_product(
        &self,
        id: &str,
        owner: Option<&str>,
    ) -> Result<Option<Product>, StorageError> {
        Ok(self
            .product(id)?
            .filter(|p| owner.is_none() || p.owner.as_deref() == owner))
    }

    /// The user's products, newest first.
    fn products_of(&self, owner: &str) -> Result<Vec<Product>, StorageError>;

    /// Adds a revision as [`NewRevision::plan`] says, atomically with demoting the view's
    /// previous current revision; revision numbers of one product are assigned one at a
    /// time.
    fn add_revision(&self, new: &NewRevision<'_>) -> Result<ImageRevision, StorageError>;

    /// Every revision of a product, by view (in [`View`] order) then version.
    fn revisions(&self, product_id: &str) -> Result<Vec<ImageRevision>, StorageError>;

    fn revision(
        &self,
        product_id: &str,
        revision_id: &str,
    ) -> Result<Option<ImageRevision>, StorageError>;

    /// A revision found by its id alone.
    fn revision_by_id(&self, revision_id: &str) -> Result<Option<ImageRevision>, StorageError>;

    /// Stores (or replaces, by id) an analysis and indexes it under its product.
    fn put_analysis(&self, record: &AnalysisRecord) -> Result<(), StorageError>;

    fn analysis(&self, id: &str) -> Result<Option<AnalysisRecord>, StorageError>;

    /// A product's analyses, oldest first (by `created_at`, then id).
    fn analyses_of(&self, product_id: &str) -> Result<Vec<AnalysisRecord>, StorageError>;

    /// A product's newest analysis: the last of [`CatalogStore::analyses_of`].
    fn latest_analysis(&self, product_id: &str) -> Result<Option<AnalysisRecord>, StorageError> {
        Ok(self.analyses_of(product_id)?.pop())
    }

    /// Stores (or replaces, by id) a close-up.
    fn put_close_up(&self, record: &CloseUpRecord) -> Result<(), StorageError>;

    /// A product's close-ups, by id.
    fn close_ups(&self, product_id: &str) -> Result<Vec<CloseUpRecord>, StorageError>;

    /// Stores (or replaces, by id) a sketch.
    fn put_sketch(&self, record: &SketchRecord) -> Result<(), StorageError>;

    /// A product's sketches, by id.
    fn sketches(&self, product_id: &str) -> Result<Vec<SketchRecord>, StorageError>;
}

/// A new image of one view of a product, for [`CatalogStore::add_revision`].
#[derive(Debug, Clone)]
pub struct NewRevision<'a> {
    pub product_id: &'a str,
    pub view: View,
    pub image_hash: &'a str,
    pub mime: &'a str,
    pub width: u32,
    pub height: u32,
    pub origin: RevisionOrigin,
}

/// What adding a revision comes to.
#[derive(Debug, Clone, PartialEq)]
pub enum RevisionPlan {
    /// The view's current revision already has these bytes (an upload again): nothing to write.
    Existing(ImageRevision),
    /// Store `revision` (the view's new current one) and `demoted` (the previous current
    /// ones, with `is_current` now false), together.
    New {
        revision: ImageRevision,
        demoted: Vec<ImageRevision>,
    },
}

impl NewRevision<'_> {
    /// Given the revisions of the same product and view, what to write: the next version
    /// made current, unless an upload repeats the current revision's bytes.
    pub fn plan(&self, existing: Vec<ImageRevision>) -> RevisionPlan {
        let existing: Vec<ImageRevision> = existing
            .into_iter()
            .filter(|r| r.product_id == self.product_id && r.view == self.view)
            .collect();
        if let Some(current) = existing.iter().find(|r| r.is_current)
            && current.image_hash == self.image_hash
            && self.origin == RevisionOrigin::Upload
        {
            return RevisionPlan::Existing(current.clone());
        }
        let revision = ImageRevision {
            id: new_id("rev"),
            product_id: self.product_id.to_string(),
            view: self.view,
            version: existing.iter().map(|r| r.version).max().unwrap_or(0) + 1,
            is_current: true,
            image_hash: self.image_hash.to_string(),
            mime: self.mime.to_string(),
            width: self.width,
            height: self.height,
            origin: self.origin.clone(),
            created_at: now_ms(),
        };
        let demoted = existing
            .into_iter()
            .filter(|r| r.is_current)
            .map(|mut r| {
                r.is_current = false;
                r
            })
            .collect();
        RevisionPlan::New { revision, demoted }
    }
}
