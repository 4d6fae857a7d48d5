//! The failure codes a step records (`error_code` of a run's node, `code` of a run's
//! warning), as the API reads them: what each means, what to do, and which API error a
//! one-step endpoint answers with it. The steps set them (`StepError::with_code`, the
//! engine's refusals, the WASM host); this is their one list, which `docs/error-codes.md`
//! is generated from.

use super::error::{ErrorCode, code_list};

code_list! {
    /// A step's failure code.
    StepFailure,
    /// The API error a one-step endpoint answers a step that failed so.
    api_code: ErrorCode;
    InsufficientCredits => "insufficient_credits", ErrorCode::InsufficientCredits,
        "the run's owner could not pay for the step when it was to start; nothing was charged",
        "get credits (`techpack users grant`), then retry the run";
    Refused => "refused", ErrorCode::StepFailed,
        "a lifecycle hook refused to start the step",
        "read the message; retry the run when its cause is gone";
    PathRefused => "path_refused", ErrorCode::StepFailed,
        "the step would read or write a server file outside the folders the operator opened",
        "upload the photo instead, or ask the operator for `--allow-read` / `--allow-write`";
    NotFound => "not_found", ErrorCode::NotFound,
        "the product, revision, analysis or photo the step was given does not exist (or is another user's)",
        "check the ids the step was given";
    InvalidInput => "invalid_input", ErrorCode::InvalidInput,
        "the step's input does not fit it (a bad photo, a value out of range, a failed schema check)",
        "fix what the message names and run again";
    Busy => "busy", ErrorCode::Busy,
        "the server's memory budget for image work stayed full; the step was refunded",
        "retry later";
    Provider => "provider", ErrorCode::StepFailed,
        "the AI provider failed or answered something unusable",
        "retry later; check the provider's keys and quota if it persists";
    PluginTimeout => "plugin_timeout", ErrorCode::StepFailed,
        "a WASM plugin ran past its time limit",
        "retry, or raise the step's `timeout:`";
    PluginOutOfFuel => "plugin_out_of_fuel", ErrorCode::StepFailed,
        "a WASM plugin used up its instruction budget",
        "give it smaller input, or ask the plugin's author";
    PluginResourceLimit => "plugin_resource_limit", ErrorCode::StepFailed,
        "a WASM plugin went over its memory or table limits",
        "give it smaller input, or ask the plugin's author";
    PluginTrap => "plugin_trap", ErrorCode::StepFailed,
        "a WASM plugin crashed (a trap)",
        "report it to the plugin's author with the message";
    PluginBadOutput => "plugin_bad_output", ErrorCode::StepFailed,
        "a WASM plugin answered output that is not valid or is too large",
        "report it to the plugin's author with the message";
    PluginFailed => "plugin_failed", ErrorCode::StepFailed,
        "a WASM plugin reported that it failed",
        "read the plugin's message";
    PluginUnavailable => "plugin_unavailable", ErrorCode::StepFailed,
        "the WASM plugin could not be loaded or instantiated",
        "`techpack plugins check` says why";
}

impl StepFailure {
    /// The failure a node records by its code; none for a code this list does not know.
    pub fn of(code: &str) -> Option<StepFailure> {
        StepFailure::ALL
            .iter()
            .copied()
            .find(|failure| failure.as_str() == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_codes_the_engine_names_are_in_the_list() {
        let path_refused = techpack_engine::step::files::PATH_REFUSED;
        assert_eq!(
            StepFailure::of(path_refused),
            Some(StepFailure::PathRefused)
        );
        assert_eq!(StepFailure::of("no_such_code"), None);
        // What a one-step endpoint answers for a failure it can tell the caller about.
        assert_eq!(
            StepFailure::InsufficientCredits.api_code(),
            ErrorCode::InsufficientCredits
        );
        assert_eq!(StepFailure::Busy.api_code(), ErrorCode::Busy);
    }
}
