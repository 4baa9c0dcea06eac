//! Unit tests of the segment log: round trips, roll-over, purge, truncation, and recovery from
//! torn, cut and corrupt records (on the simulated disk, whose files the tests can damage).

use std::ops::Bound;

use openraft::{CommittedLeaderId, EntryPayload};

use super::*;
use crate::power_cut_fs::PowerCutFs;
use crate::{Command, WireOp};

const ALL: (Bound<u64>, Bound<u64>) = (Bound::Unbounded, Bound::Unbounded);

pub(super) fn entry(term: u64, index: u64, size: usize) -> Entry<TypeConfig> {
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(term, 1), index),
        payload: EntryPayload::Normal(Command::Batch(vec![vec![WireOp::Put {
            key: format!("k/{term}/{index}"),
            value: vec![(index % 251) as u8; size],
        }]])),
    }
}

fn entries(term: u64, from: u64, to: u64, size: usize) -> Vec<Entry<TypeConfig>> {
    (from..=to).map(|i| entry(term, i, size)).collect()
}

/// (index, term) of everything the log returns.
fn ids(log: &SegmentLog) -> Vec<(u64, u64)> {
    log.read(ALL)
        .unwrap()
        .iter()
        .map(|e| (e.log_id.index, e.log_id.leader_id.term))
        .collect()
}

fn span(term: u64, from: u64, to: u64) -> Vec<(u64, u64)> {
    (from..=to).map(|i| (i, term)).collect()
}

fn open(fs: &PowerCutFs, segment_bytes: u64) -> SegmentLog {
    SegmentLog::open(Box::new(fs.clone()), segment_bytes).unwrap()
}

fn segment_files(fs: &PowerCutFs) -> Vec<String> {
    fs.list()
        .unwrap()
        .into_iter()
        .filter(|n| n.ends_with(SEGMENT_SUFFIX))
        .collect()
}

#[test]
fn appends_read_back_after_reopen_with_values_intact() {
    let fs = PowerCutFs::new();
    let mut log = open(&fs, 1 << 20);
    assert_eq!(log.last_log_id(), None);
    let written = entries(1, 1, 10, 300);
    log.append(&written[..4], None).unwrap();
    log.append(&written[4..], None).unwrap();
    drop(log);
    let log = open(&fs, 1 << 20);
    let got = log.read(ALL).unwrap();
    assert_eq!(got.len(), 10);
    for (g, w) in got.iter().zip(&written) {
        assert_eq!(g.log_id, w.log_id);
        assert_eq!(
            serde_json::to_value(&g.payload).unwrap(),
            serde_json::to_value(&w.payload).unwrap()
        );
    }
    assert_eq!(log.last_log_id(), Some(written[9].log_id));
    assert_eq!(
        log.read((Bound::Included(3), Bound::Excluded(6)))
            .unwrap()
            .iter()
            .map(|e| e.log_id.index)
            .collect::<Vec<_>>(),
        vec![3, 4, 5]
    );
    assert_eq!(log.entry_count(), 10);
    assert_eq!(segment_files(&fs), vec![segment_name(1)]);
}

#[test]
fn one_append_is_one_data_sync() {
    let fs = PowerCutFs::new();
    let mut log = open(&fs, 1 << 20);
    log.append(&entries(1, 1, 1, 10), None).unwrap();
    let before = fs.ops();
    log.append(&entries(1, 2, 40, 100), None).unwrap();
    // One write and one sync: no directory sync, no meta write.
    assert_eq!(fs.ops() - before, 2);
}

#[test]
fn segments_roll_over_and_reads_cross_them() {
    let fs = PowerCutFs::new();
    let mut log = open(&fs, 2048);
    for i in 1..=30 {
        log.append(&entries(1, i, i, 400), None).unwrap();
    }
    let files = segment_files(&fs);
    assert!(files.len() >= 5, "{files:?}");
    assert_eq!(files[0], segment_name(1));
    drop(log);
    let log = open(&fs, 2048);
    assert_eq!(log.segment_count(), files.len());
    assert_eq!(ids(&log), span(1, 1, 30));
    let mid = log.read((Bound::Included(4), Bound::Included(20))).unwrap();
    assert_eq!(mid.first().map(|e| e.log_id.index), Some(4));
    assert_eq!(mid.len(), 17);
    // One big batch rolls mid-append too.
    let mut log = log;
    log.append(&entries(1, 31, 60, 400), None).unwrap();
    drop(log);
    assert_eq!(ids(&open(&fs, 2048)), span(1, 1, 60));
}

#[test]
fn purge_removes_whole_segments_below_the_point_and_is_durable() {
    let fs = PowerCutFs::new();
    let mut log = open(&fs, 2048);
    for i in 1..=30 {
        log.append(&entries(1, i, i, 400), None).unwrap();
    }
    let before = segment_files(&fs).len();
    let upto = LogId::new(CommittedLeaderId::new(1, 1), 12);
    log.purge(upto, None).unwrap();
    let after = segment_files(&fs);
    assert!(after.len() < before, "{after:?}");
    assert_eq!(log.entry_count(), 18);
    // The first kept segment may start at or below the purge point, never above 13.
    let first_kept = parse_segment_name(&after[0]).unwrap();
    assert!(first_kept <= 13, "{after:?}");
    drop(log);
    fs.power_cut(7);
    let mut log = open(&fs, 2048);
    assert_eq!(log.last_purged(), Some(upto));
    assert_eq!(log.entry_count(), 18);
    assert_eq!(log.last_log_id().map(|l| l.index), Some(30));
    // Purging past the end (a snapshot installed ahead of the log) empties it; appends go
    // on after the purge point.
    let far = LogId::new(CommittedLeaderId::new(2, 1), 100);
    log.purge(far, None).unwrap();
    assert!(segment_files(&fs).is_empty());
    assert_eq!(log.last_log_id(), None);
    // Entries at or below the purge point are covered by it: not stored.
    assert!(
        log.append(&entries(2, 99, 100, 10), None)
            .unwrap()
            .is_empty()
    );
    assert_eq!(log.last_log_id(), None);
    log.append(&entries(2, 101, 103, 10), None).unwrap();
    assert_eq!(
        log.read((Bound::Included(95), Bound::Included(101)))
            .unwrap()
            .len(),
        1
    );
    drop(log);
    let log = open(&fs, 2048);
    assert_eq!(log.last_purged(), Some(far));
    assert_eq!(ids(&log), span(2, 101, 103));
}

#[test]
fn truncate_across_a_segment_boundary_removes_the_suffix_for_good() {
    let fs = PowerCutFs::new();
    let mut log = open(&fs, 2048);
    for i in 1..=30 {
        log.append(&entries(1, i, i, 400), None).unwrap();
    }
    let segs_before = segment_files(&fs);
    log.truncate(7).unwrap();
    let segs_after = segment_files(&fs);
    assert!(segs_after.len() < segs_before.len());
    assert!(
        segs_after
            .iter()
            .all(|n| parse_segment_name(n).unwrap() < 7)
    );
    assert_eq!(log.last_log_id().map(|l| l.index), Some(6));
    log.append(&entries(2, 7, 9, 400), None).unwrap();
    drop(log);
    fs.power_cut(3);
    let log = open(&fs, 2048);
    let mut want = span(1, 1, 6);
    want.extend(span(2, 7, 9));
    assert_eq!(ids(&log), want);
    // Truncating at a segment's first entry removes that file, at the first entry all.
    let mut log = log;
    log.truncate(1).unwrap();
    assert!(segment_files(&fs).is_empty());
    assert_eq!(log.last_log_id(), None);
    drop(log);
    assert_eq!(ids(&open(&fs, 2048)), vec![]);
}

/// The records of the only segment, as (offset, total length).
fn records(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut pos = SEGMENT_HEADER as usize;
    while pos + 8 <= bytes.len() {
        let h = parse_header(&bytes[pos..]);
        let total = 8 + h.len as usize;
        out.push((pos, total));
        pos += total;
    }
    out
}

#[test]
fn a_torn_tail_of_the_last_segment_is_cut_off() {
    let fs = PowerCutFs::new();
    let mut log = open(&fs, 1 << 20);
    log.append(&entries(1, 1, 5, 200), None).unwrap();
    drop(log);
    let name = segment_name(1);
    let good = fs.read_file(&name).unwrap();
    // A half-written record after the last one: a plausible header, part of a payload.
    let mut torn = good.clone();
    let mut extra = Vec::new();
    push_record(&mut extra, KIND_ENTRY, |b| {
        b.extend_from_slice(&6u64.to_le_bytes());
        encode_entry_into(&entry(1, 6, 200), b)
    })
    .unwrap();
    torn.extend_from_slice(&extra[..extra.len() / 2]);
    fs.write_file(&name, torn);
    let mut log = open(&fs, 1 << 20);
    assert_eq!(ids(&log), span(1, 1, 5));
    assert_eq!(
        fs.read_file(&name).unwrap(),
        good,
        "cut back to the last good record"
    );
    // The log goes on from there.
    log.append(&entries(1, 6, 6, 200), None).unwrap();
    drop(log);
    assert_eq!(ids(&open(&fs, 1 << 20)), span(1, 1, 6));
}

#[test]
fn a_last_segment_cut_mid_record_loses_only_that_record() {
    let fs = PowerCutFs::new();
    let mut log = open(&fs, 1 << 20);
    log.append(&entries(1, 1, 5, 200), None).unwrap();
    drop(log);
    let name = segment_name(1);
    let bytes = fs.read_file(&name).unwrap();
    let recs = records(&bytes);
    let (last_at, last_len) = recs[recs.len() - 1];
    for cut in [last_at + 3, last_at + 8, last_at + last_len - 1] {
        fs.write_file(&name, bytes[..cut].to_vec());
        let log = open(&fs, 1 << 20);
        assert_eq!(ids(&log), span(1, 1, 4), "cut at {cut}");
        assert_eq!(fs.read_file(&name).unwrap().len(), last_at);
        fs.write_file(&name, bytes.clone());
    }
    // Zeroes where the record should be (blocks allocated, never written).
    let mut zeroed = bytes.clone();
    zeroed[last_at..].fill(0);
    fs.write_file(&name, zeroed);
    assert_eq!(ids(&open(&fs, 1 << 20)), span(1, 1, 4));
}

#[test]
fn a_corrupt_record_ends_the_last_segment_there() {
    let fs = PowerCutFs::new();
    let mut log = open(&fs, 1 << 20);
    log.append(&entries(1, 1, 6, 200), None).unwrap();
    drop(log);
    let name = segment_name(1);
    let mut bytes = fs.read_file(&name).unwrap();
    let (at, len) = records(&bytes)[3];
    bytes[at + len - 5] ^= 0x40;
    fs.write_file(&name, bytes);
    assert_eq!(ids(&open(&fs, 1 << 20)), span(1, 1, 3));
}

#[test]
fn damage_in_a_sealed_segment_refuses_the_open_or_the_read() {
    let fs = PowerCutFs::new();
    let mut log = open(&fs, 2048);
    for i in 1..=20 {
        log.append(&entries(1, i, i, 400), None).unwrap();
    }
    drop(log);
    let files = segment_files(&fs);
    assert!(files.len() >= 3);
    let sealed = files[1].clone();
    let good = fs.read_file(&sealed).unwrap();
    let recs = records(&good);

    // A damaged record header: the open is refused, naming the file and the offset.
    let mut bad = good.clone();
    let (at, _) = recs[1];
    bad[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    fs.write_file(&sealed, bad);
    let err = SegmentLog::open(Box::new(fs.clone()), 2048)
        .err()
        .expect("refused");
    let msg = err.to_string();
    assert!(
        msg.contains(&sealed) && msg.contains(&format!("offset {at}")),
        "{msg}"
    );
    assert!(matches!(err, RaftError::Corrupt(_)));

    // A sealed segment cut short: refused too.
    fs.write_file(&sealed, good[..good.len() - 10].to_vec());
    assert!(SegmentLog::open(Box::new(fs.clone()), 2048).is_err());

    // A flipped payload bit: only headers are read at open; the read fails with the place.
    let mut flipped = good.clone();
    let (at, len) = recs[0];
    flipped[at + len - 3] ^= 1;
    fs.write_file(&sealed, flipped);
    let log = open(&fs, 2048);
    let msg = log.read(ALL).expect_err("checksum").to_string();
    assert!(msg.contains(&sealed) && msg.contains("checksum"), "{msg}");

    fs.write_file(&sealed, good);
    assert_eq!(ids(&open(&fs, 2048)), span(1, 1, 20));
}

#[test]
fn vote_and_commit_index_are_durable() {
    let fs = PowerCutFs::new();
    let mut log = open(&fs, 1 << 20);
    let c3 = LogId::new(CommittedLeaderId::new(1, 1), 3);
    let c5 = LogId::new(CommittedLeaderId::new(1, 1), 5);
    log.save_vote(Vote::new(1, 1), None).unwrap();
    log.append(&entries(1, 1, 5, 10), Some(Some(c3))).unwrap();
    log.append(&entries(1, 6, 6, 10), Some(Some(c5))).unwrap();
    log.save_vote(Vote::new(2, 7), None).unwrap();
    drop(log);
    fs.power_cut(11);
    let mut log = open(&fs, 1 << 20);
    assert_eq!(log.vote(), Some(Vote::new(2, 7)));
    assert_eq!(log.committed(), Some(c5));
    // A commit index carried only by an append record.
    let c6 = LogId::new(CommittedLeaderId::new(1, 1), 6);
    log.append(&entries(1, 7, 7, 10), Some(Some(c6))).unwrap();
    drop(log);
    fs.power_cut(12);
    let log = open(&fs, 1 << 20);
    assert_eq!(log.committed(), Some(c6));
    assert_eq!(log.vote(), Some(Vote::new(2, 7)));
}

#[test]
fn a_damaged_meta_file_refuses_the_open() {
    let fs = PowerCutFs::new();
    let mut log = open(&fs, 1 << 20);
    log.save_vote(Vote::new(1, 1), None).unwrap();
    drop(log);
    let mut meta = fs.read_file(META_FILE).unwrap();
    let last = meta.len() - 1;
    meta[last] ^= 0xFF;
    fs.write_file(META_FILE, meta);
    let msg = SegmentLog::open(Box::new(fs.clone()), 1 << 20)
        .err()
        .expect("refused")
        .to_string();
    assert!(msg.contains("meta"), "{msg}");
}

#[test]
fn overlapping_appends_are_refused_and_a_failed_write_poisons_the_log() {
    let fs = PowerCutFs::new();
    let mut log = open(&fs, 1 << 20);
    log.append(&entries(1, 1, 3, 10), None).unwrap();
    assert!(log.append(&entries(1, 3, 4, 10), None).is_err());
    let mut gappy = entries(1, 4, 4, 10);
    gappy.push(entry(1, 6, 10));
    assert!(log.append(&gappy, None).is_err());
    // Refusals change nothing.
    log.append(&entries(1, 4, 4, 10), None).unwrap();
    fs.fail_after(Some(0));
    assert!(log.append(&entries(1, 5, 5, 10), None).is_err());
    fs.fail_after(None);
    fs.power_cut(1);
    let msg = log.read(ALL).expect_err("poisoned").to_string();
    assert!(msg.contains("failed earlier"), "{msg}");
    drop(log);
    assert_eq!(ids(&open(&fs, 1 << 20)), span(1, 1, 4));
}

#[test]
fn a_gap_after_the_last_entry_starts_a_new_segment() {
    let fs = PowerCutFs::new();
    let mut log = open(&fs, 1 << 20);
    log.append(&entries(1, 1, 3, 10), None).unwrap();
    log.append(&entries(2, 10, 12, 10), None).unwrap();
    drop(log);
    let log = open(&fs, 1 << 20);
    assert_eq!(segment_files(&fs), vec![segment_name(1), segment_name(10)]);
    let mut want = span(1, 1, 3);
    want.extend(span(2, 10, 12));
    assert_eq!(ids(&log), want);
}

#[test]
fn works_on_the_real_file_system() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let open_real =
        || SegmentLog::open(Box::new(crate::log_fs::OsDir::create(&path).unwrap()), 4096).unwrap();
    let mut log = open_real();
    for i in 1..=40 {
        log.append(&entries(1, i, i, 500), None).unwrap();
    }
    log.truncate(35).unwrap();
    log.purge(LogId::new(CommittedLeaderId::new(1, 1), 10), None)
        .unwrap();
    log.save_vote(Vote::new(3, 1), None).unwrap();
    drop(log);
    let log = open_real();
    assert_eq!(log.last_log_id().map(|l| l.index), Some(34));
    assert_eq!(log.entry_count(), 24);
    assert_eq!(log.vote(), Some(Vote::new(3, 1)));
    assert!(std::fs::read_dir(&path).unwrap().count() > 2);
}

mod garbage {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(tresor_testkit::props::seeded_config(128))]

        /// Whatever the files hold, opening and reading the log return a result, never panic.
        #[test]
        fn damaged_files_never_panic(
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..12),
            cut in any::<prop::sample::Index>(),
            which in 0usize..3,
            meta_noise in prop::option::of(prop::collection::vec(any::<u8>(), 0..64)),
        ) {
            let fs = PowerCutFs::new();
            let mut log = open(&fs, 2048);
            for i in 1..=12 {
                log.append(&entries(1, i, i, 300), Some(Some(LogId::new(CommittedLeaderId::new(1, 1), i - 1))))
                    .unwrap();
            }
            log.save_vote(Vote::new(1, 1), None).unwrap();
            drop(log);
            let files = segment_files(&fs);
            let name = files[which.min(files.len() - 1)].clone();
            let mut bytes = fs.read_file(&name).unwrap();
            for (at, value) in flips {
                let i = at.index(bytes.len());
                bytes[i] = value;
            }
            bytes.truncate(cut.index(bytes.len() + 1));
            fs.write_file(&name, bytes);
            if let Some(noise) = meta_noise {
                fs.write_file(META_FILE, noise);
            }
            if let Ok(log) = SegmentLog::open(Box::new(fs.clone()), 2048) {
                let _ = log.read(ALL);
                let _ = log.read((Bound::Included(3), Bound::Included(9)));
            }
        }
    }
}
