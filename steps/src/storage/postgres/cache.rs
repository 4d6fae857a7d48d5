//! The analysis cache in `analysis_cache`, keyed by the hex digest of the key, with the
//! key's fields in columns of their own.

use techpack_engine::store::postgres::PgPool;

use super::backend;
use crate::storage::StorageError;
use crate::storage::cache::{AnalysisCacheStore, CacheKey};

pub(super) struct PgCache {
    pool: PgPool,
}

impl PgCache {
    pub(super) fn new(pool: PgPool) -> Self {
        PgCache { pool }
    }
}

impl AnalysisCacheStore for PgCache {
    fn get(&self, key: &CacheKey<'_>) -> Result<Option<Vec<u8>>, StorageError> {
        let row = self
            .pool
            .query_opt(
                "SELECT value::text AS value FROM analysis_cache WHERE key = $1",
                &[&hex::encode(key.digest())],
            )
            .map_err(backend)?;
        // Unreadable is a miss, as on the embedded store.
        Ok(row.and_then(|row| {
            row.try_get::<_, String>("value")
                .ok()
                .map(String::into_bytes)
        }))
    }

    fn contains(&self, key: &CacheKey<'_>) -> Result<bool, StorageError> {
        let row = self
            .pool
            .query_opt(
                "SELECT 1 FROM analysis_cache WHERE key = $1",
                &[&hex::encode(key.digest())],
            )
            .map_err(backend)?;
        Ok(row.is_some())
    }

    fn put(&self, key: &CacheKey<'_>, json: &str) -> Result<(), StorageError> {
        self.pool
            .execute(
                "INSERT INTO analysis_cache
                     (key, image_sha256, operation, schema_version, provider, model, variant, value)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text::jsonb)
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
                &[
                    &hex::encode(key.digest()),
                    &key.image_sha256,
                    &key.operation,
                    &key.schema_version,
                    &key.provider,
                    &key.model,
                    &key.variant,
                    &json,
                ],
            )
            .map_err(backend)?;
        Ok(())
    }
}
