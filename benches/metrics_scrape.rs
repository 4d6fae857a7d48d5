//! `GET /metrics` on a store holding many finished runs (BENCHMARKS.md, "/metrics"): the
//! runs are seeded through the store's own API (each with two finished nodes), then the
//! endpoint is asked in-process through the router, as `techpack serve` answers it, once
//! the store has applied the seeded writes.
//!
//! `TECHPACK_BENCH_RUNS=100000 cargo bench --bench metrics_scrape` (100,000 by default).

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Map;
use techpack::args::DataDir;
use techpack::server::callbacks::CallbackPolicy;
use techpack::server::{ApiOptions, AppState, app};
use techpack::wiring::{EngineOptions, open_engine};
use techpack_engine::store::now_ms;
use techpack_engine::{Engine, NodeRecord, NodeStatus, RunStatus, Workflow};
use tower::ServiceExt;

const WORKFLOW: &str = "name: seeded\nsteps:\n  a: { uses: core/echo }\n  b: { uses: core/echo }\n";
const SCRAPES: usize = 20;
const SETTLE: Duration = Duration::from_secs(5);

fn main() {
    let runs: usize = std::env::var("TECHPACK_BENCH_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let workflows = dir.path().join("workflows");
    std::fs::create_dir_all(&workflows).expect("the workflows folder");
    let opened = open_engine(
        &DataDir::at(dir.path().join("data")),
        EngineOptions::default(),
    )
    .expect("the engine opens");
    let state = AppState::new(
        opened,
        ApiOptions {
            workflows_dir: workflows,
            admin_token: None,
            max_body: 1 << 20,
            request_timeout: Duration::from_secs(600),
            callbacks: CallbackPolicy::new(Vec::new(), false),
        },
    );

    let started = Instant::now();
    let workflow = Workflow::parse(WORKFLOW, "seeded.yaml", state.engine.registry())
        .expect("the seeded workflow parses");
    seed(&state.engine, &workflow, runs);
    println!("seeded {runs} finished runs in {:.1?}", started.elapsed());

    // The store applies committed writes to sled on a background thread; scraping while it
    // catches up with 300,000 writes would time that thread, not the scrape.
    std::thread::sleep(SETTLE);
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    // The router is built once, as `techpack serve` does; each scrape is one request.
    let router = app(state);
    let mut times: Vec<Duration> = (0..SCRAPES)
        .map(|_| runtime.block_on(scrape(&router)))
        .collect();
    times.sort();
    println!(
        "GET /metrics with {runs} stored runs, {SCRAPES} scrapes: median {:.2?}, min {:.2?}, max {:.2?}",
        times[SCRAPES / 2],
        times[0],
        times[SCRAPES - 1]
    );
}

/// `runs` finished runs of a two-step workflow, each with its two node records.
fn seed(engine: &Engine, workflow: &Workflow, runs: usize) {
    let store = engine.store();
    for i in 0..runs {
        let mut run = engine
            .record_run(workflow, Map::new(), None)
            .expect("a run");
        let at = now_ms();
        for (step, status) in [("a", NodeStatus::Succeeded), ("b", NodeStatus::Failed)] {
            let mut node = NodeRecord::pending(&run.id, step);
            node.status = status;
            node.attempt = 1;
            node.started_at = Some(at);
            node.finished_at = Some(at + 5);
            store.commit(Some(&node), None, None).expect("a node");
        }
        run.status = if i % 2 == 0 {
            RunStatus::Succeeded
        } else {
            RunStatus::Failed
        };
        run.started_at = Some(at);
        run.finished_at = Some(at + 5);
        store.commit(None, Some(&run), None).expect("the run's end");
    }
    store.flush().expect("the seeded runs on disk");
}

async fn scrape(router: &Router) -> Duration {
    let started = Instant::now();
    let request = Request::get("/metrics")
        .body(Body::empty())
        .expect("a request");
    let response = router.clone().oneshot(request).await.expect("an answer");
    assert_eq!(response.status(), StatusCode::OK);
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("the body");
    std::hint::black_box(body);
    started.elapsed()
}
