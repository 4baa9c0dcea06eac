//! The state machine's key/value data in `state.redb`, laid out so values fill pages.
//!
//! redb keeps each value inside a B-tree leaf, and a leaf that does not fit one 4 KiB page
//! takes the next power of two: a value just over a page (a 4 KiB secret plus the barrier's
//! nonce, tag and term) took an 8 KiB leaf of its own, half of it empty. So a value is split:
//!
//! - table `kv` maps each key to its *head*: the whole value when it is shorter than
//!   [`head_len`] of the key, else its first [`head_len`] bytes, sized so that a leaf holding
//!   the key and the head fits one page;
//! - table `kv_tail` maps `(key, n)` to the rest, in chunks of at most [`chunk_len`] bytes
//!   numbered from 0, each of which also fits one page with its key. The last, short chunk
//!   shares a leaf with others.
//!
//! A head of exactly [`head_len`] bytes is the only kind that may have chunks; a shorter or
//! longer one is the whole value (longer ones were written before this layout, and read as
//! they are). Every change to a key goes through [`KvWrite`], inside the apply's write
//! transaction, so a head and its chunks change together or not at all.

use redb::{
    ReadOnlyTable, ReadTransaction, ReadableTable, Table, TableDefinition, WriteTransaction,
};

use crate::RaftError;

/// Keys to their whole value or its head.
pub(crate) const KV: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("kv");
/// `(key, chunk number)` to the chunks of a value after its head.
pub(crate) const KV_TAIL: TableDefinition<'_, (&str, u32), &[u8]> = TableDefinition::new("kv_tail");

/// redb's page size (fixed for us: redb does not let it be configured).
const PAGE: usize = 4096;
/// Bytes of a page a one-entry leaf needs besides the key and value: redb's leaf header and
/// the key and value end offsets (12), and the tuple key's length prefix (4), with room to
/// spare.
const LEAF_OVERHEAD: usize = 64;
/// Smallest head or chunk, whatever the key's length (a key longer than a page still gets a
/// usable split, in leaves of two pages).
const MIN_PIECE: usize = 512;

/// How many bytes of a value are kept with `key` in `kv`; longer values continue in
/// `kv_tail`.
pub(crate) fn head_len(key: &str) -> usize {
    PAGE.saturating_sub(LEAF_OVERHEAD + key.len())
        .max(MIN_PIECE)
}

/// The largest chunk of a value kept under `(key, n)` in `kv_tail`.
pub(crate) fn chunk_len(key: &str) -> usize {
    PAGE.saturating_sub(LEAF_OVERHEAD + key.len() + size_of::<u32>())
        .max(MIN_PIECE)
}

/// Both tables opened in a write transaction.
pub(crate) struct KvWrite<'t> {
    head: Table<'t, &'static str, &'static [u8]>,
    tail: Table<'t, (&'static str, u32), &'static [u8]>,
}

impl<'t> KvWrite<'t> {
    /// Opens (creating if needed) both tables in `txn`.
    pub(crate) fn open(txn: &'t WriteTransaction) -> Result<Self, RaftError> {
        Ok(Self {
            head: txn.open_table(KV)?,
            tail: txn.open_table(KV_TAIL)?,
        })
    }

    /// Stores `value` under `key`, replacing any earlier value and its chunks.
    pub(crate) fn insert(&mut self, key: &str, value: &[u8]) -> Result<(), RaftError> {
        let split = head_len(key).min(value.len());
        let (head, rest) = value.split_at(split);
        let had_tail = self
            .head
            .insert(key, head)?
            .is_some_and(|old| old.value().len() == head_len(key));
        let mut chunks = 0u32;
        for chunk in rest.chunks(chunk_len(key)) {
            self.tail.insert((key, chunks), chunk)?;
            chunks = chunks
                .checked_add(1)
                .ok_or_else(|| RaftError::Corrupt(format!("value of {key} is too long")))?;
        }
        if had_tail {
            self.remove_chunks_from(key, chunks)?;
        }
        Ok(())
    }

    /// Removes `key` and its chunks; says whether it was there.
    pub(crate) fn remove(&mut self, key: &str) -> Result<bool, RaftError> {
        let removed = self.head.remove(key)?.map(|old| old.value().len());
        if removed == Some(head_len(key)) {
            self.remove_chunks_from(key, 0)?;
        }
        Ok(removed.is_some())
    }

    /// Removes every key.
    pub(crate) fn clear(&mut self) -> Result<(), RaftError> {
        self.head.retain(|_, _| false)?;
        self.tail.retain(|_, _| false)?;
        Ok(())
    }

    fn remove_chunks_from(&mut self, key: &str, first: u32) -> Result<(), RaftError> {
        // Chunks are numbered without gaps, so the first missing one ends the value.
        let mut n = first;
        while self.tail.remove((key, n))?.is_some() {
            match n.checked_add(1) {
                Some(next) => n = next,
                None => break,
            }
        }
        Ok(())
    }

    /// The value under `key`, reassembled (inside the write transaction).
    #[cfg(test)]
    pub(crate) fn get(&self, key: &str) -> Result<Option<Vec<u8>>, RaftError> {
        match self.head.get(key)? {
            Some(head) => Ok(Some(assemble(&self.tail, key, head.value())?)),
            None => Ok(None),
        }
    }
}

/// The tables of one read transaction (one consistent view). `kv_tail` is opened only
/// when a value has chunks: most reads are of short values, and opening a table is a lookup.
pub(crate) struct KvRead<'r> {
    read: &'r ReadTransaction,
    head: ReadOnlyTable<&'static str, &'static [u8]>,
}

impl<'r> KvRead<'r> {
    /// Opens the view of `read`.
    pub(crate) fn open(read: &'r ReadTransaction) -> Result<Self, RaftError> {
        Ok(Self {
            read,
            head: read.open_table(KV)?,
        })
    }

    /// The value under `key`.
    pub(crate) fn get(&self, key: &str) -> Result<Option<Vec<u8>>, RaftError> {
        let Some(head) = self.head.get(key)? else {
            return Ok(None);
        };
        let head = head.value();
        let mut value = head.to_vec();
        if head.len() == head_len(key) {
            append_chunks(&self.read.open_table(KV_TAIL)?, key, &mut value)?;
        }
        Ok(Some(value))
    }

    /// The keys starting with `prefix`, in order.
    pub(crate) fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>, RaftError> {
        let mut keys = Vec::new();
        for item in self.head.range(prefix..)? {
            let (k, _) = item?;
            let k = k.value();
            if !k.starts_with(prefix) {
                break;
            }
            keys.push(k.to_owned());
        }
        Ok(keys)
    }

    /// Calls `each` with every key and its whole value, in key order.
    pub(crate) fn for_each<E: From<RaftError>>(
        &self,
        mut each: impl FnMut(&str, &[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        let tail = self.read.open_table(KV_TAIL).map_err(RaftError::from)?;
        let mut value = Vec::new();
        for item in self.head.iter().map_err(RaftError::from)? {
            let (k, head) = item.map_err(RaftError::from)?;
            let (k, head) = (k.value(), head.value());
            if head.len() == head_len(k) {
                value.clear();
                value.extend_from_slice(head);
                append_chunks(&tail, k, &mut value)?;
                each(k, &value)?;
            } else {
                each(k, head)?;
            }
        }
        Ok(())
    }
}

/// `head` followed by the chunks of `key`, if a head of that length may have any.
#[cfg(test)]
fn assemble(
    tail: &impl ReadableTable<(&'static str, u32), &'static [u8]>,
    key: &str,
    head: &[u8],
) -> Result<Vec<u8>, RaftError> {
    let mut value = head.to_vec();
    if head.len() == head_len(key) {
        append_chunks(tail, key, &mut value)?;
    }
    Ok(value)
}

fn append_chunks(
    tail: &impl ReadableTable<(&'static str, u32), &'static [u8]>,
    key: &str,
    value: &mut Vec<u8>,
) -> Result<(), RaftError> {
    for item in tail.range((key, 0u32)..=(key, u32::MAX))? {
        let (_, chunk) = item?;
        value.extend_from_slice(chunk.value());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::ReadableTableMetadata;

    fn db(dir: &std::path::Path) -> redb::Database {
        redb::Database::create(dir.join("t.redb")).unwrap()
    }

    fn value(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31) ^ seed)
            .collect()
    }

    /// Lengths around every boundary of the split, for a short and a long key.
    fn lengths(key: &str) -> Vec<usize> {
        let (h, c) = (head_len(key), chunk_len(key));
        let mut v = vec![0, 1, 100];
        for base in [h, h + c, h + 3 * c] {
            v.extend([base - 1, base, base + 1]);
        }
        v.push(40_000);
        v
    }

    #[test]
    fn values_of_every_length_read_back_whole_after_overwrites_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let db = db(dir.path());
        let long_key = "k".repeat(5000);
        for key in ["logical/5c3dee71/versions/abc/1", long_key.as_str()] {
            let lens = lengths(key);
            // Every length overwritten by every other, in both directions.
            for (i, &a) in lens.iter().enumerate() {
                for &b in &lens[i..] {
                    for (first, second) in [(a, b), (b, a)] {
                        let txn = db.begin_write().unwrap();
                        {
                            let mut kv = KvWrite::open(&txn).unwrap();
                            kv.insert(key, &value(first, 1)).unwrap();
                            kv.insert("neighbour", b"n").unwrap();
                            kv.insert(key, &value(second, 2)).unwrap();
                            assert_eq!(kv.get(key).unwrap(), Some(value(second, 2)));
                        }
                        txn.commit().unwrap();
                        let txn = db.begin_read().unwrap();
                        let read = KvRead::open(&txn).unwrap();
                        assert_eq!(
                            read.get(key).unwrap(),
                            Some(value(second, 2)),
                            "{first} then {second} bytes"
                        );
                        let txn = db.begin_write().unwrap();
                        {
                            let mut kv = KvWrite::open(&txn).unwrap();
                            assert!(kv.remove(key).unwrap());
                            assert!(!kv.remove(key).unwrap());
                        }
                        txn.commit().unwrap();
                        let read = db.begin_read().unwrap();
                        assert_eq!(KvRead::open(&read).unwrap().get(key).unwrap(), None);
                        assert!(
                            read.open_table(KV_TAIL).unwrap().is_empty().unwrap(),
                            "no chunk is left behind ({first} then {second} bytes)"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_whole_value_longer_than_a_head_from_before_the_split_reads_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let db = db(dir.path());
        let key = "old/layout";
        let old = value(6000, 3);
        let txn = db.begin_write().unwrap();
        txn.open_table(KV)
            .unwrap()
            .insert(key, old.as_slice())
            .unwrap();
        txn.open_table(KV_TAIL).unwrap();
        txn.commit().unwrap();
        let txn = db.begin_read().unwrap();
        let read = KvRead::open(&txn).unwrap();
        assert_eq!(read.get(key).unwrap(), Some(old.clone()));
        let mut seen = Vec::new();
        read.for_each(|k, v| {
            seen.push((k.to_owned(), v.to_vec()));
            Ok::<_, RaftError>(())
        })
        .unwrap();
        assert_eq!(seen, vec![(key.to_owned(), old)]);
        // Replacing it with a split value and removing it leave nothing behind.
        let txn = db.begin_write().unwrap();
        {
            let mut kv = KvWrite::open(&txn).unwrap();
            kv.insert(key, &value(9000, 4)).unwrap();
            assert_eq!(kv.get(key).unwrap(), Some(value(9000, 4)));
            kv.remove(key).unwrap();
        }
        txn.commit().unwrap();
        let read = db.begin_read().unwrap();
        assert!(read.open_table(KV).unwrap().is_empty().unwrap());
        assert!(read.open_table(KV_TAIL).unwrap().is_empty().unwrap());
    }

    #[test]
    fn iteration_and_prefix_listing_see_keys_not_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let db = db(dir.path());
        let txn = db.begin_write().unwrap();
        {
            let mut kv = KvWrite::open(&txn).unwrap();
            kv.insert("a/1", &value(10_000, 1)).unwrap();
            kv.insert("a/2", b"small").unwrap();
            kv.insert("b", &value(5000, 2)).unwrap();
        }
        txn.commit().unwrap();
        let txn = db.begin_read().unwrap();
        let read = KvRead::open(&txn).unwrap();
        assert_eq!(read.keys_with_prefix("a/").unwrap(), vec!["a/1", "a/2"]);
        let mut seen = Vec::new();
        read.for_each(|k, v| {
            seen.push((k.to_owned(), v.to_vec()));
            Ok::<_, RaftError>(())
        })
        .unwrap();
        assert_eq!(
            seen,
            vec![
                ("a/1".to_owned(), value(10_000, 1)),
                ("a/2".to_owned(), b"small".to_vec()),
                ("b".to_owned(), value(5000, 2)),
            ]
        );
        let txn = db.begin_write().unwrap();
        KvWrite::open(&txn).unwrap().clear().unwrap();
        txn.commit().unwrap();
        let read = db.begin_read().unwrap();
        assert!(read.open_table(KV).unwrap().is_empty().unwrap());
        assert!(read.open_table(KV_TAIL).unwrap().is_empty().unwrap());
    }

    /// Space the key/value tables of `db` take per byte stored in them: leaves and
    /// branches, full or not.
    fn space_ratio(db: &redb::Database) -> f64 {
        let read = db.begin_read().unwrap();
        let mut stats = vec![read.open_table(KV).unwrap().stats().unwrap()];
        if let Ok(tail) = read.open_table(KV_TAIL) {
            stats.push(tail.stats().unwrap());
        }
        let stored: u64 = stats.iter().map(|s| s.stored_bytes()).sum();
        let used: u64 = stats
            .iter()
            .map(|s| s.stored_bytes() + s.metadata_bytes() + s.fragmented_bytes())
            .sum();
        used as f64 / stored as f64
    }

    /// The reason for the split: values a little over a page (a 4 KiB secret as the barrier
    /// stores it) take about one page each instead of two.
    #[test]
    fn values_just_over_a_page_fill_their_pages() {
        let dir = tempfile::tempdir().unwrap();
        let (split, whole) = (
            db(dir.path()),
            redb::Database::create(dir.path().join("w")).unwrap(),
        );
        let n = 2000;
        let (txn, txn_whole) = (split.begin_write().unwrap(), whole.begin_write().unwrap());
        {
            let mut kv = KvWrite::open(&txn).unwrap();
            let mut plain = txn_whole.open_table(KV).unwrap();
            for i in 0..n {
                let key = format!("logical/5c3dee71-2da0-4f2d-8612-41ae5d4dfeeb/versions/{i:032x}");
                kv.insert(&key, &value(4136, i as u8)).unwrap();
                plain
                    .insert(key.as_str(), value(4136, i as u8).as_slice())
                    .unwrap();
            }
        }
        txn.commit().unwrap();
        txn_whole.commit().unwrap();
        let (split, whole) = (space_ratio(&split), space_ratio(&whole));
        println!("{n} values of 4136 bytes take {split:.2}x their size split, {whole:.2}x whole");
        assert!(whole > 1.8, "whole values take two pages each: {whole:.2}x");
        assert!(
            split < 1.3,
            "split values take about one page each: {split:.2}x"
        );
    }
}
