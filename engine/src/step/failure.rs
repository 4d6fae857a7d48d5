//! Why a step failed, as a stable code: [`StepFailure`], the list every producer picks from
//! (the steps, the WASM host, the engine's hooks and file checks), and [`FailureCode`], that
//! list or a code a WASM plugin reported itself ([`PluginCode`]).
//!
//! A node records the code's text (`error_code`; a run warning's `code`); the HTTP API maps
//! each [`StepFailure`] to its own error code, and `docs/error-codes.md` is generated from
//! this list with the meaning and remedy written here.

use std::fmt;

/// Declares [`StepFailure`]: each variant with its wire text, what it means and what to do.
macro_rules! step_failures {
    ($($variant:ident => $code:literal, $meaning:literal, $remedy:literal;)+) => {
        /// A failure code the engine and the steps know: the documented list.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum StepFailure {
            $($variant,)+
        }

        impl StepFailure {
            /// Every code, in the order `docs/error-codes.md` lists them.
            pub const ALL: &'static [StepFailure] = &[$(StepFailure::$variant,)+];

            /// The code as a node records it, e.g. `not_found`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(StepFailure::$variant => $code,)+
                }
            }

            /// One sentence a user can read.
            pub fn meaning(self) -> &'static str {
                match self {
                    $(StepFailure::$variant => $meaning,)+
                }
            }

            /// What the user can do about it.
            pub fn remedy(self) -> &'static str {
                match self {
                    $(StepFailure::$variant => $remedy,)+
                }
            }
        }
    };
}

step_failures! {
    InsufficientCredits => "insufficient_credits",
        "the run's owner could not pay for the step when it was to start; nothing was charged",
        "get credits (`techpack users grant`), then retry the run";
    Refused => "refused",
        "a lifecycle hook refused to start the step",
        "read the message; retry the run when its cause is gone";
    PathRefused => "path_refused",
        "the step would read or write a server file outside the folders the operator opened",
        "upload the photo instead, or ask the operator for `--allow-read` / `--allow-write`";
    NotFound => "not_found",
        "the product, revision, analysis or photo the step was given does not exist (or is another user's)",
        "check the ids the step was given";
    InvalidInput => "invalid_input",
        "the step's input does not fit it (a bad photo, a value out of range, a failed schema check)",
        "fix what the message names and run again";
    Busy => "busy",
        "the server's memory budget for image work stayed full; the step was refunded",
        "retry later";
    Provider => "provider",
        "the AI provider failed or answered something unusable",
        "retry later; check the provider's keys and quota if it persists";
    PluginTimeout => "plugin_timeout",
        "a WASM plugin ran past its time limit",
        "retry, or raise the step's `timeout:`";
    PluginOutOfFuel => "plugin_out_of_fuel",
        "a WASM plugin used up its instruction budget",
        "give it smaller input, or ask the plugin's author";
    PluginResourceLimit => "plugin_resource_limit",
        "a WASM plugin went over its memory or table limits",
        "give it smaller input, or ask the plugin's author";
    PluginTrap => "plugin_trap",
        "a WASM plugin crashed (a trap)",
        "report it to the plugin's author with the message";
    PluginBadOutput => "plugin_bad_output",
        "a WASM plugin answered output that is not valid or is too large",
        "report it to the plugin's author with the message";
    PluginFailed => "plugin_failed",
        "a WASM plugin reported that it failed, without a code of its own",
        "read the plugin's message";
    PluginUnavailable => "plugin_unavailable",
        "the WASM plugin could not be loaded or instantiated",
        "`techpack plugins check` says why";
}

impl StepFailure {
    /// The code whose text is `code`, if the list has it.
    pub fn of(code: &str) -> Option<StepFailure> {
        StepFailure::ALL
            .iter()
            .copied()
            .find(|failure| failure.as_str() == code)
    }
}

impl fmt::Display for StepFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A code a WASM plugin reported with its failure (`{"error": {"message", "code"}}`),
/// recorded as `plugin:<code>` so it can never be taken for one of the [`StepFailure`]s
/// (a plugin cannot claim `insufficient_credits`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PluginCode {
    /// The recorded text, `plugin:<code>`.
    recorded: String,
}

impl PluginCode {
    /// What a recorded plugin code starts with.
    pub const PREFIX: &'static str = "plugin:";
    /// The longest code a plugin may report.
    pub const MAX_LEN: usize = 40;
    /// The rule a plugin's code follows, for messages and the docs.
    pub const PATTERN: &'static str = "[a-z][a-z0-9_]{0,39}";

    /// The plugin's `code` if it follows [`PluginCode::PATTERN`] (snake_case ASCII, starting
    /// with a letter, at most [`PluginCode::MAX_LEN`] characters).
    pub fn new(code: &str) -> Result<PluginCode, InvalidPluginCode> {
        let mut chars = code.chars();
        let valid = code.len() <= PluginCode::MAX_LEN
            && chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        match valid {
            true => Ok(PluginCode {
                recorded: format!("{}{code}", PluginCode::PREFIX),
            }),
            false => Err(InvalidPluginCode),
        }
    }

    /// The code as the plugin reported it.
    pub fn code(&self) -> &str {
        &self.recorded[PluginCode::PREFIX.len()..]
    }
}

/// A plugin reported a code that does not follow [`PluginCode::PATTERN`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an error code must match `{}`", PluginCode::PATTERN)]
pub struct InvalidPluginCode;

/// Why a step failed: one of the list, or a plugin's own code.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FailureCode {
    Step(StepFailure),
    Plugin(PluginCode),
}

impl FailureCode {
    /// The code as a node records it: `not_found`, `plugin:size_out_of_range`.
    pub fn as_str(&self) -> &str {
        match self {
            FailureCode::Step(failure) => failure.as_str(),
            FailureCode::Plugin(code) => &code.recorded,
        }
    }

    /// The code a node recorded as `code`, if it is one; older records may hold others.
    pub fn parse(code: &str) -> Option<FailureCode> {
        match code.strip_prefix(PluginCode::PREFIX) {
            Some(plugin) => PluginCode::new(plugin).ok().map(FailureCode::Plugin),
            None => StepFailure::of(code).map(FailureCode::Step),
        }
    }
}

impl From<StepFailure> for FailureCode {
    fn from(failure: StepFailure) -> Self {
        FailureCode::Step(failure)
    }
}

impl From<PluginCode> for FailureCode {
    fn from(code: PluginCode) -> Self {
        FailureCode::Plugin(code)
    }
}

impl fmt::Display for FailureCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_reads_back_from_its_recorded_text() {
        let mut seen = std::collections::HashSet::new();
        for failure in StepFailure::ALL {
            assert!(seen.insert(failure.as_str()), "{failure} listed twice");
            let code = FailureCode::from(*failure);
            assert_eq!(FailureCode::parse(code.as_str()), Some(code));
        }
        let plugin = FailureCode::from(PluginCode::new("size_out_of_range").unwrap());
        assert_eq!(plugin.as_str(), "plugin:size_out_of_range");
        assert_eq!(FailureCode::parse("plugin:size_out_of_range"), Some(plugin));
        assert_eq!(FailureCode::parse("no_such_code"), None);
    }

    #[test]
    fn a_plugin_code_is_snake_case_and_cannot_pass_for_a_listed_one() {
        assert_eq!(
            PluginCode::new("insufficient_credits").unwrap().code(),
            "insufficient_credits"
        );
        assert_eq!(
            FailureCode::from(PluginCode::new("insufficient_credits").unwrap()).as_str(),
            "plugin:insufficient_credits"
        );
        for bad in [
            "",
            "Upper",
            "9lives",
            "with space",
            "dash-ed",
            "é",
            &"a".repeat(41),
        ] {
            assert_eq!(PluginCode::new(bad), Err(InvalidPluginCode), "{bad:?}");
        }
        assert!(PluginCode::new(&"a".repeat(40)).is_ok());
        assert_eq!(FailureCode::parse("plugin:Bad"), None);
    }
}
