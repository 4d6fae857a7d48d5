//! `techpack/edit` (1 credit): changes one field of a stored analysis, by path, to a given
//! value or by an instruction a vision model applies. The previous value is kept in history.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use techpack_engine::store::now_ms;
use techpack_engine::{Step, StepContext, StepError, StepKind, StepOutput, step::parse_config};

use super::{output, owned_product, parse_answer};
use crate::providers::VisionTask;
use crate::services::{
    ProviderSelection, TechpackServices, VisionChoice, invalid_input, storage_error,
};
use crate::storage::EditRecord;
use crate::techpack::TechPack;

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
    provider: Option<VisionChoice>,
    model: Option<String>,
}

#[derive(Debug, Deserialize)]
struct EditAnswer {
    new_value_json: String,
    explanation: String,
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
        if config.value.is_none()
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
        let old_value = record.data.pointer(&pointer).cloned().ok_or_else(|| {
            invalid_input(format!("the analysis has no field at `{}`", config.path))
        })?;

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
                let answer: EditAnswer = parse_answer(vision.name(), answer.value)?;
                let value: Value = serde_json::from_str(&answer.new_value_json).map_err(|e| {
                    StepError::permanent(format!(
                        "{}: the new value is not JSON: {e}",
                        vision.name()
                    ))
                    .with_code("provider")
                })?;
                (value, Some(answer.explanation), vision.name().to_string())
            }
        };

        let mut data = record.data.clone();
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
        serde_json::from_value::<TechPack>(data.clone()).map_err(|e| {
            invalid_input(format!(
                "the new value does not fit the tech pack at `{}`: {e}",
                config.path
            ))
        })?;

        // A retried or resumed edit must not be recorded twice.
        let repeated = record.history.last().is_some_and(|last| {
            last.path == pointer
                && last.new_value == new_value
                && last.instruction == config.instruction
        });
        if !repeated {
            record.history.push(EditRecord {
                path: pointer.clone(),
                old_value: old_value.clone(),
                new_value: new_value.clone(),
                instruction: config.instruction.clone(),
                provider,
                at: now_ms(),
            });
        }
        record.data = data;
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
