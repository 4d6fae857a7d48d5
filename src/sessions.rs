//! The console's sign-in sessions, kept in the shared store so that every worker on one
//! database knows them (a browser behind a load balancer stays signed in whichever worker
//! answers), and signing out on one ends the session on all of them.
//!
//! A session id is 32 random bytes, given to the browser once (in its cookie); only its
//! sha256 is stored, so the store holds no usable cookie. Each session ends [`LIFETIME`] after
//! sign-in; ended ones are swept as new ones are made.
//!
//! The records live behind [`SessionRecords`]: two sled trees in the embedded store
//! ([`SledSessions`]), or the `console_sessions` table in PostgreSQL ([`PgSessions`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use techpack_engine::store::postgres::{Migration, PgError, PgPool, migrate};
use techpack_engine::store::{Batch, Database, DbError, Tree, now_ms};

/// How long a session lasts after sign-in.
pub const LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);

/// The embedded store sweeps ended sessions at every this many sign-ins (a sweep reads the
/// index of expiry times).
const SWEEP_EVERY: u64 = 64;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("session store error: {0}")]
    Sled(#[from] DbError),
    #[error("session store error: {0}")]
    Postgres(#[from] PgError),
    #[error("a stored session is unreadable: {0}")]
    Unreadable(serde_json::Error),
    /// The system's random source failed (`getrandom`'s error is no `std` error here).
    #[error("cannot make a session id: {0}")]
    Random(getrandom::Error),
}

/// Who a session signed in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Principal {
    User(String),
    Admin,
}

/// A stored session: whom it signed in and until when.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub principal: Principal,
    /// Unix milliseconds.
    pub expires_at: u64,
}

/// Where sessions are kept, by the sha256 of their id (hex).
pub trait SessionRecords: Send + Sync {
    fn insert(&self, key: &str, record: &SessionRecord) -> Result<(), SessionError>;
    /// The session, if it is stored and has not ended at `now`.
    fn get(&self, key: &str, now: u64) -> Result<Option<SessionRecord>, SessionError>;
    fn remove(&self, key: &str) -> Result<(), SessionError>;
    /// Removes the sessions that ended before `now`.
    fn sweep(&self, now: u64) -> Result<(), SessionError>;
}

/// The console's sessions.
pub struct Sessions {
    records: Box<dyn SessionRecords>,
    /// Sign-ins so far in this process: when to sweep.
    opened: AtomicU64,
}

fn key(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

impl Sessions {
    /// The sessions of the embedded store.
    pub fn open(db: &Database) -> Result<Sessions, SessionError> {
        Ok(Sessions::with(Box::new(SledSessions {
            by_key: db.open_tree("console/sessions")?,
            by_expiry: db.open_tree("console/sessions/expiry")?,
            db: db.clone(),
        })))
    }

    /// The sessions of a PostgreSQL database (creating the table if needed).
    pub fn open_postgres(pool: &PgPool) -> Result<Sessions, SessionError> {
        migrate(pool, "console_sessions", SESSION_MIGRATIONS)?;
        Ok(Sessions::with(Box::new(PgSessions { pool: pool.clone() })))
    }

    fn with(records: Box<dyn SessionRecords>) -> Sessions {
        Sessions {
            records,
            opened: AtomicU64::new(0),
        }
    }

    /// A new session for `principal`; its id, for the cookie (never stored).
    pub fn start(&self, principal: Principal) -> Result<String, SessionError> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(SessionError::Random)?;
        let id = hex::encode(secret);
        let now = now_ms();
        if self
            .opened
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(SWEEP_EVERY)
        {
            self.records.sweep(now)?;
        }
        let expires_at = now.saturating_add(LIFETIME.as_millis() as u64);
        self.records.insert(
            &key(&id),
            &SessionRecord {
                principal,
                expires_at,
            },
        )?;
        Ok(id)
    }

    /// Who the session `id` signed in, if it is open.
    pub fn principal(&self, id: &str) -> Result<Option<Principal>, SessionError> {
        Ok(self
            .records
            .get(&key(id), now_ms())?
            .map(|record| record.principal))
    }

    /// Ends the session `id` (on every worker of the store).
    pub fn end(&self, id: &str) -> Result<(), SessionError> {
        self.records.remove(&key(id))
    }
}

/// Sessions in two trees of the embedded store: by key, and `expires_at (20 digits)/key`
/// for the sweep.
pub struct SledSessions {
    db: Database,
    by_key: Tree,
    by_expiry: Tree,
}

fn expiry_key(expires_at: u64, key: &str) -> String {
    format!("{expires_at:020}/{key}")
}

impl SessionRecords for SledSessions {
    fn insert(&self, key: &str, record: &SessionRecord) -> Result<(), SessionError> {
        let bytes = serde_json::to_vec(record).expect("sessions serialize");
        let mut batch = Batch::default();
        batch.insert(&self.by_key, key.as_bytes(), bytes);
        batch.insert(
            &self.by_expiry,
            expiry_key(record.expires_at, key).as_bytes(),
            b"",
        );
        Ok(self.db.apply(batch)?)
    }

    fn get(&self, key: &str, now: u64) -> Result<Option<SessionRecord>, SessionError> {
        let Some(bytes) = self.by_key.get(key.as_bytes())? else {
            return Ok(None);
        };
        let record: SessionRecord =
            serde_json::from_slice(&bytes).map_err(SessionError::Unreadable)?;
        Ok((record.expires_at > now).then_some(record))
    }

    fn remove(&self, key: &str) -> Result<(), SessionError> {
        let Some(bytes) = self.by_key.get(key.as_bytes())? else {
            return Ok(());
        };
        let mut batch = Batch::default();
        batch.remove(&self.by_key, key.as_bytes());
        if let Ok(record) = serde_json::from_slice::<SessionRecord>(&bytes) {
            batch.remove(
                &self.by_expiry,
                expiry_key(record.expires_at, key).as_bytes(),
            );
        }
        // Signing out is made durable at once: a crash must not bring the session back.
        self.db.apply(batch)?;
        Ok(self.db.flush()?)
    }

    fn sweep(&self, now: u64) -> Result<(), SessionError> {
        let mut batch = Batch::default();
        for (entry, _) in self.by_expiry.iter()? {
            let entry = String::from_utf8_lossy(&entry).into_owned();
            let Some((expires_at, key)) = entry.split_once('/') else {
                continue;
            };
            if expires_at.parse::<u64>().is_ok_and(|at| at > now) {
                break;
            }
            batch.remove(&self.by_expiry, entry.as_bytes());
            batch.remove(&self.by_key, key.as_bytes());
        }
        Ok(self.db.apply(batch)?)
    }
}

/// Sessions in PostgreSQL's `console_sessions` table.
pub struct PgSessions {
    pool: PgPool,
}

const SESSION_MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    sql: "CREATE TABLE console_sessions (
              id_sha256 text PRIMARY KEY,
              record jsonb NOT NULL,
              expires_at bigint NOT NULL
          );
          CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at)",
}];

fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl SessionRecords for PgSessions {
    fn insert(&self, key: &str, record: &SessionRecord) -> Result<(), SessionError> {
        let json = serde_json::to_value(record).expect("sessions serialize");
        self.pool.execute(
            "INSERT INTO console_sessions (id_sha256, record, expires_at) VALUES ($1, $2, $3)",
            &[&key, &json, &int(record.expires_at)],
        )?;
        Ok(())
    }

    fn get(&self, key: &str, now: u64) -> Result<Option<SessionRecord>, SessionError> {
        let row = self.pool.query_opt(
            "SELECT record FROM console_sessions WHERE id_sha256 = $1 AND expires_at > $2",
            &[&key, &int(now)],
        )?;
        row.map(|row| serde_json::from_value(row.get(0)).map_err(SessionError::Unreadable))
            .transpose()
    }

    fn remove(&self, key: &str) -> Result<(), SessionError> {
        self.pool
            .execute("DELETE FROM console_sessions WHERE id_sha256 = $1", &[&key])?;
        Ok(())
    }

    fn sweep(&self, now: u64) -> Result<(), SessionError> {
        self.pool.execute(
            "DELETE FROM console_sessions WHERE expires_at <= $1",
            &[&int(now)],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ended_or_unknown_session_signs_nobody_in_and_only_hashes_are_stored() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path()).unwrap();
        let sessions = Sessions::open(&db).unwrap();
        let id = sessions.start(Principal::User("ada".into())).unwrap();
        assert_eq!(
            sessions.principal(&id).unwrap(),
            Some(Principal::User("ada".into()))
        );
        assert_eq!(sessions.principal("nope").unwrap(), None);
        let stored: Vec<String> = db
            .open_tree("console/sessions")
            .unwrap()
            .iter()
            .unwrap()
            .into_iter()
            .map(|(k, v)| {
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&k),
                    String::from_utf8_lossy(&v)
                )
            })
            .collect();
        assert_eq!(stored.len(), 1);
        assert!(!stored[0].contains(&id), "the id itself is stored");
        sessions.end(&id).unwrap();
        assert_eq!(sessions.principal(&id).unwrap(), None);
    }

    #[test]
    fn a_sweep_removes_the_ended_sessions_only() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path()).unwrap();
        let sessions = Sessions::open(&db).unwrap();
        let record = |expires_at| SessionRecord {
            principal: Principal::Admin,
            expires_at,
        };
        sessions.records.insert("old", &record(10)).unwrap();
        sessions.records.insert("new", &record(1_000)).unwrap();
        assert_eq!(sessions.records.get("old", 20).unwrap(), None, "ended");
        sessions.records.sweep(20).unwrap();
        assert_eq!(sessions.records.get("old", 0).unwrap(), None, "swept");
        assert_eq!(
            sessions.records.get("new", 20).unwrap(),
            Some(record(1_000))
        );
    }
}
