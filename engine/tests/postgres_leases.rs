//! The PostgreSQL store's leases: one worker executes a run at a time, a worker whose lease
//! was taken over writes nothing for that run again (fencing), and a dead worker's runs can be
//! claimed by another. Skipped loudly without PostgreSQL (unless TECHPACK_REQUIRE_POSTGRES=1).

use std::sync::Arc;

use serde_json::Map;
use techpack_engine::store::{PgStore, PgStoreOptions};
use techpack_engine::{
    Engine, EngineConfig, EngineError, NodeRecord, NodeStatus, Resources, RunStatus, StateStore,
    StepRegistry, Workflow,
};

fn store(url: &str, name: &str) -> PgStore {
    PgStore::connect_with(
        url,
        PgStoreOptions {
            worker_name: name.into(),
            ..PgStoreOptions::default()
        },
    )
    .unwrap()
}

fn engine(store: PgStore) -> Engine {
    Engine::new(
        Arc::new(store),
        StepRegistry::with_builtins(),
        vec![],
        Resources::new(),
        EngineConfig::default(),
    )
}

fn workflow() -> Workflow {
    Workflow::parse(
        "name: t\nsteps:\n  a: { uses: core/echo, with: { value: 1 } }\n  b: { uses: core/echo, needs: a }\n",
        "t.yaml",
        &StepRegistry::with_builtins(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_whose_lease_was_taken_over_writes_nothing_for_that_run() {
    let Some(pg) = techpack_pg_harness::server() else {
        return;
    };
    let url = pg.database();
    let first = engine(store(&url, "first"));
    let second = store(&url, "second");
    let run = first.record_run(&workflow(), Map::new(), None).unwrap();

    // The creator holds the run: nobody else may execute it.
    assert!(!second.claim(&run.id).unwrap());
    assert!(second.claim_expired(10).unwrap().is_empty());

    // The first worker stops renewing (paused, cut off): its lease runs out.
    pg.psql(
        &url,
        &format!(
            "UPDATE run_leases SET expires_at = now() - interval '1 second' WHERE run_id = '{}'",
            run.id
        ),
    );
    assert_eq!(second.claim_expired(10).unwrap(), vec![run.id.clone()]);

    // The paused worker comes back and writes: refused, and nothing is written.
    let mut node = NodeRecord::pending(&run.id, "a");
    node.status = NodeStatus::Succeeded;
    let refused = first.store().commit(Some(&node), None, None).unwrap_err();
    assert!(matches!(refused, EngineError::Fenced(_)), "{refused:?}");
    assert!(second.nodes(&run.id).unwrap().is_empty());
    let executed = first.execute(&run.id).await;
    assert!(
        matches!(
            executed,
            Err(EngineError::RunActive(_)) | Err(EngineError::Fenced(_))
        ),
        "{executed:?}"
    );
    assert_eq!(
        pg.psql(
            &url,
            &format!("SELECT count(*) FROM nodes WHERE run_id = '{}'", run.id)
        ),
        "0"
    );

    // The new owner runs it to the end; the finished run holds no lease any more.
    let second = engine(second);
    let report = second.execute(&run.id).await.unwrap();
    assert_eq!(report.run.status, RunStatus::Succeeded);
    assert_eq!(report.nodes.len(), 2);
    assert_eq!(
        pg.psql(
            &url,
            &format!(
                "SELECT count(*) FROM run_leases WHERE run_id = '{}'",
                run.id
            )
        ),
        "0"
    );
    // And an operator can query it with SQL.
    assert_eq!(
        pg.psql(
            &url,
            &format!("SELECT string_agg(step_id || '=' || status, ',' ORDER BY step_id) FROM nodes WHERE run_id = '{}'", run.id)
        ),
        "a=succeeded,b=succeeded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_survive_a_new_connection_and_keep_their_outputs() {
    let Some(pg) = techpack_pg_harness::server() else {
        return;
    };
    let url = pg.database();
    let first = engine(store(&url, "first"));
    let report = first
        .run_now(&workflow(), Map::new(), Some("alice".into()))
        .await
        .unwrap();
    drop(first);
    let again = store(&url, "again");
    let run = again.run(&report.run.id).unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!(run.owner.as_deref(), Some("alice"));
    let mut nodes = again.nodes(&run.id).unwrap();
    nodes.sort_by(|a, b| a.step_id.cmp(&b.step_id));
    assert!(nodes[0].output.is_some(), "{:?}", nodes[0]);
    assert_eq!(again.runs().unwrap()[0].id, run.id);
    assert!(
        again
            .workflow_source(&run.workflow_sha256)
            .unwrap()
            .is_some()
    );
}
