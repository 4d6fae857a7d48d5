//! Exit codes, so scripts can tell an invalid workflow from a failed run.

use std::process::ExitCode;

use techpack_engine::EngineError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything asked for succeeded.
    Success = 0,
    /// The run failed or was cancelled.
    RunFailed = 1,
    /// The workflow or its inputs did not validate (2 is clap's usage error).
    Invalid = 3,
    /// Anything else: unreadable files, a locked or broken store, an unknown run.
    Error = 4,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

pub fn classify(error: &anyhow::Error) -> Exit {
    match error.downcast_ref::<EngineError>() {
        Some(EngineError::Invalid(_)) => Exit::Invalid,
        _ => Exit::Error,
    }
}

/// The error as one readable message: the context chain joined, no backtrace.
pub fn describe(error: &anyhow::Error) -> String {
    if let Some(EngineError::Invalid(diagnostics)) = error.downcast_ref::<EngineError>() {
        return format!("invalid workflow or inputs\n{diagnostics}");
    }
    let mut parts: Vec<String> = error.chain().map(|e| e.to_string()).collect();
    parts.dedup();
    parts.join(": ")
}
