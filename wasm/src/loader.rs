//! Finding plugin folders and loading one: manifest, module, ABI check, pre-link, probe.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::InstancePre;

use crate::cache::Origin;
use crate::manifest::{MANIFEST_FILE, Manifest};
use crate::runtime::{Runtime, one_line};
use crate::sandbox::{self, CallState, LogFields, Mode};
use crate::{PluginError, abi};

/// The environment variable naming extra plugin folders (`:`-separated, like `PATH`).
pub const PLUGINS_DIR_ENV: &str = "TECHPACK_PLUGINS_DIR";

/// Modules larger than this are refused before they are read or compiled.
const MAX_MODULE_BYTES: u64 = 64 << 20;

/// A plugin ready to call: its manifest and its pre-linked module.
pub struct LoadedPlugin {
    pub manifest: Manifest,
    /// The plugin's folder.
    pub dir: PathBuf,
    /// The module file (inside `dir`).
    pub module_path: PathBuf,
    pub module_sha256: String,
    pub module_bytes: u64,
    /// True when the compiled module came from the on-disk cache.
    pub from_cache: bool,
    /// Reading, compiling (or loading from cache), checking and probing.
    pub load_time: Duration,
    pub(crate) name: Arc<str>,
    /// Imports resolved once, so a call only allocates and initializes the instance.
    pub(crate) pre: InstancePre<CallState>,
}

impl LoadedPlugin {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The step kind it is registered as.
    pub fn uses(&self) -> String {
        format!("wasm/{}", self.name)
    }
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("name", &self.name)
            .field("dir", &self.dir)
            .field("module_sha256", &self.module_sha256)
            .finish_non_exhaustive()
    }
}

/// One plugin folder and how loading it went.
#[derive(Debug)]
pub struct PluginStatus {
    /// The plugin's name: its folder's name (which its manifest must repeat).
    pub name: String,
    pub dir: PathBuf,
    pub result: Result<Arc<LoadedPlugin>, PluginError>,
}

/// The folders plugins are loaded from: `plugins/` (relative to the working directory),
/// then `extra` (e.g. `--plugins-dir` flags), then the folders in `TECHPACK_PLUGINS_DIR`.
/// Duplicates are dropped.
pub fn plugin_dirs(extra: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("plugins")];
    dirs.extend(extra.iter().cloned());
    if let Some(paths) = std::env::var_os(PLUGINS_DIR_ENV) {
        dirs.extend(std::env::split_paths(&paths).filter(|p| !p.as_os_str().is_empty()));
    }
    let mut seen = Vec::new();
    dirs.retain(|dir| {
        let key = dir.canonicalize().unwrap_or_else(|_| dir.clone());
        let new = !seen.contains(&key);
        seen.push(key);
        new
    });
    dirs
}

/// Every plugin folder under `dirs`, in order: a folder holding `plugin.yaml` is a plugin
/// itself; otherwise each of its subfolders holding one is (others, like `sdk/`, are
/// skipped). A folder that does not exist is skipped with a warning.
pub fn discover(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for dir in dirs {
        if dir.join(MANIFEST_FILE).is_file() {
            found.push(dir.clone());
            continue;
        }
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) => {
                if dir != Path::new("plugins") || e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(dir = %dir.display(), "cannot read plugin folder: {e}");
                }
                continue;
            }
        };
        let mut plugins: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.join(MANIFEST_FILE).is_file())
            .collect();
        plugins.sort();
        found.extend(plugins);
    }
    found
}

/// Loads every plugin under `dirs`; the first of two plugins with one name wins.
pub fn load_all(host: &Runtime, dirs: &[PathBuf]) -> Vec<PluginStatus> {
    let mut first: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut statuses = Vec::new();
    for dir in discover(dirs) {
        let name = folder_name(&dir);
        let result = match first.get(&name) {
            Some(earlier) => Err(PluginError::Duplicate {
                name: name.clone(),
                first: earlier.clone(),
                ignored: dir.clone(),
            }),
            None => {
                first.insert(name.clone(), dir.clone());
                load(host, &dir).map(Arc::new)
            }
        };
        if let Err(error) = &result {
            tracing::warn!(plugin = %name, "{error}");
        }
        statuses.push(PluginStatus { name, dir, result });
    }
    statuses
}

pub(crate) fn folder_name(dir: &Path) -> String {
    let absolute = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    absolute
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string())
}

/// Loads one plugin folder.
pub fn load(host: &Runtime, dir: &Path) -> Result<LoadedPlugin, PluginError> {
    let started = Instant::now();
    let manifest = Manifest::read(dir, &host.config.ceilings)?;
    let folder = folder_name(dir);
    if manifest.name != folder {
        return Err(PluginError::Manifest {
            path: dir.join(MANIFEST_FILE),
            message: format!(
                "name `{}` does not match the folder `{folder}` (the step kind is wasm/<folder>)",
                manifest.name
            ),
        });
    }
    if let Some(capability) = manifest.capabilities.first() {
        return Err(PluginError::CapabilityNotGranted {
            name: manifest.name.clone(),
            capability: capability.clone(),
        });
    }
    let module_path = dir.join(&manifest.module);
    let size = std::fs::metadata(&module_path)
        .map(|m| m.len())
        .unwrap_or(0);
    if size > MAX_MODULE_BYTES {
        return Err(PluginError::Compile {
            name: manifest.name.clone(),
            module: module_path,
            message: format!(
                "it is {}, more than the {} a plugin module may be",
                crate::manifest::bytes_text(size),
                crate::manifest::bytes_text(MAX_MODULE_BYTES)
            ),
        });
    }
    let bytes = std::fs::read(&module_path).map_err(|source| PluginError::Io {
        path: module_path.clone(),
        source,
    })?;
    let name: Arc<str> = Arc::from(manifest.name.as_str());
    let (module, origin) = host
        .cache
        .load_or_compile(&host.engine, &bytes)
        .map_err(|e| PluginError::Compile {
            name: name.to_string(),
            module: module_path.clone(),
            message: one_line(&e),
        })?;
    abi::check_module(&name, &module)?;
    let pre = host
        .linker
        .instantiate_pre(&module)
        .map_err(|e| PluginError::Abi {
            name: name.to_string(),
            message: one_line(&e),
        })?;
    probe(host, &name, &manifest, &pre)?;
    Ok(LoadedPlugin {
        module_sha256: hex::encode(Sha256::digest(&bytes)),
        module_bytes: bytes.len() as u64,
        from_cache: origin == Origin::Cache,
        load_time: started.elapsed(),
        dir: dir.to_path_buf(),
        module_path,
        manifest,
        name,
        pre,
    })
}

/// Instantiates the module once under its limits and checks its ABI version, so a module
/// whose start function traps or loops, or whose memory is over its limit, fails at load.
fn probe(
    host: &Runtime,
    name: &Arc<str>,
    manifest: &Manifest,
    pre: &InstancePre<CallState>,
) -> Result<(), PluginError> {
    // The pool keeps one slot for probes; one probe at a time.
    let _slot = host
        .probe
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let fields = LogFields {
        run_id: "load".to_string(),
        step_id: String::new(),
        attempt: 0,
        step_log: None,
    };
    let mut store = sandbox::new_store(
        &host.engine,
        name.clone(),
        manifest.limits(),
        fields,
        Mode::Blocking,
    );
    let instance = pre
        .instantiate(&mut store)
        .map_err(|e| sandbox::classify(&store, e, "instantiating"))?;
    abi::check_version(&mut store, &instance)
}
