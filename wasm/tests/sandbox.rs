//! Hostile and broken modules: each one ends its own call with a clear error, and the host
//! answers the next call as if nothing happened.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use techpack_engine::StepError;
use techpack_wasm::PluginError;

/// The failure code a step recording `error` keeps.
fn code(error: &StepError) -> Option<&str> {
    error.code.as_ref().map(|code| code.as_str())
}

#[tokio::test]
async fn a_well_behaved_plugin_gets_with_inputs_and_context() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(&dir.path().join("cache"));
    let echo = host.load(&fixture_plugin(dir.path(), "echo", "")).unwrap();
    let output = host
        .call(
            &echo,
            &json!({"a": [1, "ü"]}),
            &json!({"photo": "x.jpg"}),
            &context(),
        )
        .await
        .unwrap();
    assert_eq!(
        output,
        json!({
            "with": {"a": [1, "ü"]},
            "inputs": {"photo": "x.jpg"},
            "context": {"run_id": "run-1", "step_id": "step", "attempt": 1, "idempotency_key": "run-1/step"}
        })
    );
}

/// On a current-thread runtime a guest that blocked its thread would stop every other task;
/// the ticker below keeps counting while the loop runs, so the guest yields on each epoch.
#[tokio::test(flavor = "current_thread")]
async fn an_infinite_loop_ends_at_its_deadline_without_blocking_tokio() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(&dir.path().join("cache"));
    let plugin = host
        .load(&fixture_plugin(
            dir.path(),
            "infinite_loop",
            "limits: { timeout: 300ms }",
        ))
        .unwrap();
    let ticks = Arc::new(AtomicU32::new(0));
    let ticker = {
        let ticks = ticks.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(10)).await;
                ticks.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let started = Instant::now();
    let error = call(&host, &plugin, json!({})).await.unwrap_err();
    let elapsed = started.elapsed();
    ticker.abort();

    assert_eq!(
        error.to_string(),
        "plugin `infinite-loop` timed out after 300ms"
    );
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(3),
        "{elapsed:?}"
    );
    // Blocked, the ticker could not run before the call returned: 0 ticks. Running, it
    // ticks about 30 times (fewer on a loaded machine).
    let ticks = ticks.load(Ordering::Relaxed);
    assert!(
        ticks >= 3,
        "the runtime was blocked while the guest looped: {ticks} ticks in {elapsed:?}"
    );
    // Only a timeout may be retried.
    let step_error = StepError::from(error);
    assert!(step_error.retryable);
    assert_eq!(code(&step_error), Some("plugin_timeout"));
    assert_host_usable(&host, dir.path()).await;
}

#[tokio::test]
async fn fuel_stops_a_loop_deterministically() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(&dir.path().join("cache"));
    let started = Instant::now();
    let error = load_and_call(
        &host,
        dir.path(),
        "infinite_loop",
        "limits: { timeout: 60s, fuel: 1000000 }",
    )
    .await
    .unwrap_err();
    assert!(
        matches!(error, PluginError::OutOfFuel { fuel: 1000000, .. }),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "plugin `infinite-loop` used all its fuel (1000000 units; `limits.fuel` in its manifest)"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(!StepError::from(error).retryable);
    assert_host_usable(&host, dir.path()).await;
}

#[tokio::test]
async fn a_memory_grow_bomb_stops_at_the_memory_limit() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(&dir.path().join("cache"));
    let error = load_and_call(&host, dir.path(), "memory_bomb", "limits: { memory: 8MiB }")
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "plugin `memory-bomb` hit a resource limit: linear memory would grow from 7232KiB to 8256KiB, \
         over the limit of 8MiB (`limits.memory`)"
    );
    let step_error = StepError::from(error);
    assert!(!step_error.retryable);
    assert_eq!(code(&step_error), Some("plugin_resource_limit"));
    assert_host_usable(&host, dir.path()).await;
}

#[tokio::test]
async fn the_default_memory_limit_applies_when_the_manifest_sets_none() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(&dir.path().join("cache"));
    let error = load_and_call(&host, dir.path(), "memory_bomb", "")
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("over the limit of 64MiB"),
        "{error}"
    );
}

#[tokio::test]
async fn a_table_grow_bomb_stops_at_the_table_limit() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(&dir.path().join("cache"));
    let error = load_and_call(
        &host,
        dir.path(),
        "table_bomb",
        "limits: { table_elements: 5000 }",
    )
    .await
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "plugin `table-bomb` hit a resource limit: a table would grow from 4001 to 5001 elements, \
         over the limit of 5000 (`limits.table_elements`)"
    );
    assert_host_usable(&host, dir.path()).await;
}

#[tokio::test]
async fn deep_recursion_traps_with_a_stack_overflow() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(&dir.path().join("cache"));
    let error = load_and_call(&host, dir.path(), "deep_recursion", "")
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "plugin `deep-recursion` trapped: calling techpack_run: call stack exhausted (runaway recursion?)"
    );
    assert_host_usable(&host, dir.path()).await;
}

#[tokio::test]
async fn a_trap_ends_the_call_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(&dir.path().join("cache"));
    let error = load_and_call(&host, dir.path(), "trap", "")
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "plugin `trap` trapped: calling techpack_run: wasm `unreachable` instruction executed"
    );
    let step_error = StepError::from(error);
    assert!(!step_error.retryable);
    assert_eq!(code(&step_error), Some("plugin_trap"));
    assert_host_usable(&host, dir.path()).await;
}

#[tokio::test]
async fn modules_that_break_the_abi_fail_to_load_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(&dir.path().join("cache"));
    let cases = [
        (
            "missing_export",
            "plugin `missing-export` does not follow the plugin ABI: export `techpack_run` is missing (see plugins/README.md)",
        ),
        (
            "wrong_signature",
            "plugin `wrong-signature` does not follow the plugin ABI: export `techpack_run` has type (i32) -> i32, expected (i32, i32) -> i64 (see plugins/README.md)",
        ),
        (
            "wrong_version",
            "plugin `wrong-version` does not follow the plugin ABI: `techpack_abi_version` returned 2; this host speaks version 1 (see plugins/README.md)",
        ),
        (
            "wasi_import",
            "plugin `wasi-import` does not follow the plugin ABI: it imports `wasi_snapshot_preview1.fd_write`, but the host provides only `techpack.log` (no WASI: plugins get no filesystem, network, clock or environment) (see plugins/README.md)",
        ),
    ];
    for (fixture, expected) in cases {
        let error = host
            .load(&fixture_plugin(dir.path(), fixture, ""))
            .unwrap_err();
        assert_eq!(error.to_string(), expected);
    }
    assert_host_usable(&host, dir.path()).await;
}

#[tokio::test]
async fn what_goes_wrong_while_instantiating_fails_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(&dir.path().join("cache"));
    let started = Instant::now();
    let error = host
        .load(&fixture_plugin(
            dir.path(),
            "start_loop",
            "limits: { timeout: 200ms }",
        ))
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "plugin `start-loop` timed out after 200ms"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // 40 pages of initial memory against a 1 MiB limit.
    let error = host
        .load(&fixture_plugin(
            dir.path(),
            "oversized_output",
            "limits: { memory: 1MiB }",
        ))
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "plugin `oversized-output` hit a resource limit: linear memory would grow from 0 bytes to 2560KiB, \
         over the limit of 1MiB (`limits.memory`)"
    );
    assert_host_usable(&host, dir.path()).await;
}

#[tokio::test]
async fn a_module_that_is_not_webassembly_fails_to_load() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(&dir.path().join("cache"));
    let plugin = fixture_plugin(dir.path(), "echo", "");
    std::fs::write(plugin.join("module.wat"), b"\0asm\x01\0\0\0garbage").unwrap();
    let error = host.load(&plugin).unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with("plugin `echo`: ") && message.contains("module.wat does not compile: "),
        "{message}"
    );
}

#[tokio::test]
async fn garbage_and_misplaced_output_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(&dir.path().join("cache"));
    let error = load_and_call(&host, dir.path(), "garbage_output", "")
        .await
        .unwrap_err();
    assert!(
        error.to_string().starts_with("plugin `garbage-output` returned an invalid result: not JSON (expected ident at line 1 column 2); it starts with \"not json"),
        "{error}"
    );
    assert_eq!(code(&StepError::from(error)), Some("plugin_bad_output"));
    let error = load_and_call(&host, dir.path(), "out_of_bounds_output", "")
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "plugin `out-of-bounds-output` returned an invalid result: the result (100 bytes at 65500) lies outside its memory"
    );
    assert_host_usable(&host, dir.path()).await;
}

#[tokio::test]
async fn oversized_output_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(&dir.path().join("cache"));
    let error = load_and_call(&host, dir.path(), "oversized_output", "")
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "plugin `oversized-output` returned 2097152 bytes of output, more than its limit of 1048576 bytes"
    );
    assert_host_usable(&host, dir.path()).await;
}

#[tokio::test]
async fn a_plugin_error_is_reported_and_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(&dir.path().join("cache"));
    let error = load_and_call(&host, dir.path(), "plugin_error", "")
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "plugin `plugin-error` failed: scanner offline"
    );
    let step_error = StepError::from(error);
    assert!(!step_error.retryable);
    assert_eq!(code(&step_error), Some("plugin_failed"));
}

#[tokio::test]
async fn a_plugins_own_error_code_is_recorded_apart_from_the_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(&dir.path().join("cache"));
    let error = load_and_call(&host, dir.path(), "plugin_error_code", "")
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "plugin `plugin-error-code` failed: size XXL is not graded"
    );
    let step_error = StepError::from(error);
    assert!(!step_error.retryable);
    assert_eq!(code(&step_error), Some("plugin:size_out_of_range"));
}

#[tokio::test]
async fn log_lines_over_the_quota_are_dropped_and_bad_pointers_trap() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(&dir.path().join("cache"));
    let output = load_and_call(&host, dir.path(), "log_flood", "limits: { log_lines: 10 }")
        .await
        .unwrap();
    assert_eq!(output, json!("done"));
    let error = load_and_call(&host, dir.path(), "bad_log_pointer", "")
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "plugin `bad-log-pointer` trapped: calling techpack_run: techpack.log: the message at 65530 (100 bytes) lies outside the plugin's memory"
    );
    assert_host_usable(&host, dir.path()).await;
}

/// The engine drops a step's future when its `timeout:` fires or the run is cancelled; the
/// guest must stop and give back its pool slot and call permit.
#[tokio::test]
async fn dropping_a_running_call_frees_its_slot() {
    let dir = tempfile::tempdir().unwrap();
    let host = techpack_wasm::PluginHost::with_config(
        Some(&dir.path().join("cache")),
        techpack_wasm::PluginHostConfig {
            max_concurrent_calls: 1,
            ..Default::default()
        },
    )
    .unwrap();
    let looping = host
        .load(&fixture_plugin(
            dir.path(),
            "infinite_loop",
            "limits: { timeout: 60s }",
        ))
        .unwrap();
    for _ in 0..3 {
        let dropped =
            tokio::time::timeout(Duration::from_millis(50), call(&host, &looping, json!({}))).await;
        assert!(dropped.is_err(), "the loop cannot finish");
    }
    // With one permit, this would wait forever if a dropped call had kept it.
    tokio::time::timeout(
        Duration::from_secs(10),
        assert_host_usable(&host, dir.path()),
    )
    .await
    .expect("the dropped calls gave back their permit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_calls_than_pool_slots_wait_for_a_slot_instead_of_failing() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(&dir.path().join("cache"));
    let echo = Arc::new(host.load(&fixture_plugin(dir.path(), "echo", "")).unwrap());
    let calls: Vec<_> = (0..40)
        .map(|i| {
            let (host, echo) = (host.clone(), echo.clone());
            tokio::spawn(async move { call(&host, &echo, json!({"i": i})).await })
        })
        .collect();
    for (i, handle) in calls.into_iter().enumerate() {
        assert_eq!(handle.await.unwrap().unwrap()["with"]["i"], json!(i));
    }
}
