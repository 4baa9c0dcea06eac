//! How much log a node keeps behind its snapshot, counted in writes.
//!
//! `trailing_logs` (Vault's setting, default 10,000) is the log kept after a snapshot so a
//! follower that fell a little behind catches up from the log instead of a whole snapshot.
//! Vault's log holds one write per entry. Ours packs a group commit (all the writes that
//! arrived while the previous append was being made durable) into one entry, so counting
//! entries kept about eight times as many writes as asked under load: with 4 KiB secrets,
//! hundreds of megabytes of log that nothing would read. openraft still keeps
//! `trailing_logs` *entries* (a floor); [`keep_trail`] then purges further, down to the entry
//! where the last `trailing_logs` *writes* begin.
//!
//! `snapshot_threshold` is counted the same way: openraft builds a snapshot after that many
//! entries, and [`keep_trail`] asks for one as soon as that many writes were applied since
//! the last. (A snapshot costs one durable commit: see [`crate::snapshot_data`].)
//!
//! [`WriteCounts`] is the bookkeeping (how many writes each entry in the log holds), kept by
//! the log store as entries are appended, truncated and purged. Entries written before the
//! process started are not counted again at open (that would mean reading the whole log);
//! each counts as one write, which only ever keeps more.

use std::collections::VecDeque;

use openraft::{Entry, EntryPayload, Raft};

use crate::TypeConfig;
use crate::log_store::LogStore;
use crate::types::Command;

/// How many client writes `entry` carries: the callers of a group commit, one for anything
/// else.
pub(crate) fn writes_in(entry: &Entry<TypeConfig>) -> u32 {
    match &entry.payload {
        EntryPayload::Normal(Command::Batch(batches)) => {
            u32::try_from(batches.len()).unwrap_or(u32::MAX).max(1)
        }
        _ => 1,
    }
}

/// The writes held by each of a contiguous run of log entries (pure bookkeeping).
#[derive(Debug, Default)]
pub(crate) struct WriteCounts {
    /// Index of `counts[0]`.
    first: u64,
    counts: VecDeque<u32>,
}

impl WriteCounts {
    fn end(&self) -> u64 {
        self.first + self.counts.len() as u64
    }

    /// Records entries `first..` holding `counts` writes each. An append that overlaps the
    /// known run replaces its tail (openraft truncates first, but this stays consistent
    /// either way); one after a gap starts the run again.
    pub(crate) fn appended(&mut self, first: u64, counts: impl IntoIterator<Item = u32>) {
        if self.counts.is_empty() || first < self.first || first > self.end() {
            self.first = first;
            self.counts.clear();
        } else {
            self.counts.truncate((first - self.first) as usize);
        }
        self.counts.extend(counts);
    }

    /// Forgets entries at and after `index` (a log truncation).
    pub(crate) fn truncated(&mut self, index: u64) {
        if index <= self.first {
            self.counts.clear();
        } else if index < self.end() {
            self.counts.truncate((index - self.first) as usize);
        }
    }

    /// Forgets entries at and before `index` (a log purge).
    pub(crate) fn purged(&mut self, index: u64) {
        while !self.counts.is_empty() && self.first <= index {
            self.counts.pop_front();
            self.first += 1;
        }
        if self.counts.is_empty() {
            self.first = index.saturating_add(1).max(self.first);
        }
    }

    /// How many writes the entries after `after` up to `upto` (inclusive) hold; entries not
    /// counted count one each.
    pub(crate) fn writes_between(&self, after: u64, upto: u64) -> u64 {
        let (lo, hi) = (after.saturating_add(1), upto.saturating_add(1));
        if lo >= hi {
            return 0;
        }
        // The counted entries within the range, and the rest at one each.
        let (first, end) = (self.first.max(lo), self.end().min(hi));
        if self.counts.is_empty() || first >= end {
            return hi - lo;
        }
        let counted: u64 = self
            .counts
            .range((first - self.first) as usize..(end - self.first) as usize)
            .map(|&c| u64::from(c))
            .sum();
        let counted_entries = end - first;
        counted + (hi - lo - counted_entries)
    }

    /// The highest index that may be purged so that the entries from after it up to
    /// `snapshot` (inclusive) still hold at least `keep` writes; `None` when nothing may go.
    /// Entries not counted (from before the process started) count one write each.
    pub(crate) fn purge_point(&self, snapshot: u64, keep: u64) -> Option<u64> {
        if keep == 0 {
            return Some(snapshot);
        }
        let mut i = snapshot;
        let mut kept = 0u64;
        // Uncounted entries above the run (none appended since the start, or a snapshot
        // past the log's end): one write each.
        if self.counts.is_empty() || i >= self.end() {
            let low = if self.counts.is_empty() {
                0
            } else {
                self.end()
            };
            let above = i - low + 1;
            if above >= keep {
                return i.checked_sub(keep);
            }
            kept = above;
            i = low.checked_sub(1)?;
        }
        while i >= self.first {
            kept += u64::from(self.counts[(i - self.first) as usize]);
            if kept >= keep {
                return i.checked_sub(1);
            }
            i = i.checked_sub(1)?;
        }
        // Uncounted entries below the run: one write each.
        i.checked_sub(keep - kept)
    }
}

/// Asks for a snapshot once `threshold` writes were applied since the last one, and purges
/// the log of `raft` down to where the last `keep_writes` writes before each new snapshot
/// begin (see the module docs). Ends when Raft shuts down.
pub(crate) async fn keep_trail(
    raft: Raft<TypeConfig>,
    log: LogStore,
    threshold: u64,
    keep_writes: u64,
) {
    let mut rx = raft.metrics();
    let mut handled = None;
    let mut asked_after = None;
    let mut last_applied = None;
    loop {
        let (snapshot, purged, applied) = {
            let m = rx.borrow_and_update();
            (
                m.snapshot.map(|l| l.index),
                m.purged.map(|l| l.index),
                m.last_applied.map(|l| l.index),
            )
        };
        // One request per snapshot: the next is asked for once that one is built. Metrics
        // change with every heartbeat; the count is looked at only when the applied index
        // moved.
        let moved = applied != last_applied;
        last_applied = applied;
        if let Some(applied) = applied
            && moved
            && asked_after != Some(snapshot)
            && log.writes_between(snapshot.unwrap_or(0), applied) >= threshold
        {
            asked_after = Some(snapshot);
            tracing::debug!(
                applied,
                ?snapshot,
                "asking for a snapshot: {threshold} writes since the last"
            );
            if raft.trigger().snapshot().await.is_err() {
                return;
            }
        }
        if let Some(s) = snapshot.filter(|s| handled != Some(*s)) {
            handled = Some(s);
            let point = log.purge_point(s, keep_writes);
            if let Some(p) = point.filter(|p| purged.is_none_or(|q| *p > q)) {
                tracing::debug!(upto = p, snapshot = s, "purging the log behind the trail");
                if raft.trigger().purge_log(p).await.is_err() {
                    return;
                }
            }
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(first: u64, c: &[u32]) -> WriteCounts {
        let mut w = WriteCounts::default();
        w.appended(first, c.iter().copied());
        w
    }

    #[test]
    fn the_trail_holds_the_last_writes_before_the_snapshot() {
        // Entries 1..=10 of 8 writes each.
        let w = counts(1, &[8; 10]);
        // 16 writes: entries 9 and 10 hold them, so 8 may go.
        assert_eq!(w.purge_point(10, 16), Some(8));
        // 17 writes need a third entry.
        assert_eq!(w.purge_point(10, 17), Some(7));
        // The snapshot may be behind the log's end.
        assert_eq!(w.purge_point(6, 8), Some(5));
        assert_eq!(
            w.purge_point(10, 0),
            Some(10),
            "no trail: up to the snapshot"
        );
    }

    #[test]
    fn uncounted_entries_count_one_write_each() {
        // Entries 101..=105 counted; below 101 the log came from before a restart.
        let w = counts(101, &[8; 5]);
        // 40 counted writes, then 10 more entries of one write: 90 may go.
        assert_eq!(w.purge_point(105, 50), Some(90));
        // More than there can be: nothing may go.
        assert_eq!(w.purge_point(105, 1000), None);
        // Nothing counted at all.
        assert_eq!(WriteCounts::default().purge_point(50, 10), Some(40));
        assert_eq!(WriteCounts::default().purge_point(5, 10), None);
    }

    #[test]
    fn appends_truncations_and_purges_keep_the_run_consistent() {
        let mut w = counts(1, &[1, 2, 3, 4]);
        // openraft truncates a conflicting suffix and appends the leader's entries.
        w.truncated(3);
        w.appended(3, [10, 10]);
        assert_eq!(w.purge_point(4, 20), Some(2));
        assert_eq!(w.purge_point(4, 21), Some(1));
        // An overlapping append without a truncation replaces the tail too.
        w.appended(4, [5]);
        assert_eq!(w.purge_point(4, 15), Some(2));
        w.purged(2);
        assert_eq!(w.first, 3);
        assert_eq!(w.purge_point(4, 15), Some(2));
        // Entries 1 and 2 are gone (counted as one each if asked).
        assert_eq!(w.purge_point(4, 17), Some(0));
        // A gap (a snapshot installed past the end) starts again.
        w.appended(50, [7]);
        assert_eq!(w.purge_point(50, 7), Some(49));
        assert_eq!(w.purge_point(50, 8), Some(48));
        // Purging past everything leaves an empty run starting after the purge point.
        w.purged(60);
        assert_eq!(w.first, 61);
        assert_eq!(w.purge_point(65, 3), Some(62));
        // Truncating below the start forgets everything.
        let mut w = counts(10, &[2, 2]);
        w.truncated(5);
        assert_eq!(w.purge_point(11, 2), Some(9));
    }

    #[test]
    fn writes_between_two_indexes_count_uncounted_entries_as_one() {
        let w = counts(10, &[5, 6, 7]);
        assert_eq!(w.writes_between(9, 12), 18);
        assert_eq!(w.writes_between(10, 12), 13);
        assert_eq!(w.writes_between(12, 12), 0);
        // Entries 6..=9 and 13..=14 are not counted: one each.
        assert_eq!(w.writes_between(5, 14), 4 + 18 + 2);
        assert_eq!(w.writes_between(0, 3), 3);
        assert_eq!(WriteCounts::default().writes_between(0, 10), 10);
    }

    #[test]
    fn writes_in_counts_the_callers_of_a_group_commit() {
        use crate::types::WireOp;
        let put = |k: &str| WireOp::Put {
            key: k.into(),
            value: vec![1],
        };
        let batch = Command::Batch(vec![vec![put("a"), put("b")], vec![put("c")], vec![]]);
        let e = |payload| Entry {
            log_id: openraft::LogId::new(openraft::CommittedLeaderId::new(1, 1), 1),
            payload,
        };
        assert_eq!(writes_in(&e(EntryPayload::Normal(batch))), 3);
        assert_eq!(writes_in(&e(EntryPayload::Blank)), 1);
        assert_eq!(
            writes_in(&e(EntryPayload::Normal(Command::Batch(vec![])))),
            1
        );
    }
}
