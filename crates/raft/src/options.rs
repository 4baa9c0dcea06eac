//! Node options and the timing formula derived from them.

use std::path::PathBuf;
use std::sync::Arc;

use crate::RaftError;

/// The performance multiplier used when the operator leaves it at 0 (Vault's default).
pub const DEFAULT_PERFORMANCE_MULTIPLIER: u32 = 5;
/// Default number of log entries since the last snapshot that triggers a new one.
pub const DEFAULT_SNAPSHOT_THRESHOLD: u64 = 8192;
/// Default number of log entries kept behind a snapshot (for slow followers).
pub const DEFAULT_TRAILING_LOGS: u64 = 10_000;

/// Default size past which the Raft log starts a new segment file (16 MiB): opening reads
/// the last segment in full, and purges free whole segments, so smaller segments mean a
/// faster start and less disk held by purged entries; a roll-over costs one extra directory
/// sync.
pub const DEFAULT_LOG_SEGMENT_BYTES: u64 = 16 * 1024 * 1024;

/// Heartbeat interval per unit of performance multiplier, in milliseconds.
const HEARTBEAT_MS_PER_UNIT: u64 = 16;
/// Lower bound of the randomized election timeout per unit of multiplier, in milliseconds.
const ELECTION_MIN_MS_PER_UNIT: u64 = 50;
/// Smallest heartbeat interval (it is also openraft's AppendEntries timeout).
const MIN_HEARTBEAT_MS: u64 = 60;
/// Narrowest window the randomized election timeout is drawn from, in milliseconds: two
/// followers whose timeouts fall within one vote round of each other split the vote, so the
/// window must stay wide compared with a vote round on a busy host.
const MIN_ELECTION_WINDOW_MS: u64 = 180;

/// How a node of the Raft store is set up (the `storage "raft"` stanza plus addresses).
#[derive(Clone, Debug)]
pub struct RaftOptions {
    /// Directory holding the Raft log (`log/`), `state.redb` and `snapshots/`.
    pub data_dir: PathBuf,
    /// Vault-style string id of this node, e.g. `vault-1`.
    pub node_id: String,
    /// This node's client-facing API address.
    pub api_addr: String,
    /// This node's cluster (Raft RPC) address.
    pub cluster_addr: String,
    /// Timing scale; 0 means [`DEFAULT_PERFORMANCE_MULTIPLIER`]. See [`Timing::for_multiplier`].
    pub performance_multiplier: u32,
    /// Build a snapshot after this many entries since the last one; 0 means the default.
    pub snapshot_threshold: u64,
    /// Log entries kept after a snapshot; 0 means the default.
    pub trailing_logs: u64,
    /// Size past which the Raft log starts a new segment file; 0 means
    /// [`DEFAULT_LOG_SEGMENT_BYTES`].
    pub log_segment_bytes: u64,
    /// Whether this node may campaign in elections from the moment it opens (default: yes).
    /// Switch it later with `raft().runtime_config().elect(..)`.
    pub elections: bool,
    /// Where the store records Vault's `vault.raft.*` metrics (the node's registry; a
    /// private one by default).
    pub metrics: tresor_telemetry::Metrics,
}

impl RaftOptions {
    /// Options with every tunable at its default.
    pub fn new(
        data_dir: impl Into<PathBuf>,
        node_id: impl Into<String>,
        api_addr: impl Into<String>,
        cluster_addr: impl Into<String>,
    ) -> Self {
        Self {
            data_dir: data_dir.into(),
            node_id: node_id.into(),
            api_addr: api_addr.into(),
            cluster_addr: cluster_addr.into(),
            performance_multiplier: 0,
            snapshot_threshold: 0,
            trailing_logs: 0,
            log_segment_bytes: 0,
            elections: true,
            metrics: tresor_telemetry::Metrics::new(),
        }
    }

    /// The effective segment size of the Raft log (default applied).
    pub fn effective_log_segment_bytes(&self) -> u64 {
        if self.log_segment_bytes == 0 {
            DEFAULT_LOG_SEGMENT_BYTES
        } else {
            self.log_segment_bytes
        }
    }

    /// The effective snapshot threshold (default applied).
    pub fn effective_snapshot_threshold(&self) -> u64 {
        if self.snapshot_threshold == 0 {
            DEFAULT_SNAPSHOT_THRESHOLD
        } else {
            self.snapshot_threshold
        }
    }

    /// The effective number of trailing logs (default applied).
    pub fn effective_trailing_logs(&self) -> u64 {
        if self.trailing_logs == 0 {
            DEFAULT_TRAILING_LOGS
        } else {
            self.trailing_logs
        }
    }

    /// Checks the options and builds the openraft configuration from them.
    pub(crate) fn openraft_config(&self) -> Result<Arc<openraft::Config>, RaftError> {
        if self.node_id.is_empty() {
            return Err(RaftError::Config("node_id must not be empty".into()));
        }
        let timing = Timing::for_multiplier(self.performance_multiplier);
        let config = openraft::Config {
            cluster_name: "tresor".into(),
            heartbeat_interval: timing.heartbeat_ms,
            election_timeout_min: timing.election_min_ms,
            election_timeout_max: timing.election_max_ms,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(
                self.effective_snapshot_threshold(),
            ),
            max_in_snapshot_log_to_keep: self.effective_trailing_logs(),
            purge_batch_size: 64,
            // The chunk that ends a snapshot is answered only after the follower has
            // verified and installed the whole snapshot: openraft's default of 200 ms failed
            // every transfer of a state bigger than a few megabytes, over and over.
            install_snapshot_timeout: INSTALL_SNAPSHOT_TIMEOUT_MS,
            snapshot_max_chunk_size: SNAPSHOT_CHUNK_BYTES,
            enable_elect: self.elections,
            ..Default::default()
        };
        config
            .validate()
            .map(Arc::new)
            .map_err(|e| RaftError::Config(e.to_string()))
    }
}

/// How long one snapshot chunk may take to be answered, the last one including the
/// follower's install of the whole snapshot (transports bound the RPC by
/// [`INSTALL_SNAPSHOT_TIMEOUT`] too).
pub(crate) const INSTALL_SNAPSHOT_TIMEOUT_MS: u64 = 120_000;
/// [`INSTALL_SNAPSHOT_TIMEOUT_MS`] as a duration.
pub const INSTALL_SNAPSHOT_TIMEOUT: std::time::Duration =
    std::time::Duration::from_millis(INSTALL_SNAPSHOT_TIMEOUT_MS);
/// Bytes per snapshot chunk (openraft's default is 3 MiB; the RPC carries JSON, so a
/// smaller chunk keeps each request's buffers small).
pub(crate) const SNAPSHOT_CHUNK_BYTES: u64 = 1024 * 1024;

/// Raft timers derived from the performance multiplier `m` (0 → 5):
///
/// - heartbeat interval = 16 ms × m, at least 60 ms
/// - election timeout   = uniformly random in [e, e + w) with e = 50 ms × m, at least three
///   heartbeats, and w = e / 2, at least 180 ms
///
/// openraft 0.9 makes a follower that last heard from its leader wait one *maximum* election
/// timeout (its leader lease, during which it also refuses votes) plus its random election
/// timeout before it campaigns. A killed leader is therefore replaced after 2e + w to 2e + 2w
/// without heartbeats: 680–860 ms at the default m = 5 (with the heartbeat gap, vote round and
/// activation, the next write is acknowledged within about 0.8 s on a LAN; docs/benchmarks.md,
/// failover), 540–720 ms at m = 1. A single-voter node does not wait for a timeout: it elects
/// itself at once when bootstrapped and resumes leadership at once on restart. The read lease
/// (`ReadBarrier`) and the restart vote hold are derived from the maximum election timeout,
/// so they scale with it (ARCHITECTURE.md, "Failover timing").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// Leader heartbeat interval in milliseconds.
    pub heartbeat_ms: u64,
    /// Lower bound of the election timeout in milliseconds.
    pub election_min_ms: u64,
    /// Upper bound of the election timeout in milliseconds.
    pub election_max_ms: u64,
}

impl Timing {
    /// The timers for performance multiplier `multiplier` (0 means the default, 5).
    pub fn for_multiplier(multiplier: u32) -> Self {
        let m = if multiplier == 0 {
            DEFAULT_PERFORMANCE_MULTIPLIER
        } else {
            multiplier
        };
        let m = u64::from(m);
        // openraft 0.9 also uses the heartbeat interval as the AppendEntries timeout, so it
        // has a floor: below it, replication under load (TLS, a busy host) times out
        // endlessly and the leader never hears from a quorum.
        let heartbeat_ms = (HEARTBEAT_MS_PER_UNIT * m).max(MIN_HEARTBEAT_MS);
        let election_min_ms = (ELECTION_MIN_MS_PER_UNIT * m).max(heartbeat_ms * 3);
        let window_ms = (election_min_ms / 2).max(MIN_ELECTION_WINDOW_MS);
        Self {
            heartbeat_ms,
            election_min_ms,
            election_max_ms: election_min_ms + window_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_multiplier_means_five() {
        assert_eq!(Timing::for_multiplier(0), Timing::for_multiplier(5));
        let t = Timing::for_multiplier(5);
        assert_eq!(t.heartbeat_ms, 80);
        assert_eq!((t.election_min_ms, t.election_max_ms), (250, 430));
    }

    #[test]
    fn a_dead_leader_is_replaced_within_a_second_at_the_default() {
        // openraft 0.9: a follower campaigns after its leader lease (one maximum election
        // timeout) plus its random timeout, counted from the last heartbeat it received.
        let t = Timing::for_multiplier(0);
        let latest = t.election_max_ms + t.election_max_ms;
        assert!(latest <= 1000, "worst case {latest} ms");
    }

    #[test]
    fn timers_scale_and_heartbeat_beats_election() {
        let one = Timing::for_multiplier(1);
        assert_eq!(one.heartbeat_ms, MIN_HEARTBEAT_MS);
        assert_eq!((one.election_min_ms, one.election_max_ms), (180, 360));
        for m in 1..=10 {
            let t = Timing::for_multiplier(m);
            assert!(t.heartbeat_ms >= MIN_HEARTBEAT_MS);
            assert!(t.heartbeat_ms * 3 <= t.election_min_ms);
            assert!(t.election_min_ms + MIN_ELECTION_WINDOW_MS <= t.election_max_ms);
            if m >= 4 {
                assert_eq!(t.heartbeat_ms, 16 * u64::from(m));
                assert_eq!(t.election_min_ms, 50 * u64::from(m));
            }
        }
    }

    #[test]
    fn config_applies_defaults_and_rejects_empty_id() {
        let opts = RaftOptions::new("/tmp/x", "vault-1", "http://a", "b:8201");
        let cfg = opts.openraft_config().unwrap();
        assert_eq!(cfg.max_in_snapshot_log_to_keep, DEFAULT_TRAILING_LOGS);
        assert_eq!(
            cfg.snapshot_policy,
            openraft::SnapshotPolicy::LogsSinceLast(DEFAULT_SNAPSHOT_THRESHOLD)
        );
        let bad = RaftOptions::new("/tmp/x", "", "a", "b");
        assert!(matches!(bad.openraft_config(), Err(RaftError::Config(_))));
    }
}
