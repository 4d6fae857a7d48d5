//! Builds what every command shares: the step registry, the store and the engine.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use techpack_engine::{Durability, Engine, EngineConfig, Resources, SledStore, StepRegistry};

/// Logs go to stderr, filtered by `RUST_LOG` (default: warnings).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Every step kind this binary knows: `core/*` and the tech-pack steps.
pub fn registry() -> StepRegistry {
    let mut registry = StepRegistry::with_builtins();
    techpack_steps::register(&mut registry);
    registry
}

pub fn open_engine(data_dir: &Path, durability: Durability) -> anyhow::Result<Engine> {
    let store = SledStore::open(data_dir)
        .with_context(|| format!("cannot open the state store in {}", data_dir.display()))?;
    Ok(Engine::new(
        Arc::new(store),
        registry(),
        Vec::new(),
        Resources::new(),
        EngineConfig {
            durability,
            ..EngineConfig::default()
        },
    ))
}

/// The default data directory: `.techpack` in the current directory.
pub fn default_data_dir() -> PathBuf {
    PathBuf::from(".techpack")
}
