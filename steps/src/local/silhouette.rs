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
    /// For each segmented row from the box's top to its bottom: the left-most and one past
    /// the right-most product column, in segmented pixels; `None` for a row with no product.
    rows: Vec<Option<(u32, u32)>>,
    /// Photo pixels per segmented pixel, horizontally and vertically.
    scale: (f64, f64),
    /// The first segmented row, in segmented pixels.
    top: u32,
}

/// Where one row of the outline was measured, in the photo's pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    /// The row's centre line.
    pub y: f64,
    /// The left edge of the left-most product pixel.
    pub left: f64,
    /// The right edge of the right-most product pixel.
    pub right: f64,
}

impl Span {
    pub fn width(&self) -> f64 {
        self.right - self.left
    }
}

impl Silhouette {
    pub(crate) fn from_foreground(size: (u32, u32), foreground: &Foreground) -> Option<Silhouette> {
        let segmented_box = foreground.bbox?;
        let bbox = segmented_box.rescaled((foreground.width, foreground.height), size);
        let width = foreground.width as usize;
        let rows = (segmented_box.y..segmented_box.bottom())
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
            scale: (
                f64::from(size.0) / f64::from(foreground.width.max(1)),
                f64::from(size.1) / f64::from(foreground.height.max(1)),
            ),
            top: segmented_box.y,
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
        self.span_location(at).map(|span| span.width())
    }

    /// The widest row, where the horizontal extent is reached (the upper one of equals).
    pub fn widest(&self) -> Option<Span> {
        let (index, _) = self
            .rows
            .iter()
            .enumerate()
            .filter_map(|(i, row)| row.map(|(left, right)| (i, right - left)))
            .fold(None, |best: Option<(usize, u32)>, (i, width)| match best {
                Some((_, w)) if w >= width => best,
                _ => Some((i, width)),
            })?;
        self.span_location((index as f64 + 0.5) / self.rows.len() as f64)
    }

    /// Where the row at `at` (0 = top, 1 = bottom) of the outline's height runs, in photo
    /// pixels; `None` when that row holds no product.
    pub fn span_location(&self, at: f64) -> Option<Span> {
        if self.rows.is_empty() || !at.is_finite() {
            return None;
        }
        let last = self.rows.len() - 1;
        let index = ((at.clamp(0.0, 1.0) * self.rows.len() as f64).floor() as usize).min(last);
        let (left, right) = self.rows[index]?;
        let (sx, sy) = self.scale;
        Some(Span {
            y: (f64::from(self.top) + index as f64 + 0.5) * sy,
            left: f64::from(left) * sx,
            right: f64::from(right) * sx,
        })
    }
}

/// Measures the product in `image`: the facts of [`super::image_facts`] and, when a product
/// was found, its outline; one segmentation serves both.
pub fn facts_and_silhouette(image: &RgbImage) -> (ImageFacts, Option<Silhouette>) {
    let foreground = segment_for_measuring(image);
    let facts = facts_from_foreground(image.dimensions(), &foreground);
    let silhouette = Silhouette::from_foreground(image.dimensions(), &foreground);
    (facts, silhouette)
}

/// The segmentation measurements are read from: at the photo's size up to
/// [`SEGMENT_MAX_SIDE`], beyond it on a copy of that size.
pub(crate) fn segment_for_measuring(image: &RgbImage) -> Foreground {
    Foreground::detect(&downsample_to(image, SEGMENT_MAX_SIDE))
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
        // The row is located where it was measured: halfway down, centred on x = 150.
        let middle = silhouette.span_location(0.5).unwrap();
        assert!((middle.y - 80.5).abs() <= 1.0, "{middle:?}");
        assert!((middle.left - 75.0).abs() <= 1.0, "{middle:?}");
        assert!((middle.right - 225.0).abs() <= 1.0, "{middle:?}");
    }

    #[test]
    fn a_blank_photo_has_no_outline() {
        let (_, silhouette) =
            facts_and_silhouette(&RgbImage::from_pixel(50, 50, Rgb([255, 255, 255])));
        assert!(silhouette.is_none());
    }
}
