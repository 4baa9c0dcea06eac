//! Every metric Tresor emits. Names follow Vault's (its telemetry reference and the names its
//! code emits), so dashboards and alert rules written for Vault work unchanged; the few Tresor
//! adds where Vault has none say so. Adding a metric is one line here plus its call site.

use crate::MetricDef;

/// Label of the seal metrics naming one seal of the set (Vault's label for
/// `vault.seal.encrypt` and friends); Tresor's values are `<type>-<position>`, `awskms-1`.
pub const SEAL_WRAPPER_NAME: &str = "seal_wrapper_name";
/// Label with a seal's type (`awskms`, `transit`, `pkcs11`) on Tresor's own seal metrics.
pub const SEAL_TYPE: &str = "seal_type";
/// Label with a seal's name (`awskms-1`) on Tresor's own seal metrics.
pub const SEAL_NAME: &str = "seal_name";

/// Vault `vault.core.unsealed`: 1 while unsealed, 0 while sealed (every node).
pub const CORE_UNSEALED: MetricDef = MetricDef::gauge(
    "core.unsealed",
    "Whether this node is unsealed (1) or sealed (0)",
);

/// Vault `vault.core.active`: 1 on the active node, 0 on standbys (and sealed nodes).
pub const CORE_ACTIVE: MetricDef = MetricDef::gauge(
    "core.active",
    "Whether this node is the active node (1) or not (0)",
);

/// Vault `vault.core.unseal`: time taken by an unseal, in ms.
pub const CORE_UNSEAL: MetricDef =
    MetricDef::summary("core.unseal", "Time required to complete an unseal, ms");

/// Vault `vault.seal.encrypt`: seal wrap operations, per seal.
pub const SEAL_ENCRYPT: MetricDef = MetricDef::counter(
    "seal.encrypt",
    "Number of encrypt (wrap) operations through a seal",
);
/// Vault `vault.seal.encrypt.error`: failed seal wrap operations, per seal.
pub const SEAL_ENCRYPT_ERROR: MetricDef = MetricDef::counter(
    "seal.encrypt.error",
    "Number of failed encrypt (wrap) operations through a seal",
);
/// Vault `vault.seal.encrypt.time`: duration of seal wrap operations, in ms.
pub const SEAL_ENCRYPT_TIME: MetricDef = MetricDef::summary(
    "seal.encrypt.time",
    "Time taken to encrypt (wrap) a value through a seal, ms",
);
/// Vault `vault.seal.decrypt`: seal unwrap operations, per seal.
pub const SEAL_DECRYPT: MetricDef = MetricDef::counter(
    "seal.decrypt",
    "Number of decrypt (unwrap) operations through a seal",
);
/// Vault `vault.seal.decrypt.error`: failed seal unwrap operations, per seal.
pub const SEAL_DECRYPT_ERROR: MetricDef = MetricDef::counter(
    "seal.decrypt.error",
    "Number of failed decrypt (unwrap) operations through a seal",
);
/// Vault `vault.seal.decrypt.time`: duration of seal unwrap operations, in ms.
pub const SEAL_DECRYPT_TIME: MetricDef = MetricDef::summary(
    "seal.decrypt.time",
    "Time taken to decrypt (unwrap) a value through a seal, ms",
);

/// Tresor's own (Vault has no per-seal health metric in its open-source list):
/// `vault.seal.health`, 1 when the seal passed its last health check (a wrap and unwrap of a
/// test value), 0 when it failed; labelled `seal_type` and `seal_name`. Absent for a seal
/// not checked yet.
pub const SEAL_HEALTH: MetricDef = MetricDef::gauge(
    "seal.health",
    "Whether the seal passed its last health check (1) or failed it (0) (Tresor)",
);

/// Tresor's own: `vault.seal.auto_unseal.failure`, failed automatic unseal attempts (the
/// key service unreachable or refusing), labelled `seal_type`.
pub const SEAL_AUTO_UNSEAL_FAILURE: MetricDef = MetricDef::counter(
    "seal.auto_unseal.failure",
    "Number of failed automatic unseal attempts (Tresor)",
);

/// Label naming a background task of the HA runtime (`activation`, `autopilot`, ...).
pub const TASK: &str = "task";

/// Tresor's own: `vault.ha.task_failures`, background tasks of the HA runtime that ended
/// with an error or a panic, labelled `task` with the task's name.
pub const HA_TASK_FAILURES: MetricDef = MetricDef::counter(
    "ha.task_failures",
    "Number of HA runtime background tasks that ended with an error or a panic (Tresor)",
);

/// Label of the automated-snapshot metrics naming the config (Vault's label).
pub const SNAPSHOT_CONFIG_NAME: &str = "snapshot_config_name";

/// Vault `vault.autosnapshots.last.success.time`: unix time (seconds) of the last successful
/// automated snapshot, per config.
pub const AUTOSNAPSHOTS_LAST_SUCCESS_TIME: MetricDef = MetricDef::gauge(
    "autosnapshots.last.success.time",
    "Epoch time (seconds) of the last successful automated snapshot",
);
/// Vault `vault.autosnapshots.percent.maxspace.used`: for local storage with
/// `local_max_space`, the percentage of it used by the config's snapshots.
pub const AUTOSNAPSHOTS_PERCENT_MAXSPACE_USED: MetricDef = MetricDef::gauge(
    "autosnapshots.percent.maxspace.used",
    "Percentage of local_max_space used by the automated snapshots of a config",
);
/// Vault `vault.autosnapshots.rotate.duration`: time taken to delete the snapshots past
/// `retain`, in ms.
pub const AUTOSNAPSHOTS_ROTATE_DURATION: MetricDef = MetricDef::summary(
    "autosnapshots.rotate.duration",
    "Time taken to delete automated snapshots past the retention, ms",
);
/// Vault `vault.autosnapshots.save.duration`: time taken to save an automated snapshot, in ms.
pub const AUTOSNAPSHOTS_SAVE_DURATION: MetricDef = MetricDef::summary(
    "autosnapshots.save.duration",
    "Time taken to save an automated snapshot, ms",
);
/// Vault `vault.autosnapshots.save.errors`: failed automated snapshot saves, per config.
pub const AUTOSNAPSHOTS_SAVE_ERRORS: MetricDef = MetricDef::counter(
    "autosnapshots.save.errors",
    "Number of failed automated snapshot saves",
);

/// Vault `vault.audit.log_request`: time to record a request in every audit device, ms.
pub const AUDIT_LOG_REQUEST: MetricDef = MetricDef::summary(
    "audit.log_request",
    "Time taken to record a request in the audit devices, ms",
);
/// Vault `vault.audit.log_response`: time to record a response in every audit device, ms.
pub const AUDIT_LOG_RESPONSE: MetricDef = MetricDef::summary(
    "audit.log_response",
    "Time taken to record a response in the audit devices, ms",
);
/// Vault `vault.audit.log_request_failure`: requests no audit device could record (each one
/// refused).
pub const AUDIT_LOG_REQUEST_FAILURE: MetricDef = MetricDef::counter(
    "audit.log_request_failure",
    "Number of requests no audit device could record",
);
/// Vault `vault.audit.log_response_failure`: responses no audit device could record (each
/// one withheld).
pub const AUDIT_LOG_RESPONSE_FAILURE: MetricDef = MetricDef::counter(
    "audit.log_response_failure",
    "Number of responses no audit device could record",
);
/// Tresor's own: `vault.audit.device.failure`, failed writes per device (label `path`), also
/// when another device recorded the entry.
pub const AUDIT_DEVICE_FAILURE: MetricDef = MetricDef::counter(
    "audit.device.failure",
    "Number of failed writes of one audit device (Tresor)",
);

/// Vault `vault.raft.peers`: the number of servers (voters and non-voters) in the Raft
/// configuration, as this node sees it (Raft storage only).
pub const RAFT_PEERS: MetricDef = MetricDef::gauge(
    "raft.peers",
    "Number of servers (voters and non-voters) in the Raft configuration",
);
/// Tresor's own (Vault has none): `vault.raft.leader`, 1 on the node that is the Raft leader,
/// 0 on every other member (Raft storage only), so `sum(vault_raft_leader) == 0` detects a
/// cluster without a leader.
pub const RAFT_LEADER: MetricDef = MetricDef::gauge(
    "raft.leader",
    "Whether this node is the Raft leader (1) or not (0) (Tresor)",
);

/// Vault `vault.autopilot.healthy`: 1 when autopilot judges every server healthy, else 0;
/// reported by the active node only.
pub const AUTOPILOT_HEALTHY: MetricDef = MetricDef::gauge(
    "autopilot.healthy",
    "Whether autopilot judges every server healthy (1) or not (0)",
);
/// Vault `vault.autopilot.failure_tolerance`: how many voters may fail without losing
/// quorum; reported by the active node only.
pub const AUTOPILOT_FAILURE_TOLERANCE: MetricDef = MetricDef::gauge(
    "autopilot.failure_tolerance",
    "Number of voting servers that can fail without losing quorum",
);

/// Vault `vault.token.count`: tokens in the token store (active node; counted at most once
/// per period, see the core's metrics).
pub const TOKEN_COUNT: MetricDef =
    MetricDef::gauge("token.count", "Number of tokens in the token store");

/// Vault `vault.expire.num_leases`: leases held by the expiration manager (active node).
/// Always 0 in Tresor for now: it issues no leases yet.
pub const EXPIRE_NUM_LEASES: MetricDef =
    MetricDef::gauge("expire.num_leases", "Number of leases held for expiration");

/// Vault `vault.expire.num_irrevocable_leases`: leases whose revocation failed too often.
pub const EXPIRE_NUM_IRREVOCABLE_LEASES: MetricDef = MetricDef::gauge(
    "expire.num_irrevocable_leases",
    "Number of leases that could not be revoked and wait for an operator",
);

/// Vault `vault.runtime.alloc_bytes`; in Tresor the process's resident memory (`VmRSS`).
pub const RUNTIME_ALLOC_BYTES: MetricDef = MetricDef::gauge(
    "runtime.alloc_bytes",
    "Memory in use by the process (resident set), bytes",
);
/// Vault `vault.runtime.sys_bytes`; in Tresor the process's virtual memory size (`VmSize`).
pub const RUNTIME_SYS_BYTES: MetricDef = MetricDef::gauge(
    "runtime.sys_bytes",
    "Memory mapped by the process (virtual size), bytes",
);

/// Tresor's own: `vault.metrics.gauge_series_dropped`, new gauge label sets not recorded
/// because the gauge already had `maximum_gauge_cardinality` of them.
pub const METRICS_GAUGE_SERIES_DROPPED: MetricDef = MetricDef::counter(
    "metrics.gauge_series_dropped",
    "Number of gauge label sets dropped for maximum_gauge_cardinality (Tresor)",
);

/// Bucket upper bounds (seconds) of Tresor's latency histograms: 0.5 ms to 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Vault `vault.core.handle_request`: time to handle a request through the pipeline (active
/// node), ms.
pub const CORE_HANDLE_REQUEST: MetricDef = MetricDef::summary(
    "core.handle_request",
    "Time taken by the core to handle a request, ms",
);
/// Vault `vault.core.handle_login_request`: time to handle a login request (a request to
/// an `auth/<mount>/login...` path), ms.
pub const CORE_HANDLE_LOGIN_REQUEST: MetricDef = MetricDef::summary(
    "core.handle_login_request",
    "Time taken by the core to handle a login request, ms",
);
/// Tresor's own (Vault exports no histograms): `vault_core_handle_request_duration_seconds`,
/// the same timing as `vault.core.handle_request` as a Prometheus histogram in seconds.
pub const CORE_HANDLE_REQUEST_DURATION: MetricDef = MetricDef::histogram(
    "core.handle_request_duration_seconds",
    "Time taken by the core to handle a request, seconds (Tresor)",
    LATENCY_BUCKETS,
);

/// Vault `vault.barrier.get`: time of a read through the encrypting barrier, ms.
pub const BARRIER_GET: MetricDef =
    MetricDef::summary("barrier.get", "Time taken by a barrier read, ms");
/// Vault `vault.barrier.put`: time of a write through the barrier, ms.
pub const BARRIER_PUT: MetricDef =
    MetricDef::summary("barrier.put", "Time taken by a barrier write, ms");
/// Vault `vault.barrier.delete`: time of a delete through the barrier, ms.
pub const BARRIER_DELETE: MetricDef =
    MetricDef::summary("barrier.delete", "Time taken by a barrier delete, ms");
/// Vault `vault.barrier.list`: time of a listing through the barrier, ms.
pub const BARRIER_LIST: MetricDef =
    MetricDef::summary("barrier.list", "Time taken by a barrier listing, ms");

/// Tresor's own: `vault_audit_log_request_duration_seconds`, `vault.audit.log_request` as a
/// Prometheus histogram in seconds.
pub const AUDIT_LOG_REQUEST_DURATION: MetricDef = MetricDef::histogram(
    "audit.log_request_duration_seconds",
    "Time taken to record a request in the audit devices, seconds (Tresor)",
    LATENCY_BUCKETS,
);
/// Tresor's own: `vault_audit_log_response_duration_seconds`, `vault.audit.log_response` as a
/// Prometheus histogram in seconds.
pub const AUDIT_LOG_RESPONSE_DURATION: MetricDef = MetricDef::histogram(
    "audit.log_response_duration_seconds",
    "Time taken to record a response in the audit devices, seconds (Tresor)",
    LATENCY_BUCKETS,
);

/// Label of the per-peer replication metrics: the peer's node id (Vault's label).
pub const PEER_ID: &str = "peer_id";

/// Vault `vault.raft.apply`: writes (transactions) the leader committed to the Raft log.
pub const RAFT_APPLY: MetricDef = MetricDef::counter(
    "raft.apply",
    "Number of write transactions committed through the Raft log on the leader",
);
/// Vault `vault.raft.commitTime`: time from proposing a log entry on the leader to its
/// commit and apply, ms.
pub const RAFT_COMMIT_TIME: MetricDef = MetricDef::summary(
    "raft.commitTime",
    "Time taken to commit a new entry to the Raft log on the leader, ms",
);
/// Tresor's own: `vault_raft_commitTime_duration_seconds`, `vault.raft.commitTime` as a
/// Prometheus histogram in seconds.
pub const RAFT_COMMIT_TIME_DURATION: MetricDef = MetricDef::histogram(
    "raft.commitTime_duration_seconds",
    "Time taken to commit a new entry to the Raft log on the leader, seconds (Tresor)",
    LATENCY_BUCKETS,
);
/// Vault `vault.raft.leader.lastContact`, ms, recorded on followers: the gap between two
/// contacts from the leader (each AppendEntries, heartbeats included). (Vault's Raft library
/// samples it on the leader, per follower; openraft 0.9 reports only a quorum-wide figure
/// there, so Tresor measures the same gaps from the follower's side.)
pub const RAFT_LEADER_LAST_CONTACT: MetricDef = MetricDef::summary(
    "raft.leader.lastContact",
    "Time between two contacts from the Raft leader, on a follower, ms",
);
/// Tresor's own: `vault.raft.leader.lastContact_seconds`, on a follower the time since the
/// leader last contacted it, 0 on the leader (read at each scrape).
pub const RAFT_LEADER_LAST_CONTACT_SECONDS: MetricDef = MetricDef::gauge(
    "raft.leader.lastContact_seconds",
    "Time since the Raft leader last contacted this follower, 0 on the leader, seconds (Tresor)",
);
/// Vault `vault.raft.state.candidate`: times this node became a candidate.
pub const RAFT_STATE_CANDIDATE: MetricDef = MetricDef::counter(
    "raft.state.candidate",
    "Number of times this node became a Raft candidate (started an election)",
);
/// Vault `vault.raft.state.follower`: times this node became a follower.
pub const RAFT_STATE_FOLLOWER: MetricDef = MetricDef::counter(
    "raft.state.follower",
    "Number of times this node became a Raft follower",
);
/// Vault `vault.raft.state.leader`: times this node became the leader.
pub const RAFT_STATE_LEADER: MetricDef = MetricDef::counter(
    "raft.state.leader",
    "Number of times this node became the Raft leader",
);
/// Vault `vault.raft.replication.appendEntries.rpc`: time of one AppendEntries RPC to a peer
/// (label `peer_id`), ms.
pub const RAFT_REPLICATION_APPEND_ENTRIES_RPC: MetricDef = MetricDef::summary(
    "raft.replication.appendEntries.rpc",
    "Time taken by an AppendEntries RPC to a peer, ms",
);
/// Vault `vault.raft.replication.appendEntries.logs`: log entries sent to a peer (label
/// `peer_id`).
pub const RAFT_REPLICATION_APPEND_ENTRIES_LOGS: MetricDef = MetricDef::counter(
    "raft.replication.appendEntries.logs",
    "Number of log entries replicated to a peer",
);
/// Vault `vault.raft_storage.stats.applied_index`: the last log index applied to this node's
/// state machine.
pub const RAFT_STORAGE_APPLIED_INDEX: MetricDef = MetricDef::gauge(
    "raft_storage.stats.applied_index",
    "Last Raft log index applied to this node's state machine",
);
/// Vault `vault.raft_storage.stats.commit_index`: the last log index this node knows
/// committed.
pub const RAFT_STORAGE_COMMIT_INDEX: MetricDef = MetricDef::gauge(
    "raft_storage.stats.commit_index",
    "Last Raft log index known committed on this node",
);
/// Vault `vault.raft_storage.stats.fsm_pending`: committed entries not applied yet.
pub const RAFT_STORAGE_FSM_PENDING: MetricDef = MetricDef::gauge(
    "raft_storage.stats.fsm_pending",
    "Committed Raft log entries not yet applied to the state machine",
);
/// Tresor's own: `vault.raft_storage.stats.last_log_index`, the last index in this node's log.
pub const RAFT_STORAGE_LAST_LOG_INDEX: MetricDef = MetricDef::gauge(
    "raft_storage.stats.last_log_index",
    "Last index in this node's Raft log (Tresor)",
);
/// Tresor's own: `vault.raft_storage.stats.snapshot_index`, the last index in this node's
/// latest snapshot.
pub const RAFT_STORAGE_SNAPSHOT_INDEX: MetricDef = MetricDef::gauge(
    "raft_storage.stats.snapshot_index",
    "Last Raft log index included in this node's latest snapshot (Tresor)",
);
/// Tresor's own: `vault.raft_storage.stats.log_db_bytes`, bytes of the Raft log (the segment files under `log/`).
pub const RAFT_STORAGE_LOG_DB_BYTES: MetricDef = MetricDef::gauge(
    "raft_storage.stats.log_db_bytes",
    "Size of the Raft log database file, bytes (Tresor)",
);
/// Tresor's own: `vault.raft_storage.stats.state_db_bytes`, size of `state.redb` (the data).
pub const RAFT_STORAGE_STATE_DB_BYTES: MetricDef = MetricDef::gauge(
    "raft_storage.stats.state_db_bytes",
    "Size of the Raft state machine database file, bytes (Tresor)",
);
