//! Shared helpers of the engine's integration tests: the store backends every conformance
//! test runs on ([`backends`]), and the engine harness (registry, workflows, engines with or
//! without the credit hook, running a workflow as a user).
//!
//! A test binary uses it with `mod common;`. Not every binary uses every helper, hence the
//! `dead_code` allowance.
//!
//! # Adding a backend
//! One line in [`backends`]: push a [`Backend`] with its name, its store and whatever must
//! live as long as the store (a temporary directory, a database). PostgreSQL is the second:
//! [`postgres`] takes a fresh database of the harness's server, or skips loudly when
//! PostgreSQL is not installed (`TECHPACK_REQUIRE_POSTGRES=1` makes that a failure);
//! [`postgres_store`] opens `PgStore` on it.

#![allow(dead_code)]

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Map;
use techpack_engine::credits::ReservationState;
use techpack_engine::{
    Balance, CreditHook, Engine, EngineConfig, Ledger, NodeHook, NodeRecord, Resources, RunEvent,
    RunReport, SledStore, StateStore, StepRegistry, Workflow,
};

// ---- Backends ------------------------------------------------------------------------------

/// One implementation of [`StateStore`], fresh and empty, for one test.
pub struct Backend {
    /// Named in every failure message: `sled`, `postgres`.
    pub name: &'static str,
    pub store: Arc<dyn StateStore>,
    /// What must outlive the store (its temporary directory, its database URL). Declared
    /// after `store`, so it is dropped after it.
    _guard: Box<dyn Any + Send + Sync>,
}

impl Backend {
    pub fn new(
        name: &'static str,
        store: Arc<dyn StateStore>,
        guard: impl Any + Send + Sync,
    ) -> Backend {
        Backend {
            name,
            store,
            _guard: Box::new(guard),
        }
    }

    /// The credit ledger in this backend's store.
    pub fn ledger(&self) -> Ledger<'_> {
        Ledger::new(self.store.as_ref())
    }
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// Every store backend, each fresh and empty: what a conformance test runs on.
pub fn backends() -> Vec<Backend> {
    let mut all = vec![sled()];
    all.extend(postgres(postgres_store));
    all
}

/// The embedded store in a temporary directory.
pub fn sled() -> Backend {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = SledStore::open(dir.path()).unwrap_or_else(|e| panic!("[sled] open: {e}"));
    Backend::new("sled", Arc::new(store), dir)
}

/// A PostgreSQL-backed store opened by `open` on a fresh database of the test process's
/// throw-away server; `None` when PostgreSQL is not installed (the harness then prints a loud
/// `=== SKIPPED ... ===` line, and `TECHPACK_REQUIRE_POSTGRES=1` makes it a failure).
pub fn postgres(open: fn(&str) -> Arc<dyn StateStore>) -> Option<Backend> {
    let server = techpack_pg_harness::server()?;
    let url = server.database();
    Some(Backend::new("postgres", open(&url), url))
}

/// The PostgreSQL backend on database `url` (for [`postgres`]).
pub fn postgres_store(url: &str) -> Arc<dyn StateStore> {
    Arc::new(
        techpack_engine::store::PgStore::connect(url)
            .unwrap_or_else(|e| panic!("[postgres] PgStore::connect({url}): {e}")),
    )
}

/// Prints which backend a test was on if it panics while this is alive: a backstop for
/// failures whose message does not name it (a panic inside the engine, an `unwrap`).
pub struct OnBackend(pub &'static str);

impl Drop for OnBackend {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "=== the failure above happened on the `{}` backend ===",
                self.0
            );
        }
    }
}

// ---- Engine harness ------------------------------------------------------------------------

/// The built-in `core/*` step kinds.
pub fn registry() -> StepRegistry {
    StepRegistry::with_builtins()
}

/// Parses a workflow of built-in steps, panicking with its diagnostics if it is invalid.
pub fn workflow(yaml: &str) -> Workflow {
    Workflow::parse(yaml, "test.yaml", &registry()).unwrap_or_else(|e| panic!("{e}"))
}

/// An engine on `store` with these hooks and the default configuration.
pub fn engine_with(store: &Arc<dyn StateStore>, hooks: Vec<Arc<dyn NodeHook>>) -> Engine {
    Engine::new(
        store.clone(),
        registry(),
        hooks,
        Resources::new(),
        EngineConfig::default(),
    )
}

/// An engine on `store` charging through `hook`.
pub fn engine_charging_with(store: &Arc<dyn StateStore>, hook: CreditHook) -> Engine {
    engine_with(store, vec![Arc::new(hook)])
}

/// An engine on `store` charging through a freshly opened (so verified) credit hook.
pub fn charging_engine(store: &Arc<dyn StateStore>) -> Engine {
    let hook = CreditHook::open(store.as_ref()).unwrap_or_else(|e| panic!("CreditHook::open: {e}"));
    engine_charging_with(store, hook)
}

/// Creates a run of `yaml` charged to `owner` (an operator run for `None`) and executes it
/// to its end.
pub async fn run_as(engine: &Engine, owner: Option<&str>, yaml: &str) -> RunReport {
    let record = engine
        .create_run(&workflow(yaml), Map::new(), owner.map(str::to_string))
        .await
        .unwrap_or_else(|e| panic!("create_run: {e}"));
    engine
        .execute(&record.id)
        .await
        .unwrap_or_else(|e| panic!("execute: {e}"))
}

/// The node of step `id` in a report.
pub fn node<'a>(report: &'a RunReport, id: &str) -> &'a NodeRecord {
    report
        .nodes
        .iter()
        .find(|n| n.step_id == id)
        .unwrap_or_else(|| panic!("the report has no step `{id}`: {:?}", report.nodes))
}

pub fn balance(available: u64, pending: u64, posted: u64, granted: u64, entries: u64) -> Balance {
    Balance {
        available,
        pending,
        posted,
        granted,
        entries,
    }
}

/// The states of the reservations one step of a run made, oldest first.
pub fn reservation_states(
    store: &dyn StateStore,
    run_id: &str,
    step: &str,
) -> Vec<ReservationState> {
    Ledger::new(store)
        .reservations_for(run_id, step)
        .unwrap_or_else(|e| panic!("reservations_for({run_id}, {step}): {e}"))
        .iter()
        .map(|r| r.state)
        .collect()
}

/// Waits (at most 10 s) until `step` of `run_id` reports `running`.
pub async fn wait_until_running(
    events: &mut tokio::sync::broadcast::Receiver<RunEvent>,
    run_id: &str,
    step: &str,
) {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .unwrap_or_else(|_| panic!("step `{step}` never started"))
            .expect("the engine's events");
        if event.run_id == run_id
            && event.step_id.as_deref() == Some(step)
            && event.status == "running"
        {
            return;
        }
    }
}
