//! Shrinks a photo to a working size: finding colours or detail does not need 40
//! megapixels, and bounding the pixel count bounds the time every analysis takes.

use std::borrow::Cow;

use image::RgbImage;

use super::pixel_box::PixelBox;
use super::resample::{Filter, resized};

/// `image` itself when its longer side is at most `max_side`, otherwise an area-averaged
/// copy whose longer side is `max_side`.
pub(crate) fn downsample_to(image: &RgbImage, max_side: u32) -> Cow<'_, RgbImage> {
    let (width, height) = image.dimensions();
    let longer = width.max(height);
    if max_side == 0 || longer <= max_side {
        return Cow::Borrowed(image);
    }
    let scale = f64::from(max_side) / f64::from(longer);
    let new_width = ((f64::from(width) * scale).round() as u32).clamp(1, max_side);
    let new_height = ((f64::from(height) * scale).round() as u32).clamp(1, max_side);
    let whole = PixelBox {
        x: 0,
        y: 0,
        w: width,
        h: height,
    };
    Cow::Owned(resized(
        image,
        whole,
        new_width,
        new_height,
        Filter::AreaAverage,
    ))
}

#[cfg(test)]
mod tests {
    use image::Rgb;

    use super::*;

    #[test]
    fn small_images_are_borrowed_and_large_ones_shrink_keeping_shape() {
        let small = RgbImage::from_pixel(100, 50, Rgb([1, 2, 3]));
        assert!(matches!(downsample_to(&small, 128), Cow::Borrowed(_)));
        let large = RgbImage::from_pixel(1000, 500, Rgb([1, 2, 3]));
        let shrunk = downsample_to(&large, 128);
        assert_eq!(shrunk.dimensions(), (128, 64));
        assert_eq!(shrunk.get_pixel(10, 10), &Rgb([1, 2, 3]));
    }
}
