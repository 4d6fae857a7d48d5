//! The PostgreSQL backend: every record and image in tables of one database
//! ([`schema`]), through the engine's [`PgPool`]. Queries are built at run time; a write of
//! several rows is one transaction.

mod ai_log;
mod blobs;
mod cache;
mod catalog;
mod schema;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use techpack_engine::store::postgres::{PgError, PgPool, PgTxn, migrate};
use tokio_postgres::Row;
use tokio_postgres::types::Json;

use super::{Catalog, StorageError};

/// The catalog in the database of `pool`, its tables created or upgraded first.
pub(super) fn open(pool: &PgPool) -> Result<Catalog, StorageError> {
    migrate(pool, "catalog", schema::MIGRATIONS).map_err(backend)?;
    Ok(Catalog::from_stores(
        Arc::new(catalog::PgCatalog::new(pool.clone())),
        Arc::new(blobs::PgBlobs::new(pool.clone())),
        Arc::new(cache::PgCache::new(pool.clone())),
        Arc::new(ai_log::PgAiLog::new(pool.clone())),
    ))
}

fn backend(error: PgError) -> StorageError {
    StorageError::Backend(error.to_string())
}

/// The error of a transaction's work: PostgreSQL's, or the storage's own (a product not
/// found, ...). PostgreSQL's are what [`PgPool::transaction`] retries.
struct Failed(StorageError);

impl From<PgError> for Failed {
    fn from(error: PgError) -> Self {
        Failed(backend(error))
    }
}

impl From<StorageError> for Failed {
    fn from(error: StorageError) -> Self {
        Failed(error)
    }
}

/// Runs `work` in one transaction of `pool` (retried on serialization failures).
fn transaction<T>(
    pool: &PgPool,
    work: impl FnMut(&mut PgTxn<'_>) -> Result<T, Failed>,
) -> Result<T, StorageError> {
    pool.transaction(work).map_err(|Failed(e)| e)
}

/// The record in a row's `record` column.
fn record<T: DeserializeOwned>(row: &Row) -> Result<T, StorageError> {
    row.try_get::<_, Json<T>>("record")
        .map(|Json(record)| record)
        .map_err(|e| StorageError::Corrupt(e.to_string()))
}

fn records<T: DeserializeOwned>(rows: &[Row]) -> Result<Vec<T>, StorageError> {
    rows.iter().map(record).collect()
}

/// A record's milliseconds since the epoch, as a `timestamptz`.
fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// A count or size for a `bigint` column.
fn big(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A width, height or version for an `integer` column.
fn int(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}
