//! The catalog's records in `products`, `image_revisions`, `analyses`, `close_ups` and
//! `sketches` (see [`super::schema`]).

use techpack_engine::store::postgres::PgPool;
use tokio_postgres::types::Json;

use super::{at, backend, int, record, records, transaction};
use crate::storage::{
    AnalysisRecord, CatalogStore, CloseUpRecord, ImageRevision, NewRevision, Product,
    RevisionOrigin, RevisionPlan, SketchRecord, StorageError,
};

pub(super) struct PgCatalog {
    pool: PgPool,
}

impl PgCatalog {
    pub(super) fn new(pool: PgPool) -> Self {
        PgCatalog { pool }
    }

    fn one<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
        id: &str,
    ) -> Result<Option<T>, StorageError> {
        match self.pool.query_opt(sql, &[&id]).map_err(backend)? {
            Some(row) => record(&row).map(Some),
            None => Ok(None),
        }
    }

    fn all<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
        id: &str,
    ) -> Result<Vec<T>, StorageError> {
        records(&self.pool.query(sql, &[&id]).map_err(backend)?)
    }
}

const INSERT_PRODUCT: &str = "INSERT INTO products (id, name, owner, created_at, record)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, owner = EXCLUDED.owner,
         created_at = EXCLUDED.created_at, record = EXCLUDED.record";

const INSERT_PRODUCT_IF_ABSENT: &str = "INSERT INTO products (id, name, owner, created_at, record)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (id) DO NOTHING";

/// Writes of records that name a product insert nothing when it does not exist (then
/// [`StorageError::ProductNotFound`]); the foreign keys refuse other dangling ids.
fn product_missing(changed: u64, product_id: &str) -> Result<(), StorageError> {
    match changed {
        0 => Err(StorageError::ProductNotFound(product_id.to_string())),
        _ => Ok(()),
    }
}

impl CatalogStore for PgCatalog {
    fn insert_product(&self, product: &Product) -> Result<(), StorageError> {
        self.pool
            .execute(
                INSERT_PRODUCT,
                &[
                    &product.id,
                    &product.name,
                    &product.owner,
                    &at(product.created_at),
                    &Json(product),
                ],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn insert_product_if_absent(&self, product: &Product) -> Result<Product, StorageError> {
        transaction(&self.pool, |txn| {
            txn.execute(
                INSERT_PRODUCT_IF_ABSENT,
                &[
                    &product.id,
                    &product.name,
                    &product.owner,
                    &at(product.created_at),
                    &Json(product),
                ],
            )?;
            // A statement of its own: it sees a row another transaction committed meanwhile.
            let row = txn.query_one("SELECT record FROM products WHERE id = $1", &[&product.id])?;
            Ok(record(&row)?)
        })
    }

    fn product(&self, id: &str) -> Result<Option<Product>, StorageError> {
        self.one("SELECT record FROM products WHERE id = $1", id)
    }

    fn owned_product(
        &self,
        id: &str,
        owner: Option<&str>,
    ) -> Result<Option<Product>, StorageError> {
        let Some(owner) = owner else {
            return self.product(id);
        };
        match self
            .pool
            .query_opt(
                "SELECT record FROM products WHERE id = $1 AND owner = $2",
                &[&id, &owner],
            )
            .map_err(backend)?
        {
            Some(row) => record(&row).map(Some),
            None => Ok(None),
        }
    }

    fn products_of(&self, owner: &str) -> Result<Vec<Product>, StorageError> {
        self.all(
            "SELECT record FROM products WHERE owner = $1 ORDER BY created_at DESC, id DESC",
            owner,
        )
    }

    fn add_revision(&self, new: &NewRevision<'_>) -> Result<ImageRevision, StorageError> {
        transaction(&self.pool, |txn| {
            // The product's row lock: one revision of a product is numbered at a time, by
            // any worker (records that only refer to the product are not held up).
            let product = txn.query_opt(
                "SELECT 1 FROM products WHERE id = $1 FOR NO KEY UPDATE",
                &[&new.product_id],
            )?;
            if product.is_none() {
                return Err(StorageError::ProductNotFound(new.product_id.to_string()).into());
            }
            let existing = records(&txn.query(
                "SELECT record FROM image_revisions WHERE product_id = $1 AND view = $2",
                &[&new.product_id, &new.view.as_str()],
            )?)?;
            let (revision, demoted) = match new.plan(existing) {
                RevisionPlan::Existing(current) => return Ok(current),
                RevisionPlan::New { revision, demoted } => (revision, demoted),
            };
            for previous in &demoted {
                txn.execute(
                    "UPDATE image_revisions SET is_current = false, record = $2 WHERE id = $1",
                    &[&previous.id, &Json(previous)],
                )?;
            }
            let (origin, from_revision_id) = match &revision.origin {
                RevisionOrigin::Upload => ("upload", None),
                RevisionOrigin::Regenerated {
                    from_revision_id, ..
                } => ("regenerated", Some(from_revision_id.as_str())),
            };
            txn.execute(
                "INSERT INTO image_revisions (id, product_id, view, version, is_current, sha256,
                     mime, width, height, origin, from_revision_id, created_at, record)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                &[
                    &revision.id,
                    &revision.product_id,
                    &revision.view.as_str(),
                    &int(revision.version),
                    &revision.is_current,
                    &revision.image_hash,
                    &revision.mime,
                    &int(revision.width),
                    &int(revision.height),
                    &origin,
                    &from_revision_id,
                    &at(revision.created_at),
                    &Json(&revision),
                ],
            )?;
            Ok(revision)
        })
    }

    fn revisions(&self, product_id: &str) -> Result<Vec<ImageRevision>, StorageError> {
        let mut revisions: Vec<ImageRevision> = self.all(
            "SELECT record FROM image_revisions WHERE product_id = $1",
            product_id,
        )?;
        // By view in `View` order (not the names' alphabetical one), then version.
        revisions.sort_by_key(|r| (r.view, r.version));
        Ok(revisions)
    }

    fn revision(
        &self,
        product_id: &str,
        revision_id: &str,
    ) -> Result<Option<ImageRevision>, StorageError> {
        match self
            .pool
            .query_opt(
                "SELECT record FROM image_revisions WHERE id = $1 AND product_id = $2",
                &[&revision_id, &product_id],
            )
            .map_err(backend)?
        {
            Some(row) => record(&row).map(Some),
            None => Ok(None),
        }
    }

    fn revision_by_id(&self, revision_id: &str) -> Result<Option<ImageRevision>, StorageError> {
        self.one(
            "SELECT record FROM image_revisions WHERE id = $1",
            revision_id,
        )
    }

    fn put_analysis(&self, a: &AnalysisRecord) -> Result<(), StorageError> {
        let changed = self
            .pool
            .execute(
                "INSERT INTO analyses
                     (id, product_id, revision_ids, provider, model, created_at, updated_at, record)
                 SELECT $1, $2, $3::text[], $4, $5, $6::timestamptz, $7::timestamptz, $8::jsonb
                 WHERE EXISTS (SELECT 1 FROM products WHERE id = $2)
                 ON CONFLICT (id) DO UPDATE SET
                     product_id = EXCLUDED.product_id, revision_ids = EXCLUDED.revision_ids,
                     provider = EXCLUDED.provider, model = EXCLUDED.model,
                     created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at,
                     record = EXCLUDED.record",
                &[
                    &a.id,
                    &a.product_id,
                    &a.revision_ids,
                    &a.provider,
                    &a.model,
                    &at(a.created_at),
                    &at(a.updated_at),
                    &Json(a),
                ],
            )
            .map_err(backend)?;
        product_missing(changed, &a.product_id)
    }

    fn analysis(&self, id: &str) -> Result<Option<AnalysisRecord>, StorageError> {
        self.one("SELECT record FROM analyses WHERE id = $1", id)
    }

    fn analyses_of(&self, product_id: &str) -> Result<Vec<AnalysisRecord>, StorageError> {
        self.all(
            "SELECT record FROM analyses WHERE product_id = $1 ORDER BY created_at, id",
            product_id,
        )
    }

    fn latest_analysis(&self, product_id: &str) -> Result<Option<AnalysisRecord>, StorageError> {
        self.one(
            "SELECT record FROM analyses WHERE product_id = $1
             ORDER BY created_at DESC, id DESC LIMIT 1",
            product_id,
        )
    }

    fn put_close_up(&self, c: &CloseUpRecord) -> Result<(), StorageError> {
        let changed = self
            .pool
            .execute(
                "INSERT INTO close_ups (id, product_id, analysis_id, source_revision_id, detail,
                     sha256, provider, model, created_at, record)
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9::timestamptz, $10::jsonb
                 WHERE EXISTS (SELECT 1 FROM products WHERE id = $2)
                 ON CONFLICT (id) DO UPDATE SET
                     product_id = EXCLUDED.product_id, analysis_id = EXCLUDED.analysis_id,
                     source_revision_id = EXCLUDED.source_revision_id,
                     detail = EXCLUDED.detail, sha256 = EXCLUDED.sha256,
                     provider = EXCLUDED.provider, model = EXCLUDED.model,
                     created_at = EXCLUDED.created_at, record = EXCLUDED.record",
                &[
                    &c.id,
                    &c.product_id,
                    &c.analysis_id,
                    &c.source_revision_id,
                    &c.detail,
                    &c.image_hash,
                    &c.provider,
                    &c.model,
                    &at(c.created_at),
                    &Json(c),
                ],
            )
            .map_err(backend)?;
        product_missing(changed, &c.product_id)
    }

    fn close_ups(&self, product_id: &str) -> Result<Vec<CloseUpRecord>, StorageError> {
        self.all(
            "SELECT record FROM close_ups WHERE product_id = $1 ORDER BY id",
            product_id,
        )
    }

    fn put_sketch(&self, s: &SketchRecord) -> Result<(), StorageError> {
        let changed = self
            .pool
            .execute(
                "INSERT INTO sketches (id, product_id, analysis_id, view, sha256, width, height,
                     provider, model, created_at, record)
                 SELECT $1, $2, $3, $4, $5, $6::integer, $7::integer, $8, $9,
                     $10::timestamptz, $11::jsonb
                 WHERE EXISTS (SELECT 1 FROM products WHERE id = $2)
                 ON CONFLICT (id) DO UPDATE SET
                     product_id = EXCLUDED.product_id, analysis_id = EXCLUDED.analysis_id,
                     view = EXCLUDED.view, sha256 = EXCLUDED.sha256, width = EXCLUDED.width,
                     height = EXCLUDED.height, provider = EXCLUDED.provider,
                     model = EXCLUDED.model, created_at = EXCLUDED.created_at,
                     record = EXCLUDED.record",
                &[
                    &s.id,
                    &s.product_id,
                    &s.analysis_id,
                    &s.view.as_str(),
                    &s.image_hash,
                    &int(s.width),
                    &int(s.height),
                    &s.provider,
                    &s.model,
                    &at(s.created_at),
                    &Json(s),
                ],
            )
            .map_err(backend)?;
        product_missing(changed, &s.product_id)
    }

    fn sketches(&self, product_id: &str) -> Result<Vec<SketchRecord>, StorageError> {
        self.all(
            "SELECT record FROM sketches WHERE product_id = $1 ORDER BY id",
            product_id,
        )
    }
}
