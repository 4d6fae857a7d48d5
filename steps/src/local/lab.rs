//! sRGB to CIE Lab conversion. Distances in Lab follow perceived colour difference, so
//! "is this pixel backdrop?" and "which colour name is nearest?" agree with the eye.
//!
//! Our own conversion rather than `palette`'s: the sRGB transfer function is written once
//! (`srgb_to_linear`) and tabulated for the 256 byte values every pixel of every view uses;
//! with `palette` the analysis was measured slower (BENCHMARKS.md, "Factory exports and
//! measurements").

use std::sync::LazyLock;

/// A colour in CIE L*a*b* (D65 white).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Lab {
    pub l: f32,
    pub a: f32,
    pub b: f32,
}

/// The sRGB transfer function: an encoded component in 0..=1 to linear light.
fn srgb_to_linear(c: f32) -> f32 {
    if c <= 0.040_45 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

/// [`srgb_to_linear`] of every byte value, tabulated because it is needed for every pixel.
static SRGB_TO_LINEAR: LazyLock<[f32; 256]> =
    LazyLock::new(|| std::array::from_fn(|index| srgb_to_linear(index as f32 / 255.0)));

impl Lab {
    /// Converts an 8-bit sRGB colour.
    pub fn from_rgb(rgb: [u8; 3]) -> Self {
        let table = &*SRGB_TO_LINEAR;
        let [r, g, b] = rgb.map(|c| table[usize::from(c)]);
        Self::from_linear(r, g, b)
    }

    /// Converts an sRGB colour given as 0..=255 floats, for cluster means.
    pub fn from_rgb_f32(rgb: [f32; 3]) -> Self {
        let [r, g, b] = rgb.map(|c| srgb_to_linear((c / 255.0).clamp(0.0, 1.0)));
        Self::from_linear(r, g, b)
    }

    fn from_linear(r: f32, g: f32, b: f32) -> Self {
        // sRGB primaries to XYZ, normalised by the D65 white point.
        let x = (0.412_456_4 * r + 0.357_576_1 * g + 0.180_437_5 * b) / 0.950_47;
        let y = 0.212_672_9 * r + 0.715_152_2 * g + 0.072_175 * b;
        let z = (0.019_333_9 * r + 0.119_192 * g + 0.950_304_1 * b) / 1.088_83;
        let (fx, fy, fz) = (lab_f(x), lab_f(y), lab_f(z));
        Self {
            l: 116.0 * fy - 16.0,
            a: 500.0 * (fx - fy),
            b: 200.0 * (fy - fz),
        }
    }

    /// Squared CIE76 colour difference; cheaper than [`Lab::delta_e`] for comparisons.
    pub fn distance_squared(&self, other: &Lab) -> f32 {
        let dl = self.l - other.l;
        let da = self.a - other.a;
        let db = self.b - other.b;
        dl * dl + da * da + db * db
    }

    /// CIE76 colour difference: about 2.3 is just noticeable, above 10 clearly different.
    pub fn delta_e(&self, other: &Lab) -> f32 {
        self.distance_squared(other).sqrt()
    }
}

fn lab_f(t: f32) -> f32 {
    const EPSILON: f32 = 216.0 / 24_389.0;
    const KAPPA: f32 = 24_389.0 / 27.0;
    if t > EPSILON {
        t.cbrt()
    } else {
        (KAPPA * t + 16.0) / 116.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() < 0.05
    }

    #[test]
    fn reference_colours_convert_to_known_lab_values() {
        let white = Lab::from_rgb([255, 255, 255]);
        assert!(close(white.l, 100.0) && close(white.a, 0.0) && close(white.b, 0.0));
        let black = Lab::from_rgb([0, 0, 0]);
        assert!(close(black.l, 0.0));
        // sRGB red is L 53.24, a 80.09, b 67.20.
        let red = Lab::from_rgb([255, 0, 0]);
        assert!((red.l - 53.24).abs() < 0.1, "{red:?}");
        assert!((red.a - 80.09).abs() < 0.2, "{red:?}");
        assert!((red.b - 67.20).abs() < 0.2, "{red:?}");
    }

    #[test]
    fn float_and_byte_conversions_agree() {
        let bytes = Lab::from_rgb([12, 130, 240]);
        let floats = Lab::from_rgb_f32([12.0, 130.0, 240.0]);
        assert!(bytes.delta_e(&floats) < 1e-3);
    }
}
