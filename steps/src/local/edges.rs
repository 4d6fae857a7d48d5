//! Edge detection on a grey plane: Gaussian blur, Sobel gradients and Canny's
//! non-maximum suppression with hysteresis. Line art draws these edges; close-up
//! selection counts them.
//!
//! Our own code rather than `imageproc`'s `gaussian_blur_f32` / `sobel_gradients` /
//! `canny`: it works on one `f32` plane without per-pixel `GenericImage` calls and clamps the
//! blur radius, and the analysis was measured slower with `imageproc` (BENCHMARKS.md, "Factory
//! exports and measurements": 138–152 ms against 89–91 ms a view).

use image::RgbImage;

use super::pixel_box::PixelBox;

/// Largest blur radius in pixels; a huge sigma from a config typo should cost a blurry
/// sketch, not minutes of convolution.
const MAX_BLUR_RADIUS: usize = 32;
/// tan(22.5°): splits gradient angles into the four directions NMS compares along.
const TAN_22_5: f32 = 0.414_213_57;

/// Luma values (0..=255) as floats, row-major.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GrayPlane {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl GrayPlane {
    /// The Rec. 601 luma of `region` of `image`, which must lie inside the image.
    pub fn from_rgb_region(image: &RgbImage, region: PixelBox) -> Self {
        let (width, height) = (region.w as usize, region.h as usize);
        let mut data = Vec::with_capacity(width * height);
        for y in region.y..region.bottom() {
            for x in region.x..region.right() {
                let [r, g, b] = image.get_pixel(x, y).0;
                data.push(0.299 * f32::from(r) + 0.587 * f32::from(g) + 0.114 * f32::from(b));
            }
        }
        Self {
            width,
            height,
            data,
        }
    }

    /// Separable Gaussian blur with edge pixels repeated outward; `sigma <= 0` (or NaN)
    /// returns the plane unchanged.
    pub fn blurred(&self, sigma: f32) -> Self {
        if sigma.is_nan() || sigma <= 0.0 || self.data.is_empty() {
            return self.clone();
        }
        let kernel = gaussian_kernel(sigma);
        let radius = kernel.len() / 2;
        let (w, h) = (self.width, self.height);
        let mut across = vec![0.0; self.data.len()];
        for y in 0..h {
            let row = &self.data[y * w..(y + 1) * w];
            for x in 0..w {
                let mut sum = 0.0;
                for (k, weight) in kernel.iter().enumerate() {
                    let sx = (x + k).saturating_sub(radius).min(w - 1);
                    sum += weight * row[sx];
                }
                across[y * w + x] = sum;
            }
        }
        let mut data = vec![0.0; self.data.len()];
        for y in 0..h {
            for x in 0..w {
                let mut sum = 0.0;
                for (k, weight) in kernel.iter().enumerate() {
                    let sy = (y + k).saturating_sub(radius).min(h - 1);
                    sum += weight * across[sy * w + x];
                }
                data[y * w + x] = sum;
            }
        }
        Self {
            width: w,
            height: h,
            data,
        }
    }

    /// Sobel gradients. Magnitudes are divided by 4 so a sharp step of `d` grey levels
    /// reads as about `d`, which keeps thresholds in familiar grey-level units.
    pub fn gradients(&self) -> Gradients {
        let (w, h) = (self.width, self.height);
        let mut magnitude = vec![0.0; w * h];
        let mut direction = vec![Direction::Across; w * h];
        let at = |x: usize, y: usize, dx: isize, dy: isize| -> f32 {
            let sx = x.saturating_add_signed(dx).min(w - 1);
            let sy = y.saturating_add_signed(dy).min(h - 1);
            self.data[sy * w + sx]
        };
        for y in 0..h {
            for x in 0..w {
                let gx = (at(x, y, 1, -1) + 2.0 * at(x, y, 1, 0) + at(x, y, 1, 1))
                    - (at(x, y, -1, -1) + 2.0 * at(x, y, -1, 0) + at(x, y, -1, 1));
                let gy = (at(x, y, -1, 1) + 2.0 * at(x, y, 0, 1) + at(x, y, 1, 1))
                    - (at(x, y, -1, -1) + 2.0 * at(x, y, 0, -1) + at(x, y, 1, -1));
                let index = y * w + x;
                magnitude[index] = (gx * gx + gy * gy).sqrt() / 4.0;
                direction[index] = Direction::of(gx, gy);
            }
        }
        Gradients {
            width: w,
            height: h,
            magnitude,
            direction,
        }
    }
}

/// Which way the gradient points, quantised to the four neighbour axes of a pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Left-right: a vertical edge.
    Across,
    /// Up-down: a horizontal edge.
    Down,
    /// Top-left to bottom-right.
    Diagonal,
    /// Top-right to bottom-left.
    AntiDiagonal,
}

impl Direction {
    fn of(gx: f32, gy: f32) -> Self {
        let (ax, ay) = (gx.abs(), gy.abs());
        if ay <= ax * TAN_22_5 {
            Direction::Across
        } else if ax <= ay * TAN_22_5 {
            Direction::Down
        } else if (gx > 0.0) == (gy > 0.0) {
            Direction::Diagonal
        } else {
            Direction::AntiDiagonal
        }
    }

    /// Offset to the neighbour the gradient points at (the other is its mirror).
    fn step(self) -> (isize, isize) {
        match self {
            Direction::Across => (1, 0),
            Direction::Down => (0, 1),
            Direction::Diagonal => (1, 1),
            Direction::AntiDiagonal => (1, -1),
        }
    }
}

/// Gradient magnitude and direction per pixel.
#[derive(Debug, Clone)]
pub(crate) struct Gradients {
    pub width: usize,
    pub height: usize,
    pub magnitude: Vec<f32>,
    pub direction: Vec<Direction>,
}

/// Canny edges of `plane`: blur by `sigma`, keep only ridge pixels of the gradient, then
/// keep pixels above `high` and those above `low` connected to them. Returns one flag
/// per pixel, row-major.
pub(crate) fn canny(plane: &GrayPlane, sigma: f32, low: f32, high: f32) -> Vec<bool> {
    if plane.data.is_empty() {
        return Vec::new();
    }
    let (low, high) = if low <= high {
        (low, high)
    } else {
        (high, low)
    };
    let gradients = plane.blurred(sigma).gradients();
    let thin = non_maximum_suppression(&gradients);
    hysteresis(&thin, gradients.width, gradients.height, low, high)
}

/// Zeroes every magnitude that is not a local maximum across its edge, thinning edges to
/// one pixel. Of two equal neighbours across a step only the first is kept, so a sharp
/// edge gives one line rather than two.
fn non_maximum_suppression(gradients: &Gradients) -> Vec<f32> {
    let (w, h) = (gradients.width, gradients.height);
    let mut thin = vec![0.0; w * h];
    for y in 1..h.saturating_sub(1) {
        for x in 1..w.saturating_sub(1) {
            let index = y * w + x;
            let magnitude = gradients.magnitude[index];
            if magnitude <= 0.0 {
                continue;
            }
            let (dx, dy) = gradients.direction[index].step();
            let ahead =
                gradients.magnitude[(y as isize + dy) as usize * w + (x as isize + dx) as usize];
            let behind =
                gradients.magnitude[(y as isize - dy) as usize * w + (x as isize - dx) as usize];
            if magnitude > behind && magnitude >= ahead {
                thin[index] = magnitude;
            }
        }
    }
    thin
}

fn hysteresis(thin: &[f32], width: usize, height: usize, low: f32, high: f32) -> Vec<bool> {
    let mut edges = vec![false; thin.len()];
    let mut stack: Vec<usize> = Vec::new();
    for (index, &magnitude) in thin.iter().enumerate() {
        if magnitude >= high && magnitude > 0.0 {
            edges[index] = true;
            stack.push(index);
        }
    }
    while let Some(index) = stack.pop() {
        let (x, y) = (index % width, index / width);
        for ny in y.saturating_sub(1)..=(y + 1).min(height - 1) {
            for nx in x.saturating_sub(1)..=(x + 1).min(width - 1) {
                let neighbour = ny * width + nx;
                if !edges[neighbour] && thin[neighbour] >= low && thin[neighbour] > 0.0 {
                    edges[neighbour] = true;
                    stack.push(neighbour);
                }
            }
        }
    }
    edges
}

fn gaussian_kernel(sigma: f32) -> Vec<f32> {
    let radius = ((3.0 * sigma).ceil() as usize).clamp(1, MAX_BLUR_RADIUS);
    let weights: Vec<f32> = (0..=2 * radius)
        .map(|i| {
            let d = i as f32 - radius as f32;
            (-(d * d) / (2.0 * sigma * sigma)).exp()
        })
        .collect();
    let total: f32 = weights.iter().sum();
    weights.into_iter().map(|w| w / total).collect()
}

#[cfg(test)]
mod tests {
    use image::Rgb;

    use super::*;

    fn step_image() -> RgbImage {
        let mut image = RgbImage::from_pixel(40, 20, Rgb([255, 255, 255]));
        for y in 0..20 {
            for x in 20..40 {
                image.put_pixel(x, y, Rgb([0, 0, 0]));
            }
        }
        image
    }

    #[test]
    fn a_vertical_step_gives_one_vertical_line() {
        let image = step_image();
        let plane = GrayPlane::from_rgb_region(&image, PixelBox::full(40, 20));
        let edges = canny(&plane, 1.0, 20.0, 50.0);
        for y in 2..18 {
            let row: Vec<usize> = (0..40).filter(|&x| edges[y * 40 + x]).collect();
            assert_eq!(row.len(), 1, "row {y}: {row:?}");
            assert!(row[0] == 19 || row[0] == 20, "row {y}: {row:?}");
        }
    }

    #[test]
    fn a_flat_plane_has_no_edges() {
        let plane = GrayPlane {
            width: 10,
            height: 10,
            data: vec![90.0; 100],
        };
        assert!(canny(&plane, 1.4, 5.0, 10.0).iter().all(|edge| !edge));
    }

    #[test]
    fn blur_keeps_the_mean_and_odd_sigmas_do_not_panic() {
        let plane = GrayPlane::from_rgb_region(&step_image(), PixelBox::full(40, 20));
        let blurred = plane.blurred(2.0);
        let mean = |p: &GrayPlane| p.data.iter().sum::<f32>() / p.data.len() as f32;
        assert!((mean(&plane) - mean(&blurred)).abs() < 1.0);
        assert_eq!(plane.blurred(f32::NAN), plane);
        assert_eq!(plane.blurred(1e9).data.len(), plane.data.len());
        let tiny = GrayPlane {
            width: 1,
            height: 1,
            data: vec![3.0],
        };
        assert_eq!(canny(&tiny, 1.0, 1.0, 2.0), vec![false]);
    }

    #[test]
    fn a_sharp_step_reads_as_its_height_in_grey_levels() {
        let plane = GrayPlane::from_rgb_region(&step_image(), PixelBox::full(40, 20));
        let gradients = plane.gradients();
        assert!((gradients.magnitude[10 * 40 + 20] - 255.0).abs() < 1.0);
        assert_eq!(gradients.direction[10 * 40 + 20], Direction::Across);
    }
}
