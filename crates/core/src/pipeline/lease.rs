//! The lease stage: a response carrying a [`Secret`](tresor_sdk::Secret) gets a lease that
//! the expiration manager will renew and revoke. The manager comes later; today a secret's
//! lease is not tracked and its response goes back unchanged.

use async_trait::async_trait;
use tresor_sdk::{MountInfo, Response};

/// Why a lease could not be registered. The response is not returned without it.
#[derive(Debug, thiserror::Error)]
#[error("lease: {0}")]
pub struct LeaseError(pub String);

/// Registers the lease of a response that carries a secret and fills in its `lease_id`.
#[async_trait]
pub trait LeaseManager: Send + Sync + 'static {
    /// Registers `resp`'s secret for the request at `path` on `mount`.
    async fn register(
        &self,
        path: &str,
        mount: &MountInfo,
        resp: &mut Response,
    ) -> Result<(), LeaseError>;
}

/// No expiration manager: nothing is registered.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoLeases;

#[async_trait]
impl LeaseManager for NoLeases {
    async fn register(
        &self,
        _path: &str,
        _mount: &MountInfo,
        _resp: &mut Response,
    ) -> Result<(), LeaseError> {
        Ok(())
    }
}
