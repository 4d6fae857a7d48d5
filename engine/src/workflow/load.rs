//! Loading a workflow: every check, every problem reported at once.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::diagnostic::{Code, Diagnostic, Diagnostics, Location};
use super::expression;
use super::spec::{self, CheckSpec, Condition, DefaultsSpec, InputSpec, RetrySpec, StepSpec};
use super::yaml::{self, Outline, YamlProblem};
use super::{DEFAULT_TIMEOUT, InputCheck, InputDef, RetryPolicy, StepDef, Workflow};
use crate::StepRegistry;

/// Collects problems with positions looked up in the outline.
struct Report<'a> {
    origin: &'a str,
    outline: &'a Outline,
    problems: Vec<(Option<(usize, usize)>, Diagnostic)>,
}

impl Report<'_> {
    fn add(&mut self, code: Code, step: Option<&str>, path: &[&str], message: impl Into<String>) {
        let position = self.position(path);
        self.add_at(code, step, position, message.into());
    }

    fn add_at(
        &mut self,
        code: Code,
        step: Option<&str>,
        position: Option<(usize, usize)>,
        message: String,
    ) {
        let location = position.map(|(line, column)| Location {
            file: self.origin.to_string(),
            line,
            column,
        });
        self.problems.push((
            position,
            Diagnostic {
                code,
                step: step.map(str::to_string),
                location,
                message,
            },
        ));
    }

    /// The position of the deepest prefix of `path` that the outline knows.
    fn position(&self, path: &[&str]) -> Option<(usize, usize)> {
        (1..=path.len())
            .rev()
            .find_map(|n| self.outline.position(&path[..n]))
    }

    fn finish(mut self) -> Diagnostics {
        // File order; problems without a position (whole-file ones) first.
        self.problems.sort_by_key(|(position, _)| *position);
        Diagnostics(self.problems.into_iter().map(|(_, d)| d).collect())
    }
}

pub fn load(source: &str, origin: &str, registry: &StepRegistry) -> Result<Workflow, Diagnostics> {
    let (document, outline) = match yaml::parse(source) {
        Ok(parsed) => parsed,
        Err(problems) => return Err(yaml_problems(origin, problems)),
    };
    let mut report = Report {
        origin,
        outline: &outline,
        problems: Vec::new(),
    };
    let workflow = check(document, source, origin, registry, &mut report);
    if report.problems.is_empty() {
        Ok(workflow.expect("a workflow without problems is built"))
    } else {
        Err(report.finish())
    }
}

fn yaml_problems(origin: &str, problems: Vec<YamlProblem>) -> Diagnostics {
    let at = |line, column| {
        Some(Location {
            file: origin.to_string(),
            line,
            column,
        })
    };
    Diagnostics(
        problems
            .into_iter()
            .map(|problem| match problem {
                YamlProblem::Syntax {
                    line,
                    column,
                    message,
                } => Diagnostic {
                    code: Code::YamlSyntax,
                    step: None,
                    location: at(line, column),
                    message: format!("invalid YAML: {message}"),
                },
                YamlProblem::DuplicateKey {
                    path,
                    key,
                    line,
                    column,
                } => {
                    let is_step = path.len() == 1 && path[0] == "steps";
                    Diagnostic {
                        code: Code::DuplicateKey,
                        step: is_step.then(|| key.clone()),
                        location: at(line, column),
                        message: if is_step {
                            "duplicate step id".to_string()
                        } else if path.is_empty() {
                            format!("duplicate key `{key}`")
                        } else {
                            format!("duplicate key `{key}` in `{}`", path.join("."))
                        },
                    }
                }
            })
            .collect(),
    )
}

/// A serde error about one field, pointed at that field when the message names it.
fn field_error(report: &mut Report, step: Option<&str>, path: &[&str], message: String) {
    let code = if message.starts_with("unknown field") || message.starts_with("unknown variant") {
        Code::UnknownField
    } else {
        Code::InvalidValue
    };
    let named = message.split('`').nth(1).map(str::to_string);
    let mut full: Vec<&str> = path.to_vec();
    if let (true, Some(field)) = (message.starts_with("unknown field"), named.as_deref()) {
        full.push(field);
    }
    report.add(code, step, &full, message.clone());
}

/// Every check of a workflow document, in file order of concern: the top level, the
/// header, inputs, checks, concurrency, defaults, then each step and the graph. Each check
/// adds its problems to `report`; the workflow is built when the steps could be read.
fn check(
    document: serde_yaml::Value,
    source: &str,
    origin: &str,
    registry: &StepRegistry,
    report: &mut Report,
) -> Option<Workflow> {
    let serde_yaml::Value::Mapping(top) = document else {
        report.add(
            Code::InvalidValue,
            None,
            &[],
            "a workflow must be a mapping with `name` and `steps`",
        );
        return None;
    };
    let mut fields = check_top_level(top, report);
    let (name, version, description) = check_header(&mut fields, report);
    let inputs = check_inputs(fields.remove("inputs"), report);
    let input_names: BTreeSet<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
    let checks = check_checks(fields.remove("checks"), &input_names, report);
    let concurrency = check_concurrency(fields.remove("concurrency"), report);
    let defaults = check_defaults(fields.remove("defaults"), report);

    let parsed = check_step_fields(check_steps_mapping(fields.remove("steps"), report)?, report);
    let index: HashMap<&str, usize> = parsed
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (id.as_str(), i))
        .collect();
    let scope = Scope {
        index: &index,
        input_names: &input_names,
        registry,
        defaults: &defaults,
    };
    let steps: Vec<StepDef> = parsed
        .iter()
        .filter_map(|(id, spec)| Some(check_step(id, spec.as_ref()?, &scope, report)))
        .collect();
    if steps.len() == parsed.len() {
        check_cycles(&steps, report);
    }

    Some(Workflow {
        name,
        version,
        description,
        origin: origin.to_string(),
        source: source.to_string(),
        sha256: hex::encode(Sha256::digest(source.as_bytes())),
        inputs,
        steps,
        parallelism: defaults.parallelism,
        checks,
        concurrency,
    })
}

/// The top level's fields by name; an unknown one is a problem.
fn check_top_level(
    top: serde_yaml::Mapping,
    report: &mut Report,
) -> HashMap<String, serde_yaml::Value> {
    let mut fields = HashMap::new();
    for (key, value) in top {
        let key = key.as_str().unwrap_or_default().to_string();
        if spec::TOP_LEVEL_FIELDS.contains(&key.as_str()) {
            fields.insert(key, value);
        } else {
            report.add(
                Code::UnknownField,
                None,
                &[&key],
                format!(
                    "unknown field `{key}`, expected one of {}",
                    spec::TOP_LEVEL_FIELDS.join(", ")
                ),
            );
        }
    }
    fields
}

/// `name` (required), `version` (default `1`) and `description`.
fn check_header(
    fields: &mut HashMap<String, serde_yaml::Value>,
    report: &mut Report,
) -> (String, String, Option<String>) {
    let name = match fields.remove("name") {
        Some(serde_yaml::Value::String(name)) if !name.trim().is_empty() => name,
        Some(_) => {
            report.add(
                Code::InvalidValue,
                None,
                &["name"],
                "`name` must be a non-empty string",
            );
            String::new()
        }
        None => {
            report.add(Code::InvalidValue, None, &[], "missing field `name`");
            String::new()
        }
    };
    let version = match fields.remove("version") {
        None => "1".to_string(),
        Some(serde_yaml::Value::String(v)) => v,
        Some(serde_yaml::Value::Number(n)) => n.to_string(),
        Some(_) => {
            report.add(
                Code::InvalidValue,
                None,
                &["version"],
                "`version` must be a string or a number",
            );
            String::new()
        }
    };
    let description = match fields.remove("description") {
        None => None,
        Some(value) => yaml::from_value::<String>(value)
            .map_err(|e| report.add(Code::InvalidValue, None, &["description"], e))
            .ok(),
    };
    (name, version, description)
}

/// What `defaults:` gives every step that does not say otherwise.
struct Defaults {
    retry: RetryPolicy,
    timeout: Duration,
    parallelism: Option<usize>,
}

fn check_defaults(value: Option<serde_yaml::Value>, report: &mut Report) -> Defaults {
    let defaults: DefaultsSpec = match value {
        None => DefaultsSpec::default(),
        Some(value) => yaml::from_value(value).unwrap_or_else(|e| {
            field_error(report, None, &["defaults"], e);
            DefaultsSpec::default()
        }),
    };
    let retry = match &defaults.retry {
        Some(retry) => retry_policy(
            retry,
            &RetryPolicy::default(),
            None,
            &["defaults", "retry"],
            report,
        ),
        None => RetryPolicy::default(),
    };
    let timeout = match &defaults.timeout {
        Some(text) => {
            duration(text, None, &["defaults", "timeout"], report).unwrap_or(DEFAULT_TIMEOUT)
        }
        None => DEFAULT_TIMEOUT,
    };
    if defaults.parallelism == Some(0) {
        report.add(
            Code::InvalidValue,
            None,
            &["defaults", "parallelism"],
            "`parallelism` must be at least 1",
        );
    }
    Defaults {
        retry,
        timeout,
        parallelism: defaults.parallelism,
    }
}

/// `steps:` as a mapping; `None` (nothing more to check) when it is missing or not one.
fn check_steps_mapping(
    value: Option<serde_yaml::Value>,
    report: &mut Report,
) -> Option<serde_yaml::Mapping> {
    let steps = match value {
        Some(serde_yaml::Value::Mapping(steps)) => steps,
        Some(serde_yaml::Value::Null) | None => {
            report.add(
                Code::NoSteps,
                None,
                &["steps"],
                "a workflow needs at least one step under `steps`",
            );
            return None;
        }
        Some(_) => {
            report.add(
                Code::InvalidValue,
                None,
                &["steps"],
                "`steps` must be a mapping from step id to step",
            );
            return None;
        }
    };
    if steps.is_empty() {
        report.add(
            Code::NoSteps,
            None,
            &["steps"],
            "a workflow needs at least one step under `steps`",
        );
    }
    Some(steps)
}

/// First pass: every step's id and own fields (`None`: they do not parse).
fn check_step_fields(
    steps: serde_yaml::Mapping,
    report: &mut Report,
) -> Vec<(String, Option<StepSpec>)> {
    let mut parsed = Vec::new();
    for (key, value) in steps {
        let id = match &key {
            serde_yaml::Value::String(id) => id.clone(),
            other => yaml::to_json(other)
                .map(|v| v.to_string())
                .unwrap_or_default(),
        };
        if !valid_step_id(&id) {
            report.add(
                Code::InvalidStepId,
                Some(&id),
                &["steps", &id],
                "a step id must start with a letter or `_` and hold only letters, digits and `_` \
                 (expressions read it as `steps.<id>`)",
            );
        }
        let spec = match yaml::from_value::<StepSpec>(value) {
            Ok(spec) => Some(spec),
            Err(e) => {
                field_error(report, Some(&id), &["steps", &id], e);
                None
            }
        };
        parsed.push((id, spec));
    }
    parsed
}

/// What the second pass checks each step against.
struct Scope<'a> {
    /// Step ids to their position in the file.
    index: &'a HashMap<&'a str, usize>,
    input_names: &'a BTreeSet<&'a str>,
    registry: &'a StepRegistry,
    defaults: &'a Defaults,
}

/// Second pass, one step: its `needs`, its expressions, its retry and timeout, its kind and
/// config.
fn check_step(id: &str, spec: &StepSpec, scope: &Scope, report: &mut Report) -> StepDef {
    let at = |field: &'static str| -> Vec<&str> { vec!["steps", id, field] };
    let mut needs = check_needs(id, spec, scope, report);
    let with = match yaml::to_json(&spec.with) {
        Ok(v) => v,
        Err(e) => {
            report.add(
                Code::InvalidValue,
                Some(id),
                &at("with"),
                format!("`with` {e}"),
            );
            Value::Null
        }
    };
    let (when, finalizer) = check_expressions(id, spec, &with, scope, &mut needs, report);
    let retry = match &spec.retry {
        Some(r) => retry_policy(r, &scope.defaults.retry, Some(id), &at("retry"), report),
        None => scope.defaults.retry.clone(),
    };
    let timeout = match &spec.timeout {
        Some(t) => duration(t, Some(id), &at("timeout"), report).unwrap_or(scope.defaults.timeout),
        None => scope.defaults.timeout,
    };
    let templated = expression::has_expressions(&with);
    check_kind(id, spec, &with, templated, scope.registry, report);
    StepDef {
        id: id.to_string(),
        name: spec.name.clone(),
        uses: spec.uses.clone(),
        with,
        templated,
        when,
        needs: needs.into_iter().collect(),
        retry,
        timeout,
        credits: spec.credits,
        continue_on_error: spec.continue_on_error,
        finalizer,
    }
}

/// The steps a step's `needs:` names, each of which must exist.
fn check_needs(id: &str, spec: &StepSpec, scope: &Scope, report: &mut Report) -> BTreeSet<usize> {
    let mut needs = BTreeSet::new();
    for (i, need) in spec.needs.to_vec().iter().enumerate() {
        match scope.index.get(need.as_str()) {
            Some(&n) => {
                needs.insert(n);
            }
            None => {
                let i = i.to_string();
                report.add(
                    Code::MissingNeed,
                    Some(id),
                    &["steps", id, "needs", &i],
                    format!("`needs` names `{need}`, which is not a step of this workflow"),
                );
            }
        }
    }
    needs
}

/// The expressions in a step's `with:` and `when:`: each must parse, use status functions
/// only in `when:`, and read only what exists (adding the steps it reads to `needs`).
/// Returns the step's `when` and whether it is a finalizer (its `when:` calls a status
/// function).
fn check_expressions(
    id: &str,
    spec: &StepSpec,
    with: &Value,
    scope: &Scope,
    needs: &mut BTreeSet<usize>,
    report: &mut Report,
) -> (Option<String>, bool) {
    let at = |field: &'static str| -> Vec<&str> { vec!["steps", id, field] };
    let mut with_sources = Vec::new();
    expression::expressions_in(with, &mut with_sources);
    let mut sources: Vec<(&str, Result<String, String>)> =
        with_sources.into_iter().map(|s| ("with", s)).collect();
    let when = match &spec.when {
        None => None,
        Some(Condition::Constant(b)) => Some(b.to_string()),
        Some(Condition::Expression(e)) => {
            sources.push(("when", Ok(expression::condition_source(e).to_string())));
            Some(e.clone())
        }
    };
    let mut finalizer = false;
    for (field, source) in sources {
        if let Ok(source) = &source
            && expression::calls_status_function(source)
        {
            if field == "when" {
                finalizer = true;
                for misuse in expression::status_function_misuse(source) {
                    report.add(Code::StatusFunction, Some(id), &at(field), misuse);
                }
            } else {
                report.add(
                    Code::StatusFunction,
                    Some(id),
                    &at(field),
                    format!(
                        "`{source}`: status functions (`always()`, `success()`, \
                         `failure()`, `cancelled()`) can only be used in `when:`"
                    ),
                );
            }
        }
        let checked =
            source.and_then(|s| expression::references(&s).map_err(|e| format!("`{s}`: {e}")));
        let refs = match checked {
            Ok(refs) => refs,
            Err(e) => {
                report.add(
                    Code::BadExpression,
                    Some(id),
                    &at(field),
                    format!("bad expression in `{field}`: {e}"),
                );
                continue;
            }
        };
        let status_function = |r: &String| {
            expression::STATUS_FUNCTIONS.contains(&r.split('.').next().unwrap_or_default())
        };
        for reference in refs.into_iter().filter(|r| !status_function(r)) {
            check_reference(
                &reference,
                id,
                field,
                scope.index,
                scope.input_names,
                needs,
                report,
            );
        }
    }
    (when, finalizer)
}

/// A step's `uses:` names a kind that can be used, and its `with:` (unless templated, which
/// is known only at run time) builds that kind.
fn check_kind(
    id: &str,
    spec: &StepSpec,
    with: &Value,
    templated: bool,
    registry: &StepRegistry,
    report: &mut Report,
) {
    let at = |field: &'static str| -> Vec<&str> { vec!["steps", id, field] };
    match registry.get(&spec.uses) {
        None if registry.unavailable_reason(&spec.uses).is_some() => {
            let reason = registry.unavailable_reason(&spec.uses).unwrap_or_default();
            report.add(
                Code::UnknownUses,
                Some(id),
                &at("uses"),
                format!("step kind `{}` cannot be used: {reason}", spec.uses),
            );
        }
        None => {
            let names = registry.names();
            let hint = match closest(&spec.uses, names.iter().copied()) {
                Some(name) => format!("; did you mean `{name}`?"),
                None => {
                    let mut families: Vec<&str> = names
                        .iter()
                        .filter_map(|name| name.split('/').next())
                        .collect();
                    families.dedup();
                    format!(
                        " (kinds are named {})",
                        families
                            .iter()
                            .map(|f| format!("`{f}/…`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            };
            report.add(
                Code::UnknownUses,
                Some(id),
                &at("uses"),
                format!("unknown step kind `{}`{hint}", spec.uses),
            );
        }
        Some(kind) if !templated => {
            if let Err(e) = kind.build(with) {
                report.add(
                    Code::InvalidConfig,
                    Some(id),
                    &at("with"),
                    format!("invalid `with` for `{}`: {e}", spec.uses),
                );
            }
        }
        Some(_) => {}
    }
}

/// Every dependency cycle, as its whole chain.
fn check_cycles(steps: &[StepDef], report: &mut Report) {
    for cycle in super::graph::cycles(steps) {
        let chain: Vec<&str> = cycle.iter().map(|&i| steps[i].id.as_str()).collect();
        let first = chain[0];
        report.add(
            Code::Cycle,
            Some(first),
            &["steps", first],
            format!(
                "dependency cycle: {} -> {first} (each step needs the next)",
                chain.join(" -> ")
            ),
        );
    }
}

/// The workflow's `checks:`: each a rule over the inputs, which is all it may read.
fn check_checks(
    value: Option<serde_yaml::Value>,
    inputs: &BTreeSet<&str>,
    report: &mut Report,
) -> Vec<InputCheck> {
    let Some(value) = value else {
        return Vec::new();
    };
    let items: Vec<serde_yaml::Value> = match yaml::from_value(value) {
        Ok(items) => items,
        Err(e) => {
            field_error(report, None, &["checks"], format!("`checks` {e}"));
            return Vec::new();
        }
    };
    let mut checks = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let i = i.to_string();
        let spec: CheckSpec = match yaml::from_value(item) {
            Ok(spec) => spec,
            Err(e) => {
                field_error(report, None, &["checks", &i], e);
                continue;
            }
        };
        let at = ["checks", i.as_str(), "check"];
        let source = expression::condition_source(&spec.check).to_string();
        if expression::calls_status_function(&source) {
            report.add(
                Code::StatusFunction,
                None,
                &at,
                format!("check `{source}`: status functions can only be used in a step's `when:`"),
            );
            continue;
        }
        let references = match expression::references(&source) {
            Ok(references) => references,
            Err(e) => {
                report.add(
                    Code::BadExpression,
                    None,
                    &at,
                    format!("bad expression in a check: `{source}`: {e}"),
                );
                continue;
            }
        };
        for reference in references {
            let mut parts = reference.split('.');
            match (parts.next(), parts.next()) {
                (Some("inputs"), Some(name)) if inputs.contains(name) => {}
                (Some("inputs"), Some(name)) => report.add(
                    Code::BadReference,
                    None,
                    &at,
                    format!("a check reads `inputs.{name}`, which is not a declared input"),
                ),
                (Some("inputs"), None) => {}
                _ => report.add(
                    Code::BadReference,
                    None,
                    &at,
                    format!("a check reads `{reference}`; checks can read only `inputs`"),
                ),
            }
        }
        checks.push(InputCheck {
            check: source,
            message: spec.message,
        });
    }
    checks
}

/// `concurrency: { per_user: N, per_workflow: M }`: each limit a whole number ≥ 1, at least
/// one of them, and `per_user` no more than `per_workflow`.
fn check_concurrency(
    value: Option<serde_yaml::Value>,
    report: &mut Report,
) -> Option<crate::store::RunLimits> {
    let value = value?;
    let serde_yaml::Value::Mapping(fields) = value else {
        report.add(
            Code::BadConcurrency,
            None,
            &["concurrency"],
            "`concurrency` must be a mapping of limits: `{ per_user: 2, per_workflow: 50 }`",
        );
        return None;
    };
    let mut limits = crate::store::RunLimits::default();
    let mut valid = true;
    for (key, value) in fields {
        let key = key.as_str().unwrap_or_default().to_string();
        let slot = match key.as_str() {
            "per_user" => &mut limits.per_user,
            "per_workflow" => &mut limits.per_workflow,
            _ => {
                report.add(
                    Code::UnknownField,
                    None,
                    &["concurrency", &key],
                    format!(
                        "unknown field `{key}` in `concurrency`, expected one of {}",
                        spec::CONCURRENCY_FIELDS.join(", ")
                    ),
                );
                valid = false;
                continue;
            }
        };
        match value
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n >= 1)
        {
            Some(n) => *slot = Some(n),
            None => {
                let shown = yaml::to_json(&value)
                    .map(|v| v.to_string())
                    .unwrap_or_default();
                report.add(
                    Code::BadConcurrency,
                    None,
                    &["concurrency", &key],
                    format!("`concurrency.{key}` must be a whole number of runs, at least 1; got {shown}"),
                );
                valid = false;
            }
        }
    }
    if valid && !limits.is_limited() {
        report.add(
            Code::BadConcurrency,
            None,
            &["concurrency"],
            "`concurrency` names no limit: give `per_user`, `per_workflow` or both",
        );
    }
    if let (Some(user), Some(workflow)) = (limits.per_user, limits.per_workflow)
        && user > workflow
    {
        report.add(
            Code::UnreachableConcurrency,
            None,
            &["concurrency", "per_user"],
            format!(
                "`concurrency.per_user` ({user}) is above `per_workflow` ({workflow}): no user could reach it; lower it or raise `per_workflow`"
            ),
        );
    }
    limits.is_limited().then_some(limits)
}

fn check_reference(
    reference: &str,
    id: &str,
    field: &str,
    index: &HashMap<&str, usize>,
    inputs: &BTreeSet<&str>,
    needs: &mut BTreeSet<usize>,
    report: &mut Report,
) {
    let path = ["steps", id, field];
    let mut parts = reference.split('.');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("inputs"), Some(name), _) if !inputs.contains(name) => report.add(
            Code::BadReference,
            Some(id),
            &path,
            format!("`{field}` reads `inputs.{name}`, which is not a declared input"),
        ),
        (Some("inputs" | "run"), _, _) => {}
        (Some("steps"), Some(other), rest) => match index.get(other) {
            None => report.add(
                Code::BadReference,
                Some(id),
                &path,
                format!("`{field}` reads `steps.{other}`, which is not a step of this workflow"),
            ),
            Some(_) if other == id => report.add(
                Code::BadReference,
                Some(id),
                &path,
                format!("`{field}` reads the step's own output"),
            ),
            Some(&n) => {
                needs.insert(n);
                if let Some(attribute) = rest
                    && !matches!(attribute, "output" | "status" | "error")
                {
                    report.add(
                        Code::BadReference,
                        Some(id),
                        &path,
                        format!("`{field}` reads `steps.{other}.{attribute}`; a step has `output`, `status` and `error`"),
                    );
                }
            }
        },
        (Some("steps"), None, _) => report.add(
            Code::BadReference,
            Some(id),
            &path,
            format!("`{field}` must name a step: `steps.<id>.output`"),
        ),
        (Some(root), _, _) => report.add(
            Code::BadReference,
            Some(id),
            &path,
            format!("`{field}` reads `{root}`; expressions can read `inputs`, `steps` and `run`"),
        ),
        (None, _, _) => {}
    }
}

/// The known name nearest to `wanted` by edit distance, if it is close enough to be a typo.
fn closest<'a>(wanted: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut previous = row[0];
            row[0] = i + 1;
            for j in 0..b.len() {
                let substitution = previous + usize::from(ca != b[j]);
                previous = row[j + 1];
                row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
            }
        }
        row[b.len()]
    }
    known
        .map(|name| (distance(wanted, name), name))
        .filter(|(d, name)| *d <= 2.max(name.len() / 4))
        .min()
        .map(|(_, name)| name)
}

fn valid_step_id(id: &str) -> bool {
    let mut chars = id.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A duration such as `30s` at `path`; a problem names the field it is in (`timeout`,
/// `retry.initial_delay`, `defaults.timeout`).
fn duration(
    text: &str,
    step: Option<&str>,
    path: &[&str],
    report: &mut Report,
) -> Option<Duration> {
    // Inside a step the path starts `steps.<id>`, which the message already names.
    let field = match path {
        ["steps", _, rest @ ..] => rest.join("."),
        _ => path.join("."),
    };
    match humantime::parse_duration(text.trim()) {
        Ok(d) if !d.is_zero() => Some(d),
        Ok(_) => {
            report.add(
                Code::BadDuration,
                step,
                path,
                format!("`{field}`: duration `{text}` must be more than zero"),
            );
            None
        }
        Err(e) => {
            report.add(
                Code::BadDuration,
                step,
                path,
                format!("`{field}`: bad duration `{text}`: {e} (write e.g. `500ms`, `30s`, `5m`)"),
            );
            None
        }
    }
}

fn retry_policy(
    spec: &RetrySpec,
    base: &RetryPolicy,
    step: Option<&str>,
    path: &[&str],
    report: &mut Report,
) -> RetryPolicy {
    let mut policy = base.clone();
    if spec.attempts == 0 {
        let mut p = path.to_vec();
        p.push("attempts");
        report.add(
            Code::InvalidValue,
            step,
            &p,
            "`retry.attempts` counts the first attempt too: it must be at least 1",
        );
    }
    policy.attempts = spec.attempts.max(1);
    if let Some(backoff) = spec.backoff {
        policy.backoff = backoff;
    }
    let field = |name: &'static str| {
        let mut p = path.to_vec();
        p.push(name);
        p
    };
    if let Some(text) = &spec.initial_delay
        && let Some(d) = duration(text, step, &field("initial_delay"), report)
    {
        policy.initial_delay = d;
    }
    if let Some(text) = &spec.max_delay
        && let Some(d) = duration(text, step, &field("max_delay"), report)
    {
        policy.max_delay = d;
    }
    if policy.max_delay < policy.initial_delay {
        report.add(
            Code::InvalidValue,
            step,
            path,
            "`retry.max_delay` is shorter than `retry.initial_delay`",
        );
    }
    if let Some(jitter) = spec.jitter {
        policy.jitter = jitter;
    }
    policy
}

fn check_inputs(value: Option<serde_yaml::Value>, report: &mut Report) -> Vec<InputDef> {
    let Some(value) = value else {
        return Vec::new();
    };
    let serde_yaml::Value::Mapping(map) = value else {
        if !value.is_null() {
            report.add(
                Code::InvalidValue,
                None,
                &["inputs"],
                "`inputs` must be a mapping from name to input",
            );
        }
        return Vec::new();
    };
    let mut inputs = Vec::new();
    for (key, value) in map {
        let name = key.as_str().unwrap_or_default().to_string();
        let path = ["inputs", name.as_str()];
        let spec: InputSpec = match yaml::from_value(value) {
            Ok(spec) => spec,
            Err(e) => {
                field_error(report, None, &path, format!("input `{name}`: {e}"));
                continue;
            }
        };
        let ty = spec.ty.unwrap_or(super::InputType::Any);
        let default = match spec.default.as_ref().map(yaml::to_json) {
            None => None,
            Some(Ok(v)) => Some(v),
            Some(Err(e)) => {
                report.add(
                    Code::InvalidValue,
                    None,
                    &path,
                    format!("input `{name}`: default {e}"),
                );
                None
            }
        };
        if let Some(default) = &default {
            if !ty.accepts(default) {
                report.add(
                    Code::InvalidValue,
                    None,
                    &path,
                    format!("input `{name}`: the default is not of type {}", ty.name()),
                );
            }
            if spec.required {
                report.add(
                    Code::InvalidValue,
                    None,
                    &path,
                    format!("input `{name}` is required and has a default; choose one"),
                );
            }
        }
        let bounded =
            spec.minimum.is_some() || spec.maximum.is_some() || spec.exclusive_minimum.is_some();
        if bounded && !matches!(ty, super::InputType::Number | super::InputType::Integer) {
            report.add(
                Code::InvalidValue,
                None,
                &path,
                format!(
                    "input `{name}`: `minimum`, `maximum` and `exclusive_minimum` bound numbers; \
                     give it `type: number` or `type: integer`"
                ),
            );
        }
        if let (Some(min), Some(max)) = (spec.minimum, spec.maximum)
            && min > max
        {
            report.add(
                Code::InvalidValue,
                None,
                &path,
                format!("input `{name}`: `minimum` is more than `maximum`"),
            );
        }
        let input = InputDef {
            name: name.clone(),
            ty,
            required: spec.required,
            default,
            description: spec.description,
            minimum: spec.minimum,
            maximum: spec.maximum,
            exclusive_minimum: spec.exclusive_minimum,
        };
        if let Some(problem) = input.default.as_ref().and_then(|d| input.out_of_bounds(d)) {
            report.add(
                Code::InvalidValue,
                None,
                &path,
                format!("the default of {problem}"),
            );
        }
        inputs.push(input);
    }
    inputs
}
