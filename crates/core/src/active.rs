//! The state that exists only while unsealed: cluster identity, mount tables with their
//! backends, the token store and the policy store.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use tresor_expiration::{ExpirationManager, LeaseStore, SweepTask};
use tresor_sdk::{LogicalBackend, MountInfo};
use tresor_storage::{Backend, View};
use tresor_token::{ExpiryTask, SystemClock, TokenBackend, TokenStore, TtlLimits};

use crate::core::Core;
use crate::error::CoreError;
use crate::mounts::{MountConfig, MountEntry, MountTable};
use crate::policy_store::PolicyStore;

/// Barrier path of the secrets-engine mount table.
pub(crate) const MOUNTS_PATH: &str = "core/mounts";
/// Barrier path of the auth mount table.
pub(crate) const AUTH_PATH: &str = "core/auth";
/// Barrier path of the cluster identity.
pub(crate) const CLUSTER_PATH: &str = "core/cluster";

/// The cluster's name and id, fixed at init.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct ClusterInfo {
    /// Name (`cluster_name` in the config, or generated).
    pub(crate) name: String,
    /// UUID.
    pub(crate) id: String,
}

/// The unsealed state.
pub(crate) struct Active {
    pub(crate) active_since: String,
    pub(crate) barrier: Arc<dyn Backend>,
    pub(crate) mounts: RwLock<MountTable>,
    pub(crate) auth: RwLock<MountTable>,
    pub(crate) backends: RwLock<HashMap<String, Arc<dyn LogicalBackend>>>,
    pub(crate) tokens: Arc<TokenStore>,
    pub(crate) token_backend: Arc<dyn LogicalBackend>,
    pub(crate) policies: PolicyStore,
    /// Entities and aliases of logins.
    pub(crate) identity: crate::identity::Identity,
    /// Serializes changes to the mount tables.
    pub(crate) table_lock: tokio::sync::Mutex<()>,
    pub(crate) default_lease_ttl: u64,
    pub(crate) max_lease_ttl: u64,
    /// The backend types mounts are created from.
    pub(crate) registry: tresor_sdk::BackendRegistry,
    /// The request headers copied into audit entries.
    pub(crate) audited_headers: RwLock<crate::audit::HeaderConfig>,
    /// Revokes expired tokens (with their children) in the background while this node is
    /// active; stopped by [`Active::stop_background`] when the state is dropped (seal,
    /// step-down), and by its own `Drop` at the latest. None in a standby's read state.
    expiry: Option<ExpiryTask>,
    /// Whether this is a standby's read-only state ([`Active::load_standby`]).
    pub(crate) standby: bool,
    /// The automated-snapshot scheduler (when [`Core::set_snapshot_source`] gave the core a
    /// source): runs while
    /// this node is active, stopped with the token expiry task.
    pub(crate) autosnap: Option<tresor_autosnap::AutoSnapshots>,
    /// The expiration manager: every lease, loaded at activation.
    pub(crate) leases: Arc<ExpirationManager>,
    /// Revokes due leases while this node is active; stopped with the token expiry task.
    lease_sweep: std::sync::Mutex<Option<SweepTask>>,
    /// Calls the backends' periodic housekeeping while this node is active.
    periodic: std::sync::Mutex<Option<crate::periodic::PeriodicTask>>,
}

pub(crate) fn new_accessor(kind: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{}_{}", kind.replace('-', "_"), &id[..8])
}

pub(crate) fn new_entry(path: &str, kind: &str, description: &str) -> MountEntry {
    MountEntry {
        path: path.into(),
        kind: kind.into(),
        description: description.into(),
        uuid: uuid::Uuid::new_v4().to_string(),
        accessor: new_accessor(kind),
        config: MountConfig::default(),
        options: BTreeMap::new(),
        local: false,
        seal_wrap: false,
        created_at: time::OffsetDateTime::now_utc().unix_timestamp(),
    }
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl Active {
    /// Writes the initial tables of a freshly initialized barrier.
    pub(crate) async fn create_initial(
        core: &Core,
        cluster_name: Option<String>,
    ) -> Result<(), CoreError> {
        let barrier = core.barrier.clone();
        let id = uuid::Uuid::new_v4().to_string();
        let name = cluster_name.unwrap_or_else(|| format!("vault-cluster-{}", &id[..8]));
        let cluster = ClusterInfo { name, id };
        barrier
            .put(CLUSTER_PATH, serde_json::to_vec(&cluster)?)
            .await?;

        let mut mounts = MountTable::default();
        let mut sys = new_entry(
            "sys/",
            "system",
            "system endpoints used for control, policy and debugging",
        );
        sys.accessor = new_accessor("system");
        mounts.entries.insert("sys/".into(), sys);
        barrier
            .put(MOUNTS_PATH, serde_json::to_vec(&mounts)?)
            .await?;

        let mut auth = MountTable::default();
        auth.entries.insert(
            "token/".into(),
            new_entry("token/", "token", "token based credentials"),
        );
        barrier.put(AUTH_PATH, serde_json::to_vec(&auth)?).await?;
        Ok(())
    }

    /// Loads the unsealed state from the (unsealed) barrier.
    pub(crate) async fn load(core: &Core) -> Result<Arc<Active>, CoreError> {
        Self::load_mode(core, false).await
    }

    /// Loads the state a standby answers reads from: the same tables, policies and token store
    /// over a barrier that refuses writes, with no background task (no token expiry, lease
    /// sweep, housekeeping or automated snapshots) and no lease loading. A write attempted
    /// through it fails as [`StorageError::NotLeader`](tresor_storage::StorageError::NotLeader),
    /// which the pipeline turns into forwarding the request to the active node.
    pub(crate) async fn load_standby(core: &Core) -> Result<Arc<Active>, CoreError> {
        Self::load_mode(core, true).await
    }

    async fn load_mode(core: &Core, standby: bool) -> Result<Arc<Active>, CoreError> {
        let barrier: Arc<dyn Backend> = if standby {
            Arc::new(crate::standby::ReadOnly(core.barrier.clone()))
        } else {
            core.barrier.clone()
        };
        read_json::<ClusterInfo>(&*barrier, CLUSTER_PATH)
            .await?
            .ok_or_else(|| CoreError::Internal("cluster identity missing".into()))?;
        let mounts: MountTable = read_json(&*barrier, MOUNTS_PATH).await?.unwrap_or_default();
        let auth: MountTable = read_json(&*barrier, AUTH_PATH).await?.unwrap_or_default();

        let tokens = Arc::new(
            TokenStore::new(
                View::new(barrier.clone(), "sys/token/"),
                TtlLimits {
                    default_lease_ttl: core.opts.default_lease_ttl,
                    max_lease_ttl: core.opts.max_lease_ttl,
                },
            )
            .with_batch_keys(Arc::new(crate::batch_keys::BarrierBatchKeys(
                core.barrier.clone(),
            ))),
        );
        let token_backend: Arc<dyn LogicalBackend> = Arc::new(TokenBackend::new(tokens.clone()));
        let policies = PolicyStore::new(View::new(barrier.clone(), "sys/policy/"));
        if !standby {
            policies.ensure_default().await?;
        }

        core.load_audit(&*barrier).await?;
        let audited_headers = RwLock::new(Active::load_audited_headers(&*barrier).await?);
        let expiry =
            (!standby).then(|| ExpiryTask::spawn(tokens.clone(), ExpiryTask::DEFAULT_INTERVAL));
        if !standby {
            core.activations
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        }
        let snapshots = core.snapshot_source.get().filter(|_| !standby);
        let autosnap = snapshots.cloned().map(|source| {
            tresor_autosnap::AutoSnapshots::start(
                barrier.clone(),
                source,
                core.opts.metrics.clone(),
            )
        });
        let identity = crate::identity::Identity::new(View::new(barrier.clone(), "sys/identity/"));
        let lease_store = LeaseStore::new(View::new(barrier.clone(), crate::leases::EXPIRE_PREFIX));
        let retry = core.opts.lease_retry;
        let active = Arc::new_cyclic(|weak| Active {
            leases: Arc::new(ExpirationManager::new(
                lease_store,
                Arc::new(crate::leases::MountRouter {
                    active: weak.clone(),
                }),
                Arc::new(SystemClock),
                retry,
            )),
            lease_sweep: std::sync::Mutex::new(None),
            periodic: std::sync::Mutex::new(None),
            active_since: now_rfc3339(),
            barrier,
            mounts: RwLock::new(MountTable::default()),
            auth: RwLock::new(auth),
            backends: RwLock::new(HashMap::new()),
            tokens,
            token_backend,
            policies,
            identity,
            table_lock: tokio::sync::Mutex::new(()),
            default_lease_ttl: core.opts.default_lease_ttl,
            max_lease_ttl: core.opts.max_lease_ttl,
            registry: core.opts.backends.clone(),
            audited_headers,
            expiry,
            standby,
            autosnap,
        });
        for entry in mounts.entries.values() {
            if entry.kind == "system" {
                continue;
            }
            match active.instantiate(entry).await {
                Ok(backend) => active.set_backend(&entry.uuid, backend),
                Err(e) => tracing::error!(path = %entry.path, error = %e, "could not load mount"),
            }
        }
        let auth_table = active.auth_snapshot();
        for entry in auth_table.entries.values() {
            if entry.kind == "token" {
                continue;
            }
            match active.instantiate_auth(entry).await {
                Ok(backend) => active.set_backend(&entry.uuid, backend),
                Err(e) => {
                    tracing::error!(path = %entry.path, error = %e, "could not load auth method")
                }
            }
        }
        *active
            .mounts
            .write()
            .map_err(|_| CoreError::Internal("mount lock poisoned".into()))? = mounts;
        if standby {
            return Ok(active);
        }
        // The leases of every mount, taken over from whichever node was active before; the
        // sweep revokes those that expired meanwhile.
        let n = active.leases.load().await?;
        if n > 0 {
            tracing::info!(leases = n, "leases loaded");
        }
        let sweep = SweepTask::spawn(active.leases.clone(), core.opts.lease_sweep_interval);
        if let Ok(mut slot) = active.lease_sweep.lock() {
            *slot = Some(sweep);
        }
        let periodic = crate::periodic::PeriodicTask::spawn(
            Arc::downgrade(&active),
            core.opts.periodic_interval,
        );
        if let Ok(mut slot) = active.periodic.lock() {
            *slot = Some(periodic);
        }
        Ok(active)
    }

    /// Stops the background work of the active state (the token expiry task, the
    /// automated-snapshot scheduler). Called when the node seals or stops being the active
    /// node; requests still holding this state finish normally.
    pub(crate) fn stop_background(&self) {
        if let Some(expiry) = &self.expiry {
            expiry.stop();
        }
        if let Some(sweep) = self.lease_sweep.lock().ok().and_then(|mut s| s.take()) {
            sweep.stop();
        }
        if let Some(p) = self.periodic.lock().ok().and_then(|mut s| s.take()) {
            p.stop();
        }
        if let Some(a) = &self.autosnap {
            a.stop();
        }
    }

    /// Creates (and sets up) the backend for a mount entry.
    pub(crate) async fn instantiate(
        &self,
        entry: &MountEntry,
    ) -> Result<Arc<dyn LogicalBackend>, CoreError> {
        let backend =
            self.registry
                .create(tresor_sdk::BackendKind::Secret, &entry.kind, &entry.options)?;
        backend
            .setup(&self.mount_view(entry), &self.mount_info(entry))
            .await?;
        Ok(backend)
    }

    /// Creates (and sets up) the backend of an auth mount entry.
    pub(crate) async fn instantiate_auth(
        &self,
        entry: &MountEntry,
    ) -> Result<Arc<dyn LogicalBackend>, CoreError> {
        let backend =
            self.registry
                .create(tresor_sdk::BackendKind::Auth, &entry.kind, &entry.options)?;
        backend
            .setup(&self.auth_view(entry), &self.auth_mount_info(entry))
            .await?;
        Ok(backend)
    }

    /// The storage view of an auth mount.
    pub(crate) fn auth_view(&self, entry: &MountEntry) -> View {
        View::new(self.barrier.clone(), format!("auth/{}/", entry.uuid))
    }

    /// What an auth backend is told about its mount (its path with the `auth/` prefix).
    pub(crate) fn auth_mount_info(&self, entry: &MountEntry) -> MountInfo {
        let mut info = self.mount_info(entry);
        info.path = format!("auth/{}", entry.path);
        info
    }

    pub(crate) fn set_backend(&self, uuid: &str, backend: Arc<dyn LogicalBackend>) {
        if let Ok(mut b) = self.backends.write() {
            b.insert(uuid.to_owned(), backend);
        }
    }

    pub(crate) fn backend(&self, uuid: &str) -> Option<Arc<dyn LogicalBackend>> {
        self.backends.read().ok().and_then(|b| b.get(uuid).cloned())
    }

    /// The storage view of a secrets-engine mount.
    pub(crate) fn mount_view(&self, entry: &MountEntry) -> View {
        View::new(self.barrier.clone(), format!("logical/{}/", entry.uuid))
    }

    /// What a backend is told about its mount.
    pub(crate) fn mount_info(&self, entry: &MountEntry) -> MountInfo {
        let default_ttl = if entry.config.default_lease_ttl == 0 {
            self.default_lease_ttl
        } else {
            entry.config.default_lease_ttl
        };
        let max_ttl = if entry.config.max_lease_ttl == 0 {
            self.max_lease_ttl
        } else {
            entry.config.max_lease_ttl
        };
        MountInfo {
            path: entry.path.clone(),
            kind: entry.kind.clone(),
            uuid: entry.uuid.clone(),
            accessor: entry.accessor.clone(),
            options: entry.options.clone(),
            default_lease_ttl: default_ttl,
            max_lease_ttl: max_ttl,
        }
    }

    /// A snapshot of the secrets-engine mount table.
    pub(crate) fn mounts_snapshot(&self) -> MountTable {
        self.mounts.read().map(|m| m.clone()).unwrap_or_default()
    }

    /// A snapshot of the auth mount table.
    pub(crate) fn auth_snapshot(&self) -> MountTable {
        self.auth.read().map(|m| m.clone()).unwrap_or_default()
    }

    /// Persists and installs a new secrets-engine mount table.
    pub(crate) async fn store_mounts(&self, table: MountTable) -> Result<(), CoreError> {
        self.barrier
            .put(MOUNTS_PATH, serde_json::to_vec(&table)?)
            .await?;
        *self
            .mounts
            .write()
            .map_err(|_| CoreError::Internal("mount lock poisoned".into()))? = table;
        Ok(())
    }

    /// Persists and installs a new auth mount table.
    pub(crate) async fn store_auth(&self, table: MountTable) -> Result<(), CoreError> {
        self.barrier
            .put(AUTH_PATH, serde_json::to_vec(&table)?)
            .await?;
        *self
            .auth
            .write()
            .map_err(|_| CoreError::Internal("auth lock poisoned".into()))? = table;
        Ok(())
    }
}

pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(
    b: &dyn Backend,
    key: &str,
) -> Result<Option<T>, CoreError> {
    match b.get(key).await? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| CoreError::Internal(format!("corrupt {key}: {e}"))),
    }
}
