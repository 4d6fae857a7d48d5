//! `techpack runs list|show|resume|cancel|retry|replay`. While a server holds the data
//! directory, the first four ask it over the control socket (`control`); retry and replay
//! execute here, with progress, so they need the directory to themselves.

use clap::Subcommand;
use serde_json::Map;
use techpack_engine::{Durability, Engine, NodeStatus, RunReport, RunStatus};

use super::{DataDir, run, summary};
use crate::control::{Reply, Request};
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
    /// Cancel a run that is not executing (an interrupted one), or one the server executes
    Cancel { run: String },
    /// Make a failed or cancelled run go on: its failed and cancelled steps and every step
    /// after them run again, the others keep their outputs
    Retry { run: String },
    /// Start a new run from a finished one's step: the steps before it take the old run's
    /// outputs, STEP and every step after it run
    Replay {
        run: String,
        /// The step to run again from
        #[arg(long, value_name = "STEP")]
        from: String,
        /// An input to change, `name=value` (JSON for non-string inputs); repeatable
        #[arg(long = "input", short = 'i', value_name = "NAME=VALUE")]
        inputs: Vec<String>,
    },
}

pub async fn runs(
    command: RunsCommand,
    data_dir: &DataDir,
    providers: &super::ProviderArgs,
    plugin_dirs: &[std::path::PathBuf],
) -> anyhow::Result<Exit> {
    let options = crate::wiring::EngineOptions {
        plugin_dirs: plugin_dirs.to_vec(),
        durability: Durability::Sync,
        providers: providers.defaults(),
        ..Default::default()
    };
    let request = match &command {
        RunsCommand::Retry { run } => {
            let opened = crate::wiring::open_engine(data_dir, options)?;
            return retry_here(&opened.engine, run).await;
        }
        RunsCommand::Replay { run, from, inputs } => {
            let opened = crate::wiring::open_engine(data_dir, options)?;
            return replay_here(&opened.engine, run, from, inputs).await;
        }
        RunsCommand::List { .. } => Request::RunsList,
        RunsCommand::Show { run, .. } => Request::RunsShow { run: run.clone() },
        RunsCommand::Cancel { run } => Request::RunsCancel { run: run.clone() },
        RunsCommand::Resume { run } => Request::RunsResume { run: run.clone() },
    };
    let reply = match super::open_store(data_dir, options, &request)? {
        super::Store::Own(opened) => match command {
            // Resuming here means executing here, with progress.
            RunsCommand::Resume { run } => return resume_here(&opened.engine, run).await,
            _ => crate::control::answer(&opened, None, request).await,
        },
        super::Store::Server(reply) => *reply,
    };
    match (command, reply.ok()?) {
        (RunsCommand::List { json }, Reply::Runs(runs)) => {
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
        }
        (RunsCommand::Show { json, .. }, Reply::Report { run, nodes }) => {
            if json {
                let value = serde_json::json!({ "run": run, "nodes": nodes });
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                print!(
                    "{}",
                    summary::render(&RunReport { run: *run, nodes }, false)
                );
            }
        }
        (RunsCommand::Cancel { .. }, Reply::Report { run, nodes }) => {
            print!(
                "{}",
                summary::render(&RunReport { run: *run, nodes }, false)
            );
        }
        (RunsCommand::Resume { .. }, Reply::Resumed(ids)) => {
            if ids.is_empty() {
                println!("no unfinished runs");
            }
            for id in ids {
                println!("{id}: resumed by the server that holds the data directory");
            }
        }
        (RunsCommand::Retry { .. } | RunsCommand::Replay { .. }, _) => {
            unreachable!("retry and replay are answered here")
        }
        (_, other) => anyhow::bail!("unexpected answer from the server: {other:?}"),
    }
    Ok(Exit::Success)
}

async fn resume_here(
    engine: &techpack_engine::Engine,
    run: Option<String>,
) -> anyhow::Result<Exit> {
    let Some(id) = run else {
        let unfinished = engine.unfinished_runs()?;
        if unfinished.is_empty() {
            println!("no unfinished runs");
        }
        let mut exit = Exit::Success;
        for run in unfinished {
            if resume_one(engine, &run.id).await? != Exit::Success {
                exit = Exit::RunFailed;
            }
        }
        return Ok(exit);
    };
    resume_one(engine, &id).await
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

/// A retried or replayed run that its workflow's concurrency limits queued: said, not run.
fn queued(run: &techpack_engine::RunRecord) -> Option<Exit> {
    (run.status == RunStatus::Queued).then(|| {
        eprintln!(
            "run {} is queued: its workflow's concurrency limits leave it no slot now; `techpack serve` starts it when one frees",
            run.id
        );
        Exit::Success
    })
}

async fn retry_here(engine: &Engine, id: &str) -> anyhow::Result<Exit> {
    let run = engine.retry(id).await?;
    if let Some(exit) = queued(&run) {
        return Ok(exit);
    }
    let nodes = engine.report(id)?.nodes;
    let again = nodes
        .iter()
        .filter(|n| n.status == NodeStatus::Pending)
        .count();
    eprintln!(
        "retrying run {id}: {again}/{} steps run again, the others keep their outputs",
        nodes.len()
    );
    let report = run::execute_with_progress(engine, id, nodes.len(), false).await?;
    run::finish(&report, None)
}

async fn replay_here(
    engine: &Engine,
    id: &str,
    from: &str,
    pairs: &[String],
) -> anyhow::Result<Exit> {
    let parent = engine.report(id)?.run;
    let workflow = engine.workflow_of(&parent)?;
    let mut inputs = Map::new();
    for pair in pairs {
        let Some((name, text)) = pair.split_once('=') else {
            anyhow::bail!("`--input {pair}` must be written NAME=VALUE");
        };
        inputs.insert(name.to_string(), workflow.parse_input_value(name, text));
    }
    let run = engine.replay(id, from, inputs).await?;
    if let Some(exit) = queued(&run) {
        return Ok(exit);
    }
    let taken = engine
        .report(&run.id)?
        .nodes
        .iter()
        .filter(|n| n.reused_from.is_some())
        .count();
    eprintln!(
        "run {} replays run {id} from step `{from}` ({} steps, {taken} taken from run {id})",
        run.id,
        workflow.steps.len()
    );
    let report = run::execute_with_progress(engine, &run.id, workflow.steps.len(), false).await?;
    run::finish(&report, None)
}
