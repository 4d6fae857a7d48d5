//! The tech pack's sections as plain tables (a header and rows of text), made once and
//! written out as CSV, spreadsheet sheets and PDF tables, so every format says the same.

use crate::techpack::{Color, Criticality, Estimate, Quantity, SizeChart, Source, TechPack};

/// What a table shows in a cell whose value is not known.
pub const UNKNOWN: &str = "—";
/// What a POM without a value says: the outline could not tell it, the sample can.
pub const MEASURE_ON_SAMPLE: &str = "measure on the sample";

/// One section as a table.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub title: &'static str,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

fn header(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// The bill of materials' columns after the line id, in every format.
pub const BOM_COLUMNS: [&str; 7] = [
    "Placement",
    "Material",
    "Composition",
    "Weight / thickness",
    "Finish",
    "Colour",
    "Consumption",
];

pub fn source(source: Source) -> &'static str {
    match source {
        Source::EstimatedFromPhoto => "estimated from photo",
        Source::Given => "given",
        Source::Measured => "measured",
        Source::Unknown => "unknown",
    }
}

/// A number as people write it: no trailing `.0`, at most two decimals.
pub fn number(value: f64) -> String {
    let rounded = (value * 100.0).round() / 100.0;
    if rounded.fract() == 0.0 {
        format!("{rounded:.0}")
    } else {
        let text = format!("{rounded:.2}");
        text.trim_end_matches('0').to_string()
    }
}

/// A number and its unit: `361.25 mm`, or the number alone when the unit is empty.
pub fn with_unit(value: f64, unit: &str) -> String {
    format!("{} {unit}", number(value)).trim_end().to_string()
}

pub fn criticality(criticality: Criticality) -> &'static str {
    match criticality {
        Criticality::Critical => "critical",
        Criticality::Major => "major",
        Criticality::Minor => "minor",
    }
}

fn text(estimate: &Estimate) -> String {
    estimate.value.clone().unwrap_or_else(|| UNKNOWN.into())
}

/// A quantity with its unit, or [`UNKNOWN`].
pub fn quantity(q: &Quantity) -> String {
    match q.value {
        Some(v) => with_unit(v, q.unit.as_deref().unwrap_or("")),
        None => UNKNOWN.into(),
    }
}

pub fn color(c: &Color) -> String {
    let mut parts = vec![c.name.clone()];
    parts.extend(c.hex.clone());
    parts.extend(c.pantone.as_ref().map(|p| format!("Pantone {p}")));
    parts.extend(c.ral.as_ref().map(|r| format!("RAL {r}")));
    parts.join(" ")
}

pub fn bill_of_materials(tp: &TechPack) -> Table {
    Table {
        title: "Bill of materials",
        header: header(&[&["ID"], &BOM_COLUMNS[..], &["Source"]].concat()),
        rows: tp
            .bill_of_materials
            .iter()
            .map(|l| {
                vec![
                    l.id.clone(),
                    l.placement.clone(),
                    text(&l.material),
                    text(&l.composition),
                    quantity(&l.weight_or_thickness),
                    text(&l.finish),
                    color(&l.color),
                    quantity(&l.consumption),
                    source(l.material.source).into(),
                ]
            })
            .collect(),
    }
}

/// The points-of-measure table's columns that say where a value came from (source and
/// confidence): the page shows them as one badge after the others.
pub const POM_PROVENANCE_COLUMNS: usize = 2;

/// The points of measure in every format (CSV, XLSX, PDF and the page): figures as numbers,
/// the unit in a column of its own.
pub fn points_of_measure(tp: &TechPack) -> Table {
    Table {
        title: "Points of measure",
        header: header(&[
            "Code",
            "Point of measure",
            "How to measure",
            "Value",
            "Unit",
            "Tolerance ±",
            "Criticality",
            "Source",
            "Confidence",
        ]),
        rows: tp
            .points_of_measure
            .iter()
            .map(|p| {
                vec![
                    p.code.clone(),
                    p.name.clone(),
                    p.how_to_measure.clone(),
                    p.value.map_or_else(|| MEASURE_ON_SAMPLE.into(), number),
                    p.unit.clone(),
                    p.tolerance.map_or_else(|| UNKNOWN.into(), number),
                    criticality(p.criticality).into(),
                    source(p.source).into(),
                    number(p.confidence),
                ]
            })
            .collect(),
    }
}

/// The graded chart (the `wasm/grade-sizes` output): a row per POM, a column per size.
pub fn size_chart(chart: &SizeChart) -> Table {
    graded(chart, false)
}

/// [`size_chart`] with each size's value followed by its unit (`400 mm`), for the page.
pub fn size_chart_with_units(chart: &SizeChart) -> Table {
    graded(chart, true)
}

fn graded(chart: &SizeChart, cells_with_unit: bool) -> Table {
    let mut head = header(&["Code", "Point of measure", "Unit", "Tolerance ±"]);
    head.extend(chart.sizes.iter().map(|s| {
        if *s == chart.base_size {
            format!("{s} (base)")
        } else {
            s.clone()
        }
    }));
    let rows = chart
        .points_of_measure
        .iter()
        .map(|pom| {
            let unit = pom.unit.as_deref().unwrap_or(&chart.unit);
            let cell = |value: Option<&f64>| match value {
                Some(&v) if cells_with_unit => with_unit(v, unit),
                Some(&v) => number(v),
                None => UNKNOWN.to_string(),
            };
            let mut row = vec![
                pom.code.clone(),
                pom.name.clone(),
                unit.to_string(),
                number(pom.tolerance),
            ];
            row.extend(chart.sizes.iter().map(|s| cell(pom.value(s).as_ref())));
            row
        })
        .collect();
    Table {
        title: "Graded size chart",
        header: head,
        rows,
    }
}

pub fn construction(tp: &TechPack) -> Table {
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| UNKNOWN.into());
    Table {
        title: "Construction",
        header: header(&[
            "Operation",
            "Location",
            "Seam type",
            "Stitch class (ISO 4915)",
            "SPI",
            "Joinery / fastening",
            "Source",
        ]),
        rows: tp
            .construction
            .iter()
            .map(|c| {
                vec![
                    c.operation.clone(),
                    c.location.clone(),
                    opt(&c.seam_type),
                    opt(&c.stitch_class_iso4915),
                    c.stitches_per_inch.map_or_else(|| UNKNOWN.into(), number),
                    opt(&c.joinery_or_fastening),
                    source(c.source).into(),
                ]
            })
            .collect(),
    }
}

pub fn labels_and_packaging(tp: &TechPack) -> Table {
    Table {
        title: "Labels and packaging",
        header: header(&["Kind", "Placement", "Content", "Source"]),
        rows: tp
            .labels_and_packaging
            .iter()
            .map(|l| {
                vec![
                    l.kind.clone(),
                    l.placement.clone(),
                    l.content.clone(),
                    source(l.source).into(),
                ]
            })
            .collect(),
    }
}

pub fn colorways(tp: &TechPack) -> Table {
    Table {
        title: "Colourways",
        header: header(&["Colourway", "Colour", "Hex", "Pantone", "RAL", "Source"]),
        rows: tp
            .colorways
            .iter()
            .flat_map(|w| {
                w.colors.iter().map(|c| {
                    vec![
                        w.name.clone(),
                        c.name.clone(),
                        c.hex.clone().unwrap_or_else(|| UNKNOWN.into()),
                        c.pantone.clone().unwrap_or_else(|| UNKNOWN.into()),
                        c.ral.clone().unwrap_or_else(|| UNKNOWN.into()),
                        source(c.source).into(),
                    ]
                })
            })
            .collect(),
    }
}

/// A value in the revision table: JSON text, shortened past 80 characters.
fn change_value(value: &Option<String>) -> String {
    match value {
        None => "nothing".into(),
        Some(text) if text.chars().count() > 80 => {
            format!("{}…", text.chars().take(79).collect::<String>())
        }
        Some(text) => text.clone(),
    }
}

/// The revision table: a row per change, oldest first.
pub fn revisions(tp: &TechPack) -> Table {
    Table {
        title: "Revisions",
        header: header(&["Version", "When (UTC)", "Change", "By", "What changed"]),
        rows: tp
            .revisions
            .iter()
            .map(|r| {
                let mut what = vec![r.summary.clone()];
                what.extend(r.changes.iter().map(|c| {
                    format!(
                        "{}: was {}, now {}",
                        c.path,
                        change_value(&c.old_value),
                        change_value(&c.new_value)
                    )
                }));
                vec![
                    r.version.to_string(),
                    r.at.trim_end_matches('Z').replacen('T', " ", 1),
                    r.by.label().into(),
                    r.provider.clone(),
                    what.join("; "),
                ]
            })
            .collect(),
    }
}

/// A table as CSV (RFC 4180: fields with a comma, quote or line break are quoted, quotes
/// doubled). Eight lines of our own rather than a crate: nothing here is ever read back.
pub fn to_csv(table: &Table) -> Vec<u8> {
    let field = |text: &str| {
        if text.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text.to_string()
        }
    };
    let mut out = String::new();
    for row in std::iter::once(&table.header).chain(&table.rows) {
        let line: Vec<String> = row.iter().map(|c| field(c)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let table = Table {
            title: "t",
            header: vec!["a".into(), "b".into()],
            rows: vec![vec!["1, 2".into(), "say \"hi\"".into()]],
        };
        assert_eq!(
            String::from_utf8(to_csv(&table)).unwrap(),
            "a,b\r\n\"1, 2\",\"say \"\"hi\"\"\"\r\n"
        );
    }

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(number(400.0), "400");
        assert_eq!(number(361.25), "361.25");
        assert_eq!(number(0.5), "0.5");
    }
}
