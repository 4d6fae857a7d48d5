//! Which API error a one-step endpoint answers for a step that failed with each
//! [`StepFailure`] (the list itself, with what each code means, is the engine's). A code a
//! plugin reported itself is answered as `step_failed`.

use techpack_engine::{FailureCode, StepFailure};

use super::error::ErrorCode;

/// The API error a one-step endpoint answers a step that failed with `failure`.
pub fn api_code(failure: StepFailure) -> ErrorCode {
    match failure {
        StepFailure::InsufficientCredits => ErrorCode::InsufficientCredits,
        StepFailure::NotFound => ErrorCode::NotFound,
        StepFailure::InvalidInput => ErrorCode::InvalidInput,
        StepFailure::Busy => ErrorCode::Busy,
        StepFailure::Refused
        | StepFailure::PathRefused
        | StepFailure::Provider
        | StepFailure::PluginTimeout
        | StepFailure::PluginOutOfFuel
        | StepFailure::PluginResourceLimit
        | StepFailure::PluginTrap
        | StepFailure::PluginBadOutput
        | StepFailure::PluginFailed
        | StepFailure::PluginUnavailable => ErrorCode::StepFailed,
    }
}

/// The API error for a node's recorded `error_code`; none for a code the engine does not
/// know (an older record's).
pub fn api_code_of(recorded: &str) -> Option<ErrorCode> {
    match FailureCode::parse(recorded)? {
        FailureCode::Step(failure) => Some(api_code(failure)),
        FailureCode::Plugin(_) => Some(ErrorCode::StepFailed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_code_maps_to_what_the_caller_can_act_on() {
        assert_eq!(
            api_code_of("insufficient_credits"),
            Some(ErrorCode::InsufficientCredits)
        );
        assert_eq!(api_code_of("busy"), Some(ErrorCode::Busy));
        assert_eq!(api_code_of("path_refused"), Some(ErrorCode::StepFailed));
        // A plugin cannot pass for the host: its codes are its own.
        assert_eq!(
            api_code_of("plugin:insufficient_credits"),
            Some(ErrorCode::StepFailed)
        );
        assert_eq!(api_code_of("no_such_code"), None);
    }
}
