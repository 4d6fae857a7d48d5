//! The picture the fake Gemini draws: a real, decodable 16×16 PNG.

use std::io::Cursor;
use std::sync::OnceLock;

/// The PNG bytes every fake Gemini answer carries (a gradient, so it is not all one colour).
pub fn fake_png() -> &'static [u8] {
    static PNG: OnceLock<Vec<u8>> = OnceLock::new();
    PNG.get_or_init(|| {
        let picture = image::RgbImage::from_fn(16, 16, |x, y| {
            image::Rgb([(x * 16) as u8, (y * 16) as u8, 128])
        });
        let mut bytes = Cursor::new(Vec::new());
        picture
            .write_to(&mut bytes, image::ImageFormat::Png)
            .expect("encoding a 16x16 PNG in memory");
        bytes.into_inner()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_png_decodes() {
        let picture = image::load_from_memory(super::fake_png()).unwrap();
        assert_eq!((picture.width(), picture.height()), (16, 16));
    }
}
