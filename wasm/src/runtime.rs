//! The bottom of the plugin host: one wasmtime engine configured for sandboxed plugins, the
//! compile cache, the pre-linked import, the fair call slots, and a call itself. The loader,
//! the step kind and [`crate::PluginHost`] all work on a [`Runtime`].

use std::path::Path;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde_json::{Value, json};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, Linker, OptLevel, PoolingAllocationConfig,
};

use crate::cache::CompileCache;
use crate::fair_slots::{FairSlots, Tenant};
use crate::loader::LoadedPlugin;
use crate::manifest::Ceilings;
use crate::sandbox::{self, CallState, LogFields, Mode};
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
    /// The step's log, which keeps the plugin's `techpack.log` lines with the attempt.
    pub log: Option<techpack_engine::step::StepLog>,
}

/// The wasmtime engine with the plugin ABI pre-linked, the compile cache and the call
/// slots: what loading and calling plugins run on. The epoch ticker stops once the last
/// `Arc` of it is dropped. Callers outside the crate reach it through a
/// [`crate::PluginHost`], for [`Runtime::call`].
pub struct Runtime {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<CallState>,
    pub(crate) cache: CompileCache,
    pub(crate) config: PluginHostConfig,
    /// Bounds concurrent calls to the pool's size, so a burst waits instead of failing, and
    /// each user's to their share, so a burst from one user does not hold up the others.
    calls: FairSlots,
    /// The pool slot kept for load-time probes, one at a time.
    pub(crate) probe: Mutex<()>,
}

impl Runtime {
    /// A runtime with `config`; without a cache folder every load compiles.
    pub(crate) fn start(
        cache_dir: Option<&Path>,
        config: PluginHostConfig,
    ) -> Result<Arc<Runtime>, PluginError> {
        let engine =
            Engine::new(&engine_config(&config)).map_err(|e| PluginError::Engine(one_line(&e)))?;
        let mut linker = Linker::new(&engine);
        abi::define_imports(&mut linker).map_err(|e| PluginError::Engine(one_line(&e)))?;
        let cache = CompileCache::open(cache_dir, &engine);
        let runtime = Arc::new(Runtime {
            engine,
            linker,
            cache,
            calls: FairSlots::new(config.max_concurrent_calls, config.per_user_calls()),
            probe: Mutex::new(()),
            config,
        });
        start_epoch_ticker(Arc::downgrade(&runtime), runtime.config.epoch_tick)?;
        Ok(runtime)
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
            .calls
            .acquire(Tenant::of(context.owner.as_deref()))
            .await;
        let fields = LogFields {
            run_id: context.run_id.clone(),
            step_id: context.step_id.clone(),
            attempt: context.attempt,
            step_log: context.log.clone(),
        };
        let mut store = sandbox::new_store(
            &self.engine,
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
fn start_epoch_ticker(host: Weak<Runtime>, tick: Duration) -> Result<(), PluginError> {
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

/// A wasmtime error as one line: its causes joined, without the backtrace.
pub fn one_line(error: &wasmtime::Error) -> String {
    let mut parts: Vec<String> = error
        .chain()
        .map(|e| e.to_string().lines().next().unwrap_or_default().to_string())
        .collect();
    parts.dedup();
    parts.join(": ")
}
