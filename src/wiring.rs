//! Builds what every command shares: the step registry, the store, the tech-pack services and
//! the engine.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use techpack_engine::store::{PgStore, PgStoreOptions};
use techpack_engine::{
    CreditHook, Durability, Engine, EngineConfig, Resources, SledStore, StateStore, StepRegistry,
};

use crate::args::DataDir;
use crate::server::idempotency::{IdempotencyKeys, PgIdempotency, SledIdempotency};
use crate::sessions::Sessions;
use crate::users::Users;
use techpack_steps::TechpackServices;
use techpack_steps::local::DecodeLimits;
use techpack_steps::providers::LocalProvider;
use techpack_steps::providers::ProviderDefaults;
use techpack_steps::providers::remote::HttpProviders;
use techpack_steps::storage::Catalog;
use techpack_steps::work_budget::MemoryBudget;

/// Every native step kind: `core/*` and the tech-pack steps.
pub fn registry() -> StepRegistry {
    let mut registry = StepRegistry::with_builtins();
    techpack_steps::register(&mut registry);
    registry
}

/// The native kinds plus every WASM plugin (`wasm/<name>`) found in `plugins/`,
/// `TECHPACK_PLUGINS_DIR` and `plugin_dirs` (`--plugins-dir`), each compiled when a workflow
/// that uses it is loaded and cached under the data directory. A plugin that fails to load
/// is unavailable with the reason, so workflows naming it fail validation saying why.
pub fn registry_with_plugins(data_dir: &Path, plugin_dirs: &[PathBuf]) -> StepRegistry {
    let mut registry = registry();
    techpack_wasm::register_deferred(
        &mut registry,
        &data_dir.join("wasm-cache"),
        techpack_wasm::PluginHostConfig::default(),
        &techpack_wasm::plugin_dirs(plugin_dirs),
    );
    registry
}

/// How an engine is opened.
#[derive(Clone, Default)]
pub struct EngineOptions {
    pub durability: Durability,
    pub providers: ProviderDefaults,
    /// The server folders users' runs may read and write (`serve --allow-read/--allow-write`).
    pub file_roots: Arc<techpack_engine::step::FileRoots>,
    /// Plugin folders given with `--plugins-dir` (besides `plugins/` and `TECHPACK_PLUGINS_DIR`).
    pub plugin_dirs: Vec<PathBuf>,
}

/// What [`open_engine`] built: the engine and the parts kept in the same store beside it.
#[derive(Clone)]
pub struct Opened {
    pub engine: Engine,
    pub users: Arc<Users>,
    /// Also in the engine's resources, where the tech-pack steps find it at run time.
    pub services: Arc<TechpackServices>,
    /// The HTTP API's `Idempotency-Key`s.
    pub idempotency: Arc<Idempotency>,
    /// The console's sign-in sessions, shared by every worker on the store.
    pub sessions: Arc<Sessions>,
}

pub fn open_engine(location: &DataDir, options: EngineOptions) -> anyhow::Result<Opened> {
    open_engine_with_budget(location, options, Arc::default())
}

/// The API's idempotency keys, kept where the rest of the store is.
pub struct Idempotency(pub Box<dyn IdempotencyKeys>);

/// As [`open_engine`], with image work bounded by `budget` (`techpack serve
/// --memory-budget-mib`) rather than the default one.
pub fn open_engine_with_budget(
    location: &DataDir,
    options: EngineOptions,
    budget: Arc<MemoryBudget>,
) -> anyhow::Result<Opened> {
    let data_dir = &location.path();
    let (store, users, sessions, catalog, idempotency): (
        Arc<dyn StateStore>,
        _,
        _,
        _,
        Idempotency,
    ) = match location.database_url() {
        None => {
            let store = SledStore::open(data_dir).with_context(|| {
                format!("cannot open the state store in {}", data_dir.display())
            })?;
            let users = Users::open(store.db()).context("cannot open the user store")?;
            let sessions =
                Sessions::open(store.db()).context("cannot open the console's sessions")?;
            let catalog = Catalog::open(store.db(), data_dir).with_context(|| {
                format!(
                    "cannot open the tech-pack catalog in {}",
                    data_dir.display()
                )
            })?;
            let idempotency = store
                .db()
                .open_tree("api/idempotency")
                .context("cannot open the idempotency keys")?;
            (
                Arc::new(store),
                users,
                sessions,
                catalog,
                Idempotency(Box::new(SledIdempotency(idempotency))),
            )
        }
        Some(url) => {
            // The data directory keeps only this worker's caches (compiled plugins).
            std::fs::create_dir_all(data_dir)
                .with_context(|| format!("cannot create {}", data_dir.display()))?;
            let store = PgStore::connect_with(
                url,
                PgStoreOptions {
                    lease: lease_from_env(),
                    ..PgStoreOptions::default()
                },
            )
            .context("cannot open the PostgreSQL database")?;
            let pool = store.pool().clone();
            let users =
                Users::open_postgres(&pool).context("cannot open the users in PostgreSQL")?;
            let sessions = Sessions::open_postgres(&pool)
                .context("cannot open the console's sessions in PostgreSQL")?;
            let catalog = Catalog::open_postgres(&pool)
                .context("cannot open the tech-pack catalog in PostgreSQL")?;
            let idempotency = PgIdempotency::open(&pool)
                .map_err(anyhow::Error::msg)
                .context("cannot open the idempotency keys in PostgreSQL")?;
            (
                Arc::new(store),
                users,
                sessions,
                catalog,
                Idempotency(Box::new(idempotency)),
            )
        }
    };
    // Refuses to open when the ledger's balances do not match its log (I6).
    let credits = CreditHook::open(&*store)?;
    let services = Arc::new(TechpackServices {
        catalog,
        defaults: options.providers,
        limits: DecodeLimits::default(),
        local: Arc::new(LocalProvider {
            limits: DecodeLimits::default(),
            budget: budget.clone(),
            recent: Arc::default(),
        }),
        remote: Some(Arc::new(HttpProviders::from_env(DecodeLimits::default()))),
        budget,
    });
    let mut resources = Resources::new();
    resources.insert(services.clone());
    let engine = Engine::new(
        store,
        registry_with_plugins(data_dir, &options.plugin_dirs),
        vec![Arc::new(credits)],
        resources,
        EngineConfig {
            durability: options.durability,
            file_roots: options.file_roots,
            ..EngineConfig::default()
        },
    );
    Ok(Opened {
        engine,
        users: Arc::new(users),
        services,
        idempotency: Arc::new(idempotency),
        sessions: Arc::new(sessions),
    })
}

/// How long a worker's runs stay its own without a heartbeat (`TECHPACK_LEASE`, e.g. `5s`):
/// a dead worker's runs are taken over by another after about this long.
fn lease_from_env() -> std::time::Duration {
    std::env::var("TECHPACK_LEASE")
        .ok()
        .and_then(|text| humantime::parse_duration(&text).ok())
        .unwrap_or(PgStoreOptions::default().lease)
}

#[cfg(test)]
mod tests {
    /// Which native kinds touch server files (and so go through `ctx.files`, tested in
    /// `tests/http_trust.rs`) and which do not. A new kind fails this test until it is put
    /// in one list or the other: deciding is part of adding a kind (steps/README.md).
    #[test]
    fn every_kind_is_classified_for_file_access() {
        const TOUCH_FILES: &[&str] = &["core/sleep", "techpack/detect-category", "techpack/export"];
        const NO_FILES: &[&str] = &[
            "core/echo",
            "core/fail",
            "techpack/analyze-base-views",
            "techpack/edit",
            "techpack/generate-close-ups",
            "techpack/generate-sketches",
            "techpack/regenerate",
            "techpack/stored-grading",
        ];
        let registry = super::registry();
        let kinds: Vec<&str> = registry.kinds().map(|(uses, _)| uses).collect();
        for uses in &kinds {
            assert!(
                TOUCH_FILES.contains(uses) || NO_FILES.contains(uses),
                "step kind `{uses}` is not classified: does it read or write files named by \
                 its config? (see steps/README.md, 'Files, paths and who started the run')"
            );
        }
        for uses in TOUCH_FILES.iter().chain(NO_FILES) {
            assert!(kinds.contains(uses), "`{uses}` is no longer registered");
        }
    }
}
