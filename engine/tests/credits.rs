//! The credit ledger and its hook against a real sled store on disk and a real engine: one
//! test per ledger invariant (I1–I8), refusal, refunds, resume and concurrency.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use techpack_engine::credits::{
    CreditError, EntryKind, ISSUER_ACCOUNT, LedgerEntry, ReservationState, credits_required,
    sweep_periodically, user_account,
};
use techpack_engine::store::now_ms;
use techpack_engine::{
    Balance, CreditHook, Engine, EngineConfig, EngineError, HookError, Ledger, NodeHook,
    NodeRecord, NodeStatus, Resources, RunReport, RunStatus, SledStore, StateStore, Step,
    StepContext, StepError, StepKind, StepOutput, StepRegistry, Workflow,
};
use tokio_util::sync::CancellationToken;

/// `test/cached`: always answers from a (pretend) cache, so its output is free.
struct Cached;

struct CachedStep;

impl StepKind for Cached {
    fn description(&self) -> &str {
        "outputs a cached value for free"
    }

    fn build(&self, _config: &Value) -> Result<Arc<dyn Step>, String> {
        Ok(Arc::new(CachedStep))
    }
}

#[async_trait::async_trait]
impl Step for CachedStep {
    async fn run(&self, _ctx: StepContext) -> Result<StepOutput, StepError> {
        Ok(StepOutput::free(json!("from the cache")))
    }
}

fn registry() -> StepRegistry {
    let mut registry = StepRegistry::with_builtins();
    registry.register("test/cached", Cached);
    registry
}

fn open_store(dir: &Path) -> Arc<dyn StateStore> {
    Arc::new(SledStore::open(dir).unwrap())
}

/// Opens the store again after every handle to it was dropped, as a restarted server does.
/// sled's background threads let go of the directory lock shortly after the last handle, so
/// only that is waited out.
async fn reopen_store(dir: &Path) -> Arc<dyn StateStore> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match SledStore::open(dir) {
            Ok(store) => return Arc::new(store),
            Err(EngineError::StoreLocked { .. }) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
}

fn engine_with(store: &Arc<dyn StateStore>, hook: CreditHook) -> Engine {
    let hooks: Vec<Arc<dyn NodeHook>> = vec![Arc::new(hook)];
    Engine::new(
        store.clone(),
        registry(),
        hooks,
        Resources::new(),
        EngineConfig::default(),
    )
}

/// A store and an engine charging through a freshly opened (verified) credit hook.
fn charging_engine(dir: &Path) -> Engine {
    let store = open_store(dir);
    let hook = CreditHook::open(store.as_ref()).unwrap();
    engine_with(&store, hook)
}

fn workflow(yaml: &str) -> Workflow {
    Workflow::parse(yaml, "test.yaml", &registry()).unwrap_or_else(|e| panic!("{e}"))
}

fn ledger(engine: &Engine) -> Ledger<'_> {
    Ledger::new(engine.store().as_ref())
}

async fn run_as(engine: &Engine, owner: Option<&str>, yaml: &str) -> RunReport {
    let record = engine
        .create_run(&workflow(yaml), Map::new(), owner.map(str::to_string))
        .await
        .unwrap();
    engine.execute(&record.id).await.unwrap()
}

fn node<'a>(report: &'a RunReport, id: &str) -> &'a NodeRecord {
    report.nodes.iter().find(|n| n.step_id == id).unwrap()
}

fn balance(available: u64, pending: u64, posted: u64, granted: u64, entries: u64) -> Balance {
    Balance {
        available,
        pending,
        posted,
        granted,
        entries,
    }
}

fn kinds(entries: &[LedgerEntry]) -> Vec<EntryKind> {
    entries.iter().map(|e| e.kind).collect()
}

fn reservation_states(engine: &Engine, report: &RunReport, step: &str) -> Vec<ReservationState> {
    ledger(engine)
        .reservations_for(&report.run.id, step)
        .unwrap()
        .iter()
        .map(|r| r.state)
        .collect()
}

/// Waits until `step` of `run_id` reports `running`.
async fn wait_until_running(
    events: &mut tokio::sync::broadcast::Receiver<techpack_engine::RunEvent>,
    run_id: &str,
    step: &str,
) {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("the step never started")
            .unwrap();
        if event.run_id == run_id
            && event.step_id.as_deref() == Some(step)
            && event.status == "running"
        {
            return;
        }
    }
}

/// Leaves the state a crash leaves: executes `run_id` until `step` runs, then drops the
/// execution mid-step (the node stays `running`, its reservation pending).
async fn crash_while_running(engine: &Engine, run_id: &str, step: &str) {
    let mut events = engine.subscribe();
    let runner = engine.clone();
    let id = run_id.to_string();
    let execution = tokio::spawn(async move { runner.execute(&id).await });
    wait_until_running(&mut events, run_id, step).await;
    execution.abort();
    assert!(execution.await.unwrap_err().is_cancelled());
    let report = engine.report(run_id).unwrap();
    assert_eq!(
        node(&report, step).status,
        NodeStatus::Running,
        "not the state a crash leaves"
    );
}

// ---- I1–I8 -------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i1_every_entry_balances_and_held_credits_are_kept_apart_from_charged_ones() {
    let dir = tempfile::tempdir().unwrap();
    let engine = charging_engine(dir.path());
    ledger(&engine).grant("alice", 10, "payment-1").unwrap();
    let wf = workflow(
        "name: t\nsteps:\n  render: { uses: core/sleep, credits: 3, with: { ms: 400 } }\n",
    );
    let record = engine
        .create_run(&wf, Map::new(), Some("alice".into()))
        .await
        .unwrap();

    let mut events = engine.subscribe();
    let runner = engine.clone();
    let id = record.id.clone();
    let execution = tokio::spawn(async move { runner.execute(&id).await });
    wait_until_running(&mut events, &record.id, "render").await;
    // While the step runs its credits are held, not yet charged.
    let during = ledger(&engine).balance("alice").unwrap();
    assert_eq!((during.available, during.pending, during.posted), (7, 3, 0));

    let report = execution.await.unwrap().unwrap();
    assert_eq!(report.run.status, RunStatus::Succeeded);
    assert_eq!(
        ledger(&engine).balance("alice").unwrap(),
        balance(7, 0, 3, 10, 3)
    );

    // Debits equal credits: every account rebuilt from the log sums to zero, the issuer
    // stands at minus what was granted, and held and charged credits are separate accounts.
    let trial = ledger(&engine).trial_balance().unwrap();
    assert_eq!(trial.values().sum::<i128>(), 0, "{trial:?}");
    assert_eq!(trial[ISSUER_ACCOUNT], -10);
    assert_eq!(trial[&user_account("alice", "available")], 7);
    assert_eq!(trial[&user_account("alice", "pending")], 0);
    assert_eq!(trial[&user_account("alice", "posted")], 3);
    for entry in ledger(&engine).entries("alice").unwrap() {
        assert_ne!(
            entry.from, entry.to,
            "entry {} moves nothing anywhere",
            entry.seq
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i2_a_user_cannot_spend_credits_they_do_not_have() {
    let dir = tempfile::tempdir().unwrap();
    let engine = charging_engine(dir.path());
    ledger(&engine).grant("alice", 2, "payment-1").unwrap();
    let report = run_as(
        &engine,
        Some("alice"),
        r#"
name: t
steps:
  a: { uses: core/sleep, credits: 1, with: { ms: 100 } }
  b: { uses: core/sleep, credits: 1, with: { ms: 100 } }
  c: { uses: core/sleep, credits: 1, with: { ms: 100 } }
  d: { uses: core/sleep, credits: 1, with: { ms: 100 } }
"#,
    )
    .await;
    let succeeded = report
        .nodes
        .iter()
        .filter(|n| n.status == NodeStatus::Succeeded)
        .count();
    let refused: Vec<_> = report
        .nodes
        .iter()
        .filter(|n| {
            n.error
                .as_deref()
                .is_some_and(|e| e.starts_with("insufficient credits:"))
        })
        .collect();
    assert_eq!((succeeded, refused.len()), (2, 2), "{:?}", report.nodes);
    assert_eq!(
        ledger(&engine).balance("alice").unwrap(),
        balance(0, 0, 2, 2, 5)
    );

    // Replaying alice's entries, her available credits never dip below zero.
    let mut available: i128 = 0;
    for entry in ledger(&engine).entries("alice").unwrap() {
        let account = user_account("alice", "available");
        if entry.to == account {
            available += i128::from(entry.amount);
        }
        if entry.from == account {
            available -= i128::from(entry.amount);
        }
        assert!(
            available >= 0,
            "available went to {available} at entry {}",
            entry.seq
        );
    }
    ledger(&engine).verify().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i3_a_reservation_resolves_once_and_stays_resolved() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    Ledger::new(store.as_ref())
        .grant("alice", 5, "payment-1")
        .unwrap();

    // A reservation that expired while its run was down is not refunded a second time when
    // the run is then cancelled.
    let short = engine_with(
        &store,
        CreditHook::open(store.as_ref())
            .unwrap()
            .with_hold(Duration::from_millis(200)),
    );
    let wf = workflow(
        "name: t\nsteps:\n  render: { uses: core/sleep, credits: 2, with: { ms: 30000 } }\n",
    );
    let record = short
        .create_run(&wf, Map::new(), Some("alice".into()))
        .await
        .unwrap();
    crash_while_running(&short, &record.id, "render").await;
    let key = format!("{}/render", record.id);
    let held = Ledger::new(store.as_ref())
        .reservation(&key)
        .unwrap()
        .unwrap();
    assert_eq!(
        Ledger::new(store.as_ref())
            .sweep_expired(held.expires_at)
            .unwrap(),
        1
    );

    let restarted = engine_with(&store, CreditHook::open(store.as_ref()).unwrap());
    let report = restarted.cancel_stored(&record.id).await.unwrap();
    assert_eq!(node(&report, "render").status, NodeStatus::Cancelled);
    let ledger = Ledger::new(store.as_ref());
    assert_eq!(
        ledger.balance("alice").unwrap().available,
        5,
        "refunded twice"
    );
    let reservation = ledger.reservation(&key).unwrap().unwrap();
    assert_eq!(reservation.state, ReservationState::Expired);
    let of_reservation: Vec<_> = ledger
        .entries("alice")
        .unwrap()
        .into_iter()
        .filter(|e| e.reservation_id.as_deref() == Some(key.as_str()))
        .collect();
    assert_eq!(
        kinds(&of_reservation),
        [EntryKind::Reserve, EntryKind::Expire]
    );

    // A posted reservation is not expired by any later sweep.
    let report = run_as(
        &restarted,
        Some("alice"),
        "name: t\nsteps:\n  a: { uses: core/echo, credits: 1 }\n",
    )
    .await;
    assert_eq!(
        reservation_states(&restarted, &report, "a"),
        [ReservationState::Posted]
    );
    assert_eq!(ledger.sweep_expired(u64::MAX).unwrap(), 0);
    assert_eq!(ledger.sweep_expired(u64::MAX).unwrap(), 0);
    assert_eq!(
        reservation_states(&restarted, &report, "a"),
        [ReservationState::Posted]
    );
    assert_eq!(
        (
            ledger.balance("alice").unwrap().available,
            ledger.balance("alice").unwrap().posted
        ),
        (4, 1)
    );
    ledger.verify().unwrap();
}

#[tokio::test]
async fn i4_a_success_is_charged_what_was_reserved_and_no_more() {
    let dir = tempfile::tempdir().unwrap();
    let engine = charging_engine(dir.path());
    ledger(&engine).grant("alice", 10, "payment-1").unwrap();
    // `flaky` fails once and succeeds on its retry: a retry is not a second charge.
    let report = run_as(&engine, Some("alice"), r#"
name: t
steps:
  outline: { uses: core/echo, credits: 3 }
  flaky: { uses: core/fail, credits: 2, with: { times: 1 }, retry: { attempts: 2, initial_delay: 10ms } }
"#).await;
    assert_eq!(report.run.status, RunStatus::Succeeded);
    assert_eq!(node(&report, "flaky").attempt, 2);
    let charged = ledger(&engine).balance("alice").unwrap();
    assert_eq!((charged.available, charged.posted), (5, 5));

    let entries = ledger(&engine).entries("alice").unwrap();
    for step in ["outline", "flaky"] {
        let id = format!("{}/{step}", report.run.id);
        let of = |kind| -> Vec<u64> {
            entries
                .iter()
                .filter(|e| e.kind == kind && e.reservation_id.as_deref() == Some(id.as_str()))
                .map(|e| e.amount)
                .collect()
        };
        let (reserved, posted) = (of(EntryKind::Reserve), of(EntryKind::Post));
        assert_eq!(reserved.len(), 1, "{step} reserved {reserved:?}");
        assert!(
            posted.iter().sum::<u64>() <= reserved[0],
            "{step}: posted {posted:?} of {reserved:?}"
        );
    }
}

#[tokio::test]
async fn i5_an_operation_id_applies_once_and_cannot_be_reused_for_something_else() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let ledger = Ledger::new(store.as_ref());
    ledger.grant("alice", 10, "payment-1").unwrap();
    // A retried request (same id, same parameters) has no second effect.
    assert_eq!(
        ledger.grant("alice", 10, "payment-1").unwrap(),
        balance(10, 0, 0, 10, 1)
    );

    let reused = ledger.grant("alice", 20, "payment-1").unwrap_err();
    assert!(
        matches!(
            CreditError::of(&reused),
            Some(CreditError::CreditOperationReused { .. })
        ),
        "{reused:?}"
    );
    assert_eq!(
        reused.to_string(),
        "credit operation `grant:payment-1` was already applied as `grant 10 to alice`; it cannot be reused for `grant 20 to alice`"
    );
    assert!(ledger.grant("bob", 10, "payment-1").is_err());
    assert_eq!(ledger.balance("alice").unwrap(), balance(10, 0, 0, 10, 1));
    assert_eq!(ledger.balance("bob").unwrap(), Balance::default());
    assert_eq!(ledger.all_entries().unwrap().len(), 1);
}

#[tokio::test]
async fn i6_a_ledger_that_does_not_match_its_log_keeps_the_server_from_starting() {
    let dir = tempfile::tempdir().unwrap();
    {
        let engine = charging_engine(dir.path());
        ledger(&engine).grant("alice", 10, "payment-1").unwrap();
        run_as(
            &engine,
            Some("alice"),
            "name: t\nsteps:\n  a: { uses: core/echo, credits: 3 }\n",
        )
        .await;
    }
    // A clean restart starts.
    {
        let store = reopen_store(dir.path()).await;
        CreditHook::open(store.as_ref()).unwrap();
        // Someone edits alice's account behind the ledger's back.
        let forged: Balance = serde_json::from_value(
            json!({"available": 100, "pending": 0, "posted": 3, "granted": 10, "entries": 3}),
        )
        .unwrap();
        let tamper = |txn: &mut dyn techpack_engine::LedgerTables| -> Result<(), HookError> {
            txn.put_account("alice", &forged)?;
            Ok(())
        };
        store.commit(None, None, Some(&tamper)).unwrap();
    }
    let store = reopen_store(dir.path()).await;
    let refused = CreditHook::open(store.as_ref()).unwrap_err();
    assert!(
        matches!(
            CreditError::of(&refused),
            Some(CreditError::LedgerMismatch { .. })
        ),
        "{refused:?}"
    );
    let message = refused.to_string();
    assert!(message.contains("refusing to start"), "{message}");
    assert!(
        message.contains("account `alice`: stored available is 100, but its entries add up to 7"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i7_credits_held_by_an_abandoned_run_come_back_after_expiry_and_one_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    Ledger::new(store.as_ref())
        .grant("alice", 5, "payment-1")
        .unwrap();
    let hold = Duration::from_millis(300);
    let engine = engine_with(
        &store,
        CreditHook::open(store.as_ref()).unwrap().with_hold(hold),
    );
    let wf = workflow(
        "name: t\nsteps:\n  render: { uses: core/sleep, credits: 2, with: { ms: 30000 } }\n",
    );
    let record = engine
        .create_run(&wf, Map::new(), Some("alice".into()))
        .await
        .unwrap();
    crash_while_running(&engine, &record.id, "render").await;
    let ledger = Ledger::new(store.as_ref());
    let held = ledger
        .reservation(&format!("{}/render", record.id))
        .unwrap()
        .unwrap();

    // Before its expiry a sweep leaves it alone; at its expiry one sweep returns it.
    assert_eq!(ledger.sweep_expired(held.expires_at - 1).unwrap(), 0);
    assert_eq!(ledger.balance("alice").unwrap().pending, 2);

    let every = Duration::from_millis(50);
    let stop = CancellationToken::new();
    let sweeper = tokio::spawn(sweep_periodically(store.clone(), every, stop.clone()));
    let deadline = tokio::time::Instant::now() + hold + every * 2 + Duration::from_secs(2);
    while ledger.balance("alice").unwrap().pending > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still pending well past expiry plus one sweep"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.cancel();
    sweeper.await.unwrap();
    assert_eq!(ledger.balance("alice").unwrap(), balance(5, 0, 0, 5, 3));
    assert_eq!(
        ledger.reservation(&held.id).unwrap().unwrap().state,
        ReservationState::Expired
    );
    ledger.verify().unwrap();
}

#[tokio::test]
async fn i8_paid_steps_end_posted_or_voided_and_unstarted_ones_leave_no_trace() {
    let dir = tempfile::tempdir().unwrap();
    let engine = charging_engine(dir.path());
    ledger(&engine).grant("alice", 20, "payment-1").unwrap();
    let report = run_as(
        &engine,
        Some("alice"),
        r#"
name: t
steps:
  outline: { uses: core/echo, credits: 1 }
  broken: { uses: core/fail, credits: 2 }
  blocked: { uses: core/echo, credits: 3, needs: broken }
  optional: { uses: core/echo, credits: 4, when: false }
  cached: { uses: test/cached, credits: 5 }
"#,
    )
    .await;
    use ReservationState::{Posted, Voided};
    assert_eq!(reservation_states(&engine, &report, "outline"), [Posted]);
    assert_eq!(reservation_states(&engine, &report, "broken"), [Voided]);
    assert_eq!(reservation_states(&engine, &report, "cached"), [Voided]);
    // Steps that never started were never reserved: no reservation is the only honest state.
    assert_eq!(node(&report, "blocked").status, NodeStatus::Cancelled);
    assert_eq!(reservation_states(&engine, &report, "blocked"), []);
    assert_eq!(node(&report, "optional").status, NodeStatus::Skipped);
    assert_eq!(reservation_states(&engine, &report, "optional"), []);
    let after = ledger(&engine).balance("alice").unwrap();
    assert_eq!((after.available, after.pending, after.posted), (19, 0, 1));
}

// ---- The hook as a user meets it ----------------------------------------------------------

#[tokio::test]
async fn a_step_its_owner_cannot_afford_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("side-effects.log");
    let engine = charging_engine(&dir.path().join("db"));
    ledger(&engine).grant("alice", 1, "payment-1").unwrap();
    let report = run_as(
        &engine,
        Some("alice"),
        &format!(
            r#"
name: t
steps:
  base_views: {{ uses: core/sleep, credits: 3, with: {{ ms: 1, log: "{}" }} }}
  grading: {{ uses: core/echo, needs: base_views }}
"#,
            log.display()
        ),
    )
    .await;
    let refused = node(&report, "base_views");
    assert_eq!(refused.status, NodeStatus::Failed);
    assert_eq!(
        refused.error.as_deref(),
        Some("insufficient credits: step `base_views` needs 3, alice has 1 available")
    );
    assert_eq!(refused.error_code.as_deref(), Some("insufficient_credits"));
    assert!(!log.exists(), "a refused step must not run");
    assert_eq!(node(&report, "grading").status, NodeStatus::Cancelled);
    assert_eq!(report.run.status, RunStatus::Failed);
    assert_eq!(
        ledger(&engine).balance("alice").unwrap(),
        balance(1, 0, 0, 1, 1)
    );
    assert_eq!(reservation_states(&engine, &report, "base_views"), []);
}

#[tokio::test]
async fn failed_timed_out_and_cached_steps_cost_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let engine = charging_engine(dir.path());
    ledger(&engine).grant("alice", 10, "payment-1").unwrap();
    let report = run_as(
        &engine,
        Some("alice"),
        r#"
name: t
steps:
  broken: { uses: core/fail, credits: 2, with: { message: "scanner offline" } }
  slow: { uses: core/sleep, credits: 3, timeout: 100ms, with: { ms: 10000 } }
  cached: { uses: test/cached, credits: 4 }
"#,
    )
    .await;
    assert_eq!(node(&report, "broken").status, NodeStatus::Failed);
    assert_eq!(
        node(&report, "slow").error.as_deref(),
        Some("timed out after 100ms")
    );
    assert_eq!(node(&report, "cached").status, NodeStatus::Succeeded);
    for step in ["broken", "slow", "cached"] {
        assert_eq!(
            reservation_states(&engine, &report, step),
            [ReservationState::Voided],
            "{step}"
        );
    }
    assert_eq!(
        ledger(&engine).balance("alice").unwrap(),
        balance(10, 0, 0, 10, 7)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_step_is_refunded() {
    let dir = tempfile::tempdir().unwrap();
    let engine = charging_engine(dir.path());
    ledger(&engine).grant("alice", 10, "payment-1").unwrap();
    let wf = workflow(
        "name: t\nsteps:\n  render: { uses: core/sleep, credits: 4, with: { ms: 30000 } }\n",
    );
    let record = engine
        .create_run(&wf, Map::new(), Some("alice".into()))
        .await
        .unwrap();
    let mut events = engine.subscribe();
    let runner = engine.clone();
    let id = record.id.clone();
    let execution = tokio::spawn(async move { runner.execute(&id).await });
    wait_until_running(&mut events, &record.id, "render").await;
    assert_eq!(ledger(&engine).balance("alice").unwrap().pending, 4);
    assert!(engine.cancel(&record.id));
    let report = execution.await.unwrap().unwrap();
    assert_eq!(report.run.status, RunStatus::Cancelled);
    assert_eq!(
        reservation_states(&engine, &report, "render"),
        [ReservationState::Voided]
    );
    assert_eq!(
        ledger(&engine).balance("alice").unwrap(),
        balance(10, 0, 0, 10, 3)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_step_keeps_its_reservation_and_is_charged_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    Ledger::new(store.as_ref())
        .grant("alice", 10, "payment-1")
        .unwrap();
    let before_crash = engine_with(&store, CreditHook::open(store.as_ref()).unwrap());
    let wf = workflow(
        "name: t\nsteps:\n  render: { uses: core/sleep, credits: 3, with: { ms: 1000 } }\n",
    );
    let record = before_crash
        .create_run(&wf, Map::new(), Some("alice".into()))
        .await
        .unwrap();
    crash_while_running(&before_crash, &record.id, "render").await;
    assert_eq!(
        Ledger::new(store.as_ref())
            .balance("alice")
            .unwrap()
            .pending,
        3
    );
    let key = format!("{}/render", record.id);
    let held_before = Ledger::new(store.as_ref())
        .reservation(&key)
        .unwrap()
        .unwrap();

    // The restart comes later than the crash: holds are timed in milliseconds, and one that
    // would end no later than it already does is left alone.
    tokio::time::sleep(Duration::from_millis(20)).await;
    // The restarted server verifies the ledger (a pending reservation is fine) and resumes.
    let restarted = engine_with(&store, CreditHook::open(store.as_ref()).unwrap());
    assert_eq!(restarted.unfinished_runs().unwrap().len(), 1);
    let report = restarted.execute(&record.id).await.unwrap();
    assert_eq!(report.run.status, RunStatus::Succeeded);
    assert_eq!(report.run.resumes, 1);

    let ledger = Ledger::new(store.as_ref());
    let entries = kinds(&ledger.entries("alice").unwrap());
    assert_eq!(
        entries.iter().filter(|k| **k == EntryKind::Reserve).count(),
        1,
        "{entries:?}"
    );
    assert_eq!(
        entries.iter().filter(|k| **k == EntryKind::Post).count(),
        1,
        "{entries:?}"
    );
    assert!(!entries.contains(&EntryKind::Void), "{entries:?}");
    assert_eq!(
        reservation_states(&restarted, &report, "render"),
        [ReservationState::Posted]
    );
    // The step runs in full again, so its hold starts over rather than running out mid-step.
    let held_after = ledger.reservation(&key).unwrap().unwrap();
    assert!(
        held_after.expires_at > held_before.expires_at,
        "{held_before:?} -> {held_after:?}"
    );
    assert_eq!(held_after.renewals, 1);
    let after = ledger.balance("alice").unwrap();
    assert_eq!((after.available, after.pending, after.posted), (7, 0, 3));
    ledger.verify().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_resumed_after_its_reservation_expired_reserves_again_under_a_new_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    Ledger::new(store.as_ref())
        .grant("alice", 10, "payment-1")
        .unwrap();
    let before_crash = engine_with(
        &store,
        CreditHook::open(store.as_ref())
            .unwrap()
            .with_hold(Duration::from_millis(100)),
    );
    let wf = workflow(
        "name: t\nsteps:\n  render: { uses: core/sleep, credits: 3, with: { ms: 1000 } }\n",
    );
    let record = before_crash
        .create_run(&wf, Map::new(), Some("alice".into()))
        .await
        .unwrap();
    crash_while_running(&before_crash, &record.id, "render").await;
    let key = format!("{}/render", record.id);
    let held = Ledger::new(store.as_ref())
        .reservation(&key)
        .unwrap()
        .unwrap();
    assert_eq!(
        Ledger::new(store.as_ref())
            .sweep_expired(held.expires_at)
            .unwrap(),
        1
    );

    let restarted = engine_with(&store, CreditHook::open(store.as_ref()).unwrap());
    let report = restarted.execute(&record.id).await.unwrap();
    assert_eq!(report.run.status, RunStatus::Succeeded);
    let reservations = Ledger::new(store.as_ref())
        .reservations_for(&record.id, "render")
        .unwrap();
    let ids: Vec<_> = reservations
        .iter()
        .map(|r| (r.id.clone(), r.state))
        .collect();
    assert_eq!(
        ids,
        [
            (key.clone(), ReservationState::Expired),
            (format!("{key}#2"), ReservationState::Posted)
        ]
    );
    let after = Ledger::new(store.as_ref()).balance("alice").unwrap();
    assert_eq!(
        (after.available, after.pending, after.posted),
        (7, 0, 3),
        "charged once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_that_outlives_its_hold_is_still_charged_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    Ledger::new(store.as_ref())
        .grant("alice", 10, "payment-1")
        .unwrap();
    let hook = CreditHook::open(store.as_ref())
        .unwrap()
        .with_hold(Duration::from_millis(50));
    let engine = engine_with(&store, hook);
    let wf = workflow(
        "name: t\nsteps:\n  render: { uses: core/sleep, credits: 3, with: { ms: 1500 } }\n",
    );
    let record = engine
        .create_run(&wf, Map::new(), Some("alice".into()))
        .await
        .unwrap();
    let mut events = engine.subscribe();
    let runner = engine.clone();
    let id = record.id.clone();
    let execution = tokio::spawn(async move { runner.execute(&id).await });
    wait_until_running(&mut events, &record.id, "render").await;
    // The sweep releases the hold while the step still runs.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let ledger = Ledger::new(store.as_ref());
    assert_eq!(ledger.sweep_expired(now_ms()).unwrap(), 1);
    assert_eq!(ledger.balance("alice").unwrap().available, 10);

    // Its success is still paid for, once: the charge is reserved and posted at the end.
    let report = execution.await.unwrap().unwrap();
    assert_eq!(report.run.status, RunStatus::Succeeded);
    use ReservationState::{Expired, Posted};
    assert_eq!(
        reservation_states(&engine, &report, "render"),
        [Expired, Posted]
    );
    let after = ledger.balance("alice").unwrap();
    assert_eq!((after.available, after.pending, after.posted), (7, 0, 3));
    ledger.verify().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_runs_spend_exactly_the_credits_there_are() {
    let dir = tempfile::tempdir().unwrap();
    let engine = charging_engine(dir.path());
    ledger(&engine).grant("alice", 10, "payment-1").unwrap();
    let wf = workflow("name: t\nsteps:\n  render: { uses: core/echo, credits: 1 }\n");
    let mut runs = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let engine = engine.clone();
        let wf = wf.clone();
        runs.spawn(async move {
            let record = engine
                .create_run(&wf, Map::new(), Some("alice".into()))
                .await
                .unwrap();
            engine.execute(&record.id).await.unwrap()
        });
    }
    let (mut succeeded, mut refused) = (0, 0);
    while let Some(report) = runs.join_next().await {
        let report = report.unwrap();
        match report.run.status {
            RunStatus::Succeeded => succeeded += 1,
            _ => {
                let error = node(&report, "render").error.clone().unwrap();
                assert!(error.starts_with("insufficient credits:"), "{error}");
                refused += 1;
            }
        }
    }
    assert_eq!((succeeded, refused), (10, 40));
    let after = ledger(&engine).balance("alice").unwrap();
    assert_eq!((after.available, after.pending, after.posted), (0, 0, 10));
    ledger(&engine).verify().unwrap();
}

#[tokio::test]
async fn operator_runs_are_never_charged() {
    let dir = tempfile::tempdir().unwrap();
    let engine = charging_engine(dir.path());
    let report = run_as(
        &engine,
        None,
        r#"
name: t
steps:
  outline: { uses: core/echo, credits: 5 }
  broken: { uses: core/fail, credits: 5 }
"#,
    )
    .await;
    assert_eq!(node(&report, "outline").status, NodeStatus::Succeeded);
    assert_eq!(
        node(&report, "broken").error.as_deref(),
        Some("failed on purpose (core/fail) (attempt 1)")
    );
    assert!(
        Ledger::new(engine.store().as_ref())
            .all_entries()
            .unwrap()
            .is_empty(),
        "an operator run left a ledger trace"
    );
}

#[tokio::test]
async fn what_a_run_may_cost_is_known_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let engine = charging_engine(dir.path());
    let wf = workflow(
        r#"
name: t
steps:
  outline: { uses: core/echo, credits: 2 }
  render: { uses: core/echo, credits: 3, needs: outline }
  free: { uses: core/echo }
"#,
    );
    assert_eq!(credits_required(&wf), 5);
    let ledger = ledger(&engine);
    assert!(!ledger.can_afford("alice", credits_required(&wf)).unwrap());
    ledger.grant("alice", 4, "payment-1").unwrap();
    assert!(!ledger.can_afford("alice", credits_required(&wf)).unwrap());
    ledger.grant("alice", 1, "payment-2").unwrap();
    assert!(ledger.can_afford("alice", credits_required(&wf)).unwrap());
    assert_eq!(
        ledger.all_entries().unwrap().len(),
        2,
        "checking must not write"
    );
}

#[tokio::test]
async fn a_grant_needs_a_user_an_amount_and_an_operation_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let ledger = Ledger::new(store.as_ref());
    for (user, amount, op_id, reason) in [
        (
            "alice",
            0,
            "payment-1",
            "a grant must be of at least 1 credit",
        ),
        ("", 5, "payment-1", "the user name is empty"),
        ("alice", 5, "", "a grant needs an operation id"),
    ] {
        let error = ledger.grant(user, amount, op_id).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("invalid credit request for user `{user}`: {reason}")
        );
    }
    assert!(ledger.all_entries().unwrap().is_empty());
}
