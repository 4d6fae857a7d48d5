//! `${{ ... }}` expressions in `with` values and `when` conditions, evaluated by minijinja.
//!
//! Only the `${{`/`}}` delimiters are found here; what is between them is a minijinja
//! expression (`inputs.size * 2`, `steps.detect.output.category == "bag"`). A `when:`
//! condition may also call the status functions of GitHub Actions ([`STATUS_FUNCTIONS`]),
//! answered from how the step's upstream steps ended ([`Upstream`]).

use std::sync::OnceLock;

use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value;

const OPEN: &str = "${{";
const CLOSE: &str = "}}";

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // A typo such as `steps.detect.output.categroy` is an error, not an empty string.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env
    })
}

/// A piece of a templated string.
#[derive(Debug, Clone, PartialEq)]
enum Part<'a> {
    Text(&'a str),
    Expression(&'a str),
}

fn split(text: &str) -> Result<Vec<Part<'_>>, String> {
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(OPEN) {
        if start > 0 {
            parts.push(Part::Text(&rest[..start]));
        }
        let after = &rest[start + OPEN.len()..];
        let end = after
            .find(CLOSE)
            .ok_or_else(|| format!("`{OPEN}` without a closing `{CLOSE}` in {text:?}"))?;
        let expression = after[..end].trim();
        if expression.is_empty() {
            return Err(format!("empty expression in {text:?}"));
        }
        parts.push(Part::Expression(expression));
        rest = &after[end + CLOSE.len()..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest));
    }
    Ok(parts)
}

/// True if any string inside `value` contains an expression.
pub fn has_expressions(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains(OPEN),
        Value::Array(items) => items.iter().any(has_expressions),
        Value::Object(map) => map.values().any(has_expressions),
        _ => false,
    }
}

/// Every expression source inside `value`, or the first syntax problem of each string.
pub fn expressions_in(value: &Value, out: &mut Vec<Result<String, String>>) {
    match value {
        Value::String(s) if s.contains(OPEN) => match split(s) {
            Ok(parts) => out.extend(parts.into_iter().filter_map(|p| match p {
                Part::Expression(e) => Some(Ok(e.to_string())),
                Part::Text(_) => None,
            })),
            Err(e) => out.push(Err(e)),
        },
        Value::Array(items) => items.iter().for_each(|v| expressions_in(v, out)),
        Value::Object(map) => map.values().for_each(|v| expressions_in(v, out)),
        _ => {}
    }
}

/// The source of a `when:` condition, with or without `${{ }}` around it.
pub fn condition_source(when: &str) -> &str {
    let trimmed = when.trim();
    match trimmed
        .strip_prefix(OPEN)
        .and_then(|s| s.strip_suffix(CLOSE))
    {
        Some(inner) if !inner.contains(OPEN) => inner.trim(),
        _ => trimmed,
    }
}

/// Checks that `source` parses; returns the dotted variable paths it reads
/// (e.g. `steps.detect.output.category`).
pub fn references(source: &str) -> Result<Vec<String>, String> {
    let expression = environment()
        .compile_expression(source)
        .map_err(|e| describe(&e))?;
    let mut names: Vec<String> = expression.undeclared_variables(true).into_iter().collect();
    names.sort();
    Ok(names)
}

/// Evaluates one expression against `context` (`inputs`, `steps`, `run`).
pub fn evaluate(source: &str, context: &Value) -> Result<Value, String> {
    let expression = environment()
        .compile_expression(source)
        .map_err(|e| describe(&e))?;
    let value = expression
        .eval(context)
        .map_err(|e| format!("`{source}`: {}", describe(&e)))?;
    if value.is_undefined() {
        return Err(format!("`{source}` is undefined"));
    }
    serde_json::to_value(&value).map_err(|e| format!("`{source}`: {e}"))
}

/// The functions a `when:` condition may call, named as in GitHub Actions: `always()`,
/// `success()` (what a condition without any of them means), `failure()`, `cancelled()`.
pub const STATUS_FUNCTIONS: &[&str] = &["always", "success", "failure", "cancelled"];

/// How the steps upstream of one step ended, as the status functions answer it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upstream {
    /// A step upstream (a need, or a need of a need …) failed, and its failure was not
    /// tolerated (`continue_on_error`).
    pub failed: bool,
    /// The run was cancelled.
    pub cancelled: bool,
    /// Every need finished in a way that lets a step run (succeeded, skipped, or failed
    /// with its failure tolerated).
    pub satisfied: bool,
}

impl Upstream {
    /// `success()`: nothing upstream failed or was cancelled, and the run goes on.
    pub fn success(self) -> bool {
        self.satisfied && !self.failed && !self.cancelled
    }
}

/// True when `source` calls one of the [`STATUS_FUNCTIONS`].
pub fn calls_status_function(source: &str) -> bool {
    !status_names(source).is_empty()
}

/// Each misuse of a status function in `source`: a name used without being called
/// (`when: always`, always true) or called with arguments.
pub fn status_function_misuse(source: &str) -> Vec<String> {
    status_names(source)
        .into_iter()
        .filter_map(|(name, after)| {
            let rest = after.trim_start();
            let Some(inside) = rest.strip_prefix('(') else {
                return Some(format!(
                    "`{name}` is a status function: call it as `{name}()`"
                ));
            };
            (!inside.trim_start().starts_with(')'))
                .then(|| format!("`{name}()` takes no arguments"))
        })
        .collect()
}

/// Every status function name in `source` used as a name of its own (not inside a string, not
/// an attribute such as `steps.always`), with the text after it.
fn status_names(source: &str) -> Vec<(&'static str, &str)> {
    let bytes = source.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'"' || c == b'\'' {
            // Skip the string literal, escapes included.
            i += 1;
            while i < bytes.len() && bytes[i] != c {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            let attribute = source[..start].trim_end().ends_with('.');
            if let Some(name) = STATUS_FUNCTIONS.iter().find(|n| **n == &source[start..i])
                && !attribute
            {
                found.push((*name, &source[i..]));
            }
        } else {
            i += 1;
        }
    }
    found
}

/// Evaluates a `when:` condition to a boolean (minijinja truthiness), with the status
/// functions answered from `upstream`.
pub fn evaluate_condition(when: &str, context: &Value, upstream: Upstream) -> Result<bool, String> {
    let source = condition_source(when);
    let expression = environment()
        .compile_expression(source)
        .map_err(|e| describe(&e))?;
    let context = minijinja::context! {
        always => minijinja::Value::from_function(|| true),
        success => minijinja::Value::from_function(move || upstream.success()),
        failure => minijinja::Value::from_function(move || upstream.failed),
        cancelled => minijinja::Value::from_function(move || upstream.cancelled),
        ..minijinja::Value::from_serialize(context)
    };
    let value = expression
        .eval(context)
        .map_err(|e| format!("`{source}`: {}", describe(&e)))?;
    Ok(value.is_true())
}

/// Replaces every expression inside `value`. A string that is exactly one expression takes the
/// expression's value and type; otherwise the results are written into the string.
pub fn render(value: &Value, context: &Value) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) if s.contains(OPEN) => {
            let parts = split(s)?;
            if let [Part::Expression(e)] = parts.as_slice() {
                evaluate(e, context)?
            } else {
                let mut out = String::new();
                for part in parts {
                    match part {
                        Part::Text(t) => out.push_str(t),
                        Part::Expression(e) => match evaluate(e, context)? {
                            Value::String(s) => out.push_str(&s),
                            other => out.push_str(&other.to_string()),
                        },
                    }
                }
                Value::String(out)
            }
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| render(v, context))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), render(v, context)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

fn describe(error: &minijinja::Error) -> String {
    let mut message = error.kind().to_string();
    if let Some(detail) = error.detail() {
        message.push_str(": ");
        message.push_str(detail);
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn whole_string_expression_keeps_its_type() {
        let ctx = json!({"inputs": {"n": 3}});
        assert_eq!(
            render(&json!("${{ inputs.n * 2 }}"), &ctx).unwrap(),
            json!(6)
        );
        assert_eq!(
            render(&json!("size ${{ inputs.n }}cm"), &ctx).unwrap(),
            json!("size 3cm")
        );
    }

    #[test]
    fn references_are_dotted_paths() {
        let refs = references("steps.detect.output.category == inputs.kind").unwrap();
        assert!(
            refs.iter().any(|r| r.starts_with("steps.detect")),
            "{refs:?}"
        );
        assert!(
            refs.iter().any(|r| r.starts_with("inputs.kind")),
            "{refs:?}"
        );
    }

    #[test]
    fn typos_are_errors_not_empty_strings() {
        let ctx = json!({"steps": {"a": {"output": {"x": 1}}}});
        assert!(render(&json!("${{ steps.a.output.y }}"), &ctx).is_err());
    }

    #[test]
    fn bad_syntax_is_reported() {
        assert!(references("inputs.x ==").is_err());
        assert!(split("${{ unclosed").is_err());
    }

    const FINE: Upstream = Upstream {
        failed: false,
        cancelled: false,
        satisfied: true,
    };

    #[test]
    fn conditions_accept_bare_and_wrapped_forms() {
        let ctx = json!({"inputs": {"on": true}});
        assert!(evaluate_condition("inputs.on", &ctx, FINE).unwrap());
        assert!(!evaluate_condition("${{ not inputs.on }}", &ctx, FINE).unwrap());
    }

    #[test]
    fn status_functions_answer_from_upstream_and_combine() {
        let ctx = json!({"inputs": {"out": "dir", "none": null}});
        let failed = Upstream {
            failed: true,
            cancelled: false,
            satisfied: false,
        };
        let cases = [
            ("always()", FINE, true),
            ("always()", failed, true),
            ("success()", FINE, true),
            ("success()", failed, false),
            ("failure()", failed, true),
            ("failure()", FINE, false),
            ("cancelled()", FINE, false),
            ("${{ always() and inputs.out }}", failed, true),
            ("${{ always() and inputs.none }}", failed, false),
            ("not cancelled()", failed, true),
        ];
        for (when, upstream, want) in cases {
            assert_eq!(
                evaluate_condition(when, &ctx, upstream).unwrap(),
                want,
                "{when} with {upstream:?}"
            );
        }
    }

    #[test]
    fn status_functions_are_found_only_where_called_by_name() {
        assert!(calls_status_function("always() and inputs.x"));
        assert!(!calls_status_function("steps.always.output"));
        assert!(!calls_status_function("inputs.x == 'failure()'"));
        assert!(!calls_status_function("inputs.always_on"));
        assert!(status_function_misuse("failure() or cancelled ()").is_empty());
        assert_eq!(
            status_function_misuse("always and failure(1)"),
            [
                "`always` is a status function: call it as `always()`",
                "`failure()` takes no arguments"
            ]
        );
    }
}
