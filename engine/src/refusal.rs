//! [`Refusal`]: why a lifecycle hook refused a transition, as a value the generic executor
//! carries to whoever answers it without reading it.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

use crate::step::StepFailure;

/// A hook's refusal: a failure code (recorded as the node's `error_code`), the sentence a user
/// reads, and the hook's own typed reason, which the one answering it (the HTTP API) gets back
/// with [`Refusal::reason`] together with its figures (e.g. the balance and the price).
#[derive(Clone)]
pub struct Refusal {
    code: StepFailure,
    reason: Arc<dyn Error + Send + Sync>,
}

impl Refusal {
    /// A refusal with `code` for `reason`.
    pub fn new(code: StepFailure, reason: impl Error + Send + Sync + 'static) -> Refusal {
        Refusal {
            code,
            reason: Arc::new(reason),
        }
    }

    /// The refusal's code, e.g. [`StepFailure::InsufficientCredits`].
    pub fn code(&self) -> StepFailure {
        self.code
    }

    /// The hook's reason as its own type, if it is an `E`.
    pub fn reason<E: Error + 'static>(&self) -> Option<&E> {
        let reason: &(dyn Error + 'static) = &*self.reason;
        reason.downcast_ref()
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.reason.fmt(f)
    }
}

impl fmt::Debug for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Refusal")
            .field("code", &self.code)
            .field("reason", &self.reason)
            .finish()
    }
}

impl Error for Refusal {}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("needs {needed}")]
    struct Short {
        needed: u64,
    }

    #[test]
    fn the_reason_comes_back_typed_and_its_text_unchanged() {
        let refusal = Refusal::new(StepFailure::Refused, Short { needed: 3 });
        assert_eq!(refusal.code(), StepFailure::Refused);
        assert_eq!(refusal.to_string(), "needs 3");
        assert_eq!(refusal.reason::<Short>().map(|s| s.needed), Some(3));
        assert!(refusal.reason::<std::io::Error>().is_none());
    }
}
