//! The offline `local` provider: answers vision tasks and makes pictures with classical image
//! processing ([`crate::local`]). It never invents: what a photo cannot tell (material,
//! category, construction) is `unknown` with confidence 0. Work runs off the async threads,
//! each piece holding its weight of the memory budget while it decodes and works on pixels.

use std::sync::Arc;

use image::RgbImage;
use serde_json::Value;

use super::imaging::{ImageAnswer, ImageProvider, ImageTask};
use super::vision::{VisionAnswer, VisionProvider, VisionTask};
use super::{InlineImage, ProviderError, Usage};
use crate::local::{
    self, ColorOptions, CropOptions, DecodeLimits, DetailCrop, DominantColor, ProductReading,
    RecentPhotos, SegmentationKind, Silhouette, SketchOptions,
};
use crate::techpack::pom_library::{self, Axis, PomSet, SilhouetteRule};
use crate::techpack::{
    CategoryGuess, CloseUpAnalysis, Color, Estimate, MeasuredAt, NamedValue, PointOfMeasure,
    Region, RegionKind, Source, View, ViewAnalysis, ViewScale, scale,
};
use crate::work_budget::{MemoryBudget, MemoryPermit, current_owner};

pub const LOCAL_MODEL: &str = "classical-v1";

/// Side of an offline close-up, before its locator is set beside it.
const CLOSE_UP_SIDE: u32 = 512;

/// The local provider, for both vision and images.
#[derive(Debug, Clone, Default)]
pub struct LocalProvider {
    pub limits: DecodeLimits,
    /// Shared with every other piece of image work (uploads, planning close-ups).
    pub budget: Arc<MemoryBudget>,
    /// The photos asked about last, decoded, so a run's many requests about one photo
    /// (its analysis, flat, close-up plan and close-ups) decode it and find its product once.
    pub recent: Arc<RecentPhotos>,
}

impl LocalProvider {
    /// Its name as steps and records give it.
    pub const NAME: &'static str = "local";

    /// Waits for the budget that decoding and working on `image` needs, on behalf of the
    /// user whose step asked.
    async fn hold(&self, image: &InlineImage) -> Result<MemoryPermit, ProviderError> {
        self.budget
            .acquire_for_image(current_owner().as_deref(), &image.bytes, &self.limits)
            .await
            .map_err(ProviderError::Busy)
    }
}

fn local_error(e: impl std::fmt::Display) -> ProviderError {
    ProviderError::Local(e.to_string())
}

/// Runs `work` on a blocking thread, holding `permit` until the work ends (also when the
/// caller stops waiting: the pixels live as long as the work does).
async fn off_thread<T: Send + 'static>(
    permit: MemoryPermit,
    work: impl FnOnce() -> Result<T, ProviderError> + Send + 'static,
) -> Result<T, ProviderError> {
    tokio::task::spawn_blocking(move || {
        let result = work();
        drop(permit);
        result
    })
    .await
    .map_err(local_error)?
}

fn first_image(images: &[InlineImage]) -> Result<InlineImage, ProviderError> {
    images
        .first()
        .cloned()
        .ok_or_else(|| ProviderError::Local("no image was given".into()))
}

fn to_value<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("tech pack types serialize")
}

fn color_of(c: &DominantColor) -> Color {
    Color {
        name: c.name.clone(),
        hex: Some(c.hex.clone()),
        pantone: None,
        ral: None,
        source: Source::EstimatedFromPhoto,
        // Colour under studio light is close to the real one, but white balance is unknown.
        confidence: round2(0.5 + 0.4 * f64::from(c.share.clamp(0.0, 1.0))),
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// The category's points of measure that an outline can tell, in this photo's pixels (the
/// step scales them to mm, [`crate::techpack::scale`]): an extent along an axis the view
/// shows, or the width of one row in a view whose horizontal axis is the row's axis. Each
/// records the line it was measured along. The others are not listed here; the tech pack
/// lists them as "measure on the sample".
fn silhouette_points(
    view: View,
    silhouette: &Silhouette,
    set: &PomSet,
    confidence: f64,
) -> Vec<PointOfMeasure> {
    let Some((across, down)) = scale::axes_of(view) else {
        return Vec::new();
    };
    let bbox = silhouette.bbox;
    let (left, top) = (f64::from(bbox.x), f64::from(bbox.y));
    let (right, bottom) = (f64::from(bbox.right()), f64::from(bbox.bottom()));
    let at = |x1: f64, y1: f64, x2: f64, y2: f64| MeasuredAt {
        view,
        x1: round1(x1),
        y1: round1(y1),
        x2: round1(x2),
        y2: round1(y2),
    };
    set.points_of_measure
        .iter()
        .filter_map(|spec| {
            let (px, line) = match spec.silhouette? {
                SilhouetteRule::Extent(axis) if axis == across => {
                    // Drawn across the widest row, where the extent is reached.
                    let y = silhouette.widest().map_or((top + bottom) / 2.0, |s| s.y);
                    (silhouette.extent_horizontal(), at(left, y, right, y))
                }
                SilhouetteRule::Extent(axis) if axis == down => {
                    let x = (left + right) / 2.0;
                    (silhouette.extent_vertical(), at(x, top, x, bottom))
                }
                SilhouetteRule::Span { axis, at: row }
                    if axis == across && down == Axis::Height =>
                {
                    let span = silhouette.span_location(row)?;
                    (span.width(), at(span.left, span.y, span.right, span.y))
                }
                _ => return None,
            };
            Some(PointOfMeasure {
                value: Some(round1(px)),
                unit: "px".into(),
                tolerance: None,
                source: Source::EstimatedFromPhoto,
                confidence,
                measured_at: Some(line),
                ..spec.unmeasured()
            })
        })
        .collect()
}

fn analyze_view(
    reading: ProductReading,
    view: View,
    set: &PomSet,
) -> Result<ViewAnalysis, ProviderError> {
    let ProductReading {
        facts,
        silhouette,
        colors,
    } = reading;
    if facts.foreground_bbox.is_none() {
        return Err(ProviderError::NoProduct {
            view: view.as_str(),
        });
    }
    // How far the outline can be trusted: against a plain backdrop its edges are exact to a
    // pixel or two; found by colour models on a busy scene, less so; not found at all, the
    // "outline" is the frame and measuring it would scale the photo's edges to millimetres.
    let (point_confidence, view_confidence, note) = match facts.segmentation {
        SegmentationKind::PlainBackdrop => (0.5, 0.3, String::new()),
        SegmentationKind::ColourModel => (
            0.35,
            0.2,
            " No plain backdrop: the product was told from its surroundings by colour, so check \
             its outline (measurements less sure than on a plain backdrop)."
                .to_string(),
        ),
        SegmentationKind::Unresolved => (
            0.0,
            0.1,
            format!(
                " No plain backdrop: measurements unreliable ({}); nothing is measured from the \
                 outline and the colours may include the background.",
                facts
                    .unresolved_reason
                    .as_deref()
                    .unwrap_or("the product cannot be told from its background")
            ),
        ),
    };
    let silhouette = silhouette.filter(|_| facts.segmentation != SegmentationKind::Unresolved);
    let mut category_specific = vec![NamedValue {
        name: "silhouette aspect ratio (width / height)".into(),
        value: format!(
            "{:.3}",
            f64::from(facts.object_width_px) / f64::from(facts.object_height_px.max(1))
        ),
        unit: None,
        source: Source::EstimatedFromPhoto,
        confidence: 0.6,
    }];
    category_specific.push(NamedValue {
        name: "share of the photo the product covers".into(),
        value: format!("{:.0}", facts.foreground_coverage * 100.0),
        unit: Some("%".into()),
        source: Source::EstimatedFromPhoto,
        confidence: 0.6,
    });
    let color_words: Vec<String> = colors
        .iter()
        .take(3)
        .map(|c| format!("{} {} ({:.0}%)", c.name, c.hex, c.share * 100.0))
        .collect();
    let summary = format!(
        "{} view, {}×{} px photo; the product spans {}×{} px{}; main colours: {}. Material and construction cannot be \
         read by the offline provider.{note}",
        view.as_str(),
        facts.width,
        facts.height,
        facts.object_width_px,
        facts.object_height_px,
        facts
            .background_hex
            .as_ref()
            .map(|b| format!(" on a {b} backdrop"))
            .unwrap_or_default(),
        if color_words.is_empty() {
            "none found".to_string()
        } else {
            color_words.join(", ")
        },
    );
    Ok(ViewAnalysis {
        view,
        summary,
        materials: vec![Estimate::unknown()],
        colors: colors.iter().map(color_of).collect(),
        dimensions: silhouette
            .as_ref()
            .map(|s| silhouette_points(view, s, set, point_confidence))
            .unwrap_or_default(),
        construction: Vec::new(),
        design_elements: colors
            .iter()
            .filter(|c| c.share >= 0.05)
            .map(|c| {
                format!(
                    "{} colour block covering {:.0}% of the product",
                    c.name,
                    c.share * 100.0
                )
            })
            .collect(),
        // Where each colour is, the one kind of part pixels alone can locate.
        regions: colors
            .iter()
            .map(|c| Region {
                kind: RegionKind::ColourZone,
                name: c.name.clone(),
                x: round1(f64::from(c.at[0])),
                y: round1(f64::from(c.at[1])),
            })
            .collect(),
        bill_of_materials: Vec::new(),
        labels_and_packaging: Vec::new(),
        category_specific,
        scale: ViewScale {
            horizontal_px: silhouette.as_ref().map(Silhouette::extent_horizontal),
            vertical_px: silhouette.as_ref().map(Silhouette::extent_vertical),
            product_box: silhouette
                .as_ref()
                .map(|s| [s.bbox.x, s.bbox.y, s.bbox.w, s.bbox.h]),
            ..ViewScale::default()
        },
        confidence: view_confidence,
    })
}

fn analyze_close_up(image: &RgbImage, detail: &str) -> CloseUpAnalysis {
    // An offline close-up carries its locator; the colours are the close-up's own, and a
    // close-up is all product, so every pixel counts.
    let image = &local::without_locator(image);
    let colors = local::dominant_colors_of_every_pixel(image, &ColorOptions::default());
    let names: Vec<String> = colors
        .iter()
        .take(3)
        .map(|c| format!("{} {}", c.name, c.hex))
        .collect();
    CloseUpAnalysis {
        detail: detail.to_string(),
        materials: vec![Estimate::unknown()],
        construction: Vec::new(),
        notes: format!(
            "{}×{} px close-up; colours: {}. Material and stitching need a vision model or a physical sample.",
            image.width(),
            image.height(),
            if names.is_empty() {
                "none found".into()
            } else {
                names.join(", ")
            }
        ),
        confidence: 0.3,
    }
}

#[async_trait::async_trait]
impl VisionProvider for LocalProvider {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn model(&self) -> &str {
        LOCAL_MODEL
    }

    async fn ask(
        &self,
        task: &VisionTask<'_>,
        images: &[InlineImage],
    ) -> Result<VisionAnswer, ProviderError> {
        let limits = self.limits;
        let value = match task {
            VisionTask::DetectCategory => {
                let reasoning = "the offline provider measures shapes and colours but does not recognise \
                                 product categories; give `category` or use a vision model (--vision-provider openai)";
                to_value(&CategoryGuess {
                    category: Estimate::unknown(),
                    subcategory: Estimate::unknown(),
                    reasoning: reasoning.into(),
                })
            }
            VisionTask::AnalyzeView {
                view,
                category,
                subcategory,
                ..
            } => {
                let view = *view;
                let (set, _) = pom_library::choose(*category, *subcategory);
                let image = first_image(images)?;
                let permit = self.hold(&image).await?;
                let recent = Arc::clone(&self.recent);
                off_thread(permit, move || {
                    let photo = recent.decoded(&image.bytes, &limits).map_err(local_error)?;
                    Ok(to_value(&analyze_view(
                        local::read_photo(&photo, &ColorOptions::default()),
                        view,
                        set,
                    )?))
                })
                .await?
            }
            VisionTask::AnalyzeCloseUp { detail, .. } => {
                let detail = detail.to_string();
                let image = first_image(images)?;
                let permit = self.hold(&image).await?;
                let recent = Arc::clone(&self.recent);
                off_thread(permit, move || {
                    // A close-up this provider drew is kept decoded until it is asked about.
                    let shot = recent.decoded(&image.bytes, &limits).map_err(local_error)?;
                    Ok(to_value(&analyze_close_up(shot.pixels(), &detail)))
                })
                .await?
            }
            VisionTask::EditField { .. } => {
                return Err(ProviderError::Local(
                    "the offline provider cannot interpret instructions; give the new `value` or use a vision model".into(),
                ));
            }
        };
        Ok(VisionAnswer {
            value,
            usage: Usage::default(),
            model: LOCAL_MODEL.into(),
        })
    }
}

/// The most detailed windows of a photo, for planning close-ups.
pub fn plan_detail_regions(
    recent: &RecentPhotos,
    bytes: &Arc<[u8]>,
    limits: &DecodeLimits,
    count: usize,
) -> Result<Vec<DetailCrop>, ProviderError> {
    let photo = recent.decoded(bytes, limits).map_err(local_error)?;
    Ok(local::detail_crops(
        photo.pixels(),
        &CropOptions {
            count,
            ..CropOptions::default()
        },
    ))
}

fn png_answer(bytes: Vec<u8>, width: u32, height: u32) -> ImageAnswer {
    ImageAnswer {
        bytes,
        mime: "image/png".into(),
        width,
        height,
        usage: Usage::default(),
        model: LOCAL_MODEL.into(),
    }
}

/// Stretches each channel to the full range and whitens the backdrop: a cleaner photo of the
/// same product, which is all an offline provider can honestly "regenerate".
fn clean_photo(image: &RgbImage) -> RgbImage {
    let mut low = [255u8; 3];
    let mut high = [0u8; 3];
    for pixel in image.pixels() {
        for c in 0..3 {
            low[c] = low[c].min(pixel[c]);
            high[c] = high[c].max(pixel[c]);
        }
    }
    let mut out = image.clone();
    for pixel in out.pixels_mut() {
        for c in 0..3 {
            let span = f32::from(high[c].saturating_sub(low[c]).max(1));
            pixel[c] = ((f32::from(pixel[c].saturating_sub(low[c])) / span) * 255.0).round() as u8;
        }
        if pixel.0.iter().all(|&v| v >= 235) {
            pixel.0 = [255, 255, 255];
        }
    }
    out
}

#[async_trait::async_trait]
impl ImageProvider for LocalProvider {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn model(&self) -> &str {
        LOCAL_MODEL
    }

    async fn generate(
        &self,
        task: &ImageTask<'_>,
        source: &[InlineImage],
    ) -> Result<ImageAnswer, ProviderError> {
        let limits = self.limits;
        let image = first_image(source)?;
        match task {
            ImageTask::CloseUp { detail, region, .. } => {
                let region = region.ok_or_else(|| {
                    ProviderError::Local(format!("the offline provider can only make close-ups of a region of a photo (`{detail}` has none)"))
                })?;
                let label = detail.to_string();
                let permit = self.hold(&image).await?;
                let recent = Arc::clone(&self.recent);
                off_thread(permit, move || {
                    let photo = recent.decoded(&image.bytes, &limits).map_err(local_error)?;
                    let crop = DetailCrop {
                        label,
                        x: region[0],
                        y: region[1],
                        w: region[2],
                        h: region[3],
                        ..DetailCrop::default()
                    };
                    let shot = local::cut_detail(photo.pixels(), &crop, CLOSE_UP_SIDE)
                        .map_err(local_error)?;
                    let shot = local::with_locator(
                        &shot,
                        photo.locator_thumbnail(),
                        photo.pixels().dimensions(),
                        crop.pixel_box(),
                    );
                    let (w, h) = shot.dimensions();
                    let png = local::encode_png(&shot).map_err(local_error)?;
                    // Its analysis comes next and would decode it again.
                    recent.remember(&Arc::from(png.as_slice()), &limits, shot);
                    Ok(png_answer(png, w, h))
                })
                .await
            }
            ImageTask::Sketch { .. } => {
                let permit = self.hold(&image).await?;
                let recent = Arc::clone(&self.recent);
                off_thread(permit, move || {
                    let photo = recent.decoded(&image.bytes, &limits).map_err(local_error)?;
                    let drawing = local::line_art_of(&photo, &SketchOptions::default());
                    let (w, h) = drawing.dimensions();
                    Ok(png_answer(
                        local::encode_png(&drawing).map_err(local_error)?,
                        w,
                        h,
                    ))
                })
                .await
            }
            ImageTask::Regenerate { .. } => {
                let permit = self.hold(&image).await?;
                off_thread(permit, move || {
                    let decoded = local::decode(&image.bytes, &limits).map_err(local_error)?;
                    let cleaned = clean_photo(&decoded);
                    let (w, h) = cleaned.dimensions();
                    Ok(png_answer(
                        local::encode_png(&cleaned).map_err(local_error)?,
                        w,
                        h,
                    ))
                })
                .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use image::Rgb;

    use super::*;

    #[test]
    fn a_photo_without_a_plain_backdrop_measures_nothing_and_says_so() {
        // Confetti: every pixel an unrelated colour, so neither a backdrop nor a product
        // can be told apart.
        let mut image = RgbImage::new(120, 90);
        for (x, y, pixel) in image.enumerate_pixels_mut() {
            let v = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503))
                .wrapping_mul(2_246_822_519);
            *pixel = Rgb([(v >> 8) as u8, (v >> 16) as u8, (v >> 24) as u8]);
        }
        let (set, _) = pom_library::choose(Some("bags"), None);
        let analysis = analyze_view(
            local::read_product(&image, &ColorOptions::default()),
            View::Front,
            set,
        )
        .unwrap();
        assert!(analysis.dimensions.is_empty(), "{:?}", analysis.dimensions);
        assert_eq!(analysis.scale.horizontal_px, None);
        assert!(
            analysis
                .summary
                .contains("No plain backdrop: measurements unreliable ("),
            "{}",
            analysis.summary
        );
        assert!(analysis.confidence <= 0.1);

        let sample = local::draw_sample_product(300, 240);
        let analysis = analyze_view(
            local::read_product(&sample, &ColorOptions::default()),
            View::Front,
            set,
        )
        .unwrap();
        let codes: Vec<&str> = analysis
            .dimensions
            .iter()
            .map(|p| p.code.as_str())
            .collect();
        assert_eq!(
            codes,
            ["W", "H", "WB"],
            "a front view shows width and height, not depth"
        );
        assert!(
            analysis
                .dimensions
                .iter()
                .all(|p| p.unit == "px" && p.value.is_some())
        );
    }
}
