//! Atomic multi-key transitions without sled transactions.
//!
//! A transition that writes more than one key (a node record with the ledger entries of its
//! credit hook, say) is first written whole as **one** journal record — a single sled insert,
//! atomic by itself, and its commit point — then applied key by key to the trees it belongs
//! to, then dropped from the journal. sled recovers a prefix of its log after a crash, so a
//! transition whose record survived but whose keys were not all applied is found in the
//! journal at the next open and applied again (every write is a whole value, so applying
//! twice is applying once). A sled transaction costs two rolls of sled's log buffer (two
//! background log writes, each waking all of sled's I/O threads); this costs a few inserts.

use crate::EngineError;

/// Which tree a write goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Runs = 1,
    Nodes = 2,
    Hooks = 3,
}

impl Target {
    fn from_tag(tag: u8) -> Option<Target> {
        match tag {
            1 => Some(Target::Runs),
            2 => Some(Target::Nodes),
            3 => Some(Target::Hooks),
            _ => None,
        }
    }
}

/// One key's new value, or its removal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Write {
    pub target: Target,
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

/// `[tag u8][key len u32][key][0 | 1 u8][value len u32][value]`, repeated.
pub(crate) fn encode(writes: &[Write]) -> Vec<u8> {
    let size: usize = writes
        .iter()
        .map(|w| 10 + w.key.len() + w.value.as_ref().map_or(0, Vec::len))
        .sum();
    let mut out = Vec::with_capacity(size);
    for write in writes {
        out.push(write.target as u8);
        out.extend_from_slice(&(write.key.len() as u32).to_be_bytes());
        out.extend_from_slice(&write.key);
        match &write.value {
            Some(value) => {
                out.push(1);
                out.extend_from_slice(&(value.len() as u32).to_be_bytes());
                out.extend_from_slice(value);
            }
            None => out.push(0),
        }
    }
    out
}

pub(crate) fn decode(bytes: &[u8]) -> Result<Vec<Write>, EngineError> {
    let corrupt = |error: &str| EngineError::Corrupt {
        what: "a journaled transition".into(),
        error: error.into(),
    };
    let mut rest = bytes;
    let mut take = |n: usize| -> Result<&[u8], EngineError> {
        if rest.len() < n {
            return Err(corrupt("it ends early"));
        }
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Ok(head)
    };
    let mut writes = Vec::new();
    while let Ok(tag) = take(1) {
        let target = Target::from_tag(tag[0]).ok_or_else(|| corrupt("unknown tree tag"))?;
        let key_len = u32::from_be_bytes(take(4)?.try_into().expect("4 bytes")) as usize;
        let key = take(key_len)?.to_vec();
        let value = match take(1)?[0] {
            0 => None,
            1 => {
                let len = u32::from_be_bytes(take(4)?.try_into().expect("4 bytes")) as usize;
                Some(take(len)?.to_vec())
            }
            _ => return Err(corrupt("bad value flag")),
        };
        writes.push(Write { target, key, value });
    }
    Ok(writes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_read_back_as_written() {
        let writes = vec![
            Write {
                target: Target::Nodes,
                key: b"run/step".to_vec(),
                value: Some(b"{\"status\":\"running\"}".to_vec()),
            },
            Write {
                target: Target::Hooks,
                key: b"ledger/pending/x".to_vec(),
                value: None,
            },
            Write {
                target: Target::Runs,
                key: Vec::new(),
                value: Some(Vec::new()),
            },
        ];
        assert_eq!(decode(&encode(&writes)).unwrap(), writes);
        assert!(decode(&[]).unwrap().is_empty());
    }

    #[test]
    fn a_damaged_record_is_an_error_not_a_panic() {
        let bytes = encode(&[Write {
            target: Target::Hooks,
            key: b"k".to_vec(),
            value: Some(b"value".to_vec()),
        }]);
        for cut in 1..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert!(decode(&[9, 0, 0, 0, 0, 0]).is_err());
    }
}
