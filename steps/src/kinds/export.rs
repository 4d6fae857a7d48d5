//! `techpack/export` (free): renders a product's stored tech pack (the analysis named, or
//! its newest) as every export file, with no model involved, and writes them to a folder
//! when one is named. The folder is a server path: an operator's run may name any, a user's
//! run only one under a folder the operator allowed for writing (`ctx.files`). A run that
//! names none (every run over HTTP) writes nothing: its files stay in the store and are
//! downloaded from the product through the API.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use techpack_engine::{Step, StepContext, StepError, StepKind, StepOutput, step::parse_config};

use super::TechpackServices;
use super::failure::storage_error;
use super::{chosen_analysis, output, owned_product};
use crate::export::StoredTechPack;
use crate::techpack::{NotProduced, Part};

pub struct Export;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Where to write the files; none to only render them.
    #[serde(default)]
    out_dir: Option<PathBuf>,
    product_id: String,
    /// The analysis whose tech pack is exported; the product's newest when left out.
    #[serde(default)]
    analysis_id: Option<String>,
    /// A graded size chart (the `wasm/grade-sizes` output), if the run made one.
    #[serde(default)]
    size_chart: Option<Value>,
    /// Why a part was not produced, by part (`null` when it was, or was not asked for): the
    /// errors of the steps that make them, which may fail without failing the run.
    #[serde(default)]
    not_produced: NotProducedConfig,
    /// The PDF's paper, `a4` (the default) or `letter`, landscape.
    #[serde(default)]
    paper: Option<crate::export::pdf::Paper>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NotProducedConfig {
    close_ups: Option<String>,
    sketches: Option<String>,
    size_chart: Option<String>,
}

impl NotProducedConfig {
    fn parts(&self) -> Vec<NotProduced> {
        Part::ALL
            .into_iter()
            .filter_map(|part| {
                let reason = match part {
                    Part::CloseUps => &self.close_ups,
                    Part::Sketches => &self.sketches,
                    Part::SizeChart => &self.size_chart,
                };
                reason.as_ref().map(|reason| NotProduced {
                    part,
                    reason: reason.clone(),
                })
            })
            .collect()
    }
}

impl StepKind for Export {
    fn description(&self) -> &str {
        "renders a stored tech pack as techpack.json, photos, close-ups, sketches (PNG + SVG), index.html, techpack.pdf, techpack.xlsx and CSVs, written to a folder when one is named"
    }

    fn build(&self, config: &Value) -> Result<Arc<dyn Step>, String> {
        let config: Config = parse_config(config)?;
        if config
            .out_dir
            .as_ref()
            .is_some_and(|dir| dir.as_os_str().is_empty())
        {
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
        let dir = match &config.out_dir {
            Some(dir) => Some(ctx.files.writable(dir, "`out_dir`")?),
            None => None,
        };
        let services = TechpackServices::from_context(&ctx)?;
        let product = owned_product(&services, &ctx, &config.product_id)?;
        let analysis = chosen_analysis(&services, &product, config.analysis_id.as_deref())?;
        let mut stored = StoredTechPack::load(&services.catalog, &product.id, &analysis)
            .map_err(storage_error)?;
        stored.size_chart = config.size_chart.clone();
        stored.tech_pack.not_produced = config.not_produced.parts();
        stored.edition.paper = config.paper.unwrap_or_default();
        let summary = tokio::task::spawn_blocking(move || match dir {
            Some(dir) => stored.write(&services.catalog, &dir),
            None => stored.render(&services.catalog),
        })
        .await
        .map_err(|e| StepError::retryable(e.to_string()))?
        .map_err(storage_error)?;
        // The folder as the run named it: a user's run must not learn where it resolved to.
        let summary = crate::export::ExportSummary {
            dir: config.out_dir.clone(),
            ..summary
        };
        Ok(StepOutput::free(output(&summary)))
    }
}
