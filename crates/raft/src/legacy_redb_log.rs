//! The Raft log of earlier versions, `raft.redb`, kept for two things only: migrating a data
//! directory that still has one into the segment log ([`migrate`]), and the side-by-side
//! measurement in `examples/log_append.rs` ([`LegacyRedbLog`]).
//!
//! Layout: table `logs` maps the log index (`u64`) to the JSON-encoded entry; table `meta`
//! holds `vote`, `committed` and `last_purged` (JSON). Every append was one redb write
//! transaction committed with `Durability::Immediate`.

use std::path::Path;

use openraft::{Entry, LogId, Vote};
use redb::{Database, Durability, ReadableTable, TableDefinition};

use crate::log_fs::{OsDir, sync_dir_at};
use crate::log_store::{decode, encode};
use crate::segment_log::SegmentLog;
use crate::{NodeId, RaftError, TypeConfig};

const LOGS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("logs");
const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("meta");
const KEY_VOTE: &str = "vote";
const KEY_COMMITTED: &str = "committed";
const KEY_LAST_PURGED: &str = "last_purged";

/// The old log's file name in the data directory.
pub(crate) const LEGACY_FILE: &str = "raft.redb";
/// What it is renamed to once migrated (kept for the operator to delete).
pub(crate) const MIGRATED_FILE: &str = "raft.redb.migrated";
/// Entries copied per append during a migration.
const MIGRATE_BATCH: usize = 1024;

/// A `raft.redb` log, written the way earlier versions did (tests and measurements).
pub struct LegacyRedbLog {
    db: Database,
}

impl LegacyRedbLog {
    /// Opens or creates the log database at `path`.
    pub fn create(path: &Path) -> Result<Self, RaftError> {
        let db = redb::Builder::new()
            .set_cache_size(crate::LOG_CACHE_BYTES)
            .create(path)?;
        let txn = db.begin_write()?;
        txn.open_table(LOGS)?;
        txn.open_table(META)?;
        txn.commit()?;
        Ok(Self { db })
    }

    /// Appends `entries` (and the commit index, if given) in one durable transaction, as
    /// every append was.
    pub fn append(
        &self,
        entries: &[Entry<TypeConfig>],
        committed: Option<Option<LogId<NodeId>>>,
    ) -> Result<(), RaftError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate);
        {
            let mut table = txn.open_table(LOGS)?;
            for e in entries {
                table.insert(e.log_id.index, encode(e)?.as_slice())?;
            }
            if let Some(c) = committed {
                txn.open_table(META)?
                    .insert(KEY_COMMITTED, encode(&c)?.as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Saves the vote durably.
    pub fn save_vote(&self, vote: &Vote<NodeId>) -> Result<(), RaftError> {
        self.put_meta(KEY_VOTE, encode(vote)?)
    }

    /// Removes entries up to `upto` and records it as the last purged log id.
    pub fn purge(&self, upto: LogId<NodeId>) -> Result<(), RaftError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate);
        txn.open_table(META)?
            .insert(KEY_LAST_PURGED, encode(&upto)?.as_slice())?;
        txn.open_table(LOGS)?
            .retain_in::<u64, _>(..=upto.index, |_, _| false)?;
        txn.commit()?;
        Ok(())
    }

    fn put_meta(&self, key: &str, bytes: Vec<u8>) -> Result<(), RaftError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate);
        txn.open_table(META)?.insert(key, bytes.as_slice())?;
        txn.commit()?;
        Ok(())
    }
}

fn read_meta<T: serde::de::DeserializeOwned>(
    table: &redb::ReadOnlyTable<&'static str, &'static [u8]>,
    key: &str,
) -> Result<Option<T>, RaftError> {
    match table.get(key)? {
        Some(v) => Ok(Some(decode(v.value())?)),
        None => Ok(None),
    }
}

/// Copies the log in `data_dir/raft.redb` (entries, vote, commit index, last purged) into a
/// new segment log at `log_dir`, durably, then renames the old file to
/// `raft.redb.migrated`. The new log is built in `<log_dir>.migrating` and renamed into place
/// only when complete, so a crash during migration leaves the old file in charge and the
/// migration runs again at the next start.
pub(crate) fn migrate(
    data_dir: &Path,
    log_dir: &Path,
    segment_bytes: u64,
) -> Result<(), RaftError> {
    let legacy = data_dir.join(LEGACY_FILE);
    let staging = log_dir.with_extension("migrating");
    if staging.exists() {
        std::fs::remove_dir_all(&staging)?;
    }
    let db = Database::open(&legacy)?;
    let txn = db.begin_read()?;
    let meta = match txn.open_table(META) {
        Ok(t) => Some(t),
        Err(redb::TableError::TableDoesNotExist(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let (vote, committed, last_purged) = match &meta {
        Some(t) => (
            read_meta::<Vote<NodeId>>(t, KEY_VOTE)?,
            read_meta::<Option<LogId<NodeId>>>(t, KEY_COMMITTED)?.flatten(),
            read_meta::<LogId<NodeId>>(t, KEY_LAST_PURGED)?,
        ),
        None => (None, None, None),
    };
    let mut log = SegmentLog::open(Box::new(OsDir::create(&staging)?), segment_bytes)?;
    if let Some(p) = last_purged {
        log.purge(p, None)?;
    }
    let mut copied = 0u64;
    match txn.open_table(LOGS) {
        Ok(table) => {
            let mut batch: Vec<Entry<TypeConfig>> = Vec::with_capacity(MIGRATE_BATCH);
            for item in table.iter()? {
                let (_, v) = item?;
                let entry: Entry<TypeConfig> = decode(v.value())?;
                if last_purged.is_some_and(|p| entry.log_id.index <= p.index) {
                    continue;
                }
                batch.push(entry);
                if batch.len() == MIGRATE_BATCH {
                    copied += batch.len() as u64;
                    log.append(&batch, None)?;
                    batch.clear();
                }
            }
            copied += batch.len() as u64;
            log.append(&batch, None)?;
        }
        Err(redb::TableError::TableDoesNotExist(_)) => {}
        Err(e) => return Err(e.into()),
    }
    match vote {
        Some(v) => log.save_vote(v, Some(committed))?,
        None => log.save_committed(committed)?,
    }
    drop(log);
    drop(meta);
    drop(txn);
    drop(db);
    std::fs::rename(&staging, log_dir)?;
    sync_dir_at(data_dir)?;
    finish_migration(data_dir)?;
    tracing::info!(
        entries = copied,
        from = %legacy.display(),
        to = %log_dir.display(),
        "raft log migrated from redb to segment files; the old file is kept as {MIGRATED_FILE}"
    );
    Ok(())
}

/// Renames a migrated `raft.redb` out of the way (also after a crash between the two
/// renames of [`migrate`]).
pub(crate) fn finish_migration(data_dir: &Path) -> Result<(), RaftError> {
    std::fs::rename(data_dir.join(LEGACY_FILE), data_dir.join(MIGRATED_FILE))?;
    sync_dir_at(data_dir)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log_store::{LOG_DIR, LogStore};
    use crate::{Command, WireOp};
    use openraft::storage::RaftLogStorage;
    use openraft::{CommittedLeaderId, EntryPayload, RaftLogReader};

    fn id(index: u64) -> LogId<NodeId> {
        LogId::new(CommittedLeaderId::new(2, 1), index)
    }

    fn entry(index: u64) -> Entry<TypeConfig> {
        Entry {
            log_id: id(index),
            payload: EntryPayload::Normal(Command::Batch(vec![vec![WireOp::Put {
                key: format!("k/{index}"),
                value: vec![index as u8; 3000],
            }]])),
        }
    }

    fn legacy_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let legacy = LegacyRedbLog::create(&dir.path().join(LEGACY_FILE)).unwrap();
        let es: Vec<Entry<TypeConfig>> = (1..=50).map(entry).collect();
        legacy.append(&es[..30], None).unwrap();
        legacy.append(&es[30..], Some(Some(id(40)))).unwrap();
        legacy.save_vote(&Vote::new(2, 1)).unwrap();
        legacy.purge(id(10)).unwrap();
        dir
    }

    async fn assert_migrated(store: &mut LogStore) {
        let state = store.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id, Some(id(10)));
        assert_eq!(state.last_log_id, Some(id(50)));
        let got = store.try_get_log_entries(11..=50).await.unwrap();
        assert_eq!(got.len(), 40);
        for (g, i) in got.iter().zip(11..) {
            let want = entry(i);
            assert_eq!(g.log_id, want.log_id);
            assert_eq!(
                serde_json::to_value(&g.payload).unwrap(),
                serde_json::to_value(&want.payload).unwrap()
            );
        }
        assert_eq!(store.read_vote().await.unwrap(), Some(Vote::new(2, 1)));
        assert_eq!(store.read_committed().await.unwrap(), Some(id(40)));
    }

    #[tokio::test]
    async fn a_redb_log_is_migrated_at_open_and_kept_aside() {
        let dir = legacy_dir();
        let mut store = LogStore::open(dir.path(), 16 * 1024).unwrap();
        assert!(!dir.path().join(LEGACY_FILE).exists());
        assert!(dir.path().join(MIGRATED_FILE).exists());
        assert!(dir.path().join(LOG_DIR).is_dir());
        assert!(!dir.path().join("log.migrating").exists());
        // Several segments (3 KB values, 16 KiB segments).
        let segs = std::fs::read_dir(dir.path().join(LOG_DIR))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".seg"))
            })
            .count();
        assert!(segs > 2, "{segs} segments");
        assert_migrated(&mut store).await;
        // A later open uses the new log only.
        store.save_vote(&Vote::new(3, 1)).await.unwrap();
        drop(store);
        let mut store = LogStore::open(dir.path(), 16 * 1024).unwrap();
        assert_eq!(store.read_vote().await.unwrap(), Some(Vote::new(3, 1)));
    }

    #[tokio::test]
    async fn an_interrupted_migration_is_redone_or_finished() {
        // Stopped while the new log was being built: built again from the old file.
        let dir = legacy_dir();
        let staging = dir.path().join("log.migrating");
        std::fs::create_dir_all(&staging).unwrap();
        std::fs::write(staging.join(crate::segment_log::segment_name(1)), b"junk").unwrap();
        let mut store = LogStore::open(dir.path(), 16 * 1024).unwrap();
        assert_migrated(&mut store).await;
        drop(store);

        // Stopped between the two renames: the old file is only renamed.
        std::fs::rename(dir.path().join(MIGRATED_FILE), dir.path().join(LEGACY_FILE)).unwrap();
        let mut store = LogStore::open(dir.path(), 16 * 1024).unwrap();
        assert!(dir.path().join(MIGRATED_FILE).exists());
        assert!(!dir.path().join(LEGACY_FILE).exists());
        assert_migrated(&mut store).await;
    }

    /// A whole node written by this version, its log turned back into a `raft.redb` as an
    /// earlier version kept it: it opens, migrates, elects itself and serves every write.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_store_with_a_redb_log_opens_and_serves_its_data() {
        use std::ops::Bound;
        use std::time::Duration;
        use tresor_storage::Backend;

        let dir = tempfile::tempdir().unwrap();
        let opts = || {
            let mut o = crate::RaftOptions::new(dir.path(), "n1", "http://n1", "n1:8201");
            o.performance_multiplier = 1;
            o.snapshot_threshold = 40;
            o.trailing_logs = 10;
            o
        };
        let net = crate::InProcessNetwork::new();
        let store = crate::RaftStore::open(opts(), net.transport_for("n1"))
            .await
            .unwrap();
        net.register(&store);
        store.bootstrap_single().await.unwrap();
        store
            .wait_for_leader(Duration::from_secs(20))
            .await
            .unwrap();
        for i in 0..120u32 {
            store
                .put(&format!("k/{i:03}"), i.to_be_bytes().to_vec())
                .await
                .unwrap();
        }
        store.shutdown().await.unwrap();
        drop(store);

        // Rewrite the segment log as the redb log of an earlier version.
        let log_dir = dir.path().join(LOG_DIR);
        let seg = SegmentLog::open(Box::new(OsDir::create(&log_dir).unwrap()), 1 << 20).unwrap();
        let purged = seg.last_purged();
        let after = purged.map(|p| p.index + 1).unwrap_or(0);
        let entries = seg
            .read((Bound::Included(after), Bound::Unbounded))
            .unwrap();
        assert!(!entries.is_empty());
        let legacy = LegacyRedbLog::create(&dir.path().join(LEGACY_FILE)).unwrap();
        legacy.append(&entries, Some(seg.committed())).unwrap();
        if let Some(p) = purged {
            legacy.purge(p).unwrap();
        }
        legacy.save_vote(&seg.vote().unwrap()).unwrap();
        drop((legacy, seg));
        std::fs::remove_dir_all(&log_dir).unwrap();

        let net = crate::InProcessNetwork::new();
        let store = crate::RaftStore::open(opts(), net.transport_for("n1"))
            .await
            .unwrap();
        net.register(&store);
        assert!(dir.path().join(MIGRATED_FILE).exists());
        assert!(log_dir.is_dir());
        store
            .wait_for_leader(Duration::from_secs(20))
            .await
            .unwrap();
        for i in 0..120u32 {
            assert_eq!(
                store.get(&format!("k/{i:03}")).await.unwrap(),
                Some(i.to_be_bytes().to_vec()),
                "key {i}"
            );
        }
        store.put("after", b"x".to_vec()).await.unwrap();
        store.shutdown().await.unwrap();
    }
}
