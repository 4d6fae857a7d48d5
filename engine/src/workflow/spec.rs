//! The shape of a workflow file as serde reads it; `load` turns it into a [`super::Workflow`].

use serde::Deserialize;

/// The fields a top-level workflow mapping may have.
pub const TOP_LEVEL_FIELDS: &[&str] = &[
    "name",
    "version",
    "description",
    "inputs",
    "defaults",
    "checks",
    "concurrency",
    "steps",
];

/// The fields of `concurrency:`.
pub const CONCURRENCY_FIELDS: &[&str] = &["per_user", "per_workflow"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    pub uses: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub needs: Needs,
    #[serde(default)]
    pub with: serde_yaml::Value,
    #[serde(default)]
    pub when: Option<Condition>,
    #[serde(default)]
    pub retry: Option<RetrySpec>,
    #[serde(default)]
    pub timeout: Option<String>,
    #[serde(default)]
    pub credits: u64,
    #[serde(default)]
    pub continue_on_error: bool,
}

/// One of the workflow's `checks:`, a rule over the run's inputs together.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    /// An expression over `inputs` that must be true.
    pub check: String,
    /// What the caller is told when it is not.
    pub message: String,
}

/// `needs: a` or `needs: [a, b]`.
#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
pub enum Needs {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl Needs {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Needs::None => Vec::new(),
            Needs::One(id) => vec![id.clone()],
            Needs::Many(ids) => ids.clone(),
        }
    }
}

/// `when: false` or `when: "${{ inputs.x > 1 }}"`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Condition {
    Constant(bool),
    Expression(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    pub attempts: u32,
    #[serde(default)]
    pub backoff: Option<Backoff>,
    #[serde(default)]
    pub initial_delay: Option<String>,
    #[serde(default)]
    pub max_delay: Option<String>,
    #[serde(default)]
    pub jitter: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backoff {
    /// initial, 2×initial, 4×initial … capped at max.
    Exponential,
    /// initial every time.
    Fixed,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultsSpec {
    #[serde(default)]
    pub retry: Option<RetrySpec>,
    #[serde(default)]
    pub timeout: Option<String>,
    #[serde(default)]
    pub parallelism: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    #[serde(rename = "type", default)]
    pub ty: Option<InputType>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub default: Option<serde_yaml::Value>,
    #[serde(default)]
    pub description: Option<String>,
    /// Bounds of a `number` or `integer` input.
    #[serde(default)]
    pub minimum: Option<f64>,
    #[serde(default)]
    pub maximum: Option<f64>,
    /// The value must be more than this (`width_mm: { exclusive_minimum: 0 }`).
    #[serde(default)]
    pub exclusive_minimum: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputType {
    String,
    Number,
    Integer,
    Boolean,
    Array,
    Object,
    Any,
    /// Product photos, `[{view, path}]` or `[{view, revisionId}]`. A user's run may only give
    /// stored revisions (`revisionId`), never server paths.
    Images,
    /// A path on the server (a file or folder to read or write); only operators may give one.
    Path,
}

impl InputType {
    pub fn name(self) -> &'static str {
        match self {
            InputType::String => "string",
            InputType::Number => "number",
            InputType::Integer => "integer",
            InputType::Boolean => "boolean",
            InputType::Array => "array",
            InputType::Object => "object",
            InputType::Any => "any",
            InputType::Images => "images",
            InputType::Path => "path",
        }
    }

    pub fn accepts(self, value: &serde_json::Value) -> bool {
        use serde_json::Value as V;
        match self {
            InputType::String => value.is_string(),
            InputType::Number => value.is_number(),
            InputType::Integer => value.is_i64() || value.is_u64(),
            InputType::Boolean => value.is_boolean(),
            InputType::Array => value.is_array(),
            InputType::Object => value.is_object(),
            InputType::Any => !matches!(value, V::Null),
            InputType::Images => value.as_array().is_some_and(|a| a.iter().all(V::is_object)),
            InputType::Path => value.as_str().is_some_and(|s| !s.is_empty()),
        }
    }
}
