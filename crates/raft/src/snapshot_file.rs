//! The snapshot file format (pure encoding over `Read`/`Write`, no redb, no async).
//!
//! ```text
//! magic    8 bytes  "TRSNAP\0\0"
//! version  u32 BE   (2; version 1 files, without staging, are still read)
//! meta     u32 BE length + JSON of openraft's SnapshotMeta
//! records  repeated: 0x01, u32 BE key length, key (UTF-8), u32 BE value length, value
//! staging  optional: 0x02, u32 BE length + JSON of the restore staging progress, then
//!          repeated 0x03, u32 BE length, bytes (the staged `state.bin` so far)
//! end      0x00
//! checksum 32 bytes SHA-256 of every preceding byte
//! ```
//!
//! Keys are written in the state machine's sorted order. A reader verifies the checksum over
//! the whole file before trusting any record.

use std::io::{self, Read, Write};

use sha2::{Digest, Sha256};

use crate::{NodeId, NodeInfo, RaftError};

/// Snapshot metadata as openraft defines it for our types.
pub(crate) type Meta = openraft::SnapshotMeta<NodeId, NodeInfo>;

const MAGIC: &[u8; 8] = b"TRSNAP\0\0";
const VERSION: u32 = 2;
const TAG_RECORD: u8 = 1;
const TAG_STAGING: u8 = 2;
const TAG_STAGING_DATA: u8 = 3;
/// Largest piece of staged data in one field.
const STAGING_PIECE: usize = 1024 * 1024;
const TAG_END: u8 = 0;
const CHECKSUM_LEN: usize = 32;
/// Upper bound for a single key, value or meta block, to refuse absurd lengths early.
const MAX_FIELD: u32 = 512 * 1024 * 1024;

/// Writes a snapshot, hashing everything it writes.
pub(crate) struct SnapshotWriter<W: Write> {
    out: W,
    hasher: Sha256,
}

impl<W: Write> SnapshotWriter<W> {
    /// Starts a snapshot with its header and metadata.
    pub(crate) fn new(out: W, meta: &Meta) -> Result<Self, RaftError> {
        let mut w = Self {
            out,
            hasher: Sha256::new(),
        };
        let meta_json =
            serde_json::to_vec(meta).map_err(|e| RaftError::Corrupt(format!("meta: {e}")))?;
        w.put(MAGIC)?;
        w.put(&VERSION.to_be_bytes())?;
        w.put_len(meta_json.len())?;
        w.put(&meta_json)?;
        Ok(w)
    }

    /// Appends one key/value record.
    pub(crate) fn record(&mut self, key: &str, value: &[u8]) -> Result<(), RaftError> {
        self.put(&[TAG_RECORD])?;
        self.put_len(key.len())?;
        self.put(key.as_bytes())?;
        self.put_len(value.len())?;
        self.put(value)
    }

    /// Appends the restore staging: its progress record, then `len` bytes from `data`.
    pub(crate) fn staging(
        &mut self,
        progress: &[u8],
        mut data: impl Read,
        len: u64,
    ) -> Result<(), RaftError> {
        self.put(&[TAG_STAGING])?;
        self.put_len(progress.len())?;
        self.put(progress)?;
        let mut left = len;
        let mut buf = vec![0u8; STAGING_PIECE];
        while left > 0 {
            let n = left.min(STAGING_PIECE as u64) as usize;
            data.read_exact(&mut buf[..n])?;
            self.put(&[TAG_STAGING_DATA])?;
            self.put_len(n)?;
            self.put(&buf[..n])?;
            left -= n as u64;
        }
        Ok(())
    }

    /// Writes the end marker and checksum; returns the underlying writer.
    pub(crate) fn finish(mut self) -> Result<W, RaftError> {
        self.put(&[TAG_END])?;
        let sum = self.hasher.finalize();
        self.out.write_all(&sum)?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), RaftError> {
        self.hasher.update(bytes);
        self.out.write_all(bytes)?;
        Ok(())
    }

    fn put_len(&mut self, len: usize) -> Result<(), RaftError> {
        let len = u32::try_from(len)
            .ok()
            .filter(|l| *l <= MAX_FIELD)
            .ok_or_else(|| RaftError::Io(format!("snapshot field too large: {len} bytes")))?;
        self.put(&len.to_be_bytes())
    }
}

/// Checks the trailing checksum of a complete snapshot of `total_len` bytes read from `r`.
pub(crate) fn verify(mut r: impl Read, total_len: u64) -> Result<(), RaftError> {
    let body_len = total_len
        .checked_sub(CHECKSUM_LEN as u64)
        .ok_or_else(|| RaftError::Corrupt("snapshot shorter than its checksum".into()))?;
    let mut hasher = Sha256::new();
    let copied = io::copy(&mut (&mut r).take(body_len), &mut hasher)?;
    if copied != body_len {
        return Err(RaftError::Corrupt("snapshot truncated".into()));
    }
    let mut expected = [0u8; CHECKSUM_LEN];
    r.read_exact(&mut expected)
        .map_err(|_| RaftError::Corrupt("snapshot checksum missing".into()))?;
    let actual = hasher.finalize();
    if actual.as_slice() != expected.as_slice() {
        return Err(RaftError::Corrupt("snapshot checksum mismatch".into()));
    }
    Ok(())
}

/// Reads the header of a snapshot, leaving `r` positioned at the first record.
pub(crate) fn read_meta(mut r: impl Read) -> Result<Meta, RaftError> {
    let mut magic = [0u8; 8];
    read_exact(&mut r, &mut magic)?;
    if &magic != MAGIC {
        return Err(RaftError::Corrupt("not a tresor snapshot".into()));
    }
    let version = read_u32(&mut r)?;
    if version != VERSION && version != 1 {
        return Err(RaftError::Corrupt(format!(
            "unsupported snapshot version {version}"
        )));
    }
    let meta = read_field(&mut r)?;
    serde_json::from_slice(&meta).map_err(|e| RaftError::Corrupt(format!("snapshot meta: {e}")))
}

/// One item of a snapshot's body.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Item {
    /// A key/value pair.
    Pair(String, Vec<u8>),
    /// The restore staging progress (JSON).
    Staging(Vec<u8>),
    /// A piece of staged data, in order.
    StagingData(Vec<u8>),
}

/// Reads a whole snapshot (header, then every item into `each`). Call [`verify`] first.
pub(crate) fn read_all(
    mut r: impl Read,
    mut each: impl FnMut(Item) -> Result<(), RaftError>,
) -> Result<Meta, RaftError> {
    let meta = read_meta(&mut r)?;
    loop {
        let mut tag = [0u8; 1];
        read_exact(&mut r, &mut tag)?;
        match tag[0] {
            TAG_END => return Ok(meta),
            TAG_RECORD => {
                let key = String::from_utf8(read_field(&mut r)?)
                    .map_err(|_| RaftError::Corrupt("snapshot key is not UTF-8".into()))?;
                let value = read_field(&mut r)?;
                each(Item::Pair(key, value))?;
            }
            TAG_STAGING => each(Item::Staging(read_field(&mut r)?))?,
            TAG_STAGING_DATA => each(Item::StagingData(read_field(&mut r)?))?,
            other => return Err(RaftError::Corrupt(format!("bad snapshot tag {other}"))),
        }
    }
}

fn read_exact(r: &mut impl Read, buf: &mut [u8]) -> Result<(), RaftError> {
    r.read_exact(buf)
        .map_err(|e| RaftError::Corrupt(format!("snapshot truncated: {e}")))
}

fn read_u32(r: &mut impl Read) -> Result<u32, RaftError> {
    let mut b = [0u8; 4];
    read_exact(r, &mut b)?;
    Ok(u32::from_be_bytes(b))
}

fn read_field(r: &mut impl Read) -> Result<Vec<u8>, RaftError> {
    let len = read_u32(r)?;
    if len > MAX_FIELD {
        return Err(RaftError::Corrupt(format!("snapshot field of {len} bytes")));
    }
    let mut buf = vec![0u8; len as usize];
    read_exact(r, &mut buf)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_meta() -> Meta {
        Meta {
            last_log_id: Some(openraft::LogId::new(
                openraft::CommittedLeaderId::new(3, 7),
                42,
            )),
            last_membership: Default::default(),
            snapshot_id: "3-42-1".into(),
        }
    }

    fn build(records: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = SnapshotWriter::new(Vec::new(), &sample_meta()).unwrap();
        for (k, v) in records {
            w.record(k, v).unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn round_trips_records_and_meta() {
        let bytes = build(&[("a", b"1"), ("b/c", &[0, 255]), ("empty", b"")]);
        verify(&bytes[..], bytes.len() as u64).unwrap();
        let mut got = Vec::new();
        let meta = read_all(&bytes[..], |item| {
            if let Item::Pair(k, v) = item {
                got.push((k, v));
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(meta, sample_meta());
        assert_eq!(
            got,
            vec![
                ("a".to_owned(), b"1".to_vec()),
                ("b/c".to_owned(), vec![0, 255]),
                ("empty".to_owned(), Vec::new())
            ]
        );
        assert_eq!(read_meta(&bytes[..]).unwrap(), sample_meta());
    }

    #[test]
    fn any_flipped_byte_fails_verification() {
        let bytes = build(&[("key", b"value")]);
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x01;
            assert!(
                verify(&bad[..], bad.len() as u64).is_err(),
                "flip at byte {i} went unnoticed"
            );
        }
    }

    #[test]
    fn truncation_is_detected() {
        let bytes = build(&[("key", b"value")]);
        let cut = &bytes[..bytes.len() - 5];
        assert!(verify(cut, cut.len() as u64).is_err());
        assert!(verify(&bytes[..3], 3).is_err());
        assert!(read_all(&bytes[..20], |_| Ok(())).is_err());
    }
}

/// What a snapshot file holds, as reported by [`inspect_snapshot`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// Index of the last log entry the snapshot covers.
    pub last_index: Option<u64>,
    /// Term of that entry.
    pub last_term: Option<u64>,
    /// String ids of the cluster members recorded in the snapshot.
    pub members: Vec<String>,
    /// Number of key/value records.
    pub keys: u64,
}

/// Verifies a snapshot (checksum, structure) and summarizes it. Reads `r` twice.
pub fn inspect_snapshot<R: Read + std::io::Seek>(mut r: R) -> Result<SnapshotInfo, RaftError> {
    let len = r.seek(io::SeekFrom::End(0))?;
    r.seek(io::SeekFrom::Start(0))?;
    verify(io::BufReader::new(&mut r), len)?;
    r.seek(io::SeekFrom::Start(0))?;
    let mut keys = 0u64;
    let meta = read_all(io::BufReader::new(&mut r), |item| {
        if matches!(item, Item::Pair(..)) {
            keys += 1;
        }
        Ok(())
    })?;
    let mut members: Vec<String> = meta
        .last_membership
        .membership()
        .nodes()
        .map(|(_, n)| n.node_id.clone())
        .collect();
    members.sort();
    Ok(SnapshotInfo {
        last_index: meta.last_log_id.map(|l| l.index),
        last_term: meta.last_log_id.map(|l| l.leader_id.term),
        members,
        keys,
    })
}
