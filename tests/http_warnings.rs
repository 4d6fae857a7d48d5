//! A run that succeeded with tolerated failures, as an app sees it over HTTP against the real
//! `techpack serve`: `status` is `succeeded`, `warnings` names what failed, the node says
//! `tolerated`, the balance shows the refund; and inputs a workflow's rules refuse are a 400
//! before anything runs.

mod common;

use common::{Server, dirs, node};
use reqwest::StatusCode;
use serde_json::json;

const PACK: &str = r#"
name: pack
inputs:
  count: { type: integer, default: 8, minimum: 6, maximum: 10 }
steps:
  analyze: { uses: core/echo, credits: 2, with: { value: analysis } }
  close_ups:
    uses: core/fail
    needs: analyze
    credits: 3
    continue_on_error: true
    with: { message: "only 3 distinct details could be planned" }
  export:
    uses: core/echo
    needs: [analyze, close_ups]
    when: ${{ always() and steps.analyze.status == "succeeded" }}
    with: { value: "close-ups not produced: ${{ steps.close_ups.error }}" }
"#;

#[test]
fn a_run_with_a_tolerated_failure_succeeds_with_warnings_and_a_refund() {
    let (_dir, data, workflows) = dirs(&[]);
    std::fs::write(workflows.join("pack.yaml"), PACK).unwrap();
    std::fs::write(
        workflows.join("clean.yaml"),
        "name: clean\nsteps:\n  a: { uses: core/echo, with: { value: 1 } }\n",
    )
    .unwrap();
    let server = Server::start(&data, &workflows, &[]);
    let alice = server.user("alice", 10);

    let (status, body) = server.send("POST", "/api/workflows/pack/runs", Some(&alice), None);
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let id = body["runId"].as_str().unwrap().to_string();
    let done = server.wait_finished(&alice, &id);
    let run = &done["run"];
    assert_eq!(run["status"], "succeeded", "{done}");
    let warnings = run["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{done}");
    assert_eq!(warnings[0]["step"], "close_ups");
    assert!(
        warnings[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("only 3 distinct details could be planned"),
        "{done}"
    );
    let close_ups = node(&done, "close_ups");
    assert_eq!(close_ups["status"], "failed");
    assert_eq!(close_ups["tolerated"], true);
    assert_eq!(node(&done, "analyze")["tolerated"], false);
    let export = node(&done, "export");
    assert_eq!(export["status"], "succeeded");
    assert!(
        export["output"]
            .as_str()
            .unwrap()
            .starts_with("close-ups not produced: only 3"),
        "{done}"
    );
    // Only the analysis is charged; the tolerated failure is refunded.
    assert_eq!(server.balance(&alice), 8);

    // A clean success has an empty list.
    let (status, body) = server.send("POST", "/api/workflows/clean/runs", Some(&alice), None);
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let clean = body["runId"].as_str().unwrap().to_string();
    let done = server.wait_finished(&alice, &clean);
    assert_eq!(done["run"]["status"], "succeeded");
    assert_eq!(done["run"]["warnings"], json!([]), "{done}");
}

#[test]
fn inputs_out_of_bounds_are_refused_before_anything_runs() {
    let (_dir, data, workflows) = dirs(&[]);
    std::fs::write(workflows.join("pack.yaml"), PACK).unwrap();
    let server = Server::start(&data, &workflows, &[]);
    let alice = server.user("alice", 10);
    let (status, body) = server.send(
        "POST",
        "/api/workflows/pack/runs",
        Some(&alice),
        Some(json!({ "inputs": { "count": 12 } })),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_input");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("input `count` must be 6 to 10, got 12"),
        "{body}"
    );
    assert_eq!(server.balance(&alice), 10);
}
