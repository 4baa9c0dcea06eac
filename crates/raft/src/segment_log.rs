//! The Raft log as numbered segment files of checksummed records, plus a small meta file for
//! the vote, the commit index and the last purged log id. Synchronous; [`LogStore`] runs it
//! on the blocking pool. The format and the recovery rules are in
//! `docs/design/raft-log-format.md`.
//!
//! - Segment `<first index, 20 digits>.seg`: a 16-byte header (`TRSRSEG1`, the first index
//!   little-endian), then records `[len u32][crc32c u32][payload]` (little-endian; the CRC
//!   covers the length bytes and the payload). Payload kind 1: `[1][index u64][entry]`, the
//!   entry in [`log_codec`](crate::log_codec)'s binary form; kind 2: `[2][commit index]`.
//! - One [`SegmentLog::append`] writes all its records with one write and makes them durable
//!   with one `fdatasync` (plus one directory sync when it started a segment). A segment is
//!   sealed (synced) before the next one is started, once it is past `segment_bytes`.
//! - `meta`: `TRSRMETA`, then one record holding vote, commit index and last purged log id;
//!   replaced atomically (write `meta.tmp`, sync, rename, sync the directory).
//! - The commit index rides with the next append as a kind-2 record (no extra sync), and is
//!   written to `meta` with every vote, purge and on shutdown. Losing the newest one in a crash
//!   is harmless: it is learnt again.
//! - Open: every record of the last segment is read and checked; the first torn, short or
//!   corrupt one ends the log (the file is cut there and synced). Sealed segments were synced
//!   whole before the next segment was started, so only their record headers are read (to
//!   build the index → offset map and to check that indexes follow each other and the records
//!   fill the file exactly); their checksums are verified when entries are read. A damaged
//!   header in a sealed segment refuses the open, naming the file and the offset.
//! - Any I/O error while writing poisons the log: every later call fails (what reached the
//!   disk is sorted out by recovery at the next open).

use std::ops::Bound;

use openraft::{Entry, LogId, Vote};
use serde::{Deserialize, Serialize};

use crate::log_codec::{decode_entry, decode_value, encode_entry_into, encode_value};
use crate::log_fs::{LogDir, LogFile};
use crate::{NodeId, RaftError, TypeConfig};

const SEGMENT_MAGIC: &[u8; 8] = b"TRSRSEG1";
const SEGMENT_HEADER: u64 = 16;
const RECORD_HEADER: u64 = 8;
const KIND_ENTRY: u8 = 1;
const KIND_COMMITTED: u8 = 2;
/// The largest commit-index record (it holds one optional log id).
const MAX_COMMITTED_RECORD: u64 = 64;
pub(crate) const META_FILE: &str = "meta";
const META_TMP: &str = "meta.tmp";
const META_MAGIC: &[u8; 8] = b"TRSRMETA";
const MAX_META_BYTES: u64 = 64 * 1024;
const SEGMENT_SUFFIX: &str = ".seg";

static CRC32C: crc::Crc<u32, crc::Table<16>> =
    crc::Crc::<u32, crc::Table<16>>::new(&crc::CRC_32_ISCSI);

/// The record checksum: CRC-32C of the length bytes and the payload.
fn record_crc(len_bytes: &[u8], payload: &[u8]) -> u32 {
    let mut d = CRC32C.digest();
    d.update(len_bytes);
    d.update(payload);
    d.finalize()
}

/// What `meta` holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Meta {
    /// The last vote saved.
    pub(crate) vote: Option<Vote<NodeId>>,
    /// The commit index as of the last meta write.
    pub(crate) committed: Option<LogId<NodeId>>,
    /// Every entry up to this one may be gone.
    pub(crate) last_purged: Option<LogId<NodeId>>,
}

struct Segment {
    /// Index of its first entry (also in its name and header).
    first: u64,
    name: String,
    file: Box<dyn LogFile>,
    /// Offset of each entry record, entry `first + i` at `offsets[i]`.
    offsets: Vec<u64>,
    /// End of the valid records (where the next one goes).
    len: u64,
}

impl Segment {
    fn end_index(&self) -> u64 {
        self.first + self.offsets.len() as u64
    }

    fn last_index(&self) -> Option<u64> {
        (!self.offsets.is_empty()).then(|| self.end_index() - 1)
    }
}

/// The segment file name of a segment starting at `first`.
pub(crate) fn segment_name(first: u64) -> String {
    format!("{first:020}{SEGMENT_SUFFIX}")
}

fn segment_header(first: u64) -> [u8; SEGMENT_HEADER as usize] {
    let mut header = [0u8; SEGMENT_HEADER as usize];
    header[..8].copy_from_slice(SEGMENT_MAGIC);
    header[8..].copy_from_slice(&first.to_le_bytes());
    header
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn io_err(what: impl std::fmt::Display, e: std::io::Error) -> RaftError {
    RaftError::Io(format!("raft log: {what}: {e}"))
}

/// Appends one record (`kind`, then what `body` writes) to `buf`.
fn push_record(
    buf: &mut Vec<u8>,
    kind: u8,
    body: impl FnOnce(&mut Vec<u8>) -> Result<(), RaftError>,
) -> Result<usize, RaftError> {
    let at = buf.len();
    buf.extend_from_slice(&[0u8; RECORD_HEADER as usize]);
    buf.push(kind);
    body(buf)?;
    let len = buf.len() - at - RECORD_HEADER as usize;
    let len32 = u32::try_from(len)
        .map_err(|_| RaftError::Corrupt(format!("log record of {len} bytes is too large")))?;
    let len_bytes = len32.to_le_bytes();
    let crc = record_crc(&len_bytes, &buf[at + RECORD_HEADER as usize..]);
    buf[at..at + 4].copy_from_slice(&len_bytes);
    buf[at + 4..at + 8].copy_from_slice(&crc.to_le_bytes());
    Ok(len)
}

/// One parsed record header.
struct Header {
    len: u64,
    crc: u32,
}

fn parse_header(b: &[u8]) -> Header {
    let mut len = [0u8; 4];
    len.copy_from_slice(&b[..4]);
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&b[4..8]);
    Header {
        len: u64::from(u32::from_le_bytes(len)),
        crc: u32::from_le_bytes(crc),
    }
}

fn u64_at(b: &[u8]) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[..8]);
    u64::from_le_bytes(x)
}

/// What a scan of one segment found.
enum Scan {
    /// Records fill the file.
    Clean,
    /// A torn or damaged record starts here (why).
    TornAt(u64, String),
}

/// The Raft log in a directory of segment files (see the module documentation).
pub(crate) struct SegmentLog {
    dir: Box<dyn LogDir>,
    segments: Vec<Segment>,
    /// What `meta` holds.
    meta: Meta,
    /// The newest commit index written anywhere (meta or a record).
    committed: Option<LogId<NodeId>>,
    /// The log id of the last entry, if any.
    last_log_id: Option<LogId<NodeId>>,
    segment_bytes: u64,
    /// Set by the first failed write: the log refuses every later call.
    failed: Option<String>,
    buf: Vec<u8>,
}

impl SegmentLog {
    /// Opens the log in `dir` (empty or not), recovering from a crash as described in the
    /// module documentation.
    pub(crate) fn open(dir: Box<dyn LogDir>, segment_bytes: u64) -> Result<Self, RaftError> {
        let names = dir
            .list()
            .map_err(|e| io_err("list the log directory", e))?;
        if names.iter().any(|n| n == META_TMP) {
            dir.remove(META_TMP)
                .map_err(|e| io_err("remove meta.tmp", e))?;
        }
        let meta = if names.iter().any(|n| n == META_FILE) {
            read_meta(dir.as_ref())?
        } else {
            Meta::default()
        };
        let mut found: Vec<(u64, String)> = names
            .iter()
            .filter_map(|n| parse_segment_name(n).map(|first| (first, n.clone())))
            .collect();
        found.sort();
        let mut log = SegmentLog {
            dir,
            segments: Vec::new(),
            committed: meta.committed,
            meta,
            last_log_id: None,
            segment_bytes: segment_bytes.max(SEGMENT_HEADER + 1),
            failed: None,
            buf: Vec::new(),
        };
        let count = found.len();
        let mut dir_changed = false;
        for (i, (first, name)) in found.into_iter().enumerate() {
            let is_last = i + 1 == count;
            match log.open_segment(first, &name, is_last)? {
                Some(seg) => {
                    if let Some(prev) = log.segments.last()
                        && prev.end_index() > seg.first
                    {
                        return Err(RaftError::Corrupt(format!(
                            "raft log: segment {name} starts at index {} but {} runs to {}",
                            seg.first,
                            prev.name,
                            prev.end_index() - 1
                        )));
                    }
                    log.segments.push(seg);
                }
                None => {
                    tracing::warn!(segment = %name, "raft log: removing a segment without entries");
                    log.dir
                        .remove(&name)
                        .map_err(|e| io_err(format!("remove {name}"), e))?;
                    dir_changed = true;
                }
            }
        }
        if dir_changed {
            log.dir
                .sync_dir()
                .map_err(|e| io_err("sync the log directory", e))?;
        }
        // A purge that was recorded but whose segments were not all removed yet.
        log.remove_purged_segments()?;
        log.last_log_id = log.read_last_log_id()?;
        Ok(log)
    }

    /// Reads one segment's header and record headers; `None` if it holds no entry (then the
    /// caller removes it). Only the last segment may end in a torn record: it is cut there.
    fn open_segment(
        &mut self,
        first: u64,
        name: &str,
        is_last: bool,
    ) -> Result<Option<Segment>, RaftError> {
        let file = self
            .dir
            .open(name)
            .map_err(|e| io_err(format!("open {name}"), e))?;
        let file_len = file.len().map_err(|e| io_err(format!("stat {name}"), e))?;
        let corrupt = |offset: u64, why: &str| {
            RaftError::Corrupt(format!(
                "raft log segment {name}, offset {offset}: {why}; only the last segment may end \
                 in a torn record, so this one is damaged (restore the node from a snapshot or \
                 another node)"
            ))
        };
        let mut header = [0u8; SEGMENT_HEADER as usize];
        if file_len < SEGMENT_HEADER {
            if is_last {
                return Ok(None);
            }
            return Err(corrupt(0, "shorter than the segment header"));
        }
        file.read_at(0, &mut header)
            .map_err(|e| io_err(format!("read {name}"), e))?;
        let expected = segment_header(first);
        if header != expected {
            if is_last && header.iter().zip(expected).all(|(h, e)| *h == e || *h == 0) {
                // Created, never synced: nothing in it was acknowledged.
                return Ok(None);
            }
            return Err(corrupt(0, "not a segment header for its name"));
        }
        let mut seg = Segment {
            first,
            name: name.to_owned(),
            file,
            offsets: Vec::new(),
            len: SEGMENT_HEADER,
        };
        match self.scan(&mut seg, file_len, is_last)? {
            Scan::Clean => {}
            Scan::TornAt(at, why) => {
                if !is_last {
                    return Err(corrupt(at, &why));
                }
                tracing::warn!(
                    segment = %name, offset = at, reason = %why, dropped_bytes = file_len - at,
                    "raft log: cutting a torn tail off the last segment"
                );
                seg.file
                    .truncate(at)
                    .and_then(|()| seg.file.sync_data())
                    .map_err(|e| io_err(format!("cut {name}"), e))?;
            }
        }
        if seg.offsets.is_empty() {
            return Ok(None);
        }
        Ok(Some(seg))
    }

    /// Walks the records of `seg` from its header to `file_len`, filling its offsets. In the
    /// last segment every record is read and checked; in sealed ones only headers (and the
    /// small commit-index records).
    fn scan(&mut self, seg: &mut Segment, file_len: u64, full: bool) -> Result<Scan, RaftError> {
        let mut pos = SEGMENT_HEADER;
        let mut head = [0u8; RECORD_HEADER as usize + 9];
        let mut body = Vec::new();
        while pos < file_len {
            let avail = file_len - pos;
            if avail < RECORD_HEADER + 1 {
                return Ok(Scan::TornAt(pos, "record header cut short".into()));
            }
            let want = avail.min(head.len() as u64) as usize;
            seg.file
                .read_at(pos, &mut head[..want])
                .map_err(|e| io_err(format!("read {}", seg.name), e))?;
            let h = parse_header(&head);
            if h.len == 0 || h.len > avail - RECORD_HEADER {
                return Ok(Scan::TornAt(
                    pos,
                    format!("record length {} past the end", h.len),
                ));
            }
            let kind = head[RECORD_HEADER as usize];
            let check_all = full || kind == KIND_COMMITTED;
            if kind == KIND_COMMITTED && h.len > MAX_COMMITTED_RECORD {
                return Ok(Scan::TornAt(pos, "oversized commit-index record".into()));
            }
            if check_all {
                body.resize(h.len as usize, 0);
                seg.file
                    .read_at(pos + RECORD_HEADER, &mut body)
                    .map_err(|e| io_err(format!("read {}", seg.name), e))?;
                if record_crc(&head[..4], &body) != h.crc {
                    return Ok(Scan::TornAt(pos, "checksum mismatch".into()));
                }
            }
            match kind {
                KIND_ENTRY => {
                    if h.len < 9 || want < head.len() {
                        return Ok(Scan::TornAt(pos, "entry record too short".into()));
                    }
                    let index = u64_at(&head[RECORD_HEADER as usize + 1..]);
                    if index != seg.end_index() {
                        return Ok(Scan::TornAt(
                            pos,
                            format!("entry index {index} where {} was due", seg.end_index()),
                        ));
                    }
                    seg.offsets.push(pos);
                }
                KIND_COMMITTED => match decode_value::<Option<LogId<NodeId>>>(&body[1..]) {
                    Ok(c) => self.committed = self.committed.max(c),
                    Err(e) => return Ok(Scan::TornAt(pos, e.to_string())),
                },
                other => return Ok(Scan::TornAt(pos, format!("unknown record kind {other}"))),
            }
            pos += RECORD_HEADER + h.len;
            seg.len = pos;
        }
        Ok(Scan::Clean)
    }

    fn check(&self) -> Result<(), RaftError> {
        match &self.failed {
            Some(why) => Err(RaftError::Io(format!(
                "raft log failed earlier and refuses further use until reopened: {why}"
            ))),
            None => Ok(()),
        }
    }

    /// Runs a write step; a failure poisons the log.
    fn poison_on_err<T>(&mut self, res: Result<T, RaftError>) -> Result<T, RaftError> {
        if let Err(e) = &res {
            self.failed = Some(e.to_string());
        }
        res
    }

    /// The vote saved last.
    pub(crate) fn vote(&self) -> Option<Vote<NodeId>> {
        self.meta.vote
    }

    /// The newest commit index this log has written.
    pub(crate) fn committed(&self) -> Option<LogId<NodeId>> {
        self.committed
    }

    /// Entries up to this one may be gone.
    pub(crate) fn last_purged(&self) -> Option<LogId<NodeId>> {
        self.meta.last_purged
    }

    /// The log id of the last entry, if the log holds any.
    pub(crate) fn last_log_id(&self) -> Option<LogId<NodeId>> {
        self.last_log_id
    }

    /// How many entries after the last purged one the log holds.
    pub(crate) fn entry_count(&self) -> u64 {
        let from = self.meta.last_purged.map(|l| l.index + 1).unwrap_or(0);
        self.segments
            .iter()
            .map(|s| s.end_index().saturating_sub(from.max(s.first)))
            .sum()
    }

    /// Bytes in segment files.
    pub(crate) fn disk_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.len).sum()
    }

    /// How many segment files there are.
    #[cfg(test)]
    pub(crate) fn segment_count(&self) -> usize {
        self.segments.len()
    }

    fn last_index(&self) -> Option<u64> {
        self.segments.iter().rev().find_map(|s| s.last_index())
    }

    /// Appends `entries` (consecutive indexes following the last entry, or anywhere after the
    /// purge point when the log is empty or after a gap), with the commit index `committed`
    /// if given, and makes them durable. Returns the encoded size of each entry stored: those
    /// after the purge point, a suffix of `entries`.
    pub(crate) fn append(
        &mut self,
        entries: &[Entry<TypeConfig>],
        committed: Option<Option<LogId<NodeId>>>,
    ) -> Result<Vec<usize>, RaftError> {
        self.check()?;
        // Entries at or below the purge point are covered by a snapshot: not stored (as if
        // appended and purged at once). openraft does not send them; its storage test suite
        // does.
        let covered = match self.meta.last_purged {
            Some(p) => entries
                .iter()
                .take_while(|e| e.log_id.index <= p.index)
                .count(),
            None => 0,
        };
        let entries = &entries[covered..];
        let Some(first) = entries.first() else {
            return Ok(Vec::new());
        };
        let first_index = first.log_id.index;
        for (i, e) in entries.iter().enumerate() {
            if e.log_id.index != first_index + i as u64 {
                return Err(RaftError::Corrupt(format!(
                    "append: entry {} does not follow {}",
                    e.log_id.index,
                    first_index + i as u64 - 1
                )));
            }
        }
        if let Some(last) = self.last_index()
            && first_index <= last
        {
            return Err(RaftError::Corrupt(format!(
                "append at index {first_index} would overwrite the log (last {last}); truncate first"
            )));
        }
        let res = self.append_inner(entries, committed);
        self.poison_on_err(res)
    }

    fn append_inner(
        &mut self,
        entries: &[Entry<TypeConfig>],
        committed: Option<Option<LogId<NodeId>>>,
    ) -> Result<Vec<usize>, RaftError> {
        let mut created = false;
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let mut offsets = Vec::with_capacity(entries.len());
        let mut sizes = Vec::with_capacity(entries.len());
        let mut committed = committed;
        for e in entries {
            let index = e.log_id.index;
            let need_new = match self.segments.last() {
                None => true,
                Some(seg) => {
                    let next = seg.end_index() + offsets.len() as u64;
                    next != index
                        || (seg.len + buf.len() as u64 >= self.segment_bytes
                            && !(seg.offsets.is_empty() && offsets.is_empty()))
                }
            };
            if need_new {
                if !buf.is_empty() || !offsets.is_empty() {
                    self.flush(&buf, std::mem::take(&mut offsets))?;
                    buf.clear();
                }
                self.start_segment(index)?;
                created = true;
            }
            let base = self.segments.last().map(|s| s.len).unwrap_or(0);
            if let Some(c) = committed.take() {
                push_record(&mut buf, KIND_COMMITTED, |b| {
                    b.extend_from_slice(&encode_value(&c)?);
                    Ok(())
                })?;
                self.committed = self.committed.max(c);
            }
            offsets.push(base + buf.len() as u64);
            let size = push_record(&mut buf, KIND_ENTRY, |b| {
                b.extend_from_slice(&index.to_le_bytes());
                encode_entry_into(e, b)
            })?;
            sizes.push(size);
        }
        self.flush(&buf, offsets)?;
        self.buf = buf;
        if created {
            self.dir
                .sync_dir()
                .map_err(|e| io_err("sync the log directory", e))?;
        }
        self.last_log_id = entries.last().map(|e| e.log_id).or(self.last_log_id);
        Ok(sizes)
    }

    /// Writes `buf` at the end of the last segment, syncs it, and records `offsets`.
    fn flush(&mut self, buf: &[u8], offsets: Vec<u64>) -> Result<(), RaftError> {
        let Some(seg) = self.segments.last_mut() else {
            return Err(RaftError::Io("raft log: no segment to write to".into()));
        };
        seg.file
            .write_at(seg.len, buf)
            .and_then(|()| seg.file.sync_data())
            .map_err(|e| io_err(format!("write {}", seg.name), e))?;
        seg.len += buf.len() as u64;
        seg.offsets.extend(offsets);
        Ok(())
    }

    /// Creates the segment whose first entry is `first` and writes its header (synced with
    /// its first records).
    fn start_segment(&mut self, first: u64) -> Result<(), RaftError> {
        let name = segment_name(first);
        let mut file = self
            .dir
            .create(&name)
            .map_err(|e| io_err(format!("create {name}"), e))?;
        file.write_at(0, &segment_header(first))
            .map_err(|e| io_err(format!("write {name}"), e))?;
        self.segments.push(Segment {
            first,
            name,
            file,
            offsets: Vec::new(),
            len: SEGMENT_HEADER,
        });
        Ok(())
    }

    /// Removes every entry from `index` on, durably: later segments are removed (newest
    /// first, then the directory is synced), then the segment holding `index` is cut at that
    /// record and synced. A crash in between leaves a prefix of the old log.
    pub(crate) fn truncate(&mut self, index: u64) -> Result<(), RaftError> {
        self.check()?;
        let res = self.truncate_inner(index);
        self.poison_on_err(res)
    }

    fn truncate_inner(&mut self, index: u64) -> Result<(), RaftError> {
        if self.last_index().is_none_or(|last| last < index) {
            return Ok(());
        }
        let mut removed = false;
        while let Some(seg) = self.segments.last() {
            if seg.first < index {
                break;
            }
            let name = seg.name.clone();
            self.dir
                .remove(&name)
                .map_err(|e| io_err(format!("remove {name}"), e))?;
            self.segments.pop();
            removed = true;
        }
        if removed {
            self.dir
                .sync_dir()
                .map_err(|e| io_err("sync the log directory", e))?;
        }
        if let Some(seg) = self.segments.last_mut()
            && seg.end_index() > index
        {
            let keep = (index - seg.first) as usize;
            let cut = seg.offsets[keep];
            seg.file
                .truncate(cut)
                .and_then(|()| seg.file.sync_data())
                .map_err(|e| io_err(format!("cut {}", seg.name), e))?;
            seg.offsets.truncate(keep);
            seg.len = cut;
        }
        if self.segments.last().is_some_and(|s| s.offsets.is_empty())
            && let Some(seg) = self.segments.pop()
        {
            self.dir
                .remove(&seg.name)
                .and_then(|()| self.dir.sync_dir())
                .map_err(|e| io_err(format!("remove {}", seg.name), e))?;
        }
        self.last_log_id = self.read_last_log_id()?;
        Ok(())
    }

    /// Records `upto` as purged (durably, in `meta`) and then removes the segments whose
    /// entries are all at or below it.
    pub(crate) fn purge(
        &mut self,
        upto: LogId<NodeId>,
        committed: Option<Option<LogId<NodeId>>>,
    ) -> Result<(), RaftError> {
        self.check()?;
        if self.meta.last_purged >= Some(upto) {
            return Ok(());
        }
        let mut meta = self.meta.clone();
        meta.last_purged = Some(upto);
        let res = self
            .write_meta(meta, committed)
            .and_then(|()| self.remove_purged_segments());
        if self.last_index().is_none() {
            self.last_log_id = None;
        }
        self.poison_on_err(res)
    }

    /// Removes whole segments at or below the purge point (no directory sync: one that
    /// reappears after a crash is removed again at open).
    fn remove_purged_segments(&mut self) -> Result<(), RaftError> {
        let Some(p) = self.meta.last_purged else {
            return Ok(());
        };
        while let Some(seg) = self.segments.first() {
            if seg.end_index() > p.index + 1 {
                break;
            }
            let name = seg.name.clone();
            self.dir
                .remove(&name)
                .map_err(|e| io_err(format!("remove {name}"), e))?;
            self.segments.remove(0);
        }
        Ok(())
    }

    /// Saves `vote` durably (with the commit index, if given).
    pub(crate) fn save_vote(
        &mut self,
        vote: Vote<NodeId>,
        committed: Option<Option<LogId<NodeId>>>,
    ) -> Result<(), RaftError> {
        self.check()?;
        let mut meta = self.meta.clone();
        meta.vote = Some(vote);
        let res = self.write_meta(meta, committed);
        self.poison_on_err(res)
    }

    /// Writes the commit index to `meta`, durably.
    pub(crate) fn save_committed(
        &mut self,
        committed: Option<LogId<NodeId>>,
    ) -> Result<(), RaftError> {
        self.check()?;
        let meta = self.meta.clone();
        let res = self.write_meta(meta, Some(committed));
        self.poison_on_err(res)
    }

    /// Replaces `meta` atomically and durably with `meta` plus the newest commit index.
    fn write_meta(
        &mut self,
        mut meta: Meta,
        committed: Option<Option<LogId<NodeId>>>,
    ) -> Result<(), RaftError> {
        if let Some(c) = committed {
            self.committed = self.committed.max(c);
        }
        meta.committed = self.committed;
        let mut bytes = META_MAGIC.to_vec();
        push_record(&mut bytes, 0, |b| {
            b.extend_from_slice(&encode_value(&meta)?);
            Ok(())
        })?;
        let mut f = self
            .dir
            .create(META_TMP)
            .map_err(|e| io_err("create meta.tmp", e))?;
        f.write_at(0, &bytes)
            .and_then(|()| f.sync_data())
            .map_err(|e| io_err("write meta.tmp", e))?;
        drop(f);
        self.dir
            .rename(META_TMP, META_FILE)
            .and_then(|()| self.dir.sync_dir())
            .map_err(|e| io_err("replace meta", e))?;
        self.meta = meta;
        Ok(())
    }

    /// Reads the entries of `range` that the log holds after the purge point, verifying their
    /// checksums (purged entries still in a kept segment are not returned).
    pub(crate) fn read(
        &self,
        range: (Bound<u64>, Bound<u64>),
    ) -> Result<Vec<Entry<TypeConfig>>, RaftError> {
        self.check()?;
        let start = match range.0 {
            Bound::Included(s) => s,
            Bound::Excluded(s) => s.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let start = match self.meta.last_purged {
            Some(p) => start.max(p.index.saturating_add(1)),
            None => start,
        };
        let end = match range.1 {
            Bound::Included(e) => e.saturating_add(1),
            Bound::Excluded(e) => e,
            Bound::Unbounded => u64::MAX,
        };
        let mut out = Vec::new();
        for seg in &self.segments {
            let lo = start.max(seg.first);
            let hi = end.min(seg.end_index());
            if lo >= hi {
                continue;
            }
            let from = seg.offsets[(lo - seg.first) as usize];
            let to = match seg.offsets.get((hi - seg.first) as usize) {
                Some(off) => *off,
                None => seg.len,
            };
            let mut bytes = vec![0u8; (to - from) as usize];
            seg.file
                .read_at(from, &mut bytes)
                .map_err(|e| io_err(format!("read {}", seg.name), e))?;
            parse_entries(&seg.name, from, &bytes, lo, &mut out)?;
        }
        Ok(out)
    }

    fn read_last_log_id(&self) -> Result<Option<LogId<NodeId>>, RaftError> {
        let Some(last) = self.last_index() else {
            return Ok(None);
        };
        let got = self.read((Bound::Included(last), Bound::Included(last)))?;
        Ok(got.last().map(|e| e.log_id))
    }
}

/// Decodes the entry records in `bytes` (read from `name` at `base`), expecting the first to
/// be `index`; commit-index records are skipped.
fn parse_entries(
    name: &str,
    base: u64,
    bytes: &[u8],
    mut index: u64,
    out: &mut Vec<Entry<TypeConfig>>,
) -> Result<(), RaftError> {
    let corrupt = |pos: usize, why: String| {
        RaftError::Corrupt(format!(
            "raft log segment {name}, offset {}: {why}",
            base + pos as u64
        ))
    };
    let mut pos = 0usize;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        if rest.len() < RECORD_HEADER as usize + 1 {
            return Err(corrupt(pos, "record header cut short".into()));
        }
        let h = parse_header(rest);
        let end = RECORD_HEADER as usize + h.len as usize;
        if h.len == 0 || end > rest.len() {
            return Err(corrupt(
                pos,
                format!("record length {} past the end", h.len),
            ));
        }
        let payload = &rest[RECORD_HEADER as usize..end];
        if record_crc(&rest[..4], payload) != h.crc {
            return Err(corrupt(pos, "checksum mismatch".into()));
        }
        if payload[0] == KIND_ENTRY {
            if payload.len() < 9 || u64_at(&payload[1..]) != index {
                return Err(corrupt(pos, format!("expected the entry at index {index}")));
            }
            let entry = decode_entry(&payload[9..]).map_err(|e| corrupt(pos, e.to_string()))?;
            if entry.log_id.index != index {
                return Err(corrupt(pos, format!("expected the entry at index {index}")));
            }
            out.push(entry);
            index += 1;
        }
        pos += end;
    }
    Ok(())
}

/// Reads and checks `meta`.
fn read_meta(dir: &dyn LogDir) -> Result<Meta, RaftError> {
    let f = dir.open(META_FILE).map_err(|e| io_err("open meta", e))?;
    let len = f.len().map_err(|e| io_err("stat meta", e))?;
    let bad = |why: &str| RaftError::Corrupt(format!("raft log meta file: {why}"));
    if len > MAX_META_BYTES {
        return Err(bad("too large"));
    }
    let min = META_MAGIC.len() as u64 + RECORD_HEADER + 1;
    if len < min {
        return Err(bad("too short"));
    }
    let mut bytes = vec![0u8; len as usize];
    f.read_at(0, &mut bytes)
        .map_err(|e| io_err("read meta", e))?;
    if &bytes[..8] != META_MAGIC {
        return Err(bad("not a meta file"));
    }
    let rec = &bytes[8..];
    let h = parse_header(rec);
    if RECORD_HEADER + h.len != rec.len() as u64 {
        return Err(bad("length mismatch"));
    }
    let payload = &rec[RECORD_HEADER as usize..];
    if record_crc(&rec[..4], payload) != h.crc {
        return Err(bad("checksum mismatch"));
    }
    decode_value(&payload[1..]).map_err(|e| bad(&e.to_string()))
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod power_cut_tests;
