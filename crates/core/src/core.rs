//! The [`Core`]: seal state, unseal progress, and access to the unsealed state.

use std::sync::{Arc, Mutex, RwLock};

use tresor_barrier::Barrier;
use tresor_crypto::Key32;
use tresor_seal::{Seal, SealConfig, ShamirSeal, ShareCollector, WrappedKey};
use tresor_storage::Backend;

use crate::active::Active;
use crate::ceremony::Ceremonies;
use crate::error::CoreError;
use crate::ha::HaStatus;
use crate::status::{HealthStatus, LeaderStatus, SealStatus, VERSION};

/// Where the seal configuration lives (plaintext, outside the barrier).
pub(crate) const SEAL_CONFIG_PATH: &str = "core/seal-config";
/// Where the seal-wrapped root key lives (outside the barrier; already ciphertext).
pub(crate) const ROOT_KEY_PATH: &str = "core/root-key";

/// Settings the core takes from the server config.
#[derive(Clone, Debug)]
pub struct CoreOptions {
    /// System default lease TTL, seconds.
    pub default_lease_ttl: u64,
    /// System maximum lease TTL, seconds.
    pub max_lease_ttl: u64,
    /// Cluster name from the config (generated at init when absent).
    pub cluster_name: Option<String>,
}

impl Default for CoreOptions {
    fn default() -> Self {
        Self {
            default_lease_ttl: 32 * 24 * 3600,
            max_lease_ttl: 32 * 24 * 3600,
            cluster_name: None,
        }
    }
}

/// The core of one Tresor node.
pub struct Core {
    pub(crate) physical: Arc<dyn Backend>,
    pub(crate) barrier: Arc<Barrier>,
    pub(crate) shamir: Arc<ShamirSeal>,
    pub(crate) opts: CoreOptions,
    pub(crate) ha: Arc<dyn HaStatus>,
    /// `Some` while unsealed.
    pub(crate) active: RwLock<Option<Arc<Active>>>,
    /// The unseal attempt in progress.
    pub(crate) unseal_progress: Mutex<Option<ShareCollector>>,
    /// Generate-root and rekey attempts.
    pub(crate) ceremonies: Mutex<Ceremonies>,
    /// Serializes init/unseal/seal so they never interleave.
    pub(crate) lifecycle: tokio::sync::Mutex<()>,
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
    pub fn new(physical: Arc<dyn Backend>, opts: CoreOptions, ha: Arc<dyn HaStatus>) -> Arc<Core> {
        let barrier = Arc::new(Barrier::new(physical.clone()));
        Arc::new(Core {
            physical,
            barrier,
            shamir: Arc::new(ShamirSeal::new()),
            opts,
            ha,
            active: RwLock::new(None),
            unseal_progress: Mutex::new(None),
            ceremonies: Mutex::new(Ceremonies::default()),
            lifecycle: tokio::sync::Mutex::new(()),
        })
    }

    /// Whether the barrier is sealed.
    pub fn is_sealed(&self) -> bool {
        self.active.read().map(|a| a.is_none()).unwrap_or(true)
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
        let config = self.seal_config().await?;
        let (progress, nonce) = match lock(&self.unseal_progress).as_ref() {
            Some(c) => (c.progress() as u32, c.nonce().to_owned()),
            None => (0, String::new()),
        };
        let cluster = self.active().ok().map(|a| a.cluster.clone());
        Ok(SealStatus {
            kind: config
                .as_ref()
                .map(|c| c.seal_type.clone())
                .unwrap_or_else(|| "shamir".into()),
            initialized: config.is_some(),
            sealed: cluster.is_none(),
            t: config.as_ref().map(|c| c.secret_threshold).unwrap_or(0),
            n: config.as_ref().map(|c| c.secret_shares).unwrap_or(0),
            progress,
            nonce,
            version: VERSION.into(),
            build_date: String::new(),
            migration: false,
            cluster_name: cluster.as_ref().map(|c| c.name.clone()),
            cluster_id: cluster.map(|c| c.id),
            recovery_seal: false,
            storage_type: "raft".into(),
        })
    }

    /// The `sys/health` document.
    pub async fn health(&self) -> Result<HealthStatus, CoreError> {
        let initialized = self.is_initialized().await?;
        let cluster = self.active().ok().map(|a| a.cluster.clone());
        let sealed = cluster.is_none();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        Ok(HealthStatus {
            initialized,
            sealed,
            standby: !sealed && !self.ha.is_active(),
            performance_standby: false,
            replication_performance_mode: if sealed { "unknown" } else { "disabled" }.into(),
            replication_dr_mode: if sealed { "unknown" } else { "disabled" }.into(),
            server_time_utc: now,
            version: VERSION.into(),
            enterprise: false,
            cluster_name: cluster.as_ref().map(|c| c.name.clone()),
            cluster_id: cluster.map(|c| c.id),
            removed_from_cluster: false,
        })
    }

    /// The `sys/leader` document ([`CoreError::Sealed`] while sealed).
    pub async fn leader_status(&self) -> Result<LeaderStatus, CoreError> {
        let active = self.active()?;
        let is_self = self.ha.is_active();
        let leader = self.ha.leader().unwrap_or_default();
        let indexes = self.ha.raft_indexes().await;
        Ok(LeaderStatus {
            ha_enabled: true,
            is_self,
            active_time: if is_self {
                active.active_since.clone()
            } else {
                "0001-01-01T00:00:00Z".into()
            },
            leader_address: leader.api_addr,
            leader_cluster_address: leader.cluster_addr,
            performance_standby: false,
            performance_standby_last_remote_wal: 0,
            raft_committed_index: indexes.map(|i| i.0),
            raft_applied_index: indexes.map(|i| i.1),
        })
    }

    /// Submits one unseal key share (hex or base64), or resets the attempt.
    pub async fn unseal(&self, key: Option<&str>, reset: bool) -> Result<SealStatus, CoreError> {
        let _guard = self.lifecycle.lock().await;
        let config = self.seal_config().await?.ok_or(CoreError::NotInitialized)?;
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
        let complete = {
            let mut progress = lock(&self.unseal_progress);
            let collector = progress
                .get_or_insert_with(|| ShareCollector::new(config.secret_threshold as usize));
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
        if let Some(shares) = complete {
            let kek = combine_kek(&config, &shares)?;
            let root_key = self.unwrap_root_key(&kek).await?;
            self.shamir.set_kek(kek);
            self.barrier
                .unseal(&root_key)
                .await
                .map_err(|e| CoreError::invalid(format!("failed to unseal barrier: {e}")))?;
            let active = match Active::load(self).await {
                Ok(a) => a,
                Err(e) => {
                    self.barrier.seal();
                    self.shamir.clear_kek();
                    return Err(e);
                }
            };
            *self
                .active
                .write()
                .map_err(|_| CoreError::Internal("state lock poisoned".into()))? = Some(active);
            tracing::info!("vault is unsealed");
        }
        drop(_guard);
        self.seal_status().await
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
    pub async fn seal(&self) -> Result<(), CoreError> {
        let _guard = self.lifecycle.lock().await;
        self.seal_locked();
        Ok(())
    }

    /// `sys/step-down`: the active node hands leadership to another voter.
    pub async fn step_down(&self) -> Result<(), CoreError> {
        self.active()?;
        self.ha.step_down();
        Ok(())
    }

    pub(crate) fn seal_locked(&self) {
        if let Ok(mut a) = self.active.write() {
            *a = None;
        }
        self.barrier.seal();
        self.shamir.clear_kek();
        *lock(&self.unseal_progress) = None;
        lock(&self.ceremonies).clear();
        tracing::info!("vault is sealed");
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
