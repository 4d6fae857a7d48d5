//! Tells the product apart from a plain studio backdrop. The backdrop colour is read from
//! the image border, where product photos almost always show only backdrop; every pixel
//! clearly different from it is product.

use image::RgbImage;

use super::lab::Lab;
use super::pixel_box::PixelBox;

/// Colour difference (CIE76) a pixel needs from the backdrop to count as product when the
/// backdrop itself is perfectly flat; a noisy backdrop raises it.
const BASE_TOLERANCE: f32 = 10.0;
/// How many times the typical backdrop noise is added to the tolerance.
const NOISE_FACTOR: f32 = 3.0;
/// Ceiling on the widened tolerance: a border that varies more than this is not a
/// backdrop, and widening further would swallow pale products.
const MAX_TOLERANCE: f32 = 25.0;
/// Share of border pixels that must match the backdrop colour for it to count as a plain
/// backdrop; below this the product fills the frame or the scene is busy.
const MIN_UNIFORM_BORDER_SHARE: f32 = 0.6;
/// A blob smaller than this fraction of the largest one is dust, a JPEG artefact or a
/// stray shadow speck, not part of the product.
const SPECK_FRACTION_OF_LARGEST: u64 = 50;

/// Enclosed backdrop-coloured areas up to this fraction of the product's pixels are
/// product too: a white label or cream stitching on a pale bag. Larger enclosed areas,
/// such as the opening under a handle, stay backdrop.
const MAX_HOLE_FRACTION_OF_PRODUCT: u64 = 10;

/// The plain background a product was photographed on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Backdrop {
    /// Median border colour.
    pub color: [u8; 3],
    pub lab: Lab,
    /// Colour difference above which a pixel is product, widened for noisy backdrops.
    pub tolerance: f32,
}

impl Backdrop {
    /// Estimates the backdrop from the border, or `None` when the border is not plain.
    pub fn estimate(image: &RgbImage) -> Option<Backdrop> {
        let (width, height) = image.dimensions();
        if width == 0 || height == 0 {
            return None;
        }
        let border = border_pixels(image);
        let color = median_color(&border);
        let lab = Lab::from_rgb(color);
        let mut distances: Vec<f32> = border
            .iter()
            .map(|&rgb| Lab::from_rgb(rgb).delta_e(&lab))
            .collect();
        distances.sort_by(f32::total_cmp);
        let typical_noise = distances[distances.len() / 2];
        let tolerance = (BASE_TOLERANCE + NOISE_FACTOR * typical_noise).min(MAX_TOLERANCE);
        let matching = distances.iter().filter(|&&d| d <= tolerance).count();
        if (matching as f32) < MIN_UNIFORM_BORDER_SHARE * distances.len() as f32 {
            return None;
        }
        Some(Backdrop {
            color,
            lab,
            tolerance,
        })
    }

    /// Whether `rgb` differs enough from the backdrop to be product.
    pub fn is_product(&self, rgb: [u8; 3]) -> bool {
        Lab::from_rgb(rgb).distance_squared(&self.lab) > self.tolerance * self.tolerance
    }
}

/// Which pixels are product, and where they are.
#[derive(Debug, Clone)]
pub(crate) struct Foreground {
    pub width: u32,
    pub height: u32,
    /// Row-major, one entry per pixel; specks are already removed.
    pub mask: Vec<bool>,
    /// Box around every kept product pixel; `None` when nothing stands out.
    pub bbox: Option<PixelBox>,
    pub pixel_count: u64,
    /// `None` when the border is not a plain backdrop; then the whole frame is product.
    pub backdrop: Option<Backdrop>,
}

impl Foreground {
    /// Segments `image` into product and backdrop.
    pub fn detect(image: &RgbImage) -> Foreground {
        let (width, height) = image.dimensions();
        let backdrop = Backdrop::estimate(image);
        let mask: Vec<bool> = match &backdrop {
            Some(backdrop) => image.pixels().map(|p| backdrop.is_product(p.0)).collect(),
            None => vec![true; image.pixels().len()],
        };
        let (mask, bbox, pixel_count) = drop_specks(mask, width, height);
        let (mask, pixel_count) = fill_small_holes(mask, width, height, pixel_count);
        Foreground {
            width,
            height,
            mask,
            bbox,
            pixel_count,
            backdrop,
        }
    }

    /// Fraction of the frame that is product, 0..=1.
    pub fn coverage(&self) -> f32 {
        let total = u64::from(self.width) * u64::from(self.height);
        if total == 0 {
            return 0.0;
        }
        self.pixel_count as f32 / total as f32
    }

    /// The product box, or the whole frame when no product was found, for callers that
    /// need somewhere to look either way.
    pub fn bbox_or_frame(&self) -> PixelBox {
        self.bbox
            .unwrap_or_else(|| PixelBox::full(self.width, self.height))
    }
}

/// Pixels in a strip around the edge, about 1% of the shorter side thick.
fn border_pixels(image: &RgbImage) -> Vec<[u8; 3]> {
    let (width, height) = image.dimensions();
    let strip = (width.min(height) / 100).max(1);
    let mut border = Vec::new();
    for y in 0..height {
        let whole_row = y < strip || y >= height.saturating_sub(strip);
        for x in 0..width {
            if whole_row || x < strip || x >= width.saturating_sub(strip) {
                border.push(image.get_pixel(x, y).0);
            }
        }
    }
    border
}

/// Per-channel median; robust against the product touching part of the border.
fn median_color(pixels: &[[u8; 3]]) -> [u8; 3] {
    let mut histograms = [[0u32; 256]; 3];
    for pixel in pixels {
        for (channel, histogram) in histograms.iter_mut().enumerate() {
            histogram[usize::from(pixel[channel])] += 1;
        }
    }
    let half = pixels.len().div_ceil(2) as u32;
    histograms.map(|histogram| {
        let mut seen = 0;
        for (value, count) in histogram.iter().enumerate() {
            seen += count;
            if seen >= half.max(1) {
                return value as u8;
            }
        }
        255
    })
}

/// Removes connected blobs (8-neighbour) much smaller than the largest one and returns
/// the cleaned mask, the box around what is left and its pixel count.
fn drop_specks(mask: Vec<bool>, width: u32, height: u32) -> (Vec<bool>, Option<PixelBox>, u64) {
    let (w, h) = (width as usize, height as usize);
    let mut labels = vec![0u32; mask.len()];
    let mut blobs: Vec<(u64, PixelBox)> = Vec::new();
    let mut stack = Vec::new();
    for start in 0..mask.len() {
        if !mask[start] || labels[start] != 0 {
            continue;
        }
        let label = blobs.len() as u32 + 1;
        labels[start] = label;
        stack.push(start);
        let (mut area, mut left, mut top, mut right, mut bottom) = (0u64, w, h, 0, 0);
        while let Some(index) = stack.pop() {
            let (x, y) = (index % w, index / w);
            area += 1;
            left = left.min(x);
            right = right.max(x);
            top = top.min(y);
            bottom = bottom.max(y);
            for ny in y.saturating_sub(1)..=(y + 1).min(h - 1) {
                for nx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                    let neighbour = ny * w + nx;
                    if mask[neighbour] && labels[neighbour] == 0 {
                        labels[neighbour] = label;
                        stack.push(neighbour);
                    }
                }
            }
        }
        let bbox = PixelBox {
            x: left as u32,
            y: top as u32,
            w: (right - left + 1) as u32,
            h: (bottom - top + 1) as u32,
        };
        blobs.push((area, bbox));
    }

    let largest = blobs.iter().map(|(area, _)| *area).max().unwrap_or(0);
    let min_area = (largest / SPECK_FRACTION_OF_LARGEST).max(1);
    let kept: Vec<bool> = blobs.iter().map(|(area, _)| *area >= min_area).collect();
    let mut bbox: Option<PixelBox> = None;
    let mut count = 0;
    for ((area, blob), keep) in blobs.iter().zip(&kept) {
        if !keep {
            continue;
        }
        count += area;
        bbox = Some(match bbox {
            None => *blob,
            Some(current) => union(&current, blob),
        });
    }
    let cleaned = labels
        .iter()
        .map(|&label| label != 0 && kept[label as usize - 1])
        .collect();
    (cleaned, bbox, count)
}

/// Marks as product every 4-connected non-product area that does not touch the image
/// border and is small next to the product; returns the mask and the new product count.
fn fill_small_holes(
    mut mask: Vec<bool>,
    width: u32,
    height: u32,
    product: u64,
) -> (Vec<bool>, u64) {
    let (w, h) = (width as usize, height as usize);
    let max_hole = product / MAX_HOLE_FRACTION_OF_PRODUCT;
    let mut visited = vec![false; mask.len()];
    let mut area_pixels = Vec::new();
    let mut stack = Vec::new();
    let mut filled = 0;
    for start in 0..mask.len() {
        if mask[start] || visited[start] {
            continue;
        }
        area_pixels.clear();
        let mut touches_border = false;
        visited[start] = true;
        stack.push(start);
        while let Some(index) = stack.pop() {
            area_pixels.push(index);
            let (x, y) = (index % w, index / w);
            touches_border |= x == 0 || y == 0 || x + 1 == w || y + 1 == h;
            let neighbours = [
                (x > 0).then(|| index - 1),
                (x + 1 < w).then(|| index + 1),
                (y > 0).then(|| index - w),
                (y + 1 < h).then(|| index + w),
            ];
            for neighbour in neighbours.into_iter().flatten() {
                if !mask[neighbour] && !visited[neighbour] {
                    visited[neighbour] = true;
                    stack.push(neighbour);
                }
            }
        }
        if !touches_border && area_pixels.len() as u64 <= max_hole {
            for &index in &area_pixels {
                mask[index] = true;
            }
            filled += area_pixels.len() as u64;
        }
    }
    (mask, product + filled)
}

fn union(a: &PixelBox, b: &PixelBox) -> PixelBox {
    let x = a.x.min(b.x);
    let y = a.y.min(b.y);
    PixelBox {
        x,
        y,
        w: a.right().max(b.right()) - x,
        h: a.bottom().max(b.bottom()) - y,
    }
}

#[cfg(test)]
mod tests {
    use image::Rgb;

    use super::*;

    fn product_on_backdrop() -> RgbImage {
        let mut image = RgbImage::from_pixel(120, 90, Rgb([245, 245, 242]));
        for y in 20..70 {
            for x in 30..100 {
                image.put_pixel(x, y, Rgb([30, 60, 140]));
            }
        }
        image
    }

    #[test]
    fn the_backdrop_is_read_from_the_border() {
        let backdrop = Backdrop::estimate(&product_on_backdrop()).unwrap();
        assert_eq!(backdrop.color, [245, 245, 242]);
        assert!(backdrop.is_product([30, 60, 140]));
        assert!(!backdrop.is_product([243, 244, 240]));
    }

    #[test]
    fn specks_are_dropped_but_the_product_is_kept() {
        let mut image = product_on_backdrop();
        image.put_pixel(5, 80, Rgb([0, 0, 0]));
        let foreground = Foreground::detect(&image);
        assert_eq!(
            foreground.bbox,
            Some(PixelBox {
                x: 30,
                y: 20,
                w: 70,
                h: 50
            })
        );
        assert_eq!(foreground.pixel_count, 70 * 50);
        assert!(!foreground.mask[80 * 120 + 5]);
    }

    #[test]
    fn a_pale_label_inside_the_product_is_product_but_a_large_opening_is_not() {
        let mut image = product_on_backdrop();
        // A label the colour of the backdrop, enclosed by the product.
        for y in 30..40 {
            for x in 40..55 {
                image.put_pixel(x, y, Rgb([245, 245, 242]));
            }
        }
        let foreground = Foreground::detect(&image);
        assert_eq!(foreground.pixel_count, 70 * 50);
        assert!(foreground.mask[35 * 120 + 45]);

        // An opening a third of the product's size stays backdrop.
        let mut image = product_on_backdrop();
        for y in 30..60 {
            for x in 45..85 {
                image.put_pixel(x, y, Rgb([245, 245, 242]));
            }
        }
        let foreground = Foreground::detect(&image);
        assert_eq!(foreground.pixel_count, 70 * 50 - 40 * 30);
        assert!(!foreground.mask[45 * 120 + 60]);
    }

    #[test]
    fn a_busy_border_means_no_backdrop_and_the_whole_frame_is_product() {
        let mut image = RgbImage::new(40, 40);
        for (x, y, pixel) in image.enumerate_pixels_mut() {
            *pixel = Rgb([(x * 6) as u8, (y * 6) as u8, ((x + y) * 3) as u8]);
        }
        let foreground = Foreground::detect(&image);
        assert!(foreground.backdrop.is_none());
        assert_eq!(foreground.bbox, Some(PixelBox::full(40, 40)));
        assert_eq!(foreground.coverage(), 1.0);
    }

    #[test]
    fn a_blank_image_has_no_product() {
        let image = RgbImage::from_pixel(30, 20, Rgb([255, 255, 255]));
        let foreground = Foreground::detect(&image);
        assert_eq!(foreground.bbox, None);
        assert_eq!(foreground.coverage(), 0.0);
        assert_eq!(foreground.bbox_or_frame(), PixelBox::full(30, 20));
        let empty = Foreground::detect(&RgbImage::new(0, 0));
        assert_eq!(empty.bbox, None);
    }
}
