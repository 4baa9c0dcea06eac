//! The replicated physical store of Tresor: openraft 0.9 over a segment-file log and redb.
//!
//! A [`RaftStore`] is one node. It keeps the Raft log, vote and commit index in segment files
//! under `<data_dir>/log/` (`docs/design/raft-log-format.md`; a `raft.redb` of an earlier
//! version is migrated at open), the key/value state machine in `<data_dir>/state.redb` and snapshots
//! in `<data_dir>/snapshots/`. It implements [`tresor_storage::Backend`] and only ever sees
//! ciphertext: values are opaque bytes.
//!
//! - Writes: [`Backend::apply`](tresor_storage::Backend::apply) on the leader goes through a
//!   group-commit writer that folds concurrent calls into one Raft entry, so
//!   one fsync serves many writers. Each op list is applied atomically.
//! - Durability: a write is acknowledged only after its entry is in the log and synced (one
//!   `fdatasync` per append, which group commit makes one per batch of writes) and applied. Most state-machine applies commit without fsync
//!   (a durable commit at least every second or 1,024 applies, every membership change, and
//!   a background flush every 100 ms); after a crash openraft re-applies committed entries
//!   from the log, and a snapshot forces a durable state-machine commit before any log entry
//!   is purged.
//! - Memory: redb's page cache is capped ([`STATE_CACHE_BYTES`]) instead of redb's 1 GiB
//!   default; the log keeps only recent entries decoded in memory and an index of offsets.
//! - Reads: `get`/`list` read the local state machine (stale on followers). After
//!   [`RaftStore::wait_for_leader`] returns on the leader, reads reflect every committed write.
//! - Errors: a follower's write fails with `NotLeader { leader }`; a refused or never-proposed
//!   write (shut down, stale quorum) with `Unavailable`; a proposed write whose fate is not
//!   known (node stopped, quorum lost while pending) with `Unknown`.
//! - Compaction: openraft builds a snapshot every `snapshot_threshold` entries and purges the
//!   log down to `trailing_logs` entries behind it.
//! - Peers: RPCs go through a [`Transport`]; incoming ones are served by
//!   [`RaftStore::handle_rpc`]. [`InProcessNetwork`] wires nodes of one process for tests.
//! - Quorum-loss recovery: a `peers.json` in `<data_dir>/raft/` (Vault's place) or
//!   `<data_dir>/` rewrites the membership before Raft starts; see [`peers_json`].
//! - Node ids: the Vault-style string id maps to openraft's `u64` by [`node_id_of`].
//! - Operator snapshots: [`RaftStore::save_archive`] streams Vault's archive layout
//!   ([`tresor_snapshot`]); [`RaftStore::restore_archive`] verifies one and replicates it
//!   through the log as staged chunks and one all-or-nothing commit
//!   (`docs/design/snapshot-format.md`).
//!
//! Leadership transfer is not offered by openraft 0.9; the server implements `sys/step-down`
//! by pausing the leader's heartbeats and elections through `raft().runtime_config()` for a
//! few seconds, so that another voter takes over.

/// Page cache of the old `raft.redb` log, when one is migrated or measured.
pub const LOG_CACHE_BYTES: usize = 4 * 1024 * 1024;
/// Page cache of `state.redb` (the replicated key/value data). Small: redb's cache is an
/// addition to the kernel's page cache, which holds the file anyway; a larger one only held
/// page versions of earlier transactions (docs/benchmarks.md, "redb cache size"). 4 MiB since
/// the allocator change: 8 MiB held a node at 44–49 MiB after the benchmark's load, 4 MiB at
/// 41–42, with reads within the run-to-run spread.
pub const STATE_CACHE_BYTES: usize = 4 * 1024 * 1024;

mod archive_io;
pub mod autopilot;
mod backend;
mod blocking;
mod compaction;
mod error;
mod group_commit;
mod inprocess;
mod kv_table;
mod legacy_redb_log;
mod log_codec;
mod log_fs;
mod log_store;
mod log_trail;
mod options;
pub mod peers_json;
#[cfg(test)]
mod power_cut_fs;
mod read_barrier;
mod restore_staging;
mod segment_log;
mod snapshot_data;
mod snapshot_file;
mod state_machine;
mod status;
mod store;
mod telemetry;
mod transport;
mod types;
mod watched_keys;

/// The two Raft log engines side by side, for `examples/log_append.rs` only (not an API).
#[doc(hidden)]
pub mod log_bench {
    pub use crate::legacy_redb_log::LegacyRedbLog;
    pub use crate::segment_log_bench::SegmentLogBench;
}
mod segment_log_bench;

pub use archive_io::{CheckArchive, RESTORE_CHUNK, RestoreSummary, SealSums, verify_archive};
pub use autopilot::{Action, AutopilotConfig, ServerFacts, ServerHealth, StabilityTracker};
pub use error::RaftError;
pub use inprocess::InProcessNetwork;
pub use options::{
    DEFAULT_LOG_SEGMENT_BYTES, DEFAULT_PERFORMANCE_MULTIPLIER, DEFAULT_SNAPSHOT_THRESHOLD,
    DEFAULT_TRAILING_LOGS, INSTALL_SNAPSHOT_TIMEOUT, RaftOptions, Timing,
};
pub use read_barrier::{BarrierFailed, ReadBarrier};
pub use snapshot_file::{SnapshotInfo, inspect_snapshot};
pub use status::{FollowerStatus, MemberInfo, RaftStatus};
pub use store::RaftStore;
pub use transport::{RpcKind, Transport};
pub use tresor_snapshot::{ArchiveContents, SnapshotError, SnapshotMeta};
pub use types::{Command, CommandResult, NodeId, NodeInfo, TypeConfig, WireOp, node_id_of};
pub use watched_keys::WatchedKeys;
