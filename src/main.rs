//! `techpack`: runs tech-pack workflows from the command line (the commands, the server and
//! the wiring are the `techpack` library, src/lib.rs).

use techpack::{cli, exit};

use clap::Parser;

/// mimalloc rather than glibc's malloc: the engine allocates per transition from several
/// threads (tokio workers, sled's I/O threads), which glibc's arenas serve with lock
/// hand-offs (the comparison: BENCHMARKS.md, "Allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
