//! The JSON Schema subset plugins can declare: `type` (a name or a list of names),
//! `required`, `properties` and `items`, applied recursively. Other keywords are allowed
//! and ignored, so a full schema written for other tools still loads; this keeps the
//! check in a few lines instead of a JSON Schema dependency.

use serde_json::{Map, Value};

const TYPES: [&str; 7] = [
    "object", "array", "string", "number", "integer", "boolean", "null",
];

/// Schemas nested deeper than this are refused (and values are not checked deeper).
const MAX_DEPTH: usize = 32;

/// Checks that `schema` uses the subset correctly.
pub fn check_schema(schema: &Value) -> Result<(), String> {
    check_schema_at(schema, 0)
}

fn check_schema_at(schema: &Value, depth: usize) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!("nested more than {MAX_DEPTH} levels"));
    }
    let Value::Object(schema) = schema else {
        return Err("a schema must be a mapping".to_string());
    };
    if let Some(ty) = schema.get("type") {
        for name in type_names(ty)? {
            if !TYPES.contains(&name) {
                return Err(format!(
                    "unknown type `{name}` (known: {})",
                    TYPES.join(", ")
                ));
            }
        }
    }
    if let Some(required) = schema.get("required") {
        let names = required
            .as_array()
            .filter(|r| r.iter().all(Value::is_string));
        if names.is_none() {
            return Err("`required` must be a list of field names".to_string());
        }
    }
    if let Some(properties) = schema.get("properties") {
        let Value::Object(properties) = properties else {
            return Err("`properties` must map field names to schemas".to_string());
        };
        for (name, property) in properties {
            check_schema_at(property, depth + 1).map_err(|e| format!("properties.{name}: {e}"))?;
        }
    }
    if let Some(items) = schema.get("items") {
        check_schema_at(items, depth + 1).map_err(|e| format!("items: {e}"))?;
    }
    Ok(())
}

fn type_names(ty: &Value) -> Result<Vec<&str>, String> {
    match ty {
        Value::String(name) => Ok(vec![name.as_str()]),
        Value::Array(names) => names
            .iter()
            .map(|n| {
                n.as_str()
                    .ok_or_else(|| "`type` must be a name or a list of names".to_string())
            })
            .collect(),
        _ => Err("`type` must be a name or a list of names".to_string()),
    }
}

/// Checks `value` against a schema that passed [`check_schema`]; the error names the path
/// (`with.sizes[2]`) from `root`.
pub fn check(schema: &Value, value: &Value, root: &str) -> Result<(), String> {
    check_at(schema, value, root, 0)
}

fn check_at(schema: &Value, value: &Value, path: &str, depth: usize) -> Result<(), String> {
    let Value::Object(schema) = schema else {
        return Ok(());
    };
    if depth > MAX_DEPTH {
        return Ok(());
    }
    if let Some(ty) = schema.get("type") {
        let names = type_names(ty).unwrap_or_default();
        if !names.iter().any(|name| is_type(value, name)) {
            return Err(format!(
                "`{path}` must be {}, not {}",
                names.join(" or "),
                type_of(value)
            ));
        }
    }
    if let Value::Object(fields) = value {
        check_object(schema, fields, path, depth)?;
    }
    if let (Some(items), Value::Array(elements)) = (schema.get("items"), value) {
        for (i, element) in elements.iter().enumerate() {
            check_at(items, element, &format!("{path}[{i}]"), depth + 1)?;
        }
    }
    Ok(())
}

fn check_object(
    schema: &Map<String, Value>,
    fields: &Map<String, Value>,
    path: &str,
    depth: usize,
) -> Result<(), String> {
    if let Some(Value::Array(required)) = schema.get("required") {
        for name in required.iter().filter_map(Value::as_str) {
            if !fields.contains_key(name) {
                return Err(format!("`{path}` is missing the required field `{name}`"));
            }
        }
    }
    if let Some(Value::Object(properties)) = schema.get("properties") {
        for (name, property) in properties {
            if let Some(field) = fields.get(name) {
                check_at(property, field, &format!("{path}.{name}"), depth + 1)?;
            }
        }
    }
    Ok(())
}

fn is_type(value: &Value, name: &str) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => {
            value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => false,
    }
}

fn type_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn names_the_first_problem_with_its_path() {
        let schema = json!({
            "type": "object",
            "required": ["sizes", "base_size"],
            "properties": {
                "sizes": { "type": "array", "items": { "type": "string" } },
                "precision": { "type": ["number", "null"] }
            }
        });
        check_schema(&schema).unwrap();
        assert_eq!(
            check(&schema, &json!({"sizes": ["S"], "base_size": "S"}), "with"),
            Ok(())
        );
        assert_eq!(
            check(&schema, &json!({"sizes": ["S"]}), "with"),
            Err("`with` is missing the required field `base_size`".to_string())
        );
        assert_eq!(
            check(
                &schema,
                &json!({"sizes": ["S", 3], "base_size": "S"}),
                "with"
            ),
            Err("`with.sizes[1]` must be string, not a number".to_string())
        );
        assert_eq!(
            check(
                &schema,
                &json!({"sizes": [], "base_size": "S", "precision": "x"}),
                "with"
            ),
            Err("`with.precision` must be number or null, not a string".to_string())
        );
        assert_eq!(
            check(&schema, &json!(null), "with"),
            Err("`with` must be object, not null".to_string())
        );
    }
}
