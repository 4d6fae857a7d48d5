//! The per-call store: a fresh one for every call, holding the call's limits and the state
//! its enforcement needs, and the mapping from a wasmtime failure to a clear error.
//!
//! - wall clock: the engine's epoch ticks every few milliseconds; on each tick the store's
//!   callback either yields to tokio (async calls, so a guest that never returns cannot
//!   block a worker) or continues (the synchronous load-time probe), until the deadline
//!   passes and the call is interrupted. Epochs do not interrupt host functions, so the
//!   only host function (`techpack.log`) does bounded work.
//! - CPU: fuel, refilled per call because it lives on the store (`u64::MAX` when the
//!   manifest sets none).
//! - memory and tables: the [`ResourceLimiter`] below; a growth past the limit traps
//!   rather than returning -1, so a `memory.grow` loop ends at once with a clear error.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::{Engine, ResourceLimiter, Store, Trap, UpdateDeadline};

use crate::PluginError;
use crate::manifest::{Limits, bytes_text};

/// Instances, memories and tables one call may create: the module itself and its tables.
const MAX_INSTANCES: usize = 1;
const MAX_MEMORIES: usize = 1;
const MAX_TABLES: usize = 4;

/// How the store reacts to an epoch tick before its deadline.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Yield to the async executor (calls made with `*_async`).
    Async,
    /// Keep running on this thread (the synchronous load-time probe).
    Blocking,
}

/// Who a call is for, for log lines.
#[derive(Debug, Clone, Default)]
pub struct LogFields {
    pub run_id: String,
    pub step_id: String,
    pub attempt: u32,
    /// The step's log: the plugin's lines are kept with its attempt (none at load time).
    pub step_log: Option<techpack_engine::step::StepLog>,
}

/// The data of one call's store.
pub struct CallState {
    pub plugin: Arc<str>,
    pub fields: LogFields,
    pub limits: Limits,
    deadline: Instant,
    mode: Mode,
    /// Set by the epoch callback when it interrupted the call.
    timed_out: bool,
    /// Set by the limiter when it refused a growth, with what was refused.
    limit_hit: Option<String>,
    /// Log lines written and dropped so far (the quota is `limits.log_lines`).
    pub log_lines: u32,
    pub log_dropped: u32,
}

/// A fresh store with every limit applied, its deadline counted from now.
pub fn new_store(
    engine: &Engine,
    plugin: Arc<str>,
    limits: &Limits,
    fields: LogFields,
    mode: Mode,
) -> Store<CallState> {
    let state = CallState {
        plugin,
        fields,
        limits: limits.clone(),
        deadline: Instant::now() + limits.timeout,
        mode,
        timed_out: false,
        limit_hit: None,
        log_lines: 0,
        log_dropped: 0,
    };
    let mut store = Store::new(engine, state);
    store.limiter(|state| state);
    store
        .set_fuel(limits.fuel.unwrap_or(u64::MAX))
        .expect("the engine is configured to consume fuel");
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|mut context| {
        let state = context.data_mut();
        if Instant::now() >= state.deadline {
            state.timed_out = true;
            return Ok(UpdateDeadline::Interrupt);
        }
        Ok(match state.mode {
            Mode::Async => UpdateDeadline::Yield(1),
            Mode::Blocking => UpdateDeadline::Continue(1),
        })
    });
    store
}

impl ResourceLimiter for CallState {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let limit = self.limits.memory_bytes;
        if desired as u64 > limit {
            let message = format!(
                "linear memory would grow from {} to {}, over the limit of {} (`limits.memory`)",
                bytes_text(current as u64),
                bytes_text(desired as u64),
                bytes_text(limit)
            );
            self.limit_hit = Some(message.clone());
            return Err(wasmtime::Error::msg(message));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let limit = self.limits.table_elements as usize;
        if desired > limit {
            let message = format!(
                "a table would grow from {current} to {desired} elements, over the limit of {limit} \
                 (`limits.table_elements`)"
            );
            self.limit_hit = Some(message.clone());
            return Err(wasmtime::Error::msg(message));
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

/// Turns what wasmtime returned into the error the run shows. `doing` says what the host
/// was doing (`instantiating`, `calling techpack_run`).
pub fn classify(store: &Store<CallState>, error: wasmtime::Error, doing: &str) -> PluginError {
    let state = store.data();
    let name = state.plugin.to_string();
    if state.timed_out {
        return PluginError::Timeout {
            name,
            limit: humantime::format_duration(state.limits.timeout).to_string(),
        };
    }
    if let Some(message) = &state.limit_hit {
        return PluginError::ResourceLimit {
            name,
            message: message.clone(),
        };
    }
    if let Some(trap) = error.downcast_ref::<Trap>() {
        return match trap {
            Trap::OutOfFuel => PluginError::OutOfFuel {
                name,
                fuel: state.limits.fuel.unwrap_or(u64::MAX),
            },
            Trap::StackOverflow => PluginError::Trap {
                name,
                message: format!("{doing}: call stack exhausted (runaway recursion?)"),
            },
            other => {
                let text = other.to_string();
                PluginError::Trap {
                    name,
                    message: format!(
                        "{doing}: {}",
                        text.strip_prefix("wasm trap: ").unwrap_or(&text)
                    ),
                }
            }
        };
    }
    // Errors raised by the host (a bad log call): their own words, without the wasm
    // backtrace wasmtime wraps them in.
    PluginError::Trap {
        name,
        message: format!("{doing}: {}", error.root_cause()),
    }
}
