//! `techpack/export` (free): renders a product's stored tech pack (the analysis named, or
//! its newest) as every export file, with no model involved, and writes them to a folder
//! when one is named. The folder is a server path: an operator's run may name any, a user's
//! run only one under a folder the operator allowed for writing (`ctx.files`). A run that
//! names none (every run over HTTP) writes nothing: its files stay in the store and are
//! downloaded from the product through the API.
//!
//! What the run says about the tech pack's parts is stored with it, so a download over
//! HTTP shows what the run's folder shows: the graded size chart (kept in the tech pack,
//! `size_chart`) and why a part was not produced. A field the run leaves out keeps what is
//! stored; `null` says the part was made (or not asked for).

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use techpack_engine::{
    JsonText, Step, StepContext, StepError, StepKind, StepOutput, step::parse_config,
};

use super::TechpackServices;
use super::failure::storage_error;
use super::{chosen_analysis, output, owned_product};
use crate::export::StoredTechPack;
use crate::techpack::{NotProduced, Part, PluginChart, PointOfMeasure, SizeChart};

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
    /// A graded size chart (the `wasm/grade-sizes` output), `null` if the run made none;
    /// left out, the stored one stays.
    #[serde(default, deserialize_with = "said")]
    size_chart: Option<Option<PluginChart>>,
    /// Why a part was not produced, by part (`null` when it was, or was not asked for): the
    /// errors of the steps that make them, which may fail without failing the run.
    #[serde(default)]
    not_produced: NotProducedConfig,
    /// The PDF's paper, `a4` (the default) or `letter`, landscape.
    #[serde(default)]
    paper: Option<crate::export::pdf::Paper>,
}

/// Tells a field left out (`None`) from one given as `null` (`Some(None)`).
fn said<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Per part: left out, what is stored stays; `null`, it was made; a reason, it was not.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NotProducedConfig {
    #[serde(default, deserialize_with = "said")]
    close_ups: Option<Option<String>>,
    #[serde(default, deserialize_with = "said")]
    sketches: Option<Option<String>>,
    #[serde(default, deserialize_with = "said")]
    size_chart: Option<Option<String>>,
}

impl NotProducedConfig {
    /// `stored` with the parts this run speaks of replaced by what it says.
    fn applied_to(&self, stored: &[NotProduced]) -> Vec<NotProduced> {
        Part::ALL
            .into_iter()
            .flat_map(|part| {
                let said = match part {
                    Part::CloseUps => &self.close_ups,
                    Part::Sketches => &self.sketches,
                    Part::SizeChart => &self.size_chart,
                };
                let parts: Vec<NotProduced> = match said {
                    None => stored.iter().filter(|n| n.part == part).cloned().collect(),
                    Some(reason) => reason
                        .iter()
                        .map(|reason| NotProduced {
                            part,
                            reason: reason.clone(),
                        })
                        .collect(),
                };
                parts
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
        let mut analysis = chosen_analysis(&services, &product, config.analysis_id.as_deref())?;
        if record_what_the_run_says(config, &mut analysis)? {
            services
                .catalog
                .put_analysis(&analysis)
                .map_err(storage_error)?;
        }
        let mut stored = StoredTechPack::load(&services.catalog, &product.id, &analysis)
            .map_err(storage_error)?;
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

/// Puts the run's size chart and not-produced parts into the stored tech pack; whether that
/// changed it. The rest of the record (its edits, its last change) stays as it was: the
/// export made nothing a person changed.
fn record_what_the_run_says(
    config: &Config,
    analysis: &mut crate::storage::AnalysisRecord,
) -> Result<bool, StepError> {
    let id = analysis.id.clone();
    let corrupt = move |e: serde_json::Error| {
        storage_error(crate::storage::StorageError::Corrupt(format!(
            "analysis `{id}`: {e}"
        )))
    };
    let mut data = analysis.data.value().map_err(&corrupt)?;
    let field = |name: &str| data.get(name).cloned().unwrap_or(Value::Null);
    let stored_parts: Vec<NotProduced> = match field("not_produced") {
        Value::Null => Vec::new(),
        parts => serde_json::from_value(parts).map_err(&corrupt)?,
    };
    let parts = config.not_produced.applied_to(&stored_parts);
    // Graded in this run from the POMs as they are stored now.
    let chart = match &config.size_chart {
        Some(chart) => {
            let poms: Vec<PointOfMeasure> = match field("points_of_measure") {
                Value::Null => Vec::new(),
                poms => serde_json::from_value(poms).map_err(&corrupt)?,
            };
            Some(output(&chart.clone().map(|c| SizeChart::graded(c, &poms))))
        }
        None => None,
    };
    let mut changed = false;
    let Some(fields) = data.as_object_mut() else {
        return Ok(false);
    };
    if parts != stored_parts {
        fields.insert("not_produced".into(), output(&parts));
        changed = true;
    }
    if let Some(chart) = chart
        && fields.get("size_chart").unwrap_or(&Value::Null) != &chart
    {
        fields.insert("size_chart".into(), chart);
        changed = true;
    }
    if changed {
        analysis.data = JsonText::from_value(&data);
    }
    Ok(changed)
}
