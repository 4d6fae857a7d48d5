//! The tech pack: what an analysis holds, shaped like a professional tech pack for any
//! product category, and the JSON Schemas published for it.
//!
//! Every value says where it came from ([`Source`]) and how sure it is (`confidence`), so a
//! factory can tell a measured figure from one estimated from a photo. Open-ended,
//! category-specific facts are a list of named entries, which keeps the schema valid for
//! OpenAI's strict structured outputs (every property required, no additional properties).
//!
//! # Layout
//! - `merge`: per-view analyses into one tech pack.
//! - `pom_library`: the points-of-measure sets per category family (`steps/pom/*.yaml`) and
//!   the choice of set for a category.
//! - `scale`: pixels to millimetres across views from reference sizes per axis, and the tech
//!   pack's POM list.
//! - `spec`: the designer's spec sheet, merged as given; plain rows for `edit` to add.
//! - `revisions`: the revision table (what changed, when, by which step or edit).
//! - `grading`: the size run a tech pack is graded in, kept so a re-export grades again.
//! - `size_chart`: the chart graded from it, and whether it still matches the POMs.
//! - `schema`: the published JSON Schemas.

pub mod grading;
mod merge;
pub mod pom_library;
pub mod revisions;
pub mod scale;
mod schema;
mod size_chart;
pub mod spec;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use grading::Grading;
pub use merge::{merge_views, remerge_views};
pub use revisions::{ChangeKind, FieldChange, Revision};
pub use schema::{
    SCHEMA_VERSION, category_schema, close_up_schema, edit_schema, tech_pack_schema,
    view_analysis_schema, view_analysis_schema_for,
};
pub use size_chart::{BaseMeasurement, Grade, GradedPom, PluginChart, SizeChart, SkippedPom};

/// Where the value comes from: estimated from a photo, given by a person, measured, or
/// unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Read off a photo by a model or by image processing.
    EstimatedFromPhoto,
    /// Stated by a person (an input or an edit).
    Given,
    /// Measured (e.g. pixels converted with a known reference size).
    Measured,
    /// Not knowable from what was given.
    Unknown,
}

/// A text value with its provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Estimate {
    /// The value, or null when it cannot be known.
    pub value: Option<String>,
    pub source: Source,
    /// How sure, from 0 (a guess) to 1 (certain).
    pub confidence: f64,
}

impl Estimate {
    pub fn unknown() -> Self {
        Estimate {
            value: None,
            source: Source::Unknown,
            confidence: 0.0,
        }
    }
}

/// A number with a unit and its provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Quantity {
    /// The number, or null when it cannot be known.
    pub value: Option<f64>,
    /// Unit such as mm, cm, g, gsm, ml, px.
    pub unit: Option<String>,
    pub source: Source,
    /// How sure, from 0 (a guess) to 1 (certain).
    pub confidence: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Color {
    /// Common colour name.
    pub name: String,
    /// #RRGGBB.
    pub hex: Option<String>,
    /// Pantone reference, if known.
    pub pantone: Option<String>,
    /// RAL reference, if known.
    pub ral: Option<String>,
    pub source: Source,
    /// How sure, from 0 (a guess) to 1 (certain).
    pub confidence: f64,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum View {
    Front,
    Back,
    Side,
    Top,
    Detail,
}

impl View {
    pub const ALL: [View; 5] = [View::Front, View::Back, View::Side, View::Top, View::Detail];

    pub fn as_str(self) -> &'static str {
        match self {
            View::Front => "front",
            View::Back => "back",
            View::Side => "side",
            View::Top => "top",
            View::Detail => "detail",
        }
    }

    pub fn parse(text: &str) -> Option<View> {
        View::ALL.into_iter().find(|v| v.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SourcePhoto {
    pub view: View,
    /// The image revision's id.
    pub revision_id: String,
    /// sha256 of the image bytes.
    pub sha256: String,
    pub width: u32,
    pub height: u32,
}

/// Real sizes a person gave for the product's axes (width left to right seen from the
/// front, height bottom to top, depth front to back), in mm. Each scales only the photos
/// that show its axis (the `scale` module).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct References {
    /// The product's real width, if given.
    #[serde(default)]
    pub width_mm: Option<f64>,
    /// The product's real height, if given.
    #[serde(default)]
    pub height_mm: Option<f64>,
    /// The product's real depth, if given.
    #[serde(default)]
    pub depth_mm: Option<f64>,
}

impl References {
    pub fn is_empty(&self) -> bool {
        self.width_mm.is_none() && self.height_mm.is_none() && self.depth_mm.is_none()
    }
}

/// Which points-of-measure set the tech pack uses, and why (a category that matches no set
/// gets the generic one, and the reason says so).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PomSetChoice {
    /// The points-of-measure set used, e.g. bags, generic.
    pub name: String,
    /// Why that set.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Meta {
    /// The brand's style number, if given.
    pub style_id: Option<String>,
    /// Product name.
    pub product_name: String,
    /// The season the style is for (e.g. SS26), if given.
    #[serde(default)]
    pub season: Option<String>,
    /// The brand, if given.
    #[serde(default)]
    pub brand: Option<String>,
    pub category: Estimate,
    pub subcategory: Estimate,
    /// metric or imperial.
    #[schemars(extend("enum" = ["metric", "imperial"]))]
    pub units: String,
    pub source_photos: Vec<SourcePhoto>,
    /// The reference sizes the measurements were scaled by, kept so a re-merge (after a view
    /// is regenerated) scales the same way.
    #[serde(default)]
    pub references: References,
    #[serde(default)]
    pub pom_set: PomSetChoice,
    /// The size run the size chart is graded in, when one was asked for: kept so that an
    /// export after an edit grades the points of measure as they are then.
    #[serde(default)]
    pub grading: Option<Grading>,
}

/// What one photo shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ViewAnalysis {
    pub view: View,
    /// One or two sentences on what the photo shows.
    pub summary: String,
    pub materials: Vec<Estimate>,
    pub colors: Vec<Color>,
    pub dimensions: Vec<PointOfMeasure>,
    pub construction: Vec<ConstructionDetail>,
    /// The visible design elements.
    pub design_elements: Vec<String>,
    /// Where the product's parts are on the photo (colour zones, logo, label, stitching,
    /// hardware), each as a point on the part: what a flat's callouts point at.
    #[serde(default)]
    pub regions: Vec<Region>,
    pub bill_of_materials: Vec<BomLine>,
    pub labels_and_packaging: Vec<LabelItem>,
    pub category_specific: Vec<NamedValue>,
    /// How this photo's pixels relate to millimetres.
    #[serde(default)]
    pub scale: ViewScale,
    /// How sure, from 0 (a guess) to 1 (certain).
    pub confidence: f64,
}

/// A part of the product located on one photo, so a flat's callout can point at it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Region {
    pub kind: RegionKind,
    /// What the part is, as a callout names it: for a colour zone the colour's name as in
    /// `colors`; otherwise e.g. woven logo, care label, topstitching along the top edge.
    pub name: String,
    /// A point on the part itself (for a colour zone, a pixel of that colour), in photo
    /// pixels from the left.
    pub x: f64,
    /// The same point, in photo pixels from the top.
    pub y: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RegionKind {
    /// Where one of the product's colours is.
    ColourZone,
    /// A brand mark: printed, embroidered, woven or a badge.
    Logo,
    /// A label or patch sewn or fixed on the outside.
    Label,
    /// Seams or topstitching that can be seen.
    Stitching,
    /// Buckles, rivets, zips, eyelets and the like.
    Hardware,
    /// Any other part worth pointing at.
    Other,
}

impl RegionKind {
    /// The kind as a callout names it.
    pub fn words(self) -> &'static str {
        match self {
            RegionKind::ColourZone => "colour",
            RegionKind::Logo => "logo",
            RegionKind::Label => "label",
            RegionKind::Stitching => "stitching",
            RegionKind::Hardware => "hardware",
            RegionKind::Other => "detail",
        }
    }
}

/// The product's size in one photo and, once a reference size reached this view, the
/// photo's scale.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ViewScale {
    /// The product's extent left to right in the photo, in pixels, or null.
    pub horizontal_px: Option<f64>,
    /// The product's extent top to bottom in the photo, in pixels, or null.
    pub vertical_px: Option<f64>,
    /// Millimetres per photo pixel, or null when no reference size is known.
    pub mm_per_px: Option<f64>,
    /// Where the scale comes from (e.g. "width 400 mm given, over 600 px"), or null.
    pub basis: Option<String>,
    /// The product's box in the photo as `[x, y, width, height]` pixels, or null.
    #[serde(default)]
    pub product_box: Option<[u32; 4]>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BomLine {
    /// Stable line id, e.g. BOM-1.
    pub id: String,
    /// Where the material is used.
    pub placement: String,
    pub material: Estimate,
    pub composition: Estimate,
    pub weight_or_thickness: Quantity,
    pub finish: Estimate,
    pub color: Color,
    pub consumption: Quantity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Criticality {
    Critical,
    Major,
    Minor,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PointOfMeasure {
    /// POM code, e.g. A, B, H1.
    pub code: String,
    /// What is measured, e.g. body height.
    pub name: String,
    /// Where the tape starts and ends.
    pub how_to_measure: String,
    /// The measurement, or null if unknown.
    pub value: Option<f64>,
    /// mm, cm, in or px.
    pub unit: String,
    /// Plus/minus tolerance in the same unit.
    pub tolerance: Option<f64>,
    pub criticality: Criticality,
    pub source: Source,
    /// How sure, from 0 (a guess) to 1 (certain).
    pub confidence: f64,
    /// Where on which photo it was measured, or null when it was not read off a photo.
    #[serde(default)]
    pub measured_at: Option<MeasuredAt>,
}

/// The line along which a point of measure was taken on a photo, so a flat can draw its
/// dimension line in the same place.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MeasuredAt {
    /// The photo it was measured on.
    pub view: View,
    /// One end of the line, in photo pixels from the left.
    pub x1: f64,
    /// One end of the line, in photo pixels from the top.
    pub y1: f64,
    /// The other end, in photo pixels from the left.
    pub x2: f64,
    /// The other end, in photo pixels from the top.
    pub y2: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConstructionDetail {
    /// E.g. attach handle, topstitch hem.
    pub operation: String,
    /// Where on the product.
    pub location: String,
    /// Seam type, e.g. plain seam, French seam.
    pub seam_type: Option<String>,
    /// ISO 4915 stitch class, e.g. 301 (lockstitch), 401, 504.
    pub stitch_class_iso4915: Option<String>,
    /// Stitch density.
    pub stitches_per_inch: Option<f64>,
    /// Hard goods: joinery or fastening (screws, rivets, adhesive, welding).
    pub joinery_or_fastening: Option<String>,
    pub source: Source,
    /// How sure, from 0 (a guess) to 1 (certain).
    pub confidence: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Colorway {
    /// Colourway name.
    pub name: String,
    pub colors: Vec<Color>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LabelItem {
    /// Care label, brand label, hang tag, polybag, box …
    pub kind: String,
    /// Where it goes.
    pub placement: String,
    /// What it says or holds.
    pub content: String,
    pub source: Source,
    /// How sure, from 0 (a guess) to 1 (certain).
    pub confidence: f64,
}

/// A note on a technical flat, numbered beside the drawing with a leader line to the place
/// it describes, or drawn as a dimension line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Callout {
    pub view: View,
    /// What the callout is about, which decides how the flat shows it.
    #[serde(default)]
    pub kind: CalloutKind,
    /// Where its leader line ends: 0..1 from the left of the drawing.
    pub x: f64,
    /// Where its leader line ends: 0..1 from the top of the drawing.
    pub y: f64,
    /// The callout text.
    pub text: String,
    /// Linked bill-of-materials line id.
    pub bom_ref: Option<String>,
    /// Linked point-of-measure code.
    pub pom_ref: Option<String>,
    /// For a measurement drawn where it was taken: its dimension line's ends as
    /// `[x1, y1, x2, y2]`, each 0..1 of the drawing; null otherwise.
    #[serde(default)]
    pub line: Option<[f64; 4]>,
}

/// What a callout is about.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CalloutKind {
    /// A point of measure, drawn as a dimension line (`line`) labelled with its value.
    Measurement,
    /// One of the product's colours; x, y is a spot of that colour.
    Colour,
    /// A located part (logo, label, stitching, hardware); x, y lies on it.
    Part,
    /// Where a close-up was cut; x, y is the middle of the cut.
    CloseUp,
    /// About no one place on the drawing (a BOM line, or a fact not located on it): listed
    /// below the flat without a leader line; x, y mean nothing.
    #[default]
    Note,
}

impl CalloutKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CalloutKind::Measurement => "measurement",
            CalloutKind::Colour => "colour",
            CalloutKind::Part => "part",
            CalloutKind::CloseUp => "close_up",
            CalloutKind::Note => "note",
        }
    }
}

/// A fact only some categories have (heel height, capacity, screen size …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NamedValue {
    /// A category-specific attribute, e.g. capacity, heel height.
    pub name: String,
    /// Its value.
    pub value: String,
    /// Its unit, if any.
    pub unit: Option<String>,
    pub source: Source,
    /// How sure, from 0 (a guess) to 1 (certain).
    pub confidence: f64,
}

/// The whole tech pack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TechPack {
    pub meta: Meta,
    pub views: Vec<ViewAnalysis>,
    pub bill_of_materials: Vec<BomLine>,
    pub points_of_measure: Vec<PointOfMeasure>,
    pub construction: Vec<ConstructionDetail>,
    pub colorways: Vec<Colorway>,
    pub labels_and_packaging: Vec<LabelItem>,
    pub callouts: Vec<Callout>,
    pub category_specific: Vec<NamedValue>,
    /// The parts a run could not make (close-ups, sketches, the size chart), each with why:
    /// a tech pack that lacks one says so rather than leaving it out silently.
    #[serde(default)]
    pub not_produced: Vec<NotProduced>,
    /// What changed, when, by which step or edit, oldest first.
    #[serde(default)]
    pub revisions: Vec<Revision>,
    /// The size chart graded from the points of measure (`meta.grading`'s size run), or
    /// null: not graded, or graded before the points of measure last changed.
    #[serde(default)]
    pub size_chart: Option<SizeChart>,
}

/// A part of the tech pack that was not produced, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NotProduced {
    /// The part of the tech pack the run could not make.
    pub part: Part,
    /// Why it was not produced.
    pub reason: String,
}

/// The parts of a tech pack made by steps that may fail without taking the tech pack with
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    CloseUps,
    Sketches,
    SizeChart,
}

impl Part {
    pub const ALL: [Part; 3] = [Part::CloseUps, Part::Sketches, Part::SizeChart];

    pub fn as_str(self) -> &'static str {
        match self {
            Part::CloseUps => "close_ups",
            Part::Sketches => "sketches",
            Part::SizeChart => "size_chart",
        }
    }

    /// The part's heading in the tech pack's page.
    pub fn title(self) -> &'static str {
        match self {
            Part::CloseUps => "Close-ups",
            Part::Sketches => "Technical sketches",
            Part::SizeChart => "Size chart",
        }
    }
}

/// What category detection answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CategoryGuess {
    pub category: Estimate,
    pub subcategory: Estimate,
    /// What in the photos decided it.
    pub reasoning: String,
}

/// What the analysis of one close-up shot answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CloseUpAnalysis {
    /// Which detail the shot shows.
    pub detail: String,
    pub materials: Vec<Estimate>,
    pub construction: Vec<ConstructionDetail>,
    /// What a factory should know about this detail.
    pub notes: String,
    /// How sure, from 0 (a guess) to 1 (certain).
    pub confidence: f64,
}

/// What a model answers to "apply this instruction to this field": the field's new value as
/// JSON text (strict structured outputs cannot express "any JSON value", so it travels as a
/// string).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FieldEdit {
    /// The field's new value, as JSON text of the same shape as the old value.
    pub new_value_json: String,
    /// What was changed and why.
    pub explanation: String,
}
