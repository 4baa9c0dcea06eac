//! `storage "raft" { ... }` and its `retry_join` blocks.

use std::fmt;

use zeroize::Zeroizing;

use crate::error::ConfigError;
use crate::section::{Section, bodies};

/// Default `snapshot_threshold`.
pub const DEFAULT_SNAPSHOT_THRESHOLD: u64 = 8192;
/// Default `trailing_logs`.
pub const DEFAULT_TRAILING_LOGS: u64 = 10_000;
/// Default `max_entry_size` (1 MiB).
pub const DEFAULT_MAX_ENTRY_SIZE: u64 = 1_048_576;

/// The storage block.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StorageConfig {
    /// Integrated Raft storage, the only kind Tresor runs.
    Raft(RaftConfig),
    /// Any other Vault storage type (`consul`, `file`, ...): kept so that validation can refuse
    /// it with the file and key; its settings are not read.
    Other {
        /// The storage type (block label).
        kind: String,
    },
}

impl StorageConfig {
    /// The storage type as written in the block label.
    pub fn kind(&self) -> &str {
        match self {
            StorageConfig::Raft(_) => "raft",
            StorageConfig::Other { kind } => kind,
        }
    }

    /// The Raft settings, if this is Raft storage.
    pub fn raft(&self) -> Option<&RaftConfig> {
        match self {
            StorageConfig::Raft(r) => Some(r),
            StorageConfig::Other { .. } => None,
        }
    }
}

/// `storage "raft"` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaftConfig {
    /// Directory holding the Raft log, state machine and snapshots.
    pub path: String,
    /// This node's id; when absent the server generates (and persists) one.
    pub node_id: Option<String>,
    /// How to find a cluster to join at startup.
    pub retry_join: Vec<RetryJoin>,
    /// Timing multiplier as written (Vault treats `0` as 5); 0..=10.
    pub performance_multiplier: i64,
    /// Autopilot reconcile interval in seconds (Vault default 10s when unset).
    pub autopilot_reconcile_interval: Option<u64>,
    /// Autopilot state update interval in seconds (Vault default 2s when unset).
    pub autopilot_update_interval: Option<u64>,
    /// Log entries between snapshots.
    pub snapshot_threshold: u64,
    /// Minimum seconds between snapshot checks (Vault default 120s when unset).
    pub snapshot_interval: Option<u64>,
    /// Log entries kept after a snapshot.
    pub trailing_logs: u64,
    /// Largest Raft log entry in bytes.
    pub max_entry_size: u64,
    /// Version this node reports to autopilot's upgrade logic.
    pub autopilot_upgrade_version: Option<String>,
    /// Redundancy zone this node reports to autopilot.
    pub autopilot_redundancy_zone: Option<String>,
    /// Join as a non-voter.
    pub retry_join_as_non_voter: bool,
}

impl RaftConfig {
    /// Raft storage in `path` with every other setting at its default.
    pub fn new(path: &str) -> Self {
        RaftConfig {
            path: path.to_owned(),
            node_id: None,
            retry_join: Vec::new(),
            performance_multiplier: 0,
            autopilot_reconcile_interval: None,
            autopilot_update_interval: None,
            snapshot_threshold: DEFAULT_SNAPSHOT_THRESHOLD,
            snapshot_interval: None,
            trailing_logs: DEFAULT_TRAILING_LOGS,
            max_entry_size: DEFAULT_MAX_ENTRY_SIZE,
            autopilot_upgrade_version: None,
            autopilot_redundancy_zone: None,
            retry_join_as_non_voter: false,
        }
    }
}

/// One `retry_join { }` block: a leader address or a cloud auto-join query, plus TLS material
/// for talking to the leader.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RetryJoin {
    /// API address of a node to join through, e.g. `https://vault-2.internal:8200`.
    pub leader_api_addr: Option<String>,
    /// go-discover query, e.g. `provider=aws region=... tag_key=... tag_value=...`.
    pub auto_join: Option<String>,
    /// Scheme for auto-joined addresses (`https` when unset).
    pub auto_join_scheme: Option<String>,
    /// Port for auto-joined addresses (8200 when unset).
    pub auto_join_port: Option<u16>,
    /// TLS server name to expect from the leader.
    pub leader_tls_servername: Option<String>,
    /// CA file for the leader's certificate.
    pub leader_ca_cert_file: Option<String>,
    /// CA certificate PEM text.
    pub leader_ca_cert: Option<String>,
    /// Client certificate file for mTLS to the leader.
    pub leader_client_cert_file: Option<String>,
    /// Client key file for mTLS to the leader.
    pub leader_client_key_file: Option<String>,
    /// Client certificate PEM text.
    pub leader_client_cert: Option<String>,
    /// Client private key PEM text (zeroized on drop, redacted in `Debug`).
    pub leader_client_key: Option<Zeroizing<String>>,
}

impl fmt::Debug for RetryJoin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryJoin")
            .field("leader_api_addr", &self.leader_api_addr)
            .field("auto_join", &self.auto_join)
            .field("auto_join_scheme", &self.auto_join_scheme)
            .field("auto_join_port", &self.auto_join_port)
            .field("leader_tls_servername", &self.leader_tls_servername)
            .field("leader_ca_cert_file", &self.leader_ca_cert_file)
            .field(
                "leader_ca_cert",
                &self.leader_ca_cert.as_ref().map(|_| "<pem>"),
            )
            .field("leader_client_cert_file", &self.leader_client_cert_file)
            .field("leader_client_key_file", &self.leader_client_key_file)
            .field(
                "leader_client_cert",
                &self.leader_client_cert.as_ref().map(|_| "<pem>"),
            )
            .field(
                "leader_client_key",
                &self.leader_client_key.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Vault raft settings Tresor accepts but does not act on (warned about).
const IGNORED: &[&str] = &[
    "max_batch_entries",
    "max_batch_size",
    "raft_wal",
    "raft_log_verifier_enabled",
    "raft_log_verification_interval",
    "max_mount_and_namespace_table_entry_size",
    "autopilot_redundancy_zone_tag",
];

/// Decodes a `storage "raft"` body.
pub(crate) fn decode_raft(
    mut sec: Section<'_>,
    warnings: &mut Vec<String>,
) -> Result<RaftConfig, ConfigError> {
    let mut r = RaftConfig::new(&sec.string("path")?.unwrap_or_default());
    r.node_id = sec.string("node_id")?;
    for f in sec.all("retry_join") {
        let key = sec.key("retry_join");
        for body in bodies(f, &key)? {
            let rj = decode_retry_join(Section::new(key.clone(), f.file, body), warnings)?;
            r.retry_join.push(rj);
        }
    }
    r.performance_multiplier = sec.int("performance_multiplier")?.unwrap_or(0);
    r.autopilot_reconcile_interval = sec.secs("autopilot_reconcile_interval")?;
    r.autopilot_update_interval = sec.secs("autopilot_update_interval")?;
    r.snapshot_interval = sec.secs("snapshot_interval")?;
    if let Some(v) = sec.uint("snapshot_threshold")? {
        r.snapshot_threshold = v;
    }
    if let Some(v) = sec.uint("trailing_logs")? {
        r.trailing_logs = v;
    }
    if let Some(v) = sec.uint("max_entry_size")? {
        r.max_entry_size = v;
    }
    r.autopilot_upgrade_version = sec.string("autopilot_upgrade_version")?;
    r.autopilot_redundancy_zone = sec.string("autopilot_redundancy_zone")?;
    r.retry_join_as_non_voter = sec.bool("retry_join_as_non_voter")?.unwrap_or(false);
    for name in IGNORED {
        sec.ignore(name, warnings);
    }
    sec.finish(warnings);
    Ok(r)
}

fn decode_retry_join(
    mut sec: Section<'_>,
    warnings: &mut Vec<String>,
) -> Result<RetryJoin, ConfigError> {
    let port = match sec.last("auto_join_port") {
        None => None,
        Some(f) => {
            let key = sec.key("auto_join_port");
            let n = crate::section::to_int(f.node)
                .map_err(|reason| ConfigError::invalid(f.file, &key, reason))?;
            Some(u16::try_from(n).map_err(|_| {
                ConfigError::invalid(f.file, &key, format!("port {n} is out of range (0-65535)"))
            })?)
        }
    };
    let rj = RetryJoin {
        leader_api_addr: sec.string("leader_api_addr")?,
        auto_join: sec.string("auto_join")?,
        auto_join_scheme: sec.string("auto_join_scheme")?,
        auto_join_port: port,
        leader_tls_servername: sec.string("leader_tls_servername")?,
        leader_ca_cert_file: sec.string("leader_ca_cert_file")?,
        leader_ca_cert: sec.string("leader_ca_cert")?,
        leader_client_cert_file: sec.string("leader_client_cert_file")?,
        leader_client_key_file: sec.string("leader_client_key_file")?,
        leader_client_cert: sec.string("leader_client_cert")?,
        leader_client_key: sec.string("leader_client_key")?.map(Zeroizing::new),
    };
    sec.finish(warnings);
    Ok(rj)
}
