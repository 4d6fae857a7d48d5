//! Call slots are shared fairly between users: a burst of hostile calls from one user
//! cannot keep another user's call waiting, and cancelled calls give their share back.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::{Map, json};
use techpack_engine::{
    Engine, EngineConfig, NodeStatus, Resources, RunStatus, SledStore, StateStore, StepRegistry,
    Workflow,
};
use techpack_wasm::{CallContext, PluginHost, PluginHostConfig};

const ALICE_LOOPS: usize = 20;

fn as_user(user: &str) -> CallContext {
    CallContext {
        owner: Some(user.to_string()),
        ..context()
    }
}

/// The default host: 16 slots, 4 per user.
fn default_host(cache: &std::path::Path) -> PluginHost {
    PluginHost::with_config(Some(cache), PluginHostConfig::default()).unwrap()
}

/// Alice starts more infinite loops than there are slots, each allowed 5 s; bob's quick call
/// answers before any of hers returns. With one pool for everyone, bob's call would queue
/// behind hers and could only start once one of them had timed out and returned.
///
/// On this current-thread runtime a call that returns records itself before the task it
/// handed its slot to can run, so the order in `finished` is the order in which the calls
/// gave up their slots.
#[tokio::test]
async fn one_users_hostile_burst_does_not_hold_up_another_users_call() {
    let dir = tempfile::tempdir().unwrap();
    let host = default_host(&dir.path().join("cache"));
    let looping = Arc::new(
        host.load(&fixture_plugin(
            dir.path(),
            "infinite_loop",
            "limits: { timeout: 5s }",
        ))
        .unwrap(),
    );
    let echo = host.load(&fixture_plugin(dir.path(), "echo", "")).unwrap();
    let finished = Arc::new(Mutex::new(Vec::new()));
    let alice: Vec<_> = (0..ALICE_LOOPS)
        .map(|_| {
            let (host, looping, finished) = (host.clone(), looping.clone(), finished.clone());
            tokio::spawn(async move {
                let result = host
                    .call(&looping, &json!({}), &json!({}), &as_user("alice"))
                    .await;
                finished.lock().unwrap().push("alice");
                result
            })
        })
        .collect();
    // The current-thread runtime polls every queued task before it polls the test again:
    // after one yield, all of alice's calls have taken a slot or joined the queue. (It polls
    // the test only every 61 task polls, each up to an epoch tick of a looping guest, so
    // more yields would eat into the loops' 5 s.)
    tokio::task::yield_now().await;

    let output = host
        .call(&echo, &json!({"from": "bob"}), &json!({}), &as_user("bob"))
        .await
        .unwrap();
    finished.lock().unwrap().push("bob");

    assert_eq!(output["with"], json!({"from": "bob"}));
    assert_eq!(*finished.lock().unwrap(), vec!["bob"]);
    assert!(alice.iter().all(|call| !call.is_finished()));

    // Cancelled, alice's calls give back their slots and leave the queue: with her share
    // still held or her queue still full, this call would wait for the loops' 5 s.
    for call in &alice {
        call.abort();
    }
    for call in alice {
        assert!(call.await.unwrap_err().is_cancelled());
    }
    host.call(
        &echo,
        &json!({"from": "alice"}),
        &json!({}),
        &as_user("alice"),
    )
    .await
    .unwrap();
    finished.lock().unwrap().push("alice again");
    assert_eq!(*finished.lock().unwrap(), vec!["bob", "alice again"]);
}

/// The same through the engine: the step takes the owner of its run from its context.
/// Alice's run has 16 steps looping for 10 minutes each; bob's run (one plugin step) still
/// finishes, and every one of alice's steps is still running when it has.
#[tokio::test]
async fn a_step_waits_only_for_its_own_runs_owners_share_of_the_slots() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    fixture_plugin(&plugins, "infinite_loop", "limits: { timeout: 600s }");
    fixture_plugin(&plugins, "echo", "");
    let host = default_host(&dir.path().join("cache"));
    let mut registry = StepRegistry::with_builtins();
    let statuses = host.register(&mut registry, &[plugins]);
    assert!(statuses.iter().all(|s| s.result.is_ok()), "{statuses:?}");
    let store: Arc<dyn StateStore> = Arc::new(SledStore::open(&dir.path().join("db")).unwrap());
    let engine = Engine::new(
        store,
        registry.clone(),
        Vec::new(),
        Resources::new(),
        EngineConfig::default(),
    );

    let steps: String = (0..16)
        .map(|i| format!("  loop{i}: {{ uses: wasm/infinite-loop }}\n"))
        .collect();
    let hostile = Workflow::parse(
        &format!("name: hostile\nsteps:\n{steps}"),
        "hostile.yaml",
        &registry,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let quick = Workflow::parse(
        "name: quick\nsteps:\n  greet: { uses: wasm/echo, with: { hello: bob } }\n",
        "quick.yaml",
        &registry,
    )
    .unwrap_or_else(|e| panic!("{e}"));

    let alice_run = engine
        .create_run(&hostile, Map::new(), Some("alice".to_string()))
        .await
        .unwrap();
    let alice = {
        let (engine, id) = (engine.clone(), alice_run.id.clone());
        tokio::spawn(async move { engine.execute(&id).await })
    };
    // Every one of alice's steps has started (and asked for a slot) before bob's run does.
    while !engine
        .report(&alice_run.id)
        .unwrap()
        .nodes
        .iter()
        .all(|n| n.status == NodeStatus::Running)
    {
        assert!(!alice.is_finished(), "alice's run ended: {:?}", alice.await);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::task::yield_now().await;

    let bob_run = engine
        .create_run(&quick, Map::new(), Some("bob".to_string()))
        .await
        .unwrap();
    // Not a speed limit: only what turns a wait behind alice's 10-minute loops (bob's step
    // counted in her share) into a failure instead of a hung test.
    let bob = tokio::time::timeout(Duration::from_secs(120), engine.execute(&bob_run.id))
        .await
        .expect("bob's run waited behind alice's")
        .unwrap();

    assert_eq!(bob.run.status, RunStatus::Succeeded);
    let output = bob.nodes[0]
        .output
        .as_ref()
        .map(|output| output.value().unwrap());
    assert_eq!(
        output.map(|o| o["with"].clone()),
        Some(json!({"hello": "bob"}))
    );
    let alice_nodes = engine.report(&alice_run.id).unwrap().nodes;
    assert!(
        alice_nodes.iter().all(|n| n.status == NodeStatus::Running),
        "{alice_nodes:?}"
    );
    assert!(!alice.is_finished());
    alice.abort();
}
