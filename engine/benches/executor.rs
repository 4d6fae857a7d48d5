//! Engine overhead with no-op steps (`cargo bench -p techpack-engine --bench executor`):
//! a 40-step chain against one fsync of this disk, and a 1000-step fan-out/fan-in, in `sync`
//! and `relaxed` durability. Uses the same YAML files `techpack run` takes.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Map;
use techpack_engine::{
    Durability, Engine, EngineConfig, Resources, RunStatus, SledStore, StepRegistry, Workflow,
};

const ROUNDS: usize = 7;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// One 4 KiB write + fsync in the same directory the store uses.
fn fsync_time(dir: &std::path::Path) -> Duration {
    let path = dir.join("fsync-probe");
    let mut file = std::fs::File::create(&path).unwrap();
    let block = vec![7u8; 4096];
    let samples = (0..200)
        .map(|_| {
            let start = Instant::now();
            file.write_all(&block).unwrap();
            file.sync_data().unwrap();
            start.elapsed()
        })
        .collect();
    median(samples)
}

fn per_step(workflow_file: &str, durability: Durability) -> (Duration, Duration) {
    let source = std::fs::read_to_string(format!(
        "{}/../workflows/bench/{workflow_file}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let store = Arc::new(SledStore::open(dir.path()).unwrap());
        let registry = StepRegistry::with_builtins();
        let workflow = Workflow::parse(&source, workflow_file, &registry).unwrap();
        let steps = workflow.steps.len() as u32;
        let engine = Engine::new(
            store,
            registry,
            vec![],
            Resources::new(),
            EngineConfig {
                durability,
                ..EngineConfig::default()
            },
        );
        let mut samples = Vec::new();
        for round in 0..=ROUNDS {
            let run = engine
                .create_run(&workflow, Map::new(), None)
                .await
                .unwrap();
            let start = Instant::now();
            let report = engine.execute(&run.id).await.unwrap();
            let elapsed = start.elapsed();
            assert_eq!(report.run.status, RunStatus::Succeeded);
            if round > 0 {
                samples.push(elapsed); // round 0 warms caches
            }
        }
        let best = *samples.iter().min().unwrap();
        (median(samples) / steps, best / steps)
    })
}

fn main() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let fsync = fsync_time(dir.path());
    println!(
        "fsync (4 KiB write + fdatasync, median of 200): {:>9.1} µs",
        fsync.as_secs_f64() * 1e6
    );
    for (file, label) in [
        ("chain-40.yaml", "chain-40"),
        ("fanout-1000.yaml", "fanout-1000"),
    ] {
        for durability in [Durability::Sync, Durability::Relaxed] {
            let (median, best) = per_step(file, durability);
            let ratio = median.as_secs_f64() / fsync.as_secs_f64();
            println!(
                "{label:12} {:8} per step: median {:>8.1} µs, best {:>8.1} µs  ({ratio:.2} × fsync)",
                format!("{durability:?}").to_lowercase(),
                median.as_secs_f64() * 1e6,
                best.as_secs_f64() * 1e6,
            );
        }
    }
}
