//! Giving back the disk space of deleted data when `state.redb` is opened.
//!
//! redb reuses the pages that deletes free and trims free space from the end of its file at
//! commit time, but free pages in the middle of the file stay allocated on disk: after most
//! of the data is deleted the file keeps a large share of its peak size. redb's `compact`
//! moves the live pages down and truncates the file; it needs the database to itself (no
//! read transaction open), which holds only while the node opens its state machine, before
//! any reader exists. So the node compacts then, and only when the file holds much more than
//! its live pages ([`CompactionPolicy`]): a file near the size of its data opens without the
//! extra work, keeping cold start independent of the amount of data.

use std::path::Path;
use std::time::{Duration, Instant};

use redb::Database;

use crate::RaftError;

/// When the file is worth compacting: its free space is at least `min_free_bytes` and at
/// least `min_free_ratio` times the live pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CompactionPolicy {
    /// Free space below which the file is left alone, whatever its ratio.
    pub(crate) min_free_bytes: u64,
    /// Free space per live byte below which the file is left alone.
    pub(crate) min_free_ratio: u64,
}

impl Default for CompactionPolicy {
    /// 64 MiB free and at least as much free space as data (the file more than twice its data).
    fn default() -> Self {
        Self {
            min_free_bytes: 64 * 1024 * 1024,
            min_free_ratio: 1,
        }
    }
}

impl CompactionPolicy {
    /// Whether a file of `file_bytes` holding `live_bytes` of allocated pages is compacted.
    pub(crate) fn due(&self, file_bytes: u64, live_bytes: u64) -> bool {
        let free = file_bytes.saturating_sub(live_bytes);
        free >= self.min_free_bytes && free >= live_bytes.saturating_mul(self.min_free_ratio)
    }
}

/// What a compaction at open did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Compacted {
    pub(crate) before_bytes: u64,
    pub(crate) after_bytes: u64,
    pub(crate) took: Duration,
}

/// The bytes of the pages `db` has allocated (its live data, metadata and tables). Pages a
/// commit frees count as allocated until the next durable commit releases them, so this is
/// exact only right after a durable commit.
fn live_bytes(db: &Database) -> Result<u64, RaftError> {
    let txn = db.begin_write()?;
    let stats = txn.stats()?;
    txn.abort()?;
    Ok(stats
        .allocated_pages()
        .saturating_mul(stats.page_size() as u64))
}

fn file_bytes(path: &Path) -> Result<u64, RaftError> {
    Ok(std::fs::metadata(path)?.len())
}

/// Compacts `db` (stored at `path`) when `policy` says its file holds too much free space.
/// Must be called right after a durable commit (see [`live_bytes`]; the state machine's open
/// makes one) and before any read transaction is opened on `db`.
pub(crate) fn compact_if_due(
    db: &mut Database,
    path: &Path,
    policy: CompactionPolicy,
) -> Result<Option<Compacted>, RaftError> {
    let live = live_bytes(db)?;
    let before_bytes = file_bytes(path)?;
    if !policy.due(before_bytes, live) {
        return Ok(None);
    }
    tracing::info!(
        file_mib = before_bytes >> 20,
        live_mib = live >> 20,
        "state.redb holds mostly free space; compacting it before the node starts"
    );
    let started = Instant::now();
    db.compact()
        .map_err(|e| RaftError::Io(format!("compacting state.redb: {e}")))?;
    let done = Compacted {
        before_bytes,
        after_bytes: file_bytes(path)?,
        took: started.elapsed(),
    };
    tracing::info!(
        before_mib = done.before_bytes >> 20,
        after_mib = done.after_bytes >> 20,
        took_ms = done.took.as_millis() as u64,
        "state.redb compacted"
    );
    Ok(Some(done))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn only_files_mostly_free_and_with_much_free_space_are_compacted() {
        let p = CompactionPolicy::default();
        // A fresh or full file: nothing to give back.
        assert!(!p.due(0, 0));
        assert!(!p.due(10 * MIB, 10 * MIB));
        // Little free space, however high the ratio.
        assert!(!p.due(60 * MIB, MIB));
        // Much free space but less than the data: the file is under twice its data.
        assert!(!p.due(1500 * MIB, 1000 * MIB));
        // Both.
        assert!(p.due(65 * MIB, MIB));
        assert!(p.due(2000 * MIB, 1000 * MIB));
        // Live bytes reported above the file size (pages counted before a trim) never panic.
        assert!(!p.due(MIB, 10 * MIB));
        let strict = CompactionPolicy {
            min_free_bytes: 0,
            min_free_ratio: u64::MAX,
        };
        assert!(!strict.due(u64::MAX, 2));
        assert!(strict.due(5, 0));
    }

    const T: redb::TableDefinition<'static, u64, &[u8]> = redb::TableDefinition::new("t");

    fn write(db: &Database, keys: std::ops::Range<u64>, value: Option<&[u8]>) {
        let txn = db.begin_write().unwrap();
        {
            let mut t = txn.open_table(T).unwrap();
            for k in keys {
                match value {
                    Some(v) => drop(t.insert(k, v).unwrap()),
                    None => drop(t.remove(k).unwrap()),
                }
            }
        }
        txn.commit().unwrap();
    }

    #[test]
    fn a_file_is_compacted_only_when_the_policy_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        let mut db = Database::create(&path).unwrap();
        let value = vec![1u8; 2000];
        for chunk in 0..20 {
            write(&db, chunk * 100..(chunk + 1) * 100, Some(&value));
        }
        // A file of live data is never due.
        assert_eq!(
            compact_if_due(&mut db, &path, CompactionPolicy::default()).unwrap(),
            None
        );
        let small = CompactionPolicy {
            min_free_bytes: 256 * 1024,
            min_free_ratio: 1,
        };
        assert_eq!(compact_if_due(&mut db, &path, small).unwrap(), None);
        // Deleting all but the last keys leaves free pages below live ones; an empty
        // durable commit releases them, as the state machine's open does.
        write(&db, 0..1900, None);
        write(&db, 0..0, None);
        let full = file_bytes(&path).unwrap();
        assert_eq!(
            compact_if_due(&mut db, &path, CompactionPolicy::default()).unwrap(),
            None,
            "less than 64 MiB free"
        );
        assert_eq!(file_bytes(&path).unwrap(), full);
        let done = compact_if_due(&mut db, &path, small).unwrap().unwrap();
        assert_eq!(done.before_bytes, full);
        assert!(
            done.after_bytes * 2 < done.before_bytes,
            "{} -> {} bytes",
            done.before_bytes,
            done.after_bytes
        );
        assert_eq!(done.after_bytes, file_bytes(&path).unwrap());
        let read = db.begin_read().unwrap();
        let t = read.open_table(T).unwrap();
        assert!(t.get(0).unwrap().is_none());
        assert_eq!(t.get(1999).unwrap().unwrap().value(), value.as_slice());
    }
}
