//! Validation diagnostics: one problem each, with a stable code and where it is.

use std::fmt;

/// Where in a workflow file a problem is; line and column are 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// Stable error codes, so documentation and tests can refer to a kind of problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// The file is not valid YAML.
    YamlSyntax,
    /// A key the schema does not know.
    UnknownField,
    /// The same key twice in one mapping (including step ids).
    DuplicateKey,
    /// A value of the wrong type, or a required field missing.
    InvalidValue,
    /// A step id that cannot be referenced from expressions.
    InvalidStepId,
    /// `uses` names a step kind that is not registered.
    UnknownUses,
    /// A step's `with` block does not fit its kind.
    InvalidConfig,
    /// `needs` names a step that does not exist.
    MissingNeed,
    /// Steps that wait on each other.
    Cycle,
    /// An expression that does not parse.
    BadExpression,
    /// An expression that references something that does not exist.
    BadReference,
    /// A duration such as `30s` that does not parse.
    BadDuration,
    /// Run inputs that do not fit the declared inputs.
    BadInput,
    /// A workflow with nothing to do.
    NoSteps,
    /// A status function (`always()`, `failure()` …) used outside `when:`, not called, or
    /// called with arguments.
    StatusFunction,
    /// `concurrency:` that is not a mapping of limits, each a whole number of runs ≥ 1.
    BadConcurrency,
    /// A `per_user` limit above `per_workflow`: no user could ever reach it.
    UnreachableConcurrency,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::YamlSyntax => "TP001",
            Code::UnknownField => "TP002",
            Code::DuplicateKey => "TP003",
            Code::InvalidValue => "TP004",
            Code::InvalidStepId => "TP005",
            Code::UnknownUses => "TP010",
            Code::InvalidConfig => "TP011",
            Code::MissingNeed => "TP012",
            Code::Cycle => "TP013",
            Code::BadExpression => "TP014",
            Code::BadReference => "TP015",
            Code::BadDuration => "TP016",
            Code::BadInput => "TP017",
            Code::NoSteps => "TP018",
            Code::StatusFunction => "TP019",
            Code::BadConcurrency => "TP025",
            Code::UnreachableConcurrency => "TP026",
        }
    }
}

/// One validation problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: Code,
    /// The step the problem belongs to, if it belongs to one.
    pub step: Option<String>,
    pub location: Option<Location>,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(location) = &self.location {
            write!(f, "{location}: ")?;
        }
        write!(f, "error[{}]: ", self.code.as_str())?;
        if let Some(step) = &self.step {
            write!(f, "step `{step}`: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in one workflow, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, diagnostic) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}
