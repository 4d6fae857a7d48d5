//! [`PluginError`]: everything that can go wrong loading or calling a plugin.

use std::path::PathBuf;

use techpack_engine::{FailureCode, PluginCode, StepError, StepFailure};

/// One error type for the crate. Load-time variants make a plugin unavailable (workflows
/// naming it fail validation with the message); call-time variants end one step attempt.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}: {message}")]
    Manifest { path: PathBuf, message: String },

    #[error("plugin `{name}` is also in {first}; the copy in {ignored} is ignored")]
    Duplicate {
        name: String,
        first: PathBuf,
        ignored: PathBuf,
    },

    #[error(
        "plugin `{name}` asks for capability `{capability}`, which this host does not grant \
         (plugins run with no filesystem, network, clock or environment access)"
    )]
    CapabilityNotGranted { name: String, capability: String },

    #[error("plugin `{name}`: {module} does not compile: {message}")]
    Compile {
        name: String,
        module: PathBuf,
        message: String,
    },

    #[error("plugin `{name}` does not follow the plugin ABI: {message} (see plugins/README.md)")]
    Abi { name: String, message: String },

    #[error("cannot set up the WebAssembly engine: {0}")]
    Engine(String),

    #[error("plugin `{name}` timed out after {limit}")]
    Timeout { name: String, limit: String },

    #[error("plugin `{name}` used all its fuel ({fuel} units; `limits.fuel` in its manifest)")]
    OutOfFuel { name: String, fuel: u64 },

    #[error("plugin `{name}` hit a resource limit: {message}")]
    ResourceLimit { name: String, message: String },

    #[error("plugin `{name}` trapped: {message}")]
    Trap { name: String, message: String },

    #[error("plugin `{name}` returned an invalid result: {message}")]
    BadOutput { name: String, message: String },

    #[error(
        "plugin `{name}` returned {size} bytes of output, more than its limit of {limit} bytes"
    )]
    OutputTooLarge { name: String, size: u64, limit: u64 },

    #[error("plugin `{name}` failed: {message}")]
    Failed {
        name: String,
        message: String,
        /// The plugin's own code for the failure, if it gave one.
        code: Option<PluginCode>,
    },

    #[error("plugin `{name}`: invalid `with`: {message}")]
    InvalidInput { name: String, message: String },

    #[error(
        "plugin `{name}`: example output differs from `example.expect`\nexpected: {expected}\nactual:   {actual}"
    )]
    ExampleMismatch {
        name: String,
        expected: String,
        actual: String,
    },
}

/// A path cut to its last two parts (`grade-sizes/plugin.yaml`): enough to find the file in
/// the plugin folders, without telling where the server keeps them.
fn short(path: &std::path::Path) -> String {
    let parts: Vec<_> = path.components().rev().take(2).collect();
    parts
        .iter()
        .rev()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

impl PluginError {
    /// The message without server paths (each cut to its last two parts), for what users of
    /// the API may see — a workflow's validation errors; the log keeps the full message.
    pub fn without_paths(&self) -> String {
        match self {
            PluginError::Io { path, source } => format!("cannot read {}: {source}", short(path)),
            PluginError::Manifest { path, message } => format!("{}: {message}", short(path)),
            PluginError::Duplicate { name, .. } => {
                format!("plugin `{name}` is in two plugin folders; the second copy is ignored")
            }
            PluginError::Compile {
                name,
                module,
                message,
            } => format!(
                "plugin `{name}`: {} does not compile: {message}",
                short(module)
            ),
            other => other.to_string(),
        }
    }

    /// The failure code a step that ends with this error records: the plugin's own code
    /// when it reported one.
    pub fn code(&self) -> FailureCode {
        let failure = match self {
            PluginError::Timeout { .. } => StepFailure::PluginTimeout,
            PluginError::OutOfFuel { .. } => StepFailure::PluginOutOfFuel,
            PluginError::ResourceLimit { .. } => StepFailure::PluginResourceLimit,
            PluginError::Trap { .. } => StepFailure::PluginTrap,
            PluginError::BadOutput { .. } | PluginError::OutputTooLarge { .. } => {
                StepFailure::PluginBadOutput
            }
            PluginError::Failed {
                code: Some(code), ..
            } => return code.clone().into(),
            PluginError::Failed { code: None, .. } => StepFailure::PluginFailed,
            PluginError::InvalidInput { .. } => StepFailure::InvalidInput,
            _ => StepFailure::PluginUnavailable,
        };
        failure.into()
    }
}

impl From<PluginError> for StepError {
    /// Only a timeout may be retried: the same module with the same input fails the same way
    /// otherwise, and a hostile plugin must not be retried for free forever.
    fn from(error: PluginError) -> Self {
        let code = error.code();
        let step_error = match error {
            PluginError::Timeout { .. } => StepError::retryable(error.to_string()),
            _ => StepError::permanent(error.to_string()),
        };
        step_error.with_code(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_for_users_name_no_server_folder() {
        let error = PluginError::Manifest {
            path: "/srv/techpack/plugins/grade-sizes/plugin.yaml".into(),
            message: "unknown field `x`".into(),
        };
        assert_eq!(
            error.without_paths(),
            "grade-sizes/plugin.yaml: unknown field `x`"
        );
        let error = PluginError::Duplicate {
            name: "grade-sizes".into(),
            first: "/srv/a/grade-sizes".into(),
            ignored: "/srv/b/grade-sizes".into(),
        };
        assert!(!error.without_paths().contains("/srv"));
    }
}
