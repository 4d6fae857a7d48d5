//! techpack's workflow engine: YAML workflows validated up front, executed as a DAG on tokio,
//! every transition persisted in sled so interrupted runs resume where they were.
//!
//! It knows nothing about tech packs or HTTP: step kinds are registered by the caller, and
//! lifecycle hooks (credits) plug into node transitions.
//!
//! # Layout
//! - [`workflow`]: the YAML format, its validation (`diagnostic`, `load`), expressions
//!   (`expression`), inputs, the DAG (`graph`), and the one YAML module (`yaml`).
//! - [`step`]: the [`Step`] and [`StepKind`] traits, the [`StepRegistry`], shared
//!   [`Resources`], the failure codes steps record ([`StepFailure`], [`FailureCode`]), a
//!   step's log lines (`log`), and the built-in `core/*` kinds (`step/builtin`).
//! - [`hooks`]: the [`NodeHook`] lifecycle trait.
//! - [`credits`]: the credit [`Ledger`] (append-only, double-entry, in the store's hook
//!   keyspace) and the [`CreditHook`] that reserves, posts and voids with node transitions.
//! - [`store`]: the [`StateStore`] trait, its records and the sled implementation
//!   (`sled_store`), on the data directory's [`store::Database`] (`database`): sled behind a
//!   write-ahead log of our own (`wal`), which every part's writes go through; the outbox of
//!   completion callbacks (`deliveries`, queued with a run's end) and concurrency limits'
//!   admission (`admission`: which queued runs start when slots free).
//! - [`executor`]: the [`Engine`]: scheduling (`run`), what a run's tasks share (`run_state`),
//!   one node's attempts (`node`: start, attempt, settle), retry
//!   delays (`backoff`), group commit (`flush`), transition events (`events`), and retry and
//!   replay of finished runs (`rerun`).
//! - `json_text`: [`JsonText`], a JSON value kept as its text (a step's output).
//! - `error`: [`EngineError`], the crate's one error type.
//! - `refusal`: [`Refusal`], a hook's typed refusal, carried through the executor unread.

pub mod credits;
mod error;
pub mod executor;
pub mod hooks;
mod json_text;
mod refusal;
pub mod step;
pub mod store;
pub mod workflow;

pub use credits::{Balance, CreditHook, Ledger, LedgerTables, TxnError};
pub use error::EngineError;
pub use executor::{Engine, EngineConfig, FlushStats, RunEvent, RunReport, StoredEvent};
pub use hooks::{FailureKind, NodeHook, NodeHookContext};
pub use json_text::JsonText;
pub use refusal::Refusal;
pub use step::{
    FailureCode, PluginCode, Resources, Step, StepContext, StepError, StepFailure, StepKind,
    StepOutput, StepRegistry,
};
pub use store::{
    AttemptOutcome, AttemptRecord, Durability, HookError, NodeRecord, NodeStatus, RunRecord,
    RunStatus, RunWarning, SledStore, StateStore,
};
pub use workflow::{Diagnostic, Diagnostics, GraphFormat, Workflow};
