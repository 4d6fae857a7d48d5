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
        batch.insert(
            &self.revision_products,
            revision.id.as_bytes(),
            product_id.as_bytes(),
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

    /// A revision found by its id alone (an `images` input gives only that).
    pub fn revision_by_id(&self, revision_id: &str) -> Result<ImageRevision, StorageError> {
        let not_found = || StorageError::PhotoNotFound(revision_id.to_string());
        let product = match self.revision_products.get(revision_id.as_bytes())? {
            Some(product) => String::from_utf8_lossy(&product).into_owned(),
            // Revisions stored before the index: look for the key that ends with the id.
            None => {
                let suffix = format!("/{revision_id}");
                let found = self
                    .revisions
                    .iter()?
                    .into_iter()
                    .find(|(key, _)| key.ends_with(suffix.as_bytes()));
                match found {
                    Some((_, bytes)) => return decode(&bytes),
                    None => return Err(not_found()),
                }
            }
        };
        self.revision(&product, revision_id)
            .map_err(|_| not_found())
    }

    pub fn put_analysis(&self, record: &AnalysisRecord) -> Result<(), StorageError> {
        let mut batch = Batch::default();
        batch.insert(&self.analyses, record.id.as_bytes(), encode(record));
        batch.insert(
            &self.product_analyses,
            format!("{}/{}", record.product_id, record.id).as_bytes(),
            Vec::new(),
        );
        self.db.apply(batch)?;
        Ok(())
    }

    /// A product's analyses, oldest first (those indexed by [`Catalog::put_analysis`]: an
    /// analysis stored before the index is found by its id alone).
    pub fn analyses_of(&self, product_id: &str) -> Result<Vec<AnalysisRecord>, StorageError> {
        let mut analyses = self
            .product_analyses
            .scan_prefix(format!("{product_id}/").as_bytes())?
            .iter()
            .filter_map(|(key, _)| key.splitn(2, |b| *b == b'/').nth(1).map(<[u8]>::to_vec))
            .map(|id| self.analysis(&String::from_utf8_lossy(&id)))
            .collect::<Result<Vec<_>, _>>()?;
        analyses.sort_by_key(|a| a.created_at);
        Ok(analyses)
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
