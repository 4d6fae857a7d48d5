//! The engine's error type.

use crate::workflow::Diagnostics;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The workflow (or the run's inputs) did not pass validation.
    #[error("{0}")]
    Invalid(#[from] Diagnostics),
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the data directory {path} is in use by another techpack process; stop it or use another --data-dir")]
    StoreLocked { path: String },
    #[error("state store error: {0}")]
    Store(String),
    #[error("stored record {what} is unreadable: {error}")]
    Corrupt { what: String, error: String },
    #[error("no run with id `{0}`")]
    RunNotFound(String),
    #[error("run `{id}` has already finished ({status}); start a new run instead")]
    RunFinished { id: String, status: &'static str },
    #[error("run `{0}` is already being executed")]
    RunActive(String),
    /// A lifecycle hook refused a transition (e.g. insufficient credits).
    #[error("{0}")]
    Refused(String),
}
