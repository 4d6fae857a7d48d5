//! Which pixels of a photo are product. Two models, tried in order:
//!
//! - a plain studio backdrop ([`Backdrop`]), read from the border: every pixel clearly
//!   different from it is product;
//! - otherwise the scene segmentation ([`super::scene`]): colour models of product and
//!   surroundings, iterated, for photos on a table, a floor or in a room.
//!
//! Both run on a working copy at most [`WORKING_MAX_SIDE`] px across; the mask is then
//! scaled to the photo and its outline re-decided pixel by pixel at full size, so a
//! product is measured to the photo's pixel while the heavy passes cost the same for any
//! upload. Where neither model can tell the product from its surroundings, the whole frame
//! counts as product and [`Segmentation::Unresolved`] says why.

use image::RgbImage;

use super::backdrop::Backdrop;
use super::downsample::downsample_to;
use super::pixel_box::PixelBox;
use super::scene::{self, SceneModel, Unresolved};

/// Longest side segmentation works on.
pub(crate) const WORKING_MAX_SIDE: u32 = 384;

/// A blob smaller than this fraction of the largest one is dust, a JPEG artefact or a
/// stray shadow speck, not part of the product.
const SPECK_FRACTION_OF_LARGEST: u64 = 50;

/// Enclosed backdrop-coloured areas up to this fraction of the product's pixels are
/// product too: a white label or cream stitching on a pale bag. Larger enclosed areas,
/// such as the opening under a handle, stay backdrop.
const MAX_HOLE_FRACTION_OF_PRODUCT: u64 = 10;

/// How the product was told from its surroundings.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Segmentation {
    /// Against a plain backdrop: the most reliable case.
    PlainBackdrop(Backdrop),
    /// By colour models of product and surroundings, without a plain backdrop.
    ColourModel(SceneModel),
    /// Neither worked; the whole frame counts as product.
    Unresolved(Unresolved),
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
    pub segmentation: Segmentation,
}

/// A mask after specks are dropped and small holes filled.
#[derive(Debug, Clone)]
pub(crate) struct Cleaned {
    pub mask: Vec<bool>,
    pub bbox: Option<PixelBox>,
    pub pixel_count: u64,
}

/// A blob smaller than this fraction of the largest one, in a scene without a plain
/// backdrop, is a patch of the surroundings that happens to share a product colour.
pub(crate) const SCENE_SPECK_FRACTION_OF_LARGEST: u64 = 3;

/// Drops blobs smaller than `1 / speck_fraction` of the largest and fills small enclosed
/// holes of a raw product mask.
pub(crate) fn clean_mask(mask: Vec<bool>, width: u32, height: u32, speck_fraction: u64) -> Cleaned {
    let (mask, bbox, pixel_count) = drop_specks(mask, width, height, speck_fraction);
    let (mask, pixel_count) = fill_small_holes(mask, width, height, pixel_count);
    Cleaned {
        mask,
        bbox,
        pixel_count,
    }
}

impl Foreground {
    /// Segments `image` into product and surroundings, in `image`'s pixels.
    pub fn detect(image: &RgbImage) -> Foreground {
        let working = downsample_to(image, WORKING_MAX_SIDE);
        let found = Self::detect_at_working_size(&working);
        if working.dimensions() == image.dimensions() {
            found
        } else {
            found.scaled_to(image)
        }
    }

    fn detect_at_working_size(image: &RgbImage) -> Foreground {
        let (width, height) = image.dimensions();
        let (cleaned, segmentation) = match Backdrop::estimate(image) {
            Some(backdrop) => {
                let mask = image.pixels().map(|p| backdrop.is_product(p.0)).collect();
                (
                    clean_mask(mask, width, height, SPECK_FRACTION_OF_LARGEST),
                    Segmentation::PlainBackdrop(backdrop),
                )
            }
            None => match scene::segment(image) {
                Ok(scene) => (scene.cleaned, Segmentation::ColourModel(scene.model)),
                Err(why) => (
                    clean_mask(
                        vec![true; image.pixels().len()],
                        width,
                        height,
                        SPECK_FRACTION_OF_LARGEST,
                    ),
                    Segmentation::Unresolved(why),
                ),
            },
        };
        Foreground {
            width,
            height,
            mask: cleaned.mask,
            bbox: cleaned.bbox,
            pixel_count: cleaned.pixel_count,
            segmentation,
        }
    }

    /// The plain backdrop, when the photo has one.
    pub fn backdrop(&self) -> Option<&Backdrop> {
        match &self.segmentation {
            Segmentation::PlainBackdrop(backdrop) => Some(backdrop),
            _ => None,
        }
    }

    /// Whether the product could be told from its surroundings at all.
    #[cfg(test)]
    pub fn is_resolved(&self) -> bool {
        !matches!(self.segmentation, Segmentation::Unresolved(_))
    }

    /// Whether `rgb` is product by the model this segmentation used, for deciding the
    /// outline at full size; `None` when there is no model to ask.
    fn classify(&self, rgb: [u8; 3]) -> Option<bool> {
        match &self.segmentation {
            Segmentation::PlainBackdrop(backdrop) => Some(backdrop.is_product(rgb)),
            Segmentation::ColourModel(model) => Some(model.is_product(rgb)),
            Segmentation::Unresolved(_) => None,
        }
    }

    /// This working-size segmentation scaled to `image` (the photo it was made from): each
    /// photo pixel takes its working pixel's label, except along the outline (working pixels
    /// with a neighbour of the other label), where each photo pixel is classified by its own
    /// colour.
    fn scaled_to(&self, image: &RgbImage) -> Foreground {
        let (width, height) = image.dimensions();
        let (w, h) = (self.width as usize, self.height as usize);
        let on_outline: Vec<bool> = (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                let here = self.mask[i];
                (x > 0 && self.mask[i - 1] != here)
                    || (x + 1 < w && self.mask[i + 1] != here)
                    || (y > 0 && self.mask[i - w] != here)
                    || (y + 1 < h && self.mask[i + w] != here)
            })
            .collect();
        let column: Vec<usize> = (0..width)
            .map(|x| ((x as usize * w) / width as usize).min(w - 1))
            .collect();
        let mut mask = Vec::with_capacity(width as usize * height as usize);
        let (mut left, mut top, mut right, mut bottom) = (u32::MAX, u32::MAX, 0, 0);
        let mut count = 0u64;
        for y in 0..height {
            let row = ((y as usize * h) / height as usize).min(h - 1) * w;
            for (x, &col) in column.iter().enumerate() {
                let cell = row + col;
                let product = if on_outline[cell] {
                    self.classify(image.get_pixel(x as u32, y).0)
                        .unwrap_or(self.mask[cell])
                } else {
                    self.mask[cell]
                };
                if product {
                    count += 1;
                    left = left.min(x as u32);
                    right = right.max(x as u32);
                    top = top.min(y);
                    bottom = bottom.max(y);
                }
                mask.push(product);
            }
        }
        Foreground {
            width,
            height,
            mask,
            bbox: (count > 0).then(|| PixelBox {
                x: left,
                y: top,
                w: right - left + 1,
                h: bottom - top + 1,
            }),
            pixel_count: count,
            segmentation: self.segmentation.clone(),
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

    /// The mask resampled (nearest pixel) to `width` x `height`, for work done on another
    /// copy of the same photo.
    pub fn mask_at(&self, width: u32, height: u32) -> Vec<bool> {
        if (width, height) == (self.width, self.height) {
            return self.mask.clone();
        }
        let (w, h) = (self.width as usize, self.height as usize);
        let mut mask = Vec::with_capacity(width as usize * height as usize);
        for y in 0..height as usize {
            let row = ((y * h) / height.max(1) as usize).min(h.saturating_sub(1)) * w;
            for x in 0..width as usize {
                let col = ((x * w) / width.max(1) as usize).min(w.saturating_sub(1));
                mask.push(self.mask.get(row + col).copied().unwrap_or(false));
            }
        }
        mask
    }
}

/// Removes connected blobs (8-neighbour) much smaller than the largest one and returns
/// the cleaned mask, the box around what is left and its pixel count.
fn drop_specks(
    mask: Vec<bool>,
    width: u32,
    height: u32,
    speck_fraction: u64,
) -> (Vec<bool>, Option<PixelBox>, u64) {
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
    let min_area = (largest / speck_fraction.max(1)).max(1);
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
    fn a_smooth_gradient_is_no_product_and_the_whole_frame_counts_unresolved() {
        let mut image = RgbImage::new(40, 40);
        for (x, y, pixel) in image.enumerate_pixels_mut() {
            *pixel = Rgb([(x * 6) as u8, (y * 6) as u8, ((x + y) * 3) as u8]);
        }
        let foreground = Foreground::detect(&image);
        assert!(foreground.backdrop().is_none());
        assert!(!foreground.is_resolved(), "{:?}", foreground.segmentation);
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
