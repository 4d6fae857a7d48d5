//! `techpack`: runs tech-pack workflows from the command line.
//!
//! # Layout
//! - `cli/`: one file per command (`run`, `validate`, `graph`, `runs`, `logs`, `users`,
//!   `plugins`), the live progress
//!   display (`progress`) and the end-of-run summary (`summary`).
//! - `server/`: `techpack serve`, the HTTP API (axum).
//! - `users`: users and their bearer tokens (hashes only, compared in constant time).
//! - `wiring`: builds the step registry, store and engine the commands share.
//! - `exit`: the process exit codes and how errors map to them.

mod cli;
mod control;
mod exit;
mod server;
mod users;
mod wiring;

use clap::Parser;

/// mimalloc rather than glibc's malloc: the engine allocates per transition from several
/// threads (tokio workers, sled's I/O threads), where glibc's arenas cost a quarter of the
/// CPU per step (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    wiring::init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::Exit::Error.into();
        }
    };
    match runtime.block_on(cli::dispatch(args)) {
        Ok(code) => code.into(),
        Err(error) => {
            let code = exit::classify(&error);
            eprintln!("error: {}", exit::describe(&error));
            code.into()
        }
    }
}
