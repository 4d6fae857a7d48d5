//! The tech pack's revision table: what changed, when, by which step or edit. The analysis
//! and its spec sheet, each `edit` and each regenerated view add a row to the stored pack;
//! close-ups and sketches, kept in records of their own, add theirs when the pack is loaded
//! for export ([`crate::export::StoredTechPack`]).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One change to the tech pack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Revision {
    /// The tech pack's version once the change was made: 1 for the analysis and what came
    /// with it, one more for each edit or regenerated view.
    pub version: u32,
    /// When, as RFC 3339 UTC (e.g. 2026-03-01T09:30:00Z).
    pub at: String,
    /// What made the change.
    pub by: ChangeKind,
    /// Who made it: a provider (local, openai, gemini) or given (a person).
    pub provider: String,
    /// What changed, in words.
    pub summary: String,
    /// The fields an edit changed, each with its old and new value.
    pub changes: Vec<FieldChange>,
}

/// The step or edit behind a revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Analysis,
    SpecSheet,
    CloseUps,
    Sketches,
    Edit,
    Regenerate,
}

impl ChangeKind {
    /// How the revision table names it.
    pub fn label(self) -> &'static str {
        match self {
            ChangeKind::Analysis => "analysis",
            ChangeKind::SpecSheet => "spec sheet",
            ChangeKind::CloseUps => "close-ups",
            ChangeKind::Sketches => "sketches",
            ChangeKind::Edit => "edit",
            ChangeKind::Regenerate => "regenerate",
        }
    }
}

/// A field's value before and after a change, as JSON text (strict structured outputs
/// cannot say "any JSON value").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FieldChange {
    /// The field, as a JSON pointer into the tech pack (e.g. /bill_of_materials/0/material/value).
    pub path: String,
    /// Its value before, as JSON text, or null when the field did not exist (a row added).
    pub old_value: Option<String>,
    /// Its value after, as JSON text, or null when it is gone (a row removed).
    pub new_value: Option<String>,
}

impl FieldChange {
    /// A change from `old` to `new`; a JSON null on either side means "no such field".
    pub fn new(path: &str, old: &Value, new: &Value) -> FieldChange {
        let text = |v: &Value| (!v.is_null()).then(|| v.to_string());
        FieldChange {
            path: path.to_string(),
            old_value: text(old),
            new_value: text(new),
        }
    }
}

/// A time in ms since the Unix epoch as RFC 3339 UTC, to the second.
pub fn timestamp(ms: u64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_seconds(time).to_string()
}

impl Revision {
    /// A change made at `at_ms` (ms since the Unix epoch).
    pub fn new(
        version: u32,
        at_ms: u64,
        by: ChangeKind,
        provider: &str,
        summary: impl Into<String>,
    ) -> Revision {
        Revision {
            version,
            at: timestamp(at_ms),
            by,
            provider: provider.to_string(),
            summary: summary.into(),
            changes: Vec::new(),
        }
    }

    pub fn with_change(mut self, change: FieldChange) -> Revision {
        self.changes.push(change);
        self
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_change_keeps_values_as_json_text_and_a_missing_side_as_null() {
        let change = FieldChange::new(
            "/bill_of_materials/1",
            &Value::Null,
            &json!({"id": "BOM-2"}),
        );
        assert_eq!(change.old_value, None);
        assert_eq!(change.new_value.as_deref(), Some(r#"{"id":"BOM-2"}"#));
        let change = FieldChange::new("/meta/season", &json!("SS26"), &json!("AW26"));
        assert_eq!(
            (change.old_value.as_deref(), change.new_value.as_deref()),
            (Some("\"SS26\""), Some("\"AW26\""))
        );
    }

    #[test]
    fn times_read_as_rfc_3339_utc() {
        assert_eq!(timestamp(1_767_225_600_000), "2026-01-01T00:00:00Z");
    }
}
