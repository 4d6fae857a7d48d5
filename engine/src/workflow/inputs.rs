//! Run inputs: checked against the declared inputs, defaults filled in.

use serde_json::{Map, Value};

use super::Workflow;
use super::diagnostic::{Code, Diagnostic, Diagnostics};

pub fn resolve(
    workflow: &Workflow,
    mut given: Map<String, Value>,
) -> Result<Map<String, Value>, Diagnostics> {
    let mut problems = Vec::new();
    let mut problem = |message: String| {
        problems.push(Diagnostic {
            code: Code::BadInput,
            step: None,
            location: None,
            message,
        })
    };
    let mut resolved = Map::new();
    for input in &workflow.inputs {
        match given.remove(&input.name) {
            Some(value) if input.ty.accepts(&value) => {
                resolved.insert(input.name.clone(), value);
            }
            Some(value) => problem(format!(
                "input `{}` must be of type {}, got {value}",
                input.name,
                input.ty.name()
            )),
            None => match &input.default {
                Some(default) => {
                    resolved.insert(input.name.clone(), default.clone());
                }
                None if input.required => problem(format!(
                    "missing required input `{}`{}",
                    input.name,
                    input
                        .description
                        .as_ref()
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default()
                )),
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
        problem(format!(
            "unknown input `{name}` (declared: {})",
            if declared.is_empty() {
                "none".to_string()
            } else {
                declared.join(", ")
            }
        ));
    }
    if problems.is_empty() {
        Ok(resolved)
    } else {
        Err(Diagnostics(problems))
    }
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
        Some(super::InputType::String) => Value::String(text.to_string()),
        _ => serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string())),
    }
}
