//! Store conformance: the semantics every `StateStore` backend must have, run against each
//! of them (`common::backends`: sled today, PostgreSQL once enabled there).
//!
//! Only the public API: the store's own methods, the ledger's records through
//! `LedgerTables` in `commit`/`read_ledger`, the `Ledger`, and a real `Engine` with the
//! `CreditHook` running small workflows of `core/*` steps. Every assertion names the
//! backend it failed on (and `OnBackend` says it for any other panic).
//!
//! - Runs, workflow texts and nodes: stored and read back as written, runs newest first.
//! - Pages of runs: newest first, filtered by owner, status, workflow and id, continued
//!   below a cursor, through writes not yet flushed and after.
//! - Attempt logs: kept per node attempt, read back oldest attempt first; a real engine keeps
//!   what its steps logged, per attempt.
//! - Atomicity: a commit's node, run and hook writes land together, or (refused, failed)
//!   not at all.
//! - Visibility: `read_ledger` sees committed writes; a transaction sees its own.
//! - The pending index follows reservations (reserve, renew, post, expire); a sweep takes
//!   any `u64` as now.
//! - The ledger invariants I1–I8 of `techpack_engine::credits`.
//! - Concurrency: runs racing for the same credits, one operation id applied from many
//!   threads at once.
//! - Completion callbacks: a run's end queues one delivery (per end) in its own commit; a
//!   claim holds a delivery until its holder saves it or the hold runs out; concurrent
//!   claims take each delivery once.

mod common;

use std::sync::{Barrier, Mutex};
use std::time::Duration;

use common::{
    Backend, OnBackend, backends, balance, charging_engine, engine_charging_with, node,
    reservation_states, run_as, wait_until_running, workflow,
};
use serde_json::{Map, json};
use techpack_engine::credits::{
    AppliedOperation, CreditError, EntryKind, ISSUER_ACCOUNT, LedgerEntry, Reservation,
    ReservationState, user_account,
};
use techpack_engine::step::{AttemptLog, LogLevel};
use techpack_engine::store::{
    DeliveryAttempt, DeliveryStatus, RunQuery, StoreError, UnfinishedRuns,
};
use techpack_engine::{
    AttemptOutcome, AttemptRecord, Balance, CreditHook, EngineError, HookError, LedgerTables,
    NodeRecord, NodeStatus, Refusal, RunRecord, RunStatus, RunWarning, StepFailure, TxnError,
    Workflow,
};

// ---- Helpers -------------------------------------------------------------------------------

/// A new pending run of `wf`, with an id like the engine's (UUIDv7, so ids sort by creation).
fn run_record(wf: &Workflow, owner: Option<&str>, created_at: u64) -> RunRecord {
    let mut inputs = Map::new();
    inputs.insert("who".into(), json!("factory"));
    inputs.insert("n".into(), json!(3));
    inputs.insert(
        "nested".into(),
        json!({"list": [1, 2.5, null, "ü"], "ok": true}),
    );
    RunRecord {
        id: uuid::Uuid::now_v7().to_string(),
        workflow_name: wf.name.clone(),
        workflow_version: wf.version.clone(),
        workflow_sha256: wf.sha256.clone(),
        workflow_origin: wf.origin.clone(),
        inputs,
        status: RunStatus::Pending,
        owner: owner.map(str::to_string),
        created_at,
        started_at: None,
        finished_at: None,
        error: None,
        resumes: 0,
        retries: 0,
        parent_run_id: None,
        replay_from: None,
        warnings: Vec::new(),
        callback: None,
    }
}

/// A stored run of a one-step workflow, for records that belong to a run.
fn stored_run(b: &Backend) -> RunRecord {
    let wf = workflow("name: t\nsteps:\n  a: { uses: core/echo }\n  b: { uses: core/echo }\n");
    let run = run_record(&wf, Some("alice"), techpack_engine::store::now_ms());
    b.store
        .create_run(&run, &wf.source)
        .unwrap_or_else(|e| panic!("[{b:?}] create_run: {e}"));
    run
}

/// A node record with every field set, so a backend that drops one is caught.
fn full_node(run_id: &str, step_id: &str, status: NodeStatus) -> NodeRecord {
    let mut node = NodeRecord::pending(run_id, step_id);
    node.status = status;
    node.attempt = 3;
    node.output = Some(json!({"text": "hello, ü", "n": [1, 2, 3], "none": null}).into());
    node.error = Some("failed on purpose".into());
    node.error_code = Some("invalid_input".into());
    node.started_at = Some(1_700_000_000_000);
    node.finished_at = Some(1_700_000_000_500);
    node.free = true;
    node.round = 1;
    node.round_base = 2;
    node.attempts = vec![AttemptRecord {
        attempt: 2,
        round: 0,
        outcome: AttemptOutcome::Failed,
        error: Some("scanner offline".into()),
        error_code: Some("unavailable".into()),
        started_at: Some(1_700_000_000_000),
        finished_at: Some(1_700_000_000_100),
    }];
    node.reused_from = Some("run-before".into());
    node.tolerated = true;
    node
}

fn sorted_nodes(b: &Backend, run_id: &str) -> Vec<NodeRecord> {
    let mut nodes = b
        .store
        .nodes(run_id)
        .unwrap_or_else(|e| panic!("[{b:?}] nodes({run_id}): {e}"));
    nodes.sort_by(|x, y| x.step_id.cmp(&y.step_id));
    nodes
}

/// Everything the ledger holds, read in one `read_ledger`.
#[derive(Debug, Default, PartialEq)]
struct LedgerDump {
    accounts: Vec<(String, Balance)>,
    entries: Vec<LedgerEntry>,
    reservations: Vec<Reservation>,
    pending: Vec<(u64, String)>,
    last_seq: u64,
    gapless: bool,
}

fn dump(b: &Backend) -> LedgerDump {
    let mut out = LedgerDump::default();
    b.store
        .read_ledger(&mut |t| {
            let mut accounts = t.accounts()?;
            accounts.sort_by(|x, y| x.0.cmp(&y.0));
            out = LedgerDump {
                accounts,
                entries: t.entries(None)?,
                reservations: t.reservations(None)?,
                pending: t.pending()?,
                last_seq: t.last_seq()?,
                gapless: t.gapless_seq(),
            };
            Ok(())
        })
        .unwrap_or_else(|e| panic!("[{b:?}] read_ledger: {e}"));
    out
}

/// Asserts the ledger is empty: no account, entry, reservation or pending hold, and (for a
/// backend whose sequence has no gaps) no sequence number handed out.
fn assert_ledger_empty(b: &Backend, what: &str) {
    let d = dump(b);
    assert!(
        d.accounts.is_empty() && d.entries.is_empty() && d.reservations.is_empty(),
        "[{b:?}] {what}: the ledger holds {d:?}"
    );
    assert!(
        d.pending.is_empty(),
        "[{b:?}] {what}: pending {:?}",
        d.pending
    );
    if d.gapless {
        assert_eq!(d.last_seq, 0, "[{b:?}] {what}: the sequence moved");
    }
}

fn verify(b: &Backend, what: &str) {
    let ledger = b.ledger();
    if let Err(e) = ledger.verify() {
        panic!("[{b:?}] {what}: verify: {e}");
    }
    let trial = ledger
        .trial_balance()
        .unwrap_or_else(|e| panic!("[{b:?}] trial_balance: {e}"));
    assert_eq!(
        trial.values().sum::<i128>(),
        0,
        "[{b:?}] {what}: the accounts do not sum to zero: {trial:?}"
    );
}

/// Runs `work` in a commit with no node and no run, expecting it to commit.
fn commit_work(
    b: &Backend,
    what: &str,
    work: &(dyn Fn(&mut dyn LedgerTables) -> Result<(), HookError> + Sync),
) {
    b.store
        .commit(None, None, Some(work))
        .unwrap_or_else(|e| panic!("[{b:?}] {what}: commit: {e}"));
}

// The ledger's records written one by one, as its bookkeeping writes them (same order, same
// operation ids and parameters), so `Ledger::verify` accepts what these write.

fn apply(
    t: &mut dyn LedgerTables,
    user: &str,
    kind: EntryKind,
    amount: u64,
) -> Result<Balance, TxnError> {
    let mut b = t.account(user)?.unwrap_or_default();
    match kind {
        EntryKind::Grant => {
            b.available += amount;
            b.granted += amount;
        }
        EntryKind::Reserve => {
            b.available -= amount;
            b.pending += amount;
        }
        EntryKind::Post => {
            b.pending -= amount;
            b.posted += amount;
        }
        EntryKind::Void | EntryKind::Expire => {
            b.pending -= amount;
            b.available += amount;
        }
        EntryKind::Renew => {}
    }
    b.entries += 1;
    Ok(b)
}

#[allow(clippy::too_many_arguments)]
fn append(
    t: &mut dyn LedgerTables,
    kind: EntryKind,
    user: &str,
    amount: u64,
    op_id: String,
    params: String,
    reservation: Option<&Reservation>,
    expires_at: Option<u64>,
) -> Result<LedgerEntry, TxnError> {
    let balance = apply(t, user, kind, amount)?;
    let seq = t.next_seq()?;
    let (from, to) = kind.accounts(user);
    let entry = LedgerEntry {
        seq,
        op_id: op_id.clone(),
        kind,
        user: user.to_string(),
        amount,
        from,
        to,
        reservation_id: reservation.map(|r| r.id.clone()),
        run_id: reservation.map(|r| r.run_id.clone()),
        step_id: reservation.map(|r| r.step_id.clone()),
        at: 1_000,
        expires_at,
    };
    t.append_entry(&entry)?;
    t.put_account(user, &balance)?;
    t.put_operation(&op_id, &AppliedOperation { params, seq })?;
    Ok(entry)
}

fn raw_grant(
    t: &mut dyn LedgerTables,
    user: &str,
    amount: u64,
    op: &str,
) -> Result<LedgerEntry, TxnError> {
    append(
        t,
        EntryKind::Grant,
        user,
        amount,
        format!("grant:{op}"),
        format!("grant {amount} to {user}"),
        None,
        None,
    )
}

fn raw_reserve(
    t: &mut dyn LedgerTables,
    user: &str,
    run_id: &str,
    step_id: &str,
    amount: u64,
    expires_at: u64,
) -> Result<(LedgerEntry, Reservation), TxnError> {
    let reservation = Reservation {
        id: format!("{run_id}/{step_id}"),
        user: user.to_string(),
        amount,
        state: ReservationState::Pending,
        run_id: run_id.to_string(),
        step_id: step_id.to_string(),
        reserved_at: 1_000,
        expires_at,
        renewals: 0,
        resolved_at: None,
    };
    let entry = append(
        t,
        EntryKind::Reserve,
        user,
        amount,
        format!("reserve:{}", reservation.id),
        format!("reserve {amount} from {user}"),
        Some(&reservation),
        Some(expires_at),
    )?;
    t.put_reservation(&reservation)?;
    Ok((entry, reservation))
}

fn raw_renew(t: &mut dyn LedgerTables, id: &str, expires_at: u64) -> Result<Reservation, TxnError> {
    let mut r = t.reservation(id)?.expect("the reservation to renew");
    r.renewals += 1;
    r.expires_at = expires_at;
    append(
        t,
        EntryKind::Renew,
        &r.user.clone(),
        0,
        format!("renew:{id}:{}", r.renewals),
        format!("renew {id} until {expires_at}"),
        Some(&r),
        Some(expires_at),
    )?;
    t.put_reservation(&r)?;
    Ok(r)
}

fn raw_resolve(
    t: &mut dyn LedgerTables,
    id: &str,
    kind: EntryKind,
) -> Result<Reservation, TxnError> {
    let mut r = t.reservation(id)?.expect("the reservation to resolve");
    append(
        t,
        kind,
        &r.user.clone(),
        r.amount,
        format!("settle:{id}"),
        format!("{} {} of {}", kind.as_str(), r.amount, r.user),
        Some(&r),
        None,
    )?;
    r.state = match kind {
        EntryKind::Post => ReservationState::Posted,
        EntryKind::Void => ReservationState::Voided,
        _ => ReservationState::Expired,
    };
    r.resolved_at = Some(2_000);
    t.put_reservation(&r)?;
    Ok(r)
}

/// What the visibility test's transaction wrote: alice's grant, alice/team's grant, and the
/// reserve entry with its reservation.
type Written = (LedgerEntry, LedgerEntry, LedgerEntry, Reservation);

/// What one grant of the concurrency test answered.
type Granted = Result<Balance, EngineError>;

/// Collects what a transaction saw that it should not have, to assert on after the commit
/// (a backend may run a transaction's work more than once; the last run counts).
#[derive(Default)]
struct Seen(Mutex<Vec<String>>);

impl Seen {
    fn reset(&self) {
        self.0.lock().unwrap().clear();
    }

    fn check<T: PartialEq + std::fmt::Debug>(&self, what: &str, got: T, want: T) {
        if got != want {
            self.0
                .lock()
                .unwrap()
                .push(format!("{what}: got {got:?}, want {want:?}"));
        }
    }

    fn assert_clean(&self, b: &Backend, what: &str) {
        let seen = self.0.lock().unwrap();
        assert!(seen.is_empty(), "[{b:?}] {what}:\n  {}", seen.join("\n  "));
    }
}

// ---- Runs, workflow texts, nodes -----------------------------------------------------------

#[test]
fn runs_and_their_workflow_texts_read_back_as_written_newest_first() {
    for b in backends() {
        let _on = OnBackend(b.name);
        let store = &b.store;
        assert!(
            store.runs().unwrap().is_empty(),
            "[{b:?}] a fresh store has runs"
        );

        let wf_a = workflow("name: a\nsteps:\n  greet: { uses: core/echo, with: { value: 1 } }\n");
        let wf_b = workflow(
            "name: b\nversion: 2\nsteps:\n  wait: { uses: core/sleep, with: { ms: 1 } }\n",
        );
        let base = techpack_engine::store::now_ms();
        let mut created = Vec::new();
        for (i, (wf, owner)) in [(&wf_a, Some("alice")), (&wf_b, None), (&wf_a, Some("bob"))]
            .into_iter()
            .enumerate()
        {
            let run = run_record(wf, owner, base + i as u64);
            store
                .create_run(&run, &wf.source)
                .unwrap_or_else(|e| panic!("[{b:?}] create_run {i}: {e}"));
            created.push(run);
            std::thread::sleep(Duration::from_millis(2));
        }

        for wf in [&wf_a, &wf_b] {
            assert_eq!(
                store.workflow_source(&wf.sha256).unwrap().as_deref(),
                Some(wf.source.as_str()),
                "[{b:?}] workflow text of {}",
                wf.name
            );
        }
        assert_eq!(
            store.workflow_source(&"0".repeat(64)).unwrap(),
            None,
            "[{b:?}] an unknown workflow text"
        );
        for run in &created {
            assert_eq!(
                store.run(&run.id).unwrap().as_ref(),
                Some(run),
                "[{b:?}] run {} as stored",
                run.id
            );
        }
        assert_eq!(
            store.run(&uuid::Uuid::now_v7().to_string()).unwrap(),
            None,
            "[{b:?}] an unknown run"
        );
        let ids = |runs: Vec<RunRecord>| runs.into_iter().map(|r| r.id).collect::<Vec<_>>();
        let newest_first: Vec<String> = created.iter().rev().map(|r| r.id.clone()).collect();
        assert_eq!(
            ids(store.runs().unwrap()),
            newest_first,
            "[{b:?}] runs(), newest first"
        );

        // A run changed by a commit is read back changed, once, in the same place.
        let mut changed = created[1].clone();
        changed.status = RunStatus::Failed;
        changed.started_at = Some(base + 10);
        changed.finished_at = Some(base + 20);
        changed.error = Some("step `wait` failed: ü".into());
        changed.resumes = 2;
        changed.retries = 1;
        changed.parent_run_id = Some(created[0].id.clone());
        changed.replay_from = Some("wait".into());
        changed.warnings = vec![
            RunWarning {
                step: "close_ups".into(),
                message: "only 3 distinct details could be planned: ü".into(),
                code: Some("invalid_input".into()),
            },
            RunWarning {
                step: "sketches".into(),
                message: "timed out after 5m".into(),
                code: None,
            },
        ];
        store
            .commit(None, Some(&changed), None)
            .unwrap_or_else(|e| panic!("[{b:?}] commit of a run: {e}"));
        store
            .flush()
            .unwrap_or_else(|e| panic!("[{b:?}] flush: {e}"));
        assert_eq!(
            store.run(&changed.id).unwrap(),
            Some(changed.clone()),
            "[{b:?}] changed run"
        );
        let runs = store.runs().unwrap();
        assert_eq!(
            ids(runs.clone()),
            newest_first,
            "[{b:?}] runs() after a change"
        );
        assert_eq!(runs[1], changed, "[{b:?}] runs() shows the change");

        // The same text again is kept once and still read back.
        let again = run_record(&wf_a, None, base + 100);
        store.create_run(&again, &wf_a.source).unwrap();
        assert_eq!(
            store.workflow_source(&wf_a.sha256).unwrap().as_deref(),
            Some(wf_a.source.as_str()),
            "[{b:?}] a text stored twice"
        );
        assert_eq!(store.runs().unwrap().len(), 4, "[{b:?}] four runs");
        assert_eq!(
            store.runs().unwrap()[0].id,
            again.id,
            "[{b:?}] the newest run first"
        );
    }
}

#[test]
fn a_runs_nodes_are_its_own_and_read_back_as_written() {
    for b in backends() {
        let _on = OnBackend(b.name);
        let store = &b.store;
        let run = stored_run(&b);
        let other = stored_run(&b);
        assert!(
            sorted_nodes(&b, &run.id).is_empty(),
            "[{b:?}] a new run has nodes"
        );

        let a = full_node(&run.id, "a", NodeStatus::Failed);
        let mut bnode = NodeRecord::pending(&run.id, "b");
        bnode.status = NodeStatus::Running;
        bnode.attempt = 1;
        let c = full_node(&other.id, "a", NodeStatus::Succeeded);
        for n in [&a, &bnode, &c] {
            store.commit(Some(n), None, None).unwrap_or_else(|e| {
                panic!("[{b:?}] commit of node {}/{}: {e}", n.run_id, n.step_id)
            });
        }
        assert_eq!(
            sorted_nodes(&b, &run.id),
            vec![a.clone(), bnode.clone()],
            "[{b:?}] nodes of run"
        );
        assert_eq!(
            sorted_nodes(&b, &other.id),
            vec![c.clone()],
            "[{b:?}] nodes of the other run"
        );
        assert!(
            sorted_nodes(&b, &uuid::Uuid::now_v7().to_string()).is_empty(),
            "[{b:?}] nodes of an unknown run"
        );

        // A node written again replaces its record; its run changes in the same commit.
        bnode.status = NodeStatus::Succeeded;
        bnode.output = Some(json!("done").into());
        bnode.finished_at = Some(5);
        let mut run_after = run.clone();
        run_after.status = RunStatus::Running;
        run_after.started_at = Some(4);
        store
            .commit(Some(&bnode), Some(&run_after), None)
            .unwrap_or_else(|e| panic!("[{b:?}] commit of node and run: {e}"));
        assert_eq!(
            sorted_nodes(&b, &run.id),
            vec![a, bnode],
            "[{b:?}] nodes after a rewrite"
        );
        assert_eq!(
            store.run(&run.id).unwrap(),
            Some(run_after),
            "[{b:?}] run after the commit"
        );
        assert_eq!(
            store.run(&other.id).unwrap(),
            Some(other),
            "[{b:?}] the other run"
        );
    }
}

#[test]
fn a_page_of_runs_is_newest_first_filtered_and_continues_below_its_cursor() {
    for b in backends() {
        let _on = OnBackend(b.name);
        let store = &b.store;
        let wf_a = workflow("name: a\nsteps:\n  greet: { uses: core/echo, with: { value: 1 } }\n");
        let wf_b = workflow("name: b\nsteps:\n  greet: { uses: core/echo, with: { value: 2 } }\n");
        let owners = [
            Some("alice"),
            Some("bob"),
            None,
            Some("alice"),
            Some("alicia"),
        ];
        let mut created = Vec::new();
        for i in 0..15 {
            let wf = if i % 3 == 0 { &wf_b } else { &wf_a };
            let run = run_record(wf, owners[i % owners.len()], 1_000 + i as u64);
            store
                .create_run(&run, &wf.source)
                .unwrap_or_else(|e| panic!("[{b:?}] create_run {i}: {e}"));
            created.push(run);
            // Half the runs flushed, half still pending writes: a page sees both.
            if i == 7 {
                store.flush().unwrap();
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        // Statuses changed after creation are what a status filter sees.
        for run in created.iter_mut().step_by(4) {
            run.status = RunStatus::Succeeded;
            store.commit(None, Some(&*run), None).unwrap();
        }

        // Every page of `query`, followed through its cursor, against the filter applied to
        // every run by hand.
        let check = |query: RunQuery, what: &str| {
            let expected: Vec<String> = created
                .iter()
                .rev()
                .filter(|run| query.selects(run))
                .map(|run| run.id.clone())
                .collect();
            assert!(
                !expected.is_empty(),
                "[{b:?}] {what}: a filter that selects nothing"
            );
            let mut seen = Vec::new();
            let mut query = query;
            loop {
                let page = store
                    .runs_page(&query)
                    .unwrap_or_else(|e| panic!("[{b:?}] {what}: runs_page: {e}"));
                assert!(page.len() <= query.limit, "[{b:?}] {what}: over the limit");
                let Some(last) = page.last() else { break };
                query.before = Some(last.id.clone());
                for run in &page {
                    assert!(
                        query.selects(run),
                        "[{b:?}] {what}: {} does not match",
                        run.id
                    );
                }
                seen.extend(page.into_iter().map(|r| r.id));
            }
            assert_eq!(seen, expected, "[{b:?}] {what}: the pages, newest first");
        };
        let page = |owner: Option<&str>, limit| RunQuery {
            owner: owner.map(str::to_string),
            limit,
            ..RunQuery::default()
        };
        check(page(Some("alice"), 2), "alice's runs");
        check(
            page(Some("alicia"), 1),
            "alicia's runs (a name alice's is the start of)",
        );
        check(page(None, 4), "everyone's runs");
        check(
            RunQuery {
                status: Some(RunStatus::Succeeded),
                ..page(Some("alice"), 1)
            },
            "alice's succeeded runs",
        );
        check(
            RunQuery {
                workflow: Some("b".into()),
                ..page(Some("alice"), 2)
            },
            "alice's runs of b",
        );
        check(
            RunQuery {
                status: Some(RunStatus::Pending),
                workflow: Some("a".into()),
                ..page(None, 3)
            },
            "everyone's pending runs of a",
        );
        let piece = created[3].id[24..30].to_string();
        check(
            RunQuery {
                id_contains: Some(piece),
                ..page(Some("alice"), 5)
            },
            "alice's runs whose id holds a piece of one",
        );
        assert!(
            store
                .runs_page(&page(Some("nobody"), 10))
                .unwrap()
                .is_empty(),
            "[{b:?}] a user with no runs"
        );
    }
}

#[test]
fn attempt_logs_are_kept_per_attempt_oldest_attempt_first() {
    for b in backends() {
        let _on = OnBackend(b.name);
        let store = &b.store;
        let run = stored_run(&b);
        let log = |attempt: u32, texts: &[&str]| {
            let mut log = AttemptLog::new(attempt);
            for (i, text) in texts.iter().enumerate() {
                log.push(LogLevel::Info, text, 1_700_000_000_000 + i as u64);
            }
            log
        };
        let second = log(2, &["retrying", "<b>not html</b> ü"]);
        let mut first = log(1, &["first try"]);
        first.push(LogLevel::Error, "it jammed", 5);
        store.put_attempt_log(&run.id, "a", &second).unwrap();
        store.put_attempt_log(&run.id, "a", &first).unwrap();
        store
            .put_attempt_log(&run.id, "b", &log(1, &["another step"]))
            .unwrap();
        assert_eq!(
            store.attempt_logs(&run.id, "a").unwrap(),
            vec![first.clone(), second.clone()],
            "[{b:?}] a node's attempts' logs"
        );
        // Written again, an attempt's log replaces what was kept for it.
        let again = log(1, &["first try, again"]);
        store.put_attempt_log(&run.id, "a", &again).unwrap();
        store.flush().unwrap();
        assert_eq!(
            store.attempt_logs(&run.id, "a").unwrap(),
            vec![again, second],
            "[{b:?}] after a rewrite"
        );
        assert!(
            store.attempt_logs(&run.id, "nope").unwrap().is_empty(),
            "[{b:?}] a step with no log"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_keeps_what_each_attempt_of_a_step_logged() {
    for b in backends() {
        let _on = OnBackend(b.name);
        let engine = charging_engine(&b.store);
        let report = run_as(
            &engine,
            None,
            "name: logs\nsteps:\n  cut: { uses: core/fail, retry: { attempts: 2, initial_delay: 10ms }, with: { message: the cutter jammed } }\n  quiet: { uses: core/echo, with: { value: 1 } }\n",
        )
        .await;
        let logs = b.store.attempt_logs(&report.run.id, "cut").unwrap();
        let texts: Vec<(u32, Vec<&str>)> = logs
            .iter()
            .map(|l| (l.attempt, l.lines.iter().map(|l| l.text.as_str()).collect()))
            .collect();
        assert_eq!(
            texts,
            vec![
                (1, vec!["attempt 1", "the cutter jammed"]),
                (2, vec!["attempt 2", "the cutter jammed"]),
            ],
            "[{b:?}] the failing step's lines, per attempt"
        );
        assert_eq!(logs[0].lines[1].level, LogLevel::Error, "[{b:?}] level");
        assert!(
            b.store
                .attempt_logs(&report.run.id, "quiet")
                .unwrap()
                .is_empty(),
            "[{b:?}] a step that logged nothing"
        );
    }
}

// ---- Atomicity and visibility --------------------------------------------------------------

#[test]
fn a_refused_or_failed_commit_writes_nothing_and_an_accepted_one_everything() {
    for b in backends() {
        let _on = OnBackend(b.name);
        let store = &b.store;
        let run = stored_run(&b);
        let mut started = NodeRecord::pending(&run.id, "a");
        started.status = NodeStatus::Running;
        started.attempt = 1;
        store.commit(Some(&started), None, None).unwrap();

        let mut finished = started.clone();
        finished.status = NodeStatus::Succeeded;
        finished.output = Some(json!(1).into());
        let mut fresh = NodeRecord::pending(&run.id, "b");
        fresh.status = NodeStatus::Running;
        let mut run_after = run.clone();
        run_after.status = RunStatus::Running;
        run_after.started_at = Some(7);

        let writes = |t: &mut dyn LedgerTables| -> Result<(), TxnError> {
            raw_grant(t, "alice", 10, "payment-1")?;
            raw_reserve(t, "alice", &run.id, "b", 3, 5_000)?;
            Ok(())
        };
        let refusing = |t: &mut dyn LedgerTables| -> Result<(), HookError> {
            writes(t)?;
            Err(HookError::Refused(
                CreditError::InsufficientCredits {
                    step: "b".into(),
                    user: "alice".into(),
                    needed: 3,
                    available: 0,
                }
                .refusal(),
            ))
        };
        let failing = |t: &mut dyn LedgerTables| -> Result<(), HookError> {
            writes(t)?;
            Err(HookError::Txn(TxnError::Failed(EngineError::Store(
                StoreError::unavailable(std::io::Error::other("the hook failed")),
            ))))
        };

        for (node, label) in [(&finished, "a changed node"), (&fresh, "a new node")] {
            match store.commit(Some(node), Some(&run_after), Some(&refusing)) {
                Err(EngineError::Refused(refusal)) => assert!(
                    matches!(
                        refusal.reason(),
                        Some(CreditError::InsufficientCredits { needed: 3, .. })
                    ),
                    "[{b:?}] {label}: the refusal's reason changed on the way: {refusal:?}"
                ),
                other => panic!("[{b:?}] {label}: a refusing hook gave {other:?}"),
            }
            assert!(
                store
                    .commit(Some(node), Some(&run_after), Some(&failing))
                    .is_err(),
                "[{b:?}] {label}: a failing hook's commit succeeded"
            );
            assert_eq!(
                sorted_nodes(&b, &run.id),
                vec![started.clone()],
                "[{b:?}] {label}: nodes"
            );
            assert_eq!(
                store.run(&run.id).unwrap().as_ref(),
                Some(&run),
                "[{b:?}] {label}: run"
            );
            assert_ledger_empty(&b, label);
        }

        // Accepted: all of it.
        let accepting = |t: &mut dyn LedgerTables| -> Result<(), HookError> { Ok(writes(t)?) };
        store
            .commit(Some(&fresh), Some(&run_after), Some(&accepting))
            .unwrap_or_else(|e| panic!("[{b:?}] the accepted commit: {e}"));
        assert_eq!(
            sorted_nodes(&b, &run.id),
            vec![started.clone(), fresh.clone()],
            "[{b:?}] nodes"
        );
        assert_eq!(
            store.run(&run.id).unwrap().as_ref(),
            Some(&run_after),
            "[{b:?}] run"
        );
        let after = b.ledger().balance("alice").unwrap();
        assert_eq!(
            after,
            balance(7, 3, 0, 10, 2),
            "[{b:?}] the accepted ledger writes"
        );
        verify(&b, "after the accepted commit");

        // A refusal on top of committed records leaves them as they were.
        let refused_again = |t: &mut dyn LedgerTables| -> Result<(), HookError> {
            raw_grant(t, "alice", 5, "payment-2")?;
            raw_resolve(t, &format!("{}/b", run.id), EntryKind::Post)?;
            Err(HookError::Refused(Refusal::new(
                StepFailure::Refused,
                std::io::Error::other("no"),
            )))
        };
        let before = dump(&b);
        assert!(
            matches!(
                store.commit(Some(&finished), None, Some(&refused_again)),
                Err(EngineError::Refused(_))
            ),
            "[{b:?}] the second refusal"
        );
        let mut after = dump(&b);
        if !after.gapless {
            after.last_seq = before.last_seq;
        }
        assert_eq!(
            after, before,
            "[{b:?}] a refusal changed committed ledger records"
        );
        assert_eq!(
            sorted_nodes(&b, &run.id),
            vec![started, fresh],
            "[{b:?}] nodes after the refusal"
        );
        verify(&b, "after the second refusal");
    }
}

#[test]
fn reads_see_committed_writes_and_a_transaction_sees_its_own() {
    for b in backends() {
        let _on = OnBackend(b.name);
        let run = stored_run(&b);
        let mut node = NodeRecord::pending(&run.id, "a");
        node.status = NodeStatus::Running;
        // Users whose names share a prefix (and a `/`) keep their entries apart.
        let (alice, team) = ("alice", "alice/team");
        let seen = Seen::default();
        let expected: Mutex<Option<Written>> = Mutex::new(None);
        let work = |t: &mut dyn LedgerTables| -> Result<(), HookError> {
            seen.reset();
            seen.check("account before any write", t.account(alice)?, None);
            // Read, never written: still no account once the transaction commits.
            seen.check("an account only read", t.account("nobody")?, None);
            seen.check("entries before any write", t.entries(None)?, vec![]);

            let grant = raw_grant(t, alice, 10, "payment-1")?;
            seen.check(
                "account after put_account",
                t.account(alice)?,
                Some(balance(10, 0, 0, 10, 1)),
            );
            seen.check(
                "accounts after put_account",
                t.accounts()?,
                vec![(alice.into(), balance(10, 0, 0, 10, 1))],
            );
            seen.check(
                "entries(user) after append_entry",
                t.entries(Some(alice))?,
                vec![grant.clone()],
            );
            seen.check(
                "entries(all) after append_entry",
                t.entries(None)?,
                vec![grant.clone()],
            );
            seen.check("last_seq after next_seq", t.last_seq()?, grant.seq);
            seen.check(
                "operation after put_operation",
                t.operation("grant:payment-1")?,
                Some(AppliedOperation {
                    params: "grant 10 to alice".into(),
                    seq: grant.seq,
                }),
            );

            let team_grant = raw_grant(t, team, 4, "payment-2")?;
            seen.check("seq order", team_grant.seq > grant.seq, true);
            seen.check(
                "entries of alice beside alice/team",
                t.entries(Some(alice))?,
                vec![grant.clone()],
            );
            seen.check(
                "entries of alice/team",
                t.entries(Some(team))?,
                vec![team_grant.clone()],
            );

            let (reserve, held) = raw_reserve(t, alice, &run.id, "a", 3, 9_000)?;
            seen.check(
                "reservation after put_reservation",
                t.reservation(&held.id)?,
                Some(held.clone()),
            );
            seen.check(
                "pending after put_reservation",
                t.pending()?,
                vec![(9_000, held.id.clone())],
            );
            seen.check(
                "reservations of the step",
                t.reservations(Some((&run.id, "a")))?,
                vec![held.clone()],
            );
            seen.check(
                "reservations of another step",
                t.reservations(Some((&run.id, "b")))?,
                vec![],
            );
            seen.check(
                "all reservations",
                t.reservations(None)?,
                vec![held.clone()],
            );
            seen.check(
                "entries(user) after a second append",
                t.entries(Some(alice))?,
                vec![grant.clone(), reserve.clone()],
            );
            seen.check(
                "entries(all), in sequence order",
                t.entries(None)?,
                vec![grant.clone(), team_grant.clone(), reserve.clone()],
            );
            seen.check(
                "account after the reserve",
                t.account(alice)?,
                Some(balance(7, 3, 0, 10, 2)),
            );
            *expected.lock().unwrap() = Some((grant, team_grant, reserve, held));
            Ok(())
        };
        b.store
            .commit(Some(&node), None, Some(&work))
            .unwrap_or_else(|e| panic!("[{b:?}] commit: {e}"));

        let (grant, team_grant, reserve, held) = expected.lock().unwrap().take().unwrap();
        let d = dump(&b);
        let (only_read, accounts): (Vec<_>, Vec<_>) = d
            .accounts
            .iter()
            .cloned()
            .partition(|(user, _)| user == "nobody");
        assert_eq!(
            accounts,
            vec![
                (alice.to_string(), balance(7, 3, 0, 10, 2)),
                (team.to_string(), balance(4, 0, 0, 4, 1)),
            ],
            "[{b:?}] accounts after the commit"
        );
        assert_eq!(
            d.entries,
            vec![grant.clone(), team_grant.clone(), reserve.clone()],
            "[{b:?}] entries after the commit"
        );
        assert_eq!(
            d.reservations,
            vec![held.clone()],
            "[{b:?}] reservations after the commit"
        );
        assert_eq!(
            d.pending,
            vec![(9_000, held.id.clone())],
            "[{b:?}] pending after the commit"
        );
        assert!(
            d.last_seq >= reserve.seq,
            "[{b:?}] last_seq {} after the commit",
            d.last_seq
        );
        if d.gapless {
            assert_eq!(
                [grant.seq, team_grant.seq, reserve.seq, d.last_seq],
                [1, 2, 3, 3],
                "[{b:?}] a gapless sequence"
            );
        }
        let ledger = b.ledger();
        assert_eq!(
            ledger.entries(alice).unwrap(),
            vec![grant, reserve],
            "[{b:?}] Ledger::entries"
        );
        assert_eq!(
            ledger.entries(team).unwrap(),
            vec![team_grant],
            "[{b:?}] Ledger::entries of alice/team"
        );
        assert_eq!(
            ledger.reservation(&held.id).unwrap(),
            Some(held.clone()),
            "[{b:?}] Ledger::reservation"
        );
        assert_eq!(
            ledger.reservations_for(&run.id, "a").unwrap(),
            vec![held],
            "[{b:?}] reservations_for"
        );
        assert_eq!(
            ledger.balance("nobody").unwrap(),
            Balance::default(),
            "[{b:?}] an unknown user"
        );
        let mut ops = (None, None);
        b.store
            .read_ledger(&mut |t| {
                ops = (
                    t.operation("grant:payment-2")?,
                    t.operation("grant:payment-3")?,
                );
                Ok(())
            })
            .unwrap_or_else(|e| panic!("[{b:?}] read_ledger: {e}"));
        assert_eq!(
            (ops.0.map(|o| o.params), ops.1),
            (Some("grant 4 to alice/team".to_string()), None),
            "[{b:?}] operations after the commit"
        );
        assert_eq!(
            sorted_nodes(&b, &run.id),
            vec![node],
            "[{b:?}] the node committed with them"
        );
        verify(&b, "after the commit");
        // Last, so that everything else is checked too.
        assert_eq!(
            only_read,
            vec![],
            "[{b:?}] a transaction that only read an unknown account left one"
        );
        seen.assert_clean(&b, "inside the transaction");
    }
}

/// `Ledger::sweep_expired` takes any `u64` as now: at the end of time every pending hold is
/// due (the existing credit tests sweep with `u64::MAX`).
#[test]
fn a_sweep_at_the_end_of_time_expires_every_pending_hold() {
    for b in backends() {
        let _on = OnBackend(b.name);
        let run = stored_run(&b);
        let far = techpack_engine::store::now_ms() + 3_600_000;
        commit_work(&b, "reserve", &|t| {
            raw_grant(t, "alice", 5, "payment-1")?;
            raw_reserve(t, "alice", &run.id, "a", 2, far)?;
            Ok(())
        });
        let ledger = b.ledger();
        assert_eq!(
            ledger.sweep_expired(far - 1).unwrap(),
            0,
            "[{b:?}] sweep before the hold ran out"
        );
        let swept = ledger.sweep_expired(u64::MAX);
        assert!(
            matches!(swept, Ok(1)),
            "[{b:?}] sweep_expired(u64::MAX) gave {swept:?}, not Ok(1)"
        );
        assert_eq!(
            ledger
                .reservation(&format!("{}/a", run.id))
                .unwrap()
                .map(|r| r.state),
            Some(ReservationState::Expired),
            "[{b:?}] the reservation"
        );
        assert_eq!(dump(&b).pending, vec![], "[{b:?}] pending after the sweep");
        assert_eq!(
            ledger.balance("alice").unwrap(),
            balance(5, 0, 0, 5, 3),
            "[{b:?}] balance"
        );
        verify(&b, "after the sweep");
    }
}

#[test]
fn the_pending_index_follows_its_reservations() {
    for b in backends() {
        let _on = OnBackend(b.name);
        let run = stored_run(&b);
        let (s1, s2, s3) = (
            format!("{}/s1", run.id),
            format!("{}/s2", run.id),
            format!("{}/s3", run.id),
        );
        let seen = Seen::default();

        commit_work(&b, "reserve", &|t| {
            seen.reset();
            raw_grant(t, "alice", 10, "payment-1")?;
            raw_reserve(t, "alice", &run.id, "s1", 2, 100)?;
            raw_reserve(t, "alice", &run.id, "s2", 3, 500)?;
            raw_reserve(t, "alice", &run.id, "s3", 1, 2_000)?;
            seen.check(
                "pending, soonest first",
                t.pending()?,
                vec![(100, s1.clone()), (500, s2.clone()), (2_000, s3.clone())],
            );
            // Reserved and posted in one transaction: never pending after it.
            raw_reserve(t, "alice", &run.id, "s4", 1, 50)?;
            raw_resolve(t, &format!("{}/s4", run.id), EntryKind::Post)?;
            seen.check("pending after an immediate post", t.pending()?.len(), 3);
            Ok(())
        });
        seen.assert_clean(&b, "in the reserving transaction");
        let pending = |b: &Backend| dump(b).pending;
        assert_eq!(
            pending(&b),
            vec![(100, s1.clone()), (500, s2.clone()), (2_000, s3.clone())],
            "[{b:?}] pending"
        );

        commit_work(&b, "renew", &|t| {
            seen.reset();
            let renewed = raw_renew(t, &s1, 1_000)?;
            seen.check("renewed expiry", renewed.expires_at, 1_000);
            seen.check(
                "pending after a renew",
                t.pending()?,
                vec![(500, s2.clone()), (1_000, s1.clone()), (2_000, s3.clone())],
            );
            Ok(())
        });
        seen.assert_clean(&b, "in the renewing transaction");
        assert_eq!(
            pending(&b),
            vec![(500, s2.clone()), (1_000, s1.clone()), (2_000, s3.clone())],
            "[{b:?}] pending after a renew"
        );

        commit_work(&b, "post", &|t| {
            seen.reset();
            raw_resolve(t, &s2, EntryKind::Post)?;
            seen.check(
                "pending after a post",
                t.pending()?,
                vec![(1_000, s1.clone()), (2_000, s3.clone())],
            );
            Ok(())
        });
        seen.assert_clean(&b, "in the posting transaction");
        assert_eq!(
            pending(&b),
            vec![(1_000, s1.clone()), (2_000, s3.clone())],
            "[{b:?}] pending after a post"
        );
        verify(&b, "after reserve, renew and post");

        // The sweep expires what is due by `now` (inclusive), through the index.
        let ledger = b.ledger();
        assert_eq!(
            ledger.sweep_expired(999).unwrap(),
            0,
            "[{b:?}] sweep before any hold ran out"
        );
        assert_eq!(
            ledger.sweep_expired(1_000).unwrap(),
            1,
            "[{b:?}] sweep at s1's expiry"
        );
        assert_eq!(
            pending(&b),
            vec![(2_000, s3.clone())],
            "[{b:?}] pending after the first sweep"
        );
        assert_eq!(
            ledger.sweep_expired(2_000).unwrap(),
            1,
            "[{b:?}] sweep at s3's expiry"
        );
        assert_eq!(pending(&b), vec![], "[{b:?}] pending after the last sweep");
        assert_eq!(
            ledger.sweep_expired(1_000_000).unwrap(),
            0,
            "[{b:?}] a second sweep"
        );
        let states: Vec<_> = [&s1, &s2, &s3]
            .iter()
            .map(|id| ledger.reservation(id).unwrap().map(|r| r.state))
            .collect();
        use ReservationState::{Expired, Posted};
        assert_eq!(
            states,
            [Some(Expired), Some(Posted), Some(Expired)],
            "[{b:?}] states"
        );
        // 10 granted; s2 (3) and s4 (1) posted; the rest returned.
        assert_eq!(
            ledger.balance("alice").unwrap(),
            balance(6, 0, 4, 10, 10),
            "[{b:?}] balance"
        );
        verify(&b, "after the sweeps");
    }
}

// ---- Ledger invariants ---------------------------------------------------------------------

#[test]
fn i5_grants_apply_once_per_operation_id_and_refuse_its_reuse() {
    for b in backends() {
        let _on = OnBackend(b.name);
        let ledger = b.ledger();
        assert_eq!(
            ledger.grant("alice", 10, "payment-1").unwrap(),
            balance(10, 0, 0, 10, 1),
            "[{b:?}] grant"
        );
        assert_eq!(
            ledger.grant("alice", 10, "payment-1").unwrap(),
            balance(10, 0, 0, 10, 1),
            "[{b:?}] the same grant again is no second grant"
        );
        for (user, amount) in [("alice", 20), ("bob", 10)] {
            match ledger
                .grant(user, amount, "payment-1")
                .as_ref()
                .map_err(CreditError::of)
            {
                Err(Some(CreditError::CreditOperationReused {
                    op_id,
                    applied,
                    requested,
                })) => {
                    assert_eq!(op_id, "grant:payment-1", "[{b:?}]");
                    assert_eq!(applied, "grant 10 to alice", "[{b:?}]");
                    assert_eq!(*requested, format!("grant {amount} to {user}"), "[{b:?}]");
                }
                other => {
                    panic!("[{b:?}] reusing an operation id for {amount} to {user} gave {other:?}")
                }
            }
        }
        assert!(
            ledger.grant("alice", 0, "payment-9").is_err(),
            "[{b:?}] a grant of 0"
        );
        assert!(
            ledger.grant("", 5, "payment-9").is_err(),
            "[{b:?}] a grant to nobody"
        );
        assert_eq!(
            ledger.balance("alice").unwrap(),
            balance(10, 0, 0, 10, 1),
            "[{b:?}] alice"
        );
        assert_eq!(
            ledger.balance("bob").unwrap(),
            Balance::default(),
            "[{b:?}] bob"
        );
        assert_eq!(ledger.all_entries().unwrap().len(), 1, "[{b:?}] entries");

        assert_eq!(
            ledger.grant("alice", 5, "payment-2").unwrap(),
            balance(15, 0, 0, 15, 2),
            "[{b:?}] a new id"
        );
        let entries = ledger.all_entries().unwrap();
        assert!(
            entries[0].seq < entries[1].seq,
            "[{b:?}] entry order {entries:?}"
        );
        assert_eq!(
            entries
                .iter()
                .map(|e| (e.kind, e.amount, e.op_id.as_str()))
                .collect::<Vec<_>>(),
            [
                (EntryKind::Grant, 10, "grant:payment-1"),
                (EntryKind::Grant, 5, "grant:payment-2")
            ],
            "[{b:?}] entries"
        );
        verify(&b, "after grants");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i2_a_balance_never_goes_below_zero() {
    for b in backends() {
        let _on = OnBackend(b.name);
        let engine = charging_engine(&b.store);
        b.ledger().grant("alice", 2, "payment-1").unwrap();
        let report = run_as(
            &engine,
            Some("alice"),
            r#"
name: t
steps:
  a: { uses: core/sleep, credits: 1, with: { ms: 50 } }
  b: { uses: core/sleep, credits: 1, with: { ms: 50 } }
  c: { uses: core/sleep, credits: 1, with: { ms: 50 } }
  d: { uses: core/sleep, credits: 1, with: { ms: 50 } }
"#,
        )
        .await;
        let count = |status| report.nodes.iter().filter(|n| n.status == status).count();
        assert_eq!(
            (count(NodeStatus::Succeeded), count(NodeStatus::Failed)),
            (2, 2),
            "[{b:?}] {:?}",
            report.nodes
        );
        for n in report
            .nodes
            .iter()
            .filter(|n| n.status == NodeStatus::Failed)
        {
            assert_eq!(
                n.error_code.as_deref(),
                Some("insufficient_credits"),
                "[{b:?}] {n:?}"
            );
            assert_eq!(
                reservation_states(b.store.as_ref(), &report.run.id, &n.step_id),
                [],
                "[{b:?}] a refused step holds a reservation"
            );
        }
        assert_eq!(
            b.ledger().balance("alice").unwrap(),
            balance(0, 0, 2, 2, 5),
            "[{b:?}] balance"
        );
        let available = user_account("alice", "available");
        let mut running: i128 = 0;
        for e in b.ledger().entries("alice").unwrap() {
            running += if e.to == available {
                i128::from(e.amount)
            } else {
                0
            };
            running -= if e.from == available {
                i128::from(e.amount)
            } else {
                0
            };
            assert!(
                running >= 0,
                "[{b:?}] available went to {running} at entry {}",
                e.seq
            );
        }
        verify(&b, "after the run");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i3_i7_a_reservation_resolves_once_also_when_its_hold_runs_out_mid_step() {
    for b in backends() {
        let _on = OnBackend(b.name);
        let engine = charging_engine(&b.store);
        let ledger = b.ledger();
        ledger.grant("alice", 10, "payment-1").unwrap();
        let wf = workflow(
            "name: t\nsteps:\n  render: { uses: core/sleep, credits: 3, with: { ms: 1000 } }\n",
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

        let key = format!("{}/render", record.id);
        let held = ledger
            .reservation(&key)
            .unwrap()
            .unwrap_or_else(|| panic!("[{b:?}] no reservation"));
        assert_eq!(held.state, ReservationState::Pending, "[{b:?}] {held:?}");
        assert_eq!(
            ledger.sweep_expired(held.expires_at - 1).unwrap(),
            0,
            "[{b:?}] sweep before expiry"
        );
        // I7: due at its expiry, the sweep returns it.
        assert_eq!(
            ledger.sweep_expired(held.expires_at).unwrap(),
            1,
            "[{b:?}] sweep at expiry"
        );
        assert_eq!(
            ledger.sweep_expired(held.expires_at).unwrap(),
            0,
            "[{b:?}] a second sweep"
        );
        assert_eq!(
            ledger.balance("alice").unwrap().available,
            10,
            "[{b:?}] returned"
        );

        let report = execution
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("[{b:?}] execute: {e}"));
        assert_eq!(
            report.run.status,
            RunStatus::Succeeded,
            "[{b:?}] {:?}",
            report.nodes
        );
        use ReservationState::{Expired, Posted};
        assert_eq!(
            reservation_states(b.store.as_ref(), &record.id, "render"),
            [Expired, Posted],
            "[{b:?}] the expired hold stays expired; the success is charged anew"
        );
        // A posted reservation is final: no sweep expires it.
        assert_eq!(
            ledger.sweep_expired(u64::MAX).unwrap(),
            0,
            "[{b:?}] sweep after the post"
        );
        assert_eq!(
            reservation_states(b.store.as_ref(), &record.id, "render"),
            [Expired, Posted],
            "[{b:?}] after a sweep at the end of time"
        );
        let of_first: Vec<EntryKind> = ledger
            .entries("alice")
            .unwrap()
            .into_iter()
            .filter(|e| e.reservation_id.as_deref() == Some(key.as_str()))
            .map(|e| e.kind)
            .collect();
        assert_eq!(
            of_first,
            [EntryKind::Reserve, EntryKind::Expire],
            "[{b:?}] the expired one's entries"
        );
        let after = ledger.balance("alice").unwrap();
        assert_eq!(
            (after.available, after.pending, after.posted),
            (7, 0, 3),
            "[{b:?}] charged once"
        );
        verify(&b, "after the run");
    }
}

#[tokio::test]
async fn i8_exactly_the_succeeded_paid_steps_are_charged() {
    for b in backends() {
        let _on = OnBackend(b.name);
        let engine = charging_engine(&b.store);
        b.ledger().grant("alice", 30, "payment-1").unwrap();
        let report = run_as(
            &engine,
            Some("alice"),
            r#"
name: t
steps:
  outline: { uses: core/echo, credits: 1, with: { value: 1 } }
  broken: { uses: core/fail, credits: 2, with: { message: "scanner offline" } }
  blocked: { uses: core/echo, credits: 3, needs: broken }
  optional: { uses: core/echo, credits: 4, when: false }
  flaky: { uses: core/fail, credits: 5, with: { times: 1 }, retry: { attempts: 2, initial_delay: 10ms } }
  after: { uses: core/echo, credits: 6, needs: [outline, flaky] }
  free: { uses: core/fail }
"#,
        )
        .await;
        use NodeStatus::{Cancelled, Failed, Skipped, Succeeded};
        use ReservationState::{Posted, Voided};
        let statuses: Vec<_> = [
            "outline", "broken", "blocked", "optional", "flaky", "after", "free",
        ]
        .iter()
        .map(|s| node(&report, s).status)
        .collect();
        assert_eq!(
            statuses,
            [
                Succeeded, Failed, Cancelled, Skipped, Succeeded, Succeeded, Failed
            ],
            "[{b:?}] {:?}",
            report.nodes
        );
        let states = |step| reservation_states(b.store.as_ref(), &report.run.id, step);
        assert_eq!(states("outline"), [Posted], "[{b:?}] outline");
        assert_eq!(states("broken"), [Voided], "[{b:?}] broken");
        assert_eq!(states("blocked"), [], "[{b:?}] blocked never started");
        assert_eq!(states("optional"), [], "[{b:?}] optional was skipped");
        assert_eq!(
            states("flaky"),
            [Posted],
            "[{b:?}] flaky: one reservation across its retry"
        );
        assert_eq!(states("after"), [Posted], "[{b:?}] after");
        assert_eq!(states("free"), [], "[{b:?}] a free step");
        // The general rule, over every node.
        for n in &report.nodes {
            let states = states(&n.step_id);
            match (n.attempt, n.status) {
                (0, _) => assert_eq!(states, [], "[{b:?}] {} never started", n.step_id),
                (_, Succeeded) => {
                    assert_eq!(states, [Posted], "[{b:?}] {}", n.step_id)
                }
                _ => assert!(
                    states
                        .iter()
                        .all(|s| *s != Posted && *s != ReservationState::Pending),
                    "[{b:?}] {}: {states:?}",
                    n.step_id
                ),
            }
        }
        let entries = b.ledger().entries("alice").unwrap();
        for step in ["outline", "flaky", "after"] {
            let id = format!("{}/{step}", report.run.id);
            let count = |kind| {
                entries
                    .iter()
                    .filter(|e| e.kind == kind && e.reservation_id.as_deref() == Some(id.as_str()))
                    .count()
            };
            assert_eq!(
                (
                    count(EntryKind::Reserve),
                    count(EntryKind::Post),
                    count(EntryKind::Void)
                ),
                (1, 1, 0),
                "[{b:?}] {step}'s entries"
            );
        }
        let after = b.ledger().balance("alice").unwrap();
        assert_eq!(
            (after.available, after.pending, after.posted),
            (18, 0, 12),
            "[{b:?}] balance"
        );
        verify(&b, "after the run");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i1_i6_a_mixed_workload_verifies_and_its_accounts_sum_to_zero() {
    for b in backends() {
        let _on = OnBackend(b.name);
        let store = &b.store;
        let ledger = b.ledger();
        ledger.grant("alice", 10, "payment-1").unwrap();
        ledger.grant("bob", 4, "payment-2").unwrap();
        ledger.grant("alice", 3, "payment-3").unwrap();
        let engine = charging_engine(store);
        let yaml = r#"
name: t
steps:
  outline: { uses: core/echo, credits: 2 }
  broken: { uses: core/fail, credits: 1, needs: outline }
  render: { uses: core/echo, credits: 3, needs: outline }
"#;
        for owner in [Some("alice"), Some("bob"), Some("alice"), None, Some("bob")] {
            run_as(&engine, owner, yaml).await;
        }
        // A paid step cancelled while it runs, on an engine with a hook opened anew.
        let hook = CreditHook::open(store.as_ref()).unwrap();
        let engine = engine_charging_with(store, hook);
        let wf = workflow(
            "name: t\nsteps:\n  slow: { uses: core/sleep, credits: 2, with: { ms: 30000 } }\n",
        );
        let record = engine
            .create_run(&wf, Map::new(), Some("alice".into()))
            .await
            .unwrap();
        let mut events = engine.subscribe();
        let runner = engine.clone();
        let id = record.id.clone();
        let execution = tokio::spawn(async move { runner.execute(&id).await });
        wait_until_running(&mut events, &record.id, "slow").await;
        assert!(engine.cancel(&record.id), "[{b:?}] cancel");
        let cancelled = execution.await.unwrap().unwrap();
        assert_eq!(
            cancelled.run.status,
            RunStatus::Cancelled,
            "[{b:?}] the cancelled run"
        );
        assert_eq!(
            reservation_states(store.as_ref(), &record.id, "slow"),
            [ReservationState::Voided],
            "[{b:?}] a cancelled step is refunded"
        );
        assert_eq!(
            ledger.sweep_expired(u64::MAX).unwrap(),
            0,
            "[{b:?}] nothing left pending"
        );

        // I6: the stored ledger matches its log, and a hook opens on it.
        verify(&b, "after the mixed workload");
        CreditHook::open(store.as_ref())
            .unwrap_or_else(|e| panic!("[{b:?}] CreditHook::open: {e}"));
        // I1: every entry moves credits between two accounts; the issuer is minus all grants.
        let trial = ledger.trial_balance().unwrap();
        assert_eq!(trial[ISSUER_ACCOUNT], -17, "[{b:?}] issuer {trial:?}");
        for user in ["alice", "bob"] {
            let bal = ledger.balance(user).unwrap();
            let at = |bucket| trial.get(&user_account(user, bucket)).copied().unwrap_or(0);
            assert_eq!(
                (at("available"), at("pending"), at("posted")),
                (
                    i128::from(bal.available),
                    i128::from(bal.pending),
                    i128::from(bal.posted)
                ),
                "[{b:?}] {user}'s accounts against the trial balance"
            );
            assert_eq!(
                bal.available + bal.pending + bal.posted,
                bal.granted,
                "[{b:?}] {user}: {bal:?}"
            );
        }
        let entries = ledger.all_entries().unwrap();
        assert!(
            entries.windows(2).all(|w| w[0].seq < w[1].seq),
            "[{b:?}] entries out of order"
        );
        for e in &entries {
            let (from, to) = e.kind.accounts(&e.user);
            assert_eq!((&e.from, &e.to), (&from, &to), "[{b:?}] entry {}", e.seq);
        }
        // alice: 13 granted, outline and render posted in both runs (5 each). bob: 4 granted,
        // outline posted in the first run (render refused: 2 left, needs 3) and the second
        // (then nothing left for broken or render).
        assert_eq!(ledger.balance("alice").unwrap().posted, 10, "[{b:?}] alice");
        assert_eq!(ledger.balance("bob").unwrap().posted, 4, "[{b:?}] bob");
    }
}

// ---- Concurrency ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_paid_runs_spend_exactly_the_credits_there_are() {
    for b in backends() {
        let _on = OnBackend(b.name);
        let engine = charging_engine(&b.store);
        b.ledger().grant("alice", 10, "payment-1").unwrap();
        let wf = workflow("name: t\nsteps:\n  render: { uses: core/echo, credits: 1 }\n");
        let mut runs = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let (engine, wf) = (engine.clone(), wf.clone());
            runs.spawn(async move {
                let record = engine
                    .create_run(&wf, Map::new(), Some("alice".into()))
                    .await?;
                engine.execute(&record.id).await
            });
        }
        let (mut succeeded, mut refused) = (0, 0);
        while let Some(report) = runs.join_next().await {
            let report = report
                .unwrap()
                .unwrap_or_else(|e| panic!("[{b:?}] a run: {e}"));
            match report.run.status {
                RunStatus::Succeeded => succeeded += 1,
                _ => {
                    let n = node(&report, "render");
                    assert_eq!(
                        n.error_code.as_deref(),
                        Some("insufficient_credits"),
                        "[{b:?}] {n:?}"
                    );
                    assert_eq!(
                        reservation_states(b.store.as_ref(), &report.run.id, "render"),
                        [],
                        "[{b:?}] a refused run holds a reservation"
                    );
                    refused += 1;
                }
            }
        }
        assert_eq!((succeeded, refused), (10, 40), "[{b:?}] succeeded, refused");
        let after = b.ledger().balance("alice").unwrap();
        assert_eq!(
            (after.available, after.pending, after.posted),
            (0, 0, 10),
            "[{b:?}] balance"
        );
        assert_eq!(
            b.store.runs().unwrap().len(),
            50,
            "[{b:?}] every run stored"
        );
        verify(&b, "after fifty runs");
    }
}

#[test]
fn one_operation_id_granted_from_many_threads_at_once_applies_once() {
    const THREADS: usize = 8;
    for b in backends() {
        let _on = OnBackend(b.name);
        let ledger = b.ledger();

        // The same grant, retried concurrently: all succeed, one applies.
        let barrier = Barrier::new(THREADS);
        let results: Vec<Granted> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..THREADS)
                .map(|_| {
                    scope.spawn(|| {
                        barrier.wait();
                        ledger.grant("alice", 10, "payment-1")
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for r in &results {
            assert_eq!(
                r.as_ref().ok(),
                Some(&balance(10, 0, 0, 10, 1)),
                "[{b:?}] {results:?}"
            );
        }

        // One id, different grants at once (compare-and-swap): exactly one wins.
        let barrier = Barrier::new(THREADS);
        let results: Vec<(u64, Granted)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (1..=THREADS as u64)
                .map(|amount| {
                    let barrier = &barrier;
                    scope.spawn(move || {
                        barrier.wait();
                        (amount, ledger.grant("alice", amount, "payment-2"))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let winners: Vec<u64> = results
            .iter()
            .filter(|(_, r)| r.is_ok())
            .map(|(a, _)| *a)
            .collect();
        assert_eq!(
            winners.len(),
            1,
            "[{b:?}] winners of one operation id: {results:?}"
        );
        for (_, r) in results.iter().filter(|(_, r)| r.is_err()) {
            assert!(
                matches!(
                    r.as_ref().map_err(CreditError::of),
                    Err(Some(CreditError::CreditOperationReused { .. }))
                ),
                "[{b:?}] a losing grant: {r:?}"
            );
        }
        let won = winners[0];
        assert_eq!(
            ledger.balance("alice").unwrap(),
            balance(10 + won, 0, 0, 10 + won, 2),
            "[{b:?}] after the race"
        );

        // Different ids at once: every one applies, none is lost.
        let barrier = Barrier::new(THREADS);
        let name = b.name;
        std::thread::scope(|scope| {
            for t in 0..THREADS {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    for i in 0..5 {
                        ledger
                            .grant("bob", 1, &format!("bob-{t}-{i}"))
                            .unwrap_or_else(|e| panic!("[{name}] grant bob-{t}-{i}: {e}"));
                    }
                });
            }
        });
        let total = (THREADS * 5) as u64;
        assert_eq!(
            ledger.balance("bob").unwrap(),
            balance(total, 0, 0, total, total),
            "[{b:?}] bob"
        );
        let entries = ledger.all_entries().unwrap();
        assert_eq!(entries.len(), 2 + THREADS * 5, "[{b:?}] entries");
        let mut seqs: Vec<u64> = entries.iter().map(|e| e.seq).collect();
        seqs.dedup();
        assert_eq!(
            seqs.len(),
            entries.len(),
            "[{b:?}] duplicate sequence numbers"
        );
        verify(&b, "after the races");
    }
}

// ---- Completion callbacks: the outbox ------------------------------------------------------

/// A stored run of user `alice` with a callback, ended (committed) with `status`.
fn ended_run_with_callback(b: &Backend, status: RunStatus) -> RunRecord {
    let mut run = stored_run(b);
    run.callback = Some("https://hooks.example.com/done".into());
    b.store
        .commit(None, Some(&run), None)
        .unwrap_or_else(|e| panic!("[{b:?}] commit of a pending run: {e}"));
    run.status = status;
    run.finished_at = Some(techpack_engine::store::now_ms());
    b.store
        .commit(None, Some(&run), None)
        .unwrap_or_else(|e| panic!("[{b:?}] commit of the run's end: {e}"));
    run
}

#[test]
fn a_runs_end_queues_one_delivery_per_end_and_only_with_a_callback() {
    for b in backends() {
        let _on = OnBackend(b.name);
        // Unfinished, or without a callback: nothing queued.
        let mut pending = stored_run(&b);
        pending.callback = Some("https://hooks.example.com/done".into());
        b.store.commit(None, Some(&pending), None).unwrap();
        assert!(
            b.store.deliveries(&pending.id).unwrap().is_empty(),
            "[{b:?}] an unfinished run has a delivery"
        );
        let mut silent = stored_run(&b);
        silent.status = RunStatus::Succeeded;
        b.store.commit(None, Some(&silent), None).unwrap();
        assert!(
            b.store.deliveries(&silent.id).unwrap().is_empty(),
            "[{b:?}] a run without a callback has a delivery"
        );

        let mut run = ended_run_with_callback(&b, RunStatus::Failed);
        // The same end committed again (a repeated final write) queues nothing more.
        b.store.commit(None, Some(&run), None).unwrap();
        let deliveries = b.store.deliveries(&run.id).unwrap();
        assert_eq!(deliveries.len(), 1, "[{b:?}] {deliveries:?}");
        let first = &deliveries[0];
        assert_eq!(first.id, format!("{}#0", run.id), "[{b:?}]");
        assert_eq!(first.url, "https://hooks.example.com/done", "[{b:?}]");
        assert_eq!(first.owner.as_deref(), Some("alice"), "[{b:?}]");
        assert_eq!(first.run_status, RunStatus::Failed, "[{b:?}]");
        assert_eq!(first.status, DeliveryStatus::Pending, "[{b:?}]");
        assert!(
            first.attempts.is_empty() && first.claim.is_none(),
            "[{b:?}]"
        );

        // A retried run that ends again reports that end too.
        run.retries = 1;
        run.status = RunStatus::Running;
        b.store.commit(None, Some(&run), None).unwrap();
        run.status = RunStatus::Succeeded;
        b.store.commit(None, Some(&run), None).unwrap();
        let rounds: Vec<(u32, RunStatus)> = b
            .store
            .deliveries(&run.id)
            .unwrap()
            .iter()
            .map(|d| (d.round, d.run_status))
            .collect();
        assert_eq!(
            rounds,
            vec![(0, RunStatus::Failed), (1, RunStatus::Succeeded)],
            "[{b:?}]"
        );

        // A refused transition writes no delivery either.
        let mut refused_run = stored_run(&b);
        refused_run.callback = Some("https://hooks.example.com/done".into());
        refused_run.status = RunStatus::Succeeded;
        let refuse = |_: &mut dyn LedgerTables| -> Result<(), HookError> {
            Err(HookError::Refused(Refusal::new(
                StepFailure::Refused,
                std::io::Error::other("no"),
            )))
        };
        assert!(
            b.store
                .commit(None, Some(&refused_run), Some(&refuse))
                .is_err(),
            "[{b:?}]"
        );
        assert!(
            b.store.deliveries(&refused_run.id).unwrap().is_empty(),
            "[{b:?}] a refused end queued a delivery"
        );
    }
}

#[test]
fn a_claimed_delivery_is_held_until_saved_or_its_hold_runs_out() {
    for b in backends() {
        let _on = OnBackend(b.name);
        let run = ended_run_with_callback(&b, RunStatus::Succeeded);
        let queued = b.store.deliveries(&run.id).unwrap().remove(0);
        let now = queued.next_attempt_at;

        assert!(
            b.store
                .claim_deliveries(now - 1, 1000, 10)
                .unwrap()
                .is_empty(),
            "[{b:?}] claimed before it was due"
        );
        let claimed = b.store.claim_deliveries(now, 1000, 10).unwrap();
        assert_eq!(claimed.len(), 1, "[{b:?}]");
        let token = claimed[0].claim.clone().expect("a claim token");
        assert_eq!(claimed[0].next_attempt_at, now + 1000, "[{b:?}]");
        assert!(
            b.store
                .claim_deliveries(now + 999, 1000, 10)
                .unwrap()
                .is_empty(),
            "[{b:?}] claimed twice while held"
        );

        // The hold ran out (the sender died): another claim takes it, and the first
        // sender's save is refused.
        let again = b.store.claim_deliveries(now + 1000, 1000, 10).unwrap();
        assert_eq!(again.len(), 1, "[{b:?}]");
        let second_token = again[0].claim.clone().unwrap();
        assert_ne!(token, second_token, "[{b:?}]");
        let mut stale = claimed[0].clone();
        stale.status = DeliveryStatus::Delivered;
        stale.claim = None;
        assert!(
            !b.store.save_delivery(&stale, &token).unwrap(),
            "[{b:?}] a lost claim saved"
        );

        // The holder saves a failed attempt: pending again, due when it says.
        let mut failed = again[0].clone();
        failed.claim = None;
        failed.payload = Some("{\"runId\":\"x\"}".into());
        failed.attempts.push(DeliveryAttempt {
            at: now + 1000,
            duration_ms: 12,
            http_status: Some(503),
            error: Some("the receiver answered 503".into()),
        });
        failed.next_attempt_at = now + 5000;
        assert!(
            b.store.save_delivery(&failed, &second_token).unwrap(),
            "[{b:?}]"
        );
        assert_eq!(
            b.store.deliveries(&run.id).unwrap(),
            vec![failed.clone()],
            "[{b:?}] read back as saved"
        );
        assert!(
            b.store
                .claim_deliveries(now + 4999, 1000, 10)
                .unwrap()
                .is_empty(),
            "[{b:?}] claimed before its retry was due"
        );

        // Delivered: never claimed again.
        let mut last = b.store.claim_deliveries(now + 5000, 1000, 10).unwrap();
        assert_eq!(last.len(), 1, "[{b:?}]");
        let token = last[0].claim.clone().unwrap();
        let mut delivered = last.remove(0);
        delivered.claim = None;
        delivered.status = DeliveryStatus::Delivered;
        assert!(
            b.store.save_delivery(&delivered, &token).unwrap(),
            "[{b:?}]"
        );
        assert!(
            b.store
                .claim_deliveries(u64::MAX / 2, 1000, 10)
                .unwrap()
                .is_empty(),
            "[{b:?}] a delivered delivery was claimed"
        );
        assert_eq!(
            b.store.deliveries(&run.id).unwrap()[0].status,
            DeliveryStatus::Delivered,
            "[{b:?}]"
        );
    }
}

#[test]
fn concurrent_claims_take_each_due_delivery_once() {
    const RUNS: usize = 24;
    const THREADS: usize = 6;
    for b in backends() {
        let _on = OnBackend(b.name);
        let ids: Vec<String> = (0..RUNS)
            .map(|_| ended_run_with_callback(&b, RunStatus::Succeeded).id)
            .collect();
        let now = techpack_engine::store::now_ms() + 1;
        let barrier = Barrier::new(THREADS);
        let claimed: Vec<String> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..THREADS)
                .map(|_| {
                    let (barrier, store) = (&barrier, &b.store);
                    scope.spawn(move || {
                        barrier.wait();
                        let mut mine = Vec::new();
                        loop {
                            let batch = store.claim_deliveries(now, 60_000, 3).unwrap();
                            if batch.is_empty() {
                                return mine;
                            }
                            mine.extend(batch.into_iter().map(|d| d.run_id));
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        let mut sorted = claimed.clone();
        sorted.sort();
        let mut expected = ids.clone();
        expected.sort();
        assert_eq!(
            sorted, expected,
            "[{b:?}] each delivery claimed exactly once"
        );
    }
}

// ---- Concurrency limits: admission ----------------------------------------------------------

const LIMITED: &str = "name: limited\nconcurrency: { per_user: 1, per_workflow: 2 }\nsteps:\n  a: { uses: core/echo }\n";

#[test]
fn runs_over_their_limits_are_queued_and_admitted_in_turn() {
    for b in backends() {
        let _on = OnBackend(b.name);
        let wf = workflow(LIMITED);
        let limits = wf.concurrency.expect("the workflow's limits");
        let start = |owner: &str| {
            std::thread::sleep(Duration::from_millis(2));
            let run = run_record(&wf, Some(owner), techpack_engine::store::now_ms());
            let status = b
                .store
                .create_run_limited(&run, &wf.source, &limits)
                .unwrap_or_else(|e| panic!("[{b:?}] create_run_limited: {e}"));
            assert_eq!(
                b.store.run(&run.id).unwrap().map(|r| r.status),
                Some(status),
                "[{b:?}] stored as answered"
            );
            (run, status)
        };
        let (ada1, s) = start("ada");
        assert_eq!(s, RunStatus::Pending, "[{b:?}]");
        let (ada2, s) = start("ada");
        assert_eq!(s, RunStatus::Queued, "[{b:?}] ada's second, over per_user");
        let (bob1, s) = start("bob");
        assert_eq!(s, RunStatus::Pending, "[{b:?}]");
        let (cyd1, s) = start("cyd");
        assert_eq!(
            s,
            RunStatus::Queued,
            "[{b:?}] cyd's first, over per_workflow"
        );
        let queued: Vec<String> = b
            .store
            .queued_runs()
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(
            queued,
            vec![ada2.id.clone(), cyd1.id.clone()],
            "[{b:?}] oldest first"
        );
        assert!(
            b.store.admit_queued("limited", &limits).unwrap().is_empty(),
            "[{b:?}] admitted with no slot free"
        );

        let end = |run: &RunRecord| {
            let mut run = b.store.run(&run.id).unwrap().unwrap();
            run.status = RunStatus::Succeeded;
            b.store.commit(None, Some(&run), None).unwrap();
        };
        // ada's first ends: her second and cyd's both hold no slot; the older goes.
        end(&ada1);
        assert_eq!(
            b.store.admit_queued("limited", &limits).unwrap(),
            vec![ada2.id.clone()],
            "[{b:?}]"
        );
        assert_eq!(
            b.store.run(&ada2.id).unwrap().unwrap().status,
            RunStatus::Pending,
            "[{b:?}]"
        );
        assert!(
            b.store.admit_queued("limited", &limits).unwrap().is_empty(),
            "[{b:?}] admitted twice"
        );
        end(&bob1);
        assert_eq!(
            b.store.admit_queued("limited", &limits).unwrap(),
            vec![cyd1.id.clone()],
            "[{b:?}]"
        );
        assert!(b.store.queued_runs().unwrap().is_empty(), "[{b:?}]");
        // Another workflow's runs are not counted.
        let other = workflow("name: other\nsteps:\n  a: { uses: core/echo }\n");
        let free = run_record(&other, Some("ada"), techpack_engine::store::now_ms());
        assert_eq!(
            b.store
                .create_run_limited(&free, &other.source, &limits)
                .unwrap(),
            RunStatus::Pending,
            "[{b:?}]"
        );
    }
}

#[test]
fn the_unfinished_runs_are_counted_by_status_and_finished_ones_not_at_all() {
    for b in backends() {
        let _on = OnBackend(b.name);
        let count = || {
            b.store
                .count_unfinished_runs()
                .unwrap_or_else(|e| panic!("[{b:?}] count_unfinished_runs: {e}"))
        };
        assert_eq!(count(), UnfinishedRuns::default(), "[{b:?}] an empty store");
        let wf = workflow(LIMITED);
        let limits = wf.concurrency.expect("the workflow's limits");
        let mut runs = Vec::new();
        for owner in ["ada", "ada", "bob", "cyd"] {
            std::thread::sleep(Duration::from_millis(2));
            let run = run_record(&wf, Some(owner), techpack_engine::store::now_ms());
            b.store
                .create_run_limited(&run, &wf.source, &limits)
                .unwrap_or_else(|e| panic!("[{b:?}] create_run_limited: {e}"));
            runs.push(run);
        }
        // ada's second is over per_user, cyd's over per_workflow.
        let expected = UnfinishedRuns {
            queued: 2,
            pending: 2,
            running: 0,
        };
        assert_eq!(count(), expected, "[{b:?}] as created");
        let set = |run: &RunRecord, status: RunStatus| {
            let mut run = b.store.run(&run.id).unwrap().unwrap();
            run.status = status;
            b.store.commit(None, Some(&run), None).unwrap();
        };
        set(&runs[0], RunStatus::Running);
        set(&runs[2], RunStatus::Failed);
        let expected = UnfinishedRuns {
            queued: 2,
            pending: 0,
            running: 1,
        };
        assert_eq!(count(), expected, "[{b:?}] one running, one ended");
        set(&runs[0], RunStatus::Succeeded);
        for run in [&runs[1], &runs[3]] {
            set(run, RunStatus::Cancelled);
        }
        assert_eq!(count(), UnfinishedRuns::default(), "[{b:?}] all ended");
        assert_eq!(
            b.store.runs().unwrap().len(),
            4,
            "[{b:?}] the ended runs stay"
        );
    }
}

#[test]
fn runs_started_at_once_never_hold_more_slots_than_the_limit() {
    const THREADS: usize = 8;
    for b in backends() {
        let _on = OnBackend(b.name);
        let wf = workflow(LIMITED);
        let limits = wf.concurrency.unwrap();
        let barrier = Barrier::new(THREADS);
        let statuses: Vec<RunStatus> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..THREADS)
                .map(|i| {
                    let (barrier, wf, b) = (&barrier, &wf, &b);
                    scope.spawn(move || {
                        let run = run_record(wf, Some(&format!("user{i}")), 0);
                        barrier.wait();
                        b.store
                            .create_run_limited(&run, &wf.source, &limits)
                            .unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let pending = statuses
            .iter()
            .filter(|s| **s == RunStatus::Pending)
            .count();
        assert_eq!(pending, 2, "[{b:?}] {statuses:?}");
        assert_eq!(b.store.queued_runs().unwrap().len(), THREADS - 2, "[{b:?}]");
    }
}

#[test]
fn a_runs_last_node_and_its_end_commit_together_with_the_start_event_first() {
    for b in backends() {
        let _on = OnBackend(b.name);
        let mut started = stored_run(&b);
        started.status = RunStatus::Running;
        started.started_at = Some(techpack_engine::store::now_ms());
        let mut node = NodeRecord::pending(&started.id, "a");
        node.status = NodeStatus::Succeeded;
        node.attempt = 1;
        node.output = Some(json!({"value": 1}).into());
        let mut ended = started.clone();
        ended.status = RunStatus::Succeeded;
        ended.finished_at = Some(techpack_engine::store::now_ms());
        ended.callback = Some("https://hooks.example.com/done".into());
        b.store
            .commit_end(&node, Some(&started), &ended, None)
            .unwrap_or_else(|e| panic!("[{b:?}] commit_end: {e}"));

        assert_eq!(b.store.run(&ended.id).unwrap().as_ref(), Some(&ended));
        assert_eq!(b.store.nodes(&ended.id).unwrap(), vec![node.clone()]);
        assert_eq!(
            b.store.deliveries(&ended.id).unwrap().len(),
            1,
            "the run's end is reported, as any end"
        );
        assert!(
            !b.store.holds(&ended.id),
            "a run that ended is held no more"
        );
        // A store that keeps events has the run's start, the node, and the run's end.
        if let Some(events) = b.store.events_after(&ended.id, 0, 10).unwrap() {
            let seen: Vec<(Option<String>, String)> = events
                .into_iter()
                .map(|e| (e.event.step_id, e.event.status))
                .collect();
            assert_eq!(
                seen,
                vec![
                    (None, "running".to_string()),
                    (Some("a".to_string()), "succeeded".to_string()),
                    (None, "succeeded".to_string()),
                ]
            );
        }
    }
}
