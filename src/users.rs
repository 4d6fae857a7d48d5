//! Users and their bearer tokens. A token is `tp_<user id>_<secret>`; only the sha256 of the
//! secret is stored, and it is compared in constant time.
//!
//! A user may also have a webhook secret (`POST /api/me/webhook-secret`), the key its runs'
//! completion callbacks are signed with (HMAC-SHA256). Signing needs the key itself, so it is
//! kept as it is; it is answered once, when made, and never shown again.
//!
//! The records live behind [`UserRecords`]: two sled trees in the embedded store
//! ([`SledUsers`]), or the `users` table in PostgreSQL ([`PgUsers`]).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use techpack_engine::store::postgres::{Migration, PgError, PgPool, migrate};
use techpack_engine::store::{Batch, Database, DbError, Tree, now_ms};

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("user `{0}` already exists")]
    Exists(String),
    #[error("no user `{0}`")]
    NotFound(String),
    #[error("a user name is 1 to 64 letters, digits, `-`, `_` or `.`; got `{0}`")]
    BadName(String),
    #[error("user store error: {0}")]
    Sled(#[from] DbError),
    #[error("user store error: {0}")]
    Postgres(#[from] PgError),
    #[error("user `{name}` is unreadable: {source}")]
    Unreadable {
        name: String,
        source: serde_json::Error,
    },
    /// The system's random source failed (`getrandom`'s error is no `std` error here).
    #[error("cannot make a token: {0}")]
    Random(getrandom::Error),
}

impl From<getrandom::Error> for UserError {
    fn from(error: getrandom::Error) -> Self {
        UserError::Random(error)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct User {
    pub name: String,
    pub id: String,
    /// sha256 of the token's secret part, hex.
    token_hash: String,
    pub created_at: u64,
    /// The key this user's completion callbacks are signed with; none until asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    webhook_secret: Option<String>,
}

impl User {
    /// The key this user's completion callbacks are signed with, if it made one.
    pub fn webhook_secret(&self) -> Option<&str> {
        self.webhook_secret.as_deref()
    }
}

/// Where users are kept.
pub trait UserRecords: Send + Sync {
    /// Stores a new user; `false` (and nothing written) if the name is taken.
    fn insert_new(&self, user: &User) -> Result<bool, UserError>;
    fn by_name(&self, name: &str) -> Result<Option<User>, UserError>;
    /// The name of the user with this id.
    fn name_of(&self, id: &str) -> Result<Option<String>, UserError>;
    /// The user with this id (every request's authentication asks).
    fn by_id(&self, id: &str) -> Result<Option<User>, UserError> {
        match self.name_of(id)? {
            Some(name) => self.by_name(&name),
            None => Ok(None),
        }
    }
    /// Replaces the user's webhook secret; `false` if there is no such user.
    fn set_webhook_secret(&self, name: &str, secret: &str) -> Result<bool, UserError>;
    /// Every user, by name.
    fn all(&self) -> Result<Vec<User>, UserError>;
}

pub struct Users {
    records: Box<dyn UserRecords>,
}

/// Users in two trees of the embedded store: by name, and id -> name.
pub struct SledUsers {
    db: Database,
    by_name: Tree,
    name_by_id: Tree,
}

impl UserRecords for SledUsers {
    fn insert_new(&self, user: &User) -> Result<bool, UserError> {
        if self.by_name.contains_key(user.name.as_bytes())? {
            return Ok(false);
        }
        let bytes = serde_json::to_vec(user).expect("users serialize");
        // One batch: a user is never half created. Creation is an operator's command, run by
        // one process at a time (the data directory's holder).
        let mut batch = Batch::default();
        batch.insert(&self.by_name, user.name.as_bytes(), bytes);
        batch.insert(&self.name_by_id, user.id.as_bytes(), user.name.as_bytes());
        self.db.apply(batch)?;
        self.db.flush()?;
        Ok(true)
    }

    fn by_name(&self, name: &str) -> Result<Option<User>, UserError> {
        match self.by_name.get(name.as_bytes())? {
            Some(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|source| UserError::Unreadable {
                        name: name.to_string(),
                        source,
                    })
            }
            None => Ok(None),
        }
    }

    fn name_of(&self, id: &str) -> Result<Option<String>, UserError> {
        Ok(self
            .name_by_id
            .get(id.as_bytes())?
            .map(|name| String::from_utf8_lossy(&name).into_owned()))
    }

    fn set_webhook_secret(&self, name: &str, secret: &str) -> Result<bool, UserError> {
        // One process holds the embedded store; the server makes one change at a time per
        // request, and the last rotation wins as it would in PostgreSQL.
        let Some(mut user) = self.by_name(name)? else {
            return Ok(false);
        };
        user.webhook_secret = Some(secret.to_string());
        let bytes = serde_json::to_vec(&user).expect("users serialize");
        let mut batch = Batch::default();
        batch.insert(&self.by_name, user.name.as_bytes(), bytes);
        self.db.apply(batch)?;
        self.db.flush()?;
        Ok(true)
    }

    fn all(&self) -> Result<Vec<User>, UserError> {
        self.by_name
            .iter()?
            .into_iter()
            .map(|(name, bytes)| {
                serde_json::from_slice(&bytes).map_err(|source| UserError::Unreadable {
                    name: String::from_utf8_lossy(&name).into_owned(),
                    source,
                })
            })
            .collect()
    }
}

/// Users in PostgreSQL's `users` table.
pub struct PgUsers {
    pool: PgPool,
}

const USER_MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sql: "CREATE TABLE users (
              id text PRIMARY KEY,
              name text NOT NULL UNIQUE,
              token_sha256 text NOT NULL,
              created_at bigint NOT NULL
          )",
    },
    Migration {
        version: 2,
        sql: "ALTER TABLE users ADD COLUMN webhook_secret text",
    },
];

impl PgUsers {
    pub fn open(pool: &PgPool) -> Result<PgUsers, UserError> {
        migrate(pool, "users", USER_MIGRATIONS)?;
        Ok(PgUsers { pool: pool.clone() })
    }

    /// The user a query of the users' columns, by one key, finds.
    fn one(&self, sql: &str, key: &str) -> Result<Option<User>, UserError> {
        Ok(self
            .pool
            .query_opt(sql, &[&key])?
            .as_ref()
            .map(PgUsers::user_of))
    }

    fn user_of(row: &tokio_postgres::Row) -> User {
        User {
            id: row.get(0),
            name: row.get(1),
            token_hash: row.get(2),
            created_at: u64::try_from(row.get::<_, i64>(3)).unwrap_or(0),
            webhook_secret: row.get(4),
        }
    }
}

impl UserRecords for PgUsers {
    fn insert_new(&self, user: &User) -> Result<bool, UserError> {
        let created_at = i64::try_from(user.created_at).unwrap_or(i64::MAX);
        let inserted = self.pool.execute(
            "INSERT INTO users (id, name, token_sha256, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (name) DO NOTHING",
            &[&user.id, &user.name, &user.token_hash, &created_at],
        )?;
        Ok(inserted == 1)
    }

    fn by_name(&self, name: &str) -> Result<Option<User>, UserError> {
        self.one(
            "SELECT id, name, token_sha256, created_at, webhook_secret FROM users WHERE name = $1",
            name,
        )
    }

    fn name_of(&self, id: &str) -> Result<Option<String>, UserError> {
        Ok(self
            .pool
            .query_opt("SELECT name FROM users WHERE id = $1", &[&id])?
            .map(|row| row.get(0)))
    }

    /// One query instead of the id -> name -> user of the default.
    fn by_id(&self, id: &str) -> Result<Option<User>, UserError> {
        self.one(
            "SELECT id, name, token_sha256, created_at, webhook_secret FROM users WHERE id = $1",
            id,
        )
    }

    fn set_webhook_secret(&self, name: &str, secret: &str) -> Result<bool, UserError> {
        let changed = self.pool.execute(
            "UPDATE users SET webhook_secret = $2 WHERE name = $1",
            &[&name, &secret],
        )?;
        Ok(changed == 1)
    }

    fn all(&self) -> Result<Vec<User>, UserError> {
        Ok(self
            .pool
            .query(
                "SELECT id, name, token_sha256, created_at, webhook_secret FROM users ORDER BY name COLLATE \"C\"",
                &[],
            )?
            .iter()
            .map(PgUsers::user_of)
            .collect())
    }
}

fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Equal in time that does not depend on where the first difference is (`subtle`; only the
/// lengths, which are public, are compared as usual).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

impl Users {
    /// The users of the embedded store.
    pub fn open(db: &Database) -> Result<Users, UserError> {
        Ok(Users {
            records: Box::new(SledUsers {
                by_name: db.open_tree("users/by_name")?,
                name_by_id: db.open_tree("users/name_by_id")?,
                db: db.clone(),
            }),
        })
    }

    /// The users of a PostgreSQL database (creating the table if needed).
    pub fn open_postgres(pool: &PgPool) -> Result<Users, UserError> {
        Ok(Users {
            records: Box::new(PgUsers::open(pool)?),
        })
    }

    /// Creates a user; returns it and its token (shown once, never stored).
    pub fn create(&self, name: &str) -> Result<(User, String), UserError> {
        if !valid_name(name) {
            return Err(UserError::BadName(name.to_string()));
        }
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)?;
        let secret = hex::encode(secret);
        let user = User {
            name: name.to_string(),
            id: uuid::Uuid::now_v7().simple().to_string(),
            token_hash: hex::encode(hash(&secret)),
            created_at: now_ms(),
            webhook_secret: None,
        };
        if !self.records.insert_new(&user)? {
            return Err(UserError::Exists(name.to_string()));
        }
        Ok((user.clone(), format!("tp_{}_{secret}", user.id)))
    }

    /// Every user, by name.
    pub fn all(&self) -> Result<Vec<User>, UserError> {
        self.records.all()
    }

    pub fn get(&self, name: &str) -> Result<User, UserError> {
        self.records
            .by_name(name)?
            .ok_or_else(|| UserError::NotFound(name.to_string()))
    }

    /// Makes a new webhook secret for the user, replacing the one it had: callbacks sent
    /// from now on are signed with it. Returned once; the caller shows it and forgets it.
    pub fn rotate_webhook_secret(&self, name: &str) -> Result<String, UserError> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key)?;
        let secret = format!("whsec_{}", hex::encode(key));
        if !self.records.set_webhook_secret(name, &secret)? {
            return Err(UserError::NotFound(name.to_string()));
        }
        Ok(secret)
    }

    /// The user a bearer token belongs to: `Ok(None)` for a token that is not valid, `Err`
    /// only when the store cannot say.
    pub fn authenticate(&self, token: &str) -> Result<Option<User>, UserError> {
        let Some((id, secret)) = token
            .strip_prefix("tp_")
            .and_then(|rest| rest.split_once('_'))
        else {
            return Ok(None);
        };
        let Some(user) = self.records.by_id(id)? else {
            return Ok(None);
        };
        let valid = hex::decode(&user.token_hash)
            .is_ok_and(|stored| constant_time_eq(&stored, &hash(secret)));
        Ok(valid.then_some(user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_authenticate_only_their_user() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path()).unwrap();
        let users = Users::open(&db).unwrap();
        let (alice, token) = users.create("alice").unwrap();
        let (_, bob_token) = users.create("bob").unwrap();
        let name_of = |token: &str| users.authenticate(token).unwrap().map(|u| u.name);
        assert_eq!(name_of(&token), Some(alice.name.clone()));
        assert_eq!(name_of(&bob_token).as_deref(), Some("bob"));
        let mut forged = token.clone();
        forged.pop();
        forged.push(if token.ends_with('0') { '1' } else { '0' });
        assert_eq!(name_of(&forged), None);
        assert_eq!(name_of("tp_nope_nope"), None);
        assert!(matches!(users.create("alice"), Err(UserError::Exists(_))));
        assert!(matches!(
            users.create("no spaces"),
            Err(UserError::BadName(_))
        ));
        // Only the hash is stored.
        let stored = String::from_utf8(
            db.open_tree("users/by_name")
                .unwrap()
                .get("alice")
                .unwrap()
                .unwrap()
                .to_vec(),
        )
        .unwrap();
        assert!(!stored.contains(token.rsplit('_').next().unwrap()));
    }

    #[test]
    fn a_webhook_secret_is_made_on_demand_and_replaced_by_a_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path()).unwrap();
        let users = Users::open(&db).unwrap();
        users.create("alice").unwrap();
        assert_eq!(users.get("alice").unwrap().webhook_secret(), None);
        let first = users.rotate_webhook_secret("alice").unwrap();
        assert!(
            first.starts_with("whsec_") && first.len() == 6 + 64,
            "{first}"
        );
        assert_eq!(users.get("alice").unwrap().webhook_secret(), Some(&*first));
        let second = users.rotate_webhook_secret("alice").unwrap();
        assert_ne!(first, second);
        assert_eq!(users.get("alice").unwrap().webhook_secret(), Some(&*second));
        assert!(matches!(
            users.rotate_webhook_secret("nobody"),
            Err(UserError::NotFound(_))
        ));
    }
}
