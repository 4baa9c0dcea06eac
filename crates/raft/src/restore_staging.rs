//! Restoring a snapshot through the Raft log: the state-machine side.
//!
//! The leader appends [`Command::RestoreChunk`](crate::Command::RestoreChunk) entries
//! carrying `state.bin` piece by piece, then one
//! [`Command::RestoreCommit`](crate::Command::RestoreCommit). Every node applies them the same
//! way, so every node ends in the same state:
//!
//! - A chunk is appended to the node's staging file `<snapshots>/restore-<id>.staging`
//!   (fsynced) and the progress `{id, next_seq, len}` is recorded in the `meta` table in the
//!   same (durable) apply transaction. Chunk 0 starts a new staging and abandons any other; a
//!   chunk that does not continue the current staging is ignored. A chunk re-applied after a
//!   crash first cuts the file back to the recorded length, so appends are idempotent.
//! - The commit checks the staged file (its id, chunk count, length, SHA-256 and structure)
//!   and only then replaces the whole `kv` table in the apply's write transaction: all or
//!   nothing. Either way the staging ends.
//! - The staging is part of the state: Raft snapshots carry it (see
//!   [`crate::snapshot_file`]), so a node that installs a snapshot in the middle of a
//!   restore continues with the chunks that follow.
//!
//! Staging files are only ever deleted after the transaction that drops them is durable,
//! under the staging lock that snapshot builds hold while they open the file.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use redb::{ReadableTable, Table};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::RaftError;
use crate::log_store::{decode, encode};
use crate::types::CommandResult;

/// The `meta` key holding the staging progress.
pub(crate) const KEY_STAGING: &str = "restore_staging";

/// Progress of the restore being staged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Staging {
    /// The restore's id.
    pub(crate) id: String,
    /// The next chunk expected.
    pub(crate) next_seq: u64,
    /// Bytes staged so far.
    pub(crate) len: u64,
}

/// Whether `id` is acceptable in a file name (the leader makes hex-and-dash ids).
pub(crate) fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Where the staging of restore `id` is kept.
pub(crate) fn staging_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("restore-{id}.staging"))
}

type MetaTable<'t> = Table<'t, &'static str, &'static [u8]>;

/// The current staging, if any.
pub(crate) fn current(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
) -> Result<Option<Staging>, RaftError> {
    match meta.get(KEY_STAGING)? {
        Some(v) => Ok(Some(decode(v.value())?)),
        None => Ok(None),
    }
}

fn set(meta: &mut MetaTable<'_>, staging: &Staging) -> Result<(), RaftError> {
    meta.insert(KEY_STAGING, encode(staging)?.as_slice())?;
    Ok(())
}

/// Applies one chunk. Files to delete once the transaction is durable are added to `doomed`.
pub(crate) fn apply_chunk(
    dir: &Path,
    meta: &mut MetaTable<'_>,
    id: &str,
    seq: u64,
    data: &[u8],
    doomed: &mut Vec<PathBuf>,
) -> Result<(), RaftError> {
    if !valid_id(id) {
        tracing::warn!(id, "ignoring a restore chunk with an invalid id");
        return Ok(());
    }
    let cur = current(meta)?;
    if seq == 0 {
        if let Some(c) = cur.as_ref().filter(|c| c.id != id) {
            tracing::warn!(abandoned = %c.id, started = %id, "a new restore abandons a staged one");
            doomed.push(staging_path(dir, &c.id));
        }
        let mut f = File::create(staging_path(dir, id))?;
        f.write_all(data)?;
        f.sync_data()?;
        return set(
            meta,
            &Staging {
                id: id.to_owned(),
                next_seq: 1,
                len: data.len() as u64,
            },
        );
    }
    match cur {
        Some(c) if c.id == id && c.next_seq == seq => {
            let mut f = OpenOptions::new().write(true).open(staging_path(dir, id))?;
            f.set_len(c.len)?;
            f.seek(SeekFrom::Start(c.len))?;
            f.write_all(data)?;
            f.sync_data()?;
            set(
                meta,
                &Staging {
                    id: c.id,
                    next_seq: seq + 1,
                    len: c.len + data.len() as u64,
                },
            )
        }
        _ => {
            tracing::warn!(
                id,
                seq,
                "ignoring a restore chunk that continues no staged restore"
            );
            Ok(())
        }
    }
}

/// What the commit asks for.
pub(crate) struct CommitRequest<'a> {
    pub(crate) id: &'a str,
    pub(crate) chunks: u64,
    pub(crate) len: u64,
    pub(crate) sha256: &'a str,
}

fn refused(reason: String) -> CommandResult {
    tracing::warn!(%reason, "snapshot restore refused; nothing changed");
    CommandResult {
        restore_error: Some(reason),
        ..Default::default()
    }
}

/// Checks the staged file against the commit: length, SHA-256, structure.
fn verify_staged(path: &Path, req: &CommitRequest<'_>) -> Result<Result<(), String>, RaftError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Err(
                "the staged snapshot data is missing on this node".into()
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let mut hasher = Sha256::new();
    let copied = std::io::copy(&mut BufReader::new(&file).take(req.len), &mut hasher)?;
    if copied != req.len {
        return Ok(Err(format!(
            "staged {copied} bytes, the commit expects {}",
            req.len
        )));
    }
    if hex::encode(hasher.finalize()) != req.sha256 {
        return Ok(Err(
            "the staged snapshot data does not match its SHA-256".into()
        ));
    }
    let reader = BufReader::new(File::open(path)?.take(req.len));
    if let Err(e) = tresor_snapshot::state::read_all(reader, |_, _| Ok(())) {
        return Ok(Err(format!("the staged snapshot data is malformed: {e}")));
    }
    Ok(Ok(()))
}

/// Applies a commit: verifies the staging and replaces `kv` with it, or refuses (the
/// result's `restore_error`) and leaves `kv` alone. The staging ends either way.
pub(crate) fn apply_commit(
    dir: &Path,
    meta: &mut MetaTable<'_>,
    kv: &mut crate::kv_table::KvWrite<'_>,
    req: &CommitRequest<'_>,
    doomed: &mut Vec<PathBuf>,
) -> Result<CommandResult, RaftError> {
    let Some(staging) = current(meta)?.filter(|c| c.id == req.id) else {
        return Ok(refused(format!("no restore {} is staged", req.id)));
    };
    meta.remove(KEY_STAGING)?;
    let path = staging_path(dir, &staging.id);
    doomed.push(path.clone());
    if staging.next_seq != req.chunks || staging.len != req.len {
        return Ok(refused(format!(
            "staged {} chunks ({} bytes), the commit expects {} ({} bytes)",
            staging.next_seq, staging.len, req.chunks, req.len
        )));
    }
    if let Err(reason) = verify_staged(&path, req)? {
        return Ok(refused(reason));
    }
    kv.clear()?;
    let reader = BufReader::new(File::open(&path)?.take(req.len));
    let mut failure: Option<RaftError> = None;
    let restored = tresor_snapshot::state::read_all(reader, |k, v| {
        if let Err(e) = kv.insert(k.as_str(), v.as_slice()) {
            failure = Some(e);
            return Err(tresor_snapshot::SnapshotError::Io(std::io::Error::other(
                "insert failed",
            )));
        }
        Ok(())
    });
    if let Some(e) = failure {
        return Err(e);
    }
    // Verified just above: a failure now is the disk's, and must stop this node.
    let restored =
        restored.map_err(|e| RaftError::Io(format!("re-reading the staged snapshot: {e}")))?;
    tracing::info!(id = %req.id, keys = restored, "snapshot restored");
    Ok(CommandResult {
        restored_keys: Some(restored),
        ..Default::default()
    })
}

/// Deletes staging files (after the transaction that dropped them is durable).
pub(crate) fn delete_files(paths: &[PathBuf]) {
    for p in paths {
        match std::fs::remove_file(p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(path = %p.display(), error = %e, "could not delete a restore staging file")
            }
        }
    }
}

/// Deletes staging files other than that of `keep` (left behind by a crash between a
/// durable commit and the deletion it allowed).
pub(crate) fn remove_orphans(dir: &Path, keep: Option<&str>) -> Result<(), RaftError> {
    let keep = keep.map(|id| staging_path(dir, id));
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let is_staging = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("restore-") && n.ends_with(".staging"));
        if is_staging && keep.as_ref() != Some(&path) {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}
