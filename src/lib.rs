//! `techpack`: runs tech-pack workflows from the command line. The binary (src/main.rs) only
//! parses the arguments and runs [`cli::dispatch`]; the library lets tests drive the HTTP
//! API in-process (`server::app(state)` with tower's `ServiceExt::oneshot`).
//!
//! # Layout
//! - `args`: the arguments the commands and the server share (data directory, providers).
//! - `cli/`: one file per command (`run`, `validate`, `graph`, `runs`, `logs`, `users`,
//!   `plugins`), the live progress
//!   display (`progress`) and the end-of-run summary (`summary`).
//! - `server/`: `techpack serve`, the HTTP API (axum).
//! - `control/`: the operator's channel to a running server (a Unix socket), and the one
//!   `answer` it and the CLI share.
//! - `users`: users and their bearer tokens (hashes only, compared in constant time).
//! - `sessions`: the console's sign-in sessions, in the store every worker shares (hashed
//!   ids, with expiry).
//! - `wiring`: builds the step registry, store and engine the commands share.
//! - `exit`: the process exit codes and how errors map to them.

pub mod args;
pub mod cli;
pub mod control;
pub mod exit;
pub mod server;
pub mod sessions;
pub mod users;
pub mod wiring;
