//! `techpack graph FILE --format mermaid|dot`.

use std::path::{Path, PathBuf};

use clap::ValueEnum;
use techpack_engine::{GraphFormat, Workflow};

use crate::exit::Exit;

#[derive(Copy, Clone, ValueEnum)]
pub enum Format {
    Mermaid,
    Dot,
}

pub fn graph(
    file: &Path,
    format: Format,
    data_dir: &super::DataDir,
    plugin_dirs: &[PathBuf],
) -> anyhow::Result<Exit> {
    let registry = crate::wiring::registry_with_plugins(&data_dir.path(), plugin_dirs);
    let workflow = Workflow::from_file(file, &registry)?;
    print!(
        "{}",
        workflow.render_graph(match format {
            Format::Mermaid => GraphFormat::Mermaid,
            Format::Dot => GraphFormat::Dot,
        })
    );
    Ok(Exit::Success)
}
