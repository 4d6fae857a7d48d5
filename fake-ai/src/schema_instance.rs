//! A minimal document that validates against a JSON Schema, so the fake OpenAI can answer
//! any structured-output request with something the caller's own schema accepts.
//!
//! Covers what structured-output schemas use: `type` (one or a list), `properties` and
//! `required`, `items` and `prefixItems`, `enum`, `const`, `anyOf`/`oneOf` (first branch),
//! `allOf` (merged), local `$ref`s (`#/$defs/...`), numeric bounds and string lengths and
//! common formats. `pattern` is not honoured.

use serde_json::{Map, Value, json};

/// Beyond this depth arrays stay as short as they may be, so recursive schemas end.
const SHALLOW_DEPTH: usize = 8;
/// The schema `true`: any value validates.
static ANYTHING: Value = Value::Bool(true);
/// Beyond this depth the generator gives up with `null` (a cycle without an exit).
const MAX_DEPTH: usize = 64;

/// A minimal valid instance of `schema`: objects with every required property, strings
/// "fake", numbers 0.5 (integers 1) moved inside any bounds, the first `enum` value or
/// `anyOf` branch, arrays of one item (or `minItems`).
pub fn schema_instance(schema: &Value) -> Value {
    Generator { root: schema }.instance(schema, 0)
}

struct Generator<'a> {
    root: &'a Value,
}

impl<'a> Generator<'a> {
    fn instance(&self, schema: &Value, depth: usize) -> Value {
        if depth > MAX_DEPTH {
            return Value::Null;
        }
        let object = match schema {
            Value::Object(object) => object,
            Value::Bool(true) => return json!("fake"),
            _ => return Value::Null,
        };
        if let Some(reference) = object.get("$ref").and_then(Value::as_str) {
            return match self.resolve(reference) {
                Some(target) => self.instance(target, depth + 1),
                None => Value::Null,
            };
        }
        if let Some(value) = object.get("const") {
            return value.clone();
        }
        if let Some(first) = object
            .get("enum")
            .and_then(Value::as_array)
            .and_then(|values| values.first())
        {
            return first.clone();
        }
        for combinator in ["anyOf", "oneOf"] {
            if let Some(first) = object
                .get(combinator)
                .and_then(Value::as_array)
                .and_then(|branches| branches.first())
            {
                return self.instance(first, depth + 1);
            }
        }
        if let Some(branches) = object.get("allOf").and_then(Value::as_array) {
            let merged = self.merge_all_of(object, branches);
            return self.instance_of_object_schema(&merged, depth);
        }
        self.instance_of_object_schema(object, depth)
    }

    fn instance_of_object_schema(&self, object: &Map<String, Value>, depth: usize) -> Value {
        match type_of(object).as_str() {
            "object" => {
                let properties = object.get("properties").and_then(Value::as_object);
                let required = object
                    .get("required")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten();
                let mut instance = Map::new();
                for name in required.filter_map(Value::as_str) {
                    let value = match properties.and_then(|properties| properties.get(name)) {
                        Some(property) => self.instance(property, depth + 1),
                        None => json!("fake"),
                    };
                    instance.insert(name.to_string(), value);
                }
                Value::Object(instance)
            }
            "array" => {
                let min_items = count(object, "minItems").unwrap_or(0);
                let max_items = count(object, "maxItems").unwrap_or(usize::MAX);
                let wanted = if depth >= SHALLOW_DEPTH {
                    min_items
                } else {
                    min_items.max(1).min(max_items)
                };
                let prefix = object
                    .get("prefixItems")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or(&[]);
                let mut items = Vec::with_capacity(wanted);
                for index in 0..wanted {
                    let item_schema = prefix
                        .get(index)
                        .or(object.get("items"))
                        .unwrap_or(&ANYTHING);
                    items.push(self.instance(item_schema, depth + 1));
                }
                Value::Array(items)
            }
            "string" => json!(string_within(object)),
            "number" => number_within(object, 0.5, false),
            "integer" => number_within(object, 1.0, true),
            "boolean" => json!(true),
            "null" => Value::Null,
            _ => json!("fake"),
        }
    }

    /// `allOf` branches (and the schema's own keywords) as one schema: properties and
    /// `required` unioned, the first word on anything else kept.
    fn merge_all_of(&self, object: &Map<String, Value>, branches: &[Value]) -> Map<String, Value> {
        let mut merged = object.clone();
        merged.remove("allOf");
        for branch in branches {
            let branch = match branch
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|reference| self.resolve(reference))
            {
                Some(target) => target,
                None => branch,
            };
            let Some(branch) = branch.as_object() else {
                continue;
            };
            for (key, value) in branch {
                match (key.as_str(), merged.get_mut(key)) {
                    ("properties", Some(Value::Object(existing))) => {
                        if let Some(more) = value.as_object() {
                            for (name, schema) in more {
                                existing
                                    .entry(name.clone())
                                    .or_insert_with(|| schema.clone());
                            }
                        }
                    }
                    ("required", Some(Value::Array(existing))) => {
                        for name in value.as_array().into_iter().flatten() {
                            if !existing.contains(name) {
                                existing.push(name.clone());
                            }
                        }
                    }
                    (_, Some(_)) => {}
                    (_, None) => {
                        merged.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        merged
    }

    /// A local reference (`#`, `#/$defs/name`, `#/definitions/name`) as a JSON pointer.
    fn resolve(&self, reference: &str) -> Option<&'a Value> {
        let pointer = reference.strip_prefix('#')?;
        self.root.pointer(pointer)
    }
}

/// The schema's type: the first of a list, or guessed from the keywords when absent.
fn type_of(object: &Map<String, Value>) -> String {
    let named = match object.get("type") {
        Some(Value::String(name)) => Some(name.as_str()),
        Some(Value::Array(names)) => names.iter().find_map(Value::as_str),
        _ => None,
    };
    let guessed = if object.contains_key("properties") || object.contains_key("required") {
        "object"
    } else if object.contains_key("items") || object.contains_key("prefixItems") {
        "array"
    } else {
        "any"
    };
    named.unwrap_or(guessed).to_string()
}

fn count(object: &Map<String, Value>, keyword: &str) -> Option<usize> {
    object
        .get(keyword)
        .and_then(Value::as_u64)
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
}

fn string_within(object: &Map<String, Value>) -> String {
    let base = match object.get("format").and_then(Value::as_str) {
        Some("date-time") => "2024-01-01T00:00:00Z",
        Some("date") => "2024-01-01",
        Some("time") => "00:00:00Z",
        Some("email") => "fake@example.com",
        Some("uri" | "url") => "https://example.com/fake",
        Some("uuid") => "00000000-0000-4000-8000-000000000000",
        Some("ipv4") => "127.0.0.1",
        _ => "fake",
    };
    let mut text: String = base.to_string();
    let min = count(object, "minLength").unwrap_or(0);
    while text.chars().count() < min {
        text.push('x');
    }
    if let Some(max) = count(object, "maxLength") {
        text = text.chars().take(max).collect();
    }
    text
}

/// `preferred` if the bounds allow it, else the nearest bound (a step inside an exclusive one),
/// else the middle of the range.
fn number_within(object: &Map<String, Value>, preferred: f64, integer: bool) -> Value {
    let bound = |keyword: &str| object.get(keyword).and_then(Value::as_f64);
    let (minimum, exclusive_minimum) = (bound("minimum"), bound("exclusiveMinimum"));
    let (maximum, exclusive_maximum) = (bound("maximum"), bound("exclusiveMaximum"));
    let fits = |value: f64| {
        minimum.is_none_or(|bound| value >= bound)
            && exclusive_minimum.is_none_or(|bound| value > bound)
            && maximum.is_none_or(|bound| value <= bound)
            && exclusive_maximum.is_none_or(|bound| value < bound)
            && (!integer || value.fract() == 0.0)
    };
    let lower = minimum
        .map(|bound| if integer { bound.ceil() } else { bound })
        .or(exclusive_minimum.map(|bound| {
            if integer {
                bound.floor() + 1.0
            } else {
                bound + 1.0
            }
        }));
    let upper = maximum
        .map(|bound| if integer { bound.floor() } else { bound })
        .or(exclusive_maximum.map(|bound| {
            if integer {
                bound.ceil() - 1.0
            } else {
                bound - 1.0
            }
        }));
    let low = minimum.or(exclusive_minimum);
    let high = maximum.or(exclusive_maximum);
    let middle = low.zip(high).map(|(low, high)| {
        let middle = (low + high) / 2.0;
        if integer { middle.round() } else { middle }
    });
    let value = [Some(preferred), lower, upper, middle]
        .into_iter()
        .flatten()
        .find(|value| fits(*value))
        .unwrap_or(preferred);
    if integer {
        json!(value as i64)
    } else {
        json!(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_valid(schema: &Value) -> Value {
        let instance = schema_instance(schema);
        let validator = jsonschema::validator_for(schema).expect("a valid schema");
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .map(|error| error.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "{instance} does not validate against {schema}: {errors:?}"
        );
        instance
    }

    #[test]
    fn scalars_follow_their_keywords() {
        assert_eq!(assert_valid(&json!({ "type": "string" })), json!("fake"));
        assert_eq!(assert_valid(&json!({ "type": "number" })), json!(0.5));
        assert_eq!(
            assert_valid(&json!({ "type": "number", "minimum": 2 })),
            json!(2.0)
        );
        assert_eq!(
            assert_valid(&json!({ "type": "number", "maximum": 0.2 })),
            json!(0.2)
        );
        assert_valid(
            &json!({ "type": "number", "exclusiveMinimum": 0.5, "exclusiveMaximum": 0.6 }),
        );
        assert_valid(&json!({ "type": "integer", "minimum": 3, "maximum": 7 }));
        assert_valid(&json!({ "type": "integer", "exclusiveMaximum": 0 }));
        assert_eq!(assert_valid(&json!({ "enum": ["b", "a"] })), json!("b"));
        assert_eq!(assert_valid(&json!({ "const": 42 })), json!(42));
        assert_eq!(
            assert_valid(&json!({ "type": ["null", "string"] })),
            Value::Null
        );
        assert_valid(&json!({ "type": "string", "minLength": 10, "maxLength": 12 }));
        assert_valid(&json!({ "type": "string", "maxLength": 2 }));
        assert_valid(&json!({ "type": "string", "format": "date-time" }));
        assert_eq!(assert_valid(&json!({ "type": "boolean" })), json!(true));
    }

    #[test]
    fn objects_arrays_and_combinators() {
        let schema = json!({
            "type": "object",
            "properties": {
                "name": { "type": "string" },
                "tags": { "type": "array", "items": { "type": "string" }, "minItems": 2 },
                "maybe": { "anyOf": [{ "type": "null" }, { "type": "number" }] },
                "either": { "oneOf": [{ "type": "integer", "minimum": 5 }, { "type": "string" }] },
                "pair": { "type": "array", "prefixItems": [{ "type": "string" }, { "type": "number" }], "minItems": 2, "items": false },
                "optional": { "type": "string" },
            },
            "required": ["name", "tags", "maybe", "either", "pair"],
            "additionalProperties": false,
        });
        let instance = assert_valid(&schema);
        assert_eq!(instance["tags"], json!(["fake", "fake"]));
        assert_eq!(instance["maybe"], Value::Null);
        assert!(instance.get("optional").is_none());
        assert_valid(&json!({ "allOf": [
            { "type": "object", "properties": { "a": { "type": "string" } }, "required": ["a"] },
            { "properties": { "b": { "type": "integer" } }, "required": ["b"] },
        ] }));
    }

    #[test]
    fn references_and_recursion_end() {
        let schema = json!({
            "$defs": { "node": { "type": "object", "properties": {
                "name": { "type": "string" },
                "children": { "type": "array", "items": { "$ref": "#/$defs/node" } },
            }, "required": ["name", "children"], "additionalProperties": false } },
            "$ref": "#/$defs/node",
        });
        let instance = assert_valid(&schema);
        assert_eq!(instance["children"][0]["name"], "fake");
    }
}
