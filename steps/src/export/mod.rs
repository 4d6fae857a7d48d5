//! Writing a finished tech pack to a folder: `techpack.json` (the schema's shape), the
//! photos, close-ups and sketches (PNG + SVG callouts), a self-contained `index.html`, and
//! the factory files (`factory`: CSV, XLSX, PDF).
//!
//! # Layout
//! - `html`: the self-contained page.
//! - `tables`: each section as a table of text, shared by CSV, XLSX and PDF.
//! - `xlsx`: the workbook, a sheet per table.
//! - `pdf`: the printable tech pack.
//! - `factory`: which factory files an export holds, made from the stored images.

mod factory;
mod html;
pub mod pdf;
pub mod tables;
mod xlsx;

pub use factory::Edition;

use std::path::{Path, PathBuf};

use crate::flat::{self, CloseUpSpot, render_svg};
use crate::storage::{Catalog, CloseUpRecord, ImageRevision, SketchRecord, StorageError};
use crate::techpack::{ChangeKind, Part, Revision, TechPack, View};

/// What went into an export folder.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ExportSummary {
    /// The folder written, as the run named it; none when nothing was written (a run over
    /// the API, whose files stay in the store and are downloaded from the product).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// The analysis whose tech pack was exported, and its version.
    #[serde(default)]
    pub analysis_id: String,
    #[serde(default)]
    pub version: String,
    pub files: Vec<String>,
    /// The parts marked not produced in `techpack.json` and `index.html`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_produced: Vec<crate::techpack::NotProduced>,
}

pub struct Bundle<'a> {
    pub tech_pack: &'a TechPack,
    pub photos: &'a [ImageRevision],
    pub close_ups: &'a [CloseUpRecord],
    pub sketches: &'a [SketchRecord],
    /// Version and date for the PDF's headers, and its paper.
    pub edition: &'a Edition,
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

/// A product's finished tech pack with everything it shows, loaded from the catalog: what
/// the export step writes to a folder and the API serves for download.
pub struct StoredTechPack {
    pub analysis_id: String,
    pub tech_pack: TechPack,
    pub photos: Vec<ImageRevision>,
    pub close_ups: Vec<CloseUpRecord>,
    pub sketches: Vec<SketchRecord>,
    /// The analysis's revision (1 + its edits) and last change, and the PDF's paper.
    pub edition: Edition,
}

/// `YYYY-MM-DD` (UTC) of a time in ms since the Unix epoch.
fn day_of(ms: u64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_seconds(time).to_string()[..10].to_string()
}

/// The revisions of the close-ups and sketches made for `analysis` (kept in records of
/// their own, which two steps write side by side), in the table's time order.
fn add_made_revisions(
    tech_pack: &mut TechPack,
    analysis: &crate::storage::AnalysisRecord,
    close_ups: &[CloseUpRecord],
    sketches: &[SketchRecord],
) {
    // The version the pack had when they were made: 1 plus the edits before them.
    let version_at = |ms: u64| 1 + analysis.history.iter().filter(|h| h.at <= ms).count() as u32;
    let made = |at: u64, by: ChangeKind, provider: &str, summary: String| {
        Revision::new(version_at(at), at, by, provider, summary)
    };
    if let Some(last) = close_ups.iter().max_by_key(|c| c.created_at) {
        let summary = format!(
            "made {} close-up{}",
            close_ups.len(),
            if close_ups.len() == 1 { "" } else { "s" }
        );
        tech_pack.revisions.push(made(
            last.created_at,
            ChangeKind::CloseUps,
            &last.provider,
            summary,
        ));
    }
    if let Some(last) = sketches.iter().max_by_key(|s| s.created_at) {
        let views: Vec<&str> = sketches.iter().map(|s| s.view.as_str()).collect();
        let callouts: usize = sketches.iter().map(|s| s.callouts.len()).sum();
        let summary = format!(
            "drew the {} flat{} with {callouts} callouts",
            views.join(", "),
            if views.len() == 1 { "" } else { "s" }
        );
        tech_pack.revisions.push(made(
            last.created_at,
            ChangeKind::Sketches,
            &last.provider,
            summary,
        ));
    }
    // By version (counted to the ms above), then time (RFC 3339 UTC to the second sorts
    // as text); the sort is stable, so what one step made at once keeps its order.
    tech_pack
        .revisions
        .sort_by(|a, b| (a.version, &a.at).cmp(&(b.version, &b.at)));
}

/// Gives each sketch the callouts of the tech pack as it is now (after any edit), with a
/// callout for every close-up cut from the photo a traced sketch was drawn from, numbered
/// as the export's `close-ups/NN.png`.
fn attach_callouts(
    tech_pack: &TechPack,
    close_ups: &[CloseUpRecord],
    sketches: &mut [SketchRecord],
) {
    let view_of = |revision_id: &str| {
        tech_pack
            .meta
            .source_photos
            .iter()
            .find(|p| p.revision_id == revision_id)
            .map(|p| p.view)
    };
    let spots: Vec<CloseUpSpot> = close_ups
        .iter()
        .enumerate()
        .filter_map(|(i, shot)| {
            Some(CloseUpSpot {
                number: i + 1,
                detail: &shot.detail,
                view: view_of(&shot.source_revision_id)?,
                crop: shot.crop?,
            })
        })
        .collect();
    for sketch in sketches {
        let traced = sketch.provider == crate::providers::LocalProvider::NAME;
        let frame = flat::drawing_frame(tech_pack, sketch.view, traced);
        sketch.callouts = flat::callouts_for_view(tech_pack, sketch.view, frame, &spots);
    }
}

/// Why a tech pack whose POMs changed after grading has no size chart.
pub const STALE_SIZE_CHART: &str = "the points of measure changed after the size chart was graded: \
run the `export` workflow on the product to grade them again";

/// A size chart graded before the points of measure last changed (an edit, a row added or
/// removed, a regenerated view) no longer matches them: it is dropped, and the tech pack
/// says why rather than showing sizes graded from old values.
fn drop_stale_size_chart(tech_pack: &mut TechPack) {
    let stale = tech_pack
        .size_chart
        .as_ref()
        .is_some_and(|chart| !chart.graded_from(&tech_pack.points_of_measure));
    if stale {
        tech_pack.size_chart = None;
        tech_pack.not_produced.retain(|n| n.part != Part::SizeChart);
        tech_pack.not_produced.push(crate::techpack::NotProduced {
            part: Part::SizeChart,
            reason: STALE_SIZE_CHART.into(),
        });
    }
}

impl StoredTechPack {
    /// The tech pack of `analysis` (which must belong to `product_id`), with the photos it
    /// was made from, its close-ups and its sketches (whose callouts it gains).
    pub fn load(
        catalog: &Catalog,
        product_id: &str,
        analysis: &crate::storage::AnalysisRecord,
    ) -> Result<StoredTechPack, StorageError> {
        if analysis.product_id != product_id {
            return Err(StorageError::AnalysisNotFound(analysis.id.clone()));
        }
        let mut tech_pack: TechPack = analysis
            .data
            .decode()
            .map_err(|e| StorageError::Corrupt(format!("analysis `{}`: {e}", analysis.id)))?;
        let photos = tech_pack
            .meta
            .source_photos
            .iter()
            .map(|p| catalog.revision(product_id, &p.revision_id))
            .collect::<Result<_, _>>()?;
        let mut close_ups = catalog.close_ups(product_id)?;
        close_ups.retain(|c| c.analysis_id == analysis.id);
        close_ups.sort_by(|a, b| a.detail.cmp(&b.detail));
        let mut sketches = catalog.sketches(product_id)?;
        sketches.retain(|s| s.analysis_id == analysis.id);
        sketches.sort_by_key(|s| s.view);
        drop_stale_size_chart(&mut tech_pack);
        attach_callouts(&tech_pack, &close_ups, &mut sketches);
        tech_pack.callouts = sketches
            .iter()
            .flat_map(|s| s.callouts.iter().cloned())
            .collect();
        add_made_revisions(&mut tech_pack, analysis, &close_ups, &sketches);
        Ok(StoredTechPack {
            analysis_id: analysis.id.clone(),
            tech_pack,
            photos,
            close_ups,
            sketches,
            edition: Edition {
                version: (analysis.history.len() + 1).to_string(),
                date: day_of(analysis.updated_at),
                paper: pdf::Paper::default(),
            },
        })
    }

    fn bundle(&self) -> Bundle<'_> {
        Bundle {
            tech_pack: &self.tech_pack,
            photos: &self.photos,
            close_ups: &self.close_ups,
            sketches: &self.sketches,
            edition: &self.edition,
        }
    }

    /// One factory file by its name (`techpack.pdf`, `techpack.xlsx`, `bom.csv`,
    /// `points-of-measure.csv`, `size-chart.csv`); `None` for a name that is not one, or
    /// `size-chart.csv` when no chart was graded.
    pub fn factory_file(
        &self,
        catalog: &Catalog,
        name: &str,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        let bundle = self.bundle();
        if name == "techpack.pdf" {
            return factory::pdf_bytes(catalog, &bundle, &self.edition).map(Some);
        }
        Ok(factory::spreadsheet_files(&bundle, &self.edition)?
            .into_iter()
            .find(|(file, _)| file == name)
            .map(|(_, bytes)| bytes))
    }

    /// The flat of `view` as `sketches/VIEW.svg` holds it: the drawing with its dimension
    /// lines and numbered callouts, its image inlined; `None` when no flat of it was drawn.
    pub fn flat_svg(&self, catalog: &Catalog, view: View) -> Result<Option<String>, StorageError> {
        let Some(sketch) = self.sketches.iter().find(|s| s.view == view) else {
            return Ok(None);
        };
        let png = catalog.blobs.get(&sketch.image_hash)?;
        Ok(Some(render_svg(
            &png,
            sketch.width,
            sketch.height,
            &sketch.callouts,
        )))
    }

    /// The self-contained `index.html` (images inlined).
    pub fn html(&self, catalog: &Catalog) -> Result<String, StorageError> {
        Ok(render_files(catalog, &self.bundle())?.html)
    }

    /// Writes everything into `dir` (created if needed); files are replaced atomically.
    pub fn write(&self, catalog: &Catalog, dir: &Path) -> Result<ExportSummary, StorageError> {
        let files = all_files(catalog, &self.bundle())?;
        let mut summary = self.summary(&files);
        for (name, bytes) in files {
            let path = dir.join(&name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io("create", parent))?;
            }
            let temp = path.with_extension("tmp");
            std::fs::write(&temp, &bytes).map_err(io("write", &temp))?;
            std::fs::rename(&temp, &path).map_err(io("rename", &path))?;
        }
        summary.dir = Some(dir.to_path_buf());
        Ok(summary)
    }

    /// Makes every file of the export without writing any: what a run that names no folder
    /// does, so that a tech pack that cannot be rendered fails the run, not its download.
    pub fn render(&self, catalog: &Catalog) -> Result<ExportSummary, StorageError> {
        let files = all_files(catalog, &self.bundle())?;
        Ok(self.summary(&files))
    }

    fn summary(&self, files: &[(String, Vec<u8>)]) -> ExportSummary {
        ExportSummary {
            dir: None,
            analysis_id: self.analysis_id.clone(),
            version: self.edition.version.clone(),
            files: files.iter().map(|(name, _)| name.clone()).collect(),
            not_produced: self.tech_pack.not_produced.clone(),
        }
    }
}

/// An export's files, by their name in the folder, and the page that shows them.
struct Rendered {
    files: Vec<(String, Vec<u8>)>,
    html: String,
}

fn render_files(catalog: &Catalog, bundle: &Bundle) -> Result<Rendered, StorageError> {
    let mut files = Vec::new();
    let json = serde_json::to_vec_pretty(bundle.tech_pack).expect("tech packs serialize");
    files.push(("techpack.json".to_string(), json));
    let mut images = html::Images::default();
    for photo in bundle.photos {
        let bytes = catalog.blobs.get(&photo.image_hash)?;
        let name = format!(
            "photos/{}-v{}.{}",
            photo.view.as_str(),
            photo.version,
            extension(&photo.mime)
        );
        images.insert(&photo.image_hash, &photo.mime, bytes.clone());
        files.push((name, bytes));
    }
    for (i, close_up) in bundle.close_ups.iter().enumerate() {
        let bytes = catalog.blobs.get(&close_up.image_hash)?;
        images.insert(&close_up.image_hash, "image/png", bytes.clone());
        files.push((format!("close-ups/{:02}.png", i + 1), bytes));
    }
    let mut svgs = Vec::new();
    for sketch in bundle.sketches {
        let bytes = catalog.blobs.get(&sketch.image_hash)?;
        let svg = render_svg(&bytes, sketch.width, sketch.height, &sketch.callouts);
        images.insert(&sketch.image_hash, "image/png", bytes.clone());
        files.push((format!("sketches/{}.png", sketch.view.as_str()), bytes));
        files.push((
            format!("sketches/{}.svg", sketch.view.as_str()),
            svg.as_bytes().to_vec(),
        ));
        svgs.push(svg);
    }
    if let Some(chart) = &bundle.tech_pack.size_chart {
        let json = serde_json::to_vec_pretty(chart).expect("JSON values serialize");
        files.push(("size-chart.json".to_string(), json));
    }
    let html = html::render(bundle, &images, &svgs);
    Ok(Rendered { files, html })
}

/// Every file of an export, by its name in the folder.
fn all_files(catalog: &Catalog, bundle: &Bundle) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
    let Rendered { mut files, html } = render_files(catalog, bundle)?;
    files.push(("index.html".to_string(), html.into_bytes()));
    files.extend(factory::files(catalog, bundle, bundle.edition)?);
    Ok(files)
}
