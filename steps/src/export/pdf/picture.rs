//! A picture as the PDF stores it: a zlib stream of rows, grey or RGB.
//!
//! Flats and close-ups are stored as PNG, and a plain PNG (8 bits per channel, grey or RGB,
//! not interlaced, no transparency) already is such a stream: its IDAT chunks are zlib
//! data of filtered rows, which PDF reads directly with the PNG predictors. Such a PNG goes
//! into the PDF as it is, without decoding and compressing it again; any other picture is
//! compressed from its pixels.

use image::RgbImage;

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// The colour channels of a picture's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channels {
    Grey,
    Rgb,
}

impl Channels {
    pub fn count(self) -> i32 {
        match self {
            Channels::Grey => 1,
            Channels::Rgb => 3,
        }
    }
}

/// A picture ready for the PDF.
#[derive(Debug, Clone)]
pub struct Picture {
    width: u32,
    height: u32,
    channels: Channels,
    /// zlib data of the rows.
    zlib: Vec<u8>,
    /// Whether each row starts with a PNG filter byte (the rows of a PNG's IDAT chunks).
    png_filtered: bool,
}

impl Picture {
    /// The picture of `pixels`, compressed.
    pub fn from_pixels(pixels: &RgbImage) -> Self {
        // Level 3: flats are mostly white and shrink well; a higher level costs time for
        // little.
        Self {
            width: pixels.width(),
            height: pixels.height(),
            channels: Channels::Rgb,
            zlib: miniz_oxide::deflate::compress_to_vec_zlib(pixels.as_raw(), 3),
            png_filtered: false,
        }
    }

    /// The picture a PNG file holds, taken as it is; `None` when the file is not a plain
    /// 8-bit grey or RGB PNG without interlacing or transparency, or is damaged (a chunk
    /// cut short or failing its checksum).
    pub fn from_png(bytes: &[u8]) -> Option<Self> {
        let mut rest = bytes.strip_prefix(PNG_SIGNATURE)?;
        let mut header = None;
        let mut zlib = Vec::new();
        loop {
            let length =
                usize::try_from(u32::from_be_bytes(rest.get(..4)?.try_into().ok()?)).ok()?;
            let kind: [u8; 4] = rest.get(4..8)?.try_into().ok()?;
            let data = rest.get(8..8usize.checked_add(length)?)?;
            let crc = rest.get(8 + length..12 + length)?;
            let mut hasher = crc32fast::Hasher::new();
            hasher.update(&kind);
            hasher.update(data);
            if hasher.finalize().to_be_bytes() != crc {
                return None;
            }
            match &kind {
                b"IHDR" => header = Some(Header::read(data)?),
                b"IDAT" => zlib.extend_from_slice(data),
                b"tRNS" | b"PLTE" => return None,
                b"IEND" => break,
                _ => {}
            }
            rest = &rest[12 + length..];
        }
        let header = header?;
        (!zlib.is_empty()).then_some(Self {
            width: header.width,
            height: header.height,
            channels: header.channels,
            zlib,
            png_filtered: true,
        })
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    pub fn dimensions(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    pub fn channels(&self) -> Channels {
        self.channels
    }

    /// The zlib stream of the rows.
    pub fn zlib(&self) -> &[u8] {
        &self.zlib
    }

    /// Whether the rows carry PNG filter bytes (PDF's `/Predictor 15`).
    pub fn png_filtered(&self) -> bool {
        self.png_filtered
    }
}

/// What a PNG's IHDR chunk says, for the PNGs taken as they are.
struct Header {
    width: u32,
    height: u32,
    channels: Channels,
}

impl Header {
    fn read(data: &[u8]) -> Option<Self> {
        let [
            w0,
            w1,
            w2,
            w3,
            h0,
            h1,
            h2,
            h3,
            depth,
            colour,
            compression,
            filter,
            interlace,
        ] = <[u8; 13]>::try_from(data).ok()?;
        let width = u32::from_be_bytes([w0, w1, w2, w3]);
        let height = u32::from_be_bytes([h0, h1, h2, h3]);
        let channels = match colour {
            0 => Channels::Grey,
            2 => Channels::Rgb,
            _ => return None,
        };
        let plain = depth == 8 && compression == 0 && filter == 0 && interlace == 0;
        (plain && width > 0 && height > 0).then_some(Self {
            width,
            height,
            channels,
        })
    }
}

#[cfg(test)]
mod tests {
    use image::{GrayImage, Luma, Rgb, RgbaImage};

    use super::*;
    use crate::local::encode_png;

    /// Undoes what a PDF reader undoes: inflate, then the PNG row filters.
    fn rows_of(picture: &Picture) -> Vec<u8> {
        let raw = miniz_oxide::inflate::decompress_to_vec_zlib(picture.zlib()).unwrap();
        if !picture.png_filtered() {
            return raw;
        }
        let bpp = picture.channels().count() as usize;
        let stride = picture.width() as usize * bpp;
        let mut out: Vec<u8> = Vec::new();
        for (y, row) in raw.chunks(stride + 1).enumerate() {
            let (filter, row) = (row[0], &row[1..]);
            for (x, &byte) in row.iter().enumerate() {
                let left = if x >= bpp {
                    out[y * stride + x - bpp]
                } else {
                    0
                };
                let up = if y > 0 { out[(y - 1) * stride + x] } else { 0 };
                let up_left = if y > 0 && x >= bpp {
                    out[(y - 1) * stride + x - bpp]
                } else {
                    0
                };
                let predicted = match filter {
                    0 => 0,
                    1 => left,
                    2 => up,
                    3 => ((u16::from(left) + u16::from(up)) / 2) as u8,
                    4 => {
                        let p = i16::from(left) + i16::from(up) - i16::from(up_left);
                        let (pa, pb, pc) = (
                            (p - i16::from(left)).abs(),
                            (p - i16::from(up)).abs(),
                            (p - i16::from(up_left)).abs(),
                        );
                        if pa <= pb && pa <= pc {
                            left
                        } else if pb <= pc {
                            up
                        } else {
                            up_left
                        }
                    }
                    other => panic!("filter {other}"),
                };
                out.push(byte.wrapping_add(predicted));
            }
        }
        out
    }

    fn gradient() -> RgbImage {
        RgbImage::from_fn(37, 21, |x, y| Rgb([(x * 7) as u8, (y * 11) as u8, 200]))
    }

    #[test]
    fn an_rgb_png_is_taken_as_it_is_and_reads_back_as_its_pixels() {
        let image = gradient();
        let picture = Picture::from_png(&encode_png(&image).unwrap()).expect("a plain RGB PNG");
        assert_eq!(picture.dimensions(), (37, 21));
        assert_eq!(picture.channels(), Channels::Rgb);
        assert!(picture.png_filtered());
        assert_eq!(rows_of(&picture), image.into_raw());
    }

    #[test]
    fn a_grey_png_stays_grey() {
        let image = GrayImage::from_fn(30, 12, |x, y| Luma([(x * 8 + y) as u8]));
        let picture = Picture::from_png(&encode_png(&image).unwrap()).expect("a plain grey PNG");
        assert_eq!(picture.channels(), Channels::Grey);
        assert_eq!(rows_of(&picture), image.into_raw());
    }

    #[test]
    fn pixels_are_compressed_without_row_filters() {
        let image = gradient();
        let picture = Picture::from_pixels(&image);
        assert!(!picture.png_filtered());
        assert_eq!(rows_of(&picture), image.into_raw());
    }

    #[test]
    fn transparent_damaged_or_foreign_files_are_not_taken_as_they_are() {
        let rgba = RgbaImage::from_pixel(4, 4, image::Rgba([1, 2, 3, 4]));
        assert!(Picture::from_png(&encode_png(&rgba).unwrap()).is_none());
        let mut damaged = encode_png(&gradient()).unwrap();
        let middle = damaged.len() / 2;
        damaged[middle] ^= 0xff;
        assert!(Picture::from_png(&damaged).is_none());
        let cut = encode_png(&gradient()).unwrap();
        assert!(Picture::from_png(&cut[..cut.len() - 20]).is_none());
        assert!(Picture::from_png(b"GIF89a").is_none());
        assert!(Picture::from_png(&[]).is_none());
    }
}
