//! [`PluginHost`]: one wasmtime engine configured for sandboxed plugins, the compile
//! cache, the pre-linked import, and the calls themselves.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde_json::{Value, json};
use techpack_engine::StepRegistry;
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, Linker, OptLevel, PoolingAllocationConfig,
};

use crate::cache::CompileCache;
use crate::fair_slots::{FairSlots, Tenant};
use crate::loader::{self, LoadedPlugin, PluginStatus};
use crate::manifest::Ceilings;
use crate::sandbox::{self, CallState, LogFields, Mode};
use crate::step::WasmStepKind;
use crate::{PluginError, abi};

/// The deepest wasm call stack allowed; deeper recursion traps with "call stack exhausted".
const MAX_WASM_STACK: usize = 512 << 10;
/// Each async call runs on a fiber stack of this size (it must exceed `MAX_WASM_STACK`,
/// leaving room for host frames).
const ASYNC_STACK: usize = 2 << 20;
/// Tables a module may define (the pool's per-instance slots).
const MAX_TABLES_PER_MODULE: u32 = 4;

/// How the host is set up; [`Default`] suits the CLI and server.
#[derive(Debug, Clone)]
pub struct PluginHostConfig {
    /// Plugin calls running at once; more wait their turn. Also sizes the pooling allocator.
    pub max_concurrent_calls: usize,
    /// Plugin calls running at once for any one user (the operator's runs count as one
    /// user), so one user's burst of slow or hostile calls cannot take every slot; freed
    /// slots go to waiting users in turn. `None`: a quarter of `max_concurrent_calls`, at
    /// least 1.
    pub max_concurrent_calls_per_user: Option<usize>,
    /// Pre-allocate instance slots (instantiation in a few µs). Each slot reserves
    /// address space (not memory) for a linear memory: about 4 GiB plus guard pages, so
    /// `max_concurrent_calls + 1` slots need that many times 4 GiB of virtual address
    /// space. Turn off where address space is limited (`ulimit -v`).
    pub pooling: bool,
    /// The most a manifest may ask for.
    pub ceilings: Ceilings,
    /// How often running plugins check their deadline (and yield to tokio).
    pub epoch_tick: Duration,
}

impl Default for PluginHostConfig {
    fn default() -> Self {
        PluginHostConfig {
            max_concurrent_calls: 16,
            max_concurrent_calls_per_user: None,
            pooling: true,
            ceilings: Ceilings::default(),
            epoch_tick: Duration::from_millis(5),
        }
    }
}

impl PluginHostConfig {
    /// `max_concurrent_calls_per_user`, or its default.
    fn per_user_calls(&self) -> usize {
        self.max_concurrent_calls_per_user
            .unwrap_or(self.max_concurrent_calls / 4)
            .max(1)
    }
}

/// Who a call is for: the input's `context`, the fields of its log lines, and whose share
/// of the call slots it takes.
#[derive(Debug, Clone, Default)]
pub struct CallContext {
    pub run_id: String,
    pub step_id: String,
    pub attempt: u32,
    pub idempotency_key: String,
    /// The user the run belongs to (`None`: the operator's, from the CLI). Not passed to
    /// the plugin: it only decides which user's share of the slots the call waits for.
    pub owner: Option<String>,
}

/// Loads, registers and calls plugins. Cheap to clone; the epoch ticker thread stops when
/// the last clone (including those held by registered step kinds) is dropped.
#[derive(Clone)]
pub struct PluginHost {
    inner: Arc<HostInner>,
}

pub(crate) struct HostInner {
    pub engine: Engine,
    pub linker: Linker<CallState>,
    pub cache: CompileCache,
    pub config: PluginHostConfig,
    /// Bounds concurrent calls to the pool's size, so a burst waits instead of failing, and
    /// each user's to their share, so a burst from one user does not hold up the others.
    calls: FairSlots,
    /// The pool slot kept for load-time probes, one at a time.
    pub probe: Mutex<()>,
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
        let engine = Engine::new(&engine_config(&config))
            .map_err(|e| PluginError::Engine(loader::one_line(&e)))?;
        let mut linker = Linker::new(&engine);
        abi::define_imports(&mut linker).map_err(|e| PluginError::Engine(loader::one_line(&e)))?;
        let cache = CompileCache::open(cache_dir, &engine);
        let inner = Arc::new(HostInner {
            engine,
            linker,
            cache,
            calls: FairSlots::new(config.max_concurrent_calls, config.per_user_calls()),
            probe: Mutex::new(()),
            config,
        });
        start_epoch_ticker(Arc::downgrade(&inner), inner.config.epoch_tick)?;
        Ok(PluginHost { inner })
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

    /// Loads every plugin under `dirs` into `registry`: each good one as `wasm/<name>`,
    /// each broken one as unavailable with its reason (so workflows naming it fail
    /// validation with that reason). A duplicate leaves the first plugin registered.
    pub fn register(&self, registry: &mut StepRegistry, dirs: &[PathBuf]) -> Vec<PluginStatus> {
        let statuses = self.load_dirs(dirs);
        for status in &statuses {
            let uses = format!("wasm/{}", status.name);
            match &status.result {
                Ok(plugin) => registry.register(
                    uses,
                    WasmStepKind {
                        host: self.clone(),
                        plugin: plugin.clone(),
                    },
                ),
                Err(PluginError::Duplicate { .. }) => {}
                Err(error) => {
                    tracing::debug!(plugin = %uses, %error, "plugin unavailable");
                    registry.register_unavailable(uses, error.without_paths())
                }
            }
        }
        statuses
    }

    /// Calls `plugin` with `{"with": .., "inputs": .., "context": {..}}` in a fresh
    /// sandbox, and returns its output value.
    pub async fn call(
        &self,
        plugin: &LoadedPlugin,
        with: &Value,
        inputs: &Value,
        context: &CallContext,
    ) -> Result<Value, PluginError> {
        if let Some(schema) = &plugin.manifest.input {
            schema
                .check(with, "with")
                .map_err(|message| PluginError::InvalidInput {
                    name: plugin.name().to_string(),
                    message,
                })?;
        }
        let input = json!({
            "with": with,
            "inputs": inputs,
            "context": {
                "run_id": context.run_id,
                "step_id": context.step_id,
                "attempt": context.attempt,
                "idempotency_key": context.idempotency_key,
            },
        });
        let input = serde_json::to_vec(&input).expect("a JSON value serializes");
        let _slot = self
            .inner
            .calls
            .acquire(Tenant::of(context.owner.as_deref()))
            .await;
        let fields = LogFields {
            run_id: context.run_id.clone(),
            step_id: context.step_id.clone(),
            attempt: context.attempt,
        };
        let mut store = sandbox::new_store(
            &self.inner.engine,
            plugin.name.clone(),
            plugin.manifest.limits(),
            fields,
            Mode::Async,
        );
        let instance = plugin
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| sandbox::classify(&store, e, "instantiating"))?;
        let output = abi::run(&mut store, &instance, &input).await?;
        let dropped = store.data().log_dropped;
        if dropped > 0 {
            tracing::warn!(
                plugin = plugin.name(), run_id = %context.run_id, step_id = %context.step_id,
                "dropped {dropped} log lines over the plugin's `limits.log_lines`"
            );
        }
        if let Some(schema) = &plugin.manifest.output {
            schema
                .check(&output, "output")
                .map_err(|message| PluginError::BadOutput {
                    name: plugin.name().to_string(),
                    message: format!("it does not match the manifest's output_schema: {message}"),
                })?;
        }
        Ok(output)
    }
}

fn engine_config(host: &PluginHostConfig) -> Config {
    let mut config = Config::new();
    config
        .epoch_interruption(true)
        .consume_fuel(true)
        .max_wasm_stack(MAX_WASM_STACK)
        .async_stack_size(ASYNC_STACK)
        .cranelift_opt_level(OptLevel::Speed);
    if host.pooling {
        let slots = u32::try_from(host.max_concurrent_calls.max(1) + 1).unwrap_or(u32::MAX);
        let mut pool = PoolingAllocationConfig::new();
        pool.total_core_instances(slots)
            .total_memories(slots)
            .total_tables(slots * MAX_TABLES_PER_MODULE)
            .total_stacks(slots)
            .total_component_instances(0)
            .max_memories_per_module(1)
            .max_tables_per_module(MAX_TABLES_PER_MODULE)
            .max_memory_size(host.ceilings.memory_bytes as usize)
            .table_elements(host.ceilings.table_elements as usize);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

/// Advances the engine's epoch every `tick`, which is what lets running plugins notice
/// their deadline; stops once the host is gone.
fn start_epoch_ticker(host: Weak<HostInner>, tick: Duration) -> Result<(), PluginError> {
    std::thread::Builder::new()
        .name("wasm-epoch".to_string())
        .spawn(move || {
            loop {
                std::thread::sleep(tick);
                match host.upgrade() {
                    Some(host) => host.engine.increment_epoch(),
                    None => break,
                }
            }
        })
        .map(|_| ())
        .map_err(|e| PluginError::Engine(format!("cannot start the epoch thread: {e}")))
}

pub(crate) fn check_context() -> CallContext {
    CallContext {
        run_id: "check".to_string(),
        step_id: "example".to_string(),
        attempt: 1,
        idempotency_key: "check/example".to_string(),
        owner: None,
    }
}
