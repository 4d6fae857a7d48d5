//! Writes pixels back out as PNG, the format sketches and close-ups are stored in.

use std::io::Cursor;

use image::{EncodableLayout, ImageBuffer, ImageFormat, PixelWithColorType};

use super::LocalError;

/// Encodes any 8-bit grey, RGB or RGBA image as PNG bytes.
///
/// # Errors
/// [`LocalError::Encode`] if the encoder refuses the image (for example a zero-sized one).
pub fn encode_png<P>(image: &ImageBuffer<P, Vec<P::Subpixel>>) -> Result<Vec<u8>, LocalError>
where
    P: PixelWithColorType,
    [P::Subpixel]: EncodableLayout,
{
    let mut bytes = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
        .map_err(|error| LocalError::Encode(error.to_string()))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use image::{GrayImage, Luma};

    use super::*;

    #[test]
    fn png_bytes_start_with_the_signature_and_are_stable() {
        let image = GrayImage::from_pixel(3, 3, Luma([128]));
        let first = encode_png(&image).unwrap();
        assert!(first.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert_eq!(first, encode_png(&image).unwrap());
    }
}
