//! `techpack`: runs tech-pack workflows from the command line (the commands, the server and
//! the wiring are the `techpack` library, src/lib.rs).

use techpack::{cli, exit};

use clap::Parser;

/// jemalloc rather than glibc's malloc (lock hand-offs between the threads that allocate
/// per transition) or mimalloc (as fast, but twice the memory after a burst of runs): the
/// comparison is in BENCHMARKS.md, "Allocator".
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Logs to stderr, filtered by `RUST_LOG` (default `warn`); coloured only on a terminal, so a
/// log file or a pipe gets plain text.
fn init_tracing() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    init_tracing();
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
