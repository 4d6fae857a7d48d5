//! The engine's error type.

use crate::store::StoreError;
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
    #[error(
        "the data directory {path} is in use by another techpack process; stop it or use another --data-dir"
    )]
    StoreLocked { path: String },
    /// The store failed to read or write; its kind says how.
    #[error("state store error: {0}")]
    Store(#[from] StoreError),
    #[error("stored record {what} is unreadable: {error}")]
    Corrupt { what: String, error: String },
    #[error("no run with id `{0}`")]
    RunNotFound(String),
    #[error("run `{id}` has already finished ({status}); start a new run instead")]
    RunFinished { id: String, status: &'static str },
    #[error("run `{0}` is already being executed")]
    RunActive(String),
    /// The run waits for a slot of its workflow's `concurrency:` limits; it starts on its own.
    #[error(
        "run `{0}` is queued: it starts when its workflow's concurrency limits leave it a slot"
    )]
    RunQueued(String),
    /// Retry and replay take a finished run; this one is pending or interrupted.
    #[error("run `{id}` has not finished ({status}); resume or cancel it first")]
    RunUnfinished { id: String, status: &'static str },
    /// Retry was asked of a run that succeeded.
    #[error("run `{0}` succeeded: nothing to retry (replay it from a step to run steps again)")]
    NothingToRetry(String),
    /// Replay was asked to start from a step the run's workflow does not have.
    #[error("run `{run}`'s workflow has no step `{step}`; its steps: {}", .steps.join(", "))]
    UnknownStep {
        run: String,
        step: String,
        steps: Vec<String>,
    },
    /// A step's task panicked; the run stopped and stays resumable.
    #[error("a step panicked: {0}")]
    StepPanicked(String),
    /// Another worker took the run over (this one lost its lease): its writes are refused.
    #[error("run `{0}` is now executed by another worker; this worker's writes for it are refused")]
    Fenced(String),
    /// A lifecycle hook refused a transition (e.g. insufficient credits), or the ledger
    /// refused an operation: the hook's own typed reason is inside.
    #[error("{0}")]
    Refused(crate::Refusal),
}
