//! Steps that run after failures: the status functions in `when:` (`always()`, `success()`,
//! `failure()`, `cancelled()`) and `continue_on_error`, on every store backend, with the
//! credits they move read back from the ledger.

mod common;

use serde_json::{Map, Value, json};
use techpack_engine::credits::ReservationState;
use techpack_engine::{NodeStatus, RunStatus, RunWarning};

use common::{
    OnBackend, backends, balance, charging_engine, engine_with, node, reservation_states, run_as,
    wait_until_running, workflow,
};

/// A pipeline whose `cut` fails or not, with a step after it of each kind.
fn pipeline(cut: &str) -> String {
    format!(
        r#"
name: finishing
steps:
  cut: {cut}
  sew:
    uses: core/echo
    needs: cut
    with: {{ value: sewn }}
  report:
    uses: core/echo
    needs: sew
    when: ${{{{ failure() }}}}
    with: {{ value: "${{{{ steps.sew.status }}}}" }}
  cleanup:
    uses: core/echo
    needs: [cut, sew]
    when: ${{{{ always() }}}}
    with: {{ value: "${{{{ steps.cut.error or 'clean' }}}}" }}
  celebrate:
    uses: core/echo
    needs: sew
    when: ${{{{ success() }}}}
    with: {{ value: done }}
  elsewhere:
    uses: core/echo
    with: {{ value: 1 }}
"#
    )
}

#[tokio::test]
async fn always_and_failure_run_after_a_failure_and_success_does_not() {
    for b in backends() {
        let _on = OnBackend(b.name);
        let engine = engine_with(&b.store, Vec::new());
        let report = run_as(
            &engine,
            None,
            &pipeline(r#"{ uses: core/fail, with: { message: "blade broke" } }"#),
        )
        .await;
        let status = |id: &str| node(&report, id).status;
        assert_eq!(status("cut"), NodeStatus::Failed, "[{b:?}]");
        assert_eq!(status("sew"), NodeStatus::Cancelled, "[{b:?}]");
        // `failure()`: something upstream (cut, through sew) failed.
        assert_eq!(status("report"), NodeStatus::Succeeded, "[{b:?}]");
        assert_eq!(
            node(&report, "report").output,
            Some(json!("cancelled").into())
        );
        // `always()`, reading the failed step's error.
        assert_eq!(status("cleanup"), NodeStatus::Succeeded, "[{b:?}]");
        assert_eq!(
            node(&report, "cleanup").output,
            Some(json!("blade broke (attempt 1)").into())
        );
        assert_eq!(status("celebrate"), NodeStatus::Skipped, "[{b:?}]");
        assert_eq!(status("elsewhere"), NodeStatus::Succeeded, "[{b:?}]");
        // A finalizer that ran does not hide the failure.
        assert_eq!(report.run.status, RunStatus::Failed, "[{b:?}]");
        assert_eq!(
            report.run.error.as_deref(),
            Some("step `cut` failed: blade broke (attempt 1)")
        );
        assert!(report.run.warnings.is_empty(), "[{b:?}]");

        let report = run_as(
            &engine,
            None,
            &pipeline(r#"{ uses: core/echo, with: { value: cut } }"#),
        )
        .await;
        let status = |id: &str| node(&report, id).status;
        assert_eq!(status("report"), NodeStatus::Skipped, "[{b:?}]");
        assert_eq!(status("cleanup"), NodeStatus::Succeeded, "[{b:?}]");
        assert_eq!(node(&report, "cleanup").output, Some(json!("clean").into()));
        assert_eq!(status("celebrate"), NodeStatus::Succeeded, "[{b:?}]");
        assert_eq!(report.run.status, RunStatus::Succeeded, "[{b:?}]");

        // What was stored is what was reported.
        let stored = engine.report(&report.run.id).unwrap();
        assert_eq!(stored.nodes, report.nodes, "[{b:?}]");
    }
}

#[tokio::test]
async fn status_functions_combine_with_other_expressions() {
    let b = common::sled();
    let engine = engine_with(&b.store, Vec::new());
    let wf = workflow(
        r#"
name: export
inputs:
  out: { type: string }
steps:
  analyze: { uses: core/fail }
  export:
    uses: core/echo
    needs: analyze
    when: ${{ always() and inputs.out }}
    with: { value: "${{ inputs.out }}" }
"#,
    );
    for (out, want) in [
        (json!("pack"), NodeStatus::Succeeded),
        (Value::Null, NodeStatus::Skipped),
    ] {
        let mut inputs = Map::new();
        if !out.is_null() {
            inputs.insert("out".into(), out.clone());
        }
        let run = engine.create_run(&wf, inputs, None).await.unwrap();
        let report = engine.execute(&run.id).await.unwrap();
        assert_eq!(node(&report, "export").status, want, "out = {out}");
        assert_eq!(report.run.status, RunStatus::Failed);
    }
}

#[tokio::test]
async fn a_tolerated_failure_is_refunded_and_the_run_succeeds_with_a_warning() {
    for b in backends() {
        let _on = OnBackend(b.name);
        let engine = charging_engine(&b.store);
        b.ledger().grant("alice", 20, "payment-1").unwrap();
        let report = run_as(
            &engine,
            Some("alice"),
            r#"
name: pack
steps:
  close_ups:
    uses: core/fail
    credits: 3
    continue_on_error: true
    retry: { attempts: 2, initial_delay: 10ms, jitter: false }
    with: { message: "only 3 distinct details could be planned" }
  sketches: { uses: core/echo, credits: 2, with: { value: drawn } }
  export:
    uses: core/echo
    credits: 1
    needs: [close_ups, sketches]
    with: { value: "close-ups ${{ steps.close_ups.status }}: ${{ steps.close_ups.error }}" }
  notify:
    uses: core/echo
    credits: 1
    needs: export
    when: ${{ always() }}
    with: { value: sent }
  archive:
    uses: core/fail
    credits: 2
    needs: export
    when: ${{ always() }}
    continue_on_error: true
    with: { message: "archive offline" }
"#,
        )
        .await;
        let close_ups = node(&report, "close_ups");
        assert_eq!(close_ups.status, NodeStatus::Failed, "[{b:?}]");
        assert!(close_ups.tolerated, "[{b:?}]");
        assert_eq!(close_ups.attempt, 2, "[{b:?}] retried first");
        assert_eq!(
            node(&report, "export").output,
            Some(
                json!("close-ups failed: only 3 distinct details could be planned (attempt 2)")
                    .into()
            ),
            "[{b:?}]"
        );
        assert_eq!(report.run.status, RunStatus::Succeeded, "[{b:?}]");
        assert_eq!(report.run.error, None, "[{b:?}]");
        let warned: Vec<&str> = report
            .run
            .warnings
            .iter()
            .map(|w| w.step.as_str())
            .collect();
        assert_eq!(warned, ["close_ups", "archive"], "[{b:?}]");
        assert_eq!(
            report.run.warnings[0],
            RunWarning {
                step: "close_ups".into(),
                message: "only 3 distinct details could be planned (attempt 2)".into(),
                code: None,
            },
            "[{b:?}]"
        );
        // The warnings are on the stored run, not only in the report.
        let stored = b.store.run(&report.run.id).unwrap().unwrap();
        assert_eq!(stored.warnings, report.run.warnings, "[{b:?}]");
        assert_eq!(stored.status, RunStatus::Succeeded, "[{b:?}]");

        // Failures are refunded, tolerated or not; successes are charged, finalizers too.
        let states = |step| reservation_states(b.store.as_ref(), &report.run.id, step);
        assert_eq!(states("close_ups"), [ReservationState::Voided], "[{b:?}]");
        assert_eq!(states("archive"), [ReservationState::Voided], "[{b:?}]");
        for step in ["sketches", "export", "notify"] {
            assert_eq!(states(step), [ReservationState::Posted], "[{b:?}] {step}");
        }
        // 20 granted; sketches 2 + export 1 + notify 1 charged; five reservations, each
        // posted or voided: 1 + 5 × 2 entries.
        assert_eq!(
            b.ledger().balance("alice").unwrap(),
            balance(16, 0, 4, 20, 11),
            "[{b:?}]"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_run_runs_its_cancelled_and_always_steps_and_nothing_else() {
    let b = common::sled();
    let engine = charging_engine(&b.store);
    b.ledger().grant("alice", 10, "payment-1").unwrap();
    let wf = workflow(
        r#"
name: t
steps:
  slow: { uses: core/sleep, with: { ms: 30000 } }
  after: { uses: core/echo, needs: slow, with: { value: x } }
  on_cancel:
    uses: core/echo
    needs: slow
    when: ${{ cancelled() }}
    credits: 2
    with: { value: "cleaned up after ${{ steps.slow.status }}" }
  on_failure: { uses: core/echo, needs: slow, when: "${{ failure() }}", with: { value: x } }
"#,
    );
    let run = engine
        .create_run(&wf, Map::new(), Some("alice".into()))
        .await
        .unwrap();
    let mut events = engine.subscribe();
    let runner = engine.clone();
    let id = run.id.clone();
    let execution = tokio::spawn(async move { runner.execute(&id).await });
    wait_until_running(&mut events, &run.id, "slow").await;
    assert!(engine.cancel(&run.id));
    let report = execution.await.unwrap().unwrap();
    assert_eq!(report.run.status, RunStatus::Cancelled);
    assert_eq!(node(&report, "slow").status, NodeStatus::Cancelled);
    assert_eq!(node(&report, "after").status, NodeStatus::Cancelled);
    assert_eq!(node(&report, "on_failure").status, NodeStatus::Skipped);
    let on_cancel = node(&report, "on_cancel");
    assert_eq!(on_cancel.status, NodeStatus::Succeeded);
    assert_eq!(
        on_cancel.output,
        Some(json!("cleaned up after cancelled").into())
    );
    assert_eq!(
        reservation_states(b.store.as_ref(), &run.id, "on_cancel"),
        [ReservationState::Posted]
    );
    assert_eq!(
        b.ledger().balance("alice").unwrap(),
        balance(8, 0, 2, 10, 3)
    );
}
