//! A close-up's locator: a thumbnail of the photo the close-up was cut from, with the cut
//! drawn on it as a box, set to the right of the close-up so a reader sees where on the
//! product the detail sits. The close-up and its locator travel as one picture, so every
//! page that shows the close-up shows where it is from.

use image::imageops;
use image::{Rgb, RgbImage};

use super::pixel_box::PixelBox;

/// Longest side of the locator thumbnail.
pub const LOCATOR_SIDE: u32 = 160;
/// White space between the close-up and its locator.
const GAP: u32 = 12;
const PAPER: Rgb<u8> = Rgb([255, 255, 255]);
const FRAME: Rgb<u8> = Rgb([160, 160, 160]);
const MARK: Rgb<u8> = Rgb([208, 2, 27]);

/// `shot` with its locator to its right: the photo it was cut from, as `thumbnail` (made by
/// [`locator_thumbnail`]; a photo `photo_size` pixels large), with `crop` (in the photo's
/// pixels) outlined. The result is `shot`'s height (or the thumbnail's, if taller) and
/// [`with_locator_width`] wide.
pub fn with_locator(
    shot: &RgbImage,
    thumbnail: &RgbImage,
    photo_size: (u32, u32),
    crop: PixelBox,
) -> RgbImage {
    let thumbnail = outlined(thumbnail.clone(), photo_size, crop);
    let width = with_locator_width(shot.width());
    let height = shot.height().max(thumbnail.height());
    let mut out = RgbImage::from_pixel(width, height, PAPER);
    imageops::replace(&mut out, shot, 0, 0);
    imageops::replace(&mut out, &thumbnail, i64::from(shot.width() + GAP), 0);
    out
}

/// The width of a close-up `shot_width` wide once its locator is set beside it.
pub fn with_locator_width(shot_width: u32) -> u32 {
    shot_width + GAP + LOCATOR_SIDE
}

/// The close-up part of a picture made by [`with_locator`] (the left `height` x `height`
/// square, as close-ups are square); a picture of another shape is returned whole.
pub fn without_locator(picture: &RgbImage) -> RgbImage {
    let (width, height) = picture.dimensions();
    if width == with_locator_width(height) {
        imageops::crop_imm(picture, 0, 0, height, height).to_image()
    } else {
        picture.clone()
    }
}

/// `photo` shrunk to fit [`LOCATOR_SIDE`]: the same for every close-up of one photo, so
/// it is made once per photo.
pub fn locator_thumbnail(photo: &RgbImage) -> RgbImage {
    let (width, height) = photo.dimensions();
    let scale = f64::from(LOCATOR_SIDE) / f64::from(width.max(height).max(1));
    let tw = ((f64::from(width) * scale).round() as u32).clamp(1, LOCATOR_SIDE);
    let th = ((f64::from(height) * scale).round() as u32).clamp(1, LOCATOR_SIDE);
    imageops::thumbnail(photo, tw, th)
}

/// `thumbnail` (of a photo `photo_size` pixels large) framed, with `crop` outlined in red
/// (at least a few pixels across, so a small detail still shows).
fn outlined(mut thumbnail: RgbImage, photo_size: (u32, u32), crop: PixelBox) -> RgbImage {
    let (width, height) = photo_size;
    let (tw, th) = thumbnail.dimensions();
    let boxed = crop.rescaled((width.max(1), height.max(1)), (tw, th));
    let (x0, y0) = (boxed.x.min(tw - 1), boxed.y.min(th - 1));
    let x1 = (x0 + boxed.w.max(6)).min(tw) - 1;
    let y1 = (y0 + boxed.h.max(6)).min(th) - 1;
    for thickness in 0..2u32 {
        rectangle(
            &mut thumbnail,
            (x0 + thickness).min(x1),
            (y0 + thickness).min(y1),
            x1.saturating_sub(thickness).max(x0),
            y1.saturating_sub(thickness).max(y0),
            MARK,
        );
    }
    rectangle(&mut thumbnail, 0, 0, tw - 1, th - 1, FRAME);
    thumbnail
}

/// Outlines the rectangle from (x0, y0) to (x1, y1), both inclusive and inside `image`.
fn rectangle(image: &mut RgbImage, x0: u32, y0: u32, x1: u32, y1: u32, colour: Rgb<u8>) {
    for x in x0..=x1 {
        image.put_pixel(x, y0, colour);
        image.put_pixel(x, y1, colour);
    }
    for y in y0..=y1 {
        image.put_pixel(x0, y, colour);
        image.put_pixel(x1, y, colour);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_locator_outlines_the_crop_beside_the_close_up() {
        let photo = RgbImage::from_pixel(800, 400, Rgb([240, 240, 240]));
        let shot = RgbImage::from_pixel(256, 256, Rgb([30, 40, 90]));
        let crop = PixelBox {
            x: 400,
            y: 200,
            w: 100,
            h: 100,
        };
        let picture = with_locator(&shot, &locator_thumbnail(&photo), photo.dimensions(), crop);
        assert_eq!(picture.dimensions(), (256 + 12 + 160, 256));
        // The thumbnail is 160 x 80: the crop's box starts at (80, 40) in it.
        let left = 256 + 12;
        assert_eq!(picture.get_pixel(left + 80, 40 + 5), &MARK);
        assert_eq!(picture.get_pixel(left + 90, 40 + 5), &Rgb([240, 240, 240]));
        assert_eq!(picture.get_pixel(10, 10), &Rgb([30, 40, 90]));
        assert_eq!(without_locator(&picture), shot);
        assert_eq!(without_locator(&photo), photo);
    }
}
