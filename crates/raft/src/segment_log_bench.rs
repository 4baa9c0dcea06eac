//! A thin public handle on the segment log for `examples/log_append.rs` (measurements only).

use std::path::Path;

use openraft::{Entry, LogId};

use crate::log_fs::OsDir;
use crate::segment_log::SegmentLog;
use crate::{NodeId, RaftError, TypeConfig};

/// The segment log in a directory, driven directly (no openraft).
pub struct SegmentLogBench {
    log: SegmentLog,
}

impl SegmentLogBench {
    /// Opens or creates a segment log in `dir`, rolling segments past `segment_bytes`.
    pub fn open(dir: &Path, segment_bytes: u64) -> Result<Self, RaftError> {
        Ok(Self {
            log: SegmentLog::open(Box::new(OsDir::create(dir)?), segment_bytes)?,
        })
    }

    /// Appends `entries` with the commit index `committed` durably (one `fdatasync`), as one
    /// openraft append does.
    pub fn append(
        &mut self,
        entries: &[Entry<TypeConfig>],
        committed: Option<LogId<NodeId>>,
    ) -> Result<(), RaftError> {
        self.log.append(entries, Some(committed)).map(|_| ())
    }

    /// Bytes in segment files.
    pub fn disk_bytes(&self) -> u64 {
        self.log.disk_bytes()
    }
}
