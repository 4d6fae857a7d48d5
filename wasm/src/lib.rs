//! WASM step plugins: a folder `plugins/<name>/` holding a manifest and a WebAssembly
//! module becomes the step kind `wasm/<name>`, run on wasmtime in a sandbox that no
//! plugin, however broken or hostile, can break out of or use to hurt the engine.
//!
//! Every module is compiled once when it is loaded (or read back from the on-disk compile
//! cache), checked against the ABI, pre-linked, and probed; a plugin that fails any of
//! that is registered as unavailable with its reason, so workflows naming it fail
//! validation. Each call gets a fresh store with the manifest's limits: a wall-clock
//! deadline (epoch interruption, yielding to tokio on every tick), optional fuel, caps on
//! linear memory, tables, output and log lines. Calls wait for one of a fixed number of
//! slots, shared fairly between the users runs belong to.
//!
//! The ABI and manifest format are documented in `plugins/README.md`.
//!
//! # Layout
//! - [`manifest`]: `plugin.yaml`: fields, limits with their defaults, the example input.
//! - `schema`: the manifest's JSON Schemas, compiled by `jsonschema`, checked against `with`
//!   and plugin output.
//! - `cache`: compiled artifacts on disk, keyed by module sha256 and engine config.
//! - `sandbox`: per-call store state: resource limiter, deadline, fuel, log quota.
//! - `abi`: the guest contract: required exports and their types, the `techpack.log`
//!   import, writing the input and reading the result.
//! - `runtime`: the bottom: the wasmtime engine and its configuration
//!   ([`PluginHostConfig`]), the compile cache, the call slots, and a call itself.
//! - `host`: [`PluginHost`]: loading and registering plugins on one runtime, which it
//!   derefs to for calls ([`Runtime::call`]).
//! - `fair_slots`: the call slots, shared fairly between users: a cap per user, freed
//!   slots handed to waiting users in turn.
//! - `loader`: finding plugin folders and turning one into a [`LoadedPlugin`].
//! - `deferred`: [`register_deferred`]: plugins registered by name, loaded when a workflow
//!   first names one.
//! - `check`: [`CheckReport`], what `techpack plugins check DIR` prints.
//! - `step`: the `wasm/<name>` [`StepKind`](techpack_engine::StepKind) and its step.
//! - `error`: [`PluginError`], the crate's one error type.

mod abi;
mod cache;
mod check;
mod deferred;
mod error;
mod fair_slots;
mod host;
mod loader;
pub mod manifest;
mod runtime;
mod sandbox;
mod schema;
mod step;

pub use abi::ABI_VERSION;
pub use check::{CheckReport, ExampleReport};
pub use deferred::register_deferred;
pub use error::PluginError;
pub use host::PluginHost;
pub use loader::{LoadedPlugin, PluginStatus, plugin_dirs};
pub use manifest::{Limits, Manifest};
pub use runtime::{CallContext, PluginHostConfig, Runtime};
