//! Concurrency limits against the real `techpack serve`: runs over a workflow's
//! `concurrency:` limits wait as `queued` (shown by the API and `techpack runs list`) and start
//! in order when a slot frees — also after a SIGKILL and restart; one user's queue never
//! stands in front of another user's run. On PostgreSQL, two workers share the limits
//! (skipped loudly without PostgreSQL).

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Options, Server};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Runs of about a second, at most two per user and three in all.
const LIMITED: &str = "name: limited\nconcurrency: { per_user: 2, per_workflow: 3 }\nsteps:\n  work: { uses: core/sleep, with: { ms: 1200 } }\n";

/// Two slots in all, as many as one user may hold.
const FAIR: &str = "name: fair\nconcurrency: { per_user: 2, per_workflow: 2 }\nsteps:\n  work: { uses: core/sleep, with: { ms: 1200 } }\n";

fn workflows(dir: &Path) -> std::path::PathBuf {
    let workflows = dir.join("workflows");
    std::fs::create_dir_all(&workflows).unwrap();
    std::fs::write(workflows.join("limited.yaml"), LIMITED).unwrap();
    std::fs::write(workflows.join("fair.yaml"), FAIR).unwrap();
    workflows
}

/// Starts a run: its id and the status the trigger answered.
fn trigger(server: &Server, token: &str) -> (String, String) {
    server.trigger(token, "limited")
}

fn run(server: &Server, token: &str, id: &str) -> Value {
    let (status, body) = server.send("GET", &format!("/api/runs/{id}"), Some(token), None);
    assert_eq!(status, StatusCode::OK, "{body}");
    body["run"].clone()
}

fn started_at(server: &Server, token: &str, id: &str) -> u64 {
    run(server, token, id)["startedAt"].as_u64().unwrap()
}

fn finished_at(server: &Server, token: &str, id: &str) -> u64 {
    run(server, token, id)["finishedAt"].as_u64().unwrap()
}

#[test]
fn a_users_third_run_waits_queued_and_starts_when_one_of_the_first_two_ends() {
    let dir = tempfile::tempdir().unwrap();
    let workflows = workflows(dir.path());
    let data = dir.path().join("data");
    let server = Server::start(&data, &workflows, &[]);
    let token = server.user("ada", 0);

    let (first, s1) = trigger(&server, &token);
    let (second, s2) = trigger(&server, &token);
    let (third, s3) = trigger(&server, &token);
    assert_eq!((s1.as_str(), s2.as_str()), ("pending", "pending"));
    assert_eq!(s3, "queued");
    let queued = run(&server, &token, &third);
    assert_eq!(queued["status"], "queued", "{queued}");
    assert!(queued["startedAt"].is_null(), "{queued}");

    // Asking to resume a queued run is refused: it starts on its own.
    let (status, body) = server.send(
        "POST",
        &format!("/api/runs/{third}/resume"),
        Some(&token),
        None,
    );
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // The CLI shows it queued too (through the server's control socket).
    let listed = std::process::Command::new(env!("CARGO_BIN_EXE_techpack"))
        .args(["runs", "list", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    let line = listed
        .lines()
        .find(|l| l.contains(&third))
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(line.contains("queued"), "{listed}");

    // A fourth, queued behind the third, is cancelled while it waits: it never starts.
    let (fourth, s4) = trigger(&server, &token);
    assert_eq!(s4, "queued");
    let (status, body) = server.send(
        "POST",
        &format!("/api/runs/{fourth}/cancel"),
        Some(&token),
        None,
    );
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(run(&server, &token, &fourth)["status"], "cancelled");

    for id in [&first, &second, &third] {
        let done = server.wait_finished(&token, id);
        assert_eq!(done["run"]["status"], "succeeded", "{done}");
    }
    let cancelled = run(&server, &token, &fourth);
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    assert!(cancelled["startedAt"].is_null(), "{cancelled}");

    // A replay takes its turn like a new run: with two runs holding ada's slots, it waits.
    let (fifth, _) = trigger(&server, &token);
    let (sixth, _) = trigger(&server, &token);
    let (status, body) = server.send(
        "POST",
        &format!("/api/runs/{first}/replay"),
        Some(&token),
        Some(json!({ "from": "work" })),
    );
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["status"], "queued", "{body}");
    let replay = body["runId"].as_str().unwrap().to_string();
    let done = server.wait_finished(&token, &replay);
    assert_eq!(done["run"]["status"], "succeeded", "{done}");
    server.wait_finished(&token, &fifth);
    server.wait_finished(&token, &sixth);
    let slot_freed = finished_at(&server, &token, &fifth).min(finished_at(&server, &token, &sixth));
    assert!(started_at(&server, &token, &replay) >= slot_freed);
    let first_end = finished_at(&server, &token, &first).min(finished_at(&server, &token, &second));
    assert!(
        started_at(&server, &token, &third) >= first_end,
        "the third run started before a slot freed"
    );
}

#[test]
fn a_user_with_a_long_queue_does_not_starve_another_user() {
    let dir = tempfile::tempdir().unwrap();
    let workflows = workflows(dir.path());
    let server = Server::start(&dir.path().join("data"), &workflows, &[]);
    let ada = server.user("ada", 0);
    let bob = server.user("bob", 0);

    // `fair` has two slots, both ada's; she queues four more, then bob queues one.
    let ada_runs: Vec<(String, String)> = (0..6).map(|_| server.trigger(&ada, "fair")).collect();
    let statuses: Vec<&str> = ada_runs.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(
        statuses,
        ["pending", "pending", "queued", "queued", "queued", "queued"]
    );
    let (bob_run, bob_status) = server.trigger(&bob, "fair");
    assert_eq!(bob_status, "queued");

    // When ada's first runs end, bob's run gets a slot before her older queued runs take
    // both: she holds one, he none. (Oldest first would start all of hers before his.)
    let bob_done = server.wait_finished(&bob, &bob_run);
    assert_eq!(bob_done["run"]["status"], "succeeded", "{bob_done}");
    let bob_started = started_at(&server, &bob, &bob_run);
    let ada_queued_started: Vec<u64> = ada_runs[2..]
        .iter()
        .map(|(id, _)| {
            let done = server.wait_finished(&ada, id);
            assert_eq!(done["run"]["status"], "succeeded", "{done}");
            started_at(&server, &ada, id)
        })
        .collect();
    assert!(
        bob_started < ada_queued_started[1],
        "ada's queue went before bob: bob at {bob_started}, ada's at {ada_queued_started:?}"
    );
    // Her own queue goes in order: her first queued run started a turn before her third.
    assert!(
        ada_queued_started[0] < ada_queued_started[2],
        "{ada_queued_started:?}"
    );
}

#[test]
fn queued_runs_start_after_a_sigkill_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let workflows = workflows(dir.path());
    let data = dir.path().join("data");
    let server = Server::start(&data, &workflows, &[]);
    let token = server.user("ada", 0);
    let runs: Vec<(String, String)> = (0..4).map(|_| trigger(&server, &token)).collect();
    assert_eq!(runs[2].1, "queued");
    assert_eq!(runs[3].1, "queued");
    std::thread::sleep(Duration::from_millis(200));
    server.kill();

    let server = Server::start(&data, &workflows, &[]);
    for (id, _) in &runs {
        let done = server.wait_finished(&token, id);
        assert_eq!(done["run"]["status"], "succeeded", "{done}");
    }
    // Never more than two at once: each queued run started after one before it ended.
    let ends: Vec<u64> = runs[..2]
        .iter()
        .map(|(id, _)| finished_at(&server, &token, id))
        .collect();
    let third = started_at(&server, &token, &runs[2].0);
    assert!(third >= *ends.iter().min().unwrap(), "{third} {ends:?}");
}

#[test]
fn two_postgres_workers_share_the_limits() {
    let Some(pg) = techpack_pg_harness::server() else {
        return;
    };
    let url = pg.database();
    let dir = tempfile::tempdir().unwrap();
    let workflows = workflows(dir.path());
    let worker = |name: &str| {
        Server::start_with(
            &dir.path().join(name),
            &workflows,
            Options {
                envs: &[("TECHPACK_DATABASE_URL", &url), ("TECHPACK_LEASE", "2s")],
                ..Options::default()
            },
        )
    };
    let (a, b) = (worker("a"), worker("b"));
    let token = a.user("ada", 0);
    // Alternating workers: the limit is the user's, wherever the runs were started.
    let runs: Vec<(String, String)> = (0..5)
        .map(|i| trigger(if i % 2 == 0 { &a } else { &b }, &token))
        .collect();
    let statuses: Vec<&str> = runs.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(
        statuses,
        ["pending", "pending", "queued", "queued", "queued"]
    );
    let mut spans = Vec::new();
    for (id, _) in &runs {
        let done = b.wait_finished(&token, id);
        assert_eq!(done["run"]["status"], "succeeded", "{done}");
        spans.push((started_at(&b, &token, id), finished_at(&b, &token, id)));
    }
    // At no moment did more than two of them run.
    for &(start, _) in &spans {
        let running = spans
            .iter()
            .filter(|&&(s, f)| s <= start && start < f)
            .count();
        assert!(running <= 2, "{running} at once: {spans:?}");
    }
}
