//! `state.bin`: the key/value pairs of the replicated store.
//!
//! ```text
//! header   8 bytes "TRKVSTA1", u32 BE version (1)
//! record   0x01, u32 BE key length, key (UTF-8), u32 BE value length, value
//! end      0x00, u64 BE number of records
//! ```
//!
//! Records are in strictly ascending byte order of their keys (no duplicates), which a reader
//! checks. The file's integrity comes from its SHA-256 in `SHA256SUMS`; this structure only
//! makes a truncated or garbled file fail to parse even without that check.

use std::io::{self, Read, Write};

use crate::SnapshotError;

/// The first bytes of `state.bin`.
pub const MAGIC: &[u8; 8] = b"TRKVSTA1";
/// The encoding version.
pub const VERSION: u32 = 1;
/// Longest key accepted.
pub const MAX_KEY_LEN: usize = 64 * 1024;
/// Longest value accepted.
pub const MAX_VALUE_LEN: usize = 64 * 1024 * 1024;
/// Length of the header.
pub const HEADER_LEN: u64 = 12;
/// Length of the end marker and count.
pub const TRAILER_LEN: u64 = 9;
const TAG_RECORD: u8 = 1;
const TAG_END: u8 = 0;

/// Encoded length of one record.
pub fn record_len(key_len: usize, value_len: usize) -> u64 {
    1 + 4 + key_len as u64 + 4 + value_len as u64
}

fn malformed(msg: impl Into<String>) -> SnapshotError {
    SnapshotError::Malformed(format!("state.bin: {}", msg.into()))
}

/// Writes `state.bin` record by record.
pub struct StateWriter<W: Write> {
    out: W,
    count: u64,
    last: Option<String>,
}

impl<W: Write> StateWriter<W> {
    /// Writes the header.
    pub fn new(mut out: W) -> Result<Self, SnapshotError> {
        out.write_all(MAGIC)?;
        out.write_all(&VERSION.to_be_bytes())?;
        Ok(Self {
            out,
            count: 0,
            last: None,
        })
    }

    /// Appends one pair; keys must come in strictly ascending order.
    pub fn record(&mut self, key: &str, value: &[u8]) -> Result<(), SnapshotError> {
        if key.len() > MAX_KEY_LEN {
            return Err(SnapshotError::TooLarge(format!(
                "key of {} bytes",
                key.len()
            )));
        }
        if value.len() > MAX_VALUE_LEN {
            return Err(SnapshotError::TooLarge(format!(
                "value of {key} is {} bytes",
                value.len()
            )));
        }
        if self.last.as_deref().is_some_and(|l| l >= key) {
            return Err(malformed(format!("key {key:?} out of order")));
        }
        self.out.write_all(&[TAG_RECORD])?;
        self.out.write_all(&(key.len() as u32).to_be_bytes())?;
        self.out.write_all(key.as_bytes())?;
        self.out.write_all(&(value.len() as u32).to_be_bytes())?;
        self.out.write_all(value)?;
        self.count += 1;
        self.last = Some(key.to_owned());
        Ok(())
    }

    /// Writes the end marker; returns the writer and the number of records.
    pub fn finish(mut self) -> Result<(W, u64), SnapshotError> {
        self.out.write_all(&[TAG_END])?;
        self.out.write_all(&self.count.to_be_bytes())?;
        Ok((self.out, self.count))
    }
}

/// One record as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The key.
    pub key: String,
    /// The value (`None` when the reader was asked to skip it).
    pub value: Option<Vec<u8>>,
    /// The value's length.
    pub value_len: u64,
}

/// Reads `state.bin` record by record, checking order, bounds and the final count.
pub struct StateReader<R: Read> {
    r: R,
    count: u64,
    last: Option<String>,
    done: bool,
}

fn read_exact(r: &mut impl Read, buf: &mut [u8]) -> Result<(), SnapshotError> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => malformed("truncated"),
        _ => SnapshotError::Io(e),
    })
}

fn read_u32(r: &mut impl Read) -> Result<u32, SnapshotError> {
    let mut b = [0u8; 4];
    read_exact(r, &mut b)?;
    Ok(u32::from_be_bytes(b))
}

impl<R: Read> StateReader<R> {
    /// Reads and checks the header.
    pub fn new(mut r: R) -> Result<Self, SnapshotError> {
        let mut magic = [0u8; 8];
        read_exact(&mut r, &mut magic)?;
        if &magic != MAGIC {
            return Err(malformed("not a Tresor state file"));
        }
        let version = read_u32(&mut r)?;
        if version != VERSION {
            return Err(malformed(format!("unsupported version {version}")));
        }
        Ok(Self {
            r,
            count: 0,
            last: None,
            done: false,
        })
    }

    /// The next record (`None` after the end marker, whose count is checked). With
    /// `want_value` false the value is skipped without being buffered.
    pub fn next_record(&mut self, want_value: bool) -> Result<Option<Record>, SnapshotError> {
        if self.done {
            return Ok(None);
        }
        let mut tag = [0u8; 1];
        read_exact(&mut self.r, &mut tag)?;
        match tag[0] {
            TAG_END => {
                let mut n = [0u8; 8];
                read_exact(&mut self.r, &mut n)?;
                let n = u64::from_be_bytes(n);
                if n != self.count {
                    return Err(malformed(format!(
                        "end marker counts {n} records, {} were read",
                        self.count
                    )));
                }
                self.done = true;
                Ok(None)
            }
            TAG_RECORD => {
                let key_len = read_u32(&mut self.r)? as usize;
                if key_len > MAX_KEY_LEN {
                    return Err(malformed(format!("key of {key_len} bytes")));
                }
                let mut key = vec![0u8; key_len];
                read_exact(&mut self.r, &mut key)?;
                let key = String::from_utf8(key).map_err(|_| malformed("key is not UTF-8"))?;
                if key.is_empty() {
                    return Err(malformed("empty key"));
                }
                if self.last.as_deref().is_some_and(|l| l >= key.as_str()) {
                    return Err(malformed(format!("key {key:?} out of order")));
                }
                let value_len = read_u32(&mut self.r)? as usize;
                if value_len > MAX_VALUE_LEN {
                    return Err(malformed(format!("value of {value_len} bytes")));
                }
                let value = if want_value {
                    let mut v = vec![0u8; value_len];
                    read_exact(&mut self.r, &mut v)?;
                    Some(v)
                } else {
                    let copied =
                        io::copy(&mut (&mut self.r).take(value_len as u64), &mut io::sink())?;
                    if copied != value_len as u64 {
                        return Err(malformed("truncated"));
                    }
                    None
                };
                self.count += 1;
                self.last = Some(key.clone());
                Ok(Some(Record {
                    key,
                    value,
                    value_len: value_len as u64,
                }))
            }
            other => Err(malformed(format!("bad record tag {other}"))),
        }
    }

    /// Records read so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Whether the end marker was read.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Fails unless the input ends right after the end marker.
    pub fn expect_eof(mut self) -> Result<R, SnapshotError> {
        let mut one = [0u8; 1];
        loop {
            match self.r.read(&mut one) {
                Ok(0) => return Ok(self.r),
                Ok(_) => return Err(malformed("bytes after the end marker")),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(SnapshotError::Io(e)),
            }
        }
    }
}

/// Reads a whole `state.bin`, calling `each` for every pair, and checks that nothing
/// follows the end marker. Returns the number of records.
pub fn read_all<R: Read>(
    r: R,
    mut each: impl FnMut(String, Vec<u8>) -> Result<(), SnapshotError>,
) -> Result<u64, SnapshotError> {
    let mut reader = StateReader::new(r)?;
    while let Some(rec) = reader.next_record(true)? {
        each(rec.key, rec.value.unwrap_or_default())?;
    }
    let n = reader.count();
    reader.expect_eof()?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(pairs: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = StateWriter::new(Vec::new()).unwrap();
        for (k, v) in pairs {
            w.record(k, v).unwrap();
        }
        w.finish().unwrap().0
    }

    #[test]
    fn round_trip_and_length() {
        let pairs: &[(&str, &[u8])] = &[("a", b"1"), ("b/c", &[0, 255]), ("z", b"")];
        let bytes = encode(pairs);
        let expected: u64 = HEADER_LEN
            + TRAILER_LEN
            + pairs
                .iter()
                .map(|(k, v)| record_len(k.len(), v.len()))
                .sum::<u64>();
        assert_eq!(bytes.len() as u64, expected);
        let mut got = Vec::new();
        let n = read_all(&bytes[..], |k, v| {
            got.push((k, v));
            Ok(())
        })
        .unwrap();
        assert_eq!(n, 3);
        assert_eq!(got[1], ("b/c".to_owned(), vec![0, 255]));
    }

    #[test]
    fn refuses_unsorted_duplicate_and_trailing() {
        let mut w = StateWriter::new(Vec::new()).unwrap();
        w.record("b", b"").unwrap();
        assert!(w.record("a", b"").is_err());
        assert!(w.record("b", b"").is_err());
        let mut bytes = encode(&[("a", b"1")]);
        bytes.push(0);
        assert!(read_all(&bytes[..], |_, _| Ok(())).is_err());
    }

    #[test]
    fn refuses_wrong_count_and_huge_lengths() {
        let mut bytes = encode(&[("a", b"1")]);
        let n = bytes.len();
        bytes[n - 1] = 2;
        assert!(read_all(&bytes[..], |_, _| Ok(())).is_err());
        let mut huge = encode(&[]);
        huge.truncate(HEADER_LEN as usize);
        huge.extend_from_slice(&[TAG_RECORD, 0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(
            read_all(&huge[..], |_, _| Ok(())),
            Err(SnapshotError::Malformed(_))
        ));
    }
}
