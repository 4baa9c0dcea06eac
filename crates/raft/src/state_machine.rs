//! The key/value state machine in `state.redb`, and its snapshots (openraft
//! `RaftStateMachine`).
//!
//! Tables `kv` and `kv_tail` map keys to opaque values (laid out in [`crate::kv_table`]);
//! table `meta` holds `last_applied` and `last_membership`. Each `apply` call (a run of
//! committed entries) is one redb write transaction. Most are committed with
//! [`Durability::None`] (visible to readers at once, no fsync); one every [`SYNC_INTERVAL`],
//! [`SYNC_EVERY_APPLIES`] applies or [`SYNC_EVERY_OPS`] key writes, and every one that
//! carries a membership change, is committed with [`Durability::Immediate`], which also makes
//! the earlier non-durable commits durable and lets redb reuse the pages they freed. (On Linux
//! redb's `Eventual` fsyncs exactly like `Immediate`, so it would cost one fsync per apply.)
//! After `kill -9` the state machine may therefore lag the log by up to that interval; openraft
//! re-applies the entries between `last_applied` and the stored commit index on start, and the
//! leader re-applies the rest once it commits again (the log itself is fsynced before anything
//! is acknowledged). A background thread writes dirty pages of the file back every
//! [`WRITEBACK_INTERVAL`] so that the periodic durable commit has little left to flush.
//! Every durable commit also records redb's allocator state (quick repair), so a restart after
//! `kill -9` or a power cut opens the database from its last durable commit at once instead
//! of walking and checksumming every page (seconds per GiB).
//! Building a snapshot forces a durable commit, so no log entry is purged before the state it
//! produced is on disk; the snapshot itself is a view of the database, written out (format in
//! [`crate::snapshot_file`]) only when a follower needs it ([`crate::snapshot_data`]).
//! Installing a snapshot replaces the tables in one durable transaction.
//!
//! `<data_dir>/snapshots/` holds only restore staging files and unlinked temporary files.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use openraft::storage::RaftStateMachine;
use openraft::{
    Entry, EntryPayload, ErrorSubject, ErrorVerb, LogId, RaftSnapshotBuilder, Snapshot,
    StorageError as OrStorageError, StoredMembership,
};
use redb::{Database, Durability, TableDefinition};

use crate::blocking::run_blocking;
use crate::compaction::{CompactionPolicy, compact_if_due};
use crate::error::sto_err;
use crate::kv_table::{KV, KV_TAIL, KvRead, KvWrite};
use crate::log_store::{decode, encode};
use crate::restore_staging;
use crate::snapshot_data::SnapshotData;
use crate::snapshot_file::{self, Meta, SnapshotWriter};
use crate::types::{Command, CommandResult, WireOp};
use crate::{NodeId, NodeInfo, RaftError, TypeConfig};

pub(crate) const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("meta");
pub(crate) const KEY_APPLIED: &str = "last_applied";
pub(crate) const KEY_MEMBERSHIP: &str = "last_membership";
/// The snapshot file earlier versions kept (a full copy of the state); removed at open.
const LEGACY_CURRENT: &str = "current.snap";

/// Longest time between two durable state-machine commits while entries are being applied.
pub(crate) const SYNC_INTERVAL: Duration = Duration::from_secs(1);
/// How often dirty pages of the state file are written back in the background.
pub(crate) const WRITEBACK_INTERVAL: Duration = Duration::from_millis(100);
/// Most applies committed without fsync in a row.
pub(crate) const SYNC_EVERY_APPLIES: u32 = 1024;
/// Most key writes and deletes committed without fsync in a row. Pages a non-durable commit
/// frees are reused only after the next durable one, so this bounds the file's growth between
/// durable commits (about 40 KB of copied pages per write of a 4 KiB value) whatever the write
/// rate: at 5,000 writes/s the 1 s interval alone let `state.redb` grow by ~200 MB of free
/// pages over a 64 MiB fill.
pub(crate) const SYNC_EVERY_OPS: u64 = 1024;

type OrResult<T> = Result<T, OrStorageError<NodeId>>;
type Membership = StoredMembership<NodeId, NodeInfo>;

fn sm_err(verb: ErrorVerb) -> impl FnOnce(RaftError) -> OrStorageError<NodeId> {
    move |e| sto_err(verb, ErrorSubject::StateMachine, e)
}

fn snap_err(verb: ErrorVerb) -> impl FnOnce(RaftError) -> OrStorageError<NodeId> {
    move |e| sto_err(verb, ErrorSubject::Snapshot(None), e)
}

/// The state machine handle; clones share the database and snapshot directory.
#[derive(Clone)]
pub(crate) struct StateMachine {
    db: Arc<Database>,
    snapshot_dir: PathBuf,
    /// Held while a staging file is deleted or replaced, and while a snapshot build reads
    /// the staging record and opens its file (see [`crate::restore_staging`]).
    staging_lock: Arc<Mutex<()>>,
    /// Counts the restores this node has applied (see [`crate::RaftStore::restores`]).
    restored: Arc<tokio::sync::watch::Sender<u64>>,
    /// When the next apply must be committed durably.
    sync: Arc<Mutex<SyncSchedule>>,
    /// Raised when an apply touches a watched key (see [`crate::WatchedKeys`]).
    watched: Arc<crate::WatchedKeys>,
    /// Index of the last applied entry, set as each apply commits: before openraft learns
    /// of it, so before any client is told its write was applied.
    applied_index: Arc<std::sync::atomic::AtomicU64>,
    /// Keeps the write-back thread alive; it ends when the last clone drops this.
    _writeback: Arc<std::sync::mpsc::Sender<()>>,
}

/// Decides which state-machine commits are fsynced (pure logic, see the module docs).
#[derive(Debug)]
pub(crate) struct SyncSchedule {
    last_sync: Instant,
    unsynced: u32,
    unsynced_ops: u64,
}

impl SyncSchedule {
    /// A schedule whose last durable commit happened at `now`.
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            last_sync: now,
            unsynced: 0,
            unsynced_ops: 0,
        }
    }

    /// Whether the apply committing at `now` must be durable (fsynced); `forced` applies
    /// (membership changes) always are. Counts the apply either way.
    pub(crate) fn next(&mut self, now: Instant, forced: bool, ops: u64) -> bool {
        self.unsynced_ops = self.unsynced_ops.saturating_add(ops);
        let due = forced
            || self.unsynced + 1 >= SYNC_EVERY_APPLIES
            || self.unsynced_ops >= SYNC_EVERY_OPS
            || now.saturating_duration_since(self.last_sync) >= SYNC_INTERVAL;
        if due {
            self.synced(now);
        } else {
            self.unsynced += 1;
        }
        due
    }

    /// Records a durable commit made at `now` outside [`SyncSchedule::next`].
    pub(crate) fn synced(&mut self, now: Instant) {
        self.last_sync = now;
        self.unsynced = 0;
        self.unsynced_ops = 0;
    }
}

impl StateMachine {
    /// Opens or creates `state.redb` at `path`, with snapshots kept in `snapshot_dir`,
    /// compacting the file first if it is mostly free space (see [`crate::compaction`]).
    pub(crate) fn open(path: &Path, snapshot_dir: PathBuf) -> Result<Self, RaftError> {
        Self::open_with(path, snapshot_dir, CompactionPolicy::default())
    }

    /// [`StateMachine::open`] with the given compaction policy.
    pub(crate) fn open_with(
        path: &Path,
        snapshot_dir: PathBuf,
        compaction: CompactionPolicy,
    ) -> Result<Self, RaftError> {
        std::fs::create_dir_all(&snapshot_dir)?;
        remove_stale_temporaries(&snapshot_dir)?;
        match std::fs::remove_file(snapshot_dir.join(LEGACY_CURRENT)) {
            Ok(()) => tracing::info!(
                "removed snapshots/{LEGACY_CURRENT}: snapshots are no longer kept on disk"
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        let mut db = redb::Builder::new()
            .set_cache_size(crate::STATE_CACHE_BYTES)
            .set_repair_callback({
                let told = std::sync::atomic::AtomicBool::new(false);
                move |_session| {
                    if !told.swap(true, std::sync::atomic::Ordering::Relaxed) {
                        tracing::warn!(
                            "state.redb was not closed cleanly; checking every page before opening it"
                        );
                    }
                }
            })
            .create(path)?;
        let mut txn = db.begin_write()?;
        make_durable(&mut txn);
        txn.open_table(KV)?;
        txn.open_table(KV_TAIL)?;
        txn.open_table(META)?;
        txn.commit()?;
        // Right after a durable commit (which released the pages freed before the node
        // stopped) and before any reader exists.
        compact_if_due(&mut db, path, compaction)?;
        let staged = restore_staging::current(&db.begin_read()?.open_table(META)?)?;
        restore_staging::remove_orphans(&snapshot_dir, staged.as_ref().map(|s| s.id.as_str()))?;
        Ok(Self {
            db: Arc::new(db),
            snapshot_dir,
            staging_lock: Arc::new(Mutex::new(())),
            restored: Arc::new(tokio::sync::watch::Sender::new(0)),
            sync: Arc::new(Mutex::new(SyncSchedule::new(Instant::now()))),
            watched: Arc::new(crate::WatchedKeys::default()),
            applied_index: Arc::new(std::sync::atomic::AtomicU64::new(0)),
            _writeback: Arc::new(start_writeback(path)?),
        })
    }

    /// The last applied index as the state machine committed it (shared with the store).
    pub(crate) fn applied_index(&self) -> Arc<std::sync::atomic::AtomicU64> {
        self.applied_index.clone()
    }

    fn set_applied(&self, index: u64) {
        self.applied_index
            .fetch_max(index, std::sync::atomic::Ordering::AcqRel);
    }

    /// The keys whose changes raise a generation (shared with the store).
    pub(crate) fn watched(&self) -> Arc<crate::WatchedKeys> {
        self.watched.clone()
    }

    /// Watches the number of restores applied since the node opened.
    pub(crate) fn restores(&self) -> tokio::sync::watch::Receiver<u64> {
        self.restored.subscribe()
    }

    /// The shared database (for the read path of the backend).
    pub(crate) fn db(&self) -> Arc<Database> {
        self.db.clone()
    }

    fn schedule(&self) -> std::sync::MutexGuard<'_, SyncSchedule> {
        // The schedule is two plain fields; a panic elsewhere cannot leave it inconsistent.
        self.sync.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn tmp_path(&self, prefix: &str) -> PathBuf {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        self.snapshot_dir.join(format!("{prefix}-{nanos}.tmp"))
    }

    /// A consistent view of the state machine with its restore staging.
    fn view_sync(&self) -> Result<SnapshotView, RaftError> {
        SnapshotView::open(
            &self.db,
            Some(StagingSource {
                dir: &self.snapshot_dir,
                lock: &self.staging_lock,
            }),
        )
    }

    /// A snapshot "build": a view of the last committed state, made durable, so that no log
    /// entry is purged before the state it produced is on disk. The view is opened while an
    /// empty durable transaction holds the writer lock (no apply can commit in between) and
    /// before that transaction commits: it sees exactly the state the commit makes durable.
    fn build_sync(&self) -> Result<SnapshotView, RaftError> {
        let mut txn = self.db.begin_write()?;
        make_durable(&mut txn);
        let view = self.view_sync()?;
        txn.commit()?;
        self.schedule().synced(Instant::now());
        Ok(view)
    }

    /// The snapshot openraft gets for `view`: its metadata, and its bytes written on first
    /// use (see [`crate::snapshot_data`]).
    fn snapshot_of(&self, view: SnapshotView) -> Snapshot<TypeConfig> {
        let meta = view.meta().clone();
        let dir = self.snapshot_dir.clone();
        Snapshot {
            meta,
            snapshot: Box::new(SnapshotData::lazy(move || view.write_temp_file(&dir))),
        }
    }

    fn install_sync(&self, mut received: File, meta: Meta) -> Result<(), RaftError> {
        use std::io::{Seek, SeekFrom};
        // The received file is read twice: verified whole first, then applied.
        let len = received.seek(SeekFrom::End(0))?;
        received.seek(SeekFrom::Start(0))?;
        snapshot_file::verify(BufReader::new(&mut received), len)?;
        received.seek(SeekFrom::Start(0))?;
        let mut doomed = Vec::new();

        let mut txn = self.db.begin_write()?;
        make_durable(&mut txn);
        txn.delete_table(KV)?;
        txn.delete_table(KV_TAIL)?;
        let staged_tmp = self.tmp_path("staging");
        let mut staged: Option<(restore_staging::Staging, BufWriter<File>)> = None;
        let file_meta = {
            let mut kv = KvWrite::open(&txn)?;
            snapshot_file::read_all(BufReader::new(&mut received), |item| {
                match item {
                    snapshot_file::Item::Pair(k, v) => {
                        kv.insert(k.as_str(), v.as_slice())?;
                    }
                    snapshot_file::Item::Staging(progress) => {
                        let progress: restore_staging::Staging = decode(&progress)?;
                        if !restore_staging::valid_id(&progress.id) || staged.is_some() {
                            return Err(RaftError::Corrupt(
                                "bad restore staging in snapshot".into(),
                            ));
                        }
                        staged = Some((progress, BufWriter::new(File::create(&staged_tmp)?)));
                    }
                    snapshot_file::Item::StagingData(bytes) => match staged.as_mut() {
                        Some((_, out)) => std::io::Write::write_all(out, &bytes)?,
                        None => {
                            return Err(RaftError::Corrupt("staged data without staging".into()));
                        }
                    },
                }
                Ok(())
            })?
        };
        if file_meta.last_log_id != meta.last_log_id {
            return Err(RaftError::Corrupt(
                "snapshot content does not match its announced metadata".into(),
            ));
        }
        {
            let mut m = txn.open_table(META)?;
            m.insert(KEY_APPLIED, encode(&meta.last_log_id)?.as_slice())?;
            m.insert(KEY_MEMBERSHIP, encode(&meta.last_membership)?.as_slice())?;
            let previous = restore_staging::current(&m)?;
            let _guard = self.staging_lock.lock().unwrap_or_else(|e| e.into_inner());
            match staged {
                Some((progress, out)) => {
                    let file = out
                        .into_inner()
                        .map_err(|e| RaftError::Io(e.error().to_string()))?;
                    file.sync_all()?;
                    // In place before the record that names it is committed.
                    std::fs::rename(
                        &staged_tmp,
                        restore_staging::staging_path(&self.snapshot_dir, &progress.id),
                    )?;
                    m.insert(restore_staging::KEY_STAGING, encode(&progress)?.as_slice())?;
                    if let Some(p) = previous.filter(|p| p.id != progress.id) {
                        doomed.push(restore_staging::staging_path(&self.snapshot_dir, &p.id));
                    }
                }
                None => {
                    m.remove(restore_staging::KEY_STAGING)?;
                    if let Some(p) = previous {
                        doomed.push(restore_staging::staging_path(&self.snapshot_dir, &p.id));
                    }
                }
            }
        }
        txn.commit()?;
        self.watched.bump();
        if let Some(last) = meta.last_log_id {
            self.set_applied(last.index);
        }
        self.schedule().synced(Instant::now());
        if !doomed.is_empty() {
            let _guard = self.staging_lock.lock().unwrap_or_else(|e| e.into_inner());
            restore_staging::delete_files(&doomed);
        }
        Ok(())
    }

    fn apply_sync(&self, entries: Vec<Entry<TypeConfig>>) -> Result<Vec<CommandResult>, RaftError> {
        let mut results = Vec::with_capacity(entries.len());
        let Some(last) = entries.last().map(|e| e.log_id) else {
            return Ok(results);
        };
        // Membership changes and restore steps are committed durably: a restore step touches
        // files beside the database, which must never get ahead of a rolled-back commit.
        let forced = entries.iter().any(|e| {
            matches!(
                e.payload,
                EntryPayload::Membership(_)
                    | EntryPayload::Normal(
                        Command::RestoreChunk { .. } | Command::RestoreCommit { .. }
                    )
            )
        });
        let ops: u64 = entries
            .iter()
            .map(|e| match &e.payload {
                EntryPayload::Normal(Command::Batch(batches)) => {
                    batches.iter().map(|b| b.len() as u64).sum()
                }
                _ => 0,
            })
            .sum();
        let mut doomed = Vec::new();
        let mut touched = false;
        let mut txn = self.db.begin_write()?;
        // Decided inside the write transaction: applies are serialized by redb's writer lock.
        let durable = self.schedule().next(Instant::now(), forced, ops);
        if durable {
            make_durable(&mut txn);
        } else {
            txn.set_durability(Durability::None);
        }
        {
            let mut kv = KvWrite::open(&txn)?;
            let mut meta = txn.open_table(META)?;
            for entry in entries {
                match entry.payload {
                    EntryPayload::Blank => results.push(CommandResult::default()),
                    EntryPayload::Normal(Command::Batch(batches)) => {
                        let applied_batches = batches.len();
                        for op in batches.into_iter().flatten() {
                            match op {
                                WireOp::Put { key, value } => {
                                    touched = touched || self.watched.matches(&key);
                                    kv.insert(&key, &value)?;
                                }
                                WireOp::Delete { key } => {
                                    touched = touched || self.watched.matches(&key);
                                    kv.remove(&key)?;
                                }
                            }
                        }
                        results.push(CommandResult {
                            applied_batches,
                            ..Default::default()
                        });
                    }
                    EntryPayload::Normal(Command::RestoreChunk { id, seq, data }) => {
                        restore_staging::apply_chunk(
                            &self.snapshot_dir,
                            &mut meta,
                            &id,
                            seq,
                            &data,
                            &mut doomed,
                        )?;
                        results.push(CommandResult::default());
                    }
                    EntryPayload::Normal(Command::RestoreCommit {
                        id,
                        chunks,
                        len,
                        sha256,
                    }) => {
                        let req = restore_staging::CommitRequest {
                            id: &id,
                            chunks,
                            len,
                            sha256: &sha256,
                        };
                        results.push(restore_staging::apply_commit(
                            &self.snapshot_dir,
                            &mut meta,
                            &mut kv,
                            &req,
                            &mut doomed,
                        )?);
                    }
                    EntryPayload::Membership(m) => {
                        let stored = Membership::new(Some(entry.log_id), m);
                        meta.insert(KEY_MEMBERSHIP, encode(&stored)?.as_slice())?;
                        results.push(CommandResult::default());
                    }
                }
            }
            meta.insert(KEY_APPLIED, encode(&Some(last))?.as_slice())?;
        }
        txn.commit()?;
        if !doomed.is_empty() {
            let _guard = self.staging_lock.lock().unwrap_or_else(|e| e.into_inner());
            restore_staging::delete_files(&doomed);
        }
        let restored = results.iter().any(|r| r.restored_keys.is_some());
        // Before returning: openraft reports the applied index only after this.
        if touched || restored {
            self.watched.bump();
        }
        self.set_applied(last.index);
        if restored {
            self.restored.send_modify(|n| *n += 1);
        }
        Ok(results)
    }

    fn applied_sync(&self) -> Result<(Option<LogId<NodeId>>, Membership), RaftError> {
        let read = self.db.begin_read()?;
        let meta = read.open_table(META)?;
        let applied = match meta.get(KEY_APPLIED)? {
            Some(v) => decode(v.value())?,
            None => None,
        };
        let membership = match meta.get(KEY_MEMBERSHIP)? {
            Some(v) => decode(v.value())?,
            None => Membership::default(),
        };
        Ok((applied, membership))
    }
}

/// Where a snapshot build finds the restore staging: the directory of the staging files and
/// the lock held while the staging record is read and its file opened.
pub(crate) struct StagingSource<'a> {
    pub(crate) dir: &'a Path,
    pub(crate) lock: &'a Mutex<()>,
}

/// A consistent view of the state machine for one snapshot: a read transaction, the
/// metadata of the state it sees, and the restore staging file it names, opened with it.
pub(crate) struct SnapshotView {
    read: redb::ReadTransaction,
    meta: Meta,
    staged: Option<(restore_staging::Staging, File)>,
}

impl SnapshotView {
    /// Opens a view of `db`, with the restore staging when `staging` is given.
    pub(crate) fn open(
        db: &Database,
        staging: Option<StagingSource<'_>>,
    ) -> Result<Self, RaftError> {
        let (read, staged) = match &staging {
            Some(src) => {
                // Under the lock, so the file cannot be deleted between the read transaction
                // and its opening; once open it stays readable whatever happens to its name.
                let _guard = src.lock.lock().unwrap_or_else(|e| e.into_inner());
                let read = db.begin_read()?;
                let progress = restore_staging::current(&read.open_table(META)?)?;
                let staged = match progress {
                    Some(p) => {
                        let file = File::open(restore_staging::staging_path(src.dir, &p.id))?;
                        Some((p, file))
                    }
                    None => None,
                };
                (read, staged)
            }
            None => (db.begin_read()?, None),
        };
        let meta_table = read.open_table(META)?;
        let last_applied: Option<LogId<NodeId>> = match meta_table.get(KEY_APPLIED)? {
            Some(v) => decode(v.value())?,
            None => None,
        };
        let membership: Membership = match meta_table.get(KEY_MEMBERSHIP)? {
            Some(v) => decode(v.value())?,
            None => Membership::default(),
        };
        drop(meta_table);
        // The applied log id names the state: every view of it has the same bytes (a
        // restore's staging changes only through applied entries too), so a follower may
        // resume receiving it from another view.
        let snapshot_id = match &last_applied {
            Some(l) => format!("{}-{}", l.leader_id.term, l.index),
            None => "0-0".to_owned(),
        };
        let meta = Meta {
            last_log_id: last_applied,
            last_membership: membership,
            snapshot_id,
        };
        Ok(Self { read, meta, staged })
    }

    /// The metadata of the state this view sees.
    pub(crate) fn meta(&self) -> &Meta {
        &self.meta
    }

    /// Writes the view to `out` in the [`snapshot_file`] format and returns the writer.
    pub(crate) fn write<W: std::io::Write>(self, out: W) -> Result<W, RaftError> {
        let mut writer = SnapshotWriter::new(out, &self.meta)?;
        KvRead::open(&self.read)?.for_each(|k, v| writer.record(k, v))?;
        if let Some((progress, file)) = self.staged {
            writer.staging(&encode(&progress)?, BufReader::new(file), progress.len)?;
        }
        writer.finish()
    }

    /// Writes the view to an unlinked temporary file in `dir`, synced and positioned at its
    /// start.
    pub(crate) fn write_temp_file(self, dir: &Path) -> Result<File, RaftError> {
        use std::io::{Seek, SeekFrom};
        let buffered = self.write(BufWriter::new(tempfile::tempfile_in(dir)?))?;
        let mut file = buffered
            .into_inner()
            .map_err(|e| RaftError::Io(e.error().to_string()))?;
        file.seek(SeekFrom::Start(0))?;
        Ok(file)
    }
}

/// Writes a consistent snapshot of the state machine in `db` (one read transaction) to `out`
/// in the [`snapshot_file`] format, with the restore staging when `staging` is given.
/// Returns its metadata and the writer.
pub(crate) fn write_snapshot<W: std::io::Write>(
    db: &Database,
    staging: Option<StagingSource<'_>>,
    out: W,
) -> Result<(Meta, W), RaftError> {
    let view = SnapshotView::open(db, staging)?;
    let meta = view.meta().clone();
    Ok((meta, view.write(out)?))
}

/// Starts a thread that writes the state file's dirty pages back to disk every
/// [`WRITEBACK_INTERVAL`] (`fdatasync` on a descriptor of its own). Non-durable commits leave
/// their pages in the OS cache; without this the next durable commit would have to write a
/// whole [`SYNC_INTERVAL`] of them inside its fsync, stalling applies meanwhile. It holds no
/// lock and changes no data; it ends once the returned sender is dropped.
fn start_writeback(path: &Path) -> Result<std::sync::mpsc::Sender<()>, RaftError> {
    let file = File::open(path)?;
    let (keepalive, stop) = std::sync::mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("raft-state-writeback".into())
        .spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                stop.recv_timeout(WRITEBACK_INTERVAL)
            {
                if let Err(e) = file.sync_data() {
                    tracing::warn!(error = %e, "state machine write-back failed");
                }
            }
        })?;
    Ok(keepalive)
}

/// Makes `txn` a durable commit that also records redb's allocator state (quick repair), so
/// that reopening after a crash (kill -9, power cut) trusts the last durable commit instead of
/// walking and checksumming every page, a cost that grows with the data. Only durable commits
/// pay for it, and they are rare (see the module docs).
fn make_durable(txn: &mut redb::WriteTransaction) {
    txn.set_durability(Durability::Immediate);
    txn.set_quick_repair(true);
}

/// Deletes half-written temporary files (restore staging) left behind by a crash; snapshots
/// being written or received are unlinked files and leave nothing.
fn remove_stale_temporaries(dir: &Path) -> Result<(), RaftError> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "tmp") {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> OrResult<Snapshot<TypeConfig>> {
        let sm = self.clone();
        let view = run_blocking(move || sm.build_sync())
            .await
            .map_err(snap_err(ErrorVerb::Write))?;
        Ok(self.snapshot_of(view))
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(&mut self) -> OrResult<(Option<LogId<NodeId>>, Membership)> {
        let sm = self.clone();
        let state = run_blocking(move || sm.applied_sync())
            .await
            .map_err(sm_err(ErrorVerb::Read))?;
        if let Some(last) = state.0 {
            self.set_applied(last.index);
        }
        Ok(state)
    }

    async fn apply<I>(&mut self, entries: I) -> OrResult<Vec<CommandResult>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + openraft::OptionalSend,
        I::IntoIter: openraft::OptionalSend,
    {
        let entries: Vec<_> = entries.into_iter().collect();
        let sm = self.clone();
        run_blocking(move || sm.apply_sync(entries))
            .await
            .map_err(sm_err(ErrorVerb::Write))
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> OrResult<Box<SnapshotData>> {
        let dir = self.snapshot_dir.clone();
        let file = run_blocking(move || Ok(tempfile::tempfile_in(dir)?))
            .await
            .map_err(snap_err(ErrorVerb::Write))?;
        Ok(Box::new(SnapshotData::file(tokio::fs::File::from_std(
            file,
        ))))
    }

    async fn install_snapshot(&mut self, meta: &Meta, snapshot: Box<SnapshotData>) -> OrResult<()> {
        let file = snapshot
            .into_std()
            .await
            .map_err(snap_err(ErrorVerb::Read))?;
        let sm = self.clone();
        let meta = meta.clone();
        run_blocking(move || sm.install_sync(file, meta))
            .await
            .map_err(snap_err(ErrorVerb::Write))
    }

    /// The state as it is now (no snapshot is kept: see [`crate::snapshot_data`]); none before
    /// anything was applied.
    async fn get_current_snapshot(&mut self) -> OrResult<Option<Snapshot<TypeConfig>>> {
        let sm = self.clone();
        let view = run_blocking(move || sm.view_sync())
            .await
            .map_err(snap_err(ErrorVerb::Read))?;
        if view.meta().last_log_id.is_none() {
            return Ok(None);
        }
        Ok(Some(self.snapshot_of(view)))
    }
}

/// Reads one key from the state machine.
pub(crate) fn get_sync(db: &Database, key: &str) -> Result<Option<Vec<u8>>, RaftError> {
    KvRead::open(&db.begin_read()?)?.get(key)
}

/// The immediate children of `prefix` in the state machine.
pub(crate) fn list_sync(db: &Database, prefix: &str) -> Result<Vec<String>, RaftError> {
    let keys = KvRead::open(&db.begin_read()?)?.keys_with_prefix(prefix)?;
    Ok(tresor_storage::children_of(
        prefix,
        keys.iter().map(String::as_str),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::ReadableTableMetadata;

    #[test]
    fn schedule_syncs_after_the_interval() {
        let t0 = Instant::now();
        let mut s = SyncSchedule::new(t0);
        assert!(!s.next(t0, false, 0));
        assert!(!s.next(t0 + SYNC_INTERVAL / 2, false, 0));
        assert!(s.next(t0 + SYNC_INTERVAL, false, 0));
        // The interval restarts at the durable commit.
        assert!(!s.next(t0 + SYNC_INTERVAL * 3 / 2, false, 0));
        assert!(s.next(t0 + SYNC_INTERVAL * 2, false, 0));
    }

    #[test]
    fn schedule_syncs_after_enough_applies() {
        let t0 = Instant::now();
        let mut s = SyncSchedule::new(t0);
        let durable: Vec<usize> = (0..SYNC_EVERY_APPLIES as usize * 2)
            .filter(|_| s.next(t0, false, 0))
            .collect();
        let n = SYNC_EVERY_APPLIES as usize;
        assert_eq!(durable, vec![n - 1, 2 * n - 1]);
    }

    #[test]
    fn schedule_syncs_after_enough_writes() {
        let t0 = Instant::now();
        let mut s = SyncSchedule::new(t0);
        assert!(!s.next(t0, false, SYNC_EVERY_OPS - 10));
        assert!(!s.next(t0, false, 9));
        assert!(s.next(t0, false, 1));
        // Counting starts again after a durable commit.
        assert!(!s.next(t0, false, SYNC_EVERY_OPS - 1));
        assert!(s.next(t0, false, SYNC_EVERY_OPS));
    }

    #[test]
    fn forced_and_external_syncs_reset_the_schedule() {
        let t0 = Instant::now();
        let mut s = SyncSchedule::new(t0);
        for _ in 0..SYNC_EVERY_APPLIES - 2 {
            assert!(!s.next(t0, false, 0));
        }
        assert!(s.next(t0, true, 0));
        assert!(!s.next(t0, false, 0));
        s.synced(t0 + SYNC_INTERVAL);
        assert!(!s.next(t0 + SYNC_INTERVAL + SYNC_INTERVAL / 2, false, 0));
    }

    fn open_sm(dir: &Path) -> StateMachine {
        StateMachine::open(&dir.join("state.redb"), dir.join("snapshots")).unwrap()
    }

    fn put_entry(index: u64, key: &str, value: &[u8]) -> Entry<TypeConfig> {
        Entry {
            log_id: LogId::new(openraft::CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Normal(Command::Batch(vec![vec![WireOp::Put {
                key: key.into(),
                value: value.to_vec(),
            }]])),
        }
    }

    #[test]
    fn non_durable_applies_are_readable_and_survive_a_clean_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let sm = open_sm(dir.path());
            for i in 1..=5u64 {
                let res = sm
                    .apply_sync(vec![put_entry(i, &format!("k{i}"), b"v")])
                    .unwrap();
                assert_eq!(res[0].applied_batches, 1);
            }
            // Visible to readers before any fsync.
            assert_eq!(get_sync(&sm.db, "k5").unwrap(), Some(b"v".to_vec()));
            assert_eq!(
                sm.applied_index()
                    .load(std::sync::atomic::Ordering::Acquire),
                5
            );
            let (applied, _) = sm.applied_sync().unwrap();
            assert_eq!(applied.map(|l| l.index), Some(5));
        }
        let sm = open_sm(dir.path());
        // A clean close persists the non-durable commits; a crash would roll back to the last
        // durable one and openraft would re-apply from the log.
        let (applied, _) = sm.applied_sync().unwrap();
        assert_eq!(applied.map(|l| l.index), Some(5));
        assert_eq!(get_sync(&sm.db, "k1").unwrap(), Some(b"v".to_vec()));
        // Applies of watched keys raise the generation; others do not.
        let watched = sm.watched();
        watched.set(vec!["core/*".into()]);
        let g = watched.generation();
        sm.apply_sync(vec![put_entry(6, "logical/x", b"v")])
            .unwrap();
        assert_eq!(watched.generation(), g, "an unwatched key");
        sm.apply_sync(vec![put_entry(7, "core/mounts", b"v")])
            .unwrap();
        assert_eq!(watched.generation(), g + 1, "a watched key");
    }

    /// Data written and then deleted leaves free pages in the middle of the file; opening it
    /// again compacts the file when it is mostly free space, and keeps what was not deleted.
    #[test]
    fn opening_a_file_of_mostly_deleted_data_gives_the_space_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.redb");
        let snaps = dir.path().join("snapshots");
        // Small thresholds so that a few MiB make the point.
        let policy = CompactionPolicy {
            min_free_bytes: 1024 * 1024,
            min_free_ratio: 1,
        };
        let value = vec![7u8; 3000];
        let keys = 2000u64;
        let mut index = 0;
        {
            let sm = StateMachine::open_with(&path, snaps.clone(), policy).unwrap();
            for chunk in 0..keys / 100 {
                index += 1;
                let ops = (0..100)
                    .map(|i| WireOp::Put {
                        key: format!("logical/k/{}", chunk * 100 + i),
                        value: value.clone(),
                    })
                    .collect();
                sm.apply_sync(vec![entry(index, Command::Batch(vec![ops]))])
                    .unwrap();
            }
            // Every key but the last hundred is deleted, the first ones last, so the free
            // pages sit below live ones.
            for chunk in (0..keys / 100 - 1).rev() {
                index += 1;
                let ops = (0..100)
                    .map(|i| WireOp::Delete {
                        key: format!("logical/k/{}", chunk * 100 + i),
                    })
                    .collect();
                sm.apply_sync(vec![entry(index, Command::Batch(vec![ops]))])
                    .unwrap();
            }
        }
        let before = std::fs::metadata(&path).unwrap().len();
        let sm = StateMachine::open_with(&path, snaps.clone(), policy).unwrap();
        let after = std::fs::metadata(&path).unwrap().len();
        println!("state.redb: {before} bytes before the reopen, {after} after");
        assert!(
            after * 2 < before,
            "the reopen compacts: {before} -> {after} bytes"
        );
        let (applied, _) = sm.applied_sync().unwrap();
        assert_eq!(applied.map(|l| l.index), Some(index));
        let last = keys - 1;
        assert_eq!(
            get_sync(&sm.db, &format!("logical/k/{last}")).unwrap(),
            Some(value.clone())
        );
        assert_eq!(get_sync(&sm.db, "logical/k/0").unwrap(), None);
        drop(sm);
        // The compacted file opens again with its data.
        let sm = StateMachine::open(&path, snaps).unwrap();
        assert_eq!(
            get_sync(&sm.db, &format!("logical/k/{last}")).unwrap(),
            Some(value)
        );
    }

    fn entry(index: u64, cmd: Command) -> Entry<TypeConfig> {
        Entry {
            log_id: LogId::new(openraft::CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Normal(cmd),
        }
    }

    fn state_bin(pairs: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = tresor_snapshot::state::StateWriter::new(Vec::new()).unwrap();
        for (k, v) in pairs {
            w.record(k, v).unwrap();
        }
        w.finish().unwrap().0
    }

    fn commit(index: u64, id: &str, chunks: u64, data: &[u8]) -> Entry<TypeConfig> {
        use sha2::Digest as _;
        entry(
            index,
            Command::RestoreCommit {
                id: id.into(),
                chunks,
                len: data.len() as u64,
                sha256: hex::encode(sha2::Sha256::digest(data)),
            },
        )
    }

    fn chunk(index: u64, id: &str, seq: u64, data: &[u8]) -> Entry<TypeConfig> {
        entry(
            index,
            Command::RestoreChunk {
                id: id.into(),
                seq,
                data: data.to_vec(),
            },
        )
    }

    fn all_keys(sm: &StateMachine) -> Vec<(String, Vec<u8>)> {
        let read = sm.db.begin_read().unwrap();
        let mut all = Vec::new();
        KvRead::open(&read)
            .unwrap()
            .for_each(|k, v| {
                all.push((k.to_owned(), v.to_vec()));
                Ok::<_, RaftError>(())
            })
            .unwrap();
        all
    }

    #[test]
    fn a_restore_replaces_the_table_only_at_a_verified_commit() {
        let dir = tempfile::tempdir().unwrap();
        let sm = open_sm(dir.path());
        sm.apply_sync(vec![put_entry(1, "old", b"x")]).unwrap();
        let data = state_bin(&[("a", b"1"), ("b", b"2")]);
        let (first, second) = data.split_at(10);
        sm.apply_sync(vec![chunk(2, "r1", 0, first), chunk(3, "r1", 1, second)])
            .unwrap();
        assert_eq!(
            all_keys(&sm),
            vec![("old".to_owned(), b"x".to_vec())],
            "staging only"
        );
        // A commit with the wrong hash is refused and ends the staging.
        let res = sm.apply_sync(vec![commit(4, "r1", 2, b"other")]).unwrap();
        assert!(res[0].restore_error.is_some());
        assert_eq!(all_keys(&sm).len(), 1);
        // The same restore again, committed properly.
        sm.apply_sync(vec![chunk(5, "r2", 0, first), chunk(6, "r2", 1, second)])
            .unwrap();
        // A chunk out of order or of another restore is ignored.
        sm.apply_sync(vec![chunk(7, "r2", 5, b"junk"), chunk(8, "zz", 1, b"junk")])
            .unwrap();
        let res = sm.apply_sync(vec![commit(9, "r2", 2, &data)]).unwrap();
        assert_eq!(res[0].restore_error, None);
        assert_eq!(res[0].restored_keys, Some(2));
        assert_eq!(
            all_keys(&sm),
            vec![
                ("a".to_owned(), b"1".to_vec()),
                ("b".to_owned(), b"2".to_vec())
            ]
        );
        let staging_files = std::fs::read_dir(dir.path().join("snapshots"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".staging")
            })
            .count();
        assert_eq!(staging_files, 0, "staging files are deleted");
    }

    #[test]
    fn a_snapshot_taken_mid_restore_carries_the_staging() {
        let dir = tempfile::tempdir().unwrap();
        let leader = open_sm(&dir.path().join("a"));
        let follower = open_sm(&dir.path().join("b"));
        let data = state_bin(&[("k1", b"v1"), ("k2", &[7u8; 3000]), ("k3", &[8u8; 9000])]);
        let (first, second) = data.split_at(1000);
        // Values longer than a page travel whole in the snapshot and are split again.
        let big: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        leader
            .apply_sync(vec![
                put_entry(1, "gone", &big),
                put_entry(2, "page", &[9u8; 4136]),
                chunk(3, "r", 0, first),
            ])
            .unwrap();
        let view = leader.build_sync().unwrap();
        let meta = view.meta().clone();
        let file = view.write_temp_file(dir.path()).unwrap();
        follower.install_sync(file, meta).unwrap();
        assert_eq!(all_keys(&leader), all_keys(&follower));
        assert_eq!(get_sync(&follower.db, "gone").unwrap(), Some(big));
        for sm in [&leader, &follower] {
            sm.apply_sync(vec![chunk(4, "r", 1, second)]).unwrap();
            let res = sm.apply_sync(vec![commit(5, "r", 2, &data)]).unwrap();
            assert_eq!(res[0].restore_error, None);
        }
        assert_eq!(all_keys(&leader), all_keys(&follower));
        assert_eq!(all_keys(&follower).len(), 3);
        assert_eq!(
            get_sync(&follower.db, "k3").unwrap(),
            Some(vec![8u8; 9000]),
            "restored values are split like applied ones"
        );
        let read = follower.db.begin_read().unwrap();
        assert_eq!(
            read.open_table(KV_TAIL).unwrap().len().unwrap(),
            2,
            "k3's two chunks only"
        );
    }
}
