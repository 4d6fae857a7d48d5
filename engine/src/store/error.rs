//! [`StoreError`]: why a backend could not read or write, by kind, with the backend's own
//! error inside. It reaches callers as [`EngineError::Store`](crate::EngineError::Store);
//! records that do not decode, a data directory another process holds and a lost lease have
//! their own `EngineError` variants (`Corrupt`, `StoreLocked`, `Fenced`).

use std::error::Error;
use std::sync::Arc;

/// A backend's failure. Cloning shares the source, so every waiter of one failed flush
/// gets the same error.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The backend failed to read, write or flush: the disk, the database connection, a
    /// statement. Nothing of the failed operation was committed; it may work later.
    #[error("{0}")]
    Unavailable(Arc<dyn Error + Send + Sync>),
    /// Concurrent transactions kept conflicting and this one was given up; nothing of it was
    /// committed.
    #[error("{0}")]
    Conflict(String),
    /// A value this backend cannot hold (a number past PostgreSQL's `bigint`).
    #[error("{0}")]
    Unrepresentable(String),
    /// A thread the store needs could not be started.
    #[error("cannot start {what}: {source}")]
    Startup {
        what: &'static str,
        source: Arc<std::io::Error>,
    },
}

impl StoreError {
    /// The backend failed with `error`.
    pub fn unavailable(error: impl Error + Send + Sync + 'static) -> StoreError {
        StoreError::Unavailable(Arc::new(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EngineError;

    #[test]
    fn the_message_is_the_backends_and_the_source_stays_reachable() {
        let io = std::io::Error::other("disk on fire");
        let error = EngineError::from(StoreError::unavailable(io));
        assert_eq!(error.to_string(), "state store error: disk on fire");
        let EngineError::Store(StoreError::Unavailable(source)) = &error else {
            panic!("{error:?}");
        };
        assert!(source.downcast_ref::<std::io::Error>().is_some());
    }
}
