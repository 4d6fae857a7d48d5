//! The `techpack/*` step kinds, one file each, and what they share: finding the product and
//! its images, with ownership checked.
//!
//! Besides the kinds: `services` ([`TechpackServices`], what the wiring hands them),
//! `failure` (how they fail, with the codes the API answers by) and `ai_calls` (provider
//! calls made on behalf of the run's owner and written to the AI operation log).

mod ai_calls;
mod analyze_base_views;
mod detect_category;
mod edit;
mod export;
pub mod failure;
mod generate_close_ups;
mod generate_sketches;
mod regenerate;
mod services;
mod stored_grading;

pub use ai_calls::describe_images;
pub use services::TechpackServices;

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use techpack_engine::{JsonText, StepContext, StepError, StepRegistry};

use crate::local;
use crate::providers::InlineImage;
use crate::storage::cache::CacheKey;
use crate::storage::{AnalysisRecord, ImageRevision, Product, RevisionOrigin, StorageError};
use crate::techpack::View;
use failure::{busy_error, invalid_input, storage_error, unusable_answer};

pub fn register(registry: &mut StepRegistry) {
    registry.register("techpack/detect-category", detect_category::DetectCategory);
    registry.register(
        "techpack/analyze-base-views",
        analyze_base_views::AnalyzeBaseViews,
    );
    registry.register(
        "techpack/generate-close-ups",
        generate_close_ups::GenerateCloseUps,
    );
    registry.register(
        "techpack/generate-sketches",
        generate_sketches::GenerateSketches,
    );
    registry.register("techpack/edit", edit::Edit);
    registry.register("techpack/regenerate", regenerate::Regenerate);
    registry.register("techpack/export", export::Export);
    registry.register("techpack/stored-grading", stored_grading::StoredGrading);
}

/// A photo given to a run (an `images` input): by server path (`techpack run --image
/// front=PATH`, operators only) or as an uploaded revision (`{view, revisionId}`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhotoRef {
    /// Which side of the product it shows; for a revision, it must match the revision's.
    pub view: Option<String>,
    pub path: Option<PathBuf>,
    #[serde(rename = "revisionId", alias = "revision_id")]
    pub revision_id: Option<String>,
}

/// The product a step works on, if the run's user may see it. Another user's product is
/// "not found", never "forbidden", so ids do not leak.
pub fn owned_product(
    services: &TechpackServices,
    ctx: &StepContext,
    id: &str,
) -> Result<Product, StepError> {
    let product = services.catalog.product(id).map_err(storage_error)?;
    if ctx.owner.is_some() && product.owner != ctx.owner {
        return Err(storage_error(StorageError::ProductNotFound(id.to_string())));
    }
    Ok(product)
}

/// A stored analysis of the caller's product, with its tech pack. An analysis of another
/// product is "not found", like a missing one.
pub fn owned_analysis(
    services: &TechpackServices,
    product: &Product,
    analysis_id: &str,
) -> Result<(crate::storage::AnalysisRecord, crate::techpack::TechPack), StepError> {
    let analysis = services
        .catalog
        .analysis(analysis_id)
        .map_err(storage_error)?;
    if analysis.product_id != product.id {
        return Err(storage_error(StorageError::AnalysisNotFound(
            analysis_id.to_string(),
        )));
    }
    let tech_pack = analysis.data.decode().map_err(|e| {
        StepError::permanent(format!(
            "stored analysis `{analysis_id}` is unreadable: {e}"
        ))
    })?;
    Ok((analysis, tech_pack))
}

/// The analysis `analysis_id` of the caller's product, or its newest when none is named.
pub fn chosen_analysis(
    services: &TechpackServices,
    product: &Product,
    analysis_id: Option<&str>,
) -> Result<crate::storage::AnalysisRecord, StepError> {
    match analysis_id {
        Some(id) => Ok(owned_analysis(services, product, id)?.0),
        None => services
            .catalog
            .latest_analysis(&product.id)
            .map_err(storage_error)?
            .ok_or_else(|| {
                invalid_input(format!(
                    "product `{}` has no tech pack yet: run tech-pack-v2 on its photos first",
                    product.id
                ))
            }),
    }
}

pub fn parse_view(text: &str) -> Result<View, StepError> {
    View::parse(text).ok_or_else(|| {
        invalid_input(format!(
            "unknown view `{text}` (front, back, side, top, detail)"
        ))
    })
}

/// Reads, checks (magic bytes, decode limits), strips of metadata that does not render and
/// stores a photo given by server path as a new revision; the path must be one the run may
/// read (`ctx.files`). Errors name the photo by its place in the list, never by its path.
pub async fn ingest_path(
    services: &Arc<TechpackServices>,
    ctx: &StepContext,
    product_id: &str,
    (index, view, path): (usize, &str, &std::path::Path),
) -> Result<ImageRevision, StepError> {
    let view = parse_view(view)?;
    let field = format!("`images[{index}].path`");
    let path = ctx.files.readable(path, &field)?;
    let limits = services.limits;
    let size = tokio::fs::metadata(&path)
        .await
        .map_err(|e| invalid_input(format!("cannot read the photo {field}: {e}")))?
        .len();
    let file_permit = services
        .budget
        .acquire(ctx.owner.as_deref(), size)
        .await
        .map_err(|e| busy_error(&e))?;
    let read_field = field.clone();
    let bytes = tokio::task::spawn_blocking(move || {
        let bytes = std::fs::read(&path)
            .map_err(|e| invalid_input(format!("cannot read the photo {read_field}: {e}")))?;
        let stripped = match local::strip_metadata(&bytes, &limits) {
            Ok(Cow::Borrowed(_)) => None,
            Ok(Cow::Owned(stripped)) => Some(stripped),
            Err(e) => return Err(invalid_input(format!("{read_field}: {e}"))),
        };
        Ok::<_, StepError>(stripped.unwrap_or(bytes))
    })
    .await
    .map_err(|e| StepError::retryable(e.to_string()))??;
    drop(file_permit);
    let pixel_permit = services
        .budget
        .acquire_for_image(ctx.owner.as_deref(), &bytes, &limits)
        .await
        .map_err(|e| busy_error(&e))?;
    let (bytes, width, height) = tokio::task::spawn_blocking(move || {
        let decoded =
            local::decode(&bytes, &limits).map_err(|e| invalid_input(format!("{field}: {e}")))?;
        drop(pixel_permit);
        Ok::<_, StepError>((bytes, decoded.width(), decoded.height()))
    })
    .await
    .map_err(|e| StepError::retryable(e.to_string()))??;
    store_revision(
        services,
        product_id,
        view,
        &bytes,
        width,
        height,
        RevisionOrigin::Upload,
    )
}

pub fn store_revision(
    services: &TechpackServices,
    product_id: &str,
    view: View,
    bytes: &[u8],
    width: u32,
    height: u32,
    origin: RevisionOrigin,
) -> Result<ImageRevision, StepError> {
    let hash = services.catalog.blobs.put(bytes).map_err(storage_error)?;
    services
        .catalog
        .add_revision(
            product_id,
            view,
            &hash,
            mime_of(bytes),
            width,
            height,
            origin,
        )
        .map_err(storage_error)
}

pub fn mime_of(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        "image/jpeg"
    } else {
        "image/png"
    }
}

/// The revisions a step works on: the given ids, or else the current revision of each view.
pub fn pick_revisions(
    services: &TechpackServices,
    product_id: &str,
    ids: &[String],
) -> Result<Vec<ImageRevision>, StepError> {
    let revisions = if ids.is_empty() {
        services
            .catalog
            .revisions(product_id)
            .map_err(storage_error)?
            .into_iter()
            .filter(|r| r.is_current)
            .collect()
    } else {
        ids.iter()
            .map(|id| {
                services
                    .catalog
                    .revision(product_id, id)
                    .map_err(storage_error)
            })
            .collect::<Result<Vec<_>, _>>()?
    };
    if revisions.is_empty() {
        return Err(invalid_input(format!(
            "product `{product_id}` has no images yet: upload at least a front view"
        )));
    }
    Ok(revisions)
}

pub fn load_image(
    services: &TechpackServices,
    revision: &ImageRevision,
) -> Result<InlineImage, StepError> {
    let bytes = services
        .catalog
        .blobs
        .get(&revision.image_hash)
        .map_err(storage_error)?;
    Ok(InlineImage {
        mime: revision.mime.clone(),
        bytes: bytes.into(),
    })
}

/// Deserializes an answer into a tech-pack type, as a provider error if it does not fit.
pub fn parse_answer<T: serde::de::DeserializeOwned>(
    provider: &str,
    value: serde_json::Value,
) -> Result<T, StepError> {
    serde_json::from_value(value).map_err(|e| {
        unusable_answer(format!(
            "{provider}: the answer does not fit the schema: {e}"
        ))
    })
}

pub fn output<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).expect("outputs serialize")
}

/// A typed value as stored JSON text, serialized straight to text (no `Value` in between).
pub fn stored<T: serde::Serialize>(value: &T) -> JsonText {
    JsonText::of(value).expect("records serialize")
}

/// An analysis's tech pack as a `Value` tree, for what changes it in place.
pub fn document(record: &AnalysisRecord) -> Result<serde_json::Value, StepError> {
    record.data.value().map_err(|e| {
        storage_error(StorageError::Corrupt(format!(
            "analysis `{}`: {e}",
            record.id
        )))
    })
}

/// The most close-ups a set may have; plans are made for this many and cut to size, so one
/// cached plan serves every count.
pub const MAX_DETAILS: usize = 10;

/// Makes sure the photo's detail plan is cached, for a step that does not need it itself:
/// a plan cached already is not read.
pub async fn plan_details_ahead(
    services: &TechpackServices,
    owner: Option<&str>,
    revision: &ImageRevision,
) -> Result<(), StepError> {
    let count = MAX_DETAILS.to_string();
    let key = detail_plan_key(revision, &count);
    if services
        .catalog
        .cache
        .contains(&key)
        .map_err(storage_error)?
    {
        return Ok(());
    }
    detail_plan(services, owner, revision).await.map(drop)
}

fn detail_plan_key<'a>(revision: &'a ImageRevision, count: &'a str) -> CacheKey<'a> {
    CacheKey {
        image_sha256: &revision.image_hash,
        operation: "plan-details",
        schema_version: crate::techpack::SCHEMA_VERSION,
        provider: "local",
        model: crate::providers::local::LOCAL_MODEL,
        variant: count,
    }
}

/// The most detailed regions of a photo, best first, from the cache or computed (off the
/// async threads, within `owner`'s share of the memory budget) and cached by image hash.
pub async fn detail_plan(
    services: &TechpackServices,
    owner: Option<&str>,
    revision: &ImageRevision,
) -> Result<Vec<local::DetailCrop>, StepError> {
    let count = MAX_DETAILS.to_string();
    let key = detail_plan_key(revision, &count);
    if let Some(plan) = services.catalog.cache.get(&key).map_err(storage_error)? {
        return Ok(plan);
    }
    let image = load_image(services, revision)?;
    let limits = services.limits;
    let permit = services
        .budget
        .acquire_for_image(owner, &image.bytes, &limits)
        .await
        .map_err(|e| busy_error(&e))?;
    let recent = Arc::clone(&services.local.recent);
    let plan = tokio::task::spawn_blocking(move || {
        let plan = crate::providers::local::plan_detail_regions(
            &recent,
            &image.bytes,
            &limits,
            MAX_DETAILS,
        );
        drop(permit);
        plan
    })
    .await
    .map_err(|e| StepError::retryable(e.to_string()))?
    .map_err(failure::provider_error)?;
    services
        .catalog
        .cache
        .put(&key, &plan)
        .map_err(storage_error)?;
    Ok(plan)
}
