//! The embedded backend: sled behind a write-ahead log of our own (`wal`), so a durable
//! commit is one write and one `fdatasync`; the engine's records in four trees
//! ([`SledStore`], `store`), the ledger's records as keys of its hook tree (`ledger`, laid out
//! in `ledger_keys`).

mod database;
mod ledger;
mod ledger_keys;
mod store;
mod stored_value;
mod wal;

pub use database::{Batch, Database, DbError, StoredBytes, StoredPair, Tree};
pub use store::SledStore;
