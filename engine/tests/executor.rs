//! The executor against a real sled store on disk: scheduling, failure, retries, timeouts,
//! cancellation, hooks and resume.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};
use techpack_engine::credits::{AppliedOperation, CreditError};
use techpack_engine::{
    Engine, EngineConfig, EngineError, FailureKind, HookError, LedgerTables, NodeHook,
    NodeHookContext, NodeRecord, NodeStatus, Resources, RunStatus, SledStore, StateStore,
    StepRegistry, Workflow,
};

fn engine_with(dir: &Path, hooks: Vec<Arc<dyn NodeHook>>) -> Engine {
    let store = SledStore::open(dir).unwrap();
    Engine::new(
        Arc::new(store),
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

async fn run(engine: &Engine, yaml: &str, inputs: Value) -> techpack_engine::RunReport {
    let wf = workflow(yaml);
    let Value::Object(inputs) = inputs else {
        panic!()
    };
    let record = engine.create_run(&wf, inputs, None).await.unwrap();
    engine.execute(&record.id).await.unwrap()
}

/// The store holds the workflow's text under its sha256.
fn assert_text_stored(engine: &Engine, wf: &Workflow) {
    assert_eq!(
        engine
            .store()
            .workflow_source(&wf.sha256)
            .unwrap()
            .as_deref(),
        Some(wf.source.as_str())
    );
}

fn node<'a>(report: &'a techpack_engine::RunReport, id: &str) -> &'a NodeRecord {
    report.nodes.iter().find(|n| n.step_id == id).unwrap()
}

#[tokio::test]
async fn independent_steps_overlap_and_outputs_flow_downstream() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(dir.path(), vec![]);
    let report = run(
        &engine,
        r#"
name: t
inputs: { n: { type: integer, default: 2 } }
steps:
  a: { uses: core/sleep, with: { ms: 300 } }
  b: { uses: core/sleep, with: { ms: 300 } }
  c:
    uses: core/echo
    needs: [a, b]
    with: { value: "${{ steps.a.output.slept_ms + steps.b.output.slept_ms * inputs.n }}" }
"#,
        json!({}),
    )
    .await;
    assert_eq!(report.run.status, RunStatus::Succeeded);
    let (a, b) = (node(&report, "a"), node(&report, "b"));
    assert!(
        a.started_at.unwrap() < b.finished_at.unwrap()
            && b.started_at.unwrap() < a.finished_at.unwrap(),
        "independent steps did not run at the same time: {a:?} {b:?}"
    );
    assert_eq!(node(&report, "c").output, Some(json!(900).into()));
    assert!(node(&report, "c").started_at.unwrap() >= a.finished_at.unwrap());
}

#[tokio::test]
async fn a_failed_step_cancels_its_dependents_and_spares_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(dir.path(), vec![]);
    let report = run(
        &engine,
        r#"
name: t
steps:
  broken: { uses: core/fail, with: { message: "scanner offline" } }
  after: { uses: core/echo, needs: broken }
  after_after: { uses: core/echo, needs: after }
  sibling: { uses: core/echo, with: { value: 1 } }
"#,
        json!({}),
    )
    .await;
    assert_eq!(report.run.status, RunStatus::Failed);
    assert!(
        report
            .run
            .error
            .as_deref()
            .unwrap()
            .contains("scanner offline")
    );
    assert_eq!(node(&report, "broken").status, NodeStatus::Failed);
    assert_eq!(node(&report, "after").status, NodeStatus::Cancelled);
    assert_eq!(
        node(&report, "after").error.as_deref(),
        Some("needs `broken`, which failed")
    );
    assert_eq!(
        node(&report, "after_after").error.as_deref(),
        Some("needs `after`, which was cancelled")
    );
    assert_eq!(node(&report, "sibling").status, NodeStatus::Succeeded);
}

#[tokio::test]
async fn a_skipped_step_satisfies_the_steps_that_need_it() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(dir.path(), vec![]);
    let yaml = r#"
name: t
inputs: { extra: { type: boolean, default: false } }
steps:
  optional: { uses: core/echo, when: "${{ inputs.extra }}", with: { value: 1 } }
  last: { uses: core/echo, needs: optional, with: { value: "${{ steps.optional.status }}" } }
"#;
    let report = run(&engine, yaml, json!({})).await;
    assert_eq!(report.run.status, RunStatus::Succeeded);
    assert_eq!(node(&report, "optional").status, NodeStatus::Skipped);
    assert_eq!(node(&report, "last").output, Some(json!("skipped").into()));
    let report = run(&engine, yaml, json!({"extra": true})).await;
    assert_eq!(node(&report, "optional").status, NodeStatus::Succeeded);
}

#[tokio::test]
async fn retries_until_success_or_attempts_run_out() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(dir.path(), vec![]);
    let report = run(
        &engine,
        r#"
name: t
defaults: { retry: { attempts: 3, initial_delay: 10ms, max_delay: 20ms } }
steps:
  recovers: { uses: core/fail, with: { times: 2 } }
  gives_up: { uses: core/fail, with: { times: 5 } }
"#,
        json!({}),
    )
    .await;
    let recovers = node(&report, "recovers");
    assert_eq!(
        (recovers.status, recovers.attempt),
        (NodeStatus::Succeeded, 3)
    );
    assert_eq!(recovers.output, Some(json!({"attempts": 3}).into()));
    let gives_up = node(&report, "gives_up");
    assert_eq!((gives_up.status, gives_up.attempt), (NodeStatus::Failed, 3));
    assert!(gives_up.error.as_deref().unwrap().contains("attempt 3"));
}

#[tokio::test]
async fn each_attempt_has_its_own_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(dir.path(), vec![]);
    let report = run(
        &engine,
        r#"
name: t
steps:
  slow:
    uses: core/sleep
    with: { ms: 10000 }
    timeout: 100ms
    retry: { attempts: 2, initial_delay: 10ms }
"#,
        json!({}),
    )
    .await;
    let slow = node(&report, "slow");
    assert_eq!((slow.status, slow.attempt), (NodeStatus::Failed, 2));
    assert_eq!(slow.error.as_deref(), Some("timed out after 100ms"));
}

#[tokio::test]
async fn cancelling_a_run_stops_running_steps_and_persists_the_state() {
    let dir = tempfile::tempdir().unwrap();
    {
        let engine = engine_with(dir.path(), vec![]);
        let wf = workflow(
            r#"
name: t
steps:
  long: { uses: core/sleep, with: { ms: 30000 } }
  later: { uses: core/echo, needs: long }
"#,
        );
        let record = engine.create_run(&wf, Map::new(), None).await.unwrap();
        let canceller = engine.clone();
        let id = record.id.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            assert!(canceller.cancel(&id));
        });
        let started = std::time::Instant::now();
        let report = engine.execute(&record.id).await.unwrap();
        assert!(
            started.elapsed().as_secs() < 10,
            "cancel did not stop the running step"
        );
        assert_eq!(report.run.status, RunStatus::Cancelled);
    }
    // What the store holds after the process let go of it.
    let store = SledStore::open(dir.path()).unwrap();
    let run = store.runs().unwrap().remove(0);
    assert_eq!(run.status, RunStatus::Cancelled);
    let nodes = store.nodes(&run.id).unwrap();
    assert!(
        nodes.iter().all(|n| n.status == NodeStatus::Cancelled),
        "{nodes:?}"
    );
}

/// Records every hook call, and writes a counter through the transaction.
#[derive(Default)]
struct RecordingHook {
    calls: Mutex<Vec<String>>,
    refuse_credits_above: Option<u64>,
    /// Take part only in steps with credits (as the credit hook does).
    paid_steps_only: bool,
}

impl RecordingHook {
    /// Counts the call in the transaction, as an operation record of the ledger's tables.
    fn record(&self, txn: &mut dyn LedgerTables, call: String) -> Result<(), HookError> {
        let key = format!("calls/{call}");
        let count = txn.operation(&key)?.map(|op| op.seq).unwrap_or(0);
        txn.put_operation(
            &key,
            &AppliedOperation {
                params: call.clone(),
                seq: count + 1,
            },
        )?;
        self.calls.lock().unwrap().push(call);
        Ok(())
    }
}

impl NodeHook for RecordingHook {
    fn takes_part(
        &self,
        _run: &techpack_engine::RunRecord,
        step: &techpack_engine::workflow::StepDef,
    ) -> bool {
        !self.paid_steps_only || step.credits > 0
    }
    fn before_start(
        &self,
        ctx: &NodeHookContext,
        txn: &mut dyn LedgerTables,
    ) -> Result<(), HookError> {
        if self
            .refuse_credits_above
            .is_some_and(|max| ctx.step.credits > max)
        {
            return Err(HookError::Refused(
                CreditError::InsufficientCredits {
                    step: ctx.step.id.clone(),
                    user: "tester".into(),
                    needed: ctx.step.credits,
                    available: 5,
                }
                .refusal(),
            ));
        }
        self.record(
            txn,
            format!("{}:before_start:{}", ctx.step.id, ctx.node.attempt),
        )
    }
    fn after_success(
        &self,
        ctx: &NodeHookContext,
        txn: &mut dyn LedgerTables,
    ) -> Result<(), HookError> {
        self.record(txn, format!("{}:after_success", ctx.step.id))
    }
    fn after_failure(
        &self,
        ctx: &NodeHookContext,
        kind: FailureKind,
        txn: &mut dyn LedgerTables,
    ) -> Result<(), HookError> {
        self.record(txn, format!("{}:after_failure:{kind:?}", ctx.step.id))
    }
    fn on_resume(
        &self,
        ctx: &NodeHookContext,
        txn: &mut dyn LedgerTables,
    ) -> Result<(), HookError> {
        self.record(
            txn,
            format!("{}:on_resume:{}", ctx.step.id, ctx.node.attempt),
        )
    }
}

/// How many times the hook's transactions recorded `call`.
fn recorded(store: &dyn StateStore, call: &str) -> Option<u64> {
    let mut count = None;
    store
        .read_ledger(&mut |t| {
            count = t.operation(&format!("calls/{call}"))?.map(|op| op.seq);
            Ok(())
        })
        .unwrap();
    count
}

fn calls_of(hook: &RecordingHook, step: &str) -> Vec<String> {
    hook.calls
        .lock()
        .unwrap()
        .iter()
        .filter(|c| c.starts_with(&format!("{step}:")))
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_hook_is_called_only_for_the_steps_it_takes_part_in() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Arc::new(RecordingHook {
        paid_steps_only: true,
        ..RecordingHook::default()
    });
    let engine = engine_with(dir.path(), vec![hook.clone()]);
    let report = run(
        &engine,
        r#"
name: t
steps:
  free: { uses: core/sleep, with: { ms: 5 } }
  paid: { uses: core/echo, needs: free, credits: 2 }
  broken: { uses: core/fail }
"#,
        json!({}),
    )
    .await;
    assert_eq!(report.run.status, RunStatus::Failed);
    assert!(calls_of(&hook, "free").is_empty());
    assert!(calls_of(&hook, "broken").is_empty());
    assert_eq!(
        calls_of(&hook, "paid"),
        ["paid:before_start:1", "paid:after_success"]
    );
    // The steps it skipped still have their records.
    assert_eq!(node(&report, "free").status, NodeStatus::Succeeded);
    assert_eq!(node(&report, "broken").status, NodeStatus::Failed);
}

#[tokio::test]
async fn hooks_are_called_once_per_transition_in_lifecycle_order() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Arc::new(RecordingHook::default());
    let engine = engine_with(dir.path(), vec![hook.clone()]);
    let report = run(
        &engine,
        r#"
name: t
steps:
  ok: { uses: core/echo }
  flaky: { uses: core/fail, with: { times: 1 }, retry: { attempts: 2, initial_delay: 10ms } }
  broken: { uses: core/fail }
  blocked: { uses: core/echo, needs: broken }
  skipped: { uses: core/echo, when: false }
"#,
        json!({}),
    )
    .await;
    assert_eq!(report.run.status, RunStatus::Failed);
    assert_eq!(
        calls_of(&hook, "ok"),
        ["ok:before_start:1", "ok:after_success"]
    );
    // A retry is not a new start: before_start once, then the final outcome.
    assert_eq!(
        calls_of(&hook, "flaky"),
        ["flaky:before_start:1", "flaky:after_success"]
    );
    assert_eq!(
        calls_of(&hook, "broken"),
        ["broken:before_start:1", "broken:after_failure:Failed"]
    );
    assert_eq!(
        calls_of(&hook, "blocked"),
        ["blocked:after_failure:Cancelled"]
    );
    assert_eq!(
        calls_of(&hook, "skipped"),
        ["skipped:after_failure:Skipped"]
    );
    // The hook's writes were committed with the transitions.
    let store = engine.store();
    assert_eq!(recorded(store.as_ref(), "ok:after_success"), Some(1));
    assert_eq!(hook.calls.lock().unwrap().len(), 8);
}

#[tokio::test]
async fn a_refusing_hook_keeps_the_step_from_starting() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("side-effects.log");
    let hook = Arc::new(RecordingHook {
        refuse_credits_above: Some(5),
        ..Default::default()
    });
    let engine = engine_with(&dir.path().join("db"), vec![hook.clone()]);
    let yaml = format!(
        r#"
name: t
steps:
  cheap: {{ uses: core/echo, credits: 3 }}
  expensive: {{ uses: core/sleep, credits: 9, with: {{ ms: 1, log: "{}" }} }}
  downstream: {{ uses: core/echo, needs: expensive }}
"#,
        log.display()
    );
    let report = run(&engine, &yaml, json!({})).await;
    let expensive = node(&report, "expensive");
    assert_eq!(expensive.status, NodeStatus::Failed);
    assert_eq!(
        expensive.error.as_deref(),
        Some("insufficient credits: step `expensive` needs 9, tester has 5 available")
    );
    assert_eq!(
        expensive.error_code.as_deref(),
        Some("insufficient_credits"),
        "the hook's code, carried by the executor unread"
    );
    assert!(!log.exists(), "a refused step must not run");
    assert_eq!(node(&report, "cheap").status, NodeStatus::Succeeded);
    assert_eq!(node(&report, "downstream").status, NodeStatus::Cancelled);
    // Nothing of the refused transition was written.
    assert_eq!(
        recorded(engine.store().as_ref(), "expensive:before_start:1"),
        None
    );
    assert_eq!(calls_of(&hook, "expensive"), Vec::<String>::new());
}

#[tokio::test]
async fn resume_keeps_finished_steps_and_reruns_the_interrupted_one_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("side-effects.log");
    let hook = Arc::new(RecordingHook::default());
    let engine = engine_with(&dir.path().join("db"), vec![hook.clone()]);
    let wf = workflow(&format!(
        r#"
name: t
steps:
  done: {{ uses: core/sleep, with: {{ ms: 1, log: "{log}" }} }}
  interrupted: {{ uses: core/sleep, needs: done, with: {{ ms: 1, log: "{log}" }} }}
  rest: {{ uses: core/echo, needs: interrupted, with: {{ value: "${{{{ steps.done.output }}}}" }} }}
"#,
        log = log.display()
    ));
    let run_record = engine.create_run(&wf, Map::new(), None).await.unwrap();
    // The state a crash leaves: `done` finished, `interrupted` mid-attempt, run running.
    let mut done = NodeRecord::pending(&run_record.id, "done");
    done.status = NodeStatus::Succeeded;
    done.attempt = 1;
    done.output = Some(json!({"from": "before the crash"}).into());
    let mut interrupted = NodeRecord::pending(&run_record.id, "interrupted");
    interrupted.status = NodeStatus::Running;
    interrupted.attempt = 1;
    let mut running = run_record.clone();
    running.status = RunStatus::Running;
    let store = engine.store();
    store.commit(Some(&done), Some(&running), None).unwrap();
    store.commit(Some(&interrupted), None, None).unwrap();

    assert_eq!(engine.unfinished_runs().unwrap().len(), 1);
    let report = engine.execute(&run_record.id).await.unwrap();
    assert_eq!(report.run.status, RunStatus::Succeeded);
    assert_eq!(report.run.resumes, 1);
    let log = std::fs::read_to_string(&log).unwrap();
    let key = format!("{}/interrupted", run_record.id);
    assert_eq!(
        log,
        format!("start {key} attempt=2\nend {key} attempt=2\n"),
        "only the interrupted step ran again"
    );
    assert_eq!(
        node(&report, "rest").output,
        Some(json!({"from": "before the crash"}).into())
    );
    assert_eq!(
        calls_of(&hook, "interrupted"),
        ["interrupted:on_resume:2", "interrupted:after_success"]
    );
    assert!(calls_of(&hook, "done").is_empty());
    assert!(matches!(
        engine.execute(&run_record.id).await,
        Err(EngineError::RunFinished { .. })
    ));
}

#[tokio::test]
async fn a_run_keeps_the_workflow_text_it_started_with() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = workflow("name: t\nsteps:\n  a: { uses: core/echo, with: { value: v1 } }\n");
    let record = {
        let engine = engine_with(dir.path(), vec![]);
        let record = engine.create_run(&v1, Map::new(), None).await.unwrap();
        // A second run of the same text stores the text once.
        engine.create_run(&v1, Map::new(), None).await.unwrap();
        record
    };
    // The file is edited, and a new process (with nothing cached) executes the run.
    let _v2 = workflow("name: t\nsteps:\n  a: { uses: core/echo, with: { value: v2 } }\n");
    let engine = engine_with(dir.path(), vec![]);
    let report = engine.execute(&record.id).await.unwrap();
    assert_eq!(report.nodes[0].output, Some(json!("v1").into()));
    assert_eq!(report.run.workflow_sha256, v1.sha256);
    assert_text_stored(&engine, &v1);
}

#[tokio::test]
async fn steps_that_have_not_started_have_no_record_and_are_reported_pending() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(dir.path(), vec![]);
    let wf =
        workflow("name: t\nsteps:\n  b: { uses: core/echo }\n  a: { uses: core/echo, needs: b }\n");
    let record = engine.create_run(&wf, Map::new(), None).await.unwrap();
    assert!(engine.store().nodes(&record.id).unwrap().is_empty());
    let report = engine.report(&record.id).unwrap();
    let shown: Vec<(&str, NodeStatus)> = report
        .nodes
        .iter()
        .map(|n| (n.step_id.as_str(), n.status))
        .collect();
    assert_eq!(
        shown,
        [("b", NodeStatus::Pending), ("a", NodeStatus::Pending)],
        "every step, in file order"
    );
    let report = engine.execute(&record.id).await.unwrap();
    assert_eq!(report.run.status, RunStatus::Succeeded);
    assert_eq!(engine.store().nodes(&record.id).unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_finishing_together_share_one_flush() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(dir.path(), vec![]);
    let mut yaml = String::from("name: t\nsteps:\n  start: { uses: core/echo }\n");
    for i in 0..100 {
        yaml.push_str(&format!("  w{i}: {{ uses: core/echo, needs: start }}\n"));
    }
    yaml.push_str(&format!(
        "  end: {{ uses: core/echo, needs: [{}] }}\n",
        (0..100)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let wf = workflow(&yaml);
    let record = engine.create_run(&wf, Map::new(), None).await.unwrap();
    let before = engine.flush_stats().flushes;
    let report = engine.execute(&record.id).await.unwrap();
    assert_eq!(report.run.status, RunStatus::Succeeded);
    // `start`'s result, the hundred `w` results (before `end` starts) and the run's end: a
    // flush per step would be 102.
    let flushes = engine.flush_stats().flushes - before;
    assert!(flushes <= 6, "{flushes} flushes for 102 steps");
    // What was reported finished is in the store another process opens.
    drop(engine);
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(
        store.run(&record.id).unwrap().unwrap().status,
        RunStatus::Succeeded
    );
    assert_eq!(store.nodes(&record.id).unwrap().len(), 102);
}

#[tokio::test]
async fn a_store_from_before_workflow_texts_had_their_own_tree_still_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let wf = workflow(
        "name: t\nsteps:\n  a: { uses: core/echo, with: { value: 1 } }\n  b: { uses: core/echo, needs: a }\n",
    );
    let run_id = "0190aaaa-0000-7000-8000-000000000001";
    {
        // The old layout: the text inside the run record, every node written at creation.
        let db = sled::open(dir.path().join("state")).unwrap();
        let run = json!({
            "id": run_id, "workflow_name": "t", "workflow_version": "1",
            "workflow_source": wf.source, "workflow_sha256": wf.sha256,
            "workflow_origin": "t.yaml", "inputs": {}, "status": "running", "owner": null,
            "created_at": 1, "started_at": 1, "finished_at": null, "error": null, "resumes": 0
        });
        db.open_tree("runs")
            .unwrap()
            .insert(run_id, serde_json::to_vec(&run).unwrap())
            .unwrap();
        let nodes = db.open_tree("nodes").unwrap();
        for (step, status) in [("a", "succeeded"), ("b", "pending")] {
            let node = json!({
                "run_id": run_id, "step_id": step, "status": status, "attempt": 1,
                "idempotency_key": format!("{run_id}/{step}"), "output": 1, "error": null,
                "started_at": 1, "finished_at": 2
            });
            nodes
                .insert(
                    format!("{run_id}/{step}"),
                    serde_json::to_vec(&node).unwrap(),
                )
                .unwrap();
        }
        db.flush().unwrap();
    }
    let engine = engine_with(dir.path(), vec![]);
    let report = engine.execute(run_id).await.unwrap();
    assert_eq!(report.run.status, RunStatus::Succeeded);
    assert_eq!(report.run.resumes, 1);
    assert_eq!(node(&report, "b").status, NodeStatus::Succeeded);
    assert_text_stored(&engine, &wf);
}

#[tokio::test]
async fn per_run_parallelism_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(dir.path(), vec![]);
    let mut events = engine.subscribe();
    let mut yaml = String::from("name: t\ndefaults: { parallelism: 2 }\nsteps:\n");
    for i in 0..6 {
        yaml.push_str(&format!(
            "  s{i}: {{ uses: core/sleep, with: {{ ms: 50 }} }}\n"
        ));
    }
    let report = run(&engine, &yaml, json!({})).await;
    assert_eq!(report.run.status, RunStatus::Succeeded);
    let (mut running, mut most) = (BTreeSet::new(), 0);
    while let Ok(event) = events.try_recv() {
        let Some(step) = event.step_id else { continue };
        if event.status == "running" {
            running.insert(step);
        } else {
            running.remove(&step);
        }
        most = most.max(running.len());
    }
    assert_eq!(most, 2);
}

#[tokio::test]
async fn missing_and_mistyped_inputs_are_rejected_before_anything_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(dir.path(), vec![]);
    let wf = workflow(
        "name: t\ninputs:\n  style: { type: string, required: true }\n  size: { type: integer }\nsteps:\n  a: { uses: core/echo }\n",
    );
    let Value::Object(inputs) = json!({"size": "large", "colour": "red"}) else {
        panic!()
    };
    let error = engine.create_run(&wf, inputs, None).await.unwrap_err();
    let text = error.to_string();
    assert!(text.contains("missing required input `style`"), "{text}");
    assert!(
        text.contains("input `size` must be of type integer"),
        "{text}"
    );
    assert!(text.contains("unknown input `colour`"), "{text}");
    assert!(engine.store().runs().unwrap().is_empty());
}

#[tokio::test]
async fn a_run_that_ends_looks_for_queued_runs_only_while_some_may_wait() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir.path().join("db"), vec![]);
    let wf = workflow(
        "name: limited\nconcurrency: { per_workflow: 1 }\nsteps:\n  a: { uses: core/echo, with: { value: 1 } }\n",
    );
    // After a start nothing is known: the first look is always taken.
    assert!(engine.queued_runs_may_wait());
    let first = engine.create_run(&wf, Map::new(), None).await.unwrap();
    assert_eq!(first.status, RunStatus::Pending);
    assert_eq!(engine.admit_queued().unwrap(), Vec::<String>::new());
    assert!(!engine.queued_runs_may_wait(), "the look found none");

    let second = engine.create_run(&wf, Map::new(), None).await.unwrap();
    assert_eq!(second.status, RunStatus::Queued);
    assert!(engine.queued_runs_may_wait(), "this process queued one");
    let queued = engine.execute_created(second.clone()).await.unwrap_err();
    assert!(matches!(queued, EngineError::RunQueued(_)), "{queued}");

    let report = engine.execute_created(first).await.unwrap();
    assert_eq!(report.run.status, RunStatus::Succeeded);
    assert_eq!(engine.admit_queued().unwrap(), vec![second.id.clone()]);
    assert_eq!(
        engine.execute(&second.id).await.unwrap().run.status,
        RunStatus::Succeeded
    );
    assert_eq!(engine.admit_queued().unwrap(), Vec::<String>::new());
    assert!(!engine.queued_runs_may_wait());
}

#[tokio::test]
async fn an_input_nested_too_deep_to_store_readably_is_refused_before_the_run_exists() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(dir.path(), vec![]);
    let mut deep = json!("bottom");
    for _ in 0..200 {
        deep = json!([deep]);
    }
    let wf = workflow(
        r#"
name: deep
version: 1
inputs:
  deep: { type: array, required: true }
  shallow: { type: array, required: true }
steps:
  make: { uses: core/echo, with: { value: "${{ inputs.deep }}" } }
"#,
    );
    let Value::Object(inputs) = json!({ "deep": deep, "shallow": [[[1]]] }) else {
        panic!()
    };
    let error = engine.create_run(&wf, inputs, None).await.unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("input `deep` is nested deeper than 64 levels"),
        "{message}"
    );
    assert!(!message.contains("`shallow`"), "{message}");
    assert!(engine.store().runs().unwrap().is_empty());
}

/// `test/deep`: outputs arrays nested 200 levels deep (what a buggy plugin could answer).
struct Deep;

struct DeepStep;

impl techpack_engine::StepKind for Deep {
    fn description(&self) -> &str {
        "outputs a value nested 200 levels deep"
    }

    fn build(&self, _config: &Value) -> Result<Arc<dyn techpack_engine::Step>, String> {
        Ok(Arc::new(DeepStep))
    }
}

#[async_trait::async_trait]
impl techpack_engine::Step for DeepStep {
    async fn run(
        &self,
        _ctx: techpack_engine::StepContext,
    ) -> Result<techpack_engine::StepOutput, techpack_engine::StepError> {
        let mut deep = json!("bottom");
        for _ in 0..200 {
            deep = json!([deep]);
        }
        Ok(techpack_engine::StepOutput::new(deep))
    }
}

#[tokio::test]
async fn an_output_nested_too_deep_to_read_fails_the_step_that_reads_it_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut registry = StepRegistry::with_builtins();
    registry.register("test/deep", Deep);
    let engine = Engine::new(
        Arc::new(SledStore::open(dir.path()).unwrap()),
        registry.clone(),
        vec![],
        Resources::new(),
        EngineConfig::default(),
    );
    let wf = Workflow::parse(
        r#"
name: deep
version: 1
steps:
  make: { uses: test/deep }
  read: { uses: core/echo, with: { value: "${{ steps.make.output }}" } }
"#,
        "deep.yaml",
        &registry,
    )
    .unwrap();
    let record = engine.create_run(&wf, Map::new(), None).await.unwrap();
    let report = engine.execute(&record.id).await.unwrap();
    let read = node(&report, "read");
    assert_eq!(read.status, NodeStatus::Failed);
    let error = read.error.as_deref().unwrap();
    assert!(
        error.contains("cannot read the output of step `make`"),
        "{error}"
    );
    assert_eq!(report.run.status, RunStatus::Failed);
}
