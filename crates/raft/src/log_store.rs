//! The Raft log, vote and commit index in `raft.redb` (openraft `RaftLogStorage`).
//!
//! Layout: table `logs` maps the log index (`u64`) to the JSON-encoded entry; table `meta`
//! holds `vote`, `committed` and `last_purged` (JSON). Every append, truncation and vote is one
//! redb write transaction committed with [`Durability::Immediate`] (one fsync: redb's default
//! one-phase commit with checksums) before openraft is told it is on disk. Purges use
//! [`Durability::None`] (no fsync; they become durable with the next append, which persists
//! every earlier commit). The commit index is kept in memory and written inside the next
//! append (or truncation, vote or purge) transaction, and on its own, durably, when the store
//! shuts down. Losing either in a crash is harmless: the commit index is recomputed, purged
//! entries reappear.
//! (openraft saves the commit index inline on its core task after every commit, and redb's
//! `Eventual` durability would fsync on Linux.)
//!
//! The entries of the latest appends are also kept decoded in memory ([`RecentEntries`], at
//! most [`RECENT_MAX_ENTRIES`] / [`RECENT_MAX_BYTES`]), so applying or replicating what was
//! just appended needs no database read.

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
use redb::{Database, Durability, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::blocking::run_blocking;
use crate::error::sto_err;
use crate::{NodeId, RaftError, TypeConfig};

const LOGS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("logs");
const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("meta");
const KEY_VOTE: &str = "vote";
const KEY_COMMITTED: &str = "committed";
const KEY_LAST_PURGED: &str = "last_purged";

/// Most recently appended entries kept decoded in memory.
pub(crate) const RECENT_MAX_ENTRIES: usize = 256;
/// Most encoded bytes of recently appended entries kept in memory.
pub(crate) const RECENT_MAX_BYTES: usize = 8 * 1024 * 1024;

type OrResult<T> = Result<T, OrStorageError<NodeId>>;

/// Handle on `raft.redb`; cheap to clone (the log reader is a clone).
#[derive(Clone)]
pub(crate) struct LogStore {
    db: Arc<Database>,
    /// A commit index not yet written: `Some(value)` until the next write transaction.
    unsaved_committed: Arc<Mutex<Option<Option<LogId<NodeId>>>>>,
    recent: Arc<Mutex<RecentEntries>>,
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
    /// Opens or creates the log database at `path`.
    pub(crate) fn open(path: &Path) -> Result<Self, RaftError> {
        let db = redb::Builder::new()
            .set_cache_size(crate::LOG_CACHE_BYTES)
            .create(path)?;
        let txn = db.begin_write()?;
        txn.open_table(LOGS)?;
        txn.open_table(META)?;
        txn.commit()?;
        Ok(Self {
            db: Arc::new(db),
            unsaved_committed: Arc::new(Mutex::new(None)),
            recent: Arc::new(Mutex::new(RecentEntries::default())),
        })
    }

    fn recent(&self) -> MutexGuard<'_, RecentEntries> {
        // Plain map updates; a panic elsewhere cannot leave them half-done.
        self.recent.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn unsaved_committed(&self) -> MutexGuard<'_, Option<Option<LogId<NodeId>>>> {
        self.unsaved_committed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The commit index still to be written, encoded; it is taken, so whichever write
    /// transaction comes next carries it.
    fn take_committed(&self) -> Result<Option<Vec<u8>>, RaftError> {
        match self.unsaved_committed().take() {
            Some(committed) => Ok(Some(encode(&committed)?)),
            None => Ok(None),
        }
    }

    /// Writes a commit index still held in memory (see the module documentation), durably.
    /// Called on shutdown: a follower that learned of its last commits from heartbeats has
    /// not appended since, and without this it would restart applying only up to an older
    /// index (and, if it restarts sealed and so stays out of Raft, keep reading the state
    /// before those commits).
    pub(crate) async fn persist_committed(&self) -> Result<(), RaftError> {
        if self.unsaved_committed().is_none() {
            return Ok(());
        }
        self.commit_meta(None, Durability::Immediate).await
    }

    /// Appends one entry and stores `vote` in one durable transaction, outside openraft (before
    /// it starts): the `peers.json` recovery.
    pub(crate) async fn append_recovery(
        &self,
        entry: Entry<TypeConfig>,
        vote: Vote<NodeId>,
    ) -> Result<(), RaftError> {
        let bytes = encode(&entry)?;
        let vote = encode(&vote)?;
        let index = entry.log_id.index;
        let size = bytes.len();
        let db = self.db.clone();
        run_blocking(move || {
            let mut txn = db.begin_write()?;
            txn.set_durability(Durability::Immediate);
            {
                txn.open_table(LOGS)?.insert(index, bytes.as_slice())?;
                txn.open_table(META)?.insert(KEY_VOTE, vote.as_slice())?;
            }
            txn.commit()?;
            Ok(())
        })
        .await?;
        self.recent().appended(vec![(entry, size)]);
        Ok(())
    }

    /// How many entries the log table holds (compaction checks and metrics).
    pub(crate) async fn entry_count(&self) -> Result<u64, RaftError> {
        let db = self.db.clone();
        run_blocking(move || {
            let txn = db.begin_read()?;
            Ok(txn.open_table(LOGS)?.len()?)
        })
        .await
    }

    async fn read_meta<T>(&self, key: &'static str) -> Result<Option<T>, RaftError>
    where
        T: DeserializeOwned + Send + 'static,
    {
        let db = self.db.clone();
        run_blocking(move || read_meta_sync(&db, key)).await
    }

    async fn write_meta<T>(
        &self,
        key: &'static str,
        value: &T,
        durability: Durability,
    ) -> Result<(), RaftError>
    where
        T: Serialize,
    {
        self.commit_meta(Some((key, encode(value)?)), durability)
            .await
    }

    /// One `meta` transaction: `entry` (if any) plus the commit index still held in memory.
    async fn commit_meta(
        &self,
        entry: Option<(&'static str, Vec<u8>)>,
        durability: Durability,
    ) -> Result<(), RaftError> {
        let committed = self.take_committed()?;
        let db = self.db.clone();
        run_blocking(move || {
            let mut txn = db.begin_write()?;
            txn.set_durability(durability);
            {
                let mut meta = txn.open_table(META)?;
                if let Some((key, bytes)) = &entry {
                    meta.insert(*key, bytes.as_slice())?;
                }
                save_committed_in(&mut meta, committed.as_deref())?;
            }
            txn.commit()?;
            Ok(())
        })
        .await
    }
}

/// Writes a taken commit index (see [`LogStore::take_committed`]) into `meta`.
fn save_committed_in(
    meta: &mut redb::Table<'_, &str, &[u8]>,
    committed: Option<&[u8]>,
) -> Result<(), RaftError> {
    if let Some(bytes) = committed {
        meta.insert(KEY_COMMITTED, bytes)?;
    }
    Ok(())
}

fn read_meta_sync<T: DeserializeOwned>(db: &Database, key: &str) -> Result<Option<T>, RaftError> {
    let txn = db.begin_read()?;
    let table = txn.open_table(META)?;
    match table.get(key)? {
        Some(v) => Ok(Some(decode(v.value())?)),
        None => Ok(None),
    }
}

pub(crate) fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, RaftError> {
    serde_json::to_vec(v).map_err(|e| RaftError::Corrupt(format!("encode: {e}")))
}

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
        let db = self.db.clone();
        run_blocking(move || {
            let txn = db.begin_read()?;
            let table = txn.open_table(LOGS)?;
            let mut out = Vec::new();
            for item in table.range::<u64>(bounds)? {
                let (_, v) = item?;
                out.push(decode::<Entry<TypeConfig>>(v.value())?);
            }
            Ok(out)
        })
        .await
        .map_err(logs_err(ErrorVerb::Read))
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> OrResult<LogState<TypeConfig>> {
        let db = self.db.clone();
        run_blocking(move || {
            let last_purged: Option<LogId<NodeId>> = read_meta_sync(&db, KEY_LAST_PURGED)?;
            let txn = db.begin_read()?;
            let table = txn.open_table(LOGS)?;
            let last = match table.last()? {
                Some((_, v)) => Some(decode::<Entry<TypeConfig>>(v.value())?.log_id),
                None => last_purged,
            };
            Ok(LogState {
                last_purged_log_id: last_purged,
                last_log_id: last,
            })
        })
        .await
        .map_err(logs_err(ErrorVerb::Read))
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> OrResult<()> {
        self.write_meta(KEY_VOTE, vote, Durability::Immediate)
            .await
            .map_err(|e| sto_err(ErrorVerb::Write, ErrorSubject::Vote, e))
    }

    async fn read_vote(&mut self) -> OrResult<Option<Vote<NodeId>>> {
        self.read_meta(KEY_VOTE)
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
        let v: Option<Option<LogId<NodeId>>> = self
            .read_meta(KEY_COMMITTED)
            .await
            .map_err(|e| sto_err(ErrorVerb::Read, ErrorSubject::Store, e))?;
        Ok(v.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> OrResult<()>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry<TypeConfig>> = entries.into_iter().collect();
        let mut encoded = Vec::with_capacity(entries.len());
        for entry in &entries {
            let bytes = encode(entry).map_err(logs_err(ErrorVerb::Write))?;
            encoded.push((entry.log_id.index, bytes));
        }
        let sizes: Vec<usize> = encoded.iter().map(|(_, b)| b.len()).collect();
        let committed = self.take_committed().map_err(logs_err(ErrorVerb::Write))?;
        let db = self.db.clone();
        let res = run_blocking(move || {
            let mut txn = db.begin_write()?;
            txn.set_durability(Durability::Immediate);
            {
                let mut table = txn.open_table(LOGS)?;
                for (index, bytes) in &encoded {
                    table.insert(*index, bytes.as_slice())?;
                }
                save_committed_in(&mut txn.open_table(META)?, committed.as_deref())?;
            }
            txn.commit()?;
            Ok(())
        })
        .await;
        match res {
            Ok(()) => {
                self.recent()
                    .appended(entries.into_iter().zip(sizes).collect());
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
        let committed = self.take_committed().map_err(logs_err(ErrorVerb::Delete))?;
        let db = self.db.clone();
        run_blocking(move || {
            let mut txn = db.begin_write()?;
            txn.set_durability(Durability::Immediate);
            txn.open_table(LOGS)?
                .retain_in::<u64, _>(log_id.index.., |_, _| false)?;
            save_committed_in(&mut txn.open_table(META)?, committed.as_deref())?;
            txn.commit()?;
            Ok(())
        })
        .await
        .map_err(logs_err(ErrorVerb::Delete))
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> OrResult<()> {
        let bytes = encode(&log_id).map_err(logs_err(ErrorVerb::Delete))?;
        self.recent().purged(log_id.index);
        let committed = self.take_committed().map_err(logs_err(ErrorVerb::Delete))?;
        let db = self.db.clone();
        run_blocking(move || {
            let mut txn = db.begin_write()?;
            txn.set_durability(Durability::None);
            {
                let mut meta = txn.open_table(META)?;
                meta.insert(KEY_LAST_PURGED, bytes.as_slice())?;
                save_committed_in(&mut meta, committed.as_deref())?;
            }
            txn.open_table(LOGS)?
                .retain_in::<u64, _>(..=log_id.index, |_, _| false)?;
            txn.commit()?;
            Ok(())
        })
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
    async fn commit_index_rides_with_the_next_append_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raft.redb");
        let id = LogId::new(CommittedLeaderId::new(1, 1), 3);
        {
            let mut log = LogStore::open(&path).unwrap();
            log.save_committed(Some(id)).await.unwrap();
            assert_eq!(log.read_committed().await.unwrap(), Some(id));
            // Not in the database yet.
            assert_eq!(
                read_meta_sync::<Option<LogId<NodeId>>>(&log.db, KEY_COMMITTED).unwrap(),
                None
            );
            log.save_vote(&Vote::new(1, 1)).await.unwrap();
            assert_eq!(
                read_meta_sync::<Option<LogId<NodeId>>>(&log.db, KEY_COMMITTED).unwrap(),
                Some(Some(id))
            );
        }
        let mut log = LogStore::open(&path).unwrap();
        assert_eq!(log.read_committed().await.unwrap(), Some(id));
    }
}
