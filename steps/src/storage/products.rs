//! Products, image revisions, analyses, close-ups and sketches in the catalog.

use std::sync::Mutex;

use techpack_engine::store::{Batch, Tree, now_ms};

use super::{
    AnalysisRecord, Catalog, CloseUpRecord, ImageRevision, Product, RevisionOrigin, SketchRecord,
    StorageError, decode, encode, new_id,
};
use crate::techpack::View;

/// Serialises revision-number assignment (one process owns the database).
static REVISIONS: Mutex<()> = Mutex::new(());

fn scan<T: serde::de::DeserializeOwned>(tree: &Tree, prefix: &str) -> Result<Vec<T>, StorageError> {
    tree.scan_prefix(prefix.as_bytes())?
        .into_iter()
        .map(|(_, bytes)| decode(&bytes))
        .collect()
}

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
        self.products
            .insert(product.id.as_bytes(), encode(&product))?;
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
        if let Some(bytes) = self.products.get(id.as_bytes())? {
            return decode(&bytes);
        }
        let product = Product {
            id: id.to_string(),
            name: name.to_string(),
            description: None,
            owner,
            created_at: now_ms(),
        };
        self.products.insert(id.as_bytes(), encode(&product))?;
        Ok(product)
    }

    pub fn product(&self, id: &str) -> Result<Product, StorageError> {
        match self.products.get(id.as_bytes())? {
            Some(bytes) => decode(&bytes),
            None => Err(StorageError::ProductNotFound(id.to_string())),
        }
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
        self.product(product_id)?;
        let _guard = REVISIONS.lock().unwrap_or_else(|p| p.into_inner());
        let existing: Vec<ImageRevision> = self
            .revisions(product_id)?
            .into_iter()
            .filter(|r| r.view == view)
            .collect();
        if let Some(current) = existing.iter().find(|r| r.is_current)
            && current.image_hash == image_hash
            && origin == RevisionOrigin::Upload
        {
            return Ok(current.clone());
        }
        let revision = ImageRevision {
            id: new_id("rev"),
            product_id: product_id.to_string(),
            view,
            version: existing.iter().map(|r| r.version).max().unwrap_or(0) + 1,
            is_current: true,
            image_hash: image_hash.to_string(),
            mime: mime.to_string(),
            width,
            height,
            origin,
            created_at: now_ms(),
        };
        let mut batch = Batch::default();
        for mut previous in existing.into_iter().filter(|r| r.is_current) {
            previous.is_current = false;
            batch.insert(
                &self.revisions,
                format!("{product_id}/{}", previous.id).as_bytes(),
                encode(&previous),
            );
        }
        batch.insert(
            &self.revisions,
            format!("{product_id}/{}", revision.id).as_bytes(),
            encode(&revision),
        );
        self.db.apply(batch)?;
        Ok(revision)
    }

    /// Every revision of a product, by view then version.
    pub fn revisions(&self, product_id: &str) -> Result<Vec<ImageRevision>, StorageError> {
        let mut revisions: Vec<ImageRevision> = scan(&self.revisions, &format!("{product_id}/"))?;
        revisions.sort_by_key(|r| (r.view, r.version));
        Ok(revisions)
    }

    pub fn revision(
        &self,
        product_id: &str,
        revision_id: &str,
    ) -> Result<ImageRevision, StorageError> {
        match self
            .revisions
            .get(format!("{product_id}/{revision_id}").as_bytes())?
        {
            Some(bytes) => decode(&bytes),
            None => Err(StorageError::RevisionNotFound {
                product: product_id.to_string(),
                revision: revision_id.to_string(),
            }),
        }
    }

    pub fn put_analysis(&self, record: &AnalysisRecord) -> Result<(), StorageError> {
        self.analyses.insert(record.id.as_bytes(), encode(record))?;
        Ok(())
    }

    pub fn analysis(&self, id: &str) -> Result<AnalysisRecord, StorageError> {
        match self.analyses.get(id.as_bytes())? {
            Some(bytes) => decode(&bytes),
            None => Err(StorageError::AnalysisNotFound(id.to_string())),
        }
    }

    pub fn put_close_up(&self, record: &CloseUpRecord) -> Result<(), StorageError> {
        self.close_ups.insert(
            format!("{}/{}", record.product_id, record.id).as_bytes(),
            encode(record),
        )?;
        Ok(())
    }

    pub fn close_ups(&self, product_id: &str) -> Result<Vec<CloseUpRecord>, StorageError> {
        scan(&self.close_ups, &format!("{product_id}/"))
    }

    pub fn put_sketch(&self, record: &SketchRecord) -> Result<(), StorageError> {
        self.sketches.insert(
            format!("{}/{}", record.product_id, record.id).as_bytes(),
            encode(record),
        )?;
        Ok(())
    }

    pub fn sketches(&self, product_id: &str) -> Result<Vec<SketchRecord>, StorageError> {
        scan(&self.sketches, &format!("{product_id}/"))
    }
}
