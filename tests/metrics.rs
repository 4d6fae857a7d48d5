//! `/metrics` as a Prometheus scraper reads it, from the real `techpack serve`: the counters
//! move with what the server does (runs and steps finished, step durations, credits, provider
//! calls), and the `techpack_runs` gauge tells what is unfinished now.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{Server, node};
use reqwest::StatusCode;
use serde_json::json;

/// A paid step that succeeds, one skipped, in a run that succeeds.
const PAID_OK: &str = "name: paid-ok\nsteps:\n  a: { uses: core/echo, credits: 2, with: { value: 1 } }\n  b: { uses: core/echo, when: \"${{ false }}\" }\n";
/// A paid step that fails at its one attempt, in a run that fails.
const PAID_FAIL: &str = "name: paid-fail\nsteps:\n  a: { uses: core/fail, credits: 3, retry: { attempts: 1 }, with: { times: 5 } }\n";
/// A run that stays running long enough to be seen doing so.
const SLOW: &str = "name: slow\nsteps:\n  a: { uses: core/sleep, with: { ms: 3000 } }\n";

/// Every sample of a scrape by its name and labels (`techpack_runs{status="running"}`).
fn scrape(server: &Server) -> HashMap<String, f64> {
    let response = server.client.get(server.url("/metrics")).send().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response
        .text()
        .unwrap()
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (sample, value) = line.rsplit_once(' ').unwrap();
            (sample.to_string(), value.parse().unwrap())
        })
        .collect()
}

/// Scrapes until `done` holds (10 s at most). The counters move just after the store
/// commits what they count, so a scrape right after a run is seen finished may precede them.
fn scrape_until(
    server: &Server,
    done: impl Fn(&HashMap<String, f64>) -> bool,
) -> HashMap<String, f64> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let samples = scrape(server);
        if done(&samples) || Instant::now() > deadline {
            return samples;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How far `sample` moved between two scrapes (missing before counts as 0).
fn moved(before: &HashMap<String, f64>, after: &HashMap<String, f64>, sample: &str) -> f64 {
    let value = |scrape: &HashMap<String, f64>| scrape.get(sample).copied().unwrap_or(0.0);
    assert!(after.contains_key(sample), "no {sample} in {after:?}");
    value(after) - value(before)
}

#[test]
fn the_counters_move_with_the_runs_a_user_starts_and_the_gauge_shows_what_runs_now() {
    let (_dir, data, workflows) = common::dirs(&["tech-pack-v2.yaml"]);
    for (file, text) in [
        ("paid-ok.yaml", PAID_OK),
        ("paid-fail.yaml", PAID_FAIL),
        ("slow.yaml", SLOW),
    ] {
        std::fs::write(workflows.join(file), text).unwrap();
    }
    let server = Server::start(&data, &workflows, &[]);
    let mia = server.user("mia", 20);
    let before = scrape(&server);
    assert_eq!(before["techpack_runs{status=\"running\"}"], 0.0);

    let (ok, _) = server.trigger(&mia, "paid-ok");
    let ok = server.wait_finished(&mia, &ok);
    assert_eq!(ok["run"]["status"], "succeeded", "{ok}");
    assert_eq!(node(&ok, "b")["status"], "skipped", "{ok}");
    let (failed, _) = server.trigger(&mia, "paid-fail");
    let failed = server.wait_finished(&mia, &failed);
    assert_eq!(failed["run"]["status"], "failed", "{failed}");
    assert_eq!(server.balance(&mia), 18, "2 posted, 3 refunded");

    let finished = |before: &HashMap<String, f64>, runs: f64| {
        let before = before.clone();
        move |now: &HashMap<String, f64>| {
            let total = |s: &HashMap<String, f64>| -> f64 {
                ["succeeded", "failed", "cancelled"]
                    .iter()
                    .map(|status| {
                        let sample = format!("techpack_runs_finished_total{{status=\"{status}\"}}");
                        s.get(&sample).copied().unwrap_or(0.0)
                    })
                    .sum()
            };
            total(now) - total(&before) >= runs
        }
    };
    let after = scrape_until(&server, finished(&before, 2.0));
    let counted = |sample: &str| moved(&before, &after, sample);
    assert_eq!(
        counted("techpack_runs_finished_total{status=\"succeeded\"}"),
        1.0
    );
    assert_eq!(
        counted("techpack_runs_finished_total{status=\"failed\"}"),
        1.0
    );
    assert_eq!(
        counted("techpack_runs_finished_total{status=\"cancelled\"}"),
        0.0
    );
    assert_eq!(
        counted("techpack_steps_finished_total{status=\"succeeded\"}"),
        1.0
    );
    assert_eq!(
        counted("techpack_steps_finished_total{status=\"failed\"}"),
        1.0
    );
    assert_eq!(
        counted("techpack_steps_finished_total{status=\"skipped\"}"),
        1.0
    );
    // The two steps that ran; the skipped one never started.
    assert_eq!(counted("techpack_step_duration_seconds_count"), 2.0);
    assert_eq!(
        counted("techpack_step_duration_seconds_bucket{le=\"+Inf\"}"),
        2.0
    );
    assert_eq!(counted("techpack_credits_total{kind=\"reserved\"}"), 5.0);
    assert_eq!(counted("techpack_credits_total{kind=\"posted\"}"), 2.0);
    assert_eq!(counted("techpack_credits_total{kind=\"refunded\"}"), 3.0);
    for status in ["queued", "pending", "running"] {
        assert_eq!(after[&format!("techpack_runs{{status=\"{status}\"}}")], 0.0);
    }

    // A model call (the local provider, offline): counted by provider and outcome.
    let (product, _) = server.product_with_upload(&mia);
    let (status, body) = server.send(
        "POST",
        "/api/tech-pack-v2/base-views/analyze",
        Some(&mia),
        Some(json!({ "productId": product })),
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    let call = "techpack_provider_calls_total{provider=\"local\",status=\"ok\"}";
    let analyzed = scrape_until(&server, finished(&after, 1.0));
    assert!(moved(&after, &analyzed, call) >= 1.0, "{analyzed:?}");

    // While a run sleeps, the gauge shows it running; the counters wait for its end.
    let (slow, _) = server.trigger(&mia, "slow");
    server.wait_for(&mia, &slow, |body| body["run"]["status"] == "running");
    let running = scrape(&server);
    assert_eq!(running["techpack_runs{status=\"running\"}"], 1.0);
    let succeeded = "techpack_runs_finished_total{status=\"succeeded\"}";
    assert_eq!(moved(&analyzed, &running, succeeded), 0.0);
    server.wait_finished(&mia, &slow);
    let ended = scrape_until(&server, finished(&running, 1.0));
    assert_eq!(moved(&running, &ended, succeeded), 1.0);
    assert_eq!(ended["techpack_runs{status=\"running\"}"], 0.0);
}
