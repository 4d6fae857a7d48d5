//! The command line: arguments and one module per command.

mod graph;
mod logs;
mod plugins;
mod progress;
pub mod run;
mod runs;
mod summary;
mod users;
mod validate;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

pub use crate::args::{DataDir, ProviderArgs};

use crate::exit::Exit;

#[derive(Parser)]
#[command(
    name = "techpack",
    version,
    about = "Turns product photos into factory-ready tech packs, with a durable workflow engine underneath"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Another folder of WASM plugins, besides plugins/ and TECHPACK_PLUGINS_DIR (repeatable)
    #[arg(long = "plugins-dir", value_name = "DIR", global = true)]
    plugins_dirs: Vec<PathBuf>,
}

/// Where an operator command's answer comes from.
pub enum Store {
    /// This process opened the store.
    Own(Box<crate::wiring::Opened>),
    /// A server holds it and answered over the control socket.
    Server(Box<crate::control::Reply>),
}

/// Opens the store, or, when a running server holds it, asks that server `request` over the
/// control socket (never by opening the store twice).
pub fn open_store(
    data_dir: &DataDir,
    options: crate::wiring::EngineOptions,
    request: &crate::control::Request,
) -> anyhow::Result<Store> {
    let path = data_dir.path();
    match crate::wiring::open_engine(data_dir, options) {
        Ok(opened) => Ok(Store::Own(Box::new(opened))),
        Err(error) => {
            let locked = matches!(
                error.downcast_ref::<techpack_engine::EngineError>(),
                Some(techpack_engine::EngineError::StoreLocked { .. })
            );
            if !locked {
                return Err(error);
            }
            match crate::control::socket::call(&path, request)? {
                Some(reply) => Ok(Store::Server(Box::new(reply))),
                None => Err(error),
            }
        }
    }
}

/// The answer to an operator request, from the store or from the server that holds it.
pub async fn ask(
    data_dir: &DataDir,
    request: crate::control::Request,
) -> anyhow::Result<crate::control::Reply> {
    let reply = match open_store(data_dir, Default::default(), &request)? {
        Store::Own(opened) => crate::control::answer(&opened, None, request).await,
        Store::Server(reply) => *reply,
    };
    reply.ok()
}

#[derive(Copy, Clone, ValueEnum)]
pub enum DurabilityArg {
    /// fsync each finished step before its dependents start
    Sync,
    /// let the store flush in the background (faster; a crash may re-run the last steps)
    Relaxed,
}

impl From<DurabilityArg> for techpack_engine::Durability {
    fn from(arg: DurabilityArg) -> Self {
        match arg {
            DurabilityArg::Sync => techpack_engine::Durability::Sync,
            DurabilityArg::Relaxed => techpack_engine::Durability::Relaxed,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run a workflow to the end, showing progress, then a per-step summary
    Run(run::RunArgs),
    /// Check workflow files and report every problem at once
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        data_dir: DataDir,
    },
    /// Print a workflow's DAG as Mermaid or Graphviz dot
    Graph {
        file: PathBuf,
        #[arg(long, value_enum, default_value = "mermaid")]
        format: graph::Format,
        #[command(flatten)]
        data_dir: DataDir,
    },
    /// List WASM plugins and whether they load, or check one plugin folder
    Plugins {
        #[command(subcommand)]
        command: plugins::PluginsCommand,
        #[command(flatten)]
        data_dir: DataDir,
    },
    /// List, inspect, resume or cancel stored runs
    Runs {
        #[command(subcommand)]
        command: runs::RunsCommand,
        #[command(flatten)]
        data_dir: DataDir,
        #[command(flatten)]
        providers: ProviderArgs,
    },
    /// The AI operation log: every provider call with tokens, timing and errors
    Logs(logs::LogsArgs),
    /// Serve the HTTP API
    Serve(crate::server::ServeArgs),
    /// Create users (prints their token once), grant credits, show balances
    Users {
        #[command(subcommand)]
        command: users::UsersCommand,
        #[command(flatten)]
        data_dir: DataDir,
    },
}

pub async fn dispatch(cli: Cli) -> anyhow::Result<Exit> {
    let plugin_dirs = &cli.plugins_dirs;
    match cli.command {
        Command::Run(args) => run::run(args, plugin_dirs).await,
        Command::Validate { files, data_dir } => validate::validate(&files, &data_dir, plugin_dirs),
        Command::Graph {
            file,
            format,
            data_dir,
        } => graph::graph(&file, format, &data_dir, plugin_dirs),
        Command::Plugins { command, data_dir } => plugins::plugins(command, &data_dir).await,
        Command::Runs {
            command,
            data_dir,
            providers,
        } => runs::runs(command, &data_dir, &providers, plugin_dirs).await,
        Command::Logs(args) => logs::logs(args).await,
        Command::Serve(args) => crate::server::serve(args, plugin_dirs).await,
        Command::Users { command, data_dir } => users::users(command, &data_dir).await,
    }
}
