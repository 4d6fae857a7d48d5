//! Several `techpack serve` workers on one PostgreSQL database: a dead worker's runs are
//! finished by another within the lease and charged once; a worker paused past its lease
//! writes nothing when it wakes; cancel and the CLI work from anywhere. Skipped loudly
//! without PostgreSQL (a failure with TECHPACK_REQUIRE_POSTGRES=1, as in CI).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Options, Server};
use reqwest::StatusCode;
use serde_json::{Value, json};

const LEASE: &str = "2s";

fn worker(data: &Path, workflows: &Path, url: &str) -> Server {
    Server::start_with(
        data,
        workflows,
        Options {
            envs: &[("TECHPACK_DATABASE_URL", url), ("TECHPACK_LEASE", LEASE)],
            ..Options::default()
        },
    )
}

/// Two workers' data folders and one workflows folder holding `files` (name, text).
fn folders(
    files: &[(&str, &str)],
) -> (
    tempfile::TempDir,
    [std::path::PathBuf; 2],
    std::path::PathBuf,
) {
    let dir = tempfile::tempdir().unwrap();
    let workflows = dir.path().join("workflows");
    std::fs::create_dir_all(&workflows).unwrap();
    for (name, text) in files {
        std::fs::write(workflows.join(name), text).unwrap();
    }
    let data = [dir.path().join("a"), dir.path().join("b")];
    (dir, data, workflows)
}

fn trigger(server: &Server, token: &str, workflow: &str) -> String {
    server.trigger(token, workflow).0
}

fn status(body: &Value) -> &str {
    body["run"]["status"].as_str().unwrap_or("")
}

const SLOW_PAID: &str = "name: slow-paid\nsteps:\n  work: { uses: core/sleep, credits: 2, with: { ms: 1500 } }\n  after: { uses: core/echo, credits: 1, needs: work }\n";

#[test]
fn a_killed_workers_runs_finish_on_another_charged_once() {
    let Some(pg) = techpack_pg_harness::server() else {
        return;
    };
    let url = pg.database();
    let (_dir, [a, b], workflows) = folders(&[("slow-paid.yaml", SLOW_PAID)]);
    let first = worker(&a, &workflows, &url);
    let second = worker(&b, &workflows, &url);
    let token = first.user("ada", 20);

    let runs: Vec<String> = (0..4)
        .map(|_| trigger(&first, &token, "slow-paid"))
        .collect();
    for run in &runs {
        // Visible on the other worker at once, while the first executes it.
        second.wait_for(&token, run, |body| {
            body["nodes"]
                .as_array()
                .is_some_and(|nodes| nodes.iter().any(|n| n["status"] == "running"))
        });
    }
    first.kill();
    let killed_at = Instant::now();

    for run in &runs {
        let body = second.wait_finished(&token, run);
        assert_eq!(status(&body), "succeeded", "{body}");
    }
    let taken_over_in = killed_at.elapsed();
    assert!(
        taken_over_in < Duration::from_secs(15),
        "the runs took {taken_over_in:?} to finish elsewhere"
    );
    // 4 runs × (2 + 1) credits, each paid step charged exactly once.
    assert_eq!(second.balance(&token), 20 - 12);
    let (_, credits) = second.send("GET", "/api/me/credits", Some(&token), None);
    assert_eq!(credits["reserved"], 0, "{credits}");
    assert_eq!(credits["spent"], 12, "{credits}");
    let posts = credits["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "post")
        .count();
    assert_eq!(posts, 8, "{credits}");
    // The constraints agree: no hold pending, one resolution per hold.
    assert_eq!(
        pg.psql(&url, "SELECT count(*) FROM holds WHERE state = 'pending'"),
        "0"
    );
    assert_eq!(
        pg.psql(&url, "SELECT count(*) FROM holds WHERE state = 'posted'"),
        "8"
    );
    assert_eq!(
        pg.psql(
            &url,
            "SELECT count(*) FROM accounts WHERE granted <> available + pending + posted"
        ),
        "0"
    );
}

const NAP: &str = "name: nap\nsteps:\n  nap: { uses: core/sleep, credits: 1, with: { ms: 3000 } }\n  after: { uses: core/echo, needs: nap }\n";

/// Everything the workers write, as one digest.
fn written(pg: &techpack_pg_harness::PgServer, url: &str) -> String {
    pg.psql(
        url,
        "SELECT md5(coalesce((SELECT string_agg(record::text, '|' ORDER BY id) FROM runs), '')
              || coalesce((SELECT string_agg(record::text, '|' ORDER BY run_id, step_id) FROM nodes), '')
              || coalesce((SELECT string_agg(record::text, '|' ORDER BY seq) FROM ledger_entries), '')
              || coalesce((SELECT string_agg(record::text, '|' ORDER BY id) FROM holds), ''))",
    )
}

fn signal(server: &Server, name: &str) {
    let ok = Command::new("kill")
        .args([name, &server.child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {name} failed");
}

#[test]
fn a_worker_paused_past_its_lease_writes_nothing_when_it_wakes() {
    let Some(pg) = techpack_pg_harness::server() else {
        return;
    };
    let url = pg.database();
    let (_dir, [a, b], workflows) = folders(&[("nap.yaml", NAP)]);
    let first = worker(&a, &workflows, &url);
    let second = worker(&b, &workflows, &url);
    let token = first.user("grace", 5);
    let run = trigger(&first, &token, "nap");
    first.wait_for(&token, &run, |body| body["nodes"][0]["status"] == "running");

    signal(&first, "-STOP");
    let body = second.wait_finished(&token, &run);
    assert_eq!(status(&body), "succeeded", "{body}");
    let before = written(pg, &url);

    // The paused worker's step ends when it wakes; every write it tries is fenced.
    signal(&first, "-CONT");
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        written(pg, &url),
        before,
        "the woken worker wrote after losing its lease"
    );
    assert_eq!(second.balance(&token), 4);
    let (status_code, after) = first.send("GET", &format!("/api/runs/{run}"), Some(&token), None);
    assert_eq!(status_code, StatusCode::OK);
    assert_eq!(status(&after), "succeeded", "{after}");
}

#[test]
fn cancel_and_the_cli_work_from_any_worker() {
    let Some(pg) = techpack_pg_harness::server() else {
        return;
    };
    let url = pg.database();
    let (_dir, [a, b], workflows) = folders(&[("nap.yaml", NAP)]);
    let first = worker(&a, &workflows, &url);
    let second = worker(&b, &workflows, &url);
    let token = first.user("hedy", 5);
    let run = trigger(&first, &token, "nap");
    first.wait_for(&token, &run, |body| body["nodes"][0]["status"] == "running");

    // Cancelled through the worker that does not execute it.
    let (code, body) = second.send(
        "POST",
        &format!("/api/runs/{run}/cancel"),
        Some(&token),
        None,
    );
    assert_eq!(code, StatusCode::ACCEPTED, "{body}");
    let body = first.wait_finished(&token, &run);
    assert_eq!(status(&body), "cancelled", "{body}");
    assert_eq!(first.balance(&token), 5, "a cancelled step is not charged");

    // The operator's CLI on the same database, while both servers run.
    let cli = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_techpack"))
            .args(args)
            .env("TECHPACK_DATABASE_URL", &url)
            .env("TECHPACK_DATA_DIR", a.join("cli"))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "techpack {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    assert!(cli(&["runs", "list"]).contains(&run));
    let created = cli(&["users", "create", "ida"]);
    assert!(created.contains("tp_"), "{created}");
    let token = created
        .split_whitespace()
        .find(|w| w.starts_with("tp_"))
        .unwrap()
        .to_string();
    let (code, me) = second.send("GET", "/api/me/credits", Some(&token), None);
    assert_eq!(
        code,
        StatusCode::OK,
        "a user the CLI created is known to every worker: {me}"
    );
}

/// One Server-Sent Event: its `id:`, `event:` and `data:` (as JSON).
#[derive(Debug, Clone)]
struct Sse {
    id: Option<u64>,
    kind: String,
    data: Value,
}

/// The run's event stream on `server` to its end (`Last-Event-ID` when given).
fn stream(server: &Server, token: &str, run: &str, last_event_id: Option<u64>) -> Vec<Sse> {
    let mut request = server
        .request("GET", &format!("/api/runs/{run}/events"))
        .bearer_auth(token)
        .timeout(Duration::from_secs(60));
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id.to_string());
    }
    let response = request.send().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().unwrap();
    text.split("\n\n")
        .filter_map(|block| {
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
            };
            Some(Sse {
                id: field("id:").and_then(|v| v.parse().ok()),
                kind: field("event:")?,
                data: serde_json::from_str(&field("data:")?).unwrap(),
            })
        })
        .collect()
}

const CHAIN: &str = "name: chain\nsteps:\n  one: { uses: core/sleep, with: { ms: 700 } }\n  two: { uses: core/sleep, needs: one, with: { ms: 700 } }\n  three: { uses: core/sleep, needs: two, with: { ms: 700 } }\n";

#[test]
fn any_worker_streams_a_run_another_executes_through_a_takeover() {
    let Some(pg) = techpack_pg_harness::server() else {
        return;
    };
    let url = pg.database();
    let (_dir, [a, b], workflows) = folders(&[("chain.yaml", CHAIN)]);
    let first = worker(&a, &workflows, &url);
    let second = worker(&b, &workflows, &url);
    let token = first.user("grace", 0);
    let run = trigger(&first, &token, "chain");
    first.wait_for(&token, &run, |body| body["nodes"][0]["status"] == "running");

    std::thread::scope(|scope| {
        let watcher = scope.spawn(|| stream(&second, &token, &run, None));
        // The executing worker dies during `one` or `two`; the stream on the other goes on.
        std::thread::sleep(Duration::from_millis(900));
        first.kill();
        let events = watcher.join().unwrap();
        let kinds: Vec<String> = events
            .iter()
            .map(|e| match e.data["stepId"].as_str() {
                Some(step) => format!("{} {step} {}", e.kind, e.data["status"].as_str().unwrap()),
                None => format!("{} {}", e.kind, e.data["status"].as_str().unwrap_or("")),
            })
            .collect();
        assert_eq!(events[0].kind, "snapshot", "{kinds:#?}");
        assert_eq!(
            kinds.last().map(String::as_str),
            Some("run succeeded"),
            "the stream ends with the run: {kinds:#?}"
        );
        for step in ["two", "three"] {
            let running = kinds
                .iter()
                .position(|k| *k == format!("node {step} running"));
            let done = kinds
                .iter()
                .position(|k| *k == format!("node {step} succeeded"));
            assert!(
                running.is_some() && running < done,
                "`{step}` ran and finished in the stream: {kinds:#?}"
            );
        }
        let ids: Vec<u64> = events[1..]
            .iter()
            .map(|e| e.id.expect("an event id"))
            .collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids ascend: {ids:?}");

        // Reconnecting with the id of `two`'s success replays exactly what came after it.
        let cut = kinds
            .iter()
            .position(|k| k == "node two succeeded")
            .unwrap();
        let replay = stream(&second, &token, &run, events[cut].id);
        let tail: Vec<Option<u64>> = events[cut + 1..].iter().map(|e| e.id).collect();
        assert_eq!(
            replay.iter().map(|e| e.id).collect::<Vec<_>>(),
            tail,
            "no snapshot, the events after Last-Event-ID: {replay:#?}"
        );
    });
}

const PAID_ONE: &str = "name: paid-one\nsteps:\n  work: { uses: core/echo, credits: 1 }\n";

#[test]
fn fifty_paid_runs_over_two_workers_spend_exactly_the_credits_there_are() {
    let Some(pg) = techpack_pg_harness::server() else {
        return;
    };
    let url = pg.database();
    let (_dir, [a, b], workflows) = folders(&[("paid-one.yaml", PAID_ONE)]);
    let workers = [worker(&a, &workflows, &url), worker(&b, &workflows, &url)];
    let token = workers[0].user("joan", 10);

    // A trigger is refused with 402 once the runs started before it hold every credit; the
    // others are accepted and refused, if at all, when their paid step would start.
    let runs: Vec<(usize, String)> = std::thread::scope(|scope| {
        let triggers: Vec<_> = (0..50)
            .map(|i| {
                let (workers, token) = (&workers, &token);
                scope.spawn(move || {
                    let (status, body) = workers[i % 2].send(
                        "POST",
                        "/api/workflows/paid-one/runs",
                        Some(token),
                        Some(json!({ "inputs": {} })),
                    );
                    match status {
                        StatusCode::ACCEPTED => {
                            Some((i % 2, body["runId"].as_str().unwrap().to_string()))
                        }
                        StatusCode::PAYMENT_REQUIRED => {
                            assert_eq!(body["error"]["code"], "insufficient_credits", "{body}");
                            None
                        }
                        other => panic!("trigger answered {other}: {body}"),
                    }
                })
            })
            .collect();
        triggers
            .into_iter()
            .filter_map(|t| t.join().unwrap())
            .collect()
    });
    assert!(runs.len() >= 10, "every run the credits cover is accepted");
    let mut succeeded = 0;
    for (on, run) in &runs {
        let body = workers[*on].wait_finished(&token, run);
        match status(&body) {
            "succeeded" => succeeded += 1,
            "failed" => assert_eq!(
                body["nodes"][0]["errorCode"], "insufficient_credits",
                "{body}"
            ),
            other => panic!("run ended {other}: {body}"),
        }
    }
    assert_eq!(succeeded, 10, "exactly the runs the credits cover");
    for worker in &workers {
        assert_eq!(worker.balance(&token), 0);
    }
    assert_eq!(
        pg.psql(&url, "SELECT count(*) FROM holds WHERE state = 'posted'"),
        "10"
    );
    assert_eq!(
        pg.psql(&url, "SELECT count(*) FROM holds WHERE state = 'pending'"),
        "0"
    );
}
