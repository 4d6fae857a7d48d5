//! `techpack/generate-close-ups` (3 credits): plans the key details of a product, makes 6–10
//! detail shots concurrently (bounded), stores them, and analyzes each.
//!
//! With the local image provider the details are the most detailed regions of the source
//! photo, cut and enlarged; with a generative provider they are the details the analysis
//! names (design elements, construction, materials), drawn from the photo.

use std::sync::Arc;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use techpack_engine::store::now_ms;
use techpack_engine::{Step, StepContext, StepError, StepKind, StepOutput, step::parse_config};

use super::analyze_base_views::short_hash;
use super::failure::{invalid_input, storage_error};
use super::{TechpackServices, describe_images};
use super::{
    detail_plan, load_image, output, owned_analysis, owned_product, parse_answer, parse_view,
};
use crate::local;
use crate::providers::{ImageChoice, ProviderSelection, VisionChoice};
use crate::providers::{ImageProvider, ImageTask, InlineImage, VisionProvider, VisionTask};
use crate::storage::cache::CacheKey;
use crate::storage::{CloseUpRecord, ImageRevision};
use crate::techpack::{CloseUpAnalysis, SCHEMA_VERSION, TechPack, View};

pub struct GenerateCloseUps;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    product_id: String,
    analysis_id: String,
    #[serde(default = "default_count")]
    count: usize,
    #[serde(default = "default_concurrency")]
    concurrency: usize,
    /// Only this view's photo gives details; by default every photo does.
    #[serde(default)]
    source_view: Option<String>,
    provider: Option<VisionChoice>,
    model: Option<String>,
    image_provider: Option<ImageChoice>,
    image_model: Option<String>,
}

fn default_count() -> usize {
    8
}
fn default_concurrency() -> usize {
    4
}

/// One planned detail.
#[derive(Debug, Clone)]
struct Detail {
    name: String,
    region: Option<[u32; 4]>,
    /// The photo it is cut from (or drawn after).
    source: ImageRevision,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CachedShot {
    image_hash: String,
    analysis: CloseUpAnalysis,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct CloseUp {
    pub id: String,
    /// The view of the photo the close-up comes from.
    pub view: View,
    pub source_revision_id: String,
    pub detail: String,
    pub image_hash: String,
    pub crop: Option<[u32; 4]>,
    pub analysis: CloseUpAnalysis,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct CloseUps {
    pub product_id: String,
    pub analysis_id: String,
    pub close_ups: Vec<CloseUp>,
    pub cached: usize,
}

impl StepKind for GenerateCloseUps {
    fn description(&self) -> &str {
        "plans 6–10 key details, makes a close-up of each concurrently and analyzes it"
    }

    fn build(&self, config: &Value) -> Result<Arc<dyn Step>, String> {
        let config: Config = parse_config(config)?;
        if !(6..=10).contains(&config.count) {
            return Err(format!("`count` must be 6 to 10, got {}", config.count));
        }
        if config.concurrency == 0 {
            return Err("`concurrency` must be at least 1".into());
        }
        if let Some(view) = &config.source_view {
            parse_view(view).map_err(|e| e.message)?;
        }
        Ok(Arc::new(GenerateCloseUpsStep(config)))
    }
}

struct GenerateCloseUpsStep(Config);

/// Details the analysis names, most useful first.
fn named_details(tech_pack: &TechPack) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut add = |name: String| {
        let name = name.trim().to_string();
        if !name.is_empty() && !names.iter().any(|n| n.eq_ignore_ascii_case(&name)) {
            names.push(name);
        }
    };
    for detail in &tech_pack.construction {
        add(format!("{} at {}", detail.operation, detail.location));
    }
    for view in &tech_pack.views {
        view.design_elements.iter().cloned().for_each(&mut add);
    }
    for line in &tech_pack.bill_of_materials {
        add(format!("{} material", line.placement));
    }
    for label in &tech_pack.labels_and_packaging {
        add(format!("{} at {}", label.kind, label.placement));
    }
    names
}

#[async_trait::async_trait]
impl Step for GenerateCloseUpsStep {
    async fn run(&self, ctx: StepContext) -> Result<StepOutput, StepError> {
        let config = &self.0;
        let services = TechpackServices::from_context(&ctx)?;
        let product = owned_product(&services, &ctx, &config.product_id)?;
        let (analysis, tech_pack) = owned_analysis(&services, &product, &config.analysis_id)?;
        let only = config.source_view.as_deref().map(parse_view).transpose()?;
        let mut sources: Vec<ImageRevision> = Vec::new();
        for photo in &tech_pack.meta.source_photos {
            if only.is_none_or(|view| view == photo.view) {
                sources.push(
                    services
                        .catalog
                        .revision(&product.id, &photo.revision_id)
                        .map_err(storage_error)?,
                );
            }
        }
        if sources.is_empty() {
            return Err(invalid_input(match only {
                Some(view) => format!("the analysis has no {} photo", view.as_str()),
                None => "the analysis has no source photos".to_string(),
            }));
        }

        let selection = ProviderSelection {
            provider: config.provider,
            model: config.model.clone(),
            image_provider: config.image_provider,
            image_model: config.image_model.clone(),
        };
        let vision = services.vision(&selection)?;
        let imaging = services.imaging(&selection)?;

        let count = config.count;
        let plans = futures::future::join_all(
            sources
                .iter()
                .map(|source| detail_plan(&services, ctx.owner.as_deref(), source)),
        )
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
        let mut details: Vec<Detail> = Vec::new();
        if imaging.name() != "local" {
            details.extend(
                named_details(&tech_pack)
                    .into_iter()
                    .take(count)
                    .map(|name| Detail {
                        name,
                        region: None,
                        source: sources[0].clone(),
                    }),
            );
        }
        for (source, crop) in pick_across_views(&sources, &plans, count - details.len().min(count))
        {
            details.push(Detail {
                name: caption(source.view, crop),
                region: Some([crop.x, crop.y, crop.w, crop.h]),
                source: source.clone(),
            });
        }
        unique_captions(&mut details);
        if details.len() < MIN_DETAILS {
            return Err(invalid_input(too_few_details(
                details.len(),
                &sources,
                &tech_pack,
            )));
        }

        // Each photo is loaded once for all the details cut from it.
        let mut images: Vec<(String, InlineImage)> = Vec::new();
        for source in &sources {
            images.push((source.id.clone(), load_image(&services, source)?));
        }
        let shots = futures::stream::iter(details.into_iter().enumerate())
            .map(|(index, detail)| {
                let (services, ctx, vision, imaging) = (
                    services.clone(),
                    ctx.clone(),
                    vision.clone(),
                    imaging.clone(),
                );
                let image = images
                    .iter()
                    .find(|(id, _)| *id == detail.source.id)
                    .map(|(_, image)| image.clone())
                    .expect("every detail's photo is loaded");
                let category = tech_pack.meta.category.value.clone();
                async move {
                    shoot(
                        &services,
                        &ctx,
                        vision.as_ref(),
                        imaging.as_ref(),
                        &image,
                        index,
                        detail,
                        category.as_deref(),
                    )
                    .await
                }
            })
            .buffered(config.concurrency)
            .collect::<Vec<_>>()
            .await;
        let mut close_ups = Vec::new();
        let mut cached = 0;
        for shot in shots {
            let (close_up, hit) = shot?;
            cached += usize::from(hit);
            services
                .catalog
                .put_close_up(&CloseUpRecord {
                    id: close_up.id.clone(),
                    product_id: product.id.clone(),
                    analysis_id: analysis.id.clone(),
                    detail: close_up.detail.clone(),
                    image_hash: close_up.image_hash.clone(),
                    source_revision_id: close_up.source_revision_id.clone(),
                    crop: close_up.crop,
                    analysis: close_up.analysis.clone(),
                    provider: imaging.name().into(),
                    model: imaging.model().into(),
                    created_at: now_ms(),
                })
                .map_err(storage_error)?;
            close_ups.push(close_up);
        }
        let all_cached = cached == close_ups.len();
        let value = output(&CloseUps {
            product_id: product.id,
            analysis_id: analysis.id,
            close_ups,
            cached,
        });
        Ok(if all_cached {
            StepOutput::free(value)
        } else {
            StepOutput::new(value)
        })
    }
}

/// The fewest close-ups a set may have.
const MIN_DETAILS: usize = 6;

/// Up to `count` planned windows from all the photos: the best of each photo in turn, so
/// every view is shown, skipping any that looks like one already taken (the plain canvas
/// of the front and of the back is one close-up).
fn pick_across_views<'a>(
    sources: &'a [ImageRevision],
    plans: &'a [Vec<local::DetailCrop>],
    count: usize,
) -> Vec<(&'a ImageRevision, &'a local::DetailCrop)> {
    let mut picked: Vec<(&ImageRevision, &local::DetailCrop)> = Vec::new();
    let deepest = plans.iter().map(Vec::len).max().unwrap_or(0);
    for rank in 0..deepest {
        for (source, plan) in sources.iter().zip(plans) {
            if picked.len() == count {
                return picked;
            }
            let Some(crop) = plan.get(rank) else { continue };
            if !picked.iter().any(|(_, taken)| taken.looks_like(crop)) {
                picked.push((source, crop));
            }
        }
    }
    picked
}

/// "front — upper left: navy and mustard": the view, where on the product, and what it shows.
fn caption(view: View, crop: &local::DetailCrop) -> String {
    let place = if crop.place.is_empty() {
        "detail"
    } else {
        crop.place.as_str()
    };
    let colours = match crop.colours.as_slice() {
        [] => String::new(),
        [only] => format!(": {only}"),
        [first, rest @ ..] => format!(": {first} and {}", rest.join(" and ")),
    };
    format!("{} — {place}{colours}", view.as_str())
}

/// Numbers captions that would otherwise repeat ("… (2)"), so each close-up is named apart.
fn unique_captions(details: &mut [Detail]) {
    for i in 1..details.len() {
        let (before, rest) = details.split_at_mut(i);
        let same = before
            .iter()
            .filter(|d| {
                d.name == rest[0].name || d.name.starts_with(&format!("{} (", rest[0].name))
            })
            .count();
        if same > 0 {
            rest[0].name = format!("{} ({})", rest[0].name, same + 1);
        }
    }
}

/// Why fewer than [`MIN_DETAILS`] close-ups could be planned: too small a product in a photo
/// is named as such (close-ups are never blown up from a few pixels).
fn too_few_details(found: usize, sources: &[ImageRevision], tech_pack: &TechPack) -> String {
    let views: Vec<&str> = sources.iter().map(|s| s.view.as_str()).collect();
    let mut message = format!(
        "only {found} distinct details could be planned from the {} photo{}; a close-up set needs at least {MIN_DETAILS}",
        views.join(", "),
        if views.len() == 1 { "" } else { "s" }
    );
    let window = local::CropOptions::default().window_fraction;
    for source in sources {
        let product = tech_pack
            .views
            .iter()
            .find(|v| v.view == source.view)
            .and_then(|v| v.scale.product_box);
        if let Some([_, _, w, h]) = product
            && (w.min(h) as f32 * window) < local::MIN_CLOSE_UP_SIDE_PX as f32
        {
            message.push_str(&format!(
                ". The product spans only {w}×{h} px in the {} photo: too small for a close-up, which needs at \
                 least {side}×{side} px of the photo (smaller crops are not enlarged into blur)",
                source.view.as_str(),
                side = local::MIN_CLOSE_UP_SIDE_PX
            ));
        }
    }
    message
}

#[allow(clippy::too_many_arguments)]
async fn shoot(
    services: &TechpackServices,
    ctx: &StepContext,
    vision: &dyn VisionProvider,
    imaging: &dyn ImageProvider,
    image: &InlineImage,
    index: usize,
    detail: Detail,
    category: Option<&str>,
) -> Result<(CloseUp, bool), StepError> {
    let source = &detail.source;
    let id = format!(
        "cu_{}",
        short_hash(&format!("{}#{index}", ctx.idempotency_key))
    );
    let variant = serde_json::json!({ "detail": detail.name, "region": detail.region, "vision": [vision.name(), vision.model()] }).to_string();
    let key = CacheKey {
        image_sha256: &source.image_hash,
        operation: "generate-close-up",
        schema_version: SCHEMA_VERSION,
        provider: imaging.name(),
        model: imaging.model(),
        variant: &variant,
    };
    if let Some(hit) = services
        .catalog
        .cache
        .get::<CachedShot>(&key)
        .map_err(storage_error)?
    {
        let close_up = CloseUp {
            id,
            view: source.view,
            source_revision_id: source.id.clone(),
            detail: detail.name,
            image_hash: hit.image_hash,
            crop: detail.region,
            analysis: hit.analysis,
        };
        return Ok((close_up, true));
    }
    let description = format!("{} of a {}", detail.name, category.unwrap_or("product"));
    let task = ImageTask::CloseUp {
        detail: &detail.name,
        region: detail.region,
        description: &description,
    };
    let summary = describe_images(&[(source.view.as_str().to_string(), image, &source.image_hash)]);
    let shot = services
        .draw(
            ctx,
            imaging,
            &task,
            std::slice::from_ref(image),
            format!("{}; {summary}", detail.name),
        )
        .await?;
    let image_hash = services
        .catalog
        .blobs
        .put(&shot.bytes)
        .map_err(storage_error)?;
    let shot_image = InlineImage {
        mime: shot.mime.clone(),
        bytes: shot.bytes.into(),
    };
    let question = VisionTask::AnalyzeCloseUp {
        detail: &detail.name,
        category,
    };
    let summary = describe_images(&[(detail.name.clone(), &shot_image, &image_hash)]);
    let answer = services
        .ask(
            ctx,
            vision,
            &question,
            std::slice::from_ref(&shot_image),
            summary,
        )
        .await?;
    let mut analysis: CloseUpAnalysis = parse_answer(vision.name(), answer.value)?;
    analysis.detail = detail.name.clone();
    services
        .catalog
        .cache
        .put(
            &key,
            &CachedShot {
                image_hash: image_hash.clone(),
                analysis: analysis.clone(),
            },
        )
        .map_err(storage_error)?;
    Ok((
        CloseUp {
            id,
            view: source.view,
            source_revision_id: source.id.clone(),
            detail: detail.name,
            image_hash,
            crop: detail.region,
            analysis,
        },
        false,
    ))
}
