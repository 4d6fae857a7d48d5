//! The product's outline, row by row: what the offline provider measures points of measure
//! from (an extent along an axis, or the width of one row), in the photo's own pixels.

use image::RgbImage;

use super::downsample::downsample_to;
use super::foreground::Foreground;
use super::measure::{ImageFacts, SEGMENT_MAX_SIDE, facts_from_foreground};
use super::pixel_box::PixelBox;

/// The outline of the product in one photo.
#[derive(Debug, Clone, PartialEq)]
pub struct Silhouette {
    /// Box around the product, in the photo's pixels.
    pub bbox: PixelBox,
    /// For each working row from the box's top to its bottom: the left-most and one past the
    /// right-most product column, in working pixels; `None` for a row with no product.
    rows: Vec<Option<(u32, u32)>>,
    /// Photo pixels per working pixel, horizontally.
    scale_x: f64,
}

impl Silhouette {
    fn from_foreground(size: (u32, u32), foreground: &Foreground) -> Option<Silhouette> {
        let working_box = foreground.bbox?;
        let bbox = working_box.rescaled((foreground.width, foreground.height), size);
        let width = foreground.width as usize;
        let rows = (working_box.y..working_box.bottom())
            .map(|y| {
                let row = &foreground.mask[y as usize * width..(y as usize + 1) * width];
                let left = row.iter().position(|&p| p)?;
                let right = row.iter().rposition(|&p| p)? + 1;
                Some((left as u32, right as u32))
            })
            .collect();
        Some(Silhouette {
            bbox,
            rows,
            scale_x: f64::from(size.0) / f64::from(foreground.width.max(1)),
        })
    }

    /// Horizontal extent of the product, in photo pixels.
    pub fn extent_horizontal(&self) -> f64 {
        f64::from(self.bbox.w)
    }

    /// Vertical extent of the product, in photo pixels.
    pub fn extent_vertical(&self) -> f64 {
        f64::from(self.bbox.h)
    }

    /// Left-most to right-most product pixel in the row at `at` (0 = top, 1 = bottom) of the
    /// outline's height, in photo pixels; `None` when that row holds no product.
    pub fn span_at(&self, at: f64) -> Option<f64> {
        if self.rows.is_empty() || !at.is_finite() {
            return None;
        }
        let last = self.rows.len() - 1;
        let index = ((at.clamp(0.0, 1.0) * self.rows.len() as f64).floor() as usize).min(last);
        let (left, right) = self.rows[index]?;
        Some(f64::from(right - left) * self.scale_x)
    }
}

/// Measures the product in `image`: the facts of [`super::image_facts`] and, when a product
/// was found, its outline; one segmentation serves both.
pub fn facts_and_silhouette(image: &RgbImage) -> (ImageFacts, Option<Silhouette>) {
    let working = downsample_to(image, SEGMENT_MAX_SIDE);
    let foreground = Foreground::detect(&working);
    let facts = facts_from_foreground(image.dimensions(), &foreground);
    let silhouette = Silhouette::from_foreground(image.dimensions(), &foreground);
    (facts, silhouette)
}

#[cfg(test)]
mod tests {
    use image::Rgb;

    use super::*;

    /// A trapezoid 200 px wide at the top and 100 px at the bottom, 100 px high.
    fn trapezoid() -> RgbImage {
        let mut image = RgbImage::from_pixel(300, 160, Rgb([245, 245, 245]));
        for y in 0..100u32 {
            let half = 100.0 - 50.0 * f64::from(y) / 100.0;
            for x in 0..300u32 {
                if (f64::from(x) + 0.5 - 150.0).abs() < half {
                    image.put_pixel(x, y + 30, Rgb([20, 40, 120]));
                }
            }
        }
        image
    }

    #[test]
    fn rows_of_a_drawn_trapezoid_have_the_drawn_widths() {
        let (facts, silhouette) = facts_and_silhouette(&trapezoid());
        let silhouette = silhouette.expect("the trapezoid stands out");
        assert_eq!(facts.object_width_px, 200);
        assert_eq!(silhouette.extent_vertical(), 100.0);
        for (at, want) in [(0.0, 200.0), (0.5, 150.0), (0.99, 101.0)] {
            let got = silhouette.span_at(at).unwrap();
            assert!((got - want).abs() <= 2.0, "span at {at}: {got} vs {want}");
        }
    }

    #[test]
    fn a_blank_photo_has_no_outline() {
        let (_, silhouette) =
            facts_and_silhouette(&RgbImage::from_pixel(50, 50, Rgb([255, 255, 255])));
        assert!(silhouette.is_none());
    }
}
