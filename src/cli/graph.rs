//! `techpack graph FILE --format mermaid|dot`.

use std::path::Path;

use clap::ValueEnum;
use techpack_engine::{GraphFormat, Workflow};

use crate::exit::Exit;

#[derive(Copy, Clone, ValueEnum)]
pub enum Format {
    Mermaid,
    Dot,
}

pub fn graph(file: &Path, format: Format, data_dir: &super::DataDir) -> anyhow::Result<Exit> {
    let workflow = Workflow::from_file(
        file,
        &crate::wiring::registry_with_plugins(&data_dir.path()),
    )?;
    print!(
        "{}",
        workflow.render_graph(match format {
            Format::Mermaid => GraphFormat::Mermaid,
            Format::Dot => GraphFormat::Dot,
        })
    );
    Ok(Exit::Success)
}
