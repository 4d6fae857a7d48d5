//! `techpack run WORKFLOW`: validate, record the run, execute it with live progress.

use std::path::PathBuf;

use anyhow::{Context, bail};
use serde_json::{Map, Value, json};
use techpack_engine::{Engine, EngineError, NodeStatus, RunReport, RunStatus, Workflow};
use techpack_steps::export::ExportSummary;

use super::{DataDir, DurabilityArg, ProviderArgs, progress, summary};
use crate::exit::Exit;

/// The views `--image PATH` fills in order when no `VIEW=` is given.
const VIEW_ORDER: &[&str] = &["front", "back", "side", "top", "detail"];

#[derive(clap::Args)]
pub struct RunArgs {
    /// The workflow YAML file
    workflow: PathBuf,
    /// A workflow input, `name=value` (JSON for non-string inputs); repeatable
    #[arg(long = "input", short = 'i', value_name = "NAME=VALUE")]
    inputs: Vec<String>,
    /// A product photo, `PATH` or `VIEW=PATH` (views in order: front, back, side, top, detail); repeatable
    #[arg(long = "image", value_name = "[VIEW=]PATH")]
    images: Vec<String>,
    /// Write the run's outputs here
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    data_dir: DataDir,
    /// How hard to work to keep progress across a crash
    #[arg(long, value_enum, default_value = "sync", env = "TECHPACK_DURABILITY")]
    durability: DurabilityArg,
    /// No progress display; only the summary
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    providers: ProviderArgs,
    /// Charge the run's paid steps to this user (operator runs are free)
    #[arg(long)]
    user: Option<String>,
}

pub async fn run(args: RunArgs, plugin_dirs: &[std::path::PathBuf]) -> anyhow::Result<Exit> {
    let options = crate::wiring::EngineOptions {
        durability: args.durability.into(),
        providers: args.providers.defaults(),
        plugin_dirs: plugin_dirs.to_vec(),
        ..Default::default()
    };
    let crate::wiring::Opened { engine, users, .. } =
        crate::wiring::open_engine(&args.data_dir, options)?;
    let workflow = Workflow::from_file(&args.workflow, engine.registry())?;
    let inputs = collect_inputs(&workflow, &args)?;
    if let Some(user) = &args.user {
        users.get(user)?;
    }
    let run = engine
        .create_run(&workflow, inputs, args.user.clone())
        .await?;
    eprintln!("run {} started ({} steps)", run.id, workflow.steps.len());
    let report = execute_with_progress(&engine, &run.id, workflow.steps.len(), args.quiet).await?;
    finish(&report, args.out.as_deref())
}

/// Executes a run (new or resumed) with progress; Ctrl-C cancels it.
pub async fn execute_with_progress(
    engine: &Engine,
    run_id: &str,
    steps: usize,
    quiet: bool,
) -> Result<RunReport, EngineError> {
    let display = (!quiet).then(|| progress::Progress::start(engine, run_id, steps));
    let ctrl_c = {
        let engine = engine.clone();
        let run_id = run_id.to_string();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("cancelling run {run_id} (Ctrl-C)");
                engine.cancel(&run_id);
            }
        })
    };
    let result = engine.execute(run_id).await;
    ctrl_c.abort();
    if let Some(display) = display {
        display.finish().await;
    }
    result
}

pub fn finish(report: &RunReport, out: Option<&std::path::Path>) -> anyhow::Result<Exit> {
    print!("{}", summary::render(report, true));
    if let Some(dir) = out {
        // A run that did not succeed wrote outputs only if a step exported some anyway (the
        // tech pack's `export` runs whenever the analysis exists).
        let exported: Vec<ExportSummary> = report
            .nodes
            .iter()
            .filter(|n| n.status == NodeStatus::Succeeded)
            .filter_map(|n| n.output.as_ref()?.decode().ok())
            .collect();
        let succeeded = report.run.status == RunStatus::Succeeded;
        if succeeded || !exported.is_empty() {
            write_outputs(report, dir)?;
            let files: usize = exported.iter().map(|e| e.files.len()).sum::<usize>() + 1;
            let partial = match (succeeded, report.run.warnings.is_empty()) {
                (false, _) => format!(" (partial: the run {})", report.run.status.as_str()),
                (true, false) => "; see the warnings above".to_string(),
                (true, true) => String::new(),
            };
            println!(
                "outputs written to {} ({files} files){partial}",
                dir.display()
            );
        } else {
            println!(
                "nothing written to {}: the run {}",
                dir.display(),
                report.run.status.as_str()
            );
        }
    }
    Ok(match report.run.status {
        RunStatus::Succeeded => Exit::Success,
        _ => Exit::RunFailed,
    })
}

fn write_outputs(report: &RunReport, dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let outputs: Map<String, Value> = report
        .nodes
        .iter()
        .map(|n| {
            let output = n.output.as_ref().and_then(|o| o.value().ok());
            (n.step_id.clone(), output.unwrap_or(Value::Null))
        })
        .collect();
    let document = json!({
        "run": report.run.id,
        "workflow": report.run.workflow_name,
        "status": report.run.status,
        "outputs": outputs,
    });
    let path = dir.join("run.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&document)?)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The file an operator names for an input of type `object` (`-i spec=sheet.yaml`): the CLI
/// reads it and the run gets the object, as a run over the API gets it inline, so no step
/// ever opens a path that came from an input.
fn object_file<'a>(workflow: &Workflow, name: &str, text: &'a str) -> Option<&'a std::path::Path> {
    let is_object = workflow
        .inputs
        .iter()
        .any(|i| i.name == name && i.ty == techpack_engine::workflow::InputType::Object);
    let path = std::path::Path::new(text);
    let is_file_name = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    );
    (is_object && is_file_name && !text.trim_start().starts_with('{')).then_some(path)
}

fn read_object_file(name: &str, path: &std::path::Path) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("input `{name}`: cannot read {}", path.display()))?;
    let value: Value = serde_yaml::from_str(&text)
        .with_context(|| format!("input `{name}`: {} is not YAML", path.display()))?;
    if !value.is_object() {
        bail!(
            "input `{name}`: {} must hold a mapping of fields",
            path.display()
        );
    }
    Ok(value)
}

fn collect_inputs(workflow: &Workflow, args: &RunArgs) -> anyhow::Result<Map<String, Value>> {
    let mut inputs = Map::new();
    for pair in &args.inputs {
        let Some((name, text)) = pair.split_once('=') else {
            bail!("`--input {pair}` must be written NAME=VALUE");
        };
        let value = match object_file(workflow, name, text) {
            Some(path) => read_object_file(name, path)?,
            None => workflow.parse_input_value(name, text),
        };
        inputs.insert(name.to_string(), value);
    }
    if let Some(out) = &args.out
        && workflow.inputs.iter().any(|i| i.name == "out")
    {
        std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
        let out =
            std::fs::canonicalize(out).with_context(|| format!("cannot read {}", out.display()))?;
        inputs.insert("out".into(), Value::String(out.display().to_string()));
    }
    if !args.images.is_empty() {
        if !workflow.inputs.iter().any(|i| i.name == "images") {
            bail!(
                "workflow `{}` has no `images` input, so --image cannot be used with it",
                workflow.name
            );
        }
        let mut images = Vec::new();
        for (i, spec) in args.images.iter().enumerate() {
            let (view, path) = match spec.split_once('=') {
                Some((view, path)) if VIEW_ORDER.contains(&view) => (view.to_string(), path),
                Some((view, _)) if !std::path::Path::new(spec).exists() => {
                    bail!(
                        "`--image {spec}`: unknown view `{view}` (views: {})",
                        VIEW_ORDER.join(", ")
                    )
                }
                _ => match VIEW_ORDER.get(i) {
                    Some(view) => (view.to_string(), spec.as_str()),
                    None => bail!(
                        "more than {} images: name the views with VIEW=PATH",
                        VIEW_ORDER.len()
                    ),
                },
            };
            let path =
                std::fs::canonicalize(path).with_context(|| format!("cannot read image {path}"))?;
            images.push(json!({ "view": view, "path": path }));
        }
        inputs.insert("images".into(), Value::Array(images));
    }
    Ok(inputs)
}
