//! `techpack runs list|show|resume|cancel`.

use clap::Subcommand;
use techpack_engine::{Durability, RunStatus};

use super::{DataDir, run, summary};
use crate::exit::Exit;

#[derive(Subcommand)]
pub enum RunsCommand {
    /// Every stored run, newest first
    List {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// One run with each step's status, attempts, time and output
    Show {
        run: String,
        #[arg(long)]
        json: bool,
    },
    /// Resume an interrupted run, or every unfinished run without an id
    Resume { run: Option<String> },
    /// Cancel a run that is not executing (an interrupted one)
    Cancel { run: String },
}

pub async fn runs(
    command: RunsCommand,
    data_dir: &DataDir,
    providers: &super::run::ProviderArgs,
) -> anyhow::Result<Exit> {
    let engine = crate::wiring::open_engine(
        &data_dir.path(),
        crate::wiring::EngineOptions {
            durability: Durability::Sync,
            providers: providers.defaults(),
            ..Default::default()
        },
    )?;
    match command {
        RunsCommand::List { json } => {
            let runs = engine.store().runs()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&runs)?);
                return Ok(Exit::Success);
            }
            if runs.is_empty() {
                println!("no runs in {}", data_dir.path().display());
            }
            for run in runs {
                let elapsed = match (run.started_at, run.finished_at) {
                    (Some(s), Some(f)) => summary::format_ms(f.saturating_sub(s)),
                    _ => "-".into(),
                };
                println!(
                    "{}  {:24}  {:10}  {}",
                    run.id,
                    summary::run_status(run.status),
                    elapsed,
                    run.workflow_name
                );
            }
            Ok(Exit::Success)
        }
        RunsCommand::Show { run, json } => {
            let report = engine.report(&run)?;
            if json {
                let value = serde_json::json!({ "run": report.run, "nodes": report.nodes });
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                print!("{}", summary::render(&report, false));
            }
            Ok(Exit::Success)
        }
        RunsCommand::Resume { run: Some(id) } => resume_one(&engine, &id).await,
        RunsCommand::Resume { run: None } => {
            let unfinished = engine.unfinished_runs()?;
            if unfinished.is_empty() {
                println!("no unfinished runs");
            }
            let mut exit = Exit::Success;
            for run in unfinished {
                if resume_one(&engine, &run.id).await? != Exit::Success {
                    exit = Exit::RunFailed;
                }
            }
            Ok(exit)
        }
        RunsCommand::Cancel { run } => {
            let report = engine.cancel_stored(&run).await?;
            print!("{}", summary::render(&report, false));
            Ok(Exit::Success)
        }
    }
}

async fn resume_one(engine: &techpack_engine::Engine, id: &str) -> anyhow::Result<Exit> {
    let before = engine.report(id)?;
    let done = before
        .nodes
        .iter()
        .filter(|n| n.status.is_finished())
        .count();
    if before.run.status == RunStatus::Running || before.run.status == RunStatus::Pending {
        eprintln!(
            "resuming run {id}: {done}/{} steps already finished",
            before.nodes.len()
        );
    }
    let report = run::execute_with_progress(engine, id, before.nodes.len(), false).await?;
    run::finish(&report, None)
}
