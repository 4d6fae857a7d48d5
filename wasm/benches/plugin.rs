//! Plugin call overhead, cold start with and without the compile cache, grade-sizes as
//! WASM against the same grading in native Rust, and one user's call while another user's
//! hostile calls fill their share of the slots.
//!
//! Run: `cargo bench -p techpack-wasm --bench plugin` (figures go to BENCHMARKS.md).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use techpack_wasm::{CallContext, LoadedPlugin, PluginHost, PluginHostConfig};

const CALLS: usize = 5000;
const COLD_STARTS: usize = 7;
/// More hostile calls than the host has slots (16).
const HOSTILE_LOOPS: usize = 20;
const CALLS_BESIDE_LOOPS: usize = 500;

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let echo_dir = trivial_plugin(scratch.path());
    let grade_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/grade-sizes");
    let example = example_with(&grade_dir);

    println!("## techpack-wasm plugin benchmark\n");
    println!("| measurement | median | p90 | p99 |");
    println!("|---|---|---|---|");
    for pooling in [true, false] {
        let host = new_host(&scratch.path().join("cache"), pooling);
        let echo = host.load(&echo_dir).unwrap();
        let times = runtime.block_on(time_calls(&host, &echo, &json!({})));
        row(
            &format!(
                "trivial plugin call incl. instantiation ({})",
                allocator(pooling)
            ),
            &times,
        );
    }

    let host = new_host(&scratch.path().join("cache"), true);
    let grade = host.load(&grade_dir).unwrap();
    let wasm = runtime.block_on(time_calls(&host, &grade, &example));
    row(
        "grade-sizes example (3 POMs x 6 sizes) as WASM, per call",
        &wasm,
    );
    let native = time_native(&example);
    row(
        "the same grading as a native Rust function, per call",
        &native,
    );

    for (label, dir) in [("trivial", &echo_dir), ("grade-sizes", &grade_dir)] {
        let mut empty = Vec::new();
        let mut warm = Vec::new();
        for i in 0..COLD_STARTS {
            let cache = scratch.path().join(format!("cold-{label}-{i}"));
            empty.push(cold_start(&cache, dir));
            warm.push(cold_start(&cache, dir));
        }
        row(
            &format!("cold start, {label}: new host + load, empty cache (compiles)"),
            &empty,
        );
        row(
            &format!("cold start, {label}: new host + load, warm on-disk cache"),
            &warm,
        );
    }
    row(
        &format!(
            "trivial call by one user while another has {HOSTILE_LOOPS} infinite loops in flight \
             (2 worker threads)"
        ),
        &beside_hostile_loops(scratch.path(), &echo_dir),
    );

    let mut hosts = Vec::new();
    for i in 0..COLD_STARTS {
        let started = Instant::now();
        let host = new_host(&scratch.path().join(format!("host-only-{i}")), true);
        hosts.push(started.elapsed());
        drop(host);
    }
    row("of which: creating the host (engine, pool, ticker)", &hosts);
    println!(
        "\n{CALLS} calls per call row after 200 warm-up calls ({CALLS_BESIDE_LOOPS} beside the \
         loops); {COLD_STARTS} runs per cold-start row; current-thread tokio runtime unless \
         stated; `grade-sizes.wasm` {} bytes.",
        std::fs::metadata(grade_dir.join("grade-sizes.wasm"))
            .unwrap()
            .len()
    );
}

/// Bob's trivial calls, one at a time, while alice's loops (10 minutes each) hold her share
/// of the slots and queue for more.
fn beside_hostile_loops(scratch: &Path, echo_dir: &Path) -> Vec<Duration> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let host = new_host(&scratch.join("cache"), true);
    let echo = host.load(echo_dir).unwrap();
    let looping = std::sync::Arc::new(host.load(&looping_plugin(scratch)).unwrap());
    let as_user = |user: &str| CallContext {
        run_id: "bench".to_string(),
        step_id: "step".to_string(),
        attempt: 1,
        idempotency_key: "bench/step".to_string(),
        owner: Some(user.to_string()),
        log: None,
    };
    runtime.block_on(async {
        let alice: Vec<_> = (0..HOSTILE_LOOPS)
            .map(|_| {
                let (host, looping, context) = (host.clone(), looping.clone(), as_user("alice"));
                tokio::spawn(
                    async move { host.call(&looping, &json!({}), &json!({}), &context).await },
                )
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (with, inputs, context) = (json!({}), json!({}), as_user("bob"));
        let mut times = Vec::with_capacity(CALLS_BESIDE_LOOPS);
        for _ in 0..CALLS_BESIDE_LOOPS {
            let started = Instant::now();
            std::hint::black_box(host.call(&echo, &with, &inputs, &context).await.unwrap());
            times.push(started.elapsed());
        }
        assert!(
            alice.iter().all(|call| !call.is_finished()),
            "the loops ended early"
        );
        alice.iter().for_each(|call| call.abort());
        times
    })
}

fn new_host(cache: &Path, pooling: bool) -> PluginHost {
    PluginHost::with_config(
        Some(cache),
        PluginHostConfig {
            pooling,
            ..PluginHostConfig::default()
        },
    )
    .unwrap()
}

fn allocator(pooling: bool) -> &'static str {
    if pooling {
        "pooling allocator"
    } else {
        "on-demand allocator"
    }
}

fn trivial_plugin(root: &Path) -> PathBuf {
    let dir = root.join("echo");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("module.wat"),
        include_str!("../tests/fixtures/echo.wat"),
    )
    .unwrap();
    std::fs::write(
        dir.join("plugin.yaml"),
        "name: echo\nversion: 0.1.0\ndescription: outputs its input\nmodule: module.wat\nlimits: { log_lines: 0 }\n",
    )
    .unwrap();
    dir
}

fn looping_plugin(root: &Path) -> PathBuf {
    let dir = root.join("infinite-loop");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("module.wat"),
        include_str!("../tests/fixtures/infinite_loop.wat"),
    )
    .unwrap();
    std::fs::write(
        dir.join("plugin.yaml"),
        "name: infinite-loop\nversion: 0.1.0\ndescription: never returns\nmodule: module.wat\nlimits: { timeout: 600s }\n",
    )
    .unwrap();
    dir
}

fn example_with(plugin: &Path) -> Value {
    let manifest: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(plugin.join("plugin.yaml")).unwrap())
            .unwrap();
    serde_json::to_value(&manifest["example"]["with"]).unwrap()
}

async fn time_calls(host: &PluginHost, plugin: &LoadedPlugin, with: &Value) -> Vec<Duration> {
    let context = CallContext {
        run_id: "bench".to_string(),
        step_id: "step".to_string(),
        attempt: 1,
        idempotency_key: "bench/step".to_string(),
        owner: None,
        log: None,
    };
    let inputs = json!({});
    for _ in 0..200 {
        host.call(plugin, with, &inputs, &context).await.unwrap();
    }
    let mut times = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let started = Instant::now();
        std::hint::black_box(host.call(plugin, with, &inputs, &context).await.unwrap());
        times.push(started.elapsed());
    }
    times
}

fn cold_start(cache: &Path, plugin: &Path) -> Duration {
    let started = Instant::now();
    let host = new_host(cache, true);
    std::hint::black_box(host.load(plugin).unwrap());
    started.elapsed()
}

fn time_native(with: &Value) -> Vec<Duration> {
    for _ in 0..200 {
        std::hint::black_box(grade_natively(with));
    }
    (0..CALLS)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(grade_natively(std::hint::black_box(with)));
            started.elapsed()
        })
        .collect()
}

/// What grade-sizes computes, in Rust, from and to JSON values as a native step would.
fn grade_natively(with: &Value) -> Value {
    let sizes: Vec<&str> = with["sizes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let base = sizes.iter().position(|s| *s == with["base_size"]).unwrap();
    let precision = with["precision"].as_f64().unwrap_or(0.1);
    let round = |v: f64| (v / precision).round() * precision;
    let mut poms = Vec::new();
    for pom in with["points_of_measure"].as_array().unwrap() {
        let code = pom["code"].as_str().unwrap();
        let rule = &with["grade_rules"][code];
        let step = |i: usize| rule.as_f64().unwrap_or_else(|| rule[i].as_f64().unwrap());
        let mut values = vec![0.0; sizes.len()];
        values[base] = pom["base"].as_f64().unwrap();
        for i in base + 1..sizes.len() {
            values[i] = values[i - 1] + step(i - 1);
        }
        for i in (0..base).rev() {
            values[i] = values[i + 1] - step(i);
        }
        let tolerance = pom["tolerance"].as_f64().unwrap_or(0.0);
        let by_size = |offset: f64| -> Map<String, Value> {
            sizes
                .iter()
                .zip(&values)
                .map(|(s, v)| (s.to_string(), json!(round(round(*v) + offset))))
                .collect()
        };
        poms.push(json!({
            "code": code, "name": pom.get("name").cloned().unwrap_or(json!(code)), "tolerance": tolerance,
            "values": by_size(0.0), "min": by_size(-tolerance), "max": by_size(tolerance),
        }));
    }
    json!({ "unit": with.get("unit").cloned().unwrap_or(json!("cm")), "base_size": with["base_size"],
            "sizes": with["sizes"], "points_of_measure": poms })
}

fn row(label: &str, times: &[Duration]) {
    let mut sorted = times.to_vec();
    sorted.sort();
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    println!(
        "| {label} | {} | {} | {} |",
        show(at(0.5)),
        show(at(0.9)),
        show(at(0.99))
    );
}

fn show(d: Duration) -> String {
    if d >= Duration::from_millis(1) {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.1} µs", d.as_secs_f64() * 1e6)
    }
}
