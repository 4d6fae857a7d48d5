//! Steps: the trait a step kind implements, what it is given, how it fails (`failure`: the
//! [`StepFailure`] codes), and the registry of kinds.
//!
//! A kind is a factory: `build` turns the step's resolved `with:` value into a runnable
//! [`Step`]. Validation calls it at load time for every step whose `with:` holds no
//! expressions, so a bad config fails before anything runs.

pub mod builtin;
mod failure;
pub mod files;
pub mod log;
mod registry;
mod resources;

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::JsonText;

pub use failure::{FailureCode, InvalidPluginCode, PluginCode, StepFailure};
pub use files::{FileAccess, FileRoots};
pub use log::{AttemptLog, LogLevel, LogLine, StepLog};
pub use registry::StepRegistry;
pub use resources::Resources;

/// A step kind (`uses:`), which builds steps from their configuration.
pub trait StepKind: Send + Sync + 'static {
    /// One line for `techpack` listings.
    fn description(&self) -> &str;

    /// Builds a runnable step from its `with:` value (expressions already resolved).
    fn build(&self, config: &Value) -> Result<Arc<dyn Step>, String>;
}

/// A runnable step.
#[async_trait::async_trait]
pub trait Step: Send + Sync {
    /// Does the work. Called once per attempt; the engine owns retries, timeouts and
    /// cancellation (the future is dropped when the run is cancelled or the attempt times out).
    async fn run(&self, ctx: StepContext) -> Result<StepOutput, StepError>;
}

/// What a step receives for one attempt.
#[derive(Clone)]
pub struct StepContext {
    pub run_id: String,
    pub step_id: String,
    /// 1 for the first attempt; counts across restarts of the process.
    pub attempt: u32,
    /// `run_id/step_id`: the same for every attempt and after resume, so a step can make its
    /// side effects idempotent (e.g. as a provider's idempotency key).
    pub idempotency_key: String,
    /// The user the run belongs to, if any.
    pub owner: Option<String>,
    /// Which server files the step may read or write: any in an operator's run, only those
    /// under the operator's allowed folders in a user's run. Every path from a step's config
    /// goes through it before it is opened.
    pub files: FileAccess,
    /// The run's resolved inputs.
    pub inputs: Arc<Value>,
    /// Fired when the run is cancelled; long steps may watch it to clean up early.
    pub cancel: CancellationToken,
    /// Shared services the wiring put in (stores, providers, caches).
    pub resources: Arc<Resources>,
    /// Where the step's log lines go: kept with the attempt in the store, and in the
    /// process's log.
    pub log: StepLog,
}

/// A step's result: its output as JSON text ([`JsonText`]; a step may build it from a
/// [`Value`], or serialize a typed result straight to text).
#[derive(Debug, Clone, PartialEq)]
pub struct StepOutput {
    pub value: JsonText,
    /// True when the step did no billable work (e.g. a cache hit): hooks refund its credits.
    pub free: bool,
}

impl StepOutput {
    pub fn new(value: impl Into<JsonText>) -> Self {
        StepOutput {
            value: value.into(),
            free: false,
        }
    }

    pub fn free(value: impl Into<JsonText>) -> Self {
        StepOutput {
            value: value.into(),
            free: true,
        }
    }
}

impl From<Value> for StepOutput {
    fn from(value: Value) -> Self {
        StepOutput::new(value)
    }
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StepError {
    pub message: String,
    /// False for errors that another attempt cannot fix (bad config, rejected input).
    pub retryable: bool,
    /// A stable machine-readable class (`not_found`, `invalid_input` …) that callers such
    /// as the HTTP API map to their own codes; kept in the node record.
    pub code: Option<FailureCode>,
}

impl StepError {
    pub fn retryable(message: impl Into<String>) -> Self {
        StepError {
            message: message.into(),
            retryable: true,
            code: None,
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        StepError {
            message: message.into(),
            retryable: false,
            code: None,
        }
    }

    /// The same error with a stable class attached.
    pub fn with_code(mut self, code: impl Into<FailureCode>) -> Self {
        self.code = Some(code.into());
        self
    }
}

/// Deserializes a step's `with:` value into its typed config; a missing `with:` is `{}`.
pub fn parse_config<C: DeserializeOwned>(config: &Value) -> Result<C, String> {
    let value = if config.is_null() {
        Value::Object(Default::default())
    } else {
        config.clone()
    };
    serde_json::from_value(value).map_err(|e| e.to_string())
}
