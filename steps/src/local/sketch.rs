//! Technical-flat line art: the product's edges as black lines on white, cropped to the
//! product, as the starting point of a tech pack's flat sketch.

use image::{GrayImage, Luma, RgbImage};
use serde::{Deserialize, Serialize};

use super::downsample::downsample_to;
use super::edges::{GrayPlane, canny};
use super::foreground::{Foreground, Segmentation};
use super::pixel_box::PixelBox;
use super::recent_photos::DecodedPhoto;

const INK: Luma<u8> = Luma([0]);
const PAPER: u8 = 255;
/// How far outside the product's mask lines are still drawn, as a fraction of the traced
/// region's longer side: the outline itself lies on the mask's edge.
const OUTLINE_REACH: f32 = 0.012;

/// How line art is traced. Thresholds are in grey levels of contrast across an edge.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SketchOptions {
    /// Blur before edge detection; higher ignores fabric texture and JPEG noise.
    pub blur_sigma: f32,
    /// Weak edges this strong are kept when they continue a strong one.
    pub low_threshold: f32,
    /// Edges this strong always start a line.
    pub high_threshold: f32,
    /// Lines are drawn this many pixels either side of the traced edge, so a 1 gives
    /// 3 px strokes that survive printing and downscaling.
    pub stroke_radius_px: u32,
    /// Traced lines shorter than this many pixels are dropped as texture, not seams.
    pub min_line_px: usize,
    /// Crop to the product plus a margin instead of keeping the whole frame.
    pub crop_to_foreground: bool,
    /// Margin around the product as a fraction of its longer side.
    pub margin_fraction: f32,
    /// Photos whose longer side exceeds this are traced on a copy shrunk to it, which
    /// bounds the time and keeps stroke widths sensible on huge uploads; 0 never shrinks.
    pub max_side: u32,
}

impl Default for SketchOptions {
    fn default() -> Self {
        Self {
            blur_sigma: 1.4,
            low_threshold: 10.0,
            high_threshold: 25.0,
            stroke_radius_px: 1,
            min_line_px: 10,
            crop_to_foreground: true,
            margin_fraction: 0.05,
            max_side: 2048,
        }
    }
}

/// Traces `image` into black line art on white. Deterministic: the same photo and options
/// always give the same pixels.
///
/// With `crop_to_foreground` the result covers the product box plus the margin (the whole
/// frame when no product stands out); otherwise it has the photo's size, or the size of the
/// shrunk copy when the photo is larger than `max_side`.
pub fn line_art(image: &RgbImage, options: &SketchOptions) -> GrayImage {
    let working = downsample_to(image, options.max_side);
    trace(&working, &Foreground::detect(&working), options)
}

/// [`line_art`] of a decoded photo, tracing inside the segmentation the photo's view
/// analysis made when the options trace at the size it was made at (the default), instead
/// of finding the product a second time.
pub fn line_art_of(photo: &DecodedPhoto, options: &SketchOptions) -> GrayImage {
    let working = downsample_to(photo.pixels(), options.max_side);
    let segmentation = photo.segmentation();
    if (segmentation.width, segmentation.height) == working.dimensions() {
        trace(&working, segmentation, options)
    } else {
        trace(&working, &Foreground::detect(&working), options)
    }
}

/// Line art of `working` (the photo at the size it is traced at), whose product
/// `foreground` marks.
fn trace(working: &RgbImage, foreground: &Foreground, options: &SketchOptions) -> GrayImage {
    let region = sketch_region(foreground, options);
    if region.w == 0 || region.h == 0 {
        return GrayImage::new(region.w, region.h);
    }
    let plane = GrayPlane::from_rgb_region(working, region);
    let mut edges = canny(
        &plane,
        options.blur_sigma,
        options.low_threshold,
        options.high_threshold,
    );
    // Without a plain backdrop the surroundings have edges of their own (wood grain, a
    // floor's pattern): only lines on or inside the product's outline are drawn.
    if options.crop_to_foreground && matches!(foreground.segmentation, Segmentation::ColourModel(_))
    {
        let reach = (OUTLINE_REACH * region.w.max(region.h) as f32).ceil() as usize;
        let product = grown(foreground, region, reach.max(2));
        for (edge, inside) in edges.iter_mut().zip(&product) {
            *edge &= *inside;
        }
    }
    let lines = drop_short_lines(edges, plane.width, plane.height, options.min_line_px);
    draw_strokes(&lines, region.w, region.h, options.stroke_radius_px)
}

/// The part of the (working) image that is traced.
fn sketch_region(foreground: &Foreground, options: &SketchOptions) -> PixelBox {
    let (width, height) = (foreground.width, foreground.height);
    if !options.crop_to_foreground {
        return PixelBox::full(width, height);
    }
    traced_region(foreground.bbox_or_frame(), (width, height), options)
}

/// The part of a `size` photo whose product box is `product` that [`line_art`] draws: the
/// box plus the margin, clipped to the photo. Callers place measurements on the drawing
/// with it.
pub fn traced_region(product: PixelBox, size: (u32, u32), options: &SketchOptions) -> PixelBox {
    let fraction = if options.margin_fraction.is_finite() {
        options.margin_fraction.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let margin = (fraction * product.w.max(product.h) as f32).round() as u32;
    product.expanded(margin, size.0, size.1)
}

/// The product mask within `region`, grown by `reach` pixels in every direction (a square
/// dilation, done as two passes of running counts), so the outline's own edge is kept.
fn grown(foreground: &Foreground, region: PixelBox, reach: usize) -> Vec<bool> {
    let (w, h) = (region.w as usize, region.h as usize);
    let full_width = foreground.width as usize;
    let mut across = vec![false; w * h];
    let mut prefix = vec![0u32; w + 1];
    for y in 0..h {
        let row = (region.y as usize + y) * full_width + region.x as usize;
        for x in 0..w {
            prefix[x + 1] = prefix[x] + u32::from(foreground.mask[row + x]);
        }
        for x in 0..w {
            let (from, to) = (x.saturating_sub(reach), (x + reach + 1).min(w));
            across[y * w + x] = prefix[to] > prefix[from];
        }
    }
    let mut grown = vec![false; w * h];
    let mut prefix = vec![0u32; h + 1];
    for x in 0..w {
        for y in 0..h {
            prefix[y + 1] = prefix[y] + u32::from(across[y * w + x]);
        }
        for y in 0..h {
            let (from, to) = (y.saturating_sub(reach), (y + reach + 1).min(h));
            grown[y * w + x] = prefix[to] > prefix[from];
        }
    }
    grown
}

/// Removes 8-connected edge groups with fewer than `min_len` pixels.
fn drop_short_lines(
    mut edges: Vec<bool>,
    width: usize,
    height: usize,
    min_len: usize,
) -> Vec<bool> {
    if min_len <= 1 {
        return edges;
    }
    let mut visited = vec![false; edges.len()];
    let mut group = Vec::new();
    let mut stack = Vec::new();
    for start in 0..edges.len() {
        if !edges[start] || visited[start] {
            continue;
        }
        group.clear();
        visited[start] = true;
        stack.push(start);
        while let Some(index) = stack.pop() {
            group.push(index);
            let (x, y) = (index % width, index / width);
            for ny in y.saturating_sub(1)..=(y + 1).min(height - 1) {
                for nx in x.saturating_sub(1)..=(x + 1).min(width - 1) {
                    let neighbour = ny * width + nx;
                    if edges[neighbour] && !visited[neighbour] {
                        visited[neighbour] = true;
                        stack.push(neighbour);
                    }
                }
            }
        }
        if group.len() < min_len {
            for &index in &group {
                edges[index] = false;
            }
        }
    }
    edges
}

/// Paints each edge pixel as a square of ink `radius` pixels out on white paper.
fn draw_strokes(lines: &[bool], width: u32, height: u32, radius: u32) -> GrayImage {
    let mut sketch = GrayImage::from_pixel(width, height, Luma([PAPER]));
    // A stroke wider than a few pixels only blots out detail.
    let radius = radius.min(8);
    for (index, _) in lines.iter().enumerate().filter(|(_, line)| **line) {
        let x = (index % width as usize) as u32;
        let y = (index / width as usize) as u32;
        for sy in y.saturating_sub(radius)..=(y + radius).min(height - 1) {
            for sx in x.saturating_sub(radius)..=(x + radius).min(width - 1) {
                sketch.put_pixel(sx, sy, INK);
            }
        }
    }
    sketch
}

#[cfg(test)]
mod tests {
    use image::Rgb;

    use super::*;

    const RECT: PixelBox = PixelBox {
        x: 50,
        y: 40,
        w: 100,
        h: 60,
    };

    fn rectangle_photo() -> RgbImage {
        let mut image = RgbImage::from_pixel(200, 140, Rgb([248, 248, 246]));
        for y in RECT.y..RECT.bottom() {
            for x in RECT.x..RECT.right() {
                image.put_pixel(x, y, Rgb([40, 90, 160]));
            }
        }
        image
    }

    fn is_ink(sketch: &GrayImage, x: u32, y: u32) -> bool {
        sketch.get_pixel(x, y)[0] == 0
    }

    /// Whether any ink lies within `reach` pixels of (x, y).
    fn ink_near(sketch: &GrayImage, x: u32, y: u32, reach: u32) -> bool {
        (y.saturating_sub(reach)..=y + reach)
            .any(|sy| (x.saturating_sub(reach)..=x + reach).any(|sx| is_ink(sketch, sx, sy)))
    }

    #[test]
    fn a_rectangle_is_traced_along_its_border_and_blank_elsewhere() {
        let options = SketchOptions {
            crop_to_foreground: false,
            ..SketchOptions::default()
        };
        let sketch = line_art(&rectangle_photo(), &options);
        assert_eq!(sketch.dimensions(), (200, 140));
        assert!(sketch.pixels().all(|p| p[0] == 0 || p[0] == 255));

        // Every point along the four sides has ink within a pixel or two.
        for x in (RECT.x + 3..RECT.right() - 3).step_by(4) {
            assert!(ink_near(&sketch, x, RECT.y, 2), "top at x={x}");
            assert!(
                ink_near(&sketch, x, RECT.bottom() - 1, 2),
                "bottom at x={x}"
            );
        }
        for y in (RECT.y + 3..RECT.bottom() - 3).step_by(4) {
            assert!(ink_near(&sketch, RECT.x, y, 2), "left at y={y}");
            assert!(ink_near(&sketch, RECT.right() - 1, y, 2), "right at y={y}");
        }
        // Inside and well outside stay paper.
        for y in RECT.y + 6..RECT.bottom() - 6 {
            for x in RECT.x + 6..RECT.right() - 6 {
                assert!(!is_ink(&sketch, x, y), "inside at ({x}, {y})");
            }
        }
        for (x, y, _) in sketch.enumerate_pixels() {
            let outside =
                x + 6 < RECT.x || x > RECT.right() + 5 || y + 6 < RECT.y || y > RECT.bottom() + 5;
            if outside {
                assert!(!is_ink(&sketch, x, y), "outside at ({x}, {y})");
            }
        }
    }

    #[test]
    fn the_sketch_is_cropped_to_the_product_with_a_margin() {
        let sketch = line_art(&rectangle_photo(), &SketchOptions::default());
        // Margin is 5% of the longer side (100 px): 5 px each way.
        assert_eq!(sketch.dimensions(), (110, 70));
        assert!(ink_near(&sketch, 5, 35, 2));
        assert!(!is_ink(&sketch, 55, 35));
    }

    #[test]
    fn tracing_is_deterministic() {
        let photo = crate::local::draw_sample_product(320, 320);
        let options = SketchOptions::default();
        let first = line_art(&photo, &options);
        assert_eq!(first, line_art(&photo, &options));
        let ink = first.pixels().filter(|p| p[0] == 0).count();
        assert!(
            ink > 500,
            "the sample product should trace to real lines, got {ink} px"
        );
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        assert_eq!(
            line_art(&RgbImage::new(0, 0), &SketchOptions::default()).dimensions(),
            (0, 0)
        );
        let odd = SketchOptions {
            blur_sigma: f32::NAN,
            low_threshold: 90.0,
            high_threshold: 10.0,
            stroke_radius_px: u32::MAX,
            min_line_px: 0,
            margin_fraction: f32::INFINITY,
            max_side: 0,
            crop_to_foreground: true,
        };
        let sketch = line_art(&rectangle_photo(), &odd);
        assert!(sketch.width() > 0);
        let blank = RgbImage::from_pixel(30, 30, Rgb([255, 255, 255]));
        let sketch = line_art(&blank, &SketchOptions::default());
        assert!(sketch.pixels().all(|p| p[0] == 255));
    }
}
