//! `techpack/edit` (1 credit): changes one field of a stored analysis, by path, to a given
//! value or by an instruction a vision model applies; or adds a row to one of its lists
//! (`op: add`, the row written as in a spec sheet) or removes one (`op: remove`). The
//! previous value is kept in history.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use techpack_engine::store::now_ms;
use techpack_engine::{
    JsonText, Step, StepContext, StepError, StepKind, StepOutput, step::parse_config,
};

use super::TechpackServices;
use super::failure::{invalid_input, storage_error, unusable_answer};
use super::{document, output, owned_product, parse_answer, stored};
use crate::providers::VisionTask;
use crate::providers::{ProviderSelection, VisionChoice};
use crate::storage::EditRecord;
use crate::techpack::{ChangeKind, FieldChange, FieldEdit, Revision, TechPack, spec};

pub struct Edit;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    analysis_id: String,
    /// A JSON pointer (`/bill_of_materials/0/material/value`) or dotted path
    /// (`bill_of_materials.0.material.value`).
    path: String,
    /// The new value, if the caller knows it.
    value: Option<Value>,
    /// Or an instruction for a vision model ("make the handle leather").
    instruction: Option<String>,
    /// `set` (the default) a field, `add` a row to a list, `remove` a row.
    #[serde(default)]
    op: Op,
    provider: Option<VisionChoice>,
    model: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Op {
    #[default]
    Set,
    /// `path` names a list (`bill_of_materials`); `value` is the new row, written as in a
    /// spec sheet (`{placement, material, composition}`), and enters as given.
    Add,
    /// `path` names a row (`bill_of_materials.1`).
    Remove,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Edited {
    pub analysis_id: String,
    pub path: String,
    pub old_value: Value,
    pub new_value: Value,
    pub explanation: Option<String>,
    pub history_length: usize,
}

/// `a.b.0` or `/a/b/0` as a JSON pointer.
fn pointer(path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{}", path.replace('.', "/"))
    }
}

impl StepKind for Edit {
    fn description(&self) -> &str {
        "changes one field of an analysis by path, to a value or by instruction; keeps the previous value"
    }

    fn build(&self, config: &Value) -> Result<Arc<dyn Step>, String> {
        let config: Config = parse_config(config)?;
        if config.op == Op::Add && config.value.is_none() {
            return Err("`op: add` needs the new row as `value`".into());
        }
        if config.op == Op::Remove && (config.value.is_some() || config.instruction.is_some()) {
            return Err("`op: remove` takes only the `path` of the row to remove".into());
        }
        if config.op == Op::Set
            && config.value.is_none()
            && config
                .instruction
                .as_deref()
                .is_none_or(|i| i.trim().is_empty())
        {
            return Err("give the new `value` or an `instruction`".into());
        }
        if config.path.trim_matches(['/', '.']).is_empty() {
            return Err("`path` must name a field, e.g. bill_of_materials.0.material.value".into());
        }
        Ok(Arc::new(EditStep(config)))
    }
}

struct EditStep(Config);

#[async_trait::async_trait]
impl Step for EditStep {
    async fn run(&self, ctx: StepContext) -> Result<StepOutput, StepError> {
        let config = &self.0;
        let services = TechpackServices::from_context(&ctx)?;
        let mut record = services
            .catalog
            .analysis(&config.analysis_id)
            .map_err(storage_error)?;
        owned_product(&services, &ctx, &record.product_id).map_err(|_| {
            storage_error(crate::storage::StorageError::AnalysisNotFound(
                config.analysis_id.clone(),
            ))
        })?;
        let pointer = pointer(&config.path);
        if pointer == "/revisions" || pointer.starts_with("/revisions/") {
            return Err(invalid_input(
                "the revision table is the tech pack's own record of its changes: edits cannot change it",
            ));
        }
        let document = document(&record)?;
        let old_value = document.pointer(&pointer).cloned().ok_or_else(|| {
            invalid_input(format!("the analysis has no field at `{}`", config.path))
        })?;
        if config.op != Op::Set {
            let edit_id = super::analyze_base_views::short_hash(&ctx.idempotency_key);
            return edit_rows(
                &services, config, record, document, pointer, old_value, &edit_id,
            );
        }

        let (new_value, explanation, provider) = match &config.value {
            Some(value) => (value.clone(), None, "given".to_string()),
            None => {
                let instruction = config.instruction.as_deref().unwrap_or_default();
                let selection = ProviderSelection {
                    provider: config.provider,
                    model: config.model.clone(),
                    ..Default::default()
                };
                let vision = services.vision(&selection)?;
                let task = VisionTask::EditField {
                    path: &pointer,
                    current: &old_value,
                    instruction,
                };
                let summary = format!("path {pointer}; instruction {} chars", instruction.len());
                let answer = services
                    .ask(&ctx, vision.as_ref(), &task, &[], summary)
                    .await?;
                let answer: FieldEdit = parse_answer(vision.name(), answer.value)?;
                let value: Value = serde_json::from_str(&answer.new_value_json).map_err(|e| {
                    unusable_answer(format!("{}: the new value is not JSON: {e}", vision.name()))
                })?;
                (value, Some(answer.explanation), vision.name().to_string())
            }
        };

        let mut data = document;
        *data.pointer_mut(&pointer).expect("the path exists") = new_value.clone();
        // A value a person gave is no longer an estimate.
        if config.value.is_some() && pointer.ends_with("/value") {
            let parent = &pointer[..pointer.len() - "/value".len()];
            if let Some(Value::Object(fields)) = data.pointer_mut(parent)
                && fields.contains_key("source")
                && fields.contains_key("confidence")
            {
                fields.insert("source".into(), Value::String("given".into()));
                fields.insert("confidence".into(), serde_json::json!(1.0));
            }
        }
        let pack = fitting(data, &config.path)?;

        // A retried or resumed edit must not be recorded twice.
        let repeated = record.history.last().is_some_and(|last| {
            last.path == pointer
                && last.new_value == new_value
                && last.instruction == config.instruction
        });
        record.data = if repeated {
            stored(&pack)
        } else {
            let at = now_ms();
            let summary = match &config.instruction {
                Some(instruction) => format!("changed {}: {instruction}", config.path),
                None => format!("changed {}", config.path),
            };
            let revision = revision(&record, at, &provider, summary)
                .with_change(FieldChange::new(&pointer, &old_value, &new_value));
            record.history.push(EditRecord {
                path: pointer.clone(),
                old_value: old_value.clone(),
                new_value: new_value.clone(),
                instruction: config.instruction.clone(),
                provider,
                at,
            });
            with_revision(pack, revision)
        };
        record.updated_at = now_ms();
        services
            .catalog
            .put_analysis(&record)
            .map_err(storage_error)?;
        let old_value = if repeated {
            record
                .history
                .last()
                .map(|h| h.old_value.clone())
                .unwrap_or(old_value)
        } else {
            old_value
        };
        Ok(StepOutput::new(output(&Edited {
            analysis_id: record.id,
            path: pointer,
            old_value,
            new_value,
            explanation,
            history_length: record.history.len(),
        })))
    }
}

/// `data` as a tech pack, or why the edit that made it does not fit one.
fn fitting(data: Value, path: &str) -> Result<TechPack, StepError> {
    serde_json::from_value(data).map_err(|e| {
        invalid_input(format!(
            "the new value does not fit the tech pack at `{path}`: {e}"
        ))
    })
}

/// The revision an edit of `record` made at `at` (before its history entry is added: the
/// edit makes the next version).
fn revision(
    record: &crate::storage::AnalysisRecord,
    at: u64,
    provider: &str,
    summary: String,
) -> Revision {
    let version = record.history.len() as u32 + 2;
    Revision::new(version, at, ChangeKind::Edit, provider, summary)
}

/// `pack` as stored, one revision longer.
fn with_revision(mut pack: TechPack, revision: Revision) -> JsonText {
    pack.revisions.push(revision);
    stored(&pack)
}

/// Adds or removes a row of one of the tech pack's lists.
fn edit_rows(
    services: &TechpackServices,
    config: &Config,
    mut record: crate::storage::AnalysisRecord,
    mut data: Value,
    pointer: String,
    old_value: Value,
    edit_id: &str,
) -> Result<StepOutput, StepError> {
    let new_value = match config.op {
        Op::Add => {
            let section = pointer.trim_start_matches('/');
            let Value::Array(rows) = &old_value else {
                return Err(invalid_input(format!(
                    "`{}` is not a list: `op: add` needs one of {}",
                    config.path,
                    spec::LIST_SECTIONS.join(", ")
                )));
            };
            let next = rows
                .iter()
                .filter_map(|r| {
                    r["id"]
                        .as_str()?
                        .strip_prefix("BOM-")?
                        .parse::<usize>()
                        .ok()
                })
                .max()
                .unwrap_or(0)
                + 1;
            let id = format!("BOM-{next}");
            let row = config.value.as_ref().expect("checked when built");
            let row = spec::row_for(section, row, id).map_err(invalid_input)?;
            let list = data
                .pointer_mut(&pointer)
                .and_then(Value::as_array_mut)
                .expect("the path is a list");
            list.push(row);
            Value::Array(list.clone())
        }
        Op::Remove => {
            let (parent, index) = pointer.rsplit_once('/').unwrap_or(("", ""));
            let index: usize = index.parse().map_err(|_| {
                invalid_input(format!(
                    "`{}` is not a row: `op: remove` needs a path such as bill_of_materials.0",
                    config.path
                ))
            })?;
            let section = parent.trim_start_matches('/');
            if !spec::LIST_SECTIONS.contains(&section) {
                return Err(invalid_input(format!(
                    "`{}` is not a row of {}",
                    config.path,
                    spec::LIST_SECTIONS.join(", ")
                )));
            }
            let list = data
                .pointer_mut(parent)
                .and_then(Value::as_array_mut)
                .expect("the row exists, so its list does");
            list.remove(index);
            Value::Null
        }
        Op::Set => unreachable!("set is handled by the caller"),
    };
    let pack = fitting(data, &config.path)?;
    // The edit's own id in its history entry: a retried or resumed edit finds it and is not
    // applied twice (removing "row 1" again would remove the next row).
    let instruction = Some(match config.op {
        Op::Add => format!("added a row (edit {edit_id})"),
        _ => format!("removed a row (edit {edit_id})"),
    });
    let repeated = record
        .history
        .iter()
        .any(|h| h.path == pointer && h.instruction == instruction);
    if !repeated {
        let at = now_ms();
        let section = pointer.trim_start_matches('/');
        let (summary, change) = match config.op {
            Op::Add => {
                let index = new_value.as_array().map_or(0, Vec::len).saturating_sub(1);
                let row = &new_value[index];
                (
                    format!("added a row to {section}"),
                    FieldChange::new(&format!("{pointer}/{index}"), &Value::Null, row),
                )
            }
            _ => (
                format!("removed row {}", section.replace('/', ".")),
                FieldChange::new(&pointer, &old_value, &Value::Null),
            ),
        };
        let revision = revision(&record, at, "given", summary).with_change(change);
        record.history.push(EditRecord {
            path: pointer.clone(),
            old_value: old_value.clone(),
            new_value: new_value.clone(),
            instruction,
            provider: "given".into(),
            at,
        });
        record.data = with_revision(pack, revision);
        record.updated_at = now_ms();
        services
            .catalog
            .put_analysis(&record)
            .map_err(storage_error)?;
    }
    Ok(StepOutput::new(output(&Edited {
        analysis_id: record.id,
        path: pointer,
        old_value,
        new_value,
        explanation: None,
        history_length: record.history.len(),
    })))
}
