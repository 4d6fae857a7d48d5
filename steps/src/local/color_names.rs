//! Names for colours the way a garment or bag factory would write them on a tech pack,
//! and the lookup of the nearest name for any colour.

use std::sync::LazyLock;

use super::lab::Lab;

/// Common textile colour names with a representative sRGB value. Where the CSS value of
/// a name is far from how the fabric usually looks (navy, red, brown) the fabric is used.
const COLOR_NAMES: &[(&str, [u8; 3])] = &[
    ("black", [0x00, 0x00, 0x00]),
    ("charcoal", [0x36, 0x45, 0x4F]),
    ("dark grey", [0x5A, 0x5A, 0x5A]),
    ("grey", [0x80, 0x80, 0x80]),
    ("silver", [0xC0, 0xC0, 0xC0]),
    ("light grey", [0xD3, 0xD3, 0xD3]),
    ("white", [0xFF, 0xFF, 0xFF]),
    ("ivory", [0xFF, 0xFF, 0xF0]),
    ("cream", [0xFF, 0xFD, 0xD0]),
    ("beige", [0xF5, 0xF5, 0xDC]),
    ("sand", [0xC2, 0xB2, 0x80]),
    ("khaki", [0xC3, 0xB0, 0x91]),
    ("tan", [0xD2, 0xB4, 0x8C]),
    ("camel", [0xC1, 0x9A, 0x6B]),
    ("taupe", [0x8B, 0x85, 0x89]),
    ("brown", [0x7B, 0x4B, 0x2A]),
    ("dark brown", [0x4A, 0x2C, 0x17]),
    ("burgundy", [0x80, 0x00, 0x20]),
    ("red", [0xC8, 0x10, 0x2E]),
    ("coral", [0xFF, 0x7F, 0x50]),
    ("peach", [0xFF, 0xCB, 0xA4]),
    ("pink", [0xFF, 0xC0, 0xCB]),
    ("hot pink", [0xFF, 0x69, 0xB4]),
    ("magenta", [0xC7, 0x15, 0x85]),
    ("orange", [0xFF, 0x8C, 0x00]),
    ("rust", [0xB7, 0x41, 0x0E]),
    ("mustard", [0xE1, 0xAD, 0x01]),
    ("yellow", [0xFF, 0xE6, 0x00]),
    ("lime green", [0x32, 0xCD, 0x32]),
    ("green", [0x3A, 0x9A, 0x44]),
    ("forest green", [0x1F, 0x4D, 0x2B]),
    ("mint", [0x98, 0xE0, 0xB4]),
    ("sage", [0x9C, 0xAF, 0x88]),
    ("olive", [0x70, 0x82, 0x38]),
    ("teal", [0x00, 0x80, 0x80]),
    ("turquoise", [0x40, 0xE0, 0xD0]),
    ("sky blue", [0x87, 0xCE, 0xEB]),
    ("light blue", [0xAD, 0xD8, 0xE6]),
    ("royal blue", [0x41, 0x69, 0xE1]),
    ("cobalt blue", [0x00, 0x47, 0xAB]),
    ("navy", [0x1F, 0x2A, 0x44]),
    ("purple", [0x6A, 0x0D, 0xAD]),
    ("plum", [0x8E, 0x45, 0x85]),
    ("lavender", [0xB5, 0x7E, 0xDC]),
];

static NAMED_LABS: LazyLock<Vec<(&'static str, Lab)>> = LazyLock::new(|| {
    COLOR_NAMES
        .iter()
        .map(|&(name, rgb)| (name, Lab::from_rgb(rgb)))
        .collect()
});

/// The name in the table closest to `rgb` by CIE76 colour difference.
pub fn nearest_color_name(rgb: [u8; 3]) -> &'static str {
    let lab = Lab::from_rgb(rgb);
    NAMED_LABS
        .iter()
        .map(|(name, named)| (*name, named.distance_squared(&lab)))
        // `min_by` keeps the first of equal distances, so ties resolve by table order.
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map_or("black", |(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_colour_names_itself() {
        for &(name, rgb) in COLOR_NAMES {
            assert_eq!(nearest_color_name(rgb), name);
        }
    }

    #[test]
    fn typical_product_colours_get_sensible_names() {
        assert_eq!(nearest_color_name([0xFF, 0x00, 0x00]), "red");
        assert_eq!(nearest_color_name([0x10, 0x10, 0x12]), "black");
        assert_eq!(nearest_color_name([0xF4, 0xF4, 0xF2]), "white");
        assert_eq!(nearest_color_name([0x22, 0x2E, 0x4A]), "navy");
        assert_eq!(nearest_color_name([0x84, 0x84, 0x84]), "grey");
        assert_eq!(nearest_color_name([0xDA, 0xA5, 0x10]), "mustard");
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<&str> = COLOR_NAMES.iter().map(|(name, _)| *name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), COLOR_NAMES.len());
    }
}
