//! [`PluginHost`]: loading and registering plugins on one [`Runtime`], which it derefs to
//! for calls.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use techpack_engine::StepRegistry;

use crate::PluginError;
use crate::loader::{self, LoadedPlugin, PluginStatus};
use crate::runtime::{CallContext, PluginHostConfig, Runtime};
use crate::step::WasmStepKind;

/// Loads, registers and calls plugins. Cheap to clone; the epoch ticker thread stops when
/// the last clone (including the runtime held by registered step kinds) is dropped.
#[derive(Clone)]
pub struct PluginHost {
    inner: Arc<Runtime>,
}

impl PluginHost {
    /// A host with the default configuration, keeping compiled modules in `cache_dir`
    /// (created if missing; e.g. `<data-dir>/wasm-cache`).
    pub fn new(cache_dir: &Path) -> Result<PluginHost, PluginError> {
        PluginHost::with_config(Some(cache_dir), PluginHostConfig::default())
    }

    /// A host with `config`; without a cache folder every load compiles.
    pub fn with_config(
        cache_dir: Option<&Path>,
        config: PluginHostConfig,
    ) -> Result<PluginHost, PluginError> {
        Ok(PluginHost {
            inner: Runtime::start(cache_dir, config)?,
        })
    }

    /// Where compiled modules are kept, if the cache is on.
    pub fn cache_dir(&self) -> Option<&Path> {
        self.inner.cache.dir()
    }

    /// Loads one plugin folder (compiling, checking and probing its module).
    pub fn load(&self, dir: &Path) -> Result<LoadedPlugin, PluginError> {
        loader::load(&self.inner, dir)
    }

    /// Loads every plugin under `dirs` (see [`loader::discover`]), good or not.
    pub fn load_dirs(&self, dirs: &[PathBuf]) -> Vec<PluginStatus> {
        loader::load_all(&self.inner, dirs)
    }

    /// The `wasm/<name>` step kind of a loaded plugin, calling it on this host.
    pub(crate) fn step_kind(&self, plugin: Arc<LoadedPlugin>) -> WasmStepKind {
        WasmStepKind {
            runtime: self.inner.clone(),
            plugin,
        }
    }

    /// Loads every plugin under `dirs` into `registry`: each good one as `wasm/<name>`,
    /// each broken one as unavailable with its reason (so workflows naming it fail
    /// validation with that reason). A duplicate leaves the first plugin registered.
    pub fn register(&self, registry: &mut StepRegistry, dirs: &[PathBuf]) -> Vec<PluginStatus> {
        let statuses = self.load_dirs(dirs);
        for status in &statuses {
            let uses = format!("wasm/{}", status.name);
            match &status.result {
                Ok(plugin) => registry.register(uses, self.step_kind(plugin.clone())),
                Err(PluginError::Duplicate { .. }) => {}
                Err(error) => {
                    tracing::debug!(plugin = %uses, %error, "plugin unavailable");
                    registry.register_unavailable(uses, error.without_paths())
                }
            }
        }
        statuses
    }
}

/// A host is used as its runtime for calls ([`Runtime::call`]), so the call has one
/// signature, the runtime's.
impl std::ops::Deref for PluginHost {
    type Target = Runtime;

    fn deref(&self) -> &Runtime {
        &self.inner
    }
}

pub(crate) fn check_context() -> CallContext {
    CallContext {
        run_id: "check".to_string(),
        step_id: "example".to_string(),
        attempt: 1,
        idempotency_key: "check/example".to_string(),
        owner: None,
        log: None,
    }
}
