//! `Idempotency-Key`s of run triggers: `user \0 workflow \0 key` -> the run it created and
//! the sha256 of the body it came with. Kept in a sled tree of the embedded store
//! ([`SledIdempotency`]) or PostgreSQL's `idempotency_keys` table ([`PgIdempotency`]), where
//! the key's uniqueness is a primary key, so two workers racing on one key store one run.

use serde::{Deserialize, Serialize};
use techpack_engine::store::postgres::{Migration, PgError, PgPool, migrate};
use techpack_engine::store::{DbError, Tree};

/// Why a key could not be read or stored: the API answers any of these 500 `internal`.
#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError {
    #[error("idempotency keys: {0}")]
    Sled(#[from] DbError),
    #[error("idempotency keys: {0}")]
    Postgres(#[from] PgError),
    #[error("an idempotency record is unreadable: {0}")]
    Unreadable(#[from] serde_json::Error),
    #[error("an idempotency key vanished after it was stored")]
    Vanished,
}

/// The run a key created, and the body it was created with.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IdempotentRun {
    pub body_sha256: String,
    pub run_id: String,
}

pub trait IdempotencyKeys: Send + Sync {
    fn get(&self, key: &str) -> Result<Option<IdempotentRun>, IdempotencyError>;
    /// Stores `run` under `key` unless the key is taken; returns the run stored first
    /// (`run` itself when this call stored it).
    fn insert_new(&self, key: &str, run: &IdempotentRun)
    -> Result<IdempotentRun, IdempotencyError>;
}

pub struct SledIdempotency(pub Tree);

impl IdempotencyKeys for SledIdempotency {
    fn get(&self, key: &str) -> Result<Option<IdempotentRun>, IdempotencyError> {
        match self.0.get(key.as_bytes())? {
            Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            None => Ok(None),
        }
    }

    fn insert_new(
        &self,
        key: &str,
        run: &IdempotentRun,
    ) -> Result<IdempotentRun, IdempotencyError> {
        let record = serde_json::to_vec(run)?;
        match self
            .0
            .compare_and_swap(key.as_bytes(), None as Option<&[u8]>, Some(record))?
        {
            Ok(()) => Ok(run.clone()),
            Err(existing) => Ok(serde_json::from_slice(
                existing.as_deref().unwrap_or_default(),
            )?),
        }
    }
}

pub struct PgIdempotency {
    pool: PgPool,
}

const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    sql: "CREATE TABLE idempotency_keys (
              key text PRIMARY KEY,
              body_sha256 text NOT NULL,
              run_id text NOT NULL,
              created_at timestamptz NOT NULL DEFAULT now()
          )",
}];

impl PgIdempotency {
    pub fn open(pool: &PgPool) -> Result<PgIdempotency, IdempotencyError> {
        migrate(pool, "idempotency", MIGRATIONS)?;
        Ok(PgIdempotency { pool: pool.clone() })
    }
}

impl IdempotencyKeys for PgIdempotency {
    fn get(&self, key: &str) -> Result<Option<IdempotentRun>, IdempotencyError> {
        Ok(self
            .pool
            .query_opt(
                "SELECT body_sha256, run_id FROM idempotency_keys WHERE key = $1",
                &[&key],
            )?
            .map(|row| IdempotentRun {
                body_sha256: row.get(0),
                run_id: row.get(1),
            }))
    }

    fn insert_new(
        &self,
        key: &str,
        run: &IdempotentRun,
    ) -> Result<IdempotentRun, IdempotencyError> {
        self.pool.execute(
            "INSERT INTO idempotency_keys (key, body_sha256, run_id) VALUES ($1, $2, $3)
                 ON CONFLICT (key) DO NOTHING",
            &[&key, &run.body_sha256, &run.run_id],
        )?;
        self.get(key)?.ok_or(IdempotencyError::Vanished)
    }
}

#[cfg(test)]
mod tests {
    use techpack_engine::store::Database;

    use super::*;

    #[test]
    fn a_key_keeps_its_first_run_and_an_unreadable_record_is_an_error_not_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path()).unwrap();
        let keys = SledIdempotency(db.open_tree("api/idempotency").unwrap());
        let first = IdempotentRun {
            body_sha256: "a".into(),
            run_id: "run_1".into(),
        };
        let second = IdempotentRun {
            body_sha256: "b".into(),
            run_id: "run_2".into(),
        };
        assert_eq!(keys.get("k").unwrap(), None);
        assert_eq!(keys.insert_new("k", &first).unwrap(), first);
        assert_eq!(keys.insert_new("k", &second).unwrap(), first);
        assert_eq!(keys.get("k").unwrap(), Some(first));

        keys.0.insert("broken", b"not json").unwrap();
        assert!(matches!(
            keys.get("broken"),
            Err(IdempotencyError::Unreadable(_))
        ));
    }
}
