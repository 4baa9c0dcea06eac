//! [`RaftStore::save_archive`] and [`RaftStore::restore_archive`]: the operator snapshot
//! (Vault's archive layout, [`tresor_snapshot`]) of the replicated key/value data.
//!
//! Saving reads one redb read transaction twice: once to size `state.bin` (the tar header
//! needs it first), once to stream it; nothing is buffered beyond one record.
//!
//! Restoring verifies the whole archive first (copying `state.bin` to a spool file beside
//! the snapshots as it is read), lets the caller check the sealed checksums, and only then
//! replicates the spooled `state.bin` through the Raft log as [`Command::RestoreChunk`]
//! entries followed by one [`Command::RestoreCommit`] (see [`crate::restore_staging`]).

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use openraft::LogId;
use tresor_snapshot::state::{self, StateWriter};
use tresor_snapshot::{ArchiveContents, ConfigServer, Configuration, SnapshotError, SnapshotMeta};

use crate::blocking::run_blocking;
use crate::log_store::decode;
use crate::types::{Command, CommandResult};
use crate::{NodeId, NodeInfo, RaftError, RaftStore};

/// Largest piece of `state.bin` in one Raft entry.
pub const RESTORE_CHUNK: usize = 1024 * 1024;

/// Seals the `SHA256SUMS` text (the barrier's encryption, provided by the caller).
pub type SealSums = Box<dyn FnOnce(&[u8]) -> Result<Vec<u8>, String> + Send>;
/// Decides whether a verified archive may be restored (for example: its sealed checksums
/// open with this cluster's keys and match); `Err` names the reason.
pub type CheckArchive = Box<dyn FnOnce(&ArchiveContents) -> Result<(), String> + Send>;

/// What a restore replaced the data with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoreSummary {
    /// The snapshot's metadata.
    pub meta: SnapshotMeta,
    /// Number of keys restored.
    pub keys: u64,
}

fn io_err(e: impl std::fmt::Display) -> SnapshotError {
    SnapshotError::Io(std::io::Error::other(e.to_string()))
}

impl From<SnapshotError> for RaftError {
    fn from(e: SnapshotError) -> Self {
        match e {
            SnapshotError::Io(e) => RaftError::Io(e.to_string()),
            other => RaftError::InvalidSnapshot(other.to_string()),
        }
    }
}

/// A failure to read the state machine while writing an archive is the archive's I/O error.
impl From<RaftError> for SnapshotError {
    fn from(e: RaftError) -> Self {
        io_err(e)
    }
}

type Membership = openraft::StoredMembership<NodeId, NodeInfo>;

fn configuration_of(m: &Membership) -> (Configuration, u64) {
    let voters: std::collections::BTreeSet<NodeId> = m.membership().voter_ids().collect();
    let servers = m
        .membership()
        .nodes()
        .map(|(id, n)| ConfigServer {
            suffrage: if voters.contains(id) { 0 } else { 1 },
            id: n.node_id.clone(),
            address: n.cluster_addr.clone(),
        })
        .collect();
    (
        Configuration { servers },
        m.log_id().map(|l| l.index).unwrap_or(0),
    )
}

fn millis() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

/// Streams an archive of the state machine in `db` to `out`.
fn save_sync<W: Write>(db: &redb::Database, out: W, seal: SealSums) -> Result<W, RaftError> {
    let read = db.begin_read()?;
    let meta_table = read.open_table(crate::state_machine::META)?;
    let applied: Option<LogId<NodeId>> = match meta_table.get(crate::state_machine::KEY_APPLIED)? {
        Some(v) => decode(v.value())?,
        None => None,
    };
    let membership: Membership = match meta_table.get(crate::state_machine::KEY_MEMBERSHIP)? {
        Some(v) => decode(v.value())?,
        None => Membership::default(),
    };
    let kv = crate::kv_table::KvRead::open(&read)?;
    let mut size = state::HEADER_LEN + state::TRAILER_LEN;
    kv.for_each(|k, v| {
        size += state::record_len(k.len(), v.len());
        Ok::<_, RaftError>(())
    })?;
    let (configuration, configuration_index) = configuration_of(&membership);
    let (term, index) = applied
        .map(|l| (l.leader_id.term, l.index))
        .unwrap_or_default();
    let meta = SnapshotMeta {
        version: 1,
        id: format!("{term}-{index}-{}", millis()),
        index,
        term,
        peers: None,
        configuration,
        configuration_index,
        size,
    };
    let out = tresor_snapshot::write_archive(
        out,
        &meta,
        |w| {
            let mut sw = StateWriter::new(w)?;
            kv.for_each(|k, v| sw.record(k, v))?;
            sw.finish()?;
            Ok(())
        },
        |sums| seal(sums).map_err(SnapshotError::Seal),
    )?;
    let mut out = out;
    out.flush()?;
    Ok(out)
}

/// Deletes the spool file when dropped.
struct Spool(PathBuf);

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Verifies the archive at `archive`, spooling `state.bin` to `spool`.
fn verify_sync(
    archive: &Path,
    spool: &Path,
    check: CheckArchive,
) -> Result<ArchiveContents, RaftError> {
    let input = BufReader::with_capacity(256 * 1024, File::open(archive)?);
    let mut out = BufWriter::with_capacity(256 * 1024, File::create(spool)?);
    let contents = tresor_snapshot::read_archive(input, &mut out, |_, _| {})?;
    out.flush()?;
    check(&contents).map_err(RaftError::SnapshotRefused)?;
    Ok(contents)
}

impl RaftStore {
    /// Streams a consistent snapshot archive (Vault's layout, see [`tresor_snapshot`]) of
    /// this node's key/value data to `out` and returns it. `seal` seals the checksums. On a
    /// follower the data may lag the leader: callers serve this on the active node.
    pub async fn save_archive<W>(&self, out: W, seal: SealSums) -> Result<W, RaftError>
    where
        W: Write + Send + 'static,
    {
        let db = self.state_db.clone();
        run_blocking(move || save_sync(&db, out, seal)).await
    }

    /// Where uploads are spooled before a restore (inside the data directory).
    pub fn spool_dir(&self) -> PathBuf {
        self.snapshot_dir()
    }

    /// Restores the archive at `archive` into the whole cluster. Leader only.
    ///
    /// The archive is verified first (framing, structure, `SHA256SUMS`, then `check`); on any
    /// failure nothing changes. Then `state.bin` is replicated through the log and every node
    /// replaces its key/value data with it in one transaction. Restores run one at a time.
    pub async fn restore_archive(
        &self,
        archive: &Path,
        check: CheckArchive,
    ) -> Result<RestoreSummary, RaftError> {
        let _one_at_a_time = self.restore_lock.lock().await;
        self.check_writable()?;
        let id = format!("{:x}-{:x}", self.id, millis());
        let spool = Spool(self.spool_dir().join(format!("restore-upload-{id}.tmp")));
        let (archive_path, spool_path) = (archive.to_owned(), spool.0.clone());
        let contents = run_blocking(move || verify_sync(&archive_path, &spool_path, check)).await?;
        self.check_writable()?;

        let mut file = tokio::fs::File::open(&spool.0).await?;
        let mut seq = 0u64;
        let mut sent = 0u64;
        let mut buf = vec![0u8; RESTORE_CHUNK];
        while sent < contents.state_len {
            let n = (contents.state_len - sent).min(RESTORE_CHUNK as u64) as usize;
            tokio::io::AsyncReadExt::read_exact(&mut file, &mut buf[..n]).await?;
            self.propose(Command::RestoreChunk {
                id: id.clone(),
                seq,
                data: buf[..n].to_vec(),
            })
            .await?;
            seq += 1;
            sent += n as u64;
        }
        let result = self
            .propose(Command::RestoreCommit {
                id,
                chunks: seq,
                len: contents.state_len,
                sha256: hex::encode(contents.state_sha256),
            })
            .await?;
        if let Some(reason) = result.restore_error {
            return Err(RaftError::SnapshotRefused(reason));
        }
        Ok(RestoreSummary {
            meta: contents.meta,
            keys: result.restored_keys.unwrap_or(contents.records),
        })
    }

    async fn propose(&self, cmd: Command) -> Result<CommandResult, RaftError> {
        match self.raft().client_write(cmd).await {
            Ok(resp) => Ok(resp.data),
            Err(openraft::error::RaftError::APIError(e)) => {
                Err(crate::group_commit::map_write_error(e))
            }
            Err(openraft::error::RaftError::Fatal(e)) => {
                Err(RaftError::Unavailable(format!("raft stopped: {e}")))
            }
        }
    }
}

/// Verifies an archive read from `input` without a server: framing, structure and
/// `SHA256SUMS` (the sealed checksums cannot be opened offline). `on_record` sees every key
/// and its value's length.
pub fn verify_archive(
    input: impl Read,
    on_record: impl FnMut(&str, u64),
) -> Result<ArchiveContents, SnapshotError> {
    tresor_snapshot::read_archive(input, &mut std::io::sink(), on_record)
}
