//! The active node's expiration manager.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{Map, Value};
use tresor_token::Clock;

use crate::entry::{LeaseEntry, new_lease_id};
use crate::error::ExpirationError;
use crate::policy::{self, AfterFailure, RetryPolicy, TtlBounds};
use crate::store::LeaseStore;

/// What a backend answered to a renewal.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Renewed {
    /// The TTL the backend grants, seconds (0: as requested).
    pub ttl: u64,
    /// New internal data to keep with the lease (`None`: unchanged).
    pub internal: Option<Map<String, Value>>,
}

/// The backends behind leases: the core routes a lease to the mount that issued it.
#[async_trait]
pub trait LeaseBackend: Send + Sync + 'static {
    /// Revokes the secret of `lease` (idempotent: a secret already gone is revoked).
    async fn revoke(&self, lease: &LeaseEntry) -> Result<(), String>;
    /// Renews the secret of `lease` by `increment` seconds (0: the backend's default).
    async fn renew(&self, lease: &LeaseEntry, increment: u64) -> Result<Renewed, String>;
    /// The TTL limits of the mount `mount_accessor` (`None` when it is gone).
    fn bounds(&self, mount_accessor: &str) -> Option<TtlBounds>;
}

/// Due times of the leases the sweep will look at: `(due, id)` pairs and each id's due time.
#[derive(Default)]
struct Index {
    by_due: BTreeSet<(u64, String)>,
    due_of: HashMap<String, u64>,
    irrevocable: usize,
}

impl Index {
    fn set(&mut self, e: &LeaseEntry) {
        self.remove(&e.lease_id);
        match e.due() {
            Some(due) => {
                self.by_due.insert((due, e.lease_id.clone()));
                self.due_of.insert(e.lease_id.clone(), due);
            }
            None => {
                self.due_of.insert(e.lease_id.clone(), u64::MAX);
                self.irrevocable += 1;
            }
        }
    }

    fn remove(&mut self, id: &str) {
        match self.due_of.remove(id) {
            Some(u64::MAX) => self.irrevocable = self.irrevocable.saturating_sub(1),
            Some(due) => {
                self.by_due.remove(&(due, id.to_owned()));
            }
            None => {}
        }
    }

    fn due(&self, now: u64, limit: usize) -> Vec<String> {
        self.by_due
            .iter()
            .take_while(|(due, _)| *due <= now)
            .take(limit)
            .map(|(_, id)| id.clone())
            .collect()
    }
}

/// The expiration manager of the active node.
pub struct ExpirationManager {
    store: LeaseStore,
    backend: Arc<dyn LeaseBackend>,
    clock: Arc<dyn Clock>,
    retry: RetryPolicy,
    index: Mutex<Index>,
    /// Serializes changes to one lease at a time (sweep, renew, revoke), so a lease is never
    /// revoked twice or renewed while being revoked.
    changes: tokio::sync::Mutex<()>,
}

impl ExpirationManager {
    /// A manager over `store`, calling `backend`; [`ExpirationManager::load`] fills it.
    pub fn new(
        store: LeaseStore,
        backend: Arc<dyn LeaseBackend>,
        clock: Arc<dyn Clock>,
        retry: RetryPolicy,
    ) -> Self {
        Self {
            store,
            backend,
            clock,
            retry,
            index: Mutex::new(Index::default()),
            changes: tokio::sync::Mutex::new(()),
        }
    }

    /// Loads every stored lease into the index (at activation: the new active node takes over
    /// every lease, due ones are revoked by the first sweep). Returns how many.
    pub async fn load(&self) -> Result<usize, ExpirationError> {
        let ids = self.store.all_ids().await?;
        let mut loaded = Vec::with_capacity(ids.len());
        for id in &ids {
            match self.store.get(id).await {
                Ok(Some(e)) => loaded.push(e),
                Ok(None) => {}
                // One unreadable entry must not stop the others from being revoked; tidy
                // removes it.
                Err(e) => tracing::error!(lease = %id, error = %e, "unreadable lease entry"),
            }
        }
        let mut index = self.lock_index();
        for e in &loaded {
            index.set(e);
        }
        Ok(loaded.len())
    }

    fn lock_index(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Leases tracked (irrevocable ones included).
    pub fn count(&self) -> usize {
        self.lock_index().due_of.len()
    }

    /// Irrevocable leases.
    pub fn irrevocable_count(&self) -> usize {
        self.lock_index().irrevocable
    }

    /// Registers a lease for a secret issued at `path` (mount included) by the mount at
    /// `mount_point` with `mount_accessor`; returns the stored entry (its id and TTL go back
    /// to the client).
    pub async fn register(
        &self,
        path: &str,
        mount_point: &str,
        mount_accessor: &str,
        secret: &tresor_sdk::Secret,
        bounds: TtlBounds,
    ) -> Result<LeaseEntry, ExpirationError> {
        let now = self.clock.now();
        let (ttl, max_expire_time) = policy::issue(now, secret.ttl, secret.max_ttl, bounds);
        let entry = LeaseEntry {
            lease_id: new_lease_id(path),
            path: path.to_owned(),
            mount_point: mount_point.to_owned(),
            mount_accessor: mount_accessor.to_owned(),
            issue_time: now,
            expire_time: now.saturating_add(ttl),
            last_renewal_time: None,
            max_expire_time,
            renewable: secret.renewable,
            internal: secret.internal.clone(),
            revoke_attempts: 0,
            next_attempt: 0,
            irrevocable: false,
            revoke_error: None,
        };
        self.store.put(&entry).await?;
        self.lock_index().set(&entry);
        Ok(entry)
    }

    /// The lease `id`.
    pub async fn lookup(&self, id: &str) -> Result<LeaseEntry, ExpirationError> {
        self.store.get(id).await?.ok_or(ExpirationError::NotFound)
    }

    /// The current time of the manager's clock.
    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    /// The children of `prefix` one level down, as `LIST sys/leases/lookup/<prefix>` shows.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, ExpirationError> {
        let mut keys = self.store.list(prefix).await?;
        keys.sort();
        Ok(keys)
    }

    /// Renews the lease `id` by `increment` seconds; returns the updated entry and a warning
    /// when the TTL was capped.
    pub async fn renew(
        &self,
        id: &str,
        increment: u64,
    ) -> Result<(LeaseEntry, Option<String>), ExpirationError> {
        let _one = self.changes.lock().await;
        let mut e = self.lookup(id).await?;
        let now = self.clock.now();
        if e.irrevocable || e.expire_time <= now {
            return Err(ExpirationError::NotFound);
        }
        if !e.renewable {
            return Err(ExpirationError::Invalid("lease is not renewable".into()));
        }
        let bounds = self
            .backend
            .bounds(&e.mount_accessor)
            .ok_or_else(|| ExpirationError::Invalid("the lease's mount is gone".into()))?;
        let renewed = self.backend.renew(&e, increment).await.map_err(|message| {
            ExpirationError::Backend {
                action: "renew",
                message,
            }
        })?;
        let r = policy::renew(now, increment, renewed.ttl, e.max_expire_time, bounds);
        e.expire_time = now.saturating_add(r.ttl);
        e.last_renewal_time = Some(now);
        if let Some(internal) = renewed.internal {
            e.internal = internal;
        }
        self.store.put(&e).await?;
        self.lock_index().set(&e);
        Ok((e, r.warning))
    }

    /// Revokes the lease `id` now, through its backend; on failure the lease stays.
    pub async fn revoke(&self, id: &str) -> Result<(), ExpirationError> {
        let _one = self.changes.lock().await;
        let e = self.lookup(id).await?;
        self.revoke_locked(&e, false).await
    }

    async fn revoke_locked(&self, e: &LeaseEntry, force: bool) -> Result<(), ExpirationError> {
        if let Err(message) = self.backend.revoke(e).await {
            if !force {
                return Err(ExpirationError::Backend {
                    action: "revoke",
                    message,
                });
            }
            tracing::warn!(lease = %e.lease_id, error = %message, "forced revocation: backend failed, lease deleted anyway");
        }
        self.store.delete(&e.lease_id).await?;
        self.lock_index().remove(&e.lease_id);
        Ok(())
    }

    /// Revokes every lease whose id starts with `prefix`; with `force`, a backend failure
    /// does not stop the lease from being deleted. Stops at the first failure otherwise.
    /// Returns how many were revoked.
    pub async fn revoke_prefix(&self, prefix: &str, force: bool) -> Result<usize, ExpirationError> {
        let ids = self.store.ids_with_prefix(prefix).await?;
        let mut n = 0;
        for id in ids {
            let _one = self.changes.lock().await;
            let Some(e) = self.store.get(&id).await? else {
                continue;
            };
            self.revoke_locked(&e, force).await?;
            n += 1;
        }
        Ok(n)
    }

    /// The irrevocable leases.
    pub async fn irrevocable(&self) -> Result<Vec<LeaseEntry>, ExpirationError> {
        let ids: Vec<String> = self
            .lock_index()
            .due_of
            .iter()
            .filter(|(_, due)| **due == u64::MAX)
            .map(|(id, _)| id.clone())
            .collect();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(e) = self.store.get(&id).await? {
                out.push(e);
            }
        }
        out.sort_by(|a, b| a.lease_id.cmp(&b.lease_id));
        Ok(out)
    }

    /// Removes what cannot be a lease: unreadable entries, and index entries whose lease is
    /// no longer stored. Returns how many were removed.
    pub async fn tidy(&self) -> Result<usize, ExpirationError> {
        let _all = self.changes.lock().await;
        let mut removed = 0;
        for id in self.store.all_ids().await? {
            if let Err(ExpirationError::Corrupt { .. }) = self.store.get(&id).await {
                self.store.delete(&id).await?;
                self.lock_index().remove(&id);
                removed += 1;
            }
        }
        let indexed: Vec<String> = self.lock_index().due_of.keys().cloned().collect();
        for id in indexed {
            if self.store.get(&id).await?.is_none() {
                self.lock_index().remove(&id);
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Revokes up to `limit` leases that are due at the current time; failures are
    /// rescheduled by the retry policy or made irrevocable. Returns how many were looked at.
    pub async fn sweep(&self, limit: usize) -> Result<usize, ExpirationError> {
        let now = self.clock.now();
        let due = self.lock_index().due(now, limit);
        let n = due.len();
        for id in due {
            let _one = self.changes.lock().await;
            let Some(mut e) = self.store.get(&id).await? else {
                self.lock_index().remove(&id);
                continue;
            };
            if e.due().is_none_or(|d| d > now) {
                // Renewed or rescheduled meanwhile.
                self.lock_index().set(&e);
                continue;
            }
            match self.backend.revoke(&e).await {
                Ok(()) => {
                    self.store.delete(&id).await?;
                    self.lock_index().remove(&id);
                    tracing::debug!(lease = %id, "lease expired and revoked");
                }
                Err(message) => {
                    e.revoke_attempts += 1;
                    match self.retry.after_failure(now, e.revoke_attempts) {
                        AfterFailure::RetryAt(t) => {
                            tracing::warn!(lease = %id, attempt = e.revoke_attempts, error = %message, "revocation failed; will retry");
                            e.next_attempt = t;
                        }
                        AfterFailure::Irrevocable => {
                            tracing::error!(lease = %id, attempts = e.revoke_attempts, error = %message, "revocation failed too often; lease is irrevocable");
                            e.irrevocable = true;
                        }
                    }
                    e.revoke_error = Some(message);
                    self.store.put(&e).await?;
                    self.lock_index().set(&e);
                }
            }
        }
        Ok(n)
    }
}
