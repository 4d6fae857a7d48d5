//! Facts about one view: its size, where the product sits in it and how big the product
//! is, in pixels, or in millimetres once the caller names one known length.

use image::RgbImage;
use serde::{Deserialize, Serialize};

use super::LocalError;
use super::colors::to_hex;
use super::downsample::downsample_to;
use super::foreground::{Foreground, Segmentation};
use super::pixel_box::PixelBox;

/// Longest side segmentation works on. Photos up to this size are measured to the pixel;
/// larger ones to within one working pixel, which keeps a 40-megapixel upload fast.
pub(crate) const SEGMENT_MAX_SIDE: u32 = 2048;

/// What can be read off one product photo without knowing what the product is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageFacts {
    pub width: u32,
    pub height: u32,
    /// Width over height, so layouts can be chosen without re-deriving it.
    pub aspect_ratio: f64,
    /// Box around the product in image pixels; `None` when nothing stands out from the
    /// backdrop (a blank photo).
    pub foreground_bbox: Option<PixelBox>,
    /// Fraction of the frame covered by product pixels (not by its box), 0..=1; a low value
    /// means the product is small in the shot and close-ups will be soft.
    pub foreground_coverage: f32,
    /// The backdrop colour as `#RRGGBB`; `None` when the border is not a plain backdrop.
    pub background_hex: Option<String>,
    /// How the product was told from its surroundings.
    pub segmentation: SegmentationKind,
    /// Why the product could not be told from its surroundings, when it could not (then the
    /// whole frame counts as product and nothing should be measured from it).
    pub unresolved_reason: Option<String>,
    /// Product width in pixels, 0 when no product was found.
    pub object_width_px: u32,
    /// Product height in pixels, 0 when no product was found.
    pub object_height_px: u32,
}

/// How the product was told from its surroundings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SegmentationKind {
    /// Against a plain studio backdrop read from the border.
    PlainBackdrop,
    /// By colour models of product and surroundings (no plain backdrop).
    ColourModel,
    /// Not at all: the whole frame counts as product.
    Unresolved,
}

/// Product size in real units, from a scale the caller supplied.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PhysicalSize {
    /// The scale used, kept so other lengths in the same photo can be converted too.
    pub mm_per_px: f64,
    pub object_width_mm: f64,
    pub object_height_mm: f64,
}

impl PhysicalSize {
    pub fn object_width_cm(&self) -> f64 {
        self.object_width_mm / 10.0
    }

    pub fn object_height_cm(&self) -> f64 {
        self.object_height_mm / 10.0
    }

    /// Converts any other pixel length in the same photo.
    pub fn px_to_mm(&self, px: f64) -> f64 {
        px * self.mm_per_px
    }
}

impl ImageFacts {
    /// Converts the product size to millimetres given that `reference_px` pixels in this
    /// photo measure `reference_size_mm` (a ruler, a card, or a known product dimension).
    ///
    /// # Errors
    /// [`LocalError::InvalidReference`] unless both values are positive and finite.
    pub fn to_units(
        &self,
        reference_px: f64,
        reference_size_mm: f64,
    ) -> Result<PhysicalSize, LocalError> {
        let valid = |value: f64| value.is_finite() && value > 0.0;
        if !valid(reference_px) || !valid(reference_size_mm) {
            return Err(LocalError::InvalidReference {
                reference_px,
                reference_size_mm,
            });
        }
        let mm_per_px = reference_size_mm / reference_px;
        Ok(PhysicalSize {
            mm_per_px,
            object_width_mm: f64::from(self.object_width_px) * mm_per_px,
            object_height_mm: f64::from(self.object_height_px) * mm_per_px,
        })
    }

    /// Converts the product size given its real width, as in "the bag is 380 mm wide".
    ///
    /// # Errors
    /// [`LocalError::InvalidReference`] when no product was found or the width is not
    /// positive and finite.
    pub fn scaled_to_object_width(&self, width_mm: f64) -> Result<PhysicalSize, LocalError> {
        self.to_units(f64::from(self.object_width_px), width_mm)
    }
}

/// Measures the product in `image`.
pub fn image_facts(image: &RgbImage) -> ImageFacts {
    let working = downsample_to(image, SEGMENT_MAX_SIDE);
    let foreground = Foreground::detect(&working);
    facts_from_foreground(image.dimensions(), &foreground)
}

/// Builds the facts for an image of `size` from a segmentation done on a copy of it,
/// possibly a smaller one.
pub(crate) fn facts_from_foreground(size: (u32, u32), foreground: &Foreground) -> ImageFacts {
    let (width, height) = size;
    let working_size = (foreground.width, foreground.height);
    let bbox = foreground
        .bbox
        .map(|bbox| bbox.rescaled(working_size, size));
    ImageFacts {
        width,
        height,
        aspect_ratio: if height == 0 {
            0.0
        } else {
            f64::from(width) / f64::from(height)
        },
        foreground_bbox: bbox,
        foreground_coverage: foreground.coverage(),
        background_hex: foreground.backdrop().map(|backdrop| to_hex(backdrop.color)),
        segmentation: match &foreground.segmentation {
            Segmentation::PlainBackdrop(_) => SegmentationKind::PlainBackdrop,
            Segmentation::ColourModel(_) => SegmentationKind::ColourModel,
            Segmentation::Unresolved(_) => SegmentationKind::Unresolved,
        },
        unresolved_reason: match &foreground.segmentation {
            Segmentation::Unresolved(why) => Some(why.reason().to_string()),
            _ => None,
        },
        object_width_px: bbox.map_or(0, |bbox| bbox.w),
        object_height_px: bbox.map_or(0, |bbox| bbox.h),
    }
}

#[cfg(test)]
mod tests {
    use image::Rgb;

    use super::*;

    fn rectangle_on_white(frame: (u32, u32), rect: PixelBox) -> RgbImage {
        let mut image = RgbImage::from_pixel(frame.0, frame.1, Rgb([250, 250, 250]));
        for y in rect.y..rect.bottom() {
            for x in rect.x..rect.right() {
                image.put_pixel(x, y, Rgb([180, 30, 40]));
            }
        }
        image
    }

    #[test]
    fn a_drawn_rectangle_is_measured_exactly() {
        let rect = PixelBox {
            x: 37,
            y: 22,
            w: 120,
            h: 64,
        };
        let facts = image_facts(&rectangle_on_white((200, 150), rect));
        assert_eq!((facts.width, facts.height), (200, 150));
        assert!((facts.aspect_ratio - 200.0 / 150.0).abs() < 1e-9);
        assert_eq!(facts.foreground_bbox, Some(rect));
        assert_eq!((facts.object_width_px, facts.object_height_px), (120, 64));
        let expected_coverage = (120.0 * 64.0) / (200.0 * 150.0);
        assert!((facts.foreground_coverage - expected_coverage).abs() < 1e-4);
        assert_eq!(facts.background_hex.as_deref(), Some("#FAFAFA"));
    }

    #[test]
    fn a_large_photo_is_measured_to_within_a_working_pixel() {
        let rect = PixelBox {
            x: 1000,
            y: 700,
            w: 2100,
            h: 1500,
        };
        let facts = image_facts(&rectangle_on_white((4096, 3000), rect));
        let found = facts.foreground_bbox.unwrap();
        for (got, want) in [
            (found.x, rect.x),
            (found.y, rect.y),
            (found.w, rect.w),
            (found.h, rect.h),
        ] {
            assert!(got.abs_diff(want) <= 2, "{found} vs {rect}");
        }
    }

    #[test]
    fn pixels_convert_to_millimetres_and_centimetres() {
        let rect = PixelBox {
            x: 10,
            y: 10,
            w: 100,
            h: 50,
        };
        let facts = image_facts(&rectangle_on_white((140, 90), rect));
        let size = facts.scaled_to_object_width(120.0).unwrap();
        assert!((size.mm_per_px - 1.2).abs() < 1e-9);
        assert!((size.object_width_mm - 120.0).abs() < 1e-9);
        assert!((size.object_height_mm - 60.0).abs() < 1e-9);
        assert!((size.object_height_cm() - 6.0).abs() < 1e-9);
        assert!((size.px_to_mm(10.0) - 12.0).abs() < 1e-9);

        let ruler = facts.to_units(25.0, 10.0).unwrap();
        assert!((ruler.object_width_mm - 40.0).abs() < 1e-9);
    }

    #[test]
    fn a_meaningless_reference_is_an_error_not_a_panic() {
        let facts = image_facts(&RgbImage::from_pixel(10, 10, Rgb([255, 255, 255])));
        assert_eq!(facts.foreground_bbox, None);
        assert!(matches!(
            facts.scaled_to_object_width(100.0),
            Err(LocalError::InvalidReference { .. })
        ));
        for (px, mm) in [
            (0.0, 10.0),
            (10.0, -1.0),
            (f64::NAN, 1.0),
            (1.0, f64::INFINITY),
        ] {
            assert!(facts.to_units(px, mm).is_err(), "{px} {mm}");
        }
    }

    #[test]
    fn measuring_twice_gives_the_same_facts() {
        let image = crate::local::draw_sample_product(300, 240);
        assert_eq!(image_facts(&image), image_facts(&image));
    }
}
