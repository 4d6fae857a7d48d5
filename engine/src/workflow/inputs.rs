//! Run inputs: checked against the declared inputs, defaults filled in.
//!
//! Inputs from a user (over HTTP) are untrusted data: an input of type `path` and a photo
//! given by `path` in an `images` input are refused, so a caller can never make the server
//! read or write a file of its choosing (see also `step::files`).

use serde_json::{Map, Value};

use super::diagnostic::{Code, Diagnostic, Diagnostics};
use super::{InputType, Workflow};

/// Who gives a run its inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputOrigin {
    /// The CLI: may name server paths.
    Operator,
    /// A user over the API: data only.
    User,
}

/// How deep an input's arrays and objects may nest. A run's record holds its inputs a few
/// levels down, and JSON nested past 128 levels cannot be read back: such a run could be
/// stored but never executed or shown.
pub const MAX_INPUT_NESTING: usize = 64;

/// How deep `value`'s arrays and objects nest (a scalar: 0). Walked without recursion, so
/// any value a caller built can be measured.
fn nesting(value: &Value) -> usize {
    let mut deepest = 0;
    let mut todo = vec![(value, 0)];
    while let Some((value, depth)) = todo.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(fields) => Box::new(fields.values()),
            _ => continue,
        };
        deepest = deepest.max(depth + 1);
        todo.extend(children.map(|child| (child, depth + 1)));
    }
    deepest
}

pub fn resolve(
    workflow: &Workflow,
    mut given: Map<String, Value>,
    origin: InputOrigin,
) -> Result<Map<String, Value>, Diagnostics> {
    let mut problems = Vec::new();
    let problem = |message: String| Diagnostic {
        code: Code::BadInput,
        step: None,
        location: None,
        message,
    };
    let mut resolved = Map::new();
    for input in &workflow.inputs {
        match given.remove(&input.name) {
            Some(value) if input.ty.accepts(&value) => {
                let mut refusals = refusals(&input.name, input.ty, &value, origin);
                refusals.extend(input.out_of_bounds(&value));
                if nesting(&value) > MAX_INPUT_NESTING {
                    refusals.push(format!(
                        "input `{}` is nested deeper than {MAX_INPUT_NESTING} levels",
                        input.name
                    ));
                }
                if refusals.is_empty() {
                    resolved.insert(input.name.clone(), value);
                }
                problems.extend(refusals.into_iter().map(problem));
            }
            Some(value) => problems.push(problem(format!(
                "input `{}` must be of type {}, got {value}",
                input.name,
                input.ty.name()
            ))),
            None => match &input.default {
                Some(default) => {
                    resolved.insert(input.name.clone(), default.clone());
                }
                None if input.required => problems.push(problem(format!(
                    "missing required input `{}`{}",
                    input.name,
                    input
                        .description
                        .as_ref()
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default()
                ))),
                None => {
                    resolved.insert(input.name.clone(), Value::Null);
                }
            },
        }
    }
    let mut unknown: Vec<_> = given.keys().cloned().collect();
    unknown.sort();
    for name in unknown {
        let declared: Vec<&str> = workflow.inputs.iter().map(|i| i.name.as_str()).collect();
        problems.push(problem(format!(
            "unknown input `{name}` (declared: {})",
            if declared.is_empty() {
                "none".to_string()
            } else {
                declared.join(", ")
            }
        )));
    }
    // The rules over inputs together, once each input is fine on its own.
    if problems.is_empty() {
        let context = serde_json::json!({ "inputs": resolved });
        for rule in &workflow.checks {
            match super::expression::evaluate(&rule.check, &context) {
                Ok(value) if truthy(&value) => {}
                Ok(_) => problems.push(problem(
                    super::expression::render(&Value::String(rule.message.clone()), &context)
                        .ok()
                        .and_then(|m| m.as_str().map(str::to_string))
                        .unwrap_or_else(|| rule.message.clone()),
                )),
                Err(e) => problems.push(problem(format!("cannot check the inputs: {e}"))),
            }
        }
    }
    if problems.is_empty() {
        Ok(resolved)
    } else {
        Err(Diagnostics(problems))
    }
}

/// Truthiness as `when:` conditions have it: false, null, 0, "" and empty lists and maps
/// are false.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
    }
}

/// Why a well-typed value cannot be taken from `origin`, one message per problem.
fn refusals(name: &str, ty: InputType, value: &Value, origin: InputOrigin) -> Vec<String> {
    match ty {
        InputType::Path if origin == InputOrigin::User => vec![format!(
            "input `{name}` is a server path, which only an operator can give; a run started \
             over the API keeps what it makes in the store"
        )],
        InputType::Images => image_problems(name, value, origin),
        _ => Vec::new(),
    }
}

/// Each photo of an `images` input is `{view, path}` (operators only) or `{view,
/// revisionId}` (a photo uploaded before); `view` may be left out.
fn image_problems(name: &str, value: &Value, origin: InputOrigin) -> Vec<String> {
    let Some(images) = value.as_array() else {
        return vec![format!("input `{name}` must be a list of photos")];
    };
    if images.is_empty() {
        return vec![format!("input `{name}` needs at least one photo")];
    }
    let mut problems = Vec::new();
    let mut views: Vec<(&str, usize)> = Vec::new();
    for (i, image) in images.iter().enumerate() {
        let at = format!("input `{name}`[{i}]");
        let Some(fields) = image.as_object() else {
            problems.push(format!("{at} must be an object"));
            continue;
        };
        if let Some(view) = fields.get("view").and_then(Value::as_str) {
            match views.iter().find(|(seen, _)| *seen == view) {
                Some((_, first)) => problems.push(format!(
                    "input `{name}` has two photos for the view `{view}` ([{first}] and [{i}]); \
                     give one photo per view"
                )),
                None => views.push((view, i)),
            }
        }
        for (key, value) in fields {
            let known = matches!(key.as_str(), "view" | "path" | "revisionId" | "revision_id");
            if !known {
                problems.push(format!(
                    "{at} has an unknown field `{key}` (view, revisionId{})",
                    if origin == InputOrigin::Operator {
                        ", path"
                    } else {
                        ""
                    }
                ));
            } else if !value.is_string() {
                problems.push(format!("{at}: `{key}` must be a string"));
            }
        }
        let revision = fields.contains_key("revisionId") || fields.contains_key("revision_id");
        match (fields.contains_key("path"), revision, origin) {
            (true, _, InputOrigin::User) => problems.push(format!(
                "{at} gives a `path`: a run started over the API cannot read files on the \
                 server; upload the photo first and give its `revisionId`"
            )),
            (true, true, InputOrigin::Operator) => {
                problems.push(format!("{at} gives both `path` and `revisionId`; give one"))
            }
            (false, false, InputOrigin::User) => {
                problems.push(format!("{at} needs the `revisionId` of an uploaded photo"))
            }
            (false, false, InputOrigin::Operator) => {
                problems.push(format!("{at} needs a `path` or a `revisionId`"))
            }
            _ => {}
        }
    }
    problems
}

/// Parses a `--input k=v` value according to the input's type: strings stay as written,
/// everything else is read as JSON (`3`, `true`, `[1,2]`).
pub fn parse_cli_value(workflow: &Workflow, name: &str, text: &str) -> Value {
    let ty = workflow
        .inputs
        .iter()
        .find(|i| i.name == name)
        .map(|i| i.ty);
    match ty {
        Some(InputType::String | InputType::Path) => Value::String(text.to_string()),
        _ => serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string())),
    }
}
