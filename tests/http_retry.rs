//! Retry and replay over HTTP against the real `techpack serve`: the same run going on after
//! a restart, a replay as a new linked run, and the refusals a caller gets.

mod common;

use common::{Server, dirs, node};
use reqwest::StatusCode;
use serde_json::json;

const FLAKY: &str = r#"
name: flaky
inputs: { label: { type: string, default: "first" } }
steps:
  fetch: { uses: core/echo, with: { value: "fetched" } }
  flaky: { uses: core/fail, needs: fetch, credits: 2, with: { times: 1 } }
  finish: { uses: core/echo, needs: flaky, with: { value: "${{ inputs.label }}" } }
"#;

#[test]
fn a_run_is_retried_and_replayed_over_http_by_its_owner_only() {
    let (_dir, data, workflows) = dirs(&[]);
    std::fs::write(workflows.join("flaky.yaml"), FLAKY).unwrap();
    let server = Server::start(&data, &workflows, &[]);
    let alice = server.user("alice", 10);
    let bob = server.user("bob", 10);
    let (status, body) = server.send("POST", "/api/workflows/flaky/runs", Some(&alice), None);
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let id = body["runId"].as_str().unwrap().to_string();
    let failed = server.wait_finished(&alice, &id);
    assert_eq!(failed["run"]["status"], "failed", "{failed}");
    drop(server);

    // After a restart, from the store.
    let server = Server::start(&data, &workflows, &[]);
    for path in [
        format!("/api/runs/{id}/retry"),
        format!("/api/runs/{id}/replay"),
    ] {
        let (status, body) =
            server.send("POST", &path, Some(&bob), Some(json!({ "from": "fetch" })));
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_eq!(body["error"]["code"], "not_found");
    }

    let (status, body) = server.send("POST", &format!("/api/runs/{id}/retry"), Some(&alice), None);
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["runId"], id.as_str());
    let retried = server.wait_finished(&alice, &id);
    assert_eq!(retried["run"]["status"], "succeeded", "{retried}");
    let flaky = node(&retried, "flaky");
    assert_eq!(flaky["attempt"], 2);
    assert_eq!(flaky["attempts"][0]["outcome"], "failed");
    assert_eq!(flaky["attempts"][1]["outcome"], "succeeded");
    let (_, credits) = server.send("GET", "/api/me/credits", Some(&alice), None);
    assert_eq!(credits["balance"], 8, "{credits}");

    let (status, body) = server.send("POST", &format!("/api/runs/{id}/retry"), Some(&alice), None);
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "nothing_to_retry");

    let (status, body) = server.send(
        "POST",
        &format!("/api/runs/{id}/replay"),
        Some(&alice),
        Some(json!({ "from": "nope" })),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "unknown_step");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("`nope`") && message.contains("fetch, flaky, finish"),
        "{message}"
    );

    let (status, body) = server.send(
        "POST",
        &format!("/api/runs/{id}/replay"),
        Some(&alice),
        Some(json!({ "from": "finish", "inputs": { "label": "second" } })),
    );
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["parentRunId"], id.as_str());
    let replay = body["runId"].as_str().unwrap().to_string();
    assert_ne!(replay, id);
    let replayed = server.wait_finished(&alice, &replay);
    assert_eq!(replayed["run"]["status"], "succeeded", "{replayed}");
    assert_eq!(replayed["run"]["parentRunId"], id.as_str());
    assert_eq!(node(&replayed, "finish")["output"], "second");
    assert_eq!(node(&replayed, "flaky")["reusedFrom"], id.as_str());
    // The paid step's output was taken, not bought again.
    let (_, credits) = server.send("GET", "/api/me/credits", Some(&alice), None);
    assert_eq!(credits["balance"], 8, "{credits}");

    // Another user cannot see the replay either.
    let (status, _) = server.send("GET", &format!("/api/runs/{replay}"), Some(&bob), None);
    assert_eq!(status, StatusCode::NOT_FOUND);
}
