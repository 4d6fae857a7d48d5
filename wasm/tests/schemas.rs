//! A manifest's `input_schema` and `output_schema` as a plugin author writes them, with
//! keywords beyond `type` and `required`: a `with` that breaks one fails before the module
//! runs, an output that breaks one fails the step, and a schema that is not JSON Schema
//! keeps the plugin from loading, from `plugins check` and from any workflow.

mod common;

use common::*;
use serde_json::json;
use techpack_engine::{StepRegistry, Workflow};
use techpack_wasm::PluginError;

const SIZE_SCHEMA: &str = r#"
input_schema:
  type: object
  required: [size]
  additionalProperties: false
  properties:
    size: { type: string, enum: [S, M, L] }
    count: { type: integer, minimum: 1 }
"#;

#[tokio::test]
async fn a_with_that_breaks_the_input_schema_fails_before_the_module_runs() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(&dir.path().join("cache"));
    // The module never returns: only a check made before it runs can answer at all.
    let extra = format!("limits: {{ timeout: 60s }}\n{SIZE_SCHEMA}");
    let plugin = host
        .load(&fixture_plugin(dir.path(), "infinite_loop", &extra))
        .unwrap();
    for (with, expected) in [
        (
            json!({"size": "XL"}),
            r#"`with.size`: "XL" is not one of "S", "M" or "L""#,
        ),
        (
            json!({"size": "S", "count": 0}),
            "`with.count`: 0 is less than the minimum of 1",
        ),
        (
            json!({"size": "S", "colour": "red"}),
            "Additional properties are not allowed ('colour' was unexpected)",
        ),
    ] {
        let error = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            call(&host, &plugin, with.clone()),
        )
        .await
        .expect("the module ran")
        .unwrap_err();
        assert!(
            matches!(error, PluginError::InvalidInput { .. }),
            "{with}: {error:?}"
        );
        let message = error.to_string();
        assert!(
            message.starts_with("plugin `infinite-loop`: invalid `with`: ")
                && message.contains(expected),
            "{with}: {message}"
        );
    }
}

#[tokio::test]
async fn an_output_that_breaks_the_output_schema_fails_the_step() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(&dir.path().join("cache"));
    // echo answers `{"with": <with>, ...}`.
    let extra = r#"
output_schema:
  type: object
  properties:
    with:
      type: object
      properties: { size: { enum: [S, M, L] } }
"#;
    let plugin = host
        .load(&fixture_plugin(dir.path(), "echo", extra))
        .unwrap();
    call(&host, &plugin, json!({"size": "M"})).await.unwrap();
    let error = call(&host, &plugin, json!({"size": "XL"}))
        .await
        .unwrap_err();
    assert!(matches!(error, PluginError::BadOutput { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("does not match the manifest's output_schema")
            && message.contains(r#"`output.with.size`: "XL" is not one of"#),
        "{message}"
    );
}

#[tokio::test]
async fn a_schema_that_is_not_json_schema_fails_plugins_check_and_loading() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(&dir.path().join("cache"));
    let extra = "input_schema: { type: object, properties: { size: { type: strnig } } }";
    let folder = fixture_plugin(dir.path(), "echo", extra);
    let error = host.check_plugin(&folder).await.unwrap_err().to_string();
    assert!(
        error.contains("input_schema: `properties.size.type`") && error.contains("strnig"),
        "{error}"
    );
    let folder = fixture_plugin_named(
        dir.path(),
        "echo",
        "fetches",
        "output_schema: { $ref: 'https://example.com/schema.json' }",
    );
    let error = host.load(&folder).unwrap_err().to_string();
    assert!(
        error.contains("output_schema: ") && error.contains("outside the schema"),
        "{error}"
    );
}

#[test]
fn workflow_validation_applies_the_schema_and_names_a_broken_one() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    fixture_plugin(&plugins, "echo", SIZE_SCHEMA);
    fixture_plugin(&plugins, "trap", "input_schema: { minimum: zero }");
    let host = host(&dir.path().join("cache"));
    let mut registry = StepRegistry::with_builtins();
    host.register(&mut registry, &[plugins]);

    let errors = Workflow::parse(
        r#"
name: sizes
steps:
  good: { uses: wasm/echo, with: { size: M, count: 2 } }
  bad: { uses: wasm/echo, with: { size: XXL } }
  broken: { uses: wasm/trap }
"#,
        "sizes.yaml",
        &registry,
    )
    .unwrap_err()
    .to_string();
    for expected in [
        r#"invalid `with` for `wasm/echo`: `with.size`: "XXL" is not one of"#,
        "step kind `wasm/trap` cannot be used",
        r#"input_schema: `minimum`: "zero" is not of type "number""#,
    ] {
        assert!(
            errors.contains(expected),
            "missing {expected:?} in:\n{errors}"
        );
    }
    assert!(!errors.contains("`good`"), "{errors}");
}
