//! Image bytes in `image_blobs`, one row per sha256: the same bytes twice are one row.

use techpack_engine::store::postgres::PgPool;

use super::{backend, big};
use crate::storage::{ImageBlobStore, StorageError};

pub(super) struct PgBlobs {
    pool: PgPool,
}

impl PgBlobs {
    pub(super) fn new(pool: PgPool) -> Self {
        PgBlobs { pool }
    }
}

impl ImageBlobStore for PgBlobs {
    fn put(&self, sha256: &str, bytes: &[u8]) -> Result<(), StorageError> {
        // Bytes stored already are not sent again (steps store their outputs on every run,
        // cached or not).
        let stored = self
            .pool
            .query_opt("SELECT 1 FROM image_blobs WHERE sha256 = $1", &[&sha256])
            .map_err(backend)?;
        if stored.is_some() {
            return Ok(());
        }
        self.pool
            .execute(
                "INSERT INTO image_blobs (sha256, bytes, size) VALUES ($1, $2, $3)
                 ON CONFLICT (sha256) DO NOTHING",
                &[&sha256, &bytes, &big(bytes.len() as u64)],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn get(&self, sha256: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let row = self
            .pool
            .query_opt(
                "SELECT bytes FROM image_blobs WHERE sha256 = $1",
                &[&sha256],
            )
            .map_err(backend)?;
        row.map(|row| {
            row.try_get::<_, Vec<u8>>("bytes")
                .map_err(|e| StorageError::Corrupt(e.to_string()))
        })
        .transpose()
    }
}
