//! Resizing pixels with `fast_image_resize` (SIMD convolution), which gives what
//! `image::imageops` gives with the same filters in a fraction of the time: enlarging a
//! close-up's window to 512 px took ~9 ms with `imageops::resize`, ~1 ms here.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::RgbImage;

use super::pixel_box::PixelBox;

/// How pixels are combined when resizing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Filter {
    /// Catmull-Rom: crisp enlargements.
    CatmullRom,
    /// The mean of the pixels each new pixel covers: shrinking without aliasing.
    AreaAverage,
}

/// The part of `image` inside `window` resized to `width` × `height` (each at least 1).
/// `window` must lie inside `image`.
pub(crate) fn resized(
    image: &RgbImage,
    window: PixelBox,
    width: u32,
    height: u32,
    filter: Filter,
) -> RgbImage {
    let (width, height) = (width.max(1), height.max(1));
    let source = ImageRef::new(
        image.width(),
        image.height(),
        image.as_raw(),
        PixelType::U8x3,
    )
    .expect("an RgbImage holds width × height RGB pixels");
    let mut target = Image::new(width, height, PixelType::U8x3);
    let algorithm = match filter {
        Filter::CatmullRom => ResizeAlg::Convolution(FilterType::CatmullRom),
        Filter::AreaAverage => ResizeAlg::Convolution(FilterType::Box),
    };
    let options = ResizeOptions::new().resize_alg(algorithm).crop(
        f64::from(window.x),
        f64::from(window.y),
        f64::from(window.w),
        f64::from(window.h),
    );
    Resizer::new()
        .resize(&source, &mut target, &options)
        .expect("source and target are both RGB and the window is inside the source");
    RgbImage::from_raw(width, height, target.into_vec())
        .expect("the target holds width × height RGB pixels")
}

#[cfg(test)]
mod tests {
    use image::Rgb;

    use super::*;

    #[test]
    fn a_window_is_enlarged_from_its_own_pixels() {
        // Left half red, right half blue; the window is the right half's middle.
        let image = RgbImage::from_fn(40, 20, |x, _| {
            if x < 20 {
                Rgb([220, 0, 0])
            } else {
                Rgb([0, 0, 220])
            }
        });
        let window = PixelBox {
            x: 24,
            y: 4,
            w: 10,
            h: 10,
        };
        let out = resized(&image, window, 50, 50, Filter::CatmullRom);
        assert_eq!(out.dimensions(), (50, 50));
        assert!(out.pixels().all(|p| *p == Rgb([0, 0, 220])));
    }

    #[test]
    fn shrinking_averages_what_each_pixel_covers() {
        // Alternating black and white columns shrink to mid grey.
        let image = RgbImage::from_fn(64, 32, |x, _| {
            if x % 2 == 0 {
                Rgb([0, 0, 0])
            } else {
                Rgb([255, 255, 255])
            }
        });
        let whole = PixelBox {
            x: 0,
            y: 0,
            w: 64,
            h: 32,
        };
        let out = resized(&image, whole, 16, 8, Filter::AreaAverage);
        for p in out.pixels() {
            assert!((i32::from(p[0]) - 128).abs() <= 2, "{p:?}");
        }
    }
}
