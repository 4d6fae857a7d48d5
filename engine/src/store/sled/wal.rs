//! The store's write-ahead log: the one file a durable commit writes.
//!
//! A commit is one `pwrite` of the batches written since the last commit and one
//! `fdatasync` — a single device round trip, where sled's own flush takes two (its writes
//! are synced with `sync_file_range`, which flushes neither the disk's write cache nor the
//! file size, so an `fdatasync` has to follow) plus a hop through its I/O threads.
//!
//! The file is written ahead of its end with zeros, so a commit overwrites allocated blocks
//! and its `fdatasync` carries no metadata (no file-size change, no journal commit of the
//! file system) until the file has to grow. Once the log holds more than
//! [`CHECKPOINT_BYTES`], the database makes sled durable and the log starts over from its
//! header.
//!
//! ```text
//! header:  "techwal1" | generation u64 | crc32 of the 16 bytes before u32
//! record:  body len u32 | crc32 of generation and body u32 | generation u64 | body
//! body:    (tree name len u8 | tree name | key len u32 | key | 0, or 1 | value len u32 | value)*
//! ```
//!
//! Every open and every checkpoint starts a new *generation*: the header is rewritten with the
//! next number and records follow it. Reading stops at the first record that is torn, damaged
//! or of another generation (zeros, or a record from before the log started over, which may
//! sit past a shorter new one): that is where the last commit ended. A commit the disk did
//! not finish is never acknowledged, and whatever it left behind belongs to a generation that
//! is over by the time anything else is written.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

const MAGIC: &[u8; 8] = b"techwal1";
const HEADER_BYTES: u64 = 20;
const FRAME_BYTES: usize = 16;
/// A tree's name is stored in a byte of length.
pub(crate) const MAX_TREE_NAME: usize = u8::MAX as usize;
/// How far ahead of its end the file is written with zeros, at least.
const GROWTH_BYTES: u64 = 1 << 20;
/// Past this, the database checkpoints (sled made durable) and the log starts over.
pub(crate) const CHECKPOINT_BYTES: u64 = 16 << 20;

/// One key's new value (`Some`) or its removal (`None`), in the tree named `tree`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LoggedWrite {
    pub tree: String,
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

/// Appends one record holding `writes` (applied together or not at all) to `out`. The record
/// is sealed (its generation and checksum filled in) when it is committed.
pub(crate) fn encode_record<'a>(
    out: &mut Vec<u8>,
    writes: impl Iterator<Item = (&'a str, &'a [u8], Option<&'a [u8]>)>,
) {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_BYTES]);
    for (tree, key, value) in writes {
        debug_assert!(
            tree.len() <= MAX_TREE_NAME,
            "checked when the tree is opened"
        );
        out.push(tree.len() as u8);
        out.extend_from_slice(tree.as_bytes());
        out.extend_from_slice(&(key.len() as u32).to_be_bytes());
        out.extend_from_slice(key);
        match value {
            Some(value) => {
                out.push(1);
                out.extend_from_slice(&(value.len() as u32).to_be_bytes());
                out.extend_from_slice(value);
            }
            None => out.push(0),
        }
    }
    let body_len = (out.len() - start - FRAME_BYTES) as u32;
    out[start..start + 4].copy_from_slice(&body_len.to_be_bytes());
}

/// Fills in each record's generation and checksum.
fn seal(records: &mut [u8], generation: u64) {
    let mut at = 0;
    while at + FRAME_BYTES <= records.len() {
        let body_len = u32::from_be_bytes(records[at..at + 4].try_into().expect("4 bytes"));
        let end = at + FRAME_BYTES + body_len as usize;
        records[at + 8..at + 16].copy_from_slice(&generation.to_be_bytes());
        let crc = crc32fast::hash(&records[at + 8..end]);
        records[at + 4..at + 8].copy_from_slice(&crc.to_be_bytes());
        at = end;
    }
}

fn decode_body(mut rest: &[u8]) -> Option<Vec<LoggedWrite>> {
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, tail) = rest.split_at_checked(n)?;
        rest = tail;
        Some(head)
    };
    let mut writes = Vec::new();
    while let Some(name_len) = take(1) {
        let tree = String::from_utf8(take(name_len[0] as usize)?.to_vec()).ok()?;
        let key_len = u32::from_be_bytes(take(4)?.try_into().ok()?) as usize;
        let key = take(key_len)?.to_vec();
        let value = match take(1)?[0] {
            0 => None,
            1 => {
                let len = u32::from_be_bytes(take(4)?.try_into().ok()?) as usize;
                Some(take(len)?.to_vec())
            }
            _ => return None,
        };
        writes.push(LoggedWrite { tree, key, value });
    }
    Some(writes)
}

fn header(generation: u64) -> [u8; HEADER_BYTES as usize] {
    let mut out = [0u8; HEADER_BYTES as usize];
    out[..8].copy_from_slice(MAGIC);
    out[8..16].copy_from_slice(&generation.to_be_bytes());
    let crc = crc32fast::hash(&out[..16]);
    out[16..].copy_from_slice(&crc.to_be_bytes());
    out
}

/// The open log file.
pub(crate) struct WriteAheadLog {
    file: File,
    generation: u64,
    /// Where the next record goes.
    end: u64,
    /// The file's length: everything before it is written (records or zeros).
    allocated: u64,
}

impl WriteAheadLog {
    /// Opens the log at `path` (creating it if there is none) and reads its committed records,
    /// oldest first (each one's writes go together). The caller applies them and makes them
    /// durable elsewhere, then calls [`Self::start_over`] before it commits anything.
    pub(crate) fn open(path: &Path) -> io::Result<(WriteAheadLog, Vec<Vec<LoggedWrite>>)> {
        let created = !path.exists();
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let mut log = WriteAheadLog {
            allocated: file.metadata()?.len(),
            file,
            generation: 0,
            end: HEADER_BYTES,
        };
        if created {
            log.file.write_all_at(&header(0), 0)?;
            log.allocated = log.allocated.max(HEADER_BYTES);
            log.grow_to(GROWTH_BYTES)?;
            log.file.sync_all()?;
            if let Some(dir) = path.parent() {
                File::open(dir)?.sync_all()?;
            }
            return Ok((log, Vec::new()));
        }
        let records = log.read_records()?;
        Ok((log, records))
    }

    fn read_records(&mut self) -> io::Result<Vec<Vec<LoggedWrite>>> {
        let mut bytes = Vec::new();
        {
            use std::io::Read;
            (&self.file).read_to_end(&mut bytes)?;
        }
        let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
        if bytes.len() < HEADER_BYTES as usize || &bytes[..8] != MAGIC {
            return Err(invalid("not a techpack write-ahead log"));
        }
        self.generation = u64::from_be_bytes(bytes[8..16].try_into().expect("8 bytes"));
        let header_crc = u32::from_be_bytes(bytes[16..20].try_into().expect("4 bytes"));
        if crc32fast::hash(&bytes[..16]) != header_crc {
            // 20 bytes inside the first sector, written in one piece: a crash does not tear
            // it, so its records cannot be trusted either.
            return Err(invalid("the write-ahead log's header is damaged"));
        }
        let mut records = Vec::new();
        let mut at = HEADER_BYTES as usize;
        while let Some(frame) = bytes.get(at..at + FRAME_BYTES) {
            let body_len = u32::from_be_bytes(frame[..4].try_into().expect("4 bytes")) as usize;
            let crc = u32::from_be_bytes(frame[4..8].try_into().expect("4 bytes"));
            let generation = u64::from_be_bytes(frame[8..16].try_into().expect("8 bytes"));
            let Some(checked) = bytes.get(at + 8..at + FRAME_BYTES + body_len) else {
                break;
            };
            if generation != self.generation || crc32fast::hash(checked) != crc {
                break;
            }
            let Some(writes) = decode_body(&checked[8..]) else {
                break;
            };
            records.push(writes);
            at += FRAME_BYTES + body_len;
        }
        self.end = at as u64;
        Ok(records)
    }

    /// Seals `records` (whole, encoded by [`encode_record`]), writes them after the last ones
    /// and waits until the disk holds them.
    pub(crate) fn commit(&mut self, records: &mut [u8]) -> io::Result<()> {
        seal(records, self.generation);
        let end = self.end + records.len() as u64;
        if end > self.allocated {
            // Double the file (zeros) so later commits overwrite allocated blocks again.
            self.grow_to(end.max(self.allocated * 2).max(GROWTH_BYTES))?;
        }
        self.file.write_all_at(records, self.end)?;
        self.file.sync_data()?;
        self.end = end;
        Ok(())
    }

    fn grow_to(&mut self, len: u64) -> io::Result<()> {
        static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];
        let mut at = self.allocated;
        while at < len {
            let n = (len - at).min(ZEROS.len() as u64);
            self.file.write_all_at(&ZEROS[..n as usize], at)?;
            at += n;
        }
        self.allocated = self.allocated.max(len);
        Ok(())
    }

    /// Bytes of records since the log last started over.
    pub(crate) fn len(&self) -> u64 {
        self.end - HEADER_BYTES
    }

    /// Empties the log by starting its next generation right after the header. Only once
    /// everything the log held is durable somewhere else.
    pub(crate) fn start_over(&mut self) -> io::Result<()> {
        self.generation += 1;
        self.file.write_all_at(&header(self.generation), 0)?;
        self.file.sync_data()?;
        self.end = HEADER_BYTES;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Writes<'a> = &'a [(&'a str, &'a [u8], Option<&'a [u8]>)];

    fn record(writes: Writes<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        encode_record(&mut out, writes.iter().copied());
        out
    }

    fn owned(writes: Writes<'_>) -> Vec<LoggedWrite> {
        writes
            .iter()
            .map(|(tree, key, value)| LoggedWrite {
                tree: tree.to_string(),
                key: key.to_vec(),
                value: value.map(<[u8]>::to_vec),
            })
            .collect()
    }

    /// Opens the log as the database does: read what it holds, then start a new generation.
    fn reopen(path: &Path) -> (WriteAheadLog, Vec<Vec<LoggedWrite>>) {
        let (mut log, records) = WriteAheadLog::open(path).unwrap();
        log.start_over().unwrap();
        (log, records)
    }

    #[test]
    fn committed_records_read_back_in_order_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let first: Writes = &[
            ("nodes", b"run/step", Some(b"{\"status\":\"running\"}")),
            ("hooks", b"ledger/pending/x", None),
        ];
        let second: Writes = &[("runs", b"", Some(b""))];
        {
            let (mut log, records) = reopen(&path);
            assert!(records.is_empty());
            let mut batch = record(first);
            batch.extend(record(second));
            log.commit(&mut batch).unwrap();
        }
        let (log, records) = WriteAheadLog::open(&path).unwrap();
        assert_eq!(records, vec![owned(first), owned(second)]);
        assert!(log.len() > 0);
    }

    #[test]
    fn a_torn_last_record_ends_the_log_where_the_commit_before_it_did() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let kept: Writes = &[("hooks", b"a", Some(b"1"))];
        let (mut log, _) = reopen(&path);
        log.commit(&mut record(kept)).unwrap();
        let mut torn = record(&[("hooks", b"b", Some(b"a longer value, cut short"))]);
        seal(&mut torn, log.generation);
        for cut in 1..torn.len() {
            log.file.write_all_at(&torn[..cut], log.end).unwrap();
            let (_, records) = WriteAheadLog::open(&path).unwrap();
            assert_eq!(records, vec![owned(kept)], "cut at {cut}");
        }
        // A bit flipped inside a whole record is not replayed either.
        let last = torn.len() - 1;
        torn[last] ^= 1;
        log.file.write_all_at(&torn, log.end).unwrap();
        let (_, records) = WriteAheadLog::open(&path).unwrap();
        assert_eq!(records, vec![owned(kept)]);
    }

    #[test]
    fn records_from_an_earlier_generation_are_not_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let (mut log, _) = reopen(&path);
        let short: Writes = &[("hooks", b"k", Some(b"1"))];
        // Three records of one generation; the log then starts over (a checkpoint) and a
        // record exactly as long as the first is written in its place: the two old ones after
        // it are whole, but from the generation before.
        let mut old = record(short);
        old.extend(record(short));
        old.extend(record(short));
        log.commit(&mut old).unwrap();
        log.start_over().unwrap();
        let new: Writes = &[("hooks", b"k", Some(b"2"))];
        log.commit(&mut record(new)).unwrap();
        let (_, records) = WriteAheadLog::open(&path).unwrap();
        assert_eq!(records, vec![owned(new)]);
        // Reopening starts another generation: nothing is left to replay after that.
        let (_, _) = reopen(&path);
        let (_, records) = WriteAheadLog::open(&path).unwrap();
        assert!(records.is_empty());
    }

    #[test]
    fn a_commit_past_the_written_zeros_grows_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let (mut log, _) = reopen(&path);
        let value = vec![9u8; 3 << 20];
        log.commit(&mut record(&[("blobs", b"big", Some(&value))]))
            .unwrap();
        let (_, records) = WriteAheadLog::open(&path).unwrap();
        assert_eq!(records[0][0].value.as_deref(), Some(&value[..]));
        assert!(std::fs::metadata(&path).unwrap().len() >= 3 << 20);
    }

    #[test]
    fn a_file_that_is_not_a_log_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, b"some other file, long enough to hold a header").unwrap();
        assert!(WriteAheadLog::open(&path).is_err());
    }
}
