//! sRGB to CIE Lab conversion. Distances in Lab follow perceived colour difference, so
//! "is this pixel backdrop?" and "which colour name is nearest?" agree with the eye. The
//! conversion itself (sRGB transfer function, D65 primaries, the Lab curve) is `palette`'s.

use palette::white_point::D65;
use palette::{FromColor, LinSrgb, Srgb};

/// A colour in CIE L*a*b* (D65 white).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Lab {
    pub l: f32,
    pub a: f32,
    pub b: f32,
}

impl Lab {
    /// Converts an 8-bit sRGB colour.
    pub fn from_rgb(rgb: [u8; 3]) -> Self {
        Self::from_linear(Srgb::from(rgb).into_linear())
    }

    /// Converts an sRGB colour given as 0..=255 floats, for cluster means.
    pub fn from_rgb_f32(rgb: [f32; 3]) -> Self {
        let [r, g, b] = rgb.map(|c| (c / 255.0).clamp(0.0, 1.0));
        Self::from_linear(Srgb::new(r, g, b).into_linear())
    }

    fn from_linear(rgb: LinSrgb<f32>) -> Self {
        let lab = palette::Lab::<D65, f32>::from_color(rgb);
        Self {
            l: lab.l,
            a: lab.a,
            b: lab.b,
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
