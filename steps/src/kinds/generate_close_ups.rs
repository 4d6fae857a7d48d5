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
use crate::providers::{ImageChoice, ProviderSelection, VisionChoice};
use crate::providers::{ImageProvider, ImageTask, InlineImage, VisionProvider, VisionTask};
use crate::storage::cache::CacheKey;
use crate::storage::{CloseUpRecord, ImageRevision};
use crate::techpack::{CloseUpAnalysis, SCHEMA_VERSION, TechPack};

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
    /// The view whose photo the details come from.
    #[serde(default = "default_view")]
    source_view: String,
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
fn default_view() -> String {
    "front".into()
}

/// One planned detail.
#[derive(Debug, Clone)]
struct Detail {
    name: String,
    region: Option<[u32; 4]>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CachedShot {
    image_hash: String,
    analysis: CloseUpAnalysis,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct CloseUp {
    pub id: String,
    pub detail: String,
    pub image_hash: String,
    pub crop: Option<[u32; 4]>,
    pub analysis: CloseUpAnalysis,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct CloseUps {
    pub product_id: String,
    pub analysis_id: String,
    pub source_revision_id: String,
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
        parse_view(&config.source_view).map_err(|e| e.message)?;
        Ok(Arc::new(GenerateCloseUpsStep(config)))
    }
}

struct GenerateCloseUpsStep(Config);

/// "upper left", "middle center" … of a region within the image.
fn position_name(region: [u32; 4], width: u32, height: u32) -> String {
    let cx = (f64::from(region[0]) + f64::from(region[2]) / 2.0) / f64::from(width.max(1));
    let cy = (f64::from(region[1]) + f64::from(region[3]) / 2.0) / f64::from(height.max(1));
    let vertical = if cy < 1.0 / 3.0 {
        "upper"
    } else if cy < 2.0 / 3.0 {
        "middle"
    } else {
        "lower"
    };
    let horizontal = if cx < 1.0 / 3.0 {
        "left"
    } else if cx < 2.0 / 3.0 {
        "center"
    } else {
        "right"
    };
    format!("{vertical} {horizontal}")
}

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
        let view = parse_view(&config.source_view)?;
        let photo = tech_pack
            .meta
            .source_photos
            .iter()
            .find(|p| p.view == view)
            .or_else(|| tech_pack.meta.source_photos.first())
            .ok_or_else(|| invalid_input("the analysis has no source photos"))?;
        let source: ImageRevision = services
            .catalog
            .revision(&product.id, &photo.revision_id)
            .map_err(storage_error)?;
        let image = load_image(&services, &source)?;

        let selection = ProviderSelection {
            provider: config.provider,
            model: config.model.clone(),
            image_provider: config.image_provider,
            image_model: config.image_model.clone(),
        };
        let vision = services.vision(&selection)?;
        let imaging = services.imaging(&selection)?;

        let count = config.count;
        let mut regions = detail_plan(&services, ctx.owner.as_deref(), &source).await?;
        regions.truncate(count);
        let mut details: Vec<Detail> = Vec::new();
        if imaging.name() != "local" {
            details.extend(
                named_details(&tech_pack)
                    .into_iter()
                    .take(count)
                    .map(|name| Detail { name, region: None }),
            );
        }
        for crop in &regions {
            if details.len() >= count {
                break;
            }
            let region = [crop.x, crop.y, crop.w, crop.h];
            details.push(Detail {
                name: format!(
                    "{} detail",
                    position_name(region, source.width, source.height)
                ),
                region: Some(region),
            });
        }
        if details.len() < 6 {
            return Err(invalid_input(format!(
                "only {} distinct details could be planned from the {} photo; a close-up set needs at least 6",
                details.len(),
                source.view.as_str()
            )));
        }

        let shots = futures::stream::iter(details.into_iter().enumerate())
            .map(|(index, detail)| {
                let (services, ctx, vision, imaging, image, source) = (
                    services.clone(),
                    ctx.clone(),
                    vision.clone(),
                    imaging.clone(),
                    image.clone(),
                    source.clone(),
                );
                let category = tech_pack.meta.category.value.clone();
                async move {
                    shoot(
                        &services,
                        &ctx,
                        vision.as_ref(),
                        imaging.as_ref(),
                        &image,
                        &source,
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
                    source_revision_id: source.id.clone(),
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
            source_revision_id: source.id,
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

#[allow(clippy::too_many_arguments)]
async fn shoot(
    services: &TechpackServices,
    ctx: &StepContext,
    vision: &dyn VisionProvider,
    imaging: &dyn ImageProvider,
    image: &InlineImage,
    source: &ImageRevision,
    index: usize,
    detail: Detail,
    category: Option<&str>,
) -> Result<(CloseUp, bool), StepError> {
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
            detail: detail.name,
            image_hash,
            crop: detail.region,
            analysis,
        },
        false,
    ))
}
