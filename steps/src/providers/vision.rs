//! Vision providers: asked tech-pack questions about photos, answering JSON in the shape of
//! the matching schema in [`crate::techpack`].

use serde_json::Value;

use super::{InlineImage, ProviderError, Usage};
use crate::techpack::{self, References, View, pom_library};

/// A question for a vision model.
#[derive(Debug, Clone)]
pub enum VisionTask<'a> {
    /// What kind of product is in these photos? Answers [`techpack::CategoryGuess`].
    DetectCategory,
    /// Analyze one view. Answers [`techpack::ViewAnalysis`].
    AnalyzeView {
        view: View,
        category: Option<&'a str>,
        subcategory: Option<&'a str>,
        /// Real sizes a person gave; a model is told only those of the axes this view shows.
        references: References,
    },
    /// Analyze a close-up shot of one detail. Answers [`techpack::CloseUpAnalysis`].
    AnalyzeCloseUp {
        detail: &'a str,
        category: Option<&'a str>,
    },
    /// Apply an instruction to one field of a tech pack. Answers `{new_value_json, explanation}`.
    EditField {
        path: &'a str,
        current: &'a Value,
        instruction: &'a str,
    },
}

impl VisionTask<'_> {
    /// The operation name in logs and cache keys.
    pub fn operation(&self) -> &'static str {
        match self {
            VisionTask::DetectCategory => "detect-category",
            VisionTask::AnalyzeView { .. } => "analyze-view",
            VisionTask::AnalyzeCloseUp { .. } => "analyze-close-up",
            VisionTask::EditField { .. } => "edit-field",
        }
    }

    /// The JSON Schema the answer follows.
    pub fn schema(&self) -> (&'static str, Value) {
        match self {
            VisionTask::DetectCategory => ("techpack_category", techpack::category_schema()),
            VisionTask::AnalyzeView {
                category,
                subcategory,
                ..
            } => {
                let (set, _) = pom_library::choose(*category, *subcategory);
                (
                    "techpack_view_analysis",
                    techpack::view_analysis_schema_for(set),
                )
            }
            VisionTask::AnalyzeCloseUp { .. } => ("techpack_close_up", techpack::close_up_schema()),
            VisionTask::EditField { .. } => ("techpack_field_edit", techpack::edit_schema()),
        }
    }
}

/// A vision model's answer.
#[derive(Debug, Clone)]
pub struct VisionAnswer {
    pub value: Value,
    pub usage: Usage,
    pub model: String,
}

#[async_trait::async_trait]
pub trait VisionProvider: Send + Sync {
    /// `local`, `openai`.
    fn name(&self) -> &'static str;
    fn model(&self) -> &str;
    async fn ask(
        &self,
        task: &VisionTask<'_>,
        images: &[InlineImage],
    ) -> Result<VisionAnswer, ProviderError>;
}
