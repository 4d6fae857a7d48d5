//! Drops what a PNG or JPEG carries besides its picture (text chunks, comments, XMP, vendor
//! segments, bytes after the end), so a small image cannot be stored as a large file.
//!
//! The file is walked chunk by chunk (PNG) or segment by segment (JPEG) and every kept part
//! is copied verbatim, CRCs included: the pixels and how they render do not change. The
//! `png` and `image` crates read such chunks but do not write a file back without
//! re-encoding it, which is why this walker exists. Malformed structure is an error, never
//! a panic, and never a file kept as it came.

use std::borrow::Cow;

use super::LocalError;
use super::decode::{DecodeLimits, declared_size};

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// PNG ancillary chunks that change how the pixels render (or their orientation and scale);
/// every other ancillary chunk is dropped. Critical chunks are always kept.
const PNG_KEPT: &[&[u8; 4]] = &[
    b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"cICP", b"pHYs", b"eXIf",
];

/// The most metadata (kept ancillary chunks or segments) a file may carry.
pub const MAX_METADATA_BYTES: usize = 1024 * 1024;

/// Room a file may take beyond twice its raw pixels (headers, palettes, kept metadata):
/// compressed image data is never near that large, padding is.
const SLACK_BYTES: u64 = 2 * 1024 * 1024;

/// `bytes` without what does not render, and checked to be no larger than its picture
/// explains. Unchanged bytes are borrowed, not copied.
///
/// # Errors
/// [`LocalError::NotAnImage`] for anything but PNG or JPEG, [`LocalError::Decode`] for a
/// malformed chunk or segment structure, [`LocalError::TooMuchMetadata`] when the kept
/// metadata is over [`MAX_METADATA_BYTES`], [`LocalError::LargerThanItsPixels`] when the image
/// data is far larger than the picture needs, and the decode limits' errors for what the
/// header declares.
pub fn strip_metadata<'a>(
    bytes: &'a [u8],
    limits: &DecodeLimits,
) -> Result<Cow<'a, [u8]>, LocalError> {
    let stripped = if bytes.starts_with(PNG_SIGNATURE) {
        strip_png(bytes)?
    } else if bytes.starts_with(&[0xFF, 0xD8]) {
        strip_jpeg(bytes)?
    } else {
        // Not ours to walk: decoding says what it is.
        declared_size(bytes, limits)?;
        return Ok(Cow::Borrowed(bytes));
    };
    if stripped.metadata > MAX_METADATA_BYTES {
        return Err(LocalError::TooMuchMetadata {
            len: stripped.metadata,
            max: MAX_METADATA_BYTES,
        });
    }
    let declared = declared_size(&stripped.bytes, limits)?;
    let len = stripped.bytes.len();
    let max = 2 * declared.pixel_bytes + SLACK_BYTES;
    if len as u64 > max {
        return Err(LocalError::LargerThanItsPixels {
            len,
            width: declared.width,
            height: declared.height,
            max,
        });
    }
    Ok(if len == bytes.len() {
        Cow::Borrowed(bytes)
    } else {
        Cow::Owned(stripped.bytes)
    })
}

/// A file with its droppable parts taken out.
struct Stripped {
    bytes: Vec<u8>,
    /// Bytes of the metadata that was kept (ancillary chunks, APPn segments).
    metadata: usize,
}

fn malformed(format: &str, at: usize, what: impl std::fmt::Display) -> LocalError {
    LocalError::Decode(format!("the {format} is malformed at byte {at}: {what}"))
}

/// Keeps the signature, the critical chunks and [`PNG_KEPT`], up to and including `IEND`.
fn strip_png(bytes: &[u8]) -> Result<Stripped, LocalError> {
    let mut out = Vec::with_capacity(bytes.len().min(64 * 1024));
    out.extend_from_slice(PNG_SIGNATURE);
    let mut metadata = 0;
    let mut at = PNG_SIGNATURE.len();
    while at < bytes.len() {
        let header = bytes
            .get(at..at + 8)
            .ok_or_else(|| malformed("PNG", at, "a chunk header is cut off"))?;
        let length = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let kind: [u8; 4] = [header[4], header[5], header[6], header[7]];
        let end = at
            .checked_add(12)
            .and_then(|n| n.checked_add(length))
            .filter(|&end| end <= bytes.len())
            .ok_or_else(|| {
                malformed(
                    "PNG",
                    at,
                    format!(
                        "chunk `{}` declares {length} bytes but the file ends first",
                        String::from_utf8_lossy(&kind)
                    ),
                )
            })?;
        if !kind.iter().all(u8::is_ascii_alphabetic) {
            return Err(malformed("PNG", at, "a chunk type is not four letters"));
        }
        let critical = kind[0].is_ascii_uppercase();
        if critical || PNG_KEPT.contains(&&kind) {
            out.extend_from_slice(&bytes[at..end]);
            if !critical {
                metadata += length;
            }
        }
        at = end;
        if &kind == b"IEND" {
            break;
        }
    }
    Ok(Stripped {
        bytes: out,
        metadata,
    })
}

/// Keeps every marker segment but comments and APPn, except APP0 (JFIF), APP1 Exif (the
/// orientation), APP2 ICC profiles and APP14 (Adobe colour transform); stops at EOI.
fn strip_jpeg(bytes: &[u8]) -> Result<Stripped, LocalError> {
    let mut out = Vec::with_capacity(bytes.len().min(1024 * 1024));
    out.extend_from_slice(&bytes[..2]);
    let mut metadata = 0;
    let mut at = 2;
    while at < bytes.len() {
        if bytes[at] != 0xFF {
            return Err(malformed("JPEG", at, "a marker was expected"));
        }
        // Any number of 0xFF fill bytes may come before a marker.
        let mut marker_at = at + 1;
        while bytes.get(marker_at) == Some(&0xFF) {
            marker_at += 1;
        }
        let Some(&marker) = bytes.get(marker_at) else {
            break;
        };
        let after_marker = marker_at + 1;
        match marker {
            0xD9 => {
                out.extend_from_slice(&[0xFF, 0xD9]);
                break;
            }
            0x01 | 0xD0..=0xD7 => {
                out.extend_from_slice(&[0xFF, marker]);
                at = after_marker;
                continue;
            }
            0x00 => return Err(malformed("JPEG", marker_at, "a stray 0xFF 0x00")),
            _ => {}
        }
        let length = bytes
            .get(after_marker..after_marker + 2)
            .map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])))
            .ok_or_else(|| malformed("JPEG", after_marker, "a segment length is cut off"))?;
        let end = after_marker + length;
        if length < 2 || end > bytes.len() {
            return Err(malformed(
                "JPEG",
                after_marker,
                format!("segment 0xFF{marker:02X} declares {length} bytes but the file ends first"),
            ));
        }
        let payload = &bytes[after_marker + 2..end];
        let keep = match marker {
            0xE0 | 0xEE => true,
            0xE1 => payload.starts_with(b"Exif\0\0"),
            0xE2 => payload.starts_with(b"ICC_PROFILE\0"),
            0xE3..=0xEF | 0xFE => false,
            _ => true,
        };
        if keep {
            out.extend_from_slice(&[0xFF, marker]);
            out.extend_from_slice(&bytes[after_marker..end]);
            if (0xE0..=0xEF).contains(&marker) {
                metadata += length;
            }
        }
        at = end;
        if marker == 0xDA {
            // Entropy-coded data runs to the next marker that is not a stuffed 0xFF 0x00 or
            // a restart marker.
            let data_end = scan_end(bytes, at);
            out.extend_from_slice(&bytes[at..data_end]);
            at = data_end;
        }
    }
    Ok(Stripped {
        bytes: out,
        metadata,
    })
}

/// Where the entropy-coded data starting at `from` ends: at the next real marker, or at the
/// end of the file.
fn scan_end(bytes: &[u8], from: usize) -> usize {
    let mut at = from;
    while at + 1 < bytes.len() {
        if bytes[at] == 0xFF {
            let next = bytes[at + 1];
            if next != 0x00 && !(0xD0..=0xD7).contains(&next) && next != 0xFF {
                return at;
            }
        }
        at += 1;
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use image::{ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};

    use super::*;
    use crate::local::{decode, encode_png};

    fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut chunk = (data.len() as u32).to_be_bytes().to_vec();
        chunk.extend_from_slice(kind);
        chunk.extend_from_slice(data);
        let mut crc = crc32fast::Hasher::new();
        crc.update(kind);
        crc.update(data);
        chunk.extend_from_slice(&crc.finalize().to_be_bytes());
        chunk
    }

    /// `png` with `extra` chunks inserted after IHDR.
    fn with_chunks(png: &[u8], extra: &[Vec<u8>]) -> Vec<u8> {
        let ihdr_end = 8 + 12 + 13;
        let mut out = png[..ihdr_end].to_vec();
        for chunk in extra {
            out.extend_from_slice(chunk);
        }
        out.extend_from_slice(&png[ihdr_end..]);
        out
    }

    fn photo() -> RgbaImage {
        RgbaImage::from_fn(40, 30, |x, y| {
            Rgba([
                (x * 6) as u8,
                (y * 8) as u8,
                90,
                if x < 5 { 0 } else { 255 },
            ])
        })
    }

    fn limits() -> DecodeLimits {
        DecodeLimits::default()
    }

    #[test]
    fn text_chunks_and_trailing_bytes_go_and_the_pixels_stay() {
        let png = encode_png(&photo()).unwrap();
        let mut padded = with_chunks(
            &png,
            &[
                chunk(b"tEXt", &vec![b'x'; 3 * 1024 * 1024]),
                chunk(b"gAMA", &45455u32.to_be_bytes()),
                chunk(b"zTXt", b"Comment\0\0xx"),
                chunk(b"prVt", b"a private chunk"),
            ],
        );
        padded.extend_from_slice(b"after the end");
        let stripped = strip_metadata(&padded, &limits()).unwrap();
        assert!(stripped.len() < png.len() + 100, "{} bytes", stripped.len());
        assert_eq!(
            stripped.as_ref(),
            with_chunks(&png, &[chunk(b"gAMA", &45455u32.to_be_bytes())]).as_slice()
        );
        assert_eq!(
            decode(&stripped, &limits()).unwrap(),
            decode(&png, &limits()).unwrap()
        );
    }

    #[test]
    fn a_clean_file_is_borrowed_as_it_is() {
        let png = encode_png(&photo()).unwrap();
        assert!(matches!(
            strip_metadata(&png, &limits()).unwrap(),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn too_much_kept_metadata_is_refused() {
        let png = encode_png(&photo()).unwrap();
        let big_profile = with_chunks(&png, &[chunk(b"iCCP", &vec![0; 2 * 1024 * 1024])]);
        let error = strip_metadata(&big_profile, &limits()).unwrap_err();
        assert!(
            matches!(error, LocalError::TooMuchMetadata { .. }),
            "{error:?}"
        );
    }

    #[test]
    fn image_data_far_larger_than_its_pixels_is_refused() {
        let png = encode_png(&photo()).unwrap();
        // An extra IDAT full of zeros after the image's own: decoders ignore it.
        let iend = png.len() - 12;
        let mut padded = png[..iend].to_vec();
        padded.extend_from_slice(&chunk(b"IDAT", &vec![0; 3 * 1024 * 1024]));
        padded.extend_from_slice(&png[iend..]);
        let error = strip_metadata(&padded, &limits()).unwrap_err();
        assert!(
            matches!(
                error,
                LocalError::LargerThanItsPixels {
                    width: 40,
                    height: 30,
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(error.to_string().contains("40x30"), "{error}");
    }

    #[test]
    fn every_truncation_of_a_padded_png_is_an_error_or_a_smaller_file_never_a_panic() {
        let png = encode_png(&photo()).unwrap();
        let padded = with_chunks(&png, &[chunk(b"tEXt", &[b'y'; 500])]);
        for cut in 0..padded.len() {
            let piece = &padded[..cut];
            if let Ok(stripped) = strip_metadata(piece, &limits()) {
                assert!(stripped.len() <= piece.len());
            }
        }
    }

    #[test]
    fn lying_chunk_lengths_and_garbage_are_errors() {
        let png = encode_png(&photo()).unwrap();
        let mut lying = png[..33].to_vec();
        lying.extend_from_slice(&u32::MAX.to_be_bytes());
        lying.extend_from_slice(b"tEXtabc");
        assert!(matches!(
            strip_metadata(&lying, &limits()),
            Err(LocalError::Decode(_))
        ));
        let mut garbage = png[..33].to_vec();
        garbage.extend_from_slice(&[0, 0, 0, 1, 0xFF, 0, 1, 2, 3, 4, 5, 6, 7]);
        assert!(strip_metadata(&garbage, &limits()).is_err());
        for seed in 0..200u32 {
            let mut noisy = png.clone();
            let at = 8 + (seed as usize * 7919) % (noisy.len() - 8);
            noisy[at] ^= (seed % 255 + 1) as u8;
            let _ = strip_metadata(&noisy, &limits());
        }
    }

    fn jpeg() -> Vec<u8> {
        let source = RgbImage::from_fn(32, 16, |x, _| Rgb([(x * 8) as u8, 40, 200]));
        let mut jpeg = Vec::new();
        source
            .write_to(&mut Cursor::new(&mut jpeg), ImageFormat::Jpeg)
            .unwrap();
        jpeg
    }

    fn segment(marker: u8, payload: &[u8]) -> Vec<u8> {
        let mut segment = vec![0xFF, marker];
        segment.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
        segment.extend_from_slice(payload);
        segment
    }

    #[test]
    fn jpeg_comments_and_vendor_segments_go_and_exif_and_icc_stay() {
        let jpeg = jpeg();
        let exif = segment(0xE1, b"Exif\0\0MM\0*\0\0\0\x08\0\0");
        let icc = segment(0xE2, b"ICC_PROFILE\0\x01\x01profile");
        let mut padded = jpeg[..2].to_vec();
        padded.extend_from_slice(&exif);
        for _ in 0..40 {
            padded.extend_from_slice(&segment(0xFE, &[b'c'; 60_000]));
            padded.extend_from_slice(&segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0<x/>"));
            padded.extend_from_slice(&segment(0xED, &[0; 60_000]));
        }
        padded.extend_from_slice(&icc);
        padded.extend_from_slice(&jpeg[2..]);
        padded.extend_from_slice(&[0; 5000]);
        assert!(padded.len() > 4_000_000);
        let stripped = strip_metadata(&padded, &limits()).unwrap();
        let mut expected = jpeg[..2].to_vec();
        expected.extend_from_slice(&exif);
        expected.extend_from_slice(&icc);
        expected.extend_from_slice(&jpeg[2..]);
        assert_eq!(stripped.as_ref(), expected.as_slice());
        assert_eq!(
            decode(&stripped, &limits()).unwrap(),
            decode(&jpeg, &limits()).unwrap()
        );
    }

    #[test]
    fn every_truncation_of_a_jpeg_is_an_error_or_a_smaller_file_never_a_panic() {
        let jpeg = jpeg();
        let mut padded = jpeg[..2].to_vec();
        padded.extend_from_slice(&segment(0xFE, b"a comment"));
        padded.extend_from_slice(&jpeg[2..]);
        for cut in 0..padded.len() {
            let piece = &padded[..cut];
            if let Ok(stripped) = strip_metadata(piece, &limits()) {
                assert!(stripped.len() <= piece.len());
            }
        }
        let mut stray = jpeg[..2].to_vec();
        stray.extend_from_slice(&[0xFF, 0xFE, 0x00]);
        assert!(matches!(
            strip_metadata(&stray, &limits()),
            Err(LocalError::Decode(_))
        ));
    }

    #[test]
    fn anything_else_is_named_like_decoding_names_it() {
        let error = strip_metadata(b"GIF89a....", &limits()).unwrap_err();
        assert!(matches!(error, LocalError::NotAnImage { .. }), "{error:?}");
    }
}
