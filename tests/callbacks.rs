//! Completion callbacks against the real `techpack serve`: a local receiver on 127.0.0.1
//! (allowed by address, over http by the operator's flag) gets each run's end, signed with
//! the user's webhook secret — verified here with the HMAC recomputed from the bytes received.
//! A delivery survives a SIGKILL of the server; a host the operator did not allow is refused
//! at the trigger; a rotated secret signs the later callbacks. On PostgreSQL, two workers
//! deliver each callback once (skipped loudly without PostgreSQL).

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Options, Server};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// One request the receiver got: its headers (lower-case names) and the body's bytes.
#[derive(Debug, Clone)]
struct Received {
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// Whether the signature is the HMAC-SHA256 of `timestamp.body` under `secret`.
    fn signed_with(&self, secret: &str) -> bool {
        let timestamp = &self.headers["x-techpack-timestamp"];
        let mut mac = Hmac::<sha2_digest11::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(&self.body);
        let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        self.headers["x-techpack-signature"] == expected
    }
}

/// A minimal HTTP/1.1 receiver on 127.0.0.1: records every POST and answers `status`.
struct Receiver {
    port: u16,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start(status: u16) -> Receiver {
        Receiver::on(TcpListener::bind("127.0.0.1:0").unwrap(), status)
    }

    fn on(listener: TcpListener, status: u16) -> Receiver {
        Receiver::answering(listener, status, String::new())
    }

    /// Answers `status` with `headers` (each line ending in CRLF) added.
    fn answering(listener: TcpListener, status: u16, headers: String) -> Receiver {
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if let Some(request) = read_request(&stream) {
                    log.lock().unwrap().push(request);
                }
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\n{headers}content-length: 2\r\nconnection: close\r\n\r\nok"
                );
            }
        });
        Receiver { port, received }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn allow(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Waits until `count` requests arrived (30 s at most); all of them.
    fn wait_for(&self, count: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let received = self.received.lock().unwrap().clone();
            if received.len() >= count {
                return received;
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {count} callbacks arrived",
                received.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn read_request(stream: &TcpStream) -> Option<Received> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut headers = HashMap::new();
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    let length: usize = headers.get("content-length")?.parse().ok()?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Received { headers, body })
}

const ECHO: &str = "name: ping\nsteps:\n  hello: { uses: core/echo, credits: 2, with: { value: { said: hi } } }\n  after: { uses: core/echo, needs: hello, with: { value: done } }\n";
const FAILING: &str = "name: broken\nsteps:\n  boom: { uses: core/fail, credits: 1, retry: { attempts: 1 }, with: { message: out of thread } }\n";

fn workflows(dir: &Path) -> std::path::PathBuf {
    let workflows = dir.join("workflows");
    std::fs::create_dir_all(&workflows).unwrap();
    std::fs::write(workflows.join("ping.yaml"), ECHO).unwrap();
    std::fs::write(workflows.join("broken.yaml"), FAILING).unwrap();
    workflows
}

fn serve(data: &Path, workflows: &Path, allow: &[String]) -> Server {
    let mut args: Vec<&str> = vec!["--callback-allow-http"];
    for host in allow {
        args.extend(["--callback-allow", host.as_str()]);
    }
    Server::start_with(
        data,
        workflows,
        Options {
            args: &args,
            ..Options::default()
        },
    )
}

fn new_secret(server: &Server, token: &str) -> String {
    let (status, body) = server.send("POST", "/api/me/webhook-secret", Some(token), None);
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["secret"].as_str().unwrap().to_string()
}

fn trigger(server: &Server, token: &str, workflow: &str, callback: &str) -> String {
    let (status, body) = server.send(
        "POST",
        &format!("/api/workflows/{workflow}/runs"),
        Some(token),
        Some(json!({ "inputs": {}, "callback": { "url": callback } })),
    );
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    body["runId"].as_str().unwrap().to_string()
}

/// Polls the run until its deliveries satisfy `done`.
fn wait_deliveries(
    server: &Server,
    token: &str,
    run: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    server.wait_for(token, run, |body| done(&body["deliveries"]))
}

#[test]
fn a_runs_end_is_posted_signed_with_the_users_secret_and_shown_on_the_run() {
    let receiver = Receiver::start(200);
    let dir = tempfile::tempdir().unwrap();
    let workflows = workflows(dir.path());
    let server = serve(&dir.path().join("data"), &workflows, &[receiver.allow()]);
    let token = server.user("ada", 10);
    let secret = new_secret(&server, &token);

    let run = trigger(
        &server,
        &token,
        "ping",
        &receiver.url("/hooks/techpack?x=1"),
    );
    let received = receiver.wait_for(1);
    let callback = &received[0];
    assert!(callback.signed_with(&secret), "{callback:?}");
    assert!(!callback.signed_with("whsec_something_else"));
    let timestamp: u64 = callback.headers["x-techpack-timestamp"].parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        now.abs_diff(timestamp) < 60,
        "timestamp {timestamp}, now {now}"
    );
    assert_eq!(callback.headers["content-type"], "application/json");
    let body = callback.json();
    assert_eq!(body["event"], "run.finished", "{body}");
    assert_eq!(body["runId"], run, "{body}");
    assert_eq!(body["status"], "succeeded", "{body}");
    assert_eq!(body["workflow"]["name"], "ping", "{body}");
    assert_eq!(body["outputs"]["hello"], json!({ "said": "hi" }), "{body}");
    assert_eq!(body["outputs"]["after"], "done", "{body}");
    assert_eq!(body["credits"]["charged"], 2, "{body}");
    assert_eq!(body["credits"]["refunded"], 0, "{body}");
    assert_eq!(
        callback.headers["x-techpack-delivery"],
        body["deliveryId"].as_str().unwrap()
    );

    // The run shows the delivery and its one attempt.
    let shown = wait_deliveries(&server, &token, &run, |d| d[0]["status"] == "delivered");
    let delivery = &shown["deliveries"][0];
    assert_eq!(
        delivery["url"],
        receiver.url("/hooks/techpack?x=1"),
        "{shown}"
    );
    assert_eq!(delivery["runStatus"], "succeeded", "{shown}");
    assert_eq!(delivery["attempts"].as_array().unwrap().len(), 1, "{shown}");
    assert_eq!(delivery["attempts"][0]["httpStatus"], 200, "{shown}");
    let text = shown.to_string();
    assert!(!text.contains(&secret), "the secret is shown on the run");

    // A failed run reports its failure, and its paid step refunded.
    let failed = trigger(&server, &token, "broken", &receiver.url("/hooks/techpack"));
    let received = receiver.wait_for(2);
    let body = received[1].json();
    assert!(received[1].signed_with(&secret));
    assert_eq!(body["runId"], failed, "{body}");
    assert_eq!(body["status"], "failed", "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("out of thread"),
        "{body}"
    );
    assert_eq!(body["credits"]["charged"], 0, "{body}");
    assert_eq!(body["credits"]["refunded"], 1, "{body}");
}

#[test]
fn a_rotated_secret_signs_the_callbacks_after_it() {
    let receiver = Receiver::start(204);
    let dir = tempfile::tempdir().unwrap();
    let workflows = workflows(dir.path());
    let server = serve(&dir.path().join("data"), &workflows, &[receiver.allow()]);
    let token = server.user("ada", 10);
    let first = new_secret(&server, &token);
    trigger(&server, &token, "ping", &receiver.url("/"));
    assert!(receiver.wait_for(1)[0].signed_with(&first));

    let second = new_secret(&server, &token);
    assert_ne!(first, second);
    trigger(&server, &token, "ping", &receiver.url("/"));
    let received = receiver.wait_for(2);
    assert!(received[1].signed_with(&second), "{:?}", received[1]);
    assert!(
        !received[1].signed_with(&first),
        "signed with the old secret"
    );
}

#[test]
fn callbacks_the_operator_did_not_allow_are_refused_at_the_trigger() {
    let receiver = Receiver::start(200);
    let dir = tempfile::tempdir().unwrap();
    let workflows = workflows(dir.path());
    // The receiver's address, and `localhost` by name: the name does not let a callback
    // reach a loopback address.
    let server = serve(
        &dir.path().join("data"),
        &workflows,
        &[receiver.allow(), "localhost".to_string()],
    );
    let token = server.user("ada", 10);
    let start = |callback: Value| {
        server.send(
            "POST",
            "/api/workflows/ping/runs",
            Some(&token),
            Some(json!({ "inputs": {}, "callback": callback })),
        )
    };

    // No secret yet: it could not be signed.
    let (status, body) = start(json!({ "url": receiver.url("/") }));
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "webhook_secret_missing", "{body}");
    new_secret(&server, &token);

    for (url, says) in [
        (
            "https://hooks.example.com/x".to_string(),
            "hooks.example.com:443",
        ),
        (
            format!("http://127.0.0.1:{}/", receiver.port + 1),
            "not allowed",
        ),
        (
            format!("http://localhost:{}/", receiver.port + 1),
            "internal address",
        ),
        (
            "http://169.254.169.254/latest/meta-data/".into(),
            "not allowed",
        ),
        ("ftp://127.0.0.1/".into(), "https"),
        ("not a url".into(), "not a valid"),
        (
            format!("http://u:p@127.0.0.1:{}/", receiver.port),
            "user name",
        ),
    ] {
        let (status, body) = start(json!({ "url": url }));
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {body}");
        assert_eq!(body["error"]["code"], "callback_refused", "{url}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{url}: {message}");
        assert!(
            !message.contains("127.0.0.1:") || url.contains("127.0.0.1"),
            "{message}"
        );
    }
    let (status, body) = start(json!({ "url": receiver.url("/"), "method": "PUT" }));
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_input", "{body}");

    // None of the refused triggers started a run or reached anything.
    std::thread::sleep(Duration::from_millis(500));
    assert!(receiver.received.lock().unwrap().is_empty());
    let (_, runs) = server.send("GET", "/api/me/credits", Some(&token), None);
    assert_eq!(runs["balance"], 10, "{runs}");
}

#[test]
fn a_redirect_is_not_followed_and_counts_as_a_failed_attempt() {
    let elsewhere = Receiver::start(200);
    let redirecting = Receiver::answering(
        TcpListener::bind("127.0.0.1:0").unwrap(),
        307,
        format!("location: {}\r\n", elsewhere.url("/stolen")),
    );
    let dir = tempfile::tempdir().unwrap();
    let workflows = workflows(dir.path());
    let server = serve(
        &dir.path().join("data"),
        &workflows,
        &[redirecting.allow(), elsewhere.allow()],
    );
    let token = server.user("ada", 10);
    let secret = new_secret(&server, &token);
    let run = trigger(&server, &token, "ping", &redirecting.url("/hook"));
    let shown = wait_deliveries(&server, &token, &run, |d| {
        d[0]["attempts"].as_array().is_some_and(|a| !a.is_empty())
    });
    let delivery = &shown["deliveries"][0];
    assert_eq!(delivery["status"], "pending", "{shown}");
    assert_eq!(delivery["attempts"][0]["httpStatus"], 307, "{shown}");
    assert!(
        delivery["attempts"][0]["error"]
            .as_str()
            .unwrap()
            .contains("redirects are not followed"),
        "{shown}"
    );
    assert!(redirecting.wait_for(1)[0].signed_with(&secret));
    assert!(
        elsewhere.received.lock().unwrap().is_empty(),
        "the redirect was followed"
    );
}

#[test]
fn a_delivery_queued_before_a_sigkill_goes_out_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let workflows = workflows(dir.path());
    let data = dir.path().join("data");
    // A port with nothing listening yet: every attempt before the crash fails to connect.
    let reserved = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = reserved.local_addr().unwrap().port();
    drop(reserved);
    let allow = vec![format!("127.0.0.1:{port}")];
    let url = format!("http://127.0.0.1:{port}/done");

    let server = serve(&data, &workflows, &allow);
    let token = server.user("ada", 10);
    let secret = new_secret(&server, &token);
    let run = trigger(&server, &token, "ping", &url);
    let before = wait_deliveries(&server, &token, &run, |d| {
        d[0]["attempts"].as_array().is_some_and(|a| !a.is_empty())
    });
    assert_eq!(before["deliveries"][0]["status"], "pending", "{before}");
    assert_eq!(
        before["deliveries"][0]["attempts"][0]["error"], "could not connect to the receiver",
        "{before}"
    );
    server.kill();

    let receiver = Receiver::on(TcpListener::bind(("127.0.0.1", port)).unwrap(), 200);
    let server = serve(&data, &workflows, &allow);
    let received = receiver.wait_for(1);
    assert!(received[0].signed_with(&secret));
    assert_eq!(received[0].json()["runId"], run);
    let after = wait_deliveries(&server, &token, &run, |d| d[0]["status"] == "delivered");
    let attempts = after["deliveries"][0]["attempts"].as_array().unwrap();
    assert!(attempts.len() >= 2, "{after}");
    assert_eq!(attempts.last().unwrap()["httpStatus"], 200, "{after}");
    assert_eq!(after["deliveries"].as_array().unwrap().len(), 1, "{after}");
}

#[test]
fn two_postgres_workers_deliver_each_callback_once() {
    let Some(pg) = techpack_pg_harness::server() else {
        return;
    };
    let url = pg.database();
    let receiver = Receiver::start(200);
    let dir = tempfile::tempdir().unwrap();
    let workflows = workflows(dir.path());
    let worker = |name: &str| {
        Server::start_with(
            &dir.path().join(name),
            &workflows,
            Options {
                args: &[
                    "--callback-allow-http",
                    "--callback-allow",
                    &receiver.allow(),
                ],
                envs: &[("TECHPACK_DATABASE_URL", &url), ("TECHPACK_LEASE", "2s")],
                ..Options::default()
            },
        )
    };
    let (a, b) = (worker("a"), worker("b"));
    let token = a.user("ada", 100);
    let secret = new_secret(&a, &token);
    let runs: Vec<String> = (0..12)
        .map(|i| {
            let server = if i % 2 == 0 { &a } else { &b };
            trigger(server, &token, "ping", &receiver.url("/"))
        })
        .collect();
    let received = receiver.wait_for(runs.len());
    for run in &runs {
        let shown = wait_deliveries(&b, &token, run, |d| d[0]["status"] == "delivered");
        assert_eq!(
            shown["deliveries"][0]["attempts"].as_array().unwrap().len(),
            1,
            "{shown}"
        );
    }
    // Nothing more arrives: each callback went out once.
    std::thread::sleep(Duration::from_secs(1));
    let received_now = receiver.received.lock().unwrap().clone();
    assert_eq!(received_now.len(), runs.len(), "{received_now:?}");
    let mut ids: Vec<String> = received
        .iter()
        .map(|r| {
            assert!(r.signed_with(&secret));
            r.json()["runId"].as_str().unwrap().to_string()
        })
        .collect();
    ids.sort();
    let mut expected = runs.clone();
    expected.sort();
    assert_eq!(ids, expected);
    assert_eq!(
        pg.psql(
            &url,
            "SELECT count(*) FROM callback_deliveries WHERE status = 'delivered'"
        ),
        "12"
    );
}
