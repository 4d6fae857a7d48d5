//! Writing a finished tech pack to a folder: `techpack.json` (the schema's shape), the
//! photos, close-ups and sketches (PNG + SVG callouts), and a self-contained `index.html`.

mod html;

use std::path::{Path, PathBuf};

use crate::storage::{Catalog, CloseUpRecord, ImageRevision, SketchRecord, StorageError};
use crate::techpack::TechPack;

/// What went into an export folder.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ExportSummary {
    pub dir: PathBuf,
    pub files: Vec<String>,
}

pub struct Bundle<'a> {
    pub tech_pack: &'a TechPack,
    pub photos: &'a [ImageRevision],
    pub close_ups: &'a [CloseUpRecord],
    pub sketches: &'a [SketchRecord],
    /// The graded size chart, when one was made (`size-chart.json` and a table in the page).
    pub size_chart: Option<&'a serde_json::Value>,
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StorageError + use<> {
    let path = path.display().to_string();
    move |source| StorageError::Io {
        action,
        path,
        source,
    }
}

fn extension(mime: &str) -> &'static str {
    if mime == "image/jpeg" { "jpg" } else { "png" }
}

/// Writes the bundle into `dir` (created if needed); files are replaced atomically.
pub fn write_bundle(
    catalog: &Catalog,
    bundle: &Bundle,
    dir: &Path,
) -> Result<ExportSummary, StorageError> {
    let mut files = Vec::new();
    let mut write = |name: String, bytes: &[u8]| -> Result<(), StorageError> {
        let path = dir.join(&name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io("create", parent))?;
        }
        let temp = path.with_extension("tmp");
        std::fs::write(&temp, bytes).map_err(io("write", &temp))?;
        std::fs::rename(&temp, &path).map_err(io("rename", &path))?;
        files.push(name);
        Ok(())
    };
    let json = serde_json::to_vec_pretty(bundle.tech_pack).expect("tech packs serialize");
    write("techpack.json".into(), &json)?;
    let mut images = html::Images::default();
    for photo in bundle.photos {
        let bytes = catalog.blobs.get(&photo.image_hash)?;
        let name = format!(
            "photos/{}-v{}.{}",
            photo.view.as_str(),
            photo.version,
            extension(&photo.mime)
        );
        write(name.clone(), &bytes)?;
        images.insert(&photo.image_hash, &photo.mime, bytes);
    }
    for (i, close_up) in bundle.close_ups.iter().enumerate() {
        let bytes = catalog.blobs.get(&close_up.image_hash)?;
        write(format!("close-ups/{:02}.png", i + 1), &bytes)?;
        images.insert(&close_up.image_hash, "image/png", bytes);
    }
    for sketch in bundle.sketches {
        let bytes = catalog.blobs.get(&sketch.image_hash)?;
        write(format!("sketches/{}.png", sketch.view.as_str()), &bytes)?;
        write(
            format!("sketches/{}.svg", sketch.view.as_str()),
            sketch.svg.as_bytes(),
        )?;
        images.insert(&sketch.image_hash, "image/png", bytes);
    }
    if let Some(chart) = bundle.size_chart {
        let json = serde_json::to_vec_pretty(chart).expect("JSON values serialize");
        write("size-chart.json".into(), &json)?;
    }
    let page = html::render(bundle, &images);
    write("index.html".into(), page.as_bytes())?;
    Ok(ExportSummary {
        dir: dir.to_path_buf(),
        files,
    })
}
