//! Transitions on PostgreSQL commit without waiting for the WAL flush; the engine's flush
//! points (a step's result before its dependents start, a run's end before it is reported
//! done) make them durable. Here PostgreSQL itself crashes right after runs were reported
//! done: every one of them must come back finished. Skipped loudly without PostgreSQL (unless
//! TECHPACK_REQUIRE_POSTGRES=1).

use std::sync::Arc;

use serde_json::Map;
use techpack_engine::store::{PgStore, PgStoreOptions};
use techpack_engine::{
    Engine, EngineConfig, NodeStatus, Resources, RunStatus, StateStore, StepRegistry, Workflow,
};

fn store(url: &str) -> PgStore {
    PgStore::connect_with(
        url,
        PgStoreOptions {
            worker_name: "durability".into(),
            ..PgStoreOptions::default()
        },
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_reported_done_survive_a_crash_of_postgresql() {
    // The shared test server skips or fails as TECHPACK_REQUIRE_POSTGRES says; this test
    // needs a server of its own with fsync on, to crash.
    if techpack_pg_harness::server().is_none() {
        return;
    }
    let pg = techpack_pg_harness::start_durable();
    let url = pg.database();
    let registry = StepRegistry::with_builtins();
    let workflow = Workflow::parse(
        "name: t\nsteps:\n  a: { uses: core/echo, with: { value: 1 } }\n  b: { uses: core/echo, needs: a }\n",
        "t.yaml",
        &registry,
    )
    .unwrap();
    let engine = Engine::new(
        Arc::new(store(&url)),
        registry,
        vec![],
        Resources::new(),
        EngineConfig::default(),
    );
    let mut done = Vec::new();
    for _ in 0..20 {
        let report = engine.run_now(&workflow, Map::new(), None).await.unwrap();
        assert_eq!(report.run.status, RunStatus::Succeeded);
        done.push(report.run.id);
    }
    drop(engine);

    pg.crash_and_restart();

    let store = store(&url);
    for id in &done {
        let run = store
            .run(id)
            .unwrap()
            .expect("a run reported done is stored");
        assert_eq!(run.status, RunStatus::Succeeded, "run {id}");
        let nodes = store.nodes(id).unwrap();
        assert_eq!(nodes.len(), 2, "run {id}");
        assert!(nodes.iter().all(|n| n.status == NodeStatus::Succeeded));
    }
}
