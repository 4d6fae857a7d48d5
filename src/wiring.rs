//! Builds what every command shares: the step registry, the store, the tech-pack services and
//! the engine.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use anyhow::Context;
use techpack_engine::{
    CreditHook, Durability, Engine, EngineConfig, Resources, SledStore, StepRegistry,
};

use crate::users::Users;
use techpack_steps::local::DecodeLimits;
use techpack_steps::providers::LocalProvider;
use techpack_steps::providers::remote::HttpProviders;
use techpack_steps::services::{ProviderDefaults, TechpackServices};
use techpack_steps::storage::Catalog;

/// Every native step kind: `core/*` and the tech-pack steps.
pub fn registry() -> StepRegistry {
    let mut registry = StepRegistry::with_builtins();
    techpack_steps::register(&mut registry);
    registry
}

/// Plugin folders given with `--plugins-dir` (besides `plugins/` and `TECHPACK_PLUGINS_DIR`).
static PLUGIN_DIRS: OnceLock<Vec<PathBuf>> = OnceLock::new();

pub fn set_plugin_dirs(dirs: Vec<PathBuf>) {
    let _ = PLUGIN_DIRS.set(dirs);
}

/// The native kinds plus every WASM plugin (`wasm/<name>`), compiled once and cached under the
/// data directory. A plugin that fails to load is registered as unavailable with the reason,
/// so workflows naming it fail validation saying why.
pub fn registry_with_plugins(data_dir: &Path) -> StepRegistry {
    let mut registry = registry();
    let extra = PLUGIN_DIRS.get().cloned().unwrap_or_default();
    let load = |registry: &mut StepRegistry| match techpack_wasm::PluginHost::new(
        &data_dir.join("wasm-cache"),
    ) {
        Ok(host) => {
            for status in host.register(registry, &techpack_wasm::plugin_dirs(&extra)) {
                tracing::debug!(?status, "plugin");
            }
        }
        Err(e) => tracing::warn!("WASM plugins are unavailable: {e}"),
    };
    // Loading compiles and probes modules: keep it off the async workers' backs.
    if tokio::runtime::Handle::try_current().is_ok() {
        tokio::task::block_in_place(|| load(&mut registry));
    } else {
        load(&mut registry);
    }
    registry
}

/// How an engine is opened.
#[derive(Clone, Default)]
pub struct EngineOptions {
    pub durability: Durability,
    pub providers: ProviderDefaults,
}

pub fn open_engine(data_dir: &Path, options: EngineOptions) -> anyhow::Result<Engine> {
    let store = Arc::new(
        SledStore::open(data_dir)
            .with_context(|| format!("cannot open the state store in {}", data_dir.display()))?,
    );
    // Refuses to open when the ledger's balances do not match its log (I6).
    let credits = CreditHook::open(&*store)?;
    let users = Users::open(store.db()).context("cannot open the user store")?;
    let catalog = Catalog::open(store.db(), data_dir).with_context(|| {
        format!(
            "cannot open the tech-pack catalog in {}",
            data_dir.display()
        )
    })?;
    let mut resources = Resources::new();
    resources.insert(Arc::new(users));
    // The database itself, for the parts of the binary that keep their own trees (the API's
    // idempotency keys).
    resources.insert(Arc::new(store.db().clone()));
    resources.insert(Arc::new(TechpackServices {
        catalog,
        defaults: options.providers,
        limits: DecodeLimits::default(),
        local: Arc::new(LocalProvider::default()),
        remote: Some(Arc::new(HttpProviders::from_env(DecodeLimits::default()))),
    }));
    Ok(Engine::new(
        store,
        registry_with_plugins(data_dir),
        vec![Arc::new(credits)],
        resources,
        EngineConfig {
            durability: options.durability,
            ..EngineConfig::default()
        },
    ))
}

/// The tech-pack services of an engine opened by [`open_engine`].
pub fn services(engine: &Engine) -> Arc<TechpackServices> {
    engine
        .resources()
        .get::<TechpackServices>()
        .expect("open_engine puts the tech-pack services in")
}

/// The users of an engine opened by [`open_engine`].
pub fn users(engine: &Engine) -> Arc<Users> {
    engine
        .resources()
        .get::<Users>()
        .expect("open_engine puts the users in")
}

/// The default data directory: `.techpack` in the current directory.
pub fn default_data_dir() -> PathBuf {
    PathBuf::from(".techpack")
}
