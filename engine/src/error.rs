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
    #[error(
        "the data directory {path} is in use by another techpack process; stop it or use another --data-dir"
    )]
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
    /// Another worker took the run over (this one lost its lease): its writes are refused.
    #[error("run `{0}` is now executed by another worker; this worker's writes for it are refused")]
    Fenced(String),
    /// A lifecycle hook refused a transition for this reason (e.g. insufficient credits).
    #[error("{0}")]
    Refused(Box<EngineError>),
    /// A paid step would run again although its charge is already posted.
    #[error(
        "step `{step}` was already charged (reservation `{reservation}` is posted); it will not run to be charged twice"
    )]
    AlreadyCharged { step: String, reservation: String },
    /// A paid step cannot start: its run's owner has too few credits available.
    #[error("insufficient credits: step `{step}` needs {needed}, {user} has {available} available")]
    InsufficientCredits {
        step: String,
        user: String,
        needed: u64,
        available: u64,
    },
    /// A credit operation id was used again for a different operation (same id, same
    /// parameters is a harmless repeat instead).
    #[error(
        "credit operation `{op_id}` was already applied as `{applied}`; it cannot be reused for `{requested}`"
    )]
    CreditOperationReused {
        op_id: String,
        applied: String,
        requested: String,
    },
    /// A credit request that can never succeed, e.g. a grant of 0 or an empty user name.
    #[error("invalid credit request for user `{user}`: {reason}")]
    InvalidCreditRequest { user: String, reason: String },
    /// A reservation was asked to resolve a second time (post, void and expire are final).
    #[error("credit reservation `{id}` is already {state}; a reservation resolves only once")]
    ReservationResolved { id: String, state: &'static str },
    /// The stored credit balances disagree with the entry log they are built from; nothing
    /// may charge or grant credits until an operator repairs the ledger.
    #[error(
        "the credit ledger does not match its entry log; refusing to start until it is repaired:{}",
        crate::credits::list_problems(.problems)
    )]
    LedgerMismatch {
        problems: Vec<crate::credits::LedgerProblem>,
    },
}
