//! `techpack/generate-sketches` (3 credits): black-and-white technical flats of the front,
//! back and side, with callouts (measurements, materials, colours) kept as data and rendered
//! as an SVG overlay on the drawing.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use techpack_engine::store::now_ms;
use techpack_engine::{Step, StepContext, StepError, StepKind, StepOutput, step::parse_config};

use super::analyze_base_views::short_hash;
use super::failure::storage_error;
use super::{TechpackServices, describe_images};
use super::{load_image, output, owned_analysis, owned_product, parse_view};
use crate::flat::{callouts_for_view, drawing_frame};
use crate::providers::{ImageChoice, ProviderSelection};
use crate::providers::{ImageTask, InlineImage};
use crate::storage::SketchRecord;
use crate::storage::cache::CacheKey;
use crate::techpack::{Callout, SCHEMA_VERSION, TechPack, View};

pub struct GenerateSketches;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    product_id: String,
    analysis_id: String,
    #[serde(default = "default_views")]
    views: Vec<String>,
    image_provider: Option<ImageChoice>,
    image_model: Option<String>,
}

fn default_views() -> Vec<String> {
    vec!["front".into(), "back".into(), "side".into()]
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CachedDrawing {
    image_hash: String,
    width: u32,
    height: u32,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Sketch {
    pub id: String,
    pub view: View,
    pub image_hash: String,
    pub width: u32,
    pub height: u32,
    pub callouts: Vec<Callout>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Skipped {
    pub view: View,
    pub reason: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Sketches {
    pub product_id: String,
    pub analysis_id: String,
    pub sketches: Vec<Sketch>,
    pub skipped: Vec<Skipped>,
    pub cached: usize,
}

impl StepKind for GenerateSketches {
    fn description(&self) -> &str {
        "draws front/back/side technical flats with measurement and material callouts (PNG + SVG overlay)"
    }

    fn build(&self, config: &Value) -> Result<Arc<dyn Step>, String> {
        let config: Config = parse_config(config)?;
        if config.views.is_empty() {
            return Err("`views` must name at least one view".into());
        }
        for view in &config.views {
            parse_view(view).map_err(|e| e.message)?;
        }
        Ok(Arc::new(GenerateSketchesStep(config)))
    }
}

struct GenerateSketchesStep(Config);

#[async_trait::async_trait]
impl Step for GenerateSketchesStep {
    async fn run(&self, ctx: StepContext) -> Result<StepOutput, StepError> {
        let config = &self.0;
        let services = TechpackServices::from_context(&ctx)?;
        let product = owned_product(&services, &ctx, &config.product_id)?;
        let (analysis, tech_pack) = owned_analysis(&services, &product, &config.analysis_id)?;
        let selection = ProviderSelection {
            image_provider: config.image_provider,
            image_model: config.image_model.clone(),
            ..Default::default()
        };
        let imaging = services.imaging(&selection)?;
        let generative = imaging.name() != crate::providers::LocalProvider::NAME;

        let mut skipped = Vec::new();
        let mut jobs = Vec::new();
        for view_name in &config.views {
            let view = parse_view(view_name)?;
            let own = tech_pack.meta.source_photos.iter().find(|p| p.view == view);
            let photo = match (own, generative) {
                (Some(photo), _) => photo,
                // A generative model may draw a view it was not shown, from the front photo.
                (None, true) => match tech_pack.meta.source_photos.first() {
                    Some(photo) => photo,
                    None => continue,
                },
                (None, false) => {
                    skipped.push(Skipped {
                        view,
                        reason: format!("no {} photo was given; the offline provider draws only views it has photos of", view.as_str()),
                    });
                    continue;
                }
            };
            jobs.push((view, photo.clone()));
        }

        let description = describe_product(&tech_pack);
        let drawings = futures::future::join_all(jobs.iter().map(|(view, photo)| {
            let (services, ctx, imaging, description) = (
                services.clone(),
                ctx.clone(),
                imaging.clone(),
                description.clone(),
            );
            let product_id = product.id.clone();
            async move {
                let revision = services
                    .catalog
                    .revision(&product_id, &photo.revision_id)
                    .map_err(storage_error)?;
                let variant = format!("{}:{description}", view.as_str());
                let key = CacheKey {
                    image_sha256: &revision.image_hash,
                    operation: "generate-sketch",
                    schema_version: SCHEMA_VERSION,
                    provider: imaging.name(),
                    model: imaging.model(),
                    variant: &variant,
                };
                if let Some(hit) = services
                    .catalog
                    .cache
                    .get::<CachedDrawing>(&key)
                    .map_err(storage_error)?
                {
                    return Ok::<_, StepError>((hit, true));
                }
                let image: InlineImage = load_image(&services, &revision)?;
                let task = ImageTask::Sketch {
                    view: *view,
                    description: &description,
                };
                let summary = describe_images(&[(
                    revision.view.as_str().to_string(),
                    &image,
                    &revision.image_hash,
                )]);
                let drawing = services
                    .draw(
                        &ctx,
                        imaging.as_ref(),
                        &task,
                        std::slice::from_ref(&image),
                        summary,
                    )
                    .await?;
                let image_hash = services
                    .catalog
                    .blobs
                    .put(&drawing.bytes)
                    .map_err(storage_error)?;
                let cached = CachedDrawing {
                    image_hash,
                    width: drawing.width,
                    height: drawing.height,
                };
                services
                    .catalog
                    .cache
                    .put(&key, &cached)
                    .map_err(storage_error)?;
                Ok((cached, false))
            }
        }))
        .await;

        let mut sketches = Vec::new();
        let mut cached = 0;
        for ((view, _), drawing) in jobs.iter().zip(drawings) {
            let (drawing, hit) = drawing?;
            cached += usize::from(hit);
            // Close-ups are made beside the sketches: their callouts join when the flat is
            // exported (`export::StoredTechPack::load`).
            let frame = drawing_frame(&tech_pack, *view, !generative);
            let callouts = callouts_for_view(&tech_pack, *view, frame, &[]);
            let id = format!(
                "sk_{}",
                short_hash(&format!("{}#{}", ctx.idempotency_key, view.as_str()))
            );
            services
                .catalog
                .put_sketch(&SketchRecord {
                    id: id.clone(),
                    product_id: product.id.clone(),
                    analysis_id: analysis.id.clone(),
                    view: *view,
                    image_hash: drawing.image_hash.clone(),
                    width: drawing.width,
                    height: drawing.height,
                    callouts: callouts.clone(),
                    provider: imaging.name().into(),
                    model: imaging.model().into(),
                    created_at: now_ms(),
                })
                .map_err(storage_error)?;
            sketches.push(Sketch {
                id,
                view: *view,
                image_hash: drawing.image_hash,
                width: drawing.width,
                height: drawing.height,
                callouts,
            });
        }
        let all_cached = cached == sketches.len();
        let value = output(&Sketches {
            product_id: product.id,
            analysis_id: analysis.id,
            sketches,
            skipped,
            cached,
        });
        Ok(if all_cached {
            StepOutput::free(value)
        } else {
            StepOutput::new(value)
        })
    }
}

/// A one-line description of the product for drawing prompts.
fn describe_product(tech_pack: &TechPack) -> String {
    let category = tech_pack
        .meta
        .category
        .value
        .clone()
        .unwrap_or_else(|| "product".into());
    let colors: Vec<String> = tech_pack
        .colorways
        .iter()
        .flat_map(|c| c.colors.iter().map(|c| c.name.clone()))
        .take(3)
        .collect();
    let elements: Vec<&str> = tech_pack
        .views
        .iter()
        .flat_map(|v| v.design_elements.iter().map(String::as_str))
        .take(4)
        .collect();
    format!(
        "{category} ({}); {}",
        colors.join(", "),
        elements.join("; ")
    )
}
