//! `techpack/detect-category` (free): what kind of product is in the photos. Also takes in
//! the run's photos — uploaded revisions, or files by path in an operator's run — so the
//! steps after it work on stored revisions of one product.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use techpack_engine::{Step, StepContext, StepError, StepKind, StepOutput, step::parse_config};

use super::failure::{invalid_input, storage_error};
use super::{
    PhotoRef, ingest_path, load_image, output, owned_product, parse_answer, parse_view,
    pick_revisions,
};
use super::{TechpackServices, describe_images};
use crate::providers::ProviderSelection;
use crate::providers::VisionTask;
use crate::storage::cache::CacheKey;
use crate::storage::{ImageRevision, Product, StorageError};
use crate::techpack::{CategoryGuess, SCHEMA_VERSION, Source};

pub struct DetectCategory;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// An existing product; without it, the run gets its own product.
    product_id: Option<String>,
    product_name: Option<String>,
    /// The run's photos: `{view, revisionId}` (uploaded) or `{view, path}` (operators).
    #[serde(default)]
    images: Vec<PhotoRef>,
    #[serde(default)]
    revision_ids: Vec<String>,
    /// A category the operator already knows: recorded as given, no model is asked.
    category: Option<String>,
    provider: Option<crate::providers::VisionChoice>,
    model: Option<String>,
}

/// What the step outputs.
#[derive(Debug, Serialize, Deserialize)]
pub struct Detected {
    pub product_id: String,
    pub revision_ids: Vec<String>,
    pub category: Option<String>,
    pub subcategory: Option<String>,
    pub confidence: f64,
    pub source: Source,
    pub reasoning: String,
    pub provider: String,
    pub cached: bool,
}

impl StepKind for DetectCategory {
    fn description(&self) -> &str {
        "detects the product category from its photos (free); stores photos given by path"
    }

    fn build(&self, config: &Value) -> Result<Arc<dyn Step>, String> {
        let config: Config = parse_config(config)?;
        if config.product_id.is_none() && config.images.is_empty() {
            return Err(
                "give `images` (uploaded revisions or photos by path) or a `product_id`".into(),
            );
        }
        for (i, image) in config.images.iter().enumerate() {
            match (&image.path, &image.revision_id, &image.view) {
                (Some(_), Some(_), _) => {
                    return Err(format!("`images[{i}]` gives both `path` and `revisionId`"));
                }
                (None, None, _) => {
                    return Err(format!("`images[{i}]` needs `revisionId` or `path`"));
                }
                (Some(_), None, None) => return Err(format!("`images[{i}]` needs a `view`")),
                _ => {}
            }
        }
        Ok(Arc::new(DetectCategoryStep(config)))
    }
}

struct DetectCategoryStep(Config);

#[async_trait::async_trait]
impl Step for DetectCategoryStep {
    async fn run(&self, ctx: StepContext) -> Result<StepOutput, StepError> {
        let config = &self.0;
        let services = TechpackServices::from_context(&ctx)?;
        let uploaded = uploaded_photos(&services, &ctx, &config.images)?;
        let product = match (&config.product_id, uploaded.first()) {
            (Some(id), _) => owned_product(&services, &ctx, id)?,
            // Uploaded photos bring their product.
            (None, Some(revision)) => owned_product(&services, &ctx, &revision.product_id)?,
            (None, None) => {
                // One product per run, named by the run, so a resumed run finds it again.
                let name = config.product_name.clone().unwrap_or_else(|| {
                    config
                        .images
                        .iter()
                        .find_map(|i| i.path.as_ref()?.file_stem())
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_else(|| "product".into())
                });
                let id = format!("prod_{}", ctx.run_id.replace('-', ""));
                services
                    .catalog
                    .ensure_product(&id, &name, ctx.owner.clone())
                    .map_err(storage_error)?
            }
        };
        let mut revision_ids = config.revision_ids.clone();
        for revision in &uploaded {
            if revision.product_id != product.id {
                return Err(invalid_input(format!(
                    "photo `{}` belongs to another product than `{}`; give photos of one product",
                    revision.id, product.id
                )));
            }
            revision_ids.push(revision.id.clone());
        }
        for (i, image) in config.images.iter().enumerate() {
            if let (Some(path), Some(view)) = (&image.path, &image.view) {
                let revision = ingest_path(&services, &ctx, &product.id, (i, view, path)).await?;
                revision_ids.push(revision.id);
            }
        }
        let revisions = pick_revisions(&services, &product.id, &revision_ids)?;
        let revision_ids: Vec<String> = revisions.iter().map(|r| r.id.clone()).collect();

        if let Some(category) = &config.category {
            return Ok(StepOutput::free(output(&Detected {
                product_id: product.id,
                revision_ids,
                category: Some(category.clone()),
                subcategory: None,
                confidence: 1.0,
                source: Source::Given,
                reasoning: "given by the operator".into(),
                provider: "given".into(),
                cached: false,
            })));
        }

        let selection = ProviderSelection {
            provider: config.provider,
            model: config.model.clone(),
            ..Default::default()
        };
        let provider = services.vision(&selection)?;
        let hashes: Vec<&str> = revisions.iter().map(|r| r.image_hash.as_str()).collect();
        let joined = hashes.join(",");
        let key = CacheKey {
            image_sha256: &joined,
            operation: "detect-category",
            schema_version: SCHEMA_VERSION,
            provider: provider.name(),
            model: provider.model(),
            variant: "",
        };
        let (guess, cached) = match services
            .catalog
            .cache
            .get::<CategoryGuess>(&key)
            .map_err(storage_error)?
        {
            Some(guess) => (guess, true),
            None => {
                let images = revisions
                    .iter()
                    .map(|r| load_image(&services, r))
                    .collect::<Result<Vec<_>, _>>()?;
                let labels: Vec<_> = revisions
                    .iter()
                    .zip(&images)
                    .map(|(r, i)| (r.view.as_str().to_string(), i, r.image_hash.as_str()))
                    .collect();
                let answer = services
                    .ask(
                        &ctx,
                        provider.as_ref(),
                        &VisionTask::DetectCategory,
                        &images,
                        describe_images(&labels),
                    )
                    .await?;
                let guess: CategoryGuess = parse_answer(provider.name(), answer.value)?;
                services
                    .catalog
                    .cache
                    .put(&key, &guess)
                    .map_err(storage_error)?;
                (guess, false)
            }
        };
        Ok(StepOutput::new(output(&Detected {
            product_id: product.id,
            revision_ids,
            confidence: guess.category.confidence,
            source: guess.category.source,
            category: guess.category.value,
            subcategory: guess.subcategory.value,
            reasoning: guess.reasoning,
            provider: provider.name().into(),
            cached,
        })))
    }
}

/// The uploaded revisions among the photos, each one the run's user may see and of the view
/// it is given as. Another user's revision is "not found", like a missing one.
fn uploaded_photos(
    services: &TechpackServices,
    ctx: &StepContext,
    images: &[PhotoRef],
) -> Result<Vec<ImageRevision>, StepError> {
    let mut revisions = Vec::new();
    for (i, image) in images.iter().enumerate() {
        let Some(id) = &image.revision_id else {
            continue;
        };
        let not_found = || storage_error(StorageError::PhotoNotFound(id.clone()));
        let revision = services
            .catalog
            .revision_by_id(id)
            .map_err(|_| not_found())?;
        let product: Product = services
            .catalog
            .product(&revision.product_id)
            .map_err(storage_error)?;
        if ctx.owner.is_some() && product.owner != ctx.owner {
            return Err(not_found());
        }
        if let Some(view) = &image.view
            && parse_view(view)? != revision.view
        {
            return Err(invalid_input(format!(
                "`images[{i}]`: photo `{id}` is the {} view, not {view}",
                revision.view.as_str()
            )));
        }
        revisions.push(revision);
    }
    Ok(revisions)
}
