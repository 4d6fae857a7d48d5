//! Retry (the same run goes on from its failed and cancelled steps) and replay (a new run from
//! a chosen step) against a real sled store on disk, with a side-effect log to tell which
//! steps ran, and the credit ledger to tell what was charged.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use techpack_engine::credits::ReservationState;
use techpack_engine::{
    AttemptOutcome, CreditHook, Engine, EngineConfig, EngineError, Ledger, NodeHook, NodeRecord,
    NodeStatus, Resources, RunReport, RunStatus, SledStore, StateStore, StepRegistry, Workflow,
};

/// An engine on the store in `dir`, charging through a verified credit hook. Opening it again
/// after the previous one was dropped is a restart: everything comes from the store.
async fn engine_at(dir: &Path) -> Engine {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let store: Arc<dyn StateStore> = loop {
        match SledStore::open(dir) {
            Ok(store) => break Arc::new(store),
            // sled lets go of the directory lock shortly after its last handle is dropped.
            Err(EngineError::StoreLocked { .. }) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("{e}"),
        }
    };
    let hooks: Vec<Arc<dyn NodeHook>> = vec![Arc::new(CreditHook::open(store.as_ref()).unwrap())];
    Engine::new(
        store,
        StepRegistry::with_builtins(),
        hooks,
        Resources::new(),
        EngineConfig::default(),
    )
}

fn workflow(yaml: &str) -> Workflow {
    Workflow::parse(yaml, "test.yaml", &StepRegistry::with_builtins())
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn run_as(engine: &Engine, owner: Option<&str>, yaml: &str, inputs: Value) -> RunReport {
    let Value::Object(inputs) = inputs else {
        panic!("inputs must be an object")
    };
    let record = engine
        .create_run(&workflow(yaml), inputs, owner.map(str::to_string))
        .await
        .unwrap();
    engine.execute(&record.id).await.unwrap()
}

fn node<'a>(report: &'a RunReport, id: &str) -> &'a NodeRecord {
    report.nodes.iter().find(|n| n.step_id == id).unwrap()
}

fn ledger(engine: &Engine) -> Ledger<'_> {
    Ledger::new(engine.store().as_ref())
}

/// How many times the step with idempotency key `key` started, by the side-effect log.
fn starts(log: &Path, key: &str) -> usize {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter(|line| line.starts_with(&format!("start {key} ")))
        .count()
}

#[tokio::test]
async fn a_retried_run_runs_only_its_failed_step_and_what_follows_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("side-effects.log");
    let db = dir.path().join("db");
    let yaml = format!(
        r#"
name: t
steps:
  fetch: {{ uses: core/sleep, with: {{ ms: 1, log: "{log}" }} }}
  side: {{ uses: core/sleep, with: {{ ms: 1, log: "{log}" }} }}
  flaky: {{ uses: core/fail, needs: fetch, with: {{ times: 1, message: "upstream is down" }} }}
  finish: {{ uses: core/sleep, needs: [flaky, side], with: {{ ms: 1, log: "{log}" }} }}
"#,
        log = log.display()
    );
    let engine = engine_at(&db).await;
    let failed = run_as(&engine, None, &yaml, json!({})).await;
    let id = failed.run.id.clone();
    assert_eq!(failed.run.status, RunStatus::Failed);
    assert_eq!(node(&failed, "flaky").status, NodeStatus::Failed);
    assert_eq!(node(&failed, "finish").status, NodeStatus::Cancelled);
    assert_eq!(starts(&log, &format!("{id}/finish")), 0);
    drop(engine);

    // After a restart: the same run goes on.
    let engine = engine_at(&db).await;
    let pending = engine.retry(&id).await.unwrap();
    assert_eq!(pending.id, id);
    assert_eq!(pending.status, RunStatus::Pending);
    let report = engine.execute(&id).await.unwrap();
    assert_eq!(
        report.run.status,
        RunStatus::Succeeded,
        "{:?}",
        report.run.error
    );
    assert_eq!(report.run.error, None);
    assert_eq!(report.run.retries, 1);

    // What had succeeded ran once; the failed step and its dependent ran again.
    assert_eq!(starts(&log, &format!("{id}/fetch")), 1);
    assert_eq!(starts(&log, &format!("{id}/side")), 1);
    assert_eq!(starts(&log, &format!("{id}/finish")), 1);
    assert_eq!(
        node(&report, "fetch").output,
        node(&failed, "fetch").output,
        "a kept step keeps its output"
    );

    // Attempts go on from where they were, and the failed one stays in the history.
    let flaky = node(&report, "flaky");
    assert_eq!(flaky.status, NodeStatus::Succeeded);
    assert_eq!(flaky.attempt, 2);
    assert_eq!(flaky.output, Some(json!({ "attempts": 2 }).into()));
    let history: Vec<_> = flaky
        .attempts
        .iter()
        .map(|a| (a.attempt, a.outcome, a.error.as_deref()))
        .collect();
    assert_eq!(
        history,
        [
            (
                1,
                AttemptOutcome::Failed,
                Some("upstream is down (attempt 1)")
            ),
            (2, AttemptOutcome::Succeeded, None),
        ]
    );
    assert_eq!(node(&report, "fetch").attempt, 1);
}

#[tokio::test]
async fn a_retried_step_gets_its_retry_budget_again_and_attempts_keep_counting() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_at(dir.path()).await;
    let yaml = r#"
name: t
steps:
  flaky:
    uses: core/fail
    with: { times: 3 }
    retry: { attempts: 2, initial_delay: 1ms, max_delay: 2ms }
"#;
    let failed = run_as(&engine, None, yaml, json!({})).await;
    assert_eq!(node(&failed, "flaky").attempt, 2);
    engine.retry(&failed.run.id).await.unwrap();
    let report = engine.execute(&failed.run.id).await.unwrap();
    assert_eq!(report.run.status, RunStatus::Succeeded);
    let flaky = node(&report, "flaky");
    assert_eq!(flaky.attempt, 4);
    let outcomes: Vec<_> = flaky
        .attempts
        .iter()
        .map(|a| (a.attempt, a.round, a.outcome))
        .collect();
    assert_eq!(
        outcomes,
        [
            (1, 0, AttemptOutcome::Failed),
            (2, 0, AttemptOutcome::Failed),
            (3, 1, AttemptOutcome::Failed),
            (4, 1, AttemptOutcome::Succeeded),
        ]
    );
}

#[tokio::test]
async fn a_retried_paid_step_is_charged_once_under_a_new_reservation() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_at(dir.path()).await;
    ledger(&engine).grant("alice", 10, "payment-1").unwrap();
    let yaml = r#"
name: t
steps:
  detect: { uses: core/echo, credits: 2, with: { value: "bag" } }
  base_views: { uses: core/fail, needs: detect, credits: 3, with: { times: 1 } }
  export: { uses: core/echo, needs: base_views, credits: 1, with: { value: "done" } }
"#;
    let failed = run_as(&engine, Some("alice"), yaml, json!({})).await;
    let id = failed.run.id.clone();
    assert_eq!(failed.run.status, RunStatus::Failed);
    let after_failure = ledger(&engine).balance("alice").unwrap();
    assert_eq!((after_failure.available, after_failure.posted), (8, 2));

    engine.retry(&id).await.unwrap();
    let report = engine.execute(&id).await.unwrap();
    assert_eq!(report.run.status, RunStatus::Succeeded);

    // Each step that succeeded is paid for once: detect before, base_views and export now.
    let balance = ledger(&engine).balance("alice").unwrap();
    assert_eq!(
        (balance.available, balance.pending, balance.posted),
        (4, 0, 6)
    );
    let reservations = |step: &str| {
        ledger(&engine)
            .reservations_for(&id, step)
            .unwrap()
            .into_iter()
            .map(|r| (r.id, r.state))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        reservations("base_views"),
        [
            (format!("{id}/base_views"), ReservationState::Voided),
            (format!("{id}/base_views/retry-1"), ReservationState::Posted),
        ]
    );
    assert_eq!(
        reservations("detect"),
        [(format!("{id}/detect"), ReservationState::Posted)]
    );
    assert_eq!(
        reservations("export"),
        [(format!("{id}/export/retry-1"), ReservationState::Posted)]
    );
    ledger(&engine).verify().unwrap();

    // Nothing is left to retry, so nothing more can be charged by retrying.
    assert!(matches!(
        engine.retry(&id).await,
        Err(EngineError::NothingToRetry(_))
    ));

    // A replay from the last step charges only that step, in the new run.
    let replay = engine.replay(&id, "export", Map::new()).await.unwrap();
    let replayed = engine.execute(&replay.id).await.unwrap();
    assert_eq!(replayed.run.status, RunStatus::Succeeded);
    let balance = ledger(&engine).balance("alice").unwrap();
    assert_eq!((balance.available, balance.posted), (3, 7));
    assert!(
        ledger(&engine)
            .reservations_for(&replay.id, "base_views")
            .unwrap()
            .is_empty(),
        "a step whose output was taken from the parent is not charged"
    );
    ledger(&engine).verify().unwrap();
}

#[tokio::test]
async fn a_replay_reuses_upstream_outputs_and_runs_the_rest_with_new_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("side-effects.log");
    let db = dir.path().join("db");
    let yaml = format!(
        r#"
name: t
inputs: {{ label: {{ type: string, default: "v1" }} }}
steps:
  fetch: {{ uses: core/sleep, with: {{ ms: 1, log: "{log}" }} }}
  analyze: {{ uses: core/echo, needs: fetch, with: {{ value: "${{{{ inputs.label }}}}" }} }}
  render: {{ uses: core/sleep, needs: analyze, with: {{ ms: 1, log: "{log}" }} }}
  title:
    uses: core/echo
    needs: [analyze, render]
    with: {{ value: "${{{{ steps.analyze.output }}}}-${{{{ inputs.label }}}}" }}
"#,
        log = log.display()
    );
    let engine = engine_at(&db).await;
    let parent = run_as(&engine, None, &yaml, json!({})).await;
    assert_eq!(parent.run.status, RunStatus::Succeeded);
    assert_eq!(node(&parent, "title").output, Some(json!("v1-v1").into()));
    drop(engine);

    // After a restart, from the store alone.
    let engine = engine_at(&db).await;
    let mut inputs = Map::new();
    inputs.insert("label".into(), json!("v2"));
    let record = engine
        .replay(&parent.run.id, "render", inputs)
        .await
        .unwrap();
    assert_ne!(record.id, parent.run.id);
    assert_eq!(
        record.parent_run_id.as_deref(),
        Some(parent.run.id.as_str())
    );
    assert_eq!(record.workflow_sha256, parent.run.workflow_sha256);
    let report = engine.execute(&record.id).await.unwrap();
    assert_eq!(report.run.status, RunStatus::Succeeded);
    assert_eq!(
        engine.report(&record.id).unwrap().run.parent_run_id,
        Some(parent.run.id.clone())
    );

    // Upstream steps did not run again: their outputs are the parent's.
    assert_eq!(starts(&log, &format!("{}/fetch", record.id)), 0);
    assert_eq!(starts(&log, &format!("{}/fetch", parent.run.id)), 1);
    for step in ["fetch", "analyze"] {
        let taken = node(&report, step);
        assert_eq!(taken.status, NodeStatus::Succeeded);
        assert_eq!(taken.output, node(&parent, step).output);
        assert_eq!(taken.reused_from.as_deref(), Some(parent.run.id.as_str()));
        assert_eq!(taken.attempt, 0);
    }
    // The replayed step and what follows it ran, the new input reaching them.
    assert_eq!(starts(&log, &format!("{}/render", record.id)), 1);
    assert_eq!(node(&report, "title").output, Some(json!("v1-v2").into()));
    assert_eq!(report.run.inputs["label"], json!("v2"));

    // Replayed from the top with the new input, every step sees it.
    let mut inputs = Map::new();
    inputs.insert("label".into(), json!("v3"));
    let again = engine
        .replay(&parent.run.id, "analyze", inputs)
        .await
        .unwrap();
    let report = engine.execute(&again.id).await.unwrap();
    assert_eq!(node(&report, "title").output, Some(json!("v3-v3").into()));
    assert_eq!(starts(&log, &format!("{}/fetch", again.id)), 0);

    // New inputs are checked like any run's.
    let mut bad = Map::new();
    bad.insert("colour".into(), json!("red"));
    let error = engine
        .replay(&parent.run.id, "render", bad)
        .await
        .unwrap_err();
    assert!(matches!(error, EngineError::Invalid(_)), "{error}");
    assert!(
        error.to_string().contains("unknown input `colour`"),
        "{error}"
    );
}

#[tokio::test]
async fn retry_and_replay_refuse_what_makes_no_sense() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_at(dir.path()).await;
    let yaml = "name: t\nsteps:\n  a: { uses: core/echo, with: { value: 1 } }\n  b: { uses: core/echo, needs: a }\n";

    // A succeeded run has nothing to retry.
    let done = run_as(&engine, None, yaml, json!({})).await;
    let error = engine.retry(&done.run.id).await.unwrap_err();
    assert!(matches!(error, EngineError::NothingToRetry(_)), "{error}");
    assert!(error.to_string().contains("nothing to retry"), "{error}");

    // An unknown step is named, with the steps there are.
    let error = engine
        .replay(&done.run.id, "nope", Map::new())
        .await
        .unwrap_err();
    assert!(matches!(error, EngineError::UnknownStep { .. }), "{error}");
    assert!(
        error
            .to_string()
            .ends_with("has no step `nope`; its steps: a, b"),
        "{error}"
    );

    // A run that has not finished is resumed, not retried or replayed.
    let pending = engine
        .create_run(&workflow(yaml), Map::new(), None)
        .await
        .unwrap();
    for error in [
        engine.retry(&pending.id).await.unwrap_err(),
        engine
            .replay(&pending.id, "a", Map::new())
            .await
            .unwrap_err(),
    ] {
        assert!(
            matches!(
                error,
                EngineError::RunUnfinished {
                    status: "pending",
                    ..
                }
            ),
            "{error}"
        );
    }

    // Nor while it executes.
    let slow = engine
        .create_run(
            &workflow("name: slow\nsteps:\n  wait: { uses: core/sleep, with: { ms: 60000 } }\n"),
            Map::new(),
            None,
        )
        .await
        .unwrap();
    let mut events = engine.subscribe();
    let runner = engine.clone();
    let id = slow.id.clone();
    let execution = tokio::spawn(async move { runner.execute(&id).await });
    while let Ok(event) = events.recv().await {
        if event.run_id == slow.id && event.step_id.as_deref() == Some("wait") {
            break;
        }
    }
    assert!(matches!(
        engine.retry(&slow.id).await,
        Err(EngineError::RunActive(_))
    ));
    assert!(engine.cancel(&slow.id));
    let cancelled = execution.await.unwrap().unwrap();
    assert_eq!(cancelled.run.status, RunStatus::Cancelled);

    // An unknown run is not found.
    assert!(matches!(
        engine.retry("no-such-run").await,
        Err(EngineError::RunNotFound(_))
    ));

    // A cancelled run is retried: every step it did not finish runs.
    engine.cancel_stored(&pending.id).await.unwrap();
    engine.retry(&pending.id).await.unwrap();
    let report = engine.execute(&pending.id).await.unwrap();
    assert_eq!(report.run.status, RunStatus::Succeeded);
    assert_eq!(node(&report, "b").status, NodeStatus::Succeeded);
}
