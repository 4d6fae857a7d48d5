//! Turns untrusted upload bytes into pixels, refusing anything that is not a PNG or JPEG and
//! anything large enough to exhaust memory before a single pixel is allocated.

use std::io::Cursor;

use image::error::LimitErrorKind;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits, RgbImage};
use serde::{Deserialize, Serialize};

use super::LocalError;

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
const JPEG_SIGNATURE: &[u8] = &[0xFF, 0xD8, 0xFF];

/// How much an upload may ask of the decoder. A small file can declare enormous
/// dimensions (a "decompression bomb"), so the declared size is checked before decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecodeLimits {
    /// Largest accepted file, in bytes.
    pub max_bytes: usize,
    /// Largest accepted width and height, in pixels.
    pub max_side_px: u32,
    /// Most memory the decoder may allocate for pixels, in bytes.
    pub max_alloc_bytes: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_bytes: 50 * 1000 * 1000,
            max_side_px: 12_000,
            max_alloc_bytes: 512 * 1024 * 1024,
        }
    }
}

/// Decodes PNG or JPEG `bytes` into an RGB image within `limits`.
///
/// The EXIF orientation of a JPEG is applied, so a phone photo comes out upright.
/// Transparent pixels are laid over white: a cut-out product on a transparent background
/// then reads as a product on a plain white backdrop, which is what the analysis expects.
///
/// # Errors
/// [`LocalError::TooManyBytes`] for an oversized file, [`LocalError::NotAnImage`] for
/// anything but PNG or JPEG, [`LocalError::TooLarge`] or [`LocalError::TooMuchMemory`] for
/// dimensions beyond the limits, and [`LocalError::Decode`] for a broken file.
pub fn decode(bytes: &[u8], limits: &DecodeLimits) -> Result<RgbImage, LocalError> {
    let (mut decoder, declared) = open_decoder(bytes, limits)?;
    let mut decode_limits = Limits::default();
    decode_limits.max_image_width = Some(limits.max_side_px);
    decode_limits.max_image_height = Some(limits.max_side_px);
    decode_limits.max_alloc = Some(limits.max_alloc_bytes);
    let declared = Some(declared);
    decoder
        .set_limits(decode_limits)
        .map_err(|error| decode_error(error, declared, limits))?;

    let orientation = decoder
        .orientation()
        .map_err(|error| decode_error(error, declared, limits))?;
    let mut image = DynamicImage::from_decoder(decoder)
        .map_err(|error| decode_error(error, declared, limits))?;
    image.apply_orientation(orientation);
    Ok(flatten_onto_white(image))
}

/// The largest side of the working copies the analyses make (segmentation, line art); a
/// photo larger than this is shrunk to it before the heavy passes.
const WORKING_MAX_SIDE: u64 = 2048;
/// Bytes per pixel of those working copies: grey planes, gradients and masks as `f32`s.
const WORKING_BYTES_PER_PIXEL: u64 = 16;

/// How much memory decoding `bytes` and analysing the pixels holds at its peak, in bytes,
/// read from the header alone (nothing is decoded): the file, the decoder's pixels, the RGB
/// copy every analysis works on, and the downsampled working copies. This is the weight
/// image work takes in the memory budget.
///
/// # Errors
/// As [`decode`], for whatever the header alone shows.
pub fn decode_cost(bytes: &[u8], limits: &DecodeLimits) -> Result<u64, LocalError> {
    let declared = declared_size(bytes, limits)?;
    let pixels = u64::from(declared.width) * u64::from(declared.height);
    let working = pixels.min(WORKING_MAX_SIDE * WORKING_MAX_SIDE) * WORKING_BYTES_PER_PIXEL;
    Ok(bytes.len() as u64 + declared.pixel_bytes + 3 * pixels + working)
}

/// What the header of `bytes` declares, checked against `limits`; nothing is decoded.
pub(crate) fn declared_size(bytes: &[u8], limits: &DecodeLimits) -> Result<Declared, LocalError> {
    open_decoder(bytes, limits).map(|(_, declared)| declared)
}

/// Checks the size, the format and the declared dimensions against `limits`, and hands back
/// a decoder that has read only the header.
fn open_decoder<'a>(
    bytes: &'a [u8],
    limits: &DecodeLimits,
) -> Result<(impl ImageDecoder + 'a, Declared), LocalError> {
    if bytes.len() > limits.max_bytes {
        return Err(LocalError::TooManyBytes {
            len: bytes.len(),
            max: limits.max_bytes,
        });
    }
    let format = sniff_format(bytes)?;

    // The side limit is checked by hand on the declared size so the error can name it;
    // the decoder still gets the allocation limit in case the header lies.
    let mut header_limits = Limits::default();
    header_limits.max_alloc = Some(limits.max_alloc_bytes);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(header_limits);
    let decoder = reader
        .into_decoder()
        .map_err(|error| decode_error(error, None, limits))?;

    let (width, height) = decoder.dimensions();
    if width > limits.max_side_px || height > limits.max_side_px {
        return Err(LocalError::TooLarge {
            width,
            height,
            max: limits.max_side_px,
        });
    }
    let needed = decoder.total_bytes();
    if needed > limits.max_alloc_bytes {
        return Err(LocalError::TooMuchMemory {
            width,
            height,
            needed,
            max: limits.max_alloc_bytes,
        });
    }
    Ok((
        decoder,
        Declared {
            width,
            height,
            pixel_bytes: needed,
        },
    ))
}

/// Reads the magic bytes; only PNG and JPEG are accepted, and anything else is described
/// so the user learns what they actually uploaded.
fn sniff_format(bytes: &[u8]) -> Result<ImageFormat, LocalError> {
    if bytes.starts_with(PNG_SIGNATURE) {
        return Ok(ImageFormat::Png);
    }
    if bytes.starts_with(JPEG_SIGNATURE) {
        return Ok(ImageFormat::Jpeg);
    }
    Err(LocalError::NotAnImage {
        found: describe_bytes(bytes),
    })
}

/// A short human description of what non-image bytes look like.
fn describe_bytes(bytes: &[u8]) -> String {
    const KNOWN: &[(&[u8], &str)] = &[
        (b"GIF8", "a GIF image"),
        (b"BM", "a BMP image"),
        (b"%PDF", "a PDF document"),
        (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
        (b"II*\0", "a TIFF image"),
        (b"MM\0*", "a TIFF image"),
        (b"\x1f\x8b", "gzip-compressed data"),
        (b"<svg", "an SVG drawing"),
        (b"<?xml", "an XML document"),
    ];
    if bytes.is_empty() {
        return "an empty file".to_string();
    }
    if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return "a WebP image".to_string();
    }
    if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        return "a HEIC/AVIF or MP4 container".to_string();
    }
    if let Some((_, name)) = KNOWN.iter().find(|(magic, _)| bytes.starts_with(magic)) {
        return (*name).to_string();
    }
    let head = &bytes[..bytes.len().min(24)];
    match std::str::from_utf8(head) {
        Ok(text) if text.chars().all(|c| !c.is_control() || c.is_whitespace()) => {
            format!("text starting {:?}", text)
        }
        _ => {
            let hex: Vec<String> = head.iter().take(8).map(|b| format!("{b:02x}")).collect();
            format!("unknown binary data starting {}", hex.join(" "))
        }
    }
}

/// What the header declared, for naming it when a limit trips during decoding.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Declared {
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// Bytes of the decoded pixels; decoding may need more for working buffers.
    pub(crate) pixel_bytes: u64,
}

/// Maps an `image` error to ours, keeping limit failures distinguishable from broken
/// files. Before the header is read (`declared` is `None`) there is no size to name, so
/// every failure is a broken file.
fn decode_error(
    error: ImageError,
    declared: Option<Declared>,
    limits: &DecodeLimits,
) -> LocalError {
    let (ImageError::Limits(limit), Some(declared)) = (&error, declared) else {
        return LocalError::Decode(error.to_string());
    };
    match limit.kind() {
        LimitErrorKind::DimensionError => LocalError::TooLarge {
            width: declared.width,
            height: declared.height,
            max: limits.max_side_px,
        },
        LimitErrorKind::InsufficientMemory => LocalError::TooMuchMemory {
            width: declared.width,
            height: declared.height,
            needed: declared.pixel_bytes,
            max: limits.max_alloc_bytes,
        },
        _ => LocalError::Decode(error.to_string()),
    }
}

/// Composites any alpha onto white and drops to 8-bit RGB.
fn flatten_onto_white(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    let mut rgb = RgbImage::new(rgba.width(), rgba.height());
    for (out, pixel) in rgb.pixels_mut().zip(rgba.pixels()) {
        let alpha = u32::from(pixel[3]);
        for channel in 0..3 {
            let value = u32::from(pixel[channel]);
            out[channel] = ((value * alpha + 255 * (255 - alpha) + 127) / 255) as u8;
        }
    }
    rgb
}

#[cfg(test)]
mod tests {
    use image::{Rgb, Rgba, RgbaImage};

    use super::*;
    use crate::local::encode_png;

    fn small_png() -> Vec<u8> {
        let image = RgbImage::from_pixel(4, 3, Rgb([10, 200, 30]));
        encode_png(&image).expect("encoding a tiny PNG works")
    }

    /// Rewrites the IHDR width and height of a PNG and fixes the chunk CRC, producing a
    /// valid-looking file that declares a far larger image than it holds.
    fn png_declaring(width: u32, height: u32) -> Vec<u8> {
        let mut png = small_png();
        // Signature (8) + chunk length (4) + "IHDR" (4), then width and height.
        assert_eq!(&png[12..16], b"IHDR");
        png[16..20].copy_from_slice(&width.to_be_bytes());
        png[20..24].copy_from_slice(&height.to_be_bytes());
        let crc = crc32(&png[12..29]);
        png[29..33].copy_from_slice(&crc.to_be_bytes());
        png
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &byte in data {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                let mask = (crc & 1).wrapping_neg();
                crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
            }
        }
        !crc
    }

    #[test]
    fn decodes_a_png() {
        let image = decode(&small_png(), &DecodeLimits::default()).unwrap();
        assert_eq!(image.dimensions(), (4, 3));
        assert_eq!(image.get_pixel(2, 1), &Rgb([10, 200, 30]));
    }

    #[test]
    fn decodes_a_jpeg() {
        let source = RgbImage::from_pixel(16, 8, Rgb([200, 40, 40]));
        let mut jpeg = Vec::new();
        source
            .write_to(&mut Cursor::new(&mut jpeg), ImageFormat::Jpeg)
            .unwrap();
        let image = decode(&jpeg, &DecodeLimits::default()).unwrap();
        assert_eq!(image.dimensions(), (16, 8));
        let pixel = image.get_pixel(8, 4);
        assert!(
            pixel[0] > 180 && pixel[1] < 70 && pixel[2] < 70,
            "{pixel:?}"
        );
    }

    #[test]
    fn text_is_not_an_image_and_the_message_says_so() {
        let error = decode(b"hello, this is a tech pack", &DecodeLimits::default()).unwrap_err();
        assert!(matches!(error, LocalError::NotAnImage { .. }), "{error:?}");
        let message = error.to_string();
        assert!(message.contains("not a PNG or JPEG"), "{message}");
        assert!(message.contains("text starting \"hello"), "{message}");
    }

    #[test]
    fn other_formats_are_named() {
        let limits = DecodeLimits::default();
        let gif = decode(b"GIF89a\x01\x00\x01\x00", &limits).unwrap_err();
        assert!(gif.to_string().contains("a GIF image"), "{gif}");
        let empty = decode(b"", &limits).unwrap_err();
        assert!(empty.to_string().contains("an empty file"), "{empty}");
        let binary = decode(&[0, 1, 2, 3, 250], &limits).unwrap_err();
        assert!(binary.to_string().contains("00 01 02 03 fa"), "{binary}");
    }

    #[test]
    fn a_png_declaring_huge_dimensions_is_refused_before_allocating() {
        let bomb = png_declaring(100_000, 100_000);
        assert!(bomb.len() < 200, "the bomb itself is tiny");
        let error = decode(&bomb, &DecodeLimits::default()).unwrap_err();
        match error {
            LocalError::TooLarge { width, height, max } => {
                assert_eq!((width, height, max), (100_000, 100_000, 12_000));
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
    }

    #[test]
    fn a_png_within_the_side_limit_but_over_the_memory_limit_is_refused() {
        let bomb = png_declaring(10_000, 10_000);
        let limits = DecodeLimits {
            max_alloc_bytes: 64 * 1024 * 1024,
            ..DecodeLimits::default()
        };
        let error = decode(&bomb, &limits).unwrap_err();
        assert!(
            matches!(
                error,
                LocalError::TooMuchMemory {
                    width: 10_000,
                    height: 10_000,
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(error.to_string().contains("10000x10000"), "{error}");
    }

    #[test]
    fn a_truncated_png_is_a_decode_error() {
        let png = small_png();
        let error = decode(&png[..40], &DecodeLimits::default()).unwrap_err();
        assert!(matches!(error, LocalError::Decode(_)), "{error:?}");
    }

    #[test]
    fn a_png_whose_header_lies_within_the_limits_is_a_decode_error() {
        let error = decode(&png_declaring(300, 200), &DecodeLimits::default()).unwrap_err();
        assert!(matches!(error, LocalError::Decode(_)), "{error:?}");
    }

    #[test]
    fn oversized_files_are_refused_by_byte_count() {
        let limits = DecodeLimits {
            max_bytes: 10,
            ..DecodeLimits::default()
        };
        let error = decode(&small_png(), &limits).unwrap_err();
        assert!(
            matches!(error, LocalError::TooManyBytes { max: 10, .. }),
            "{error:?}"
        );
    }

    #[test]
    fn transparency_is_laid_over_white() {
        let mut rgba = RgbaImage::from_pixel(2, 1, Rgba([0, 0, 0, 0]));
        rgba.put_pixel(1, 0, Rgba([0, 0, 255, 255]));
        let png = encode_png(&rgba).unwrap();
        let image = decode(&png, &DecodeLimits::default()).unwrap();
        assert_eq!(image.get_pixel(0, 0), &Rgb([255, 255, 255]));
        assert_eq!(image.get_pixel(1, 0), &Rgb([0, 0, 255]));
    }
}
