//! Users and their bearer tokens. A token is `tp_<user id>_<secret>`; only the sha256 of the
//! secret is stored, and it is compared in constant time.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use techpack_engine::store::{Database, Tree, now_ms};

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("user `{0}` already exists")]
    Exists(String),
    #[error("no user `{0}`")]
    NotFound(String),
    #[error("a user name is 1 to 64 letters, digits, `-`, `_` or `.`; got `{0}`")]
    BadName(String),
    #[error("user store error: {0}")]
    Store(#[from] sled::Error),
    #[error("cannot make a token: {0}")]
    Random(String),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct User {
    pub name: String,
    pub id: String,
    /// sha256 of the token's secret part, hex.
    token_hash: String,
    pub created_at: u64,
}

pub struct Users {
    by_name: Tree,
    name_by_id: Tree,
}

fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Equal in time that does not depend on where the first difference is.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

impl Users {
    pub fn open(db: &Database) -> Result<Users, UserError> {
        Ok(Users {
            by_name: db.open_tree("users/by_name")?,
            name_by_id: db.open_tree("users/name_by_id")?,
        })
    }

    /// Creates a user; returns it and its token (shown once, never stored).
    pub fn create(&self, name: &str) -> Result<(User, String), UserError> {
        if !valid_name(name) {
            return Err(UserError::BadName(name.to_string()));
        }
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| UserError::Random(e.to_string()))?;
        let secret = hex::encode(secret);
        let user = User {
            name: name.to_string(),
            id: uuid::Uuid::now_v7().simple().to_string(),
            token_hash: hex::encode(hash(&secret)),
            created_at: now_ms(),
        };
        let bytes = serde_json::to_vec(&user).expect("users serialize");
        let created =
            self.by_name
                .compare_and_swap(name.as_bytes(), None as Option<&[u8]>, Some(bytes))?;
        if created.is_err() {
            return Err(UserError::Exists(name.to_string()));
        }
        self.name_by_id
            .insert(user.id.as_bytes(), name.as_bytes())?;
        Ok((user.clone(), format!("tp_{}_{secret}", user.id)))
    }

    pub fn get(&self, name: &str) -> Result<User, UserError> {
        match self.by_name.get(name.as_bytes())? {
            Some(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| UserError::Random(e.to_string()))
            }
            None => Err(UserError::NotFound(name.to_string())),
        }
    }

    /// The user a bearer token belongs to, if it is valid.
    pub fn authenticate(&self, token: &str) -> Option<User> {
        let rest = token.strip_prefix("tp_")?;
        let (id, secret) = rest.split_once('_')?;
        let name = self.name_by_id.get(id.as_bytes()).ok()??;
        let user = self.get(std::str::from_utf8(&name).ok()?).ok()?;
        let stored = hex::decode(&user.token_hash).ok()?;
        constant_time_eq(&stored, &hash(secret)).then_some(user)
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
        assert_eq!(users.authenticate(&token).unwrap().name, alice.name);
        assert_eq!(users.authenticate(&bob_token).unwrap().name, "bob");
        let mut forged = token.clone();
        forged.pop();
        forged.push(if token.ends_with('0') { '1' } else { '0' });
        assert!(users.authenticate(&forged).is_none());
        assert!(users.authenticate("tp_nope_nope").is_none());
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
}
