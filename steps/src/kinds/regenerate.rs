//! `techpack/regenerate` (1 credit): makes a new image of one view from the analysis and an
//! optional prompt, stores it as a new revision (the previous one is kept; `is_current`
//! moves), and analyzes it again — updating the tech pack when one is named.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use techpack_engine::store::now_ms;
use techpack_engine::{Step, StepContext, StepError, StepKind, StepOutput, step::parse_config};

use super::failure::{invalid_input, storage_error};
use super::{TechpackServices, describe_images};
use super::{load_image, output, owned_product, parse_answer, parse_view, store_revision, stored};
use crate::providers::{ImageChoice, ProviderSelection, VisionChoice};
use crate::providers::{ImageTask, InlineImage, VisionTask};
use crate::storage::cache::CacheKey;
use crate::storage::{EditRecord, ImageRevision, RevisionOrigin};
use crate::techpack::{
    ChangeKind, Revision, SCHEMA_VERSION, SourcePhoto, TechPack, ViewAnalysis, remerge_views,
};

pub struct Regenerate;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    product_id: String,
    /// The revision to start from; or the current revision of `view`.
    revision_id: Option<String>,
    view: Option<String>,
    /// A stored analysis whose view is replaced by the new analysis.
    analysis_id: Option<String>,
    prompt: Option<String>,
    provider: Option<VisionChoice>,
    model: Option<String>,
    image_provider: Option<ImageChoice>,
    image_model: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Regenerated {
    pub revision: ImageRevision,
    pub previous_revision_id: String,
    pub analysis: ViewAnalysis,
    pub analysis_id: Option<String>,
}

impl StepKind for Regenerate {
    fn description(&self) -> &str {
        "regenerates one view as a new image revision and analyzes it again"
    }

    fn build(&self, config: &Value) -> Result<Arc<dyn Step>, String> {
        let config: Config = parse_config(config)?;
        match (&config.revision_id, &config.view) {
            (None, None) => return Err("give the `revision_id` or the `view` to regenerate".into()),
            (_, Some(view)) => {
                parse_view(view).map_err(|e| e.message)?;
            }
            _ => {}
        }
        Ok(Arc::new(RegenerateStep(config)))
    }
}

struct RegenerateStep(Config);

#[async_trait::async_trait]
impl Step for RegenerateStep {
    async fn run(&self, ctx: StepContext) -> Result<StepOutput, StepError> {
        let config = &self.0;
        let services = TechpackServices::from_context(&ctx)?;
        let product = owned_product(&services, &ctx, &config.product_id)?;
        let source = match (&config.revision_id, &config.view) {
            (Some(id), _) => services
                .catalog
                .revision(&product.id, id)
                .map_err(storage_error)?,
            (None, Some(view)) => {
                let view = parse_view(view)?;
                services
                    .catalog
                    .revisions(&product.id)
                    .map_err(storage_error)?
                    .into_iter()
                    .find(|r| r.view == view && r.is_current)
                    .ok_or_else(|| {
                        invalid_input(format!(
                            "product `{}` has no {} image",
                            product.id,
                            view.as_str()
                        ))
                    })?
            }
            (None, None) => unreachable!("checked when built"),
        };
        let mut analysis_record = match &config.analysis_id {
            Some(id) => {
                let record = services.catalog.analysis(id).map_err(storage_error)?;
                if record.product_id != product.id {
                    return Err(storage_error(
                        crate::storage::StorageError::AnalysisNotFound(id.clone()),
                    ));
                }
                Some(record)
            }
            None => None,
        };
        let selection = ProviderSelection {
            provider: config.provider,
            model: config.model.clone(),
            image_provider: config.image_provider,
            image_model: config.image_model.clone(),
        };
        let imaging = services.imaging(&selection)?;
        let vision = services.vision(&selection)?;
        // The analysis's `meta`, read once from its text (the rest is decoded only to be
        // changed, below).
        let meta = analysis_record
            .as_ref()
            .and_then(|r| r.data.decode::<MetaOnly>().ok())
            .map(|m| m.meta)
            .unwrap_or(Value::Null);
        let meta_text = |pointer: &str| {
            meta.pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_string)
        };

        // A retried or resumed step reuses the revision its first attempt made.
        let made_key = CacheKey {
            image_sha256: &source.image_hash,
            operation: "regenerate-view",
            schema_version: SCHEMA_VERSION,
            provider: imaging.name(),
            model: imaging.model(),
            variant: &ctx.idempotency_key,
        };
        let revision = match services
            .catalog
            .cache
            .get::<ImageRevision>(&made_key)
            .map_err(storage_error)?
        {
            Some(revision) => revision,
            None => {
                let image = load_image(&services, &source)?;
                let description =
                    meta_text("/product_name").unwrap_or_else(|| product.name.clone());
                let task = ImageTask::Regenerate {
                    view: source.view,
                    prompt: config.prompt.as_deref(),
                    description: &description,
                };
                let summary = describe_images(&[(
                    source.view.as_str().to_string(),
                    &image,
                    &source.image_hash,
                )]);
                let made = services
                    .draw(
                        &ctx,
                        imaging.as_ref(),
                        &task,
                        std::slice::from_ref(&image),
                        summary,
                    )
                    .await?;
                let origin = RevisionOrigin::Regenerated {
                    from_revision_id: source.id.clone(),
                    prompt: config.prompt.clone(),
                };
                let revision = store_revision(
                    &services,
                    &product.id,
                    source.view,
                    &made.bytes,
                    made.width,
                    made.height,
                    origin,
                )?;
                services
                    .catalog
                    .cache
                    .put(&made_key, &revision)
                    .map_err(storage_error)?;
                revision
            }
        };

        let image = load_image(&services, &revision)?;
        let category = meta_text("/category/value");
        let subcategory = meta_text("/subcategory/value");
        let references = meta
            .pointer("/references")
            .cloned()
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        let task = VisionTask::AnalyzeView {
            view: revision.view,
            category: category.as_deref(),
            subcategory: subcategory.as_deref(),
            references,
        };
        let summary = describe_images(&[(
            revision.view.as_str().to_string(),
            &image,
            &revision.image_hash,
        )]);
        let answer = services
            .ask(
                &ctx,
                vision.as_ref(),
                &task,
                std::slice::from_ref::<InlineImage>(&image),
                summary,
            )
            .await?;
        let mut analysis: ViewAnalysis = parse_answer(vision.name(), answer.value)?;
        analysis.view = revision.view;

        if let Some(record) = analysis_record.as_mut() {
            let mut tech_pack: TechPack = record
                .data
                .decode()
                .map_err(|e| StepError::permanent(format!("stored analysis is unreadable: {e}")))?;
            tech_pack
                .meta
                .source_photos
                .retain(|p| p.view != revision.view);
            tech_pack.meta.source_photos.push(SourcePhoto {
                view: revision.view,
                revision_id: revision.id.clone(),
                sha256: revision.image_hash.clone(),
                width: revision.width,
                height: revision.height,
            });
            let mut views: Vec<ViewAnalysis> = tech_pack
                .views
                .iter()
                .filter(|v| v.view != revision.view)
                .cloned()
                .collect();
            views.push(analysis.clone());
            let old_view = output(&tech_pack.views);
            let summary = format!(
                "regenerated the {} view as revision {}",
                revision.view.as_str(),
                revision.version
            );
            let at = now_ms();
            // Only what the views make is made again: the designer's rows stay.
            let mut tech_pack = remerge_views(tech_pack, views);
            tech_pack.revisions.push(Revision::new(
                record.history.len() as u32 + 2,
                at,
                ChangeKind::Regenerate,
                imaging.name(),
                summary.clone(),
            ));
            record.data = stored(&tech_pack);
            record.history.push(EditRecord {
                path: "/views".into(),
                old_value: old_view,
                new_value: output(&analysis),
                instruction: Some(summary),
                provider: imaging.name().into(),
                at,
            });
            record.revision_ids.retain(|id| id != &source.id);
            record.revision_ids.push(revision.id.clone());
            record.updated_at = now_ms();
            services
                .catalog
                .put_analysis(record)
                .map_err(storage_error)?;
        }
        Ok(StepOutput::new(output(&Regenerated {
            previous_revision_id: source.id,
            revision,
            analysis,
            analysis_id: analysis_record.map(|r| r.id),
        })))
    }
}

/// The part of a stored tech pack the regenerate step reads before it needs the rest.
#[derive(Deserialize)]
struct MetaOnly {
    #[serde(default)]
    meta: Value,
}
