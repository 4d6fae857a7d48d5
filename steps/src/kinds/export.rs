//! `techpack/export` (free): writes the finished tech pack of a product to a folder.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use techpack_engine::{Step, StepContext, StepError, StepKind, StepOutput, step::parse_config};

use super::{output, owned_analysis, owned_product};
use crate::export::{Bundle, write_bundle};
use crate::services::{TechpackServices, storage_error};

pub struct Export;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    out_dir: PathBuf,
    product_id: String,
    analysis_id: String,
    /// A graded size chart (the `wasm/grade-sizes` output), if the run made one.
    #[serde(default)]
    size_chart: Option<Value>,
}

impl StepKind for Export {
    fn description(&self) -> &str {
        "writes techpack.json, photos, close-ups, sketches (PNG + SVG) and index.html to a folder"
    }

    fn build(&self, config: &Value) -> Result<Arc<dyn Step>, String> {
        let config: Config = parse_config(config)?;
        if config.out_dir.as_os_str().is_empty() {
            return Err("`out_dir` must name a folder".into());
        }
        Ok(Arc::new(ExportStep(config)))
    }
}

struct ExportStep(Config);

#[async_trait::async_trait]
impl Step for ExportStep {
    async fn run(&self, ctx: StepContext) -> Result<StepOutput, StepError> {
        let config = &self.0;
        let services = TechpackServices::from_context(&ctx)?;
        let product = owned_product(&services, &ctx, &config.product_id)?;
        let (analysis, mut tech_pack) = owned_analysis(&services, &product, &config.analysis_id)?;
        let photos: Vec<_> = tech_pack
            .meta
            .source_photos
            .iter()
            .map(|p| services.catalog.revision(&product.id, &p.revision_id))
            .collect::<Result<_, _>>()
            .map_err(storage_error)?;
        let mut close_ups = services
            .catalog
            .close_ups(&product.id)
            .map_err(storage_error)?;
        close_ups.retain(|c| c.analysis_id == analysis.id);
        close_ups.sort_by(|a, b| a.detail.cmp(&b.detail));
        let mut sketches = services
            .catalog
            .sketches(&product.id)
            .map_err(storage_error)?;
        sketches.retain(|s| s.analysis_id == analysis.id);
        sketches.sort_by_key(|s| s.view);
        tech_pack.callouts = sketches
            .iter()
            .flat_map(|s| s.callouts.iter().cloned())
            .collect();
        let dir = config.out_dir.clone();
        let size_chart = config.size_chart.clone();
        let summary = tokio::task::spawn_blocking(move || {
            let bundle = Bundle {
                tech_pack: &tech_pack,
                photos: &photos,
                close_ups: &close_ups,
                sketches: &sketches,
                size_chart: size_chart.as_ref(),
            };
            write_bundle(&services.catalog, &bundle, &dir)
        })
        .await
        .map_err(|e| StepError::retryable(e.to_string()))?
        .map_err(storage_error)?;
        Ok(StepOutput::free(output(&summary)))
    }
}
