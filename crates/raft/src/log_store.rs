//! The Raft log, vote and commit index (openraft `RaftLogStorage`), kept in segment files
//! under `<data_dir>/log/` by [`SegmentLog`] (format and recovery:
//! `docs/design/raft-log-format.md`).
//!
//! Every append writes its entries' records and makes them durable with one `fdatasync`
//! before openraft is told they are on disk; a vote is durable before `save_vote` returns.
//! The commit index is kept in memory and written with the next append (as a small record in
//! the same write), vote or purge, and on its own, durably, when the store shuts down. Losing
//! the newest one in a crash is harmless: the commit index is learnt again.
//!
//! The entries of the latest appends are also kept decoded in memory ([`RecentEntries`], at
//! most [`RECENT_MAX_ENTRIES`] / [`RECENT_MAX_BYTES`]), so applying or replicating what was
//! just appended needs no file read.
//!
//! A data directory of an earlier version, with `raft.redb` and no `log/`, is migrated when
//! it is opened (see [`legacy_redb_log::migrate`](crate::legacy_redb_log::migrate)).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{
    Entry, ErrorSubject, ErrorVerb, LogId, LogState, OptionalSend, RaftLogReader,
    StorageError as OrStorageError, Vote,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::blocking::run_blocking;
use crate::error::sto_err;
use crate::legacy_redb_log::{LEGACY_FILE, finish_migration, migrate};
use crate::log_fs::{LogDir, OsDir, sync_dir_at};
use crate::log_trail::{WriteCounts, writes_in};
use crate::segment_log::SegmentLog;
use crate::{NodeId, RaftError, TypeConfig};

/// The log's directory under the data directory.
pub(crate) const LOG_DIR: &str = "log";

/// Most recently appended entries kept decoded in memory.
pub(crate) const RECENT_MAX_ENTRIES: usize = 256;
/// Most encoded bytes of recently appended entries kept in memory.
pub(crate) const RECENT_MAX_BYTES: usize = 8 * 1024 * 1024;

type OrResult<T> = Result<T, OrStorageError<NodeId>>;

/// Handle on the segment log; cheap to clone (the log reader is a clone).
#[derive(Clone)]
pub(crate) struct LogStore {
    log: Arc<Mutex<SegmentLog>>,
    /// A commit index not yet written: `Some(value)` until the next write.
    unsaved_committed: Arc<Mutex<Option<Option<LogId<NodeId>>>>>,
    recent: Arc<Mutex<RecentEntries>>,
    /// How many writes each entry holds (see [`crate::log_trail`]).
    writes: Arc<Mutex<WriteCounts>>,
}

/// The latest durably appended entries, contiguous by index, bounded in count and size (pure
/// bookkeeping; the caller keeps it in step with the database).
#[derive(Default)]
pub(crate) struct RecentEntries {
    entries: BTreeMap<u64, (Entry<TypeConfig>, usize)>,
    bytes: usize,
}

impl RecentEntries {
    /// Records entries just made durable, given with their encoded sizes. An entry that does
    /// not directly follow the cached ones replaces them (keeps the cache contiguous).
    pub(crate) fn appended(&mut self, entries: Vec<(Entry<TypeConfig>, usize)>) {
        for (entry, size) in entries {
            let index = entry.log_id.index;
            let follows = self
                .entries
                .last_key_value()
                .is_none_or(|(last, _)| index == last.saturating_add(1));
            if !follows {
                self.clear();
            }
            self.bytes += size;
            self.entries.insert(index, (entry, size));
        }
        while self.entries.len() > RECENT_MAX_ENTRIES || self.bytes > RECENT_MAX_BYTES {
            match self.entries.pop_first() {
                Some((_, (_, size))) => self.bytes -= size,
                None => break,
            }
        }
    }

    /// Forgets entries from `since` on (truncation).
    pub(crate) fn truncated(&mut self, since: u64) {
        for (_, (_, size)) in self.entries.split_off(&since) {
            self.bytes -= size;
        }
    }

    /// Forgets entries up to and including `upto` (purge).
    pub(crate) fn purged(&mut self, upto: u64) {
        let kept = match upto.checked_add(1) {
            Some(next) => self.entries.split_off(&next),
            None => BTreeMap::new(),
        };
        self.entries = kept;
        self.bytes = self.entries.values().map(|(_, size)| size).sum();
    }

    /// Every entry of `range` if all of them are cached and the range is bounded, else `None`.
    pub(crate) fn get(&self, range: (Bound<u64>, Bound<u64>)) -> Option<Vec<Entry<TypeConfig>>> {
        let start = match range.0 {
            Bound::Included(s) => s,
            Bound::Excluded(s) => s.checked_add(1)?,
            Bound::Unbounded => return None,
        };
        let end = match range.1 {
            Bound::Included(e) => e.checked_add(1)?,
            Bound::Excluded(e) => e,
            Bound::Unbounded => return None,
        };
        if start >= end {
            return Some(Vec::new());
        }
        let first = *self.entries.first_key_value()?.0;
        let last = *self.entries.last_key_value()?.0;
        if start < first || end - 1 > last {
            return None;
        }
        Some(
            self.entries
                .range(start..end)
                .map(|(_, (e, _))| e.clone())
                .collect(),
        )
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }
}

impl LogStore {
    /// Opens (or creates) the log under `data_dir` (in `log/`), migrating a `raft.redb` of an
    /// earlier version first.
    pub(crate) fn open(data_dir: &Path, segment_bytes: u64) -> Result<Self, RaftError> {
        let log_dir = data_dir.join(LOG_DIR);
        let legacy = data_dir.join(LEGACY_FILE);
        if legacy.exists() {
            if log_dir.exists() {
                // Migrated, but stopped before the old file was renamed.
                finish_migration(data_dir)?;
            } else {
                migrate(data_dir, &log_dir, segment_bytes)?;
            }
        }
        let fresh = !log_dir.exists();
        let dir = OsDir::create(&log_dir)?;
        if fresh {
            sync_dir_at(data_dir)?;
        }
        Self::open_in(Box::new(dir), segment_bytes)
    }

    /// Opens the log in `dir` (tests use a simulated disk).
    pub(crate) fn open_in(dir: Box<dyn LogDir>, segment_bytes: u64) -> Result<Self, RaftError> {
        Ok(Self {
            log: Arc::new(Mutex::new(SegmentLog::open(dir, segment_bytes)?)),
            unsaved_committed: Arc::new(Mutex::new(None)),
            recent: Arc::new(Mutex::new(RecentEntries::default())),
            writes: Arc::new(Mutex::new(WriteCounts::default())),
        })
    }

    fn recent(&self) -> MutexGuard<'_, RecentEntries> {
        // Plain map updates; a panic elsewhere cannot leave them half-done.
        self.recent.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn writes(&self) -> MutexGuard<'_, WriteCounts> {
        // Plain counter updates, like `recent`.
        self.writes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The highest index that may be purged while keeping `keep_writes` writes before
    /// `snapshot` (see [`WriteCounts::purge_point`]).
    pub(crate) fn purge_point(&self, snapshot: u64, keep_writes: u64) -> Option<u64> {
        self.writes().purge_point(snapshot, keep_writes)
    }

    /// The writes in the entries after `after` up to `upto` (see
    /// [`WriteCounts::writes_between`]).
    pub(crate) fn writes_between(&self, after: u64, upto: u64) -> u64 {
        self.writes().writes_between(after, upto)
    }

    fn unsaved_committed(&self) -> MutexGuard<'_, Option<Option<LogId<NodeId>>>> {
        self.unsaved_committed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the log on the blocking pool.
    async fn with_log<T, F>(&self, f: F) -> Result<T, RaftError>
    where
        F: FnOnce(&mut SegmentLog) -> Result<T, RaftError> + Send + 'static,
        T: Send + 'static,
    {
        let log = self.log.clone();
        run_blocking(move || {
            // A panic inside the log leaves it poisoned or consistent; its own checks refuse
            // further use after a failed write.
            let mut guard = log.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut guard)
        })
        .await
    }

    /// Writes a commit index still held in memory (see the module documentation), durably.
    /// Called on shutdown: a follower that learned of its last commits from heartbeats has
    /// not appended since, and without this it would restart applying only up to an older
    /// index (and, if it restarts sealed and so stays out of Raft, keep reading the state
    /// before those commits).
    pub(crate) async fn persist_committed(&self) -> Result<(), RaftError> {
        let Some(committed) = self.unsaved_committed().take() else {
            return Ok(());
        };
        self.with_log(move |log| log.save_committed(committed))
            .await
    }

    /// Stores `vote` and appends one entry, durably, outside openraft (before it starts):
    /// the `peers.json` recovery. The vote goes first: if the node stops in between, the
    /// recovery runs again at the next start (its file is still there).
    pub(crate) async fn append_recovery(
        &self,
        entry: Entry<TypeConfig>,
        vote: Vote<NodeId>,
    ) -> Result<(), RaftError> {
        let committed = self.unsaved_committed().take();
        let cached = entry.clone();
        let sizes = self
            .with_log(move |log| {
                log.save_vote(vote, committed)?;
                log.append(std::slice::from_ref(&entry), None)
            })
            .await?;
        if let Some(size) = sizes.first() {
            self.recent().appended(vec![(cached, *size)]);
        }
        Ok(())
    }

    /// How many entries the log holds after the purge point (compaction checks and metrics).
    pub(crate) async fn entry_count(&self) -> Result<u64, RaftError> {
        self.with_log(|log| Ok(log.entry_count())).await
    }
}

/// The JSON form used by the snapshot and staging files (and the old `raft.redb` log).
pub(crate) fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, RaftError> {
    serde_json::to_vec(v).map_err(|e| RaftError::Corrupt(format!("encode: {e}")))
}

/// Reads a value written by [`encode`].
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, RaftError> {
    serde_json::from_slice(bytes).map_err(|e| RaftError::Corrupt(format!("decode: {e}")))
}

fn logs_err(verb: ErrorVerb) -> impl FnOnce(RaftError) -> OrStorageError<NodeId> {
    move |e| sto_err(verb, ErrorSubject::Logs, e)
}

fn to_owned_bounds<RB: RangeBounds<u64>>(range: &RB) -> (Bound<u64>, Bound<u64>) {
    (range.start_bound().cloned(), range.end_bound().cloned())
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> OrResult<Vec<Entry<TypeConfig>>> {
        let bounds = to_owned_bounds(&range);
        if let Some(cached) = self.recent().get(bounds) {
            return Ok(cached);
        }
        self.with_log(move |log| log.read(bounds))
            .await
            .map_err(logs_err(ErrorVerb::Read))
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> OrResult<LogState<TypeConfig>> {
        self.with_log(|log| {
            let last_purged = log.last_purged();
            Ok(LogState {
                last_purged_log_id: last_purged,
                last_log_id: log.last_log_id().or(last_purged),
            })
        })
        .await
        .map_err(logs_err(ErrorVerb::Read))
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> OrResult<()> {
        let vote = *vote;
        let committed = self.unsaved_committed().take();
        self.with_log(move |log| log.save_vote(vote, committed))
            .await
            .map_err(|e| sto_err(ErrorVerb::Write, ErrorSubject::Vote, e))
    }

    async fn read_vote(&mut self) -> OrResult<Option<Vote<NodeId>>> {
        self.with_log(|log| Ok(log.vote()))
            .await
            .map_err(|e| sto_err(ErrorVerb::Read, ErrorSubject::Vote, e))
    }

    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> OrResult<()> {
        *self.unsaved_committed() = Some(committed);
        Ok(())
    }

    async fn read_committed(&mut self) -> OrResult<Option<LogId<NodeId>>> {
        if let Some(committed) = *self.unsaved_committed() {
            return Ok(committed);
        }
        self.with_log(|log| Ok(log.committed()))
            .await
            .map_err(|e| sto_err(ErrorVerb::Read, ErrorSubject::Store, e))
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> OrResult<()>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry<TypeConfig>> = entries.into_iter().collect();
        let committed = self.unsaved_committed().take();
        let res = self
            .with_log(move |log| {
                let sizes = log.append(&entries, committed)?;
                Ok((entries, sizes))
            })
            .await;
        match res {
            Ok((entries, sizes)) => {
                // Entries at or below the purge point were not stored (a prefix).
                let skip = entries.len().saturating_sub(sizes.len());
                if let Some(first) = entries.get(skip) {
                    let first = first.log_id.index;
                    self.writes()
                        .appended(first, entries[skip..].iter().map(writes_in));
                }
                self.recent()
                    .appended(entries.into_iter().skip(skip).zip(sizes).collect());
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(logs_err(ErrorVerb::Write)(e))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> OrResult<()> {
        self.recent().truncated(log_id.index);
        self.writes().truncated(log_id.index);
        self.with_log(move |log| log.truncate(log_id.index))
            .await
            .map_err(logs_err(ErrorVerb::Delete))
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> OrResult<()> {
        self.recent().purged(log_id.index);
        self.writes().purged(log_id.index);
        let committed = self.unsaved_committed().take();
        self.with_log(move |log| log.purge(log_id, committed))
            .await
            .map_err(logs_err(ErrorVerb::Delete))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::{CommittedLeaderId, EntryPayload};

    fn entry(term: u64, index: u64) -> (Entry<TypeConfig>, usize) {
        let e = Entry {
            log_id: LogId::new(CommittedLeaderId::new(term, 1), index),
            payload: EntryPayload::Blank,
        };
        (e, 100)
    }

    fn indexes(v: Option<Vec<Entry<TypeConfig>>>) -> Option<Vec<u64>> {
        v.map(|v| v.iter().map(|e| e.log_id.index).collect())
    }

    #[test]
    fn serves_only_fully_cached_bounded_ranges() {
        let mut r = RecentEntries::default();
        r.appended((5..=9).map(|i| entry(1, i)).collect());
        assert_eq!(
            indexes(r.get((Bound::Included(5), Bound::Excluded(10)))),
            Some(vec![5, 6, 7, 8, 9])
        );
        assert_eq!(
            indexes(r.get((Bound::Included(7), Bound::Included(8)))),
            Some(vec![7, 8])
        );
        assert_eq!(
            r.get((Bound::Included(4), Bound::Excluded(6)))
                .map(|v| v.len()),
            None
        );
        assert_eq!(
            r.get((Bound::Included(8), Bound::Excluded(11)))
                .map(|v| v.len()),
            None
        );
        assert_eq!(
            r.get((Bound::Included(5), Bound::Unbounded))
                .map(|v| v.len()),
            None
        );
        assert_eq!(
            r.get((Bound::Included(6), Bound::Excluded(6)))
                .map(|v| v.len()),
            Some(0)
        );
    }

    #[test]
    fn truncation_purge_and_gaps_keep_it_consistent() {
        let mut r = RecentEntries::default();
        r.appended((1..=6).map(|i| entry(1, i)).collect());
        r.truncated(4);
        assert_eq!(
            r.get((Bound::Included(4), Bound::Excluded(5)))
                .map(|v| v.len()),
            None
        );
        // A new leader's entries replace the truncated ones.
        r.appended(vec![entry(2, 4)]);
        let got = r.get((Bound::Included(3), Bound::Included(4))).unwrap();
        assert_eq!(got[1].log_id.leader_id.term, 2);
        r.purged(2);
        assert_eq!(
            indexes(r.get((Bound::Included(3), Bound::Included(4)))),
            Some(vec![3, 4])
        );
        assert_eq!(
            r.get((Bound::Included(2), Bound::Included(3)))
                .map(|v| v.len()),
            None
        );
        assert_eq!(r.bytes, 200);
        // A gap (e.g. after a snapshot was installed) restarts the cache.
        r.appended(vec![entry(2, 50)]);
        assert_eq!(
            r.get((Bound::Included(3), Bound::Included(3)))
                .map(|v| v.len()),
            None
        );
        assert_eq!(
            indexes(r.get((Bound::Included(50), Bound::Included(50)))),
            Some(vec![50])
        );
        assert_eq!(r.bytes, 100);
    }

    #[test]
    fn stays_within_its_bounds() {
        let mut r = RecentEntries::default();
        r.appended(
            (0..(RECENT_MAX_ENTRIES as u64 + 10))
                .map(|i| entry(1, i))
                .collect(),
        );
        assert_eq!(r.entries.len(), RECENT_MAX_ENTRIES);
        assert_eq!(r.bytes, RECENT_MAX_ENTRIES * 100);
        let big = RECENT_MAX_BYTES / 2 + 1;
        let mut r = RecentEntries::default();
        r.appended(vec![(entry(1, 1).0, big), (entry(1, 2).0, big)]);
        assert_eq!(r.entries.len(), 1);
        assert_eq!(r.bytes, big);
    }

    #[tokio::test]
    async fn commit_index_rides_with_the_next_write_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let id = LogId::new(CommittedLeaderId::new(1, 1), 3);
        {
            let mut log = LogStore::open(dir.path(), 1 << 20).unwrap();
            assert!(dir.path().join(LOG_DIR).is_dir());
            log.save_committed(Some(id)).await.unwrap();
            assert_eq!(log.read_committed().await.unwrap(), Some(id));
            // Not written yet.
            assert_eq!(log.log.lock().unwrap().committed(), None);
            log.save_vote(&Vote::new(1, 1)).await.unwrap();
            assert_eq!(log.log.lock().unwrap().committed(), Some(id));
            let later = LogId::new(CommittedLeaderId::new(1, 1), 5);
            log.save_committed(Some(later)).await.unwrap();
            log.persist_committed().await.unwrap();
        }
        let mut log = LogStore::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(
            log.read_committed().await.unwrap(),
            Some(LogId::new(CommittedLeaderId::new(1, 1), 5))
        );
        assert_eq!(log.read_vote().await.unwrap(), Some(Vote::new(1, 1)));
    }

    /// Builds a fresh log and state machine in a temporary directory for openraft's suite.
    struct Builder;

    impl
        openraft::testing::StoreBuilder<
            TypeConfig,
            LogStore,
            crate::state_machine::StateMachine,
            tempfile::TempDir,
        > for Builder
    {
        async fn build(
            &self,
        ) -> Result<
            (
                tempfile::TempDir,
                LogStore,
                crate::state_machine::StateMachine,
            ),
            OrStorageError<NodeId>,
        > {
            let err = |e: RaftError| sto_err(ErrorVerb::Write, ErrorSubject::Store, e);
            let dir = tempfile::tempdir()
                .map_err(|e| sto_err(ErrorVerb::Write, ErrorSubject::Store, e))?;
            // Small segments, so the suite's purges and truncations cross them.
            let log = LogStore::open(dir.path(), 600).map_err(err)?;
            let sm = crate::state_machine::StateMachine::open(
                &dir.path().join("state.redb"),
                dir.path().join("snapshots"),
            )
            .map_err(err)?;
            Ok((dir, log, sm))
        }
    }

    /// openraft's own storage test suite (log and state machine contract).
    #[test]
    fn passes_openraft_storage_suite() {
        openraft::testing::Suite::test_all(Builder).unwrap();
    }
}
