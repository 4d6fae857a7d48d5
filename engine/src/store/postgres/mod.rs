//! The PostgreSQL backend: a connection pool for synchronous callers ([`PgPool`]) and embedded
//! schema migrations ([`migrate`]), shared by every part that keeps its tables there.

mod migrate;
mod pool;

pub use migrate::{Migration, migrate};
pub use pool::{Param, PgConn, PgError, PgPool, PgTxn, PoolOptions};
