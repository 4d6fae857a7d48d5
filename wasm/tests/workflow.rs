//! Plugins through the real engine: registered beside the built-in kinds, validated when a
//! workflow loads, run by `Engine` over a sled store with the credit hook charging.

mod common;

use std::sync::Arc;

use common::*;
use serde_json::{Map, json};
use techpack_engine::{
    CreditHook, Engine, EngineConfig, Ledger, NodeHook, NodeRecord, NodeStatus, Resources,
    RunReport, RunStatus, SledStore, StateStore, StepRegistry, Workflow,
};

fn node<'a>(report: &'a RunReport, id: &str) -> &'a NodeRecord {
    report.nodes.iter().find(|n| n.step_id == id).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_plugin_fails_only_its_step_and_its_credits_are_refunded() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    fixture_plugin(&plugins, "infinite_loop", "limits: { timeout: 300ms }");
    fixture_plugin_named(
        &plugins,
        "infinite_loop",
        "slow-loop",
        "limits: { timeout: 60s }",
    );
    fixture_plugin(&plugins, "trap", "");
    fixture_plugin(&plugins, "echo", "");
    let host = host(&dir.path().join("cache"));
    let mut registry = StepRegistry::with_builtins();
    let statuses = host.register(&mut registry, &[plugins, repo_plugins()]);
    assert!(statuses.iter().all(|s| s.result.is_ok()), "{statuses:?}");

    let store: Arc<dyn StateStore> = Arc::new(SledStore::open(&dir.path().join("db")).unwrap());
    let hook: Arc<dyn NodeHook> = Arc::new(CreditHook::open(store.as_ref()).unwrap());
    Ledger::new(store.as_ref())
        .grant("alice", 100, "grant-1")
        .unwrap();
    let engine = Engine::new(
        store.clone(),
        registry.clone(),
        vec![hook],
        Resources::new(),
        EngineConfig::default(),
    );

    let workflow = Workflow::parse(
        r#"
name: hostile-neighbours
inputs: { who: { type: string, default: world } }
steps:
  hostile: { uses: wasm/infinite-loop, credits: 10 }
  stuck: { uses: wasm/slow-loop, credits: 7, timeout: 200ms }
  crash: { uses: wasm/trap, credits: 5, retry: { attempts: 3, initial_delay: 10ms } }
  blocked: { uses: core/echo, needs: hostile }
  greet: { uses: wasm/echo, credits: 2, with: { hello: "${{ inputs.who }}" } }
  after: { uses: core/echo, needs: greet, with: { value: "${{ steps.greet.output.with.hello }}" } }
  sibling: { uses: core/echo, credits: 1, with: { value: 1 } }
"#,
        "hostile.yaml",
        &registry,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let run = engine
        .create_run(&workflow, Map::new(), Some("alice".to_string()))
        .await
        .unwrap();
    let report = engine.execute(&run.id).await.unwrap();

    assert_eq!(report.run.status, RunStatus::Failed);
    let hostile = node(&report, "hostile");
    assert_eq!(hostile.status, NodeStatus::Failed);
    assert_eq!(
        hostile.error.as_deref(),
        Some("plugin `infinite-loop` timed out after 300ms")
    );
    assert_eq!(hostile.error_code.as_deref(), Some("plugin_timeout"));
    // The engine's own per-attempt timeout drops the running plugin.
    let stuck = node(&report, "stuck");
    assert_eq!(
        (stuck.status, stuck.error.as_deref()),
        (NodeStatus::Failed, Some("timed out after 200ms"))
    );
    // A trap is permanent: not retried even though the step allows 3 attempts.
    let crash = node(&report, "crash");
    assert_eq!((crash.status, crash.attempt), (NodeStatus::Failed, 1));
    assert_eq!(
        crash.error.as_deref(),
        Some(
            "plugin `trap` trapped: calling techpack_run: wasm `unreachable` instruction executed"
        )
    );
    assert_eq!(node(&report, "blocked").status, NodeStatus::Cancelled);
    // Everything else ran, plugins included.
    assert_eq!(node(&report, "greet").status, NodeStatus::Succeeded);
    assert_eq!(node(&report, "after").output, Some(json!("world").into()));
    assert_eq!(node(&report, "sibling").output, Some(json!(1).into()));
    // Only the steps that succeeded were charged (2 + 1); 10 + 7 + 5 came back.
    let balance = Ledger::new(store.as_ref()).balance("alice").unwrap();
    assert_eq!(
        (balance.available, balance.pending, balance.posted),
        (97, 0, 3)
    );
}

#[test]
fn a_workflow_naming_a_missing_or_broken_plugin_fails_validation_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    fixture_plugin(&plugins, "missing_export", "");
    fixture_plugin(&plugins, "wrong_signature", "");
    let host = host(&dir.path().join("cache"));
    let mut registry = StepRegistry::with_builtins();
    host.register(&mut registry, &[plugins, repo_plugins()]);

    let errors = Workflow::parse(
        r#"
name: broken
steps:
  a: { uses: wasm/missing-export }
  b: { uses: wasm/wrong-signature }
  c: { uses: wasm/nope }
  d: { uses: wasm/grade-sizes, with: { sizes: [S, M] } }
"#,
        "broken.yaml",
        &registry,
    )
    .unwrap_err()
    .to_string();
    for expected in [
        "step kind `wasm/missing-export` cannot be used: plugin `missing-export` does not follow the plugin ABI: \
         export `techpack_run` is missing",
        "step kind `wasm/wrong-signature` cannot be used: plugin `wrong-signature` does not follow the plugin ABI: \
         export `techpack_run` has type (i32) -> i32, expected (i32, i32) -> i64",
        "unknown step kind `wasm/nope`",
        "invalid `with` for `wasm/grade-sizes`: `with`: \"base_size\" is a required property",
    ] {
        assert!(
            errors.contains(expected),
            "missing {expected:?} in:\n{errors}"
        );
    }
}

#[test]
fn a_broken_manifest_and_a_duplicate_are_reported_per_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("first"), dir.path().join("second"));
    fixture_plugin(&first, "echo", "");
    fixture_plugin(&second, "echo", "");
    fixture_plugin(&first, "trap", "limits: { memory: lots }");
    fixture_plugin(&first, "plugin_error", "capabilities: [network]");
    std::fs::create_dir_all(first.join("not-a-plugin")).unwrap();
    let host = host(&dir.path().join("cache"));
    let mut registry = StepRegistry::with_builtins();
    let statuses = host.register(&mut registry, &[first.clone(), second.clone()]);
    let summary: Vec<(String, String)> = statuses
        .iter()
        .map(|s| {
            (
                s.name.clone(),
                s.result
                    .as_ref()
                    .map(|_| "ok".to_string())
                    .unwrap_or_else(|e| e.to_string()),
            )
        })
        .collect();
    assert_eq!(summary.len(), 4, "{summary:?}");
    assert_eq!(summary[0], ("echo".to_string(), "ok".to_string()));
    assert_eq!(summary[1].0, "plugin-error");
    assert!(
        summary[1]
            .1
            .contains("asks for capability `network`, which this host does not grant"),
        "{summary:?}"
    );
    assert_eq!(summary[2].0, "trap");
    assert!(
        summary[2]
            .1
            .contains("plugin.yaml: limits.memory: unknown unit `lots`"),
        "{summary:?}"
    );
    assert_eq!(summary[3].0, "echo");
    assert!(
        summary[3].1.starts_with("plugin `echo` is also in "),
        "{summary:?}"
    );
    // The first echo stays usable; the broken ones say why.
    assert!(registry.get("wasm/echo").is_some());
    assert!(
        registry
            .unavailable_reason("wasm/trap")
            .unwrap()
            .contains("unknown unit `lots`")
    );
}

/// The `grade_sizes` step as `workflows/tech-pack-v2.yaml` uses it, with `core/echo`
/// standing in for `techpack/analyze-base-views` (same output shape).
#[tokio::test]
async fn grade_sizes_grades_what_the_base_views_measured_and_is_skipped_without_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(&dir.path().join("cache"));
    let mut registry = StepRegistry::with_builtins();
    host.register(&mut registry, &[repo_plugins()]);
    let store: Arc<dyn StateStore> = Arc::new(SledStore::open(&dir.path().join("db")).unwrap());
    let engine = Engine::new(
        store.clone(),
        registry.clone(),
        Vec::new(),
        Resources::new(),
        EngineConfig::default(),
    );
    let workflow = Workflow::parse(
        r#"
name: grading
inputs:
  sizes: { type: array }
  base_size: { type: string, default: M }
  grade_rules: { type: object }
  default_grade: { type: number }
steps:
  base_views:
    uses: core/echo
    with:
      value:
        tech_pack:
          points_of_measure:
            - { code: A, name: Chest width, value: 520, unit: mm, tolerance: 10, confidence: 0.9 }
            - { code: B, name: Body length, value: 700, unit: mm, tolerance: null, confidence: 0.7 }
            - { code: C, name: Hem width, value: null, unit: mm, tolerance: null, confidence: 0.1 }
  grade_sizes:
    uses: wasm/grade-sizes
    needs: base_views
    when: ${{ inputs.sizes }}
    with:
      base_size: ${{ inputs.base_size }}
      sizes: ${{ inputs.sizes }}
      points_of_measure: ${{ steps.base_views.output.tech_pack.points_of_measure }}
      grade_rules: ${{ inputs.grade_rules }}
      default_grade: ${{ inputs.default_grade }}
      unit: mm
      precision: 1
"#,
        "grading.yaml",
        &registry,
    )
    .unwrap_or_else(|e| panic!("{e}"));

    let mut inputs = Map::new();
    inputs.insert("sizes".into(), json!(["S", "M", "L", "XL"]));
    inputs.insert("grade_rules".into(), json!({ "A": 20 }));
    inputs.insert("default_grade".into(), json!(15));
    let run = engine.create_run(&workflow, inputs, None).await.unwrap();
    let report = engine.execute(&run.id).await.unwrap();
    assert_eq!(
        report.run.status,
        RunStatus::Succeeded,
        "{:?}",
        node(&report, "grade_sizes").error
    );
    let chart = node(&report, "grade_sizes")
        .output
        .as_ref()
        .unwrap()
        .value()
        .unwrap();
    assert_eq!(
        chart["points_of_measure"][0]["values"],
        json!({"S": 500, "M": 520, "L": 540, "XL": 560})
    );
    assert_eq!(chart["points_of_measure"][0]["min"]["XL"], json!(550));
    assert_eq!(
        chart["points_of_measure"][1]["values"],
        json!({"S": 685, "M": 700, "L": 715, "XL": 730})
    );
    assert_eq!(chart["skipped"][0]["code"], json!("C"));
    // What the plugin logged (`techpack.log`) is kept with its attempt.
    let logs = store.attempt_logs(&run.id, "grade_sizes").unwrap();
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert!(
        logs[0].lines[0]
            .text
            .starts_with("graded 2 points of measure over "),
        "{logs:?}"
    );

    // Without `sizes` the optional step is skipped and the run still succeeds.
    let run = engine
        .create_run(&workflow, Map::new(), None)
        .await
        .unwrap();
    let report = engine.execute(&run.id).await.unwrap();
    assert_eq!(report.run.status, RunStatus::Succeeded);
    assert_eq!(node(&report, "grade_sizes").status, NodeStatus::Skipped);
}
