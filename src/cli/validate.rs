//! `techpack validate FILE...`: every problem of every file, then a non-zero exit if any.

use std::path::PathBuf;

use techpack_engine::{EngineError, Workflow};

use crate::exit::Exit;

pub fn validate(
    files: &[PathBuf],
    data_dir: &super::DataDir,
    plugin_dirs: &[PathBuf],
) -> anyhow::Result<Exit> {
    let registry = crate::wiring::registry_with_plugins(&data_dir.path(), plugin_dirs);
    let mut exit = Exit::Success;
    for file in files {
        match Workflow::from_file(file, &registry) {
            Ok(workflow) => println!(
                "ok: {} ({} v{}, {} steps)",
                file.display(),
                workflow.name,
                workflow.version,
                workflow.steps.len()
            ),
            Err(EngineError::Invalid(diagnostics)) => {
                eprintln!("{diagnostics}");
                let n = diagnostics.0.len();
                eprintln!(
                    "{}: {n} problem{}",
                    file.display(),
                    if n == 1 { "" } else { "s" }
                );
                exit = Exit::Invalid;
            }
            Err(other) => {
                eprintln!("error: {other}");
                exit = Exit::Invalid;
            }
        }
    }
    Ok(exit)
}
