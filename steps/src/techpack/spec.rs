//! The designer's spec sheet: what a person knows that no photo shows (BOM, construction,
//! labels, packaging, colourways, style id, season, brand, measured POMs), written with the
//! tech pack's own section and field names and plain values, so a section can be copied from
//! one pack into the next. Everything in it enters the tech pack as `given`; a field left
//! out stays unknown; a misspelt field is an error that names it.

use serde::Deserialize;
use serde_json::Value;

use super::{
    BomLine, Color, Colorway, ConstructionDetail, Criticality, Estimate, LabelItem, PointOfMeasure,
    Quantity, Source, TechPack,
};

/// The spec sheet (`-i spec=FILE.yaml`, or the same object over HTTP).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecSheet {
    pub style_id: Option<String>,
    pub season: Option<String>,
    pub brand: Option<String>,
    pub product_name: Option<String>,
    #[serde(default)]
    pub bill_of_materials: Vec<BomRow>,
    #[serde(default)]
    pub construction: Vec<ConstructionRow>,
    #[serde(default)]
    pub labels_and_packaging: Vec<LabelRow>,
    #[serde(default)]
    pub colorways: Vec<ColorwayRow>,
    #[serde(default)]
    pub points_of_measure: Vec<PomRow>,
}

/// A quantity as a person writes it: `{value: 340, unit: gsm}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlainQuantity {
    pub value: f64,
    pub unit: String,
}

/// A colour as a person writes it: a name, or `{name, hex, pantone, ral}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum PlainColor {
    Name(String),
    Full(ColorRow),
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColorRow {
    pub name: String,
    pub hex: Option<String>,
    pub pantone: Option<String>,
    pub ral: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BomRow {
    pub placement: String,
    pub material: Option<String>,
    pub composition: Option<String>,
    pub weight_or_thickness: Option<PlainQuantity>,
    pub finish: Option<String>,
    pub color: Option<PlainColor>,
    pub consumption: Option<PlainQuantity>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConstructionRow {
    pub operation: String,
    pub location: String,
    pub seam_type: Option<String>,
    /// Written as text or a number (`301`); stored as text.
    pub stitch_class_iso4915: Option<TextOrNumber>,
    pub stitches_per_inch: Option<f64>,
    pub joinery_or_fastening: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum TextOrNumber {
    Text(String),
    Number(f64),
}

impl TextOrNumber {
    fn text(&self) -> String {
        match self {
            TextOrNumber::Text(t) => t.clone(),
            TextOrNumber::Number(n) => format!("{n}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelRow {
    pub kind: String,
    pub placement: String,
    pub content: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColorwayRow {
    pub name: String,
    pub colors: Vec<PlainColor>,
}

/// A measured POM: `code` names one of the category's set (or a new one, then with a name).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PomRow {
    pub code: String,
    pub name: Option<String>,
    pub how_to_measure: Option<String>,
    pub value: Option<f64>,
    /// Defaults to mm.
    pub unit: Option<String>,
    pub tolerance: Option<f64>,
    pub criticality: Option<Criticality>,
}

/// The list sections a spec sheet (and an `edit` that adds a row) can fill.
pub const LIST_SECTIONS: &[&str] = &[
    "bill_of_materials",
    "construction",
    "labels_and_packaging",
    "colorways",
    "points_of_measure",
];

/// Reads a spec sheet from its JSON value.
///
/// # Errors
/// A message naming the misspelt or mistyped field and where it is
/// (`bill_of_materials[0]: unknown field `materail``).
pub fn parse(value: &Value) -> Result<SpecSheet, String> {
    let sheet: SpecSheet = deserialize_at(value, "spec")?;
    let mut problems = Vec::new();
    for (i, pom) in sheet.points_of_measure.iter().enumerate() {
        if let Some(v) = pom.value
            && !(v.is_finite() && v > 0.0)
        {
            problems.push(format!(
                "spec.points_of_measure[{i}] (`{}`): `value` must be above 0",
                pom.code
            ));
        }
    }
    if problems.is_empty() {
        Ok(sheet)
    } else {
        Err(problems.join("; "))
    }
}

/// Deserializes `value`, and on failure finds the first item of a list section that does
/// not parse, so the message says which row holds the bad field.
fn deserialize_at<T: serde::de::DeserializeOwned>(value: &Value, at: &str) -> Result<T, String> {
    serde_json::from_value(value.clone()).map_err(|e| {
        let located = value.as_object().and_then(|fields| {
            fields.iter().find_map(|(name, section)| {
                let rows = section.as_array()?;
                rows.iter().enumerate().find_map(|(i, row)| {
                    row_error(name, row).map(|e| format!("{at}.{name}[{i}]: {e}"))
                })
            })
        });
        located.unwrap_or_else(|| format!("{at}: {e}"))
    })
}

fn row_error(section: &str, row: &Value) -> Option<String> {
    fn check<T: serde::de::DeserializeOwned>(row: &Value) -> Option<String> {
        serde_json::from_value::<T>(row.clone())
            .err()
            .map(|e| e.to_string())
    }
    match section {
        "bill_of_materials" => check::<BomRow>(row),
        "construction" => check::<ConstructionRow>(row),
        "labels_and_packaging" => check::<LabelRow>(row),
        "colorways" => check::<ColorwayRow>(row),
        "points_of_measure" => check::<PomRow>(row),
        _ => None,
    }
}

fn given_text(value: &Option<String>) -> Estimate {
    match value {
        Some(v) => Estimate {
            value: Some(v.clone()),
            source: Source::Given,
            confidence: 1.0,
        },
        None => Estimate::unknown(),
    }
}

fn given_quantity(value: &Option<PlainQuantity>) -> Quantity {
    match value {
        Some(q) => Quantity {
            value: Some(q.value),
            unit: Some(q.unit.clone()),
            source: Source::Given,
            confidence: 1.0,
        },
        None => Quantity {
            value: None,
            unit: None,
            source: Source::Unknown,
            confidence: 0.0,
        },
    }
}

fn given_color(color: &PlainColor) -> Color {
    let row = match color {
        PlainColor::Name(name) => ColorRow {
            name: name.clone(),
            hex: None,
            pantone: None,
            ral: None,
        },
        PlainColor::Full(row) => row.clone(),
    };
    Color {
        name: row.name,
        hex: row.hex,
        pantone: row.pantone,
        ral: row.ral,
        source: Source::Given,
        confidence: 1.0,
    }
}

fn unknown_color() -> Color {
    Color {
        name: "unknown".into(),
        hex: None,
        pantone: None,
        ral: None,
        source: Source::Unknown,
        confidence: 0.0,
    }
}

impl BomRow {
    pub fn to_line(&self, id: String) -> BomLine {
        BomLine {
            id,
            placement: self.placement.clone(),
            material: given_text(&self.material),
            composition: given_text(&self.composition),
            weight_or_thickness: given_quantity(&self.weight_or_thickness),
            finish: given_text(&self.finish),
            color: self.color.as_ref().map_or_else(unknown_color, given_color),
            consumption: given_quantity(&self.consumption),
        }
    }
}

impl ConstructionRow {
    pub fn to_detail(&self) -> ConstructionDetail {
        ConstructionDetail {
            operation: self.operation.clone(),
            location: self.location.clone(),
            seam_type: self.seam_type.clone(),
            stitch_class_iso4915: self.stitch_class_iso4915.as_ref().map(TextOrNumber::text),
            stitches_per_inch: self.stitches_per_inch,
            joinery_or_fastening: self.joinery_or_fastening.clone(),
            source: Source::Given,
            confidence: 1.0,
        }
    }
}

impl LabelRow {
    pub fn to_item(&self) -> LabelItem {
        LabelItem {
            kind: self.kind.clone(),
            placement: self.placement.clone(),
            content: self.content.clone(),
            source: Source::Given,
            confidence: 1.0,
        }
    }
}

impl ColorwayRow {
    pub fn to_colorway(&self) -> Colorway {
        Colorway {
            name: self.name.clone(),
            colors: self.colors.iter().map(given_color).collect(),
        }
    }
}

impl PomRow {
    /// The POM as given, completed from `existing` (the set's row) where the sheet is silent.
    pub fn to_point(&self, existing: Option<&PointOfMeasure>) -> PointOfMeasure {
        let base = existing.cloned().unwrap_or(PointOfMeasure {
            code: self.code.clone(),
            name: self.code.clone(),
            how_to_measure: String::new(),
            value: None,
            unit: "mm".into(),
            tolerance: None,
            criticality: Criticality::Major,
            source: Source::Unknown,
            confidence: 0.0,
            measured_at: None,
        });
        let (source, confidence, value) = match self.value {
            Some(v) => (Source::Given, 1.0, Some(v)),
            None => (base.source, base.confidence, base.value),
        };
        PointOfMeasure {
            code: self.code.clone(),
            name: self.name.clone().unwrap_or(base.name),
            how_to_measure: self.how_to_measure.clone().unwrap_or(base.how_to_measure),
            value,
            unit: self.unit.clone().unwrap_or(base.unit),
            tolerance: self.tolerance.or(base.tolerance),
            criticality: self.criticality.unwrap_or(base.criticality),
            source,
            confidence,
            // A value the designer gave was not read off a photo.
            measured_at: if self.value.is_some() {
                None
            } else {
                base.measured_at
            },
        }
    }
}

/// Turns one plain row of `section` (as a spec sheet or an `edit` adds it) into the tech
/// pack's own JSON shape for that list.
///
/// # Errors
/// The row's misspelt or mistyped field, named; or a section that holds no rows.
pub fn row_for(section: &str, row: &Value, id: String) -> Result<Value, String> {
    fn parse_row<T: serde::de::DeserializeOwned>(section: &str, row: &Value) -> Result<T, String> {
        serde_json::from_value(row.clone()).map_err(|e| format!("{section} row: {e}"))
    }
    let value = match section {
        "bill_of_materials" => serde_json::to_value(parse_row::<BomRow>(section, row)?.to_line(id)),
        "construction" => {
            serde_json::to_value(parse_row::<ConstructionRow>(section, row)?.to_detail())
        }
        "labels_and_packaging" => {
            serde_json::to_value(parse_row::<LabelRow>(section, row)?.to_item())
        }
        "colorways" => serde_json::to_value(parse_row::<ColorwayRow>(section, row)?.to_colorway()),
        "points_of_measure" => {
            serde_json::to_value(parse_row::<PomRow>(section, row)?.to_point(None))
        }
        other => {
            return Err(format!(
                "`{other}` is not a list of rows (lists: {})",
                LIST_SECTIONS.join(", ")
            ));
        }
    };
    Ok(value.expect("tech pack rows serialize"))
}

impl SpecSheet {
    /// What the sheet gives, in words, for the revision table: `style id, season; 2 BOM
    /// lines, 1 construction row`.
    pub fn summary(&self) -> String {
        let facts: Vec<&str> = [
            ("style id", self.style_id.is_some()),
            ("season", self.season.is_some()),
            ("brand", self.brand.is_some()),
            ("product name", self.product_name.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, given)| given.then_some(name))
        .collect();
        let count = |n: usize, one: &str, many: &str| match n {
            0 => None,
            1 => Some(format!("1 {one}")),
            n => Some(format!("{n} {many}")),
        };
        let rows: Vec<String> = [
            count(self.bill_of_materials.len(), "BOM line", "BOM lines"),
            count(
                self.construction.len(),
                "construction row",
                "construction rows",
            ),
            count(
                self.labels_and_packaging.len(),
                "label or packaging row",
                "label or packaging rows",
            ),
            count(self.colorways.len(), "colourway", "colourways"),
            count(
                self.points_of_measure.len(),
                "point of measure",
                "points of measure",
            ),
        ]
        .into_iter()
        .flatten()
        .collect();
        let parts: Vec<String> = [facts.join(", "), rows.join(", ")]
            .into_iter()
            .filter(|p| !p.is_empty())
            .collect();
        if parts.is_empty() {
            "merged an empty spec sheet".into()
        } else {
            format!("merged the spec sheet: {}", parts.join("; "))
        }
    }
}

/// Merges the sheet into `pack`: its rows replace the photo's rows for the same thing (BOM
/// placement, construction operation and location, label kind and placement, POM code) and
/// the rest are added; its colourways come first; its style facts fill the header.
pub fn apply(pack: &mut TechPack, sheet: &SpecSheet) {
    let meta = &mut pack.meta;
    for (field, value) in [
        (&mut meta.style_id, &sheet.style_id),
        (&mut meta.season, &sheet.season),
        (&mut meta.brand, &sheet.brand),
    ] {
        if value.is_some() {
            field.clone_from(value);
        }
    }
    if let Some(name) = &sheet.product_name {
        meta.product_name.clone_from(name);
    }
    for row in &sheet.bill_of_materials {
        let key = row.placement.to_lowercase();
        pack.bill_of_materials
            .retain(|l| l.placement.to_lowercase() != key);
        pack.bill_of_materials.push(row.to_line(String::new()));
    }
    for (i, line) in pack.bill_of_materials.iter_mut().enumerate() {
        line.id = format!("BOM-{}", i + 1);
    }
    for row in &sheet.construction {
        let key = (row.operation.to_lowercase(), row.location.to_lowercase());
        pack.construction
            .retain(|d| (d.operation.to_lowercase(), d.location.to_lowercase()) != key);
        pack.construction.push(row.to_detail());
    }
    for row in &sheet.labels_and_packaging {
        let key = (row.kind.to_lowercase(), row.placement.to_lowercase());
        pack.labels_and_packaging
            .retain(|l| (l.kind.to_lowercase(), l.placement.to_lowercase()) != key);
        pack.labels_and_packaging.push(row.to_item());
    }
    let mut colorways: Vec<Colorway> = sheet
        .colorways
        .iter()
        .map(ColorwayRow::to_colorway)
        .collect();
    colorways.append(&mut pack.colorways);
    pack.colorways = colorways;
    for row in &sheet.points_of_measure {
        match pack
            .points_of_measure
            .iter_mut()
            .find(|p| p.code == row.code)
        {
            Some(existing) => *existing = row.to_point(Some(existing)),
            None => pack.points_of_measure.push(row.to_point(None)),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_misspelt_field_is_named_with_its_row() {
        let error = parse(&json!({
            "bill_of_materials": [
                { "placement": "body", "material": "canvas" },
                { "placement": "handle", "materail": "leather" }
            ]
        }))
        .unwrap_err();
        assert!(
            error.starts_with("spec.bill_of_materials[1]: unknown field `materail`"),
            "{error}"
        );
        let error = parse(&json!({ "seasn": "SS26" })).unwrap_err();
        assert!(error.contains("unknown field `seasn`"), "{error}");
    }

    #[test]
    fn plain_rows_become_given_tech_pack_rows() {
        let sheet = parse(&json!({
            "style_id": "SS26-014",
            "bill_of_materials": [{
                "placement": "body", "material": "cotton canvas", "composition": "100% cotton",
                "weight_or_thickness": { "value": 340, "unit": "gsm" },
                "color": { "name": "navy", "pantone": "19-4024 TCX" }
            }],
            "construction": [{ "operation": "topstitch", "location": "top edge",
                               "stitch_class_iso4915": 301, "stitches_per_inch": 10 }],
            "points_of_measure": [{ "code": "HD", "value": 230 }]
        }))
        .unwrap();
        let line = sheet.bill_of_materials[0].to_line("BOM-1".into());
        assert_eq!(line.material.value.as_deref(), Some("cotton canvas"));
        assert_eq!(line.material.source, Source::Given);
        assert_eq!(
            line.finish.source,
            Source::Unknown,
            "left out stays unknown"
        );
        assert_eq!(line.color.pantone.as_deref(), Some("19-4024 TCX"));
        let detail = sheet.construction[0].to_detail();
        assert_eq!(detail.stitch_class_iso4915.as_deref(), Some("301"));
        let pom = sheet.points_of_measure[0].to_point(None);
        assert_eq!(
            (pom.value, pom.source, pom.unit.as_str()),
            (Some(230.0), Source::Given, "mm")
        );
    }
}
