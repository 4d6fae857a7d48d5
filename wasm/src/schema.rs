//! A manifest's `input_schema` and `output_schema`: full JSON Schema (2020-12 unless the
//! schema's `$schema` names another draft), checked by the `jsonschema` crate, so every
//! keyword a manifest writes (`enum`, `minimum`, `additionalProperties`, `pattern` …) is
//! enforced. A schema is checked against its draft's meta-schema and compiled once, when the
//! manifest is read. References outside the schema itself are refused ([`NoFetch`]), so a
//! plugin's schema never makes the host read a file or call a URL.

use std::fmt;
use std::sync::Arc;

use jsonschema::paths::LocationSegment;
use jsonschema::{Draft, Retrieve, Uri, ValidationError, Validator};
use serde_json::Value;

/// The retriever a plugin schema's external `$ref` (and a custom `$schema`) reaches: it
/// refuses every one, whatever features the `jsonschema` crate is built with.
struct NoFetch;

impl Retrieve for NoFetch {
    fn retrieve(
        &self,
        uri: &Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        Err(format!("`{uri}` is outside the schema: plugin schemas are self-contained").into())
    }
}

/// A schema that passed its meta-schema and compiled, ready to check values.
#[derive(Clone)]
pub struct PluginSchema {
    validator: Arc<Validator>,
}

impl fmt::Debug for PluginSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PluginSchema")
    }
}

impl PluginSchema {
    /// Checks `schema` against its meta-schema and compiles it.
    ///
    /// # Errors
    /// Every way the schema is not valid JSON Schema, each with where in the schema it is
    /// (`properties.sizes.type: "strnig" is not valid under any of the schemas listed in the
    /// 'anyOf' keyword`), or why it does not compile (an unresolvable `$ref`, a bad `pattern`).
    pub fn compile(schema: &Value) -> Result<PluginSchema, String> {
        if Draft::default().detect(schema) == Draft::Unknown {
            return Err(format!(
                "`$schema` {} is not a JSON Schema draft (4, 6, 7, 2019-09 or 2020-12)",
                schema["$schema"]
            ));
        }
        let problems: Vec<String> = match jsonschema::meta::validator_for(schema) {
            Ok(meta) => meta
                .iter_errors(schema)
                .map(|error| describe(&error, "", schema))
                .collect(),
            Err(error) => vec![error.to_string()],
        };
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        let validator = jsonschema::options()
            .with_retriever(NoFetch)
            .build(schema)
            .map_err(|error| error.to_string())?;
        Ok(PluginSchema {
            validator: Arc::new(validator),
        })
    }

    /// Checks `value`; the error lists every violation, each naming its place from `root`
    /// (`with.sizes[1]: 3 is not of type "string"`).
    pub fn check(&self, value: &Value, root: &str) -> Result<(), String> {
        let problems: Vec<String> = self
            .validator
            .iter_errors(value)
            .map(|error| describe(&error, root, value))
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

/// `{place}: {what the schema says}`, the place written the way the manifest's author reads
/// the value: `.field` into a mapping, `[i]` into a list.
fn describe(error: &ValidationError<'_>, root: &str, value: &Value) -> String {
    let mut place = root.to_string();
    let mut at = Some(value);
    for segment in error.instance_path().segments() {
        let (text, next) = match &segment {
            LocationSegment::Index(i) => (format!("[{i}]"), at.and_then(|v| v.get(*i))),
            LocationSegment::Property(name) => {
                let in_list = at.is_some_and(Value::is_array);
                let index = name.parse::<usize>().ok().filter(|_| in_list);
                match index {
                    Some(i) => (format!("[{i}]"), at.and_then(|v| v.get(i))),
                    None => (format!(".{name}"), at.and_then(|v| v.get(name.as_ref()))),
                }
            }
        };
        place.push_str(&text);
        at = next;
    }
    let place = place.trim_start_matches('.');
    if place.is_empty() {
        error.to_string()
    } else {
        format!("`{place}`: {error}")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema() -> PluginSchema {
        PluginSchema::compile(&json!({
            "type": "object",
            "required": ["sizes", "base_size"],
            "additionalProperties": false,
            "properties": {
                "sizes": { "type": "array", "items": { "type": "string" }, "minItems": 1 },
                "base_size": { "type": "string", "enum": ["S", "M", "L"] },
                "precision": { "type": ["number", "null"], "minimum": 0 }
            }
        }))
        .unwrap()
    }

    #[test]
    fn a_valid_value_passes() {
        assert_eq!(
            schema().check(&json!({"sizes": ["S"], "base_size": "S"}), "with"),
            Ok(())
        );
    }

    #[test]
    fn types_and_required_fields_are_named_with_their_path() {
        let error = schema()
            .check(&json!({"sizes": ["S", 3]}), "with")
            .unwrap_err();
        assert!(
            error.contains("`with`: \"base_size\" is a required property"),
            "{error}"
        );
        assert!(
            error.contains("`with.sizes[1]`: 3 is not of type \"string\""),
            "{error}"
        );
    }

    #[test]
    fn keywords_beyond_type_and_required_are_enforced() {
        let schema = schema();
        for (value, expected) in [
            (
                json!({"sizes": ["S"], "base_size": "XL"}),
                "`with.base_size`: \"XL\" is not one of",
            ),
            (
                json!({"sizes": ["S"], "base_size": "S", "precision": -1}),
                "`with.precision`: -1 is less than the minimum of 0",
            ),
            (
                json!({"sizes": ["S"], "base_size": "S", "colour": "red"}),
                "Additional properties are not allowed ('colour' was unexpected)",
            ),
            (
                json!({"sizes": [], "base_size": "S"}),
                "`with.sizes`: [] has less than 1 item",
            ),
        ] {
            let error = schema.check(&value, "with").unwrap_err();
            assert!(error.contains(expected), "{value}: {error}");
        }
    }

    #[test]
    fn an_invalid_schema_is_refused_with_where_it_is_wrong() {
        let error = PluginSchema::compile(&json!({"properties": {"sizes": {"type": "strnig"}}}))
            .unwrap_err();
        assert!(error.contains("strnig"), "{error}");
        let error = PluginSchema::compile(&json!({"minimum": "zero"})).unwrap_err();
        assert!(
            error.contains("\"zero\" is not of type \"number\""),
            "{error}"
        );
        let error =
            PluginSchema::compile(&json!({"type": "string", "pattern": "(unclosed"})).unwrap_err();
        assert!(!error.is_empty());
    }

    #[test]
    fn an_unknown_draft_is_refused() {
        let error =
            PluginSchema::compile(&json!({"$schema": "https://example.com/my-draft"})).unwrap_err();
        assert!(error.contains("is not a JSON Schema draft"), "{error}");
    }

    #[test]
    fn a_reference_outside_the_schema_is_refused_not_fetched() {
        for reference in [
            "https://example.com/schema.json",
            "file:///etc/passwd",
            "#/$defs/missing",
        ] {
            let schema = json!({"$ref": reference});
            assert!(
                PluginSchema::compile(&schema).is_err(),
                "{reference} compiled"
            );
        }
    }
}
