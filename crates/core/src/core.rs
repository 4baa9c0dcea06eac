//! The [`Core`]: seal state, unseal progress, and access to the unsealed state.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use tresor_barrier::Barrier;
use tresor_crypto::Key32;
use tresor_seal::{Seal, SealConfig, SealSet, ShamirSeal, ShareCollector, WrappedKey};
use tresor_storage::Backend;

use crate::active::{Active, CLUSTER_PATH, ClusterInfo};
use crate::ceremony::Ceremonies;
use crate::error::CoreError;
use crate::ha::HaHandles;
use crate::join::{ChallengeKeys, PendingJoin};
use crate::status::{HealthStatus, LeaderStatus, SealStatus, VERSION};

/// Where the seal configuration lives (plaintext, outside the barrier).
pub(crate) const SEAL_CONFIG_PATH: &str = "core/seal-config";
/// Where the seal-wrapped root key lives (outside the barrier; already ciphertext).
pub(crate) const ROOT_KEY_PATH: &str = "core/root-key";

/// Settings the core takes from the server config.
#[derive(Clone)]
pub struct CoreOptions {
    /// System default lease TTL, seconds.
    pub default_lease_ttl: u64,
    /// System maximum lease TTL, seconds.
    pub max_lease_ttl: u64,
    /// Cluster name from the config (generated at init when absent).
    pub cluster_name: Option<String>,
    /// The auto seals (from the config's enabled `seal` stanzas, in priority order); empty
    /// for Shamir. With auto seals the root key is wrapped under each seal, the node unseals
    /// itself ([`Core::auto_unseal`]) and operators hold recovery keys instead of unseal keys.
    pub seals: Vec<Arc<dyn Seal>>,
    /// The old seals of a seal migration (the config's `disabled = "true"` stanzas): used only
    /// to unwrap the stored root and recovery keys while migrating away from them.
    pub migration_seals: Vec<Arc<dyn Seal>>,
    /// Where the core records its metrics (served by `sys/metrics`).
    pub metrics: tresor_telemetry::Metrics,
    /// The secret-engine and auth-method types mounts are created from (the binary
    /// registers the engines; the core depends on none of them).
    pub backends: tresor_sdk::BackendRegistry,
    /// The audit device types (`file`, `socket`, ...; the binary registers tresor-audit's).
    pub audit_types: tresor_sdk::audit::AuditRegistry,
    /// The server settings that govern audit devices.
    pub audit_settings: crate::audit::AuditSettings,
    /// How failed lease revocations are retried before a lease becomes irrevocable.
    pub lease_retry: tresor_expiration::RetryPolicy,
    /// How often the active node looks for expired leases.
    pub lease_sweep_interval: std::time::Duration,
    /// How often the active node runs the backends' periodic housekeeping (static-role
    /// rotation).
    pub periodic_interval: std::time::Duration,
    /// The telemetry stanza's `usage_gauge_period`: the usage gauges that need a scan
    /// (`vault.token.count`) are counted at most once per period; `None` (`"none"`) turns
    /// them off. Vault's default, 10 minutes.
    pub usage_gauge_period: Option<std::time::Duration>,
}

impl std::fmt::Debug for CoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let seals: Vec<&str> = self.seals.iter().map(|s| s.seal_type()).collect();
        f.debug_struct("CoreOptions")
            .field("default_lease_ttl", &self.default_lease_ttl)
            .field("max_lease_ttl", &self.max_lease_ttl)
            .field("cluster_name", &self.cluster_name)
            .field("seals", &seals)
            .field("migration_seals", &self.migration_seals.len())
            .field("backends", &self.backends)
            .finish()
    }
}

impl Default for CoreOptions {
    fn default() -> Self {
        Self {
            default_lease_ttl: 32 * 24 * 3600,
            max_lease_ttl: 32 * 24 * 3600,
            cluster_name: None,
            seals: Vec::new(),
            migration_seals: Vec::new(),
            metrics: tresor_telemetry::Metrics::new(),
            backends: tresor_sdk::BackendRegistry::new(),
            audit_types: tresor_sdk::audit::AuditRegistry::new(),
            audit_settings: crate::audit::AuditSettings::default(),
            lease_retry: tresor_expiration::RetryPolicy::default(),
            lease_sweep_interval: tresor_expiration::SweepTask::DEFAULT_INTERVAL,
            periodic_interval: crate::periodic::DEFAULT_PERIODIC_INTERVAL,
            usage_gauge_period: Some(crate::metrics::DEFAULT_USAGE_GAUGE_PERIOD),
        }
    }
}

/// The core of one Tresor node.
pub struct Core {
    pub(crate) physical: Arc<dyn Backend>,
    pub(crate) barrier: Arc<Barrier>,
    pub(crate) shamir: Arc<ShamirSeal>,
    /// The auto seals, `None` for Shamir.
    pub(crate) seals: Option<SealSet>,
    /// The old seals of a seal migration (disabled stanzas), `None` when there are none.
    pub(crate) old_seals: Option<SealSet>,
    /// Seal migration state: a detected same-type migration and a prepared plan.
    pub(crate) migration: Mutex<crate::migration::MigrationTracker>,
    /// Set by an explicit `sys/seal`: the node stays sealed (no automatic unseal) until it is
    /// unsealed with recovery keys or restarted.
    pub(crate) operator_sealed: AtomicBool,
    /// Wakes the auto-unseal task before its next poll ([`Core::wake_auto_unseal`]).
    pub(crate) auto_unseal_wake: tokio::sync::Notify,
    /// Failed automatic unseal attempts since start.
    pub(crate) auto_unseal_failures: AtomicU64,
    /// The last seal health check's result per seal (empty before the first check).
    pub(crate) seal_health_results: Mutex<crate::auto_seal::seal_health::Results>,
    /// The last remounts (`sys/remount`): id, from, to; for `sys/remount/status/:id`.
    pub(crate) remounts: Mutex<std::collections::VecDeque<(String, String, String)>>,
    /// How many times the active state was built (activation, unseal, restore).
    pub(crate) activations: AtomicU64,
    /// When `vault.token.count` was last counted (at most once per period).
    pub(crate) token_count_throttle: Mutex<crate::metrics::Throttle>,
    /// Handles on the request timings (`vault.core.handle_request` and friends).
    pub(crate) request_timings: crate::metrics::RequestTimings,
    pub(crate) opts: CoreOptions,
    pub(crate) ha: HaHandles,
    /// Where the pipeline records requests and responses (devices loaded while active).
    pub(crate) audit: crate::audit::AuditBroker,
    /// `Some` while unsealed and active (this node leads and serves requests).
    pub(crate) active: RwLock<Option<Arc<Active>>>,
    /// A standby's read-only state, built on its first read ([`crate::standby`]).
    pub(crate) standby: RwLock<Option<crate::standby::StandbyState>>,
    /// The cluster's name and id, `Some` while unsealed (active or standby).
    pub(crate) cluster: RwLock<Option<ClusterInfo>>,
    /// Active node: the per-process secret of its stateless join challenges.
    pub(crate) challenges: ChallengeKeys,
    /// Active node: when the encryption count was last written, and the test override of
    /// the rotation limit.
    pub(crate) key_rotation: Mutex<crate::key_rotation::KeyRotationState>,
    /// Joining node: the challenge held until the operator unseals.
    pub(crate) pending_join: Mutex<Option<PendingJoin>>,
    /// The unseal attempt in progress.
    pub(crate) unseal_progress: Mutex<Option<ShareCollector>>,
    /// Generate-root and rekey attempts.
    pub(crate) ceremonies: Mutex<Ceremonies>,
    /// Serializes init/unseal/seal so they never interleave.
    pub(crate) lifecycle: tokio::sync::Mutex<()>,
    /// Serializes [`Core::cluster_tls_get_or_create`]: one cluster CA, created once.
    pub(crate) cluster_tls: tokio::sync::Mutex<()>,
    /// What automated snapshots are taken from ([`Core::set_snapshot_source`]).
    pub(crate) snapshot_source: std::sync::OnceLock<Arc<dyn tresor_autosnap::SnapshotSource>>,
    /// The storage layer's snapshot support, when it has one ([`crate::snapshot`]).
    pub(crate) snapshots: std::sync::OnceLock<Arc<dyn crate::snapshot::SnapshotStore>>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("sealed", &self.is_sealed())
            .finish()
    }
}

/// Locks a std mutex, recovering the data if a panic poisoned it (every critical section
/// here leaves the data consistent).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Core {
    /// A sealed core over `physical` storage (Raft, or in-memory in tests).
    pub fn new(
        physical: Arc<dyn Backend>,
        opts: CoreOptions,
        ha: impl Into<HaHandles>,
    ) -> Arc<Core> {
        let ha: HaHandles = ha.into();
        ha.leadership.watch_keys(
            crate::standby::WATCHED
                .iter()
                .map(|k| (*k).to_owned())
                .collect(),
        );
        let barrier = Arc::new(Barrier::new(physical.clone()).with_metrics(&opts.metrics));
        let request_timings = crate::metrics::RequestTimings::new(&opts.metrics);
        let audit = crate::audit::AuditBroker::new(&opts.metrics);
        Arc::new(Core {
            audit,
            physical,
            barrier,
            shamir: Arc::new(ShamirSeal::new()),
            seals: SealSet::new(opts.seals.clone()),
            old_seals: SealSet::new(opts.migration_seals.clone()),
            migration: Mutex::new(crate::migration::MigrationTracker::default()),
            operator_sealed: AtomicBool::new(false),
            auto_unseal_wake: tokio::sync::Notify::new(),
            seal_health_results: Mutex::new(Vec::new()),
            remounts: Mutex::new(std::collections::VecDeque::new()),
            activations: AtomicU64::new(0),
            token_count_throttle: Mutex::new(crate::metrics::Throttle::new(
                opts.usage_gauge_period
                    .unwrap_or(crate::metrics::DEFAULT_USAGE_GAUGE_PERIOD),
            )),
            request_timings,
            auto_unseal_failures: AtomicU64::new(0),
            opts,
            ha,
            active: RwLock::new(None),
            standby: RwLock::new(None),
            cluster: RwLock::new(None),
            challenges: ChallengeKeys::default(),
            key_rotation: Mutex::new(Default::default()),
            pending_join: Mutex::new(None),
            unseal_progress: Mutex::new(None),
            ceremonies: Mutex::new(Ceremonies::default()),
            lifecycle: tokio::sync::Mutex::new(()),
            cluster_tls: tokio::sync::Mutex::new(()),
            snapshot_source: std::sync::OnceLock::new(),
            snapshots: std::sync::OnceLock::new(),
        })
    }

    /// Whether the barrier is sealed.
    pub fn is_sealed(&self) -> bool {
        self.barrier.is_sealed()
    }

    /// Whether this node is unsealed and serves requests itself (it leads the cluster and
    /// has loaded mounts, policies and tokens).
    pub fn is_active_node(&self) -> bool {
        !self.is_sealed()
            && self.ha.leadership.is_active()
            && self.active.read().map(|a| a.is_some()).unwrap_or(false)
    }

    /// Whether this node is a standby that answers reads itself (Vault's performance
    /// standby, here linearizable; see [`crate::standby`]).
    pub fn is_performance_standby(&self) -> bool {
        self.is_standby() && self.ha.leadership.serves_standby_reads()
    }

    /// Whether the active state (mounts, policies, tokens) is loaded.
    pub fn has_active_state(&self) -> bool {
        self.active.read().map(|a| a.is_some()).unwrap_or(false)
    }

    /// Whether this node is unsealed but must hand client requests to the active node.
    pub fn is_standby(&self) -> bool {
        !self.is_sealed() && !self.is_active_node()
    }

    /// The cluster layer this core reports to.
    pub fn ha(&self) -> &HaHandles {
        &self.ha
    }

    /// Fails unless this node is the active one.
    pub(crate) fn require_active(&self) -> Result<(), CoreError> {
        if self.is_sealed() {
            return Err(CoreError::Sealed);
        }
        if !self.is_active_node() {
            return Err(CoreError::Standby {
                leader: self.ha.leadership.leader().map(|l| l.api_addr),
            });
        }
        Ok(())
    }

    fn cluster_info(&self) -> Option<ClusterInfo> {
        self.cluster.read().ok().and_then(|c| c.clone())
    }

    /// How many times this node built its active state (activation after an election, unseal,
    /// snapshot restore). The HA runtime compares it to take its cluster identity from the
    /// barrier once per activation.
    pub fn activation_count(&self) -> u64 {
        self.activations.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Makes this unsealed node the active one: reloads the keyring and builds the mount
    /// tables, policies and token store fresh from storage. Returns whether it changed.
    pub async fn become_active(&self) -> Result<bool, CoreError> {
        let _guard = self.lifecycle.lock().await;
        if self.is_sealed() || self.active.read().map(|a| a.is_some()).unwrap_or(false) {
            return Ok(false);
        }
        self.barrier
            .reload_keyring()
            .await
            .map_err(CoreError::barrier("reloading keyring"))?;
        self.load_key_usage().await;
        self.complete_migration().await?;
        let active = Active::load(self).await?;
        *self
            .active
            .write()
            .map_err(|_| CoreError::Internal("state lock poisoned".into()))? = Some(active);
        self.drop_standby_state();
        tracing::info!("this node is now the active node");
        Ok(true)
    }

    /// Drops the active state (leadership was lost); the barrier stays unsealed. Returns
    /// whether it changed.
    pub async fn become_standby(&self) -> bool {
        let _guard = self.lifecycle.lock().await;
        let dropped = self.active.write().ok().and_then(|mut a| a.take());
        if let Some(active) = &dropped {
            active.stop_background();
        }
        self.unload_audit();
        let was = dropped.is_some();
        if was {
            tracing::info!("this node is now a standby");
        }
        was
    }

    /// [`Core::load_key_usage`] for other modules.
    pub(crate) async fn load_key_usage_now(&self) {
        self.load_key_usage().await;
    }

    /// Raises the barrier's encryption count to the stored one (errors are logged: a node
    /// still replicating may not have it yet).
    async fn load_key_usage(&self) {
        if let Err(e) = self.barrier.load_key_usage().await {
            tracing::warn!(error = %e, "could not load the stored encryption count");
        }
    }

    /// The unsealed state, or [`CoreError::Sealed`].
    pub(crate) fn active(&self) -> Result<Arc<Active>, CoreError> {
        self.active
            .read()
            .map_err(|_| CoreError::Internal("state lock poisoned".into()))?
            .clone()
            .ok_or(CoreError::Sealed)
    }

    /// The stored seal configuration, if initialized.
    pub(crate) async fn seal_config(&self) -> Result<Option<SealConfig>, CoreError> {
        match self.physical.get(SEAL_CONFIG_PATH).await? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| CoreError::Internal(format!("corrupt seal configuration: {e}"))),
        }
    }

    /// Whether `sys/init` has completed.
    pub async fn is_initialized(&self) -> Result<bool, CoreError> {
        Ok(self.seal_config().await?.is_some())
    }

    /// The `sys/seal-status` document.
    pub async fn seal_status(&self) -> Result<SealStatus, CoreError> {
        let config = self.effective_seal_config().await?;
        let (progress, nonce) = match lock(&self.unseal_progress).as_ref() {
            Some(c) => (c.progress() as u32, c.nonce().to_owned()),
            None => (0, String::new()),
        };
        let cluster = self.cluster_info().filter(|_| !self.is_sealed());
        let configured = self.seals.as_ref().map(|s| s.seal_type());
        let kind = config
            .as_ref()
            .map(|c| c.seal_type.clone())
            .or_else(|| configured.map(str::to_owned))
            .unwrap_or_else(|| "shamir".into());
        let recovery = kind != "shamir";
        // With an auto seal, operators hold recovery keys: t/n are the recovery counts.
        let (t, n) = match &config {
            Some(c) if recovery => (
                c.recovery_threshold.unwrap_or(0),
                c.recovery_shares.unwrap_or(0),
            ),
            Some(c) => (c.secret_threshold, c.secret_shares),
            None => (0, 0),
        };
        Ok(SealStatus {
            kind,
            initialized: config.is_some(),
            sealed: cluster.is_none(),
            t,
            n,
            progress,
            nonce,
            version: VERSION.into(),
            build_date: String::new(),
            migration: self.pending_migration().await?.is_some(),
            cluster_name: cluster.as_ref().map(|c| c.name.clone()),
            cluster_id: cluster.map(|c| c.id),
            recovery_seal: recovery,
            recovery_seal_type: recovery.then(|| "shamir".to_owned()),
            storage_type: "raft".into(),
            removed_from_cluster: self.ha.membership.removed_from_cluster().then_some(true),
        })
    }

    /// The `sys/health` document.
    pub async fn health(&self) -> Result<HealthStatus, CoreError> {
        let initialized = self.is_initialized().await?;
        let sealed = self.is_sealed();
        let cluster = self.cluster_info().filter(|_| !sealed);
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let standby = !sealed && !self.is_active_node();
        let contact = self.ha.leadership.active_contact().filter(|_| standby);
        Ok(HealthStatus {
            initialized,
            sealed,
            standby,
            performance_standby: self.is_performance_standby(),
            ha_connection_healthy: contact.map(|c| c.1),
            last_request_forwarding_heartbeat_ms: contact.map(|c| c.0),
            replication_performance_mode: if sealed { "unknown" } else { "disabled" }.into(),
            replication_dr_mode: if sealed { "unknown" } else { "disabled" }.into(),
            server_time_utc: now,
            version: VERSION.into(),
            enterprise: false,
            cluster_name: cluster.as_ref().map(|c| c.name.clone()),
            cluster_id: cluster.map(|c| c.id),
            removed_from_cluster: self.ha.membership.removed_from_cluster(),
        })
    }

    /// The `sys/leader` document ([`CoreError::Sealed`] while sealed).
    pub async fn leader_status(&self) -> Result<LeaderStatus, CoreError> {
        if self.is_sealed() {
            return Err(CoreError::Sealed);
        }
        let active = self.active.read().ok().and_then(|a| a.clone());
        let is_self = self.is_active_node();
        let leader = self.ha.leadership.leader().unwrap_or_default();
        let indexes = self.ha.leadership.raft_indexes().await;
        Ok(LeaderStatus {
            ha_enabled: true,
            is_self,
            active_time: match active.filter(|_| is_self) {
                Some(a) => a.active_since.clone(),
                None => "0001-01-01T00:00:00Z".into(),
            },
            leader_address: leader.api_addr,
            leader_cluster_address: leader.cluster_addr,
            performance_standby: self.is_performance_standby(),
            performance_standby_last_remote_wal: 0,
            raft_committed_index: indexes.map(|i| i.0),
            raft_applied_index: indexes.map(|i| i.1),
        })
    }

    /// Submits one unseal key share (hex or base64), or resets the attempt.
    pub async fn unseal(&self, key: Option<&str>, reset: bool) -> Result<SealStatus, CoreError> {
        let _guard = self.lifecycle.lock().await;
        let config = self
            .effective_seal_config()
            .await?
            .ok_or(CoreError::NotInitialized)?;
        if reset {
            if !self.is_sealed() {
                return Err(CoreError::invalid("vault is unsealed"));
            }
            *lock(&self.unseal_progress) = None;
            drop(_guard);
            return self.seal_status().await;
        }
        let Some(key) = key else {
            return Err(CoreError::invalid(
                "'key' must be specified in request body as JSON, or 'reset' set to true",
            ));
        };
        let share =
            tresor_seal::decode_key_share(key).map_err(|e| CoreError::invalid(e.to_string()))?;
        if !self.is_sealed() {
            drop(_guard);
            return self.seal_status().await;
        }
        if let Some(kind) = self.pending_migration().await? {
            return Err(CoreError::invalid(format!(
                "a seal migration ({kind}) is pending: unseal with migrate=true (operator \
                 unseal -migrate) and the {} seal's keys",
                kind.from()
            )));
        }
        let recovery = crate::recovery::uses_recovery_keys(&config);
        if recovery && self.seal_config().await?.is_none() {
            return Err(CoreError::invalid(format!(
                "this node joins a cluster that uses the {} seal and unseals itself through it; \
                 unseal keys are not used",
                config.seal_type
            )));
        }
        let threshold = crate::recovery::operator_threshold(&config);
        let complete = {
            let mut progress = lock(&self.unseal_progress);
            let collector = progress.get_or_insert_with(|| ShareCollector::new(threshold as usize));
            match collector.add(&share, None) {
                // Vault ignores a share submitted twice during unseal: progress is unchanged.
                Ok(_) | Err(tresor_seal::CeremonyError::DuplicateShare { .. }) => {}
                Err(e) => return Err(CoreError::invalid(e.to_string())),
            }
            if collector.is_complete() {
                let shares = collector.take_shares();
                *progress = None;
                Some(shares)
            } else {
                None
            }
        };
        if let Some(shares) = &complete
            && recovery
        {
            self.unseal_with_recovery_locked(&config, shares).await?;
        } else if let Some(shares) = complete {
            let kek = combine_kek(&config, &shares)?;
            let pending = lock(&self.pending_join).clone();
            let root_key = match pending {
                Some(join) if self.seal_config().await?.is_none() => {
                    let root = self.finish_join(&join, &kek).await?;
                    *lock(&self.pending_join) = None;
                    root
                }
                _ => self.unwrap_root_key(&kek).await?,
            };
            self.shamir.set_kek(kek);
            self.barrier
                .unseal(&root_key)
                .await
                .map_err(|e| CoreError::invalid(format!("failed to unseal barrier: {e}")))?;
            if let Err(e) = self.after_unseal().await {
                self.barrier.seal();
                self.shamir.clear_kek();
                return Err(e);
            }
            tracing::info!("vault is unsealed");
        }
        drop(_guard);
        self.seal_status().await
    }

    /// The stored seal configuration, or that of a join in progress.
    async fn effective_seal_config(&self) -> Result<Option<SealConfig>, CoreError> {
        if let Some(c) = self.seal_config().await? {
            return Ok(Some(c));
        }
        Ok(lock(&self.pending_join)
            .as_ref()
            .map(|j| j.challenge.seal_config.clone()))
    }

    /// Loads the cluster info and, on the leader, the active state.
    pub(crate) async fn after_unseal(&self) -> Result<(), CoreError> {
        let info: ClusterInfo = match self.barrier.get(CLUSTER_PATH).await? {
            Some(b) => serde_json::from_slice(&b)?,
            None => return Err(CoreError::Internal("cluster identity missing".into())),
        };
        *self
            .cluster
            .write()
            .map_err(|_| CoreError::Internal("state lock poisoned".into()))? = Some(info);
        self.load_key_usage().await;
        if self.ha.leadership.is_active() {
            if self.has_migration_plan() && !self.try_complete_migration_now().await {
                // Unsealed; the activation loop writes the migration and loads the active
                // state once this node leads a quorum.
                return Ok(());
            }
            let active = Active::load(self).await?;
            *self
                .active
                .write()
                .map_err(|_| CoreError::Internal("state lock poisoned".into()))? = Some(active);
        }
        Ok(())
    }

    /// Unwraps the stored root key with a candidate key-encryption key, without touching the
    /// live seal.
    pub(crate) async fn unwrap_root_key(&self, kek: &Key32) -> Result<Key32, CoreError> {
        let wrapped: WrappedKey = match self.physical.get(ROOT_KEY_PATH).await? {
            Some(b) => serde_json::from_slice(&b)
                .map_err(|e| CoreError::Internal(format!("corrupt root key entry: {e}")))?,
            None => return Err(CoreError::Internal("root key missing from storage".into())),
        };
        let probe = ShamirSeal::new();
        probe.set_kek(kek.clone());
        let raw = probe
            .unwrap(&wrapped)
            .await
            .map_err(|_| CoreError::invalid("unseal failed, invalid key"))?;
        Key32::from_slice(&raw).map_err(|e| CoreError::Internal(format!("root key: {e}")))
    }

    /// Seals this node: drops the keys and the unsealed state.
    /// With an auto seal the node then stays sealed (no automatic unseal) until it is unsealed
    /// with recovery keys or restarted, as Vault does.
    pub async fn seal(&self) -> Result<(), CoreError> {
        let _guard = self.lifecycle.lock().await;
        self.operator_sealed.store(true, Ordering::SeqCst);
        if self.is_active_node() {
            self.persist_key_usage().await;
        }
        self.seal_locked();
        Ok(())
    }

    /// `sys/step-down`: the active node hands leadership to another voter.
    pub async fn step_down(&self) -> Result<(), CoreError> {
        self.active()?;
        self.ha.leadership.step_down();
        Ok(())
    }

    pub(crate) fn seal_locked(&self) {
        if let Some(active) = self.active.write().ok().and_then(|mut a| a.take()) {
            active.stop_background();
        }
        self.drop_standby_state();
        self.unload_audit();
        if let Ok(mut c) = self.cluster.write() {
            *c = None;
        }
        self.barrier.seal();
        self.shamir.clear_kek();
        *lock(&self.unseal_progress) = None;
        lock(&self.ceremonies).clear();
        tracing::info!("vault is sealed");
    }
}

impl Core {
    /// Stores the seal-wrapped root key and the seal configuration in one atomic write: the
    /// configuration's presence is what "initialized" means, so the two never disagree.
    pub(crate) async fn store_root_key_and_config(
        &self,
        wrapped: &WrappedKey,
        config: &SealConfig,
    ) -> Result<(), CoreError> {
        self.store_seal_entries(Some(serde_json::to_vec(wrapped)?), None, config)
            .await
    }

    /// Writes, in one atomic batch, the seal configuration and (when given) the stored
    /// root-key entry and the seal-wrapped recovery key entry.
    pub(crate) async fn store_seal_entries(
        &self,
        root_key_entry: Option<Vec<u8>>,
        recovery_entry: Option<Vec<u8>>,
        config: &SealConfig,
    ) -> Result<(), CoreError> {
        let mut ops = Vec::with_capacity(3);
        if let Some(value) = root_key_entry {
            ops.push(tresor_storage::Op::Put {
                key: ROOT_KEY_PATH.into(),
                value,
            });
        }
        if let Some(value) = recovery_entry {
            ops.push(tresor_storage::Op::Put {
                key: crate::recovery::RECOVERY_KEY_PATH.into(),
                value,
            });
        }
        ops.push(tresor_storage::Op::Put {
            key: SEAL_CONFIG_PATH.into(),
            value: serde_json::to_vec(config)?,
        });
        self.physical.apply(ops).await?;
        Ok(())
    }
}

/// Reconstructs the key-encryption key from unseal shares.
pub(crate) fn combine_kek(
    config: &SealConfig,
    shares: &[zeroize::Zeroizing<Vec<u8>>],
) -> Result<Key32, CoreError> {
    let key = if config.secret_shares == 1 {
        shares
            .first()
            .map(|s| zeroize::Zeroizing::new(s.to_vec()))
            .ok_or_else(|| CoreError::invalid("no key provided"))?
    } else {
        let refs: Vec<&[u8]> = shares.iter().map(|s| s.as_slice()).collect();
        tresor_crypto::shamir::combine(&refs)
            .map_err(|e| CoreError::invalid(format!("failed to combine key shares: {e}")))?
    };
    Key32::from_slice(&key).map_err(|_| CoreError::invalid("unseal failed, invalid key"))
}
