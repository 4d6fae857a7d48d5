//! An axis-aligned rectangle in pixel coordinates, the unit every finding is reported in.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A rectangle of whole pixels: `x`, `y` is the top-left pixel, `w` and `h` the size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PixelBox {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

impl PixelBox {
    /// The whole of a `width` x `height` image.
    pub fn full(width: u32, height: u32) -> Self {
        Self {
            x: 0,
            y: 0,
            w: width,
            h: height,
        }
    }

    /// One past the right-most column.
    pub fn right(&self) -> u32 {
        self.x.saturating_add(self.w)
    }

    /// One past the bottom row.
    pub fn bottom(&self) -> u32 {
        self.y.saturating_add(self.h)
    }

    /// Number of pixels covered.
    pub fn area(&self) -> u64 {
        u64::from(self.w) * u64::from(self.h)
    }

    /// Whether the box lies entirely inside a `width` x `height` image and is not empty.
    pub fn fits_within(&self, width: u32, height: u32) -> bool {
        self.w > 0
            && self.h > 0
            && self.right() <= width
            && self.bottom() <= height
            && self.x < width
            && self.y < height
    }

    /// Intersection over union, 0 for disjoint boxes and 1 for identical ones; used to keep
    /// close-ups from showing the same spot twice.
    pub fn iou(&self, other: &PixelBox) -> f32 {
        let left = self.x.max(other.x);
        let top = self.y.max(other.y);
        let right = self.right().min(other.right());
        let bottom = self.bottom().min(other.bottom());
        if right <= left || bottom <= top {
            return 0.0;
        }
        let overlap = u64::from(right - left) * u64::from(bottom - top);
        let union = self.area() + other.area() - overlap;
        overlap as f32 / union as f32
    }

    /// The box grown by `margin` pixels on every side, clipped to a `width` x `height` image.
    pub fn expanded(&self, margin: u32, width: u32, height: u32) -> PixelBox {
        let x = self.x.saturating_sub(margin);
        let y = self.y.saturating_sub(margin);
        let right = self.right().saturating_add(margin).min(width);
        let bottom = self.bottom().saturating_add(margin).min(height);
        PixelBox {
            x,
            y,
            w: right.saturating_sub(x),
            h: bottom.saturating_sub(y),
        }
    }

    /// The box mapped from an image of one size to the same place in an image of another
    /// size, clipped to the target; analysis runs on downsampled copies and reports in the
    /// caller's pixels.
    pub(crate) fn rescaled(&self, from: (u32, u32), to: (u32, u32)) -> PixelBox {
        if from.0 == 0 || from.1 == 0 {
            return PixelBox::full(0, 0);
        }
        let sx = f64::from(to.0) / f64::from(from.0);
        let sy = f64::from(to.1) / f64::from(from.1);
        let scale = |value: u32, factor: f64, limit: u32| -> u32 {
            ((f64::from(value) * factor).round() as u32).min(limit)
        };
        let x = scale(self.x, sx, to.0);
        let y = scale(self.y, sy, to.1);
        let right = scale(self.right(), sx, to.0);
        let bottom = scale(self.bottom(), sy, to.1);
        PixelBox {
            x,
            y,
            w: right.saturating_sub(x),
            h: bottom.saturating_sub(y),
        }
    }
}

impl fmt::Display for PixelBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{} px at ({}, {})", self.w, self.h, self.x, self.y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(x: u32, y: u32, w: u32, h: u32) -> PixelBox {
        PixelBox { x, y, w, h }
    }

    #[test]
    fn iou_of_half_overlapping_boxes_is_one_third() {
        let a = boxed(0, 0, 10, 10);
        let b = boxed(5, 0, 10, 10);
        assert!((a.iou(&b) - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(a.iou(&a), 1.0);
        assert_eq!(a.iou(&boxed(20, 20, 5, 5)), 0.0);
    }

    #[test]
    fn expanded_box_is_clipped_to_the_image() {
        let grown = boxed(2, 3, 10, 10).expanded(5, 14, 100);
        assert_eq!(grown, boxed(0, 0, 14, 18));
    }

    #[test]
    fn rescaled_box_lands_on_the_same_place() {
        let small = boxed(10, 20, 30, 40);
        assert_eq!(
            small.rescaled((100, 100), (400, 200)),
            boxed(40, 40, 120, 80)
        );
    }

    #[test]
    fn boxes_outside_the_image_do_not_fit() {
        assert!(boxed(0, 0, 10, 10).fits_within(10, 10));
        assert!(!boxed(5, 0, 10, 10).fits_within(10, 10));
        assert!(!boxed(0, 0, 0, 10).fits_within(10, 10));
        assert!(!boxed(u32::MAX, 0, 2, 2).fits_within(10, 10));
    }
}
