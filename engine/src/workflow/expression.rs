//! `${{ ... }}` expressions in `with` values and `when` conditions, evaluated by minijinja.
//!
//! Only the `${{`/`}}` delimiters are found here; what is between them is a minijinja
//! expression (`inputs.size * 2`, `steps.detect.output.category == "bag"`).

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

/// Evaluates a `when:` condition to a boolean (minijinja truthiness).
pub fn evaluate_condition(when: &str, context: &Value) -> Result<bool, String> {
    let source = condition_source(when);
    let expression = environment()
        .compile_expression(source)
        .map_err(|e| describe(&e))?;
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

    #[test]
    fn conditions_accept_bare_and_wrapped_forms() {
        let ctx = json!({"inputs": {"on": true}});
        assert!(evaluate_condition("inputs.on", &ctx).unwrap());
        assert!(!evaluate_condition("${{ not inputs.on }}", &ctx).unwrap());
    }
}
