//! How the tech-pack steps fail: storage and provider errors as [`StepError`]s with the codes
//! the API answers by (`not_found`, `provider`, `busy`, `invalid_input`).

use techpack_engine::{StepError, StepFailure};

use crate::providers::ProviderError;
use crate::storage::StorageError;
use crate::work_budget::Busy;

/// A catalog error as a step failure; one naming a server path goes to the log only.
pub fn storage_error(error: StorageError) -> StepError {
    match error {
        StorageError::ProductNotFound(_)
        | StorageError::RevisionNotFound { .. }
        | StorageError::PhotoNotFound(_)
        | StorageError::AnalysisNotFound(_) => {
            StepError::permanent(error.to_string()).with_code(StepFailure::NotFound)
        }
        StorageError::BlobMissing(_) | StorageError::Corrupt(_) => {
            StepError::permanent(error.to_string())
        }
        // Names a server path: for the operator's log, not for the run's user.
        StorageError::Io { .. } => {
            tracing::error!(error = %error, "storage I/O failed");
            StepError::retryable("the server could not read or write its storage (logged)")
        }
        other => StepError::retryable(other.to_string()),
    }
}

/// A provider error as a step failure: retried when transient.
pub fn provider_error(error: ProviderError) -> StepError {
    if let ProviderError::Busy(busy) = error {
        return busy_error(&busy);
    }
    if let ProviderError::NoProduct { .. } = error {
        return invalid_input(error.to_string());
    }
    let transient = error.is_transient();
    let step_error = if transient {
        StepError::retryable(error.to_string())
    } else {
        StepError::permanent(error.to_string())
    };
    step_error.with_code(StepFailure::Provider)
}

/// A provider answered something unusable: asking again the same way gets the same.
pub fn unusable_answer(message: impl Into<String>) -> StepError {
    StepError::permanent(message).with_code(StepFailure::Provider)
}

/// The memory budget stayed full: worth retrying later, and answered as 503 `busy`.
pub fn busy_error(busy: &Busy) -> StepError {
    StepError::retryable(busy.to_string()).with_code(StepFailure::Busy)
}

/// The step's input cannot work, whatever is tried again.
pub fn invalid_input(message: impl Into<String>) -> StepError {
    StepError::permanent(message).with_code(StepFailure::InvalidInput)
}
