//! The catalog's records in sled trees:
//!
//! - `techpack/products`: product id -> product
//! - `techpack/revisions`: `product_id/revision_id` -> revision
//! - `techpack/revision_products`: revision id -> its product's id (a revision by its id alone)
//! - `techpack/analyses`: analysis id -> analysis
//! - `techpack/product_analyses`: `product_id/analysis_id` -> nothing (a product's analyses
//!   without a scan of all)
//! - `techpack/close_ups`, `techpack/sketches`: `product_id/id` -> record

use std::sync::Mutex;

use techpack_engine::store::{Batch, Database, Tree};

use super::{OrBackend, scan};
use crate::storage::{
    AnalysisRecord, CatalogStore, CloseUpRecord, ImageRevision, NewRevision, Product, RevisionPlan,
    SketchRecord, StorageError, decode, encode,
};

/// Serialises revision-number assignment (one process owns the database).
static REVISIONS: Mutex<()> = Mutex::new(());

pub(super) struct SledCatalog {
    db: Database,
    products: Tree,
    revisions: Tree,
    revision_products: Tree,
    analyses: Tree,
    product_analyses: Tree,
    close_ups: Tree,
    sketches: Tree,
}

impl SledCatalog {
    pub(super) fn open(db: &Database) -> Result<SledCatalog, StorageError> {
        let tree = |name: &str| db.open_tree(name).or_backend();
        Ok(SledCatalog {
            products: tree("techpack/products")?,
            revisions: tree("techpack/revisions")?,
            revision_products: tree("techpack/revision_products")?,
            analyses: tree("techpack/analyses")?,
            product_analyses: tree("techpack/product_analyses")?,
            close_ups: tree("techpack/close_ups")?,
            sketches: tree("techpack/sketches")?,
            db: db.clone(),
        })
    }

    /// [`StorageError::ProductNotFound`] unless the product exists.
    fn require_product(&self, id: &str) -> Result<(), StorageError> {
        match self.products.contains_key(id.as_bytes()).or_backend()? {
            true => Ok(()),
            false => Err(StorageError::ProductNotFound(id.to_string())),
        }
    }
}

impl CatalogStore for SledCatalog {
    fn insert_product(&self, product: &Product) -> Result<(), StorageError> {
        self.products
            .insert(product.id.as_bytes(), encode(product))
            .or_backend()
    }

    fn insert_product_if_absent(&self, product: &Product) -> Result<Product, StorageError> {
        let swapped = self
            .products
            .compare_and_swap(product.id.as_bytes(), None, Some(encode(product)))
            .or_backend()?;
        match swapped {
            Ok(()) => Ok(product.clone()),
            Err(held) => match held {
                Some(bytes) => decode(&bytes),
                None => Err(StorageError::Backend(format!(
                    "product `{}` could not be stored",
                    product.id
                ))),
            },
        }
    }

    fn product(&self, id: &str) -> Result<Option<Product>, StorageError> {
        match self.products.get(id.as_bytes()).or_backend()? {
            Some(bytes) => decode(&bytes).map(Some),
            None => Ok(None),
        }
    }

    /// A scan of every product: the embedded store has no owner index.
    fn products_of(&self, owner: &str) -> Result<Vec<Product>, StorageError> {
        let mut products: Vec<Product> = scan(&self.products, "")?
            .into_iter()
            .filter(|p: &Product| p.owner.as_deref() == Some(owner))
            .collect();
        products.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
        Ok(products)
    }

    fn add_revision(&self, new: &NewRevision<'_>) -> Result<ImageRevision, StorageError> {
        self.require_product(new.product_id)?;
        let _guard = REVISIONS.lock().unwrap_or_else(|p| p.into_inner());
        let existing: Vec<ImageRevision> = scan(&self.revisions, &format!("{}/", new.product_id))?;
        let (revision, demoted) = match new.plan(existing) {
            RevisionPlan::Existing(current) => return Ok(current),
            RevisionPlan::New { revision, demoted } => (revision, demoted),
        };
        let mut batch = Batch::default();
        for record in demoted.iter().chain([&revision]) {
            batch.insert(
                &self.revisions,
                format!("{}/{}", record.product_id, record.id).as_bytes(),
                encode(record),
            );
        }
        batch.insert(
            &self.revision_products,
            revision.id.as_bytes(),
            new.product_id.as_bytes(),
        );
        self.db.apply(batch).or_backend()?;
        Ok(revision)
    }

    fn revisions(&self, product_id: &str) -> Result<Vec<ImageRevision>, StorageError> {
        let mut revisions: Vec<ImageRevision> = scan(&self.revisions, &format!("{product_id}/"))?;
        revisions.sort_by_key(|r| (r.view, r.version));
        Ok(revisions)
    }

    fn revision(
        &self,
        product_id: &str,
        revision_id: &str,
    ) -> Result<Option<ImageRevision>, StorageError> {
        match self
            .revisions
            .get(format!("{product_id}/{revision_id}").as_bytes())
            .or_backend()?
        {
            Some(bytes) => decode(&bytes).map(Some),
            None => Ok(None),
        }
    }

    fn revision_by_id(&self, revision_id: &str) -> Result<Option<ImageRevision>, StorageError> {
        match self
            .revision_products
            .get(revision_id.as_bytes())
            .or_backend()?
        {
            Some(product) => self.revision(&String::from_utf8_lossy(&product), revision_id),
            // Revisions stored before the index: look for the key that ends with the id.
            None => {
                let suffix = format!("/{revision_id}");
                self.revisions
                    .iter()
                    .or_backend()?
                    .into_iter()
                    .find(|(key, _)| key.ends_with(suffix.as_bytes()))
                    .map(|(_, bytes)| decode(&bytes))
                    .transpose()
            }
        }
    }

    fn put_analysis(&self, record: &AnalysisRecord) -> Result<(), StorageError> {
        self.require_product(&record.product_id)?;
        let mut batch = Batch::default();
        batch.insert(&self.analyses, record.id.as_bytes(), encode(record));
        batch.insert(
            &self.product_analyses,
            format!("{}/{}", record.product_id, record.id).as_bytes(),
            Vec::new(),
        );
        self.db.apply(batch).or_backend()
    }

    fn analysis(&self, id: &str) -> Result<Option<AnalysisRecord>, StorageError> {
        match self.analyses.get(id.as_bytes()).or_backend()? {
            Some(bytes) => decode(&bytes).map(Some),
            None => Ok(None),
        }
    }

    fn analyses_of(&self, product_id: &str) -> Result<Vec<AnalysisRecord>, StorageError> {
        let mut analyses = Vec::new();
        for (key, _) in self
            .product_analyses
            .scan_prefix(format!("{product_id}/").as_bytes())
            .or_backend()?
        {
            let Some(id) = key.splitn(2, |b| *b == b'/').nth(1) else {
                continue;
            };
            let id = String::from_utf8_lossy(id);
            let analysis = self
                .analysis(&id)?
                .ok_or_else(|| StorageError::AnalysisNotFound(id.into_owned()))?;
            analyses.push(analysis);
        }
        analyses.sort_by_key(|a| a.created_at);
        Ok(analyses)
    }

    fn put_close_up(&self, record: &CloseUpRecord) -> Result<(), StorageError> {
        self.require_product(&record.product_id)?;
        self.close_ups
            .insert(
                format!("{}/{}", record.product_id, record.id).as_bytes(),
                encode(record),
            )
            .or_backend()
    }

    fn close_ups(&self, product_id: &str) -> Result<Vec<CloseUpRecord>, StorageError> {
        scan(&self.close_ups, &format!("{product_id}/"))
    }

    fn put_sketch(&self, record: &SketchRecord) -> Result<(), StorageError> {
        self.require_product(&record.product_id)?;
        self.sketches
            .insert(
                format!("{}/{}", record.product_id, record.id).as_bytes(),
                encode(record),
            )
            .or_backend()
    }

    fn sketches(&self, product_id: &str) -> Result<Vec<SketchRecord>, StorageError> {
        scan(&self.sketches, &format!("{product_id}/"))
    }
}
