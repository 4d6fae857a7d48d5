//! The files factories work from, beside `techpack.json` and `index.html`: `bom.csv`,
//! `points-of-measure.csv`, `size-chart.csv` (when a chart was graded), `techpack.xlsx` and
//! `techpack.pdf`, all made from the same tables ([`super::tables`]).

use image::imageops::thumbnail;

use super::Bundle;
use super::pdf::{self, CloseUp, Flat, Paper, Picture};
use super::tables::{self, Table};
use crate::local::{DecodeLimits, decode};
use crate::storage::{Catalog, StorageError};
use crate::techpack::View;

/// Longest side of a flat in the PDF: sharp at a full A4 page, without 40 MB files.
const FLAT_MAX_SIDE: u32 = 1600;
/// An offline close-up with its locator (684 px across) is stored small enough to go in as
/// it is; a larger one from an image model is shrunk to this.
const CLOSE_UP_MAX_SIDE: u32 = 720;

/// The revision and day of a tech pack, printed on every PDF page.
#[derive(Debug, Clone, Default)]
pub struct Edition {
    pub version: String,
    pub date: String,
    pub paper: Paper,
}

/// A stored picture for the PDF, at most `max_side` pixels on its longer side: a plain PNG
/// that small as it is, anything else decoded (and shrunk when larger).
fn picture(catalog: &Catalog, hash: &str, max_side: u32) -> Result<Picture, StorageError> {
    let bytes = catalog.blobs.get(hash)?;
    if let Some(picture) =
        Picture::from_png(&bytes).filter(|p| p.width().max(p.height()) <= max_side)
    {
        return Ok(picture);
    }
    let image = decode(&bytes, &DecodeLimits::default())
        .map_err(|e| StorageError::Corrupt(format!("stored image {hash}: {e}")))?;
    let (w, h) = image.dimensions();
    if w.max(h) <= max_side {
        return Ok(Picture::from_pixels(&image));
    }
    let scale = f64::from(max_side) / f64::from(w.max(h));
    let size = |v: u32| ((f64::from(v) * scale).round() as u32).max(1);
    Ok(Picture::from_pixels(&thumbnail(&image, size(w), size(h))))
}

/// The style facts as the workbook's first sheet.
fn style_sheet(bundle: &Bundle, edition: &Edition) -> Table {
    let meta = &bundle.tech_pack.meta;
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| tables::UNKNOWN.into());
    let reference = |v: Option<f64>| v.map_or_else(|| tables::UNKNOWN.into(), tables::number);
    let rows = [
        ("Product", meta.product_name.clone()),
        ("Style", or_dash(&meta.style_id)),
        ("Season", or_dash(&meta.season)),
        ("Brand", or_dash(&meta.brand)),
        ("Category", or_dash(&meta.category.value)),
        ("Points-of-measure set", meta.pom_set.name.clone()),
        ("Why that set", meta.pom_set.reason.clone()),
        ("Given width (mm)", reference(meta.references.width_mm)),
        ("Given height (mm)", reference(meta.references.height_mm)),
        ("Given depth (mm)", reference(meta.references.depth_mm)),
        ("Version", edition.version.clone()),
        ("Date", edition.date.clone()),
    ];
    Table {
        title: "Style",
        header: vec!["Field".into(), "Value".into()],
        rows: rows
            .into_iter()
            .map(|(k, v)| vec![k.to_string(), v])
            .collect(),
    }
}

/// Every factory file, by its name in the export folder.
pub fn files(
    catalog: &Catalog,
    bundle: &Bundle,
    edition: &Edition,
) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
    let mut files = spreadsheet_files(bundle, edition)?;
    files.push((
        "techpack.pdf".to_string(),
        pdf_bytes(catalog, bundle, edition)?,
    ));
    Ok(files)
}

/// The CSV files and the workbook (everything but the PDF), by name.
pub fn spreadsheet_files(
    bundle: &Bundle,
    edition: &Edition,
) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
    let tp = bundle.tech_pack;
    let bom = tables::bill_of_materials(tp);
    let poms = tables::points_of_measure(tp);
    let chart = tp.size_chart.as_ref().map(tables::size_chart);
    let mut files = vec![
        ("bom.csv".to_string(), tables::to_csv(&bom)),
        ("points-of-measure.csv".to_string(), tables::to_csv(&poms)),
    ];
    if let Some(chart) = &chart {
        files.push(("size-chart.csv".to_string(), tables::to_csv(chart)));
    }
    let mut sheets = vec![poms.clone()];
    sheets.extend(chart.clone());
    sheets.extend([
        bom.clone(),
        tables::construction(tp),
        tables::colorways(tp),
        tables::labels_and_packaging(tp),
        tables::revisions(tp),
    ]);
    let workbook = super::xlsx::workbook(&style_sheet(bundle, edition), &sheets)
        .map_err(|e| StorageError::Backend(format!("cannot write techpack.xlsx: {e}")))?;
    files.push(("techpack.xlsx".to_string(), workbook));
    Ok(files)
}

/// `techpack.pdf` alone (the API's download).
pub fn pdf_bytes(
    catalog: &Catalog,
    bundle: &Bundle,
    edition: &Edition,
) -> Result<Vec<u8>, StorageError> {
    let mut flats = Vec::new();
    for sketch in bundle.sketches {
        flats.push(Flat {
            view: sketch.view,
            drawing: picture(catalog, &sketch.image_hash, FLAT_MAX_SIDE)?,
            size: (sketch.width, sketch.height),
            callouts: &sketch.callouts,
        });
    }
    let cover_photo = match bundle
        .photos
        .iter()
        .find(|p| p.view == View::Front)
        .or(bundle.photos.first())
    {
        Some(photo) if flats.is_empty() => {
            Some(picture(catalog, &photo.image_hash, FLAT_MAX_SIDE)?)
        }
        _ => None,
    };
    let mut close_ups = Vec::new();
    for shot in bundle.close_ups {
        close_ups.push(CloseUp {
            caption: shot.detail.clone(),
            image: picture(catalog, &shot.image_hash, CLOSE_UP_MAX_SIDE)?,
        });
    }
    Ok(pdf::render(&pdf::Document {
        tech_pack: bundle.tech_pack,
        flats,
        cover_photo,
        close_ups,
        version: edition.version.clone(),
        date: edition.date.clone(),
        paper: edition.paper,
    }))
}
