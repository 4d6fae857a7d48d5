//! Engine overhead with no-op steps (`cargo bench -p techpack-engine --bench executor`):
//! a 40-step chain against one fsync of this disk, and a 1000-step fan-out/fan-in, in `sync`
//! and `relaxed` durability. Uses the same YAML files `techpack run` takes.
//!
//! This disk's fsync latency moves by several times within minutes (a shared VM), so every
//! measured round is bracketed by its own fsync probe and the ratio is taken per round.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Map;
use techpack_engine::{
    Durability, Engine, EngineConfig, Resources, RunStatus, SledStore, StateStore, StepRegistry,
    Workflow,
};

/// The allocator the `techpack` binary uses.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const ROUNDS: usize = 15;

fn median<T: PartialOrd + Copy>(mut samples: Vec<T>) -> T {
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    samples[samples.len() / 2]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// One fsync of this disk, two ways, in the directory the store uses (median of `n` each):
/// a 4 KiB append + `fdatasync` (the file grows, so its size is synced too), and a 4 KiB
/// overwrite of written blocks + `fdatasync` (data only: what the store's log commit does, its
/// file being written ahead with zeros).
struct FsyncProbe {
    append: std::fs::File,
    overwrite: std::fs::File,
}

#[derive(Clone, Copy)]
struct Fsync {
    append: Duration,
    overwrite: Duration,
}

impl FsyncProbe {
    const BLOCKS: usize = 256;

    fn new(dir: &std::path::Path) -> FsyncProbe {
        use std::os::unix::fs::FileExt;
        let overwrite = std::fs::File::create(dir.join("overwrite-probe")).unwrap();
        overwrite
            .write_all_at(&vec![0u8; 4096 * Self::BLOCKS], 0)
            .unwrap();
        overwrite.sync_all().unwrap();
        FsyncProbe {
            append: std::fs::File::create(dir.join("append-probe")).unwrap(),
            overwrite,
        }
    }

    fn measure(&mut self, n: usize) -> Fsync {
        use std::os::unix::fs::FileExt;
        let block = vec![7u8; 4096];
        let append = median(
            (0..n)
                .map(|_| {
                    let start = Instant::now();
                    self.append.write_all(&block).unwrap();
                    self.append.sync_data().unwrap();
                    start.elapsed()
                })
                .collect(),
        );
        let overwrite = median(
            (0..n)
                .map(|i| {
                    let at = (i % Self::BLOCKS * 4096) as u64;
                    let start = Instant::now();
                    self.overwrite.write_all_at(&block, at).unwrap();
                    self.overwrite.sync_data().unwrap();
                    start.elapsed()
                })
                .collect(),
        );
        Fsync { append, overwrite }
    }
}

/// The floor under a `sync` chain step: one write to the store and its flush (a commit of the
/// store's log: one write, one `fdatasync`), from a plain thread.
fn store_flush_time(dir: &std::path::Path) -> Duration {
    let store = Arc::new(SledStore::open(&dir.join("store-probe")).unwrap());
    let registry = StepRegistry::with_builtins();
    let workflow = Workflow::parse(
        "name: probe\nsteps:\n  a: { uses: core/echo }\n",
        "probe",
        &registry,
    )
    .unwrap();
    let engine = Engine::new(
        store.clone(),
        registry,
        vec![],
        Resources::new(),
        EngineConfig::default(),
    );
    let run = engine.record_run(&workflow, Map::new(), None).unwrap();
    median(
        (0..200u32)
            .map(|i| {
                let mut node = techpack_engine::NodeRecord::pending(&run.id, &format!("s{i}"));
                node.status = techpack_engine::NodeStatus::Succeeded;
                let start = Instant::now();
                store.commit(Some(&node), None, None).unwrap();
                store.flush().unwrap();
                start.elapsed()
            })
            .collect(),
    )
}

struct Figures {
    per_step: Duration,
    best: Duration,
    /// Per round: time per step / the fsync (append, overwrite) measured around that round.
    ratio: (f64, f64),
    fsync: Fsync,
    /// Store flushes per run, and the mean time of one.
    flushes_per_run: f64,
    flush_time: Duration,
}

fn per_step(workflow_file: &str, durability: Durability) -> Figures {
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
        let mut probe = FsyncProbe::new(dir.path());
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
        let (mut samples, mut fsyncs) = (Vec::new(), Vec::new());
        let (mut append_ratios, mut overwrite_ratios) = (Vec::new(), Vec::new());
        let mut flushes = techpack_engine::FlushStats::default();
        for round in 0..=ROUNDS {
            let run = engine
                .create_run(&workflow, Map::new(), None)
                .await
                .unwrap();
            let before = probe.measure(10);
            let flushed_before = engine.flush_stats();
            let start = Instant::now();
            let report = engine.execute(&run.id).await.unwrap();
            let elapsed = start.elapsed() / steps;
            let flushed = engine.flush_stats();
            let after = probe.measure(10);
            assert_eq!(report.run.status, RunStatus::Succeeded);
            if round > 0 {
                // round 0 warms caches
                let fsync = Fsync {
                    append: (before.append + after.append) / 2,
                    overwrite: (before.overwrite + after.overwrite) / 2,
                };
                samples.push(elapsed);
                append_ratios.push(elapsed.as_secs_f64() / fsync.append.as_secs_f64());
                overwrite_ratios.push(elapsed.as_secs_f64() / fsync.overwrite.as_secs_f64());
                fsyncs.push(fsync);
                flushes.flushes += flushed.flushes - flushed_before.flushes;
                flushes.time += flushed.time - flushed_before.time;
            }
        }
        Figures {
            best: *samples.iter().min().unwrap(),
            per_step: median(samples),
            ratio: (median(append_ratios), median(overwrite_ratios)),
            fsync: Fsync {
                append: median(fsyncs.iter().map(|f| f.append).collect()),
                overwrite: median(fsyncs.iter().map(|f| f.overwrite).collect()),
            },
            flushes_per_run: flushes.flushes as f64 / ROUNDS as f64,
            flush_time: flushes.time / flushes.flushes.max(1) as u32,
        }
    })
}

fn main() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let fsync = FsyncProbe::new(dir.path()).measure(200);
    let store_flush = store_flush_time(dir.path());
    println!(
        "fsync (4 KiB append + fdatasync, median of 200):             {:>7.1} µs",
        micros(fsync.append)
    );
    println!(
        "fsync (4 KiB overwrite + fdatasync, median of 200):          {:>7.1} µs",
        micros(fsync.overwrite)
    );
    println!(
        "store write + flush (log commit: write + fdatasync, of 200): {:>7.1} µs",
        micros(store_flush)
    );
    println!(
        "per step: median and best of {ROUNDS} runs; × fsync: median of (per step / the fsync measured around that run), append and overwrite"
    );
    for (file, label) in [
        ("chain-40.yaml", "chain-40"),
        ("fanout-1000.yaml", "fanout-1000"),
    ] {
        for durability in [Durability::Sync, Durability::Relaxed] {
            let f = per_step(file, durability);
            println!(
                "{label:12} {:8} per step: median {:>6.1} µs, best {:>6.1} µs, {:.2} × append fsync ({:.0} µs), {:.2} × overwrite fsync ({:.0} µs); {:.0} flushes per run, {:.0} µs each",
                format!("{durability:?}").to_lowercase(),
                micros(f.per_step),
                micros(f.best),
                f.ratio.0,
                micros(f.fsync.append),
                f.ratio.1,
                micros(f.fsync.overwrite),
                f.flushes_per_run,
                micros(f.flush_time),
            );
        }
    }
}
