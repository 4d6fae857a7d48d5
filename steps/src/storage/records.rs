//! The records the tech-pack steps store (camelCase on the wire, like the seed's API).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use techpack_engine::JsonText;

use crate::techpack::{Callout, CloseUpAnalysis, View};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    /// The user it belongs to; `None` for operator (CLI) products.
    pub owner: Option<String>,
    pub created_at: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum RevisionOrigin {
    Upload,
    /// Made by `techpack/regenerate` from another revision.
    Regenerated {
        from_revision_id: String,
        prompt: Option<String>,
    },
}

/// One version of one view's image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageRevision {
    pub id: String,
    pub product_id: String,
    pub view: View,
    /// 1, 2, … per product and view.
    pub version: u32,
    /// The revision of this view that analyses use; exactly one per view.
    pub is_current: bool,
    pub image_hash: String,
    pub mime: String,
    pub width: u32,
    pub height: u32,
    pub origin: RevisionOrigin,
    pub created_at: u64,
}

/// An edit of one analysis field; the previous value is kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EditRecord {
    pub path: String,
    pub old_value: Value,
    pub new_value: Value,
    pub instruction: Option<String>,
    pub provider: String,
    pub at: u64,
}

/// A stored analysis (the tech pack of a product's base views).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisRecord {
    pub id: String,
    pub product_id: String,
    pub revision_ids: Vec<String>,
    pub provider: String,
    pub model: String,
    /// The tech pack, as JSON text: written and answered as it is, parsed by what reads it.
    pub data: JsonText,
    pub history: Vec<EditRecord>,
    pub created_at: u64,
    pub updated_at: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloseUpRecord {
    pub id: String,
    pub product_id: String,
    pub analysis_id: String,
    pub detail: String,
    pub image_hash: String,
    pub source_revision_id: String,
    /// `[x, y, width, height]` in the source photo, when the shot is a crop of it.
    pub crop: Option<[u32; 4]>,
    pub analysis: CloseUpAnalysis,
    pub provider: String,
    pub model: String,
    pub created_at: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SketchRecord {
    pub id: String,
    pub product_id: String,
    pub analysis_id: String,
    pub view: View,
    pub image_hash: String,
    pub width: u32,
    pub height: u32,
    /// The SVG overlay (drawing + these callouts) is made from them and the stored PNG when
    /// it is exported, so the PNG is stored once, as a blob, never again inside a record.
    pub callouts: Vec<Callout>,
    pub provider: String,
    pub model: String,
    pub created_at: u64,
}
