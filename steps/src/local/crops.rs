//! Picks close-up details: the windows of the product with the most going on (seams,
//! stitching, labels, hardware), scored by edge density and local contrast, spread out
//! so no two show the same spot.

use image::RgbImage;
use image::imageops;
use serde::{Deserialize, Serialize};

use super::LocalError;
use super::colors::{ColorOptions, dominant_colors_of_mask};
use super::downsample::downsample_to;
use super::edges::GrayPlane;
use super::foreground::Foreground;
use super::lab::Lab;
use super::pixel_box::PixelBox;
use super::resample::{Filter, resized};

/// Longest side windows are scored on; details that matter survive at this size and the
/// scoring then costs the same for any upload.
const WORKING_MAX_SIDE: u32 = 512;
/// Blur before measuring gradients, so JPEG noise is not mistaken for detail.
const SCORING_BLUR_SIGMA: f32 = 1.0;
/// Gradient (grey levels) above which a pixel counts as lying on an edge.
const EDGE_LEVEL: f32 = 16.0;
/// Standard deviation (grey levels) at which local contrast stops adding to the score.
const FULL_CONTRAST: f64 = 64.0;
/// Weight of edge density in the score; the rest is local contrast.
const EDGE_WEIGHT: f64 = 0.7;
/// A window needs at least this share of product pixels: a close-up is of the product, not
/// of the backdrop or the table around it.
const MIN_PRODUCT_SHARE: f64 = 0.7;
/// Smallest window side in the photo's own pixels: a smaller piece enlarged to a close-up
/// shows blur, not detail.
pub const MIN_CLOSE_UP_SIDE_PX: u32 = 64;
/// Side of the grey thumbnail two windows are compared by.
const FINGERPRINT_SIDE: u32 = 8;
/// Two windows whose thumbnails differ by less than this (mean grey levels) and whose mean
/// colours are closer than [`SAME_COLOUR_DELTA_E`] show the same thing: plain canvas twice.
const SAME_PATTERN_GREY_LEVELS: f32 = 10.0;
const SAME_COLOUR_DELTA_E: f32 = 8.0;
/// Windows scoring below this are flat and not worth a close-up.
const MIN_SCORE: f32 = 0.01;
/// Smallest window side in working pixels.
const MIN_WINDOW: u32 = 8;

/// How close-ups are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CropOptions {
    /// How many close-ups to return at most (fewer when the product has less detail).
    pub count: usize,
    /// Window side as a fraction of the product box's shorter side.
    pub window_fraction: f32,
    /// Largest intersection-over-union allowed between two chosen windows.
    pub max_overlap: f32,
}

impl Default for CropOptions {
    fn default() -> Self {
        Self {
            count: 8,
            window_fraction: 0.25,
            max_overlap: 0.3,
        }
    }
}

/// One close-up window, in the pixels of the photo it was chosen from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DetailCrop {
    /// `detail-1` for the most detailed window, then `detail-2` and so on.
    pub label: String,
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
    /// 0..=1; how much edge and contrast the window holds, weighted by product share.
    pub score: f32,
    /// Where on the product the window lies, e.g. "upper left", "centre".
    #[serde(default)]
    pub place: String,
    /// Names of the window's main colours, most common first.
    #[serde(default)]
    pub colours: Vec<String>,
    /// What the window looks like, small: compared to tell near-identical close-ups apart,
    /// also across photos ([`DetailCrop::looks_like`]).
    #[serde(default)]
    pub fingerprint: Fingerprint,
}

/// A window's look in brief: its grey thumbnail (mean removed) and its mean colour.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// `FINGERPRINT_SIDE`² grey levels, each minus the thumbnail's mean, plus 128.
    pub pattern: Vec<u8>,
    /// Mean colour of the window.
    pub rgb: [u8; 3],
}

impl DetailCrop {
    /// Whether the two windows show the same thing (same pattern, same colour), wherever
    /// they lie and in whichever photo.
    pub fn looks_like(&self, other: &DetailCrop) -> bool {
        let (a, b) = (&self.fingerprint, &other.fingerprint);
        if a.pattern.is_empty() || a.pattern.len() != b.pattern.len() {
            return false;
        }
        let grey: f32 = a
            .pattern
            .iter()
            .zip(&b.pattern)
            .map(|(x, y)| f32::from(x.abs_diff(*y)))
            .sum::<f32>()
            / a.pattern.len() as f32;
        grey < SAME_PATTERN_GREY_LEVELS
            && Lab::from_rgb(a.rgb).delta_e(&Lab::from_rgb(b.rgb)) < SAME_COLOUR_DELTA_E
    }

    pub fn pixel_box(&self) -> PixelBox {
        PixelBox {
            x: self.x,
            y: self.y,
            w: self.w,
            h: self.h,
        }
    }
}

/// Chooses up to `options.count` close-up windows of the product in `image`, best first.
///
/// Windows are squares of `window_fraction` of the product's shorter side laid on a grid
/// with half-window steps; each is scored on a copy of the photo at most 512 px across,
/// and the best are taken greedily while they overlap earlier picks by less than
/// `max_overlap` and do not look like one (plain canvas twice is one close-up). A window
/// must be mostly product and at least [`MIN_CLOSE_UP_SIDE_PX`] of the photo's pixels
/// across, so a product too small in the frame gets none. Ties go to the upper-left window,
/// so the choice is reproducible.
pub fn detail_crops(image: &RgbImage, options: &CropOptions) -> Vec<DetailCrop> {
    if options.count == 0 {
        return Vec::new();
    }
    let working = downsample_to(image, WORKING_MAX_SIDE);
    let foreground = Foreground::detect(&working);
    let product = foreground.bbox_or_frame();
    let shorter = product.w.min(product.h);
    if shorter == 0 {
        return Vec::new();
    }
    let fraction = if options.window_fraction.is_finite() {
        options.window_fraction.clamp(0.01, 1.0)
    } else {
        CropOptions::default().window_fraction
    };
    // Photo pixels per working pixel.
    let scale = f64::from(image.width()) / f64::from(working.width().max(1));
    let min_window = ((f64::from(MIN_CLOSE_UP_SIDE_PX) / scale).ceil() as u32).max(MIN_WINDOW);
    let window = ((shorter as f32 * fraction).round() as u32)
        .max(min_window)
        .min(shorter);
    if f64::from(window) * scale < f64::from(MIN_CLOSE_UP_SIDE_PX) - 0.5 {
        return Vec::new();
    }
    let stride = (window / 2).max(1);

    let maps = ScoreMaps::new(&working, &foreground);
    let mut candidates: Vec<(PixelBox, f32)> = Vec::new();
    for y in grid_positions(product.y, product.h, window, stride) {
        for x in grid_positions(product.x, product.w, window, stride) {
            let candidate = PixelBox {
                x,
                y,
                w: window,
                h: window,
            };
            if let Some(score) = maps.score(candidate) {
                candidates.push((candidate, score));
            }
        }
    }
    candidates.sort_by(|a, b| {
        b.1.total_cmp(&a.1)
            .then(a.0.y.cmp(&b.0.y))
            .then(a.0.x.cmp(&b.0.x))
    });

    let working_size = working.dimensions();
    // Chosen windows in working pixels (for overlap) beside the crops in the photo's.
    let mut chosen: Vec<(PixelBox, DetailCrop)> = Vec::new();
    for (candidate, score) in candidates {
        if chosen.len() == options.count {
            break;
        }
        if chosen
            .iter()
            .any(|(picked, _)| picked.iou(&candidate) >= options.max_overlap)
        {
            continue;
        }
        let full = candidate.rescaled(working_size, image.dimensions());
        let crop = DetailCrop {
            label: format!("detail-{}", chosen.len() + 1),
            x: full.x,
            y: full.y,
            w: full.w,
            h: full.h,
            score,
            place: place_on(candidate, product),
            colours: colour_names(&working, &foreground, candidate),
            fingerprint: fingerprint(&working, candidate),
        };
        if chosen.iter().any(|(_, picked)| picked.looks_like(&crop)) {
            continue;
        }
        chosen.push((candidate, crop));
    }
    chosen.into_iter().map(|(_, crop)| crop).collect()
}

/// "upper left", "centre", "lower right" … of `window` within the product's box.
fn place_on(window: PixelBox, product: PixelBox) -> String {
    let across = (f64::from(window.x) + f64::from(window.w) / 2.0 - f64::from(product.x))
        / f64::from(product.w.max(1));
    let down = (f64::from(window.y) + f64::from(window.h) / 2.0 - f64::from(product.y))
        / f64::from(product.h.max(1));
    let third = |t: f64, words: [&'static str; 3]| {
        if t < 1.0 / 3.0 {
            words[0]
        } else if t < 2.0 / 3.0 {
            words[1]
        } else {
            words[2]
        }
    };
    match (
        third(down, ["upper", "middle", "lower"]),
        third(across, ["left", "centre", "right"]),
    ) {
        ("middle", "centre") => "centre".to_string(),
        (vertical, horizontal) => format!("{vertical} {horizontal}"),
    }
}

/// The names of the main colours of the product pixels in `window`.
fn colour_names(image: &RgbImage, foreground: &Foreground, window: PixelBox) -> Vec<String> {
    let piece = imageops::crop_imm(image, window.x, window.y, window.w, window.h).to_image();
    let width = foreground.width as usize;
    let mask: Vec<bool> = (window.y..window.bottom())
        .flat_map(|y| {
            let row = y as usize * width;
            (window.x..window.right()).map(move |x| row + x as usize)
        })
        .map(|index| foreground.mask[index])
        .collect();
    let options = ColorOptions {
        max_colors: 3,
        min_share: 0.1,
        ..ColorOptions::default()
    };
    dominant_colors_of_mask(&piece, &mask, &options)
        .into_iter()
        .map(|colour| colour.name)
        .collect()
}

/// The window's [`Fingerprint`].
fn fingerprint(image: &RgbImage, window: PixelBox) -> Fingerprint {
    let piece = imageops::crop_imm(image, window.x, window.y, window.w, window.h).to_image();
    let count = f64::from(window.w) * f64::from(window.h);
    let mut sum = [0f64; 3];
    for pixel in piece.pixels() {
        for (total, value) in sum.iter_mut().zip(pixel.0) {
            *total += f64::from(value);
        }
    }
    let small = imageops::thumbnail(&piece, FINGERPRINT_SIDE, FINGERPRINT_SIDE);
    let grey: Vec<f32> = small
        .pixels()
        .map(|p| 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
        .collect();
    let mean = grey.iter().sum::<f32>() / grey.len().max(1) as f32;
    Fingerprint {
        pattern: grey
            .iter()
            .map(|g| (g - mean + 128.0).round().clamp(0.0, 255.0) as u8)
            .collect(),
        rgb: sum.map(|s| (s / count.max(1.0)).round() as u8),
    }
}

/// Cuts `crop` out of `image` and resizes it so its longer side is `target_side` pixels
/// (at least 1), with Catmull-Rom filtering for crisp enlargements.
///
/// # Errors
/// [`LocalError::CropOutsideImage`] when the crop is empty or not inside `image`, for
/// example a crop chosen on a different photo.
pub fn cut_detail(
    image: &RgbImage,
    crop: &DetailCrop,
    target_side: u32,
) -> Result<RgbImage, LocalError> {
    let (width, height) = image.dimensions();
    let window = crop.pixel_box();
    if !window.fits_within(width, height) {
        return Err(LocalError::CropOutsideImage {
            crop: window,
            width,
            height,
        });
    }
    let target = f64::from(target_side.max(1));
    let scale = target / f64::from(window.w.max(window.h));
    let new_width = ((f64::from(window.w) * scale).round() as u32).max(1);
    let new_height = ((f64::from(window.h) * scale).round() as u32).max(1);
    Ok(resized(
        image,
        window,
        new_width,
        new_height,
        Filter::CatmullRom,
    ))
}

/// Window origins along one axis: every `stride` from `start`, plus one flush with the
/// far end so the last strip of the product is not skipped.
fn grid_positions(start: u32, length: u32, window: u32, stride: u32) -> Vec<u32> {
    if window > length {
        return Vec::new();
    }
    let last = start + length - window;
    let mut positions: Vec<u32> = (start..=last).step_by(stride as usize).collect();
    if positions.last() != Some(&last) {
        positions.push(last);
    }
    positions
}

/// Summed-area tables, so every window is scored in constant time.
struct ScoreMaps {
    /// Row stride of the tables: image width + 1.
    stride: usize,
    edges: Vec<f64>,
    luma: Vec<f64>,
    luma_squared: Vec<f64>,
    product: Vec<f64>,
}

impl ScoreMaps {
    fn new(image: &RgbImage, foreground: &Foreground) -> Self {
        let plane =
            GrayPlane::from_rgb_region(image, PixelBox::full(image.width(), image.height()));
        let gradients = plane.blurred(SCORING_BLUR_SIGMA).gradients();
        let (w, h) = (plane.width, plane.height);
        let stride = w + 1;
        let mut maps = Self {
            stride,
            edges: vec![0.0; stride * (h + 1)],
            luma: vec![0.0; stride * (h + 1)],
            luma_squared: vec![0.0; stride * (h + 1)],
            product: vec![0.0; stride * (h + 1)],
        };
        for y in 0..h {
            let mut row = [0.0f64; 4];
            for x in 0..w {
                let index = y * w + x;
                let luma = f64::from(plane.data[index]);
                row[0] += f64::from(u8::from(gradients.magnitude[index] > EDGE_LEVEL));
                row[1] += luma;
                row[2] += luma * luma;
                row[3] += f64::from(u8::from(foreground.mask[index]));
                let above = y * stride + x + 1;
                let here = (y + 1) * stride + x + 1;
                maps.edges[here] = maps.edges[above] + row[0];
                maps.luma[here] = maps.luma[above] + row[1];
                maps.luma_squared[here] = maps.luma_squared[above] + row[2];
                maps.product[here] = maps.product[above] + row[3];
            }
        }
        maps
    }

    fn sum(&self, table: &[f64], window: PixelBox) -> f64 {
        let (x0, y0) = (window.x as usize, window.y as usize);
        let (x1, y1) = (window.right() as usize, window.bottom() as usize);
        table[y1 * self.stride + x1] - table[y0 * self.stride + x1] - table[y1 * self.stride + x0]
            + table[y0 * self.stride + x0]
    }

    /// The window's score, or `None` when it is mostly backdrop or flat.
    fn score(&self, window: PixelBox) -> Option<f32> {
        let area = window.area() as f64;
        let product_share = self.sum(&self.product, window) / area;
        if product_share < MIN_PRODUCT_SHARE {
            return None;
        }
        let edge_density = self.sum(&self.edges, window) / area;
        let mean = self.sum(&self.luma, window) / area;
        let variance = (self.sum(&self.luma_squared, window) / area - mean * mean).max(0.0);
        let contrast = (variance.sqrt() / FULL_CONTRAST).min(1.0);
        let score =
            (product_share * (EDGE_WEIGHT * edge_density + (1.0 - EDGE_WEIGHT) * contrast)) as f32;
        (score >= MIN_SCORE).then_some(score)
    }
}

#[cfg(test)]
mod tests {
    use image::Rgb;

    use super::*;

    const PATCH: PixelBox = PixelBox {
        x: 180,
        y: 150,
        w: 60,
        h: 60,
    };

    /// A flat beige product on white with one checkered patch in its lower right.
    fn product_with_textured_patch() -> RgbImage {
        let mut image = RgbImage::from_pixel(320, 280, Rgb([250, 250, 250]));
        for y in 30..250 {
            for x in 30..290 {
                image.put_pixel(x, y, Rgb([200, 180, 150]));
            }
        }
        for y in PATCH.y..PATCH.bottom() {
            for x in PATCH.x..PATCH.right() {
                let dark = ((x / 4) + (y / 4)) % 2 == 0;
                let color = if dark { [60, 40, 30] } else { [230, 220, 200] };
                image.put_pixel(x, y, Rgb(color));
            }
        }
        image
    }

    #[test]
    fn the_textured_patch_is_the_first_close_up() {
        let crops = detail_crops(&product_with_textured_patch(), &CropOptions::default());
        assert!(!crops.is_empty());
        let best = &crops[0];
        assert_eq!(best.label, "detail-1");
        let overlap = best.pixel_box().iou(&PATCH);
        let inside_share = {
            let b = best.pixel_box();
            let w = b
                .right()
                .min(PATCH.right())
                .saturating_sub(b.x.max(PATCH.x));
            let h = b
                .bottom()
                .min(PATCH.bottom())
                .saturating_sub(b.y.max(PATCH.y));
            f64::from(w * h) / b.area() as f64
        };
        assert!(
            inside_share > 0.5,
            "best crop {best:?} overlaps the patch by {overlap}"
        );
        // Flat parts of the product score far lower than the patch.
        let flat = crops.iter().filter(|c| c.pixel_box().iou(&PATCH) == 0.0);
        for crop in flat {
            assert!(crop.score < best.score / 2.0, "{crop:?} vs {best:?}");
        }
    }

    #[test]
    fn chosen_windows_do_not_overlap_much_and_lie_in_the_photo() {
        let image = crate::local::draw_sample_product(600, 480);
        let crops = detail_crops(&image, &CropOptions::default());
        for (i, a) in crops.iter().enumerate() {
            assert!(a.pixel_box().fits_within(600, 480), "{a:?}");
            assert_eq!(a.label, format!("detail-{}", i + 1));
            for b in &crops[i + 1..] {
                assert!(a.pixel_box().iou(&b.pixel_box()) < 0.3, "{a:?} {b:?}");
                assert!(a.score >= b.score);
            }
        }
    }

    #[test]
    fn the_sample_product_offers_at_least_six_close_ups() {
        let image = crate::local::draw_sample_product(512, 512);
        let crops = detail_crops(&image, &CropOptions::default());
        assert!(crops.len() >= 6, "{crops:?}");
    }

    #[test]
    fn choosing_is_deterministic() {
        let image = crate::local::draw_sample_product(700, 500);
        let options = CropOptions::default();
        assert_eq!(
            detail_crops(&image, &options),
            detail_crops(&image, &options)
        );
    }

    #[test]
    fn crops_from_a_large_photo_are_in_its_pixels_and_cut_to_size() {
        let image = crate::local::draw_sample_product(1200, 900);
        let crops = detail_crops(&image, &CropOptions::default());
        assert!(!crops.is_empty());
        let crop = &crops[0];
        assert!(crop.pixel_box().fits_within(1200, 900), "{crop:?}");
        let close_up = cut_detail(&image, crop, 512).unwrap();
        assert_eq!(close_up.width().max(close_up.height()), 512);
        assert_eq!(close_up, cut_detail(&image, crop, 512).unwrap());
    }

    #[test]
    fn a_crop_outside_the_photo_is_an_error() {
        let image = RgbImage::new(50, 50);
        let crop = DetailCrop {
            label: "detail-1".into(),
            x: 40,
            y: 40,
            w: 20,
            h: 20,
            score: 1.0,
            ..DetailCrop::default()
        };
        let error = cut_detail(&image, &crop, 256).unwrap_err();
        assert!(
            matches!(error, LocalError::CropOutsideImage { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("50x50"), "{error}");
    }

    #[test]
    fn a_blank_photo_has_no_close_ups() {
        let image = RgbImage::from_pixel(200, 200, Rgb([255, 255, 255]));
        assert!(detail_crops(&image, &CropOptions::default()).is_empty());
        assert!(detail_crops(&RgbImage::new(0, 0), &CropOptions::default()).is_empty());
    }
}
