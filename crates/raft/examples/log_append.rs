//! Raft log append latency and bytes written: the old redb log (`raft.redb`, one write
//! transaction per append) against the segment log (records + one `fdatasync` per append), on
//! the same disk, with realistic entries (one KV write of a ~4 KB value each).
//!
//! `cargo run --release -p tresor-raft --example log_append [appends] [entries-per-append]
//! [value-bytes] [dir]` (defaults: 500, 1, 4000, a temporary directory under the current
//! one — not `/tmp`, which may be memory). Prints the figures, and how long the segment log
//! takes to open again; asserts nothing.

use std::time::{Duration, Instant};

use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId};
use tresor_raft::log_bench::{LegacyRedbLog, SegmentLogBench};
use tresor_raft::{Command, TypeConfig, WireOp};

type Error = Box<dyn std::error::Error>;

/// Bytes this process has caused to be written to storage (`/proc/self/io`), if known.
fn write_bytes() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("write_bytes:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Entries `first..first+count`, each a KV write of `value_len` pseudo-random bytes (as
/// ciphertext would be).
fn batch(first: u64, count: usize, value_len: usize, seed: &mut u64) -> Vec<Entry<TypeConfig>> {
    (first..first + count as u64)
        .map(|index| {
            let mut value = Vec::with_capacity(value_len);
            while value.len() < value_len {
                *seed ^= *seed << 13;
                *seed ^= *seed >> 7;
                *seed ^= *seed << 17;
                value.extend_from_slice(&seed.to_le_bytes());
            }
            value.truncate(value_len);
            Entry {
                log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
                payload: EntryPayload::Normal(Command::Batch(vec![vec![WireOp::Put {
                    key: format!("logical/0b7c5e2a-2f4d/secret/data/app/{index}"),
                    value,
                }]])),
            }
        })
        .collect()
}

struct Figures {
    latencies: Vec<Duration>,
    bytes: Option<u64>,
    file_bytes: u64,
}

fn report(name: &str, f: &mut Figures, appends: usize, per_append: usize) {
    f.latencies.sort();
    let total: Duration = f.latencies.iter().sum();
    let at = |q: f64| f.latencies[((f.latencies.len() - 1) as f64 * q) as usize];
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "{name:>8}: {appends} appends x {per_append} entries: mean {:.0} us, p50 {:.0} us, \
         p99 {:.0} us; written {} per append ({} per entry); on disk {} B",
        us(total / appends as u32),
        us(at(0.5)),
        us(at(0.99)),
        f.bytes
            .map(|b| format!("{} B", b / appends as u64))
            .unwrap_or_else(|| "?".into()),
        f.bytes
            .map(|b| format!("{} B", b / (appends * per_append) as u64))
            .unwrap_or_else(|| "?".into()),
        f.file_bytes,
    );
}

fn run(
    appends: usize,
    per_append: usize,
    value_len: usize,
    mut append: impl FnMut(&[Entry<TypeConfig>]) -> Result<(), Error>,
) -> Result<Figures, Error> {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    // Entries are built before timing; only the append is timed.
    let batches: Vec<_> = (0..appends)
        .map(|i| {
            batch(
                1 + (i * per_append) as u64,
                per_append,
                value_len,
                &mut seed,
            )
        })
        .collect();
    let before = write_bytes();
    let mut latencies = Vec::with_capacity(appends);
    for b in &batches {
        let started = Instant::now();
        append(b)?;
        latencies.push(started.elapsed());
    }
    let bytes = write_bytes().zip(before).map(|(a, b)| a - b);
    Ok(Figures {
        latencies,
        bytes,
        file_bytes: 0,
    })
}

fn dir_bytes(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .map(|d| {
            d.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn main() -> Result<(), Error> {
    let arg = |n: usize| std::env::args().nth(n);
    let appends: usize = arg(1).and_then(|s| s.parse().ok()).unwrap_or(500).max(1);
    let per_append: usize = arg(2).and_then(|s| s.parse().ok()).unwrap_or(1).max(1);
    let value_len: usize = arg(3).and_then(|s| s.parse().ok()).unwrap_or(4000);
    let base = arg(4).unwrap_or_else(|| ".".into());
    let tmp = tempfile::tempdir_in(&base)?;
    println!(
        "in {} ({value_len} B values)",
        std::fs::canonicalize(tmp.path())?.display()
    );

    let redb_path = tmp.path().join("raft.redb");
    let redb = LegacyRedbLog::create(&redb_path)?;
    let mut committed = None;
    let mut f = run(appends, per_append, value_len, |b| {
        // The old log wrote the commit index in every append transaction.
        redb.append(b, Some(committed))?;
        committed = b.last().map(|e| e.log_id);
        Ok(())
    })?;
    drop(redb);
    f.file_bytes = std::fs::metadata(&redb_path)?.len();
    report("redb", &mut f, appends, per_append);

    let seg_dir = tmp.path().join("log");
    let mut seg = SegmentLogBench::open(&seg_dir, tresor_raft::DEFAULT_LOG_SEGMENT_BYTES)?;
    let mut committed = None;
    let mut f = run(appends, per_append, value_len, |b| {
        seg.append(b, committed)?;
        committed = b.last().map(|e| e.log_id);
        Ok(())
    })?;
    drop(seg);
    f.file_bytes = dir_bytes(&seg_dir);
    report("segments", &mut f, appends, per_append);

    // Opening again: sealed segments' record headers are read, the last segment in full.
    let started = Instant::now();
    let seg = SegmentLogBench::open(&seg_dir, tresor_raft::DEFAULT_LOG_SEGMENT_BYTES)?;
    println!(
        "segments: reopened in {:.1} ms ({} B in segment files)",
        started.elapsed().as_secs_f64() * 1e3,
        seg.disk_bytes()
    );
    Ok(())
}
