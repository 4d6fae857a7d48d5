//! The PostgreSQL store on this machine (`cargo bench -p techpack-engine --bench postgres`),
//! against a durable throw-away server (`fsync=on`, `synchronous_commit=on`):
//! - a 40-step chain, per step, against one `INSERT … COMMIT` round trip measured in the same
//!   run (target ≤ 2×);
//! - paid transitions per second (reserve + post with their node records, each one
//!   PostgreSQL transaction) over 10 hot accounts, from 8 threads;
//! - runs recorded per second (what a trigger writes), from 8 threads.
//!
//! Prints a loud skip line and exits when PostgreSQL is not installed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Map;
use techpack_engine::store::postgres::{PgPool, PoolOptions};
use techpack_engine::store::{PgStore, PgStoreOptions};
use techpack_engine::{
    CreditHook, Engine, EngineConfig, Ledger, Resources, RunStatus, StepRegistry, Workflow,
};

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    samples[samples.len() / 2]
}

fn store(url: &str) -> PgStore {
    PgStore::connect_with(
        url,
        PgStoreOptions {
            pool_size: 16,
            ..PgStoreOptions::default()
        },
    )
    .unwrap()
}

/// One `INSERT … COMMIT` round trip (median of `n`), on a connection of its own.
fn insert_commit(pool: &PgPool, n: usize) -> Duration {
    pool.execute(
        "CREATE TABLE IF NOT EXISTS probe (id bigserial PRIMARY KEY, v text)",
        &[],
    )
    .unwrap();
    let samples = (0..n)
        .map(|_| {
            let start = Instant::now();
            pool.execute("INSERT INTO probe (v) VALUES ('x')", &[])
                .unwrap();
            start.elapsed().as_secs_f64()
        })
        .collect();
    Duration::from_secs_f64(median(samples))
}

fn chain_workflow(registry: &StepRegistry) -> Workflow {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../workflows/bench/chain-40.yaml"
    );
    let source = std::fs::read_to_string(path).unwrap();
    Workflow::parse(&source, "chain-40.yaml", registry).unwrap()
}

fn main() {
    if !techpack_pg_harness::available() {
        eprintln!(
            "=== SKIPPED: the PostgreSQL benchmarks need PostgreSQL (apt-get install postgresql) ==="
        );
        return;
    }
    let pg = techpack_pg_harness::start_durable();
    let url = pg.database();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let probe = PgPool::connect(&url, PoolOptions::default()).unwrap();

    // 40-step chain, per step, bracketed by its own INSERT … COMMIT probe per round.
    let registry = StepRegistry::with_builtins();
    let workflow = chain_workflow(&registry);
    let engine = Engine::new(
        Arc::new(store(&url)),
        registry,
        vec![],
        Resources::new(),
        EngineConfig::default(),
    );
    let mut ratios = Vec::new();
    let mut per_step = Vec::new();
    let mut commits = Vec::new();
    for round in 0..12 {
        let before = insert_commit(&probe, 20);
        let start = Instant::now();
        let report = runtime
            .block_on(engine.run_now(&workflow, Map::new(), None))
            .unwrap();
        let elapsed = start.elapsed();
        assert_eq!(report.run.status, RunStatus::Succeeded);
        let after = insert_commit(&probe, 20);
        if round < 2 {
            continue; // warm-up
        }
        let step = elapsed.as_secs_f64() / 40.0;
        let commit = (before + after).as_secs_f64() / 2.0;
        per_step.push(step * 1e6);
        commits.push(commit * 1e6);
        ratios.push(step / commit);
    }
    println!(
        "chain-40 on PostgreSQL: {:.0} µs per step, INSERT+COMMIT {:.0} µs, ratio {:.2}× (median of 10 rounds)",
        median(per_step),
        median(commits),
        median(ratios)
    );

    // Paid transitions over 10 hot accounts: reserve (start) + post (success), each with its
    // node record, from 8 threads at once.
    let engine = {
        let store = Arc::new(store(&url));
        let credits = CreditHook::open(store.as_ref()).unwrap();
        Engine::new(
            store,
            StepRegistry::with_builtins(),
            vec![Arc::new(credits)],
            Resources::new(),
            EngineConfig::default(),
        )
    };
    let ledger_store = engine.store().clone();
    let ledger = Ledger::new(ledger_store.as_ref());
    for user in 0..10 {
        ledger
            .grant(&format!("hot-{user}"), 1_000_000, &format!("bench-{user}"))
            .unwrap();
    }
    let paid = Workflow::parse(
        "name: paid\nsteps:\n  a: { uses: core/echo, credits: 1 }\n  b: { uses: core/echo, credits: 1 }\n  c: { uses: core/echo, credits: 1 }\n  d: { uses: core/echo, credits: 1 }\n",
        "paid.yaml",
        &StepRegistry::with_builtins(),
    )
    .unwrap();
    let runs_per_task = 40;
    let tasks = 8;
    let start = Instant::now();
    runtime.block_on(async {
        let mut handles = Vec::new();
        for task in 0..tasks {
            let engine = engine.clone();
            let paid = paid.clone();
            handles.push(tokio::spawn(async move {
                for i in 0..runs_per_task {
                    let user = format!("hot-{}", (task * runs_per_task + i) % 10);
                    let report = engine.run_now(&paid, Map::new(), Some(user)).await.unwrap();
                    assert_eq!(report.run.status, RunStatus::Succeeded);
                }
            }));
        }
        for handle in handles {
            handle.await.unwrap();
        }
    });
    let elapsed = start.elapsed();
    // Each paid step is two paid transitions (reserve, post).
    let transitions = (tasks * runs_per_task * 4 * 2) as f64;
    println!(
        "paid transitions over 10 hot accounts: {:.0}/s ({} runs × 4 paid steps in {:.2} s, 8 tasks)",
        transitions / elapsed.as_secs_f64(),
        tasks * runs_per_task,
        elapsed.as_secs_f64()
    );
    ledger.verify().unwrap();

    // Runs recorded per second (a trigger's write: the run, its lease, its workflow text).
    let echo = Workflow::parse(
        "name: one\nsteps:\n  a: { uses: core/echo }\n",
        "one.yaml",
        &StepRegistry::with_builtins(),
    )
    .unwrap();
    let total = 4000;
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for _ in 0..total / 8 {
                    engine
                        .record_run(&echo, Map::new(), Some("hot-0".into()))
                        .unwrap();
                }
            });
        }
    });
    let elapsed = start.elapsed();
    println!(
        "runs recorded: {:.0}/s ({total} from 8 threads in {:.2} s)",
        total as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    );
}
