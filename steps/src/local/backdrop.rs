//! The plain studio backdrop most product photos are shot on: its colour is read from the
//! image border, where such photos show only backdrop, and every pixel clearly different
//! from it is product.

use image::RgbImage;

use super::lab::Lab;

/// Colour difference (CIE76) a pixel needs from the backdrop to count as product when the
/// backdrop itself is perfectly flat; a noisy backdrop raises it.
const BASE_TOLERANCE: f32 = 10.0;
/// How many times the typical backdrop noise is added to the tolerance.
const NOISE_FACTOR: f32 = 3.0;
/// Ceiling on the widened tolerance: a border that varies more than this is not a
/// backdrop, and widening further would swallow pale products.
const MAX_TOLERANCE: f32 = 25.0;
/// Largest typical (median) colour difference of the border from its median colour for the
/// border to be a plain backdrop: paper or a sweep with sensor noise and soft shadow stays
/// well under it; wood grain, a floor's pattern or a room does not.
const MAX_TYPICAL_NOISE: f32 = 5.0;
/// Share of border pixels that must match the backdrop colour for it to count as a plain
/// backdrop; below this the product fills the frame or the scene is busy.
const MIN_UNIFORM_BORDER_SHARE: f32 = 0.6;
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
        if typical_noise > MAX_TYPICAL_NOISE {
            return None;
        }
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

#[cfg(test)]
mod tests {
    use image::Rgb;

    use super::*;

    #[test]
    fn the_backdrop_is_read_from_the_border() {
        let mut image = RgbImage::from_pixel(120, 90, Rgb([245, 245, 242]));
        for y in 20..70 {
            for x in 30..100 {
                image.put_pixel(x, y, Rgb([30, 60, 140]));
            }
        }
        let backdrop = Backdrop::estimate(&image).unwrap();
        assert_eq!(backdrop.color, [245, 245, 242]);
        assert!(backdrop.is_product([30, 60, 140]));
        assert!(!backdrop.is_product([243, 244, 240]));
    }

    #[test]
    fn a_busy_border_is_no_backdrop() {
        let mut image = RgbImage::new(40, 40);
        for (x, y, pixel) in image.enumerate_pixels_mut() {
            *pixel = Rgb([(x * 6) as u8, (y * 6) as u8, ((x + y) * 3) as u8]);
        }
        assert_eq!(Backdrop::estimate(&image), None);
        assert_eq!(Backdrop::estimate(&RgbImage::new(0, 0)), None);
    }
}
