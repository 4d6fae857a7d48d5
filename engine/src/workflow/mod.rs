//! Workflows: the YAML an operator writes, checked and compiled into a DAG of steps.

pub mod diagnostic;
pub mod expression;
mod graph;
mod inputs;
mod load;
mod spec;
pub mod yaml;

use std::time::Duration;

use serde_json::Value;

pub use diagnostic::{Code, Diagnostic, Diagnostics, Location};
pub use graph::GraphFormat;
pub use inputs::InputOrigin;
pub use spec::{Backoff, InputType};

/// A validated workflow. It keeps its own source text and hash, so a run can be pinned to
/// the exact version it started with while operators edit the file.
#[derive(Debug, Clone)]
pub struct Workflow {
    pub name: String,
    pub version: String,
    pub description: Option<String>,
    /// Where the text came from (a path, or `run <id>` when re-read from the store).
    pub origin: String,
    pub source: String,
    /// sha256 of `source`, hex.
    pub sha256: String,
    pub inputs: Vec<InputDef>,
    /// Steps in file order; `needs` indexes into this list.
    pub steps: Vec<StepDef>,
    /// At most this many steps of one run at once (`defaults.parallelism`).
    pub parallelism: Option<usize>,
    /// Rules over the inputs together (`checks:`), checked with the inputs before a run is
    /// recorded.
    pub checks: Vec<InputCheck>,
    /// At most this many runs at once, per user and in all (`concurrency:`); the rest wait
    /// as `queued`.
    pub concurrency: Option<crate::store::RunLimits>,
}

/// A rule over a run's inputs (`checks:` in the YAML).
#[derive(Debug, Clone)]
pub struct InputCheck {
    /// An expression over `inputs` that must be true.
    pub check: String,
    /// What the caller is told when it is not; may hold `${{ }}` expressions.
    pub message: String,
}

/// A declared input.
#[derive(Debug, Clone)]
pub struct InputDef {
    pub name: String,
    pub ty: InputType,
    pub required: bool,
    pub default: Option<Value>,
    pub description: Option<String>,
    /// Bounds of a number: at least `minimum`, at most `maximum`, more than
    /// `exclusive_minimum`.
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    pub exclusive_minimum: Option<f64>,
}

impl InputDef {
    /// Why `value` is outside this input's bounds, if it is.
    pub fn out_of_bounds(&self, value: &Value) -> Option<String> {
        let n = value.as_f64()?;
        let name = &self.name;
        let range = match (self.minimum, self.maximum) {
            (Some(min), Some(max)) if n < min || n > max => Some(format!("{min} to {max}")),
            (Some(min), None) if n < min => Some(format!("at least {min}")),
            (None, Some(max)) if n > max => Some(format!("at most {max}")),
            _ => None,
        };
        let range = range.or(match self.exclusive_minimum {
            Some(min) if n <= min => Some(format!("more than {min}")),
            _ => None,
        })?;
        Some(format!("input `{name}` must be {range}, got {value}"))
    }
}

/// One step of a workflow.
#[derive(Debug, Clone)]
pub struct StepDef {
    pub id: String,
    pub name: Option<String>,
    pub uses: String,
    /// The `with:` block as written; expressions are resolved when the step starts.
    pub with: Value,
    /// True when `with` holds `${{ }}` expressions (so it can only be built at run time).
    pub templated: bool,
    pub when: Option<String>,
    /// Every step this one waits for: `needs` plus steps its expressions read, sorted.
    pub needs: Vec<usize>,
    pub retry: RetryPolicy,
    /// Limit for one attempt.
    pub timeout: Duration,
    /// Credits the credit hook reserves before the step starts.
    pub credits: u64,
    /// `continue_on_error: true`: the step's failure (after its retries) does not fail the
    /// run; the steps after it run and read its `status`.
    pub continue_on_error: bool,
    /// `when:` calls a status function (`always()` …): the step is decided by its
    /// condition even when a step upstream failed or the run was cancelled, and once
    /// started, cancelling the run does not stop it.
    pub finalizer: bool,
}

/// How often and how patiently a failed step is tried again.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Total attempts, the first included (1 = no retry).
    pub attempts: u32,
    pub backoff: Backoff,
    pub initial_delay: Duration,
    pub max_delay: Duration,
    pub jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 1,
            backoff: Backoff::Exponential,
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            jitter: true,
        }
    }
}

/// The per-attempt timeout when neither the step nor `defaults` sets one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

impl Workflow {
    /// Parses and validates a workflow; `origin` names the file in messages.
    pub fn parse(
        source: &str,
        origin: &str,
        registry: &crate::StepRegistry,
    ) -> Result<Workflow, Diagnostics> {
        load::load(source, origin, registry)
    }

    /// Reads and validates a workflow file.
    pub fn from_file(
        path: &std::path::Path,
        registry: &crate::StepRegistry,
    ) -> Result<Workflow, crate::EngineError> {
        let source = std::fs::read_to_string(path).map_err(|e| crate::EngineError::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        Ok(Self::parse(&source, &path.display().to_string(), registry)?)
    }

    /// Index of the step called `id`.
    pub fn step_index(&self, id: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.id == id)
    }

    /// Renders the DAG for documentation (`techpack graph`).
    pub fn render_graph(&self, format: GraphFormat) -> String {
        graph::render(self, format)
    }

    /// Checks run inputs against the declared inputs and fills defaults; inputs from a user
    /// may not name server paths.
    pub fn resolve_inputs(
        &self,
        given: serde_json::Map<String, Value>,
        origin: InputOrigin,
    ) -> Result<serde_json::Map<String, Value>, Diagnostics> {
        inputs::resolve(self, given, origin)
    }

    /// Reads a command-line `--input name=text` value by the input's declared type: strings
    /// stay as written, everything else is read as JSON (`3`, `true`, `[1, 2]`).
    pub fn parse_input_value(&self, name: &str, text: &str) -> Value {
        inputs::parse_cli_value(self, name, text)
    }
}
