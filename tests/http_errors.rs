//! The API's one shape, end to end against the real `techpack serve`: every error — also those
//! made by layers and by the router (body limit, timeout, wrong method, unknown route,
//! extractor rejections) — is `{"error":{"code","message"}}` as `application/json`; every
//! body is camelCase; the bearer scheme is case-insensitive; `/api/logs?run=` filters; and
//! logs written to a pipe carry no colour codes.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Options, Server};
use reqwest::StatusCode;
use reqwest::blocking::{RequestBuilder, Response};
use reqwest::header::{ALLOW, CONTENT_TYPE};
use serde_json::{Value, json};

/// The shared server with `hello` and a `slow` workflow, logging at `info` to a pipe that
/// `stop` answers.
fn start(extra: &[&str]) -> (tempfile::TempDir, Server) {
    let (dir, data, workflows) = common::dirs(&["examples/hello.yaml"]);
    std::fs::write(
        workflows.join("slow.yaml"),
        "name: slow\nsteps:\n  nap: { uses: core/sleep, with: { ms: 1500 } }\n  after: { uses: core/echo, needs: nap, with: { value: { done_at: end } } }\n",
    )
    .unwrap();
    let server = Server::start_with(
        &data,
        &workflows,
        Options {
            args: extra,
            envs: &[("RUST_LOG", "info")],
            capture_stderr: true,
            ..Options::default()
        },
    );
    (dir, server)
}

/// Sends `head` (and no more) on a raw connection; the response's status, headers and body.
fn raw(server: &Server, head: &str) -> (u16, String, Vec<u8>) {
    let address = server.address();
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(stream, "{}", head.replace("{host}", address)).unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let (headers, body_start) = loop {
        let n = stream.read(&mut buffer).unwrap();
        assert!(n > 0, "the connection closed before the response's headers");
        received.extend_from_slice(&buffer[..n]);
        if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            break (
                String::from_utf8_lossy(&received[..end]).to_string(),
                end + 4,
            );
        }
    };
    let length: usize = headers
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().unwrap())
        })
        .expect("an error answer has a Content-Length");
    let mut body = received[body_start..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut buffer).unwrap();
        assert!(n > 0, "the connection closed inside the body");
        body.extend_from_slice(&buffer[..n]);
    }
    let status = headers.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, headers, body)
}

/// Stops the server (SIGTERM), which must exit cleanly, and answers what it wrote to stderr.
fn stop(server: Server) -> String {
    let (status, stderr) = server.terminate_with_stderr();
    assert!(status.success());
    stderr
}

/// No answer may name the server's folders (`data/` and `workflows/`, side by side in one
/// temp dir).
fn assert_no_server_path(server: &Server, text: &str) {
    let root = server.data.parent().unwrap().to_str().unwrap();
    assert!(!text.contains(root), "a server path leaked: {text}");
}

/// An error answer: its status, `application/json`, and exactly `{"error":{"code","message"}}`.
fn assert_error(server: &Server, response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status);
    let content_type = response.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("application/json"),
        "{status}: {content_type}"
    );
    let text = response.text().unwrap();
    assert_no_server_path(server, &text);
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    assert_shape(&body, code);
    body
}

fn assert_shape(body: &Value, code: &str) {
    let object = body.as_object().unwrap();
    assert_eq!(object.len(), 1, "{body}");
    let error = body["error"].as_object().unwrap();
    assert_eq!(error.len(), 2, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        !body["error"]["message"].as_str().unwrap().is_empty(),
        "{body}"
    );
}

/// The raw answer's headers name `application/json`, and its body has the error shape.
fn assert_raw_error(server: &Server, (status, headers, body): (u16, String, Vec<u8>), code: &str) {
    let content_type = headers
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type:")
                .map(str::trim)
                .map(String::from)
        })
        .unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "{status}: {headers}"
    );
    let text = String::from_utf8(body).unwrap();
    assert_no_server_path(server, &text);
    assert_shape(&serde_json::from_str(&text).unwrap(), code);
}

/// Every key of `value`'s object, none with an underscore.
fn assert_camel_case(what: &str, value: &Value) {
    let keys: Vec<&String> = value
        .as_object()
        .unwrap_or_else(|| panic!("{what} is not an object: {value}"))
        .keys()
        .collect();
    assert!(
        keys.iter().all(|k| !k.contains('_')),
        "{what} has snake_case keys: {keys:?}"
    );
}

#[test]
fn every_error_is_json_with_a_code() {
    let (_dir, server) = start(&["--max-body-mib", "1"]);
    let token = server.user("alice", 0);

    // 413: a body declared over the limit, refused by the layer before it is read.
    let answer = raw(
        &server,
        &format!(
            "POST /api/products HTTP/1.1\r\nHost: {{host}}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            2 * 1024 * 1024
        ),
    );
    assert_eq!(answer.0, 413, "{}", answer.1);
    assert_raw_error(&server, answer, "too_large");
    let answer = raw(
        &server,
        &format!(
            "POST /api/products/p/images HTTP/1.1\r\nHost: {{host}}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {}\r\n\r\n",
            2 * 1024 * 1024
        ),
    );
    assert_eq!(answer.0, 413, "{}", answer.1);
    assert_raw_error(&server, answer, "too_large");

    // 405, with the methods that do answer.
    let response = server
        .request("DELETE", "/api/products/x")
        .bearer_auth(&token)
        .send()
        .unwrap();
    let allow = response.headers()[ALLOW].to_str().unwrap().to_string();
    assert!(allow.contains("GET"), "{allow}");
    assert_error(
        &server,
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );

    // 404: no such route, inside and outside /api.
    for path in ["/api/nope", "/nope", "/api/products/x/nope"] {
        let response = server
            .request("GET", path)
            .bearer_auth(&token)
            .send()
            .unwrap();
        assert_error(&server, response, StatusCode::NOT_FOUND, "not_found");
    }

    // 400: a body that is not JSON, a body of another type, a form that is not multipart.
    let response = server
        .request("POST", "/api/products")
        .bearer_auth(&token)
        .header(CONTENT_TYPE, "application/json")
        .body("{not json")
        .send()
        .unwrap();
    assert_error(&server, response, StatusCode::BAD_REQUEST, "invalid_input");
    let response = server
        .request("POST", "/api/products")
        .bearer_auth(&token)
        .header(CONTENT_TYPE, "text/plain")
        .body("tote")
        .send()
        .unwrap();
    let body = assert_error(&server, response, StatusCode::BAD_REQUEST, "invalid_input");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("application/json"),
        "{body}"
    );
    let response = server
        .request("POST", "/api/products/p/images")
        .bearer_auth(&token)
        .header(CONTENT_TYPE, "application/json")
        .body("{}")
        .send()
        .unwrap();
    assert_error(&server, response, StatusCode::BAD_REQUEST, "invalid_input");

    // 400: a path parameter that is not text (invalid UTF-8), an unknown query parameter.
    let response = server
        .request("GET", "/api/runs/%FF%FE")
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_error(&server, response, StatusCode::BAD_REQUEST, "invalid_input");
    let response = server
        .request("GET", "/api/logs?nope=1")
        .bearer_auth(&token)
        .send()
        .unwrap();
    let body = assert_error(&server, response, StatusCode::BAD_REQUEST, "invalid_input");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("nope"),
        "{body}"
    );

    // 401: no token, a wrong token, another scheme.
    let response = server.request("GET", "/api/me/credits").send().unwrap();
    assert_error(&server, response, StatusCode::UNAUTHORIZED, "unauthorized");
    let response = server
        .request("GET", "/api/me/credits")
        .bearer_auth("tp_forged")
        .send()
        .unwrap();
    assert_error(&server, response, StatusCode::UNAUTHORIZED, "unauthorized");
    let response = server
        .request("GET", "/api/me/credits")
        .header("Authorization", format!("Basic {token}"))
        .send()
        .unwrap();
    assert_error(&server, response, StatusCode::UNAUTHORIZED, "unauthorized");

    // The scheme is case-insensitive, with any whitespace after it.
    for header in [
        format!("bearer {token}"),
        format!("BEARER {token}"),
        format!("Bearer   {token}"),
    ] {
        let (status, body) = server.answer(
            server
                .request("GET", "/api/me/credits")
                .header("Authorization", header),
        );
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    // A workflow run with bad inputs: the message names the problem, not the server's file.
    let response = server
        .request("POST", "/api/workflows/hello/runs")
        .bearer_auth(&token)
        .json(&json!({ "inputs": { "nope": 1 } }))
        .send()
        .unwrap();
    let body = assert_error(&server, response, StatusCode::BAD_REQUEST, "invalid_input");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("TP017"),
        "{body}"
    );
    stop(server);
}

#[test]
fn a_request_over_the_timeout_answers_408_in_json() {
    let (_dir, server) = start(&["--request-timeout", "300ms"]);
    let token = server.user("bob", 0);
    // A body that never arrives: the handler waits for it until the timeout.
    let started = Instant::now();
    let answer = raw(
        &server,
        &format!(
            "POST /api/products HTTP/1.1\r\nHost: {{host}}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 40\r\n\r\n{{\"name\":"
        ),
    );
    assert_eq!(answer.0, 408, "{}", answer.1);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_raw_error(&server, answer, "timeout");
    stop(server);
}

#[test]
fn bodies_are_camel_case_logs_filter_by_run_and_stderr_has_no_colour() {
    let (_dir, server) = start(&[]);
    let token = server.user("carol", 20);
    let (product, _) = server.product_with_photo(&token);
    let auth = |request: RequestBuilder| request.bearer_auth(&token);

    // The analyze answer: camelCase at the top; the tech pack keeps its schema's names.
    let analyze = |body: Value| {
        server.answer(
            auth(server.request("POST", "/api/tech-pack-v2/base-views/analyze")).json(&body),
        )
    };
    let (status, first) = analyze(json!({ "productId": product }));
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_camel_case("the analyze answer", &first);
    assert!(first["analysisId"].is_string(), "{first}");
    assert!(first["techPack"]["points_of_measure"].is_array(), "{first}");
    // Another reference width is another analysis (not the cache): a second run with its own
    // provider calls. The old snake_case names are still accepted.
    let (status, second) = analyze(json!({ "product_id": product, "width_mm": 400 }));
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["creditsUsed"], 3, "{second}");
    let runs = [
        first["runId"].as_str().unwrap(),
        second["runId"].as_str().unwrap(),
    ];
    assert_ne!(runs[0], runs[1]);

    // The log, by run: each id gives its own lines, and together they are all of them.
    let logs = |query: &str| {
        let (status, body) =
            server.answer(auth(server.request("GET", &format!("/api/logs{query}"))));
        assert_eq!(status, StatusCode::OK, "{body}");
        body["operations"].as_array().unwrap().clone()
    };
    let all = logs("");
    let mut filtered = 0;
    for run in runs {
        let lines = logs(&format!("?run={run}"));
        assert!(!lines.is_empty(), "no log lines for {run}");
        for line in &lines {
            assert_eq!(line["runId"], run, "{line}");
            assert_camel_case("a log line", line);
            assert_camel_case("a log line's usage", &line["usage"]);
        }
        filtered += lines.len();
    }
    assert_eq!(filtered, all.len());
    let response = auth(server.request("GET", "/api/logs?run=run_nope"))
        .send()
        .unwrap();
    assert_error(&server, response, StatusCode::NOT_FOUND, "not_found");

    // Credits, products and revisions.
    let (_, credits) = server.answer(auth(server.request("GET", "/api/me/credits")));
    for entry in credits["history"].as_array().unwrap() {
        assert_camel_case("a ledger entry", entry);
    }
    let (_, shown) = server.answer(auth(
        server.request("GET", &format!("/api/products/{product}")),
    ));
    assert_camel_case("a product", &shown);
    for revision in shown["revisions"].as_array().unwrap() {
        assert_camel_case("a revision", revision);
    }

    // A run record and its events: camelCase, and no server path (the workflow file).
    let (status, accepted) =
        server.answer(auth(server.request("POST", "/api/workflows/slow/runs")).json(&json!({})));
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let run = accepted["runId"].as_str().unwrap().to_string();
    let events = auth(server.request("GET", &format!("/api/runs/{run}/events")))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_no_server_path(&server, &events);
    let mut kinds = Vec::new();
    let mut kind = "";
    for line in events.lines() {
        if let Some(name) = line.strip_prefix("event:") {
            kind = name.trim();
        } else if let Some(data) = line.strip_prefix("data:") {
            let data: Value = serde_json::from_str(data.trim()).unwrap();
            if kind == "snapshot" {
                assert_camel_case("the snapshot's run", &data["run"]);
                data["nodes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .for_each(|node| assert_camel_case("the snapshot's node", node));
            } else {
                assert_camel_case(&format!("a {kind} event"), &data);
                assert_eq!(data["runId"], run.as_str(), "{data}");
            }
            kinds.push(kind.to_string());
        }
    }
    assert!(kinds.iter().any(|k| k == "node"), "{events}");
    let done = server.wait_for(&token, &run, |b| b["run"]["status"] == "succeeded");
    assert_no_server_path(&server, &done.to_string());
    assert_camel_case("a run", &done["run"]);
    assert!(done["run"].get("workflowOrigin").is_none(), "{done}");
    assert_eq!(done["run"]["workflowName"], "slow");
    assert!(done["run"]["workflowSha256"].is_string(), "{done}");
    for node in done["nodes"].as_array().unwrap() {
        assert_camel_case("a node", node);
    }
    // A step's output is data: it keeps its own names.
    assert_eq!(done["nodes"][1]["output"], json!({ "done_at": "end" }));
    let (_, listed) = server.answer(auth(server.request("GET", "/api/workflows")));
    assert_no_server_path(&server, &listed.to_string());

    let stderr = stop(server);
    assert!(stderr.contains("listening"), "{stderr}");
    assert!(
        !stderr.contains("\x1b["),
        "colour codes in a pipe: {stderr:?}"
    );
}
