//! The full tech pack against the fake providers at latency L per call: wall time vs the
//! critical-path bound, and vs making every call one after another as the seed did
//! (`cargo bench -p techpack-steps --bench pipeline_latency`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, json};
use techpack_engine::{
    Engine, EngineConfig, Resources, RunStatus, SledStore, StepRegistry, Workflow,
};
use techpack_fake_ai::{Behaviour, FakeAi};
use techpack_steps::TechpackServices;
use techpack_steps::local::{self, DecodeLimits};
use techpack_steps::providers::LocalProvider;
use techpack_steps::providers::gemini::GeminiConfig;
use techpack_steps::providers::openai::OpenAiConfig;
use techpack_steps::providers::remote::HttpProviders;
use techpack_steps::providers::retry::ApiKey;
use techpack_steps::providers::{ImageChoice, ProviderDefaults, VisionChoice};
use techpack_steps::storage::Catalog;

const LATENCY: Duration = Duration::from_millis(200);
const VIEWS: [&str; 3] = ["front", "back", "side"];
const CLOSE_UPS: usize = 8;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let fake = FakeAi::start(Behaviour::default().with_latency(LATENCY)).await;
        let dir = tempfile::tempdir().unwrap();
        let sample = local::encode_png(&local::draw_sample_product(1024, 1024)).unwrap();
        let images: Vec<_> = VIEWS
            .iter()
            .map(|view| {
                let path = dir.path().join(format!("{view}.png"));
                std::fs::write(&path, &sample).unwrap();
                json!({ "view": view, "path": path })
            })
            .collect();

        let store = SledStore::open(&dir.path().join("data")).unwrap();
        let catalog = Catalog::open(store.db(), &dir.path().join("data")).unwrap();
        let mut resources = Resources::new();
        resources.insert(Arc::new(TechpackServices {
            catalog,
            defaults: ProviderDefaults {
                vision: VisionChoice::Openai,
                image: ImageChoice::Gemini,
            },
            limits: DecodeLimits::default(),
            local: Arc::new(LocalProvider::default()),
            remote: Some(Arc::new(HttpProviders::new(
                DecodeLimits::default(),
                OpenAiConfig {
                    base_url: fake.base_url_openai(),
                    api_key: Some(ApiKey::new("sk-bench")),
                    ..OpenAiConfig::from_env(&techpack_steps::providers::openai::SERVICE, None)
                },
                GeminiConfig {
                    base_url: fake.base_url_gemini(),
                    api_key: Some(ApiKey::new("gm-bench")),
                    ..GeminiConfig::from_env(&techpack_steps::providers::gemini::SERVICE, None)
                },
            ))),
            budget: Default::default(),
        }));
        let mut registry = StepRegistry::with_builtins();
        techpack_steps::register(&mut registry);
        // The workflow's optional grade_sizes step is a WASM plugin (skipped here: no sizes).
        let plugins = techpack_wasm::PluginHost::new(&dir.path().join("wasm-cache")).unwrap();
        plugins.register(
            &mut registry,
            &[std::path::PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../plugins"
            ))],
        );
        let source = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../workflows/tech-pack-v2.yaml"
        ))
        .unwrap();
        // All close-ups at once, so the bound below is the DAG's, not a concurrency limit's.
        let source = source.replace(
            "count: ${{ inputs.close_ups }}",
            "count: ${{ inputs.close_ups }}\n      concurrency: 8",
        );
        let workflow = Workflow::parse(&source, "tech-pack-v2.yaml", &registry).unwrap();
        let engine = Engine::new(
            Arc::new(store),
            registry,
            vec![],
            resources,
            EngineConfig::default(),
        );

        let mut inputs = Map::new();
        inputs.insert("images".into(), json!(images));
        inputs.insert("close_ups".into(), json!(CLOSE_UPS));
        let run = engine.create_run(&workflow, inputs, None).await.unwrap();
        let before = fake.request_count();
        let started = Instant::now();
        let report = engine.execute(&run.id).await.unwrap();
        let wall = started.elapsed();
        assert_eq!(
            report.run.status,
            RunStatus::Succeeded,
            "{:?}",
            report.run.error
        );
        let calls = fake.request_count() - before;

        // Critical path: detect, then the views side by side, then a close-up (draw, then
        // analyze) beside the sketches: four calls deep.
        let critical = LATENCY * 4;
        let sequential = LATENCY * calls as u32;
        println!(
            "fake provider latency L = {} ms; {calls} provider calls",
            LATENCY.as_millis()
        );
        println!(
            "wall time:                 {:>7.0} ms",
            wall.as_secs_f64() * 1e3
        );
        println!(
            "critical-path bound (4 L): {:>7.0} ms  -> wall / bound = {:.2}",
            critical.as_secs_f64() * 1e3,
            wall.as_secs_f64() / critical.as_secs_f64()
        );
        println!(
            "one call after another:    {:>7.0} ms  -> {:.1}x faster",
            sequential.as_secs_f64() * 1e3,
            sequential.as_secs_f64() / wall.as_secs_f64()
        );
    });
}
