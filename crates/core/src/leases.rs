//! The core's side of leases: the expiration manager's backend (a lease is routed to the
//! mount that issued it, by accessor, and its backend is called with `Operation::Revoke` or
//! `Operation::Renew`), and the pipeline's lease stage.

use std::sync::{Arc, Weak};

use async_trait::async_trait;
use tresor_expiration::{ExpirationManager, LeaseBackend, LeaseEntry, Renewed, TtlBounds};
use tresor_sdk::{LogicalBackend, MountInfo, Operation, Request, Response, Secret};
use tresor_storage::View;

use crate::active::Active;
use crate::error::CoreError;

/// Barrier prefix of the stored leases.
pub(crate) const EXPIRE_PREFIX: &str = "sys/expire/";

/// Routes leases to their mounts' backends. Holds the active state weakly: the state owns the
/// manager that owns this.
pub(crate) struct MountRouter {
    pub(crate) active: Weak<Active>,
}

impl MountRouter {
    fn mount(&self, accessor: &str) -> Result<(Arc<dyn LogicalBackend>, View, MountInfo), String> {
        let active = self
            .active
            .upgrade()
            .ok_or_else(|| "the node is no longer active".to_owned())?;
        let table = active.mounts_snapshot();
        let entry = table
            .entries
            .values()
            .find(|e| e.accessor == accessor)
            .ok_or_else(|| format!("no mount with accessor {accessor}"))?;
        let backend = active
            .backend(&entry.uuid)
            .ok_or_else(|| format!("mount {} has no backend", entry.path))?;
        Ok((backend, active.mount_view(entry), active.mount_info(entry)))
    }

    fn request(
        op: Operation,
        lease: &LeaseEntry,
        ttl: u64,
        view: View,
        mount: MountInfo,
    ) -> Request {
        let mut req = Request::new(
            op,
            lease
                .path
                .strip_prefix(&lease.mount_point)
                .unwrap_or(&lease.path),
            view,
        );
        req.mount = mount;
        req.secret = Some(Secret {
            lease_id: lease.lease_id.clone(),
            ttl,
            max_ttl: lease.max_expire_time.saturating_sub(lease.issue_time),
            renewable: lease.renewable,
            internal: lease.internal.clone(),
        });
        req
    }
}

#[async_trait]
impl LeaseBackend for MountRouter {
    async fn revoke(&self, lease: &LeaseEntry) -> Result<(), String> {
        let (backend, view, mount) = self.mount(&lease.mount_accessor)?;
        let req = Self::request(Operation::Revoke, lease, 0, view, mount);
        backend
            .handle(&req)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    async fn renew(&self, lease: &LeaseEntry, increment: u64) -> Result<Renewed, String> {
        let (backend, view, mount) = self.mount(&lease.mount_accessor)?;
        let req = Self::request(Operation::Renew, lease, increment, view, mount);
        let resp = backend.handle(&req).await.map_err(|e| e.to_string())?;
        Ok(match resp.and_then(|r| r.secret) {
            Some(s) => Renewed {
                ttl: s.ttl,
                internal: Some(s.internal),
            },
            None => Renewed::default(),
        })
    }

    fn bounds(&self, accessor: &str) -> Option<TtlBounds> {
        let active = self.active.upgrade()?;
        let table = active.mounts_snapshot();
        let entry = table.entries.values().find(|e| e.accessor == accessor)?;
        let info = active.mount_info(entry);
        Some(TtlBounds {
            default_ttl: info.default_lease_ttl,
            max_ttl: info.max_lease_ttl,
        })
    }
}

/// Stage 8: the secret of `resp`, issued for `path` by `mount`, gets a lease; the envelope
/// then carries its id, TTL and renewability.
pub(crate) async fn register(
    leases: &ExpirationManager,
    path: &str,
    mount: &MountInfo,
    resp: &mut Response,
) -> Result<(), CoreError> {
    let Some(secret) = resp.secret.as_deref_mut() else {
        return Ok(());
    };
    let bounds = TtlBounds {
        default_ttl: mount.default_lease_ttl,
        max_ttl: mount.max_lease_ttl,
    };
    let entry = leases
        .register(path, &mount.path, &mount.accessor, secret, bounds)
        .await
        .map_err(CoreError::Lease)?;
    secret.lease_id = entry.lease_id.clone();
    secret.ttl = entry.expire_time - entry.issue_time;
    resp.lease_duration = secret.ttl;
    resp.renewable = secret.renewable;
    Ok(())
}

/// A secret whose lease could not be stored never reaches the client, so nobody could revoke
/// it: revoke it at its backend right away (best effort, logged when that fails too).
pub(crate) async fn revoke_unleased(
    backend: &dyn LogicalBackend,
    issued: &Request,
    resp: &Response,
) {
    let Some(secret) = resp.secret.as_deref() else {
        return;
    };
    let mut req = Request::new(
        Operation::Revoke,
        issued.path.clone(),
        issued.storage.clone(),
    );
    req.mount = issued.mount.clone();
    req.secret = Some(secret.clone());
    match backend.handle(&req).await {
        Ok(_) => tracing::warn!(path = %issued.path, "lease not stored: the secret was revoked"),
        Err(e) => {
            tracing::error!(path = %issued.path, error = %e, "lease not stored and the secret could not be revoked; it must be removed by hand")
        }
    }
}
