//! [`CreditError`]: why the ledger refuses an operation. It reaches callers inside an
//! [`EngineError::Refused`](crate::EngineError::Refused) ([`Refusal::reason`]), so the
//! engine's own error type knows nothing about credits.

use super::LedgerProblem;
use crate::refusal::Refusal;
use crate::step::StepFailure;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreditError {
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
        super::verify::list_problems(.problems)
    )]
    LedgerMismatch { problems: Vec<LedgerProblem> },
}

impl CreditError {
    /// The failure a node refused for this error records: the owner's lack of credits is
    /// its own code; the rest are the ledger's bookkeeping, which a user reads as a refusal.
    pub fn failure(&self) -> StepFailure {
        match self {
            CreditError::InsufficientCredits { .. } => StepFailure::InsufficientCredits,
            _ => StepFailure::Refused,
        }
    }

    /// The credit error inside `error`, if the ledger or the credit hook refused something.
    pub fn of(error: &crate::EngineError) -> Option<&CreditError> {
        match error {
            crate::EngineError::Refused(refusal) => refusal.reason(),
            _ => None,
        }
    }

    /// The error as the refusal a hook or the ledger returns.
    pub fn refusal(self) -> Refusal {
        Refusal::new(self.failure(), self)
    }
}

impl From<CreditError> for Refusal {
    fn from(error: CreditError) -> Self {
        error.refusal()
    }
}

impl From<CreditError> for crate::EngineError {
    fn from(error: CreditError) -> Self {
        crate::EngineError::Refused(error.refusal())
    }
}
