//! `techpack/stored-grading` (free): a stored tech pack's size run and its points of measure
//! as they are now, in the shape `wasm/grade-sizes` takes, so the export-only workflow
//! grades an edited tech pack again with the pipeline's own plugin. No model is involved.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use techpack_engine::{Step, StepContext, StepError, StepKind, StepOutput, step::parse_config};

use super::TechpackServices;
use super::{chosen_analysis, output, owned_analysis, owned_product};
use crate::techpack::PointOfMeasure;

pub struct StoredGrading;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    product_id: String,
    /// The tech pack to read; the product's newest when left out.
    #[serde(default)]
    analysis_id: Option<String>,
}

/// What the step outputs.
#[derive(Debug, Serialize)]
struct Stored {
    product_id: String,
    /// The analysis read, so later steps use the same one even when none was named.
    analysis_id: String,
    /// `base_size`, `sizes`, `grade_rules` and `default_grade` for `wasm/grade-sizes`; null
    /// when the tech pack was made without a size run.
    grading: Value,
    points_of_measure: Vec<PointOfMeasure>,
}

impl StepKind for StoredGrading {
    fn description(&self) -> &str {
        "reads a stored tech pack's size run and current points of measure, for wasm/grade-sizes to grade again"
    }

    fn build(&self, config: &Value) -> Result<Arc<dyn Step>, String> {
        Ok(Arc::new(StoredGradingStep(parse_config(config)?)))
    }
}

struct StoredGradingStep(Config);

#[async_trait::async_trait]
impl Step for StoredGradingStep {
    async fn run(&self, ctx: StepContext) -> Result<StepOutput, StepError> {
        let config = &self.0;
        let services = TechpackServices::from_context(&ctx)?;
        let product = owned_product(&services, &ctx, &config.product_id)?;
        let analysis = chosen_analysis(&services, &product, config.analysis_id.as_deref())?;
        let (_, tech_pack) = owned_analysis(&services, &product, &analysis.id)?;
        Ok(StepOutput::free(output(&Stored {
            product_id: product.id,
            analysis_id: analysis.id,
            grading: tech_pack
                .meta
                .grading
                .as_ref()
                .map_or(Value::Null, |g| g.plugin_fields()),
            points_of_measure: tech_pack.points_of_measure,
        })))
    }
}
