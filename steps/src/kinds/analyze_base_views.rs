//! `techpack/analyze-base-views` (3 credits): up to five views analyzed concurrently, merged
//! into one tech pack and stored. Views already analyzed (same image, model and schema) come
//! from the cache; if every view does, the step is free.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use techpack_engine::store::now_ms;
use techpack_engine::{
    JsonText, Step, StepContext, StepError, StepKind, StepOutput, step::parse_config,
};

use super::failure::{invalid_input, storage_error};
use super::{TechpackServices, describe_images};
use super::{load_image, owned_product, parse_answer, pick_revisions, plan_details_ahead, stored};
use crate::providers::VisionTask;
use crate::providers::{ProviderSelection, VisionChoice};
use crate::storage::cache::CacheKey;
use crate::storage::{AnalysisRecord, ImageRevision};
use crate::techpack::grading::GradingInputs;
use crate::techpack::{
    ChangeKind, Estimate, Meta, References, Revision, SCHEMA_VERSION, Source, SourcePhoto,
    TechPack, ViewAnalysis, merge_views,
    spec::{self, SpecSheet},
};

pub struct AnalyzeBaseViews;

/// The most views one analysis takes: front, back, side, top, detail.
const MAX_VIEWS: usize = 5;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    product_id: String,
    #[serde(default)]
    revision_ids: Vec<String>,
    /// The category, if known (from detection or given); `null` when unknown.
    category: Option<String>,
    subcategory: Option<String>,
    style_id: Option<String>,
    /// Real sizes of the product, to turn pixels into millimetres (`techpack::scale`).
    #[serde(default)]
    width_mm: Option<f64>,
    #[serde(default)]
    height_mm: Option<f64>,
    #[serde(default)]
    depth_mm: Option<f64>,
    /// The size run a chart will be graded in from this tech pack, kept with it (so a
    /// re-export grades again); then its POMs must hold values in mm, since grading pixels
    /// under a chart in mm would be silently wrong.
    #[serde(default)]
    grading: GradingInputs,
    /// The designer's spec sheet (`techpack::spec`), merged into the tech pack as given.
    #[serde(default)]
    spec: Option<Value>,
    provider: Option<VisionChoice>,
    model: Option<String>,
}

/// What the step outputs.
#[derive(Debug, Serialize, Deserialize)]
pub struct Analyzed {
    pub product_id: String,
    pub analysis_id: String,
    /// The [`TechPack`], as stored in the analysis record (the same text: serialized once).
    pub tech_pack: JsonText,
    pub analyzed_views: usize,
    pub cached_views: usize,
    pub provider: String,
    pub model: String,
}

impl StepKind for AnalyzeBaseViews {
    fn description(&self) -> &str {
        "analyzes up to five views concurrently into a tech pack (materials, colours, measurements, construction)"
    }

    fn build(&self, config: &Value) -> Result<Arc<dyn Step>, String> {
        let config: Config = parse_config(config)?;
        if config.revision_ids.len() > MAX_VIEWS {
            return Err(format!(
                "at most {MAX_VIEWS} revisions (one per view), got {}",
                config.revision_ids.len()
            ));
        }
        let mut bad = Vec::new();
        for (name, value) in [
            ("width_mm", config.width_mm),
            ("height_mm", config.height_mm),
            ("depth_mm", config.depth_mm),
        ] {
            if let Some(value) = value
                && !(value.is_finite() && value > 0.0)
            {
                bad.push(format!(
                    "`{name}` must be a positive number of millimetres, got {value}"
                ));
            }
        }
        let sheet = match config.spec.as_ref().filter(|v| !v.is_null()) {
            Some(value) => match spec::parse(value) {
                Ok(sheet) => Some(sheet),
                Err(e) => {
                    bad.push(e);
                    None
                }
            },
            None => None,
        };
        if !bad.is_empty() {
            return Err(bad.join("; "));
        }
        Ok(Arc::new(AnalyzeBaseViewsStep(config, sheet)))
    }
}

struct AnalyzeBaseViewsStep(Config, Option<SpecSheet>);

impl Config {
    fn references(&self) -> References {
        References {
            width_mm: self.width_mm,
            height_mm: self.height_mm,
            depth_mm: self.depth_mm,
        }
    }
}

/// Grading multiplies base measurements; pixels are not millimetres, so a chart graded from
/// them would be wrong with nothing to show it.
fn check_gradable(tech_pack: &TechPack) -> Result<(), StepError> {
    let in_mm = tech_pack
        .points_of_measure
        .iter()
        .any(|p| p.value.is_some() && p.unit == "mm");
    if in_mm {
        return Ok(());
    }
    Err(invalid_input(
        "grading needs mm: no point of measure has a value in millimetres. Give the product's real \
         `width_mm`, `height_mm` or `depth_mm` (or POM values in the spec sheet); pixel values are never graded",
    ))
}

#[async_trait::async_trait]
impl Step for AnalyzeBaseViewsStep {
    async fn run(&self, ctx: StepContext) -> Result<StepOutput, StepError> {
        let config = &self.0;
        let services = TechpackServices::from_context(&ctx)?;
        let product = owned_product(&services, &ctx, &config.product_id)?;
        let revisions = pick_revisions(&services, &product.id, &config.revision_ids)?;
        let mut views = BTreeSet::new();
        for revision in &revisions {
            if !views.insert(revision.view) {
                return Err(invalid_input(format!(
                    "two revisions of the {} view: give one per view",
                    revision.view.as_str()
                )));
            }
        }
        let selection = ProviderSelection {
            provider: config.provider,
            model: config.model.clone(),
            ..Default::default()
        };
        let provider = services.vision(&selection)?;

        let analyses = revisions
            .iter()
            .map(|revision| analyze_one(&services, &ctx, &provider, config, revision));
        // Close-ups come from every photo; planning their details now, while the views are
        // being analyzed, takes that work off the close-up step's critical path.
        let plans = revisions
            .iter()
            .map(|revision| plan_details_ahead(&services, ctx.owner.as_deref(), revision));
        let (results, plans) = futures::join!(
            futures::future::join_all(analyses),
            futures::future::join_all(plans)
        );
        for plan in plans {
            if let Err(e) = plan {
                tracing::warn!(error = %e, "cannot plan close-up details ahead");
            }
        }
        let mut view_analyses = Vec::new();
        let mut cached = 0;
        for result in results {
            let (analysis, hit) = result?;
            cached += usize::from(hit);
            view_analyses.push(analysis);
        }

        let estimate = |value: &Option<String>| match value {
            Some(v) => Estimate {
                value: Some(v.clone()),
                source: Source::Given,
                confidence: 1.0,
            },
            None => Estimate::unknown(),
        };
        let meta = Meta {
            style_id: config.style_id.clone(),
            product_name: product.name.clone(),
            category: estimate(&config.category),
            subcategory: estimate(&config.subcategory),
            season: None,
            brand: None,
            references: config.references(),
            pom_set: Default::default(),
            grading: config.grading.grading(),
            units: "metric".into(),
            source_photos: revisions
                .iter()
                .map(|r| SourcePhoto {
                    view: r.view,
                    revision_id: r.id.clone(),
                    sha256: r.image_hash.clone(),
                    width: r.width,
                    height: r.height,
                })
                .collect(),
        };
        let now = now_ms();
        let mut tech_pack = merge_views(meta, view_analyses);
        tech_pack.revisions.push(Revision::new(
            1,
            now,
            ChangeKind::Analysis,
            provider.name(),
            format!(
                "analyzed the {} {} with {}",
                revisions
                    .iter()
                    .map(|r| r.view.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                if revisions.len() == 1 {
                    "view"
                } else {
                    "views"
                },
                provider.model()
            ),
        ));
        if let Some(sheet) = &self.1 {
            spec::apply(&mut tech_pack, sheet);
            tech_pack.revisions.push(Revision::new(
                1,
                now,
                ChangeKind::SpecSheet,
                "given",
                sheet.summary(),
            ));
        }
        if tech_pack.meta.grading.is_some() {
            check_gradable(&tech_pack)?;
        }
        // The analysis id follows the run and step, so a retried or resumed step overwrites
        // its own record instead of leaving a second one.
        let analysis_id = format!("ana_{}", short_hash(&ctx.idempotency_key));
        let record = AnalysisRecord {
            id: analysis_id.clone(),
            product_id: product.id.clone(),
            revision_ids: revisions.iter().map(|r| r.id.clone()).collect(),
            provider: provider.name().into(),
            model: provider.model().into(),
            data: stored(&tech_pack),
            history: Vec::new(),
            created_at: now,
            updated_at: now,
        };
        services
            .catalog
            .put_analysis(&record)
            .map_err(storage_error)?;
        let all_cached = cached == revisions.len();
        // The record's text, not a second serialization of the tech pack.
        let value = stored(&Analyzed {
            product_id: product.id,
            analysis_id,
            tech_pack: record.data,
            analyzed_views: revisions.len(),
            cached_views: cached,
            provider: provider.name().into(),
            model: provider.model().into(),
        });
        Ok(if all_cached {
            StepOutput::free(value)
        } else {
            StepOutput::new(value)
        })
    }
}

async fn analyze_one(
    services: &Arc<TechpackServices>,
    ctx: &StepContext,
    provider: &Arc<dyn crate::providers::VisionProvider>,
    config: &Config,
    revision: &ImageRevision,
) -> Result<(ViewAnalysis, bool), StepError> {
    // References change a model's answer (it is told them); the local provider's pixels do
    // not depend on them, but one key shape for every provider keeps this simple.
    let variant = serde_json::json!({
        "view": revision.view,
        "category": config.category,
        "subcategory": config.subcategory,
        "references": config.references(),
    })
    .to_string();
    let key = CacheKey {
        image_sha256: &revision.image_hash,
        operation: "analyze-view",
        schema_version: SCHEMA_VERSION,
        provider: provider.name(),
        model: provider.model(),
        variant: &variant,
    };
    if let Some(hit) = services
        .catalog
        .cache
        .get::<ViewAnalysis>(&key)
        .map_err(storage_error)?
    {
        return Ok((hit, true));
    }
    let image = load_image(services, revision)?;
    let task = VisionTask::AnalyzeView {
        view: revision.view,
        category: config.category.as_deref(),
        subcategory: config.subcategory.as_deref(),
        references: config.references(),
    };
    let summary = describe_images(&[(
        revision.view.as_str().to_string(),
        &image,
        &revision.image_hash,
    )]);
    let answer = services
        .ask(
            ctx,
            provider.as_ref(),
            &task,
            std::slice::from_ref(&image),
            summary,
        )
        .await?;
    let mut analysis: ViewAnalysis = parse_answer(provider.name(), answer.value)?;
    analysis.view = revision.view;
    services
        .catalog
        .cache
        .put(&key, &analysis)
        .map_err(storage_error)?;
    Ok((analysis, false))
}

pub fn short_hash(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(text.as_bytes())[..12])
}
