//! The HTTP API end to end: the real `techpack serve` on 127.0.0.1:0, a real HTTP client.
//! Every status path is checked with the caller's balance before and after.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Server;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The status line of an upload whose headers declare `length` bytes (the body is not sent).
fn declared_upload(server: &Server, token: &str, product: &str, length: usize) -> String {
    use std::io::{Read, Write};
    let address = server.address();
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "POST /api/products/{product}/images HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {length}\r\n\r\n"
    )
    .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut response = [0u8; 256];
    let n = stream.read(&mut response).unwrap();
    String::from_utf8_lossy(&response[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// A temp dir with the workflows these tests run: `tech-pack-v2` and `hello`.
fn dirs() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    common::dirs(&["tech-pack-v2.yaml", "examples/hello.yaml"])
}

#[test]
fn every_status_path_leaves_the_balance_right() {
    let (_dir, data, workflows) = dirs();
    let server = Server::start(&data, &workflows, &[]);
    let alice = server.user("alice", 6);
    let analyze = |token: &str, body: Value| {
        server.send(
            "POST",
            "/api/tech-pack-v2/base-views/analyze",
            Some(token),
            Some(body),
        )
    };

    // 401: no token, or a wrong one.
    let (status, body) = server.send(
        "POST",
        "/api/tech-pack-v2/base-views/analyze",
        None,
        Some(json!({ "productId": "x" })),
    );
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthorized");
    assert_eq!(
        analyze("tp_forged_token", json!({ "productId": "x" })).0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(server.balance(&alice), 6);

    // 400: bad body, non-image upload, unknown view.
    let (status, body) = analyze(&alice, json!({ "revisionIds": [] }));
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("productId"),
        "{body}"
    );
    let (product, revision) = server.product_with_upload(&alice);
    assert_eq!(revision["version"], 1);
    let (status, body) = server.upload(&alice, &product, b"%PDF-1.7 not a photo".to_vec(), "front");
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not a PNG or JPEG"),
        "{body}"
    );
    assert_eq!(
        server
            .upload(
                &alice,
                &product,
                std::fs::read("workflows/samples/sample-product.png").unwrap(),
                "inside"
            )
            .0,
        StatusCode::BAD_REQUEST
    );
    // A 26 MiB upload (the limit is 25): refused as soon as its size is declared.
    let status = declared_upload(&server, &alice, &product, 26 * 1024 * 1024);
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");
    let (_, revisions) = server.send(
        "GET",
        &format!("/api/products/{product}/revisions"),
        Some(&alice),
        None,
    );
    assert_eq!(
        revisions["revisions"].as_array().unwrap().len(),
        1,
        "a rejected upload stores nothing"
    );
    assert_eq!(server.balance(&alice), 6);

    // 404: unknown product or revision.
    assert_eq!(
        analyze(&alice, json!({ "productId": "prod_nope" })).0,
        StatusCode::NOT_FOUND
    );
    let (status, body) = analyze(
        &alice,
        json!({ "productId": product, "revisionIds": ["rev_nope"] }),
    );
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(server.balance(&alice), 6);

    // 200: charged once.
    let (status, body) = analyze(&alice, json!({ "productId": product }));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["creditsUsed"], 3, "{body}");
    assert_eq!(body["analyses"].as_array().unwrap().len(), 1);
    let analysis = body["analysisId"].as_str().unwrap().to_string();
    assert_eq!(server.balance(&alice), 3);

    // The same image again: cached, so free (the credits are reserved, then refunded).
    let (status, body) = analyze(&alice, json!({ "productId": product }));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (body["creditsUsed"].clone(), body["creditsRefunded"].clone()),
        (json!(0), json!(3))
    );
    assert_eq!(server.balance(&alice), 3);

    // 200 for a value edit: 1 credit.
    let (status, body) = server.send("POST", "/api/tech-pack-v2/edit", Some(&alice), Some(json!({ "analysisId": analysis, "path": "views.0.materials.0.value", "value": "canvas" })));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["creditsUsed"], 1);
    assert_eq!(server.balance(&alice), 2);

    // 402: before any work.
    let (status, body) = server.send(
        "POST",
        "/api/tech-pack-v2/close-ups/generate",
        Some(&alice),
        Some(json!({ "productId": product, "analysisId": analysis })),
    );
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{body}");
    assert_eq!(body["error"]["code"], "insufficient_credits");
    assert_eq!(server.balance(&alice), 2);

    // 500: the step fails (the offline provider cannot follow an instruction); refunded.
    let (status, body) = server.send("POST", "/api/tech-pack-v2/edit", Some(&alice), Some(json!({ "analysisId": analysis, "path": "views.0.summary", "instruction": "make it shorter" })));
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot interpret instructions"),
        "{body}"
    );
    assert_eq!(server.balance(&alice), 2);

    // Another user sees none of it.
    let bob = server.user("bob", 10);
    assert_eq!(
        server
            .send("GET", &format!("/api/products/{product}"), Some(&bob), None)
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        server
            .send(
                "POST",
                "/api/tech-pack-v2/base-views/analyze",
                Some(&bob),
                Some(json!({ "productId": product }))
            )
            .0,
        StatusCode::NOT_FOUND
    );
    let (status, _) = server.send(
        "POST",
        "/api/tech-pack-v2/edit",
        Some(&bob),
        Some(json!({ "analysisId": analysis, "path": "views.0.summary", "value": "mine" })),
    );
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(server.balance(&bob), 10);
    let (_, history) = server.send("GET", "/api/me/credits", Some(&bob), None);
    assert_eq!(
        history["history"].as_array().unwrap().len(),
        1,
        "only bob's grant: {history}"
    );

    let (status, logs) = server.send("GET", "/api/logs", Some(&alice), None);
    assert_eq!(status, StatusCode::OK);
    assert!(!logs["operations"].as_array().unwrap().is_empty());
    assert!(
        server.send("GET", "/api/logs", Some(&bob), None).1["operations"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(server.terminate().code(), Some(0));
}

#[test]
fn fifty_concurrent_paid_requests_on_credits_for_ten() {
    let (_dir, data, workflows) = dirs();
    let server = Server::start(&data, &workflows, &[]);
    let carol = server.user("carol", 13);
    let (product, revision) = server.product_with_upload(&carol);
    assert_eq!(revision["version"], 1);
    let (status, body) = server.send(
        "POST",
        "/api/tech-pack-v2/base-views/analyze",
        Some(&carol),
        Some(json!({ "productId": product })),
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    let analysis = body["analysisId"].as_str().unwrap().to_string();
    assert_eq!(server.balance(&carol), 10);

    let statuses: Vec<StatusCode> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..50)
            .map(|i| {
                let (server, carol, analysis) = (&server, &carol, &analysis);
                scope.spawn(move || {
                    let body = json!({ "analysisId": analysis, "path": "views.0.summary", "value": format!("edit {i}") });
                    server.send("POST", "/api/tech-pack-v2/edit", Some(carol), Some(body)).0
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::PAYMENT_REQUIRED)
        .count();
    assert_eq!((ok, refused), (10, 40), "{statuses:?}");
    assert_eq!(server.balance(&carol), 0);
    server.kill();
}

#[test]
fn runs_are_idempotent_followable_and_private() {
    let (_dir, data, workflows) = dirs();
    let server = Server::start(&data, &workflows, &[]);
    let dave = server.user("dave", 0);
    let trigger = |key: &str, body: Value| {
        let response = server
            .client
            .post(server.url("/api/workflows/hello/runs"))
            .bearer_auth(&dave)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
            .unwrap();
        (response.status(), response.json::<Value>().unwrap())
    };
    let (status, first) = trigger("k1", json!({ "inputs": { "who": "factory" } }));
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    let (status, again) = trigger("k1", json!({ "inputs": { "who": "factory" } }));
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(again["runId"], first["runId"]);
    assert_eq!(
        trigger("k1", json!({ "inputs": { "who": "someone else" } })).0,
        StatusCode::CONFLICT
    );
    assert_eq!(
        trigger("k2", json!({ "inputs": { "nope": 1 } })).0,
        StatusCode::BAD_REQUEST
    );

    let run = first["runId"].as_str().unwrap();
    // Server-Sent Events until the run ends.
    let events = server
        .client
        .get(server.url(&format!("/api/runs/{run}/events")))
        .bearer_auth(&dave)
        .send()
        .unwrap();
    assert_eq!(events.status(), StatusCode::OK);
    let text = events.text().unwrap();
    assert!(text.contains("event: snapshot"), "{text}");
    let body = server.wait_for(&dave, run, |b| b["run"]["status"] == "succeeded");
    assert_eq!(body["nodes"].as_array().unwrap().len(), 6);
    if !text.contains("\"succeeded\"") {
        panic!("the event stream ended before the run finished: {text}");
    }

    let eve = server.user("eve", 0);
    assert_eq!(
        server
            .send("GET", &format!("/api/runs/{run}"), Some(&eve), None)
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        server
            .send("POST", &format!("/api/runs/{run}/cancel"), Some(&eve), None)
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        server
            .send(
                "POST",
                "/api/workflows/nope/runs",
                Some(&dave),
                Some(json!({}))
            )
            .0,
        StatusCode::NOT_FOUND
    );

    let (status, metrics) = (
        server
            .client
            .get(server.url("/metrics"))
            .send()
            .unwrap()
            .status(),
        server
            .client
            .get(server.url("/metrics"))
            .send()
            .unwrap()
            .text()
            .unwrap(),
    );
    assert_eq!(status, StatusCode::OK);
    assert!(
        metrics.contains("techpack_runs_finished_total{status=\"succeeded\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("techpack_credits_total{kind=\"posted\"}"));
    let (status, openapi) = server.send("GET", "/api/openapi.json", None, None);
    assert_eq!(status, StatusCode::OK);
    assert!(openapi["paths"]["/api/tech-pack-v2/base-views/analyze"].is_object());
    assert_eq!(server.send("GET", "/healthz", None, None).1["status"], "ok");
    server.kill();
}

#[test]
fn an_edited_workflow_takes_effect_and_a_broken_edit_keeps_the_last_good_one() {
    let (_dir, data, workflows) = dirs();
    let server = Server::start(&data, &workflows, &[]);
    let frank = server.user("frank", 0);
    let file = workflows.join("tiny.yaml");
    std::fs::write(
        &file,
        "name: tiny\nversion: 1\nsteps:\n  a: { uses: core/echo, with: { value: one } }\n",
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let run_output = |server: &Server| {
        let (status, body) = server.send(
            "POST",
            "/api/workflows/tiny/runs",
            Some(&frank),
            Some(json!({})),
        );
        if status != StatusCode::ACCEPTED {
            return None;
        }
        let run = body["runId"].as_str().unwrap().to_string();
        let done = server.wait_for(&frank, &run, |b| b["run"]["status"] == "succeeded");
        Some(done["nodes"][0]["output"].clone())
    };
    while run_output(&server).is_none() {
        assert!(
            Instant::now() < deadline,
            "the new workflow was never picked up"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(
        &file,
        "name: tiny\nversion: 2\nsteps:\n  a: { uses: core/echo, with: { value: two } }\n",
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while run_output(&server) != Some(json!("two")) {
        assert!(Instant::now() < deadline, "the edit was never picked up");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(
        &file,
        "name: tiny\nversion: 3\nsteps:\n  a: { uses: core/ecko }\n",
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, listed) = server.send("GET", "/api/workflows", Some(&frank), None);
        let tiny = listed["workflows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["file"].as_str().unwrap().ends_with("tiny.yaml"))
            .unwrap()
            .clone();
        if let Some(errors) = tiny["errors"].as_str() {
            assert!(errors.contains("unknown step kind `core/ecko`"), "{errors}");
            assert_eq!(tiny["version"], "2", "the last good version stays live");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the broken edit was never noticed"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(run_output(&server), Some(json!("two")));
    server.kill();
}

#[test]
fn a_paid_run_killed_mid_step_resumes_at_restart_and_is_charged_once() {
    let (_dir, data, workflows) = dirs();
    std::fs::write(
        workflows.join("slow-paid.yaml"),
        "name: slow-paid\nsteps:\n  work: { uses: core/sleep, credits: 2, with: { ms: 1500 } }\n  after: { uses: core/echo, needs: work }\n",
    )
    .unwrap();
    let server = Server::start(&data, &workflows, &[]);
    let gina = server.user("gina", 5);
    let (status, body) = server.send(
        "POST",
        "/api/workflows/slow-paid/runs",
        Some(&gina),
        Some(json!({})),
    );
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let run = body["runId"].as_str().unwrap().to_string();
    server.wait_for(&gina, &run, |b| b["nodes"][0]["status"] == "running");
    std::thread::sleep(Duration::from_millis(300));
    server.kill();

    let server = Server::start(&data, &workflows, &[]);
    let done = server.wait_for(&gina, &run, |b| b["run"]["status"] == "succeeded");
    // A step's start (with its reservation) is not flushed on its own: the kill may have taken
    // it, and then the run starts over from what was durable (its creation). Either way the
    // step runs to the end once more and the user pays once.
    assert!(done["run"]["resumes"].as_u64().unwrap() <= 1, "{done}");
    assert_eq!(done["nodes"][0]["status"], "succeeded", "{done}");
    assert_eq!(server.balance(&gina), 3, "charged exactly once");
    let (_, credits) = server.send("GET", "/api/me/credits", Some(&gina), None);
    let kinds: Vec<&str> = credits["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "reserve").count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "post").count(),
        1,
        "{kinds:?}"
    );
    server.kill();
}

/// A 201 is a promise: the user, product and photo it names survive a SIGKILL sent the moment
/// the answer arrives (the store commits in the background only every ~500 ms).
#[test]
fn what_a_created_answer_names_survives_a_kill_right_after_it() {
    let (_dir, data, workflows) = dirs();
    let server = Server::start(&data, &workflows, &[]);
    let ivan = server.user("ivan", 0);
    let (product, revision) = server.product_with_upload(&ivan);
    assert_eq!(revision["version"], 1);
    server.kill();

    let server = Server::start(&data, &workflows, &[]);
    let (status, body) = server.send(
        "GET",
        &format!("/api/products/{product}"),
        Some(&ivan),
        None,
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, revisions) = server.send(
        "GET",
        &format!("/api/products/{product}/revisions"),
        Some(&ivan),
        None,
    );
    assert_eq!(status, StatusCode::OK, "{revisions}");
    assert_eq!(
        revisions["revisions"].as_array().map(Vec::len),
        Some(1),
        "{revisions}"
    );
    server.kill();
}

#[test]
fn a_tampered_balance_keeps_the_server_from_starting() {
    let (_dir, data, workflows) = dirs();
    let server = Server::start(&data, &workflows, &[]);
    server.user("henry", 5);
    server.kill();
    {
        use techpack_engine::{SledStore, StateStore};
        let store = SledStore::open(&data).unwrap();
        let mut account = techpack_engine::Ledger::new(&store)
            .balance("henry")
            .unwrap();
        account.available = 500;
        store
            .commit(
                None,
                None,
                Some(&|txn: &mut dyn techpack_engine::LedgerTables| {
                    Ok(txn.put_account("henry", &account)?)
                }),
            )
            .unwrap();
        store.flush().unwrap();
    }
    std::thread::sleep(Duration::from_millis(200));
    let output = Command::new(env!("CARGO_BIN_EXE_techpack"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(&data)
        .arg("--workflows-dir")
        .arg(&workflows)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("henry") && stderr.contains("500"),
        "{stderr}"
    );
}
