//! How a value is laid down in sled (and in the write-ahead log): large values compressed
//! with LZ4, so sled's pages, splits and log writes carry a third of the bytes.
//!
//! | stored bytes                          | value                                  |
//! |---------------------------------------|----------------------------------------|
//! | anything not starting with `0xFF`     | itself                                 |
//! | `0xFF 0x00` + bytes                   | the bytes (a value that starts `0xFF`) |
//! | `0xFF 0x01` + size (u32 LE) + block   | the LZ4 block, decompressed            |
//!
//! Every value written before this framing existed is JSON or text (UTF-8 never starts with
//! `0xFF`) or empty, so it reads back as itself.

use sled::IVec;

use super::database::DbError;

const FRAMED: u8 = 0xFF;
const ESCAPED: u8 = 0x00;
const LZ4: u8 = 0x01;
/// Prefix of a compressed value: the two tag bytes and the uncompressed size.
const LZ4_HEADER: usize = 6;
/// Smaller values are stored as they are: a run record or a ledger entry (≤ ~600 bytes)
/// compresses to little and would pay the call on every trigger (measured: triggers/s fell
/// by a sixth at 512 bytes).
const COMPRESS_FROM: usize = 2048;
/// The largest value decompressed (a corrupt size must not allocate gigabytes).
const MAX_VALUE: usize = 256 * 1024 * 1024;

/// The bytes to store for `value`.
pub(super) fn encode(value: &[u8]) -> IVec {
    if value.len() >= COMPRESS_FROM && value.len() <= MAX_VALUE {
        let mut out = vec![0; LZ4_HEADER + lz4_flex::block::get_maximum_output_size(value.len())];
        if let Ok(written) = lz4_flex::block::compress_into(value, &mut out[LZ4_HEADER..])
            // Kept only when it saves at least an eighth.
            && LZ4_HEADER + written <= value.len() - value.len() / 8
        {
            out[0] = FRAMED;
            out[1] = LZ4;
            out[2..LZ4_HEADER].copy_from_slice(&(value.len() as u32).to_le_bytes());
            out.truncate(LZ4_HEADER + written);
            return IVec::from(out);
        }
    }
    if value.first() == Some(&FRAMED) {
        let mut out = Vec::with_capacity(value.len() + 2);
        out.extend_from_slice(&[FRAMED, ESCAPED]);
        out.extend_from_slice(value);
        return IVec::from(out);
    }
    IVec::from(value)
}

/// The value `stored` holds.
pub(super) fn decode(stored: IVec) -> Result<IVec, DbError> {
    if stored.first() != Some(&FRAMED) {
        return Ok(stored);
    }
    match stored.get(1) {
        Some(&ESCAPED) => Ok(stored.subslice(2, stored.len() - 2)),
        Some(&LZ4) if stored.len() >= LZ4_HEADER => {
            let size = u32::from_le_bytes(stored[2..LZ4_HEADER].try_into().expect("4 bytes"));
            let size = size as usize;
            if size > MAX_VALUE {
                return Err(corrupt("a compressed value claims more than 256 MiB"));
            }
            let mut out = vec![0; size];
            match lz4_flex::block::decompress_into(&stored[LZ4_HEADER..], &mut out) {
                Ok(written) if written == size => Ok(IVec::from(out)),
                Ok(_) => Err(corrupt(
                    "a compressed value is shorter than its stated size",
                )),
                Err(e) => Err(corrupt(&format!(
                    "a compressed value does not decompress: {e}"
                ))),
            }
        }
        _ => Err(corrupt("a stored value has an unknown frame")),
    }
}

fn corrupt(message: &str) -> DbError {
    DbError::from(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        message.to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(value: &[u8]) -> IVec {
        let stored = encode(value);
        assert_eq!(&*decode(stored.clone()).unwrap(), value);
        stored
    }

    #[test]
    fn small_and_textual_values_are_stored_as_they_are() {
        for value in [&b""[..], b"{}", b"\"x\"", &[b'a'; 2047]] {
            assert_eq!(&*round_trip(value), value);
        }
    }

    #[test]
    fn large_repetitive_values_are_stored_compressed() {
        let record = br#"{"key":"value","number":12345},"#.repeat(200);
        let stored = round_trip(&record);
        assert!(stored.len() < record.len() / 4, "{} bytes", stored.len());
    }

    #[test]
    fn values_that_do_not_compress_or_start_with_the_tag_keep_their_bytes() {
        // Noise does not compress: stored whole.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8 | 1
            })
            .filter(|b| *b != FRAMED)
            .collect();
        assert_eq!(round_trip(&noise).len(), noise.len());
        // A value that starts with the tag byte, large or small, is escaped.
        for value in [vec![FRAMED, LZ4, 1, 2], [FRAMED].repeat(3000)] {
            round_trip(&value);
        }
    }

    #[test]
    fn damaged_frames_are_errors_not_panics() {
        let record = br#"{"key":"value"},"#.repeat(300);
        let stored = encode(&record);
        for bad in [
            stored[..stored.len() / 2].to_vec(),
            [&stored[..2], &[0xFF, 0xFF, 0xFF, 0x7F], &stored[6..]].concat(),
            vec![FRAMED],
            vec![FRAMED, 7, 1],
        ] {
            assert!(decode(IVec::from(bad)).is_err());
        }
    }
}
