//! Plugins registered without loading them: each is compiled (or read back from the compile
//! cache), checked and probed the first time a workflow names it, so a command whose
//! workflow uses no plugin makes no wasmtime engine and compiles nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use techpack_engine::{StepKind, StepRegistry};

use crate::PluginError;
use crate::host::PluginHost;
use crate::loader::{discover, folder_name};
use crate::runtime::PluginHostConfig;

/// Registers every plugin folder under `dirs` as `wasm/<name>`, to be loaded when first
/// asked for; the first of two plugins with one name wins, as with
/// [`PluginHost::register`]. The host (its engine and epoch ticker) is made by the first
/// plugin loaded, keeping compiled modules in `cache_dir`; a plugin that fails to load is
/// unavailable with its reason, without server paths.
pub fn register_deferred(
    registry: &mut StepRegistry,
    cache_dir: &Path,
    config: PluginHostConfig,
    dirs: &[PathBuf],
) {
    let host: Arc<OnceLock<Result<PluginHost, String>>> = Arc::default();
    let cache_dir = cache_dir.to_path_buf();
    let mut first: BTreeMap<String, PathBuf> = BTreeMap::new();
    for dir in discover(dirs) {
        let name = folder_name(&dir);
        if let Some(earlier) = first.get(&name) {
            let duplicate = PluginError::Duplicate {
                name: name.clone(),
                first: earlier.clone(),
                ignored: dir.clone(),
            };
            tracing::warn!(plugin = %name, "{duplicate}");
            continue;
        }
        first.insert(name.clone(), dir.clone());
        let (host, cache_dir, config) = (host.clone(), cache_dir.clone(), config.clone());
        registry.register_deferred(format!("wasm/{name}"), move || {
            off_the_workers(|| {
                let host = host
                    .get_or_init(|| {
                        PluginHost::with_config(Some(&cache_dir), config.clone())
                            .map_err(|e| e.without_paths())
                    })
                    .clone()?;
                let plugin = host.load(&dir).map_err(|e| {
                    tracing::warn!(plugin = %dir.display(), "{e}");
                    e.without_paths()
                })?;
                Ok(Arc::new(host.step_kind(Arc::new(plugin))) as Arc<dyn StepKind>)
            })
        });
    }
}

/// Compiling and probing a module blocks: on a multi-threaded runtime's worker, the worker
/// hands its other tasks on first.
fn off_the_workers<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}
