//! The PostgreSQL backend: a connection pool for synchronous callers ([`PgPool`]), embedded
//! schema migrations ([`migrate`]) shared by every part that keeps its tables there, and the
//! engine's own records ([`PgStore`]: runs, nodes, leases, the ledger and the callbacks'
//! outbox, `deliveries`).

mod deliveries;
mod ledger;
mod migrate;
mod pool;
mod schema;
mod state;

pub use migrate::{Migration, migrate};
pub use pool::{Param, PgConn, PgError, PgPool, PgTxn, PoolOptions};
pub use state::{PgStore, PgStoreOptions};
