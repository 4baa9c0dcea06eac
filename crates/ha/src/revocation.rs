//! Revocation of removed nodes' cluster certificates. `remove-peer` (and autopilot's dead
//! server cleanup) adds the removed node's certificate fingerprint to a list kept in the
//! (replicated) barrier at `core/cluster-tls/revoked`; every unsealed node reads the list
//! within [`SYNC_INTERVAL`] and its cluster port refuses those certificates on both ends of
//! the handshake. A node that joins again is issued a new certificate, which is not listed.
//! Entries are dropped once the certificate has expired (it is refused anyway then).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tresor_cluster::ClusterIdentity;
use tresor_core::{Core, CoreError};

use crate::cert_rotation::unix_now;
use crate::runtime::{HaRuntime, node_identity_name};

/// Barrier name (under `core/cluster-tls/`) of the revocation list.
pub(crate) const REVOKED_NAME: &str = "revoked";
/// How often every unsealed node reloads the list.
const SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// One revoked certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Revoked {
    /// The node the certificate was issued to.
    pub(crate) node_id: String,
    /// SHA-256 of the certificate (DER), lowercase hex.
    pub(crate) fingerprint: String,
    /// When the certificate expires (Unix seconds), if known.
    #[serde(default)]
    pub(crate) not_after: Option<i64>,
    /// When it was revoked (Unix seconds).
    pub(crate) revoked_at: i64,
}

/// The cluster's revocation list as stored in the barrier.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RevocationList {
    #[serde(default)]
    pub(crate) entries: Vec<Revoked>,
}

impl RevocationList {
    /// Adds a certificate (once) and drops entries expired at `now`.
    pub(crate) fn add(&mut self, entry: Revoked, now: i64) {
        self.prune(now);
        if !self
            .entries
            .iter()
            .any(|e| e.fingerprint == entry.fingerprint)
        {
            self.entries.push(entry);
        }
    }

    /// Drops entries whose certificate expired before `now`.
    pub(crate) fn prune(&mut self, now: i64) {
        self.entries
            .retain(|e| e.not_after.is_none_or(|end| end >= now));
    }

    /// Fingerprint → node id, what the cluster port's verifiers check.
    pub(crate) fn fingerprints(&self) -> HashMap<String, String> {
        self.entries
            .iter()
            .map(|e| (e.fingerprint.clone(), e.node_id.clone()))
            .collect()
    }
}

/// Reads the list from the barrier (empty if absent).
pub(crate) async fn load(core: &Core) -> Result<RevocationList, CoreError> {
    match core.cluster_tls_get(REVOKED_NAME).await? {
        Some(bytes) => Ok(serde_json::from_slice(&bytes)?),
        None => Ok(RevocationList::default()),
    }
}

/// Active node: revokes the certificate issued to `node_id` (if the barrier holds one) and
/// applies the new list to this node's cluster port at once. Returns whether a certificate
/// was revoked.
pub(crate) async fn revoke_node(
    core: &Core,
    ha: &HaRuntime,
    node_id: &str,
) -> Result<bool, CoreError> {
    let Some(bytes) = core.cluster_tls_get(&node_identity_name(node_id)).await? else {
        return Ok(false);
    };
    let identity: ClusterIdentity = serde_json::from_slice(&bytes)?;
    let Some(cert) = identity.node_cert() else {
        return Ok(false);
    };
    let fingerprint = cert
        .fingerprint()
        .map_err(|e| CoreError::Internal(e.to_string()))?;
    let now = unix_now();
    let mut list = load(core).await?;
    list.add(
        Revoked {
            node_id: node_id.to_owned(),
            fingerprint,
            not_after: cert.not_after,
            revoked_at: now,
        },
        now,
    );
    core.cluster_tls_put(REVOKED_NAME, serde_json::to_vec(&list)?)
        .await?;
    ha.cluster
        .set_revoked(list.fingerprints())
        .map_err(|e| CoreError::Internal(e.to_string()))?;
    tracing::info!(
        node = node_id,
        "revoked the removed node's cluster certificate"
    );
    Ok(true)
}

/// Keeps this node's cluster port in step with the replicated list (kept by the activation
/// loop; call only on an unsealed node).
#[derive(Debug, Default)]
pub(crate) struct RevocationSync {
    last_check: Option<Instant>,
}

impl RevocationSync {
    /// Reloads the list when [`SYNC_INTERVAL`] has passed since the last look.
    pub(crate) async fn tick(&mut self, core: &Core, ha: &HaRuntime) {
        if self
            .last_check
            .is_some_and(|at| at.elapsed() < SYNC_INTERVAL)
        {
            return;
        }
        self.last_check = Some(Instant::now());
        let result = async {
            let list = load(core).await?;
            ha.cluster
                .set_revoked(list.fingerprints())
                .map_err(|e| CoreError::Internal(e.to_string()))
        }
        .await;
        match result {
            Ok(true) => tracing::info!("applied the cluster's certificate revocation list"),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "reading the certificate revocation list"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(node: &str, fp: &str, not_after: Option<i64>) -> Revoked {
        Revoked {
            node_id: node.into(),
            fingerprint: fp.into(),
            not_after,
            revoked_at: 0,
        }
    }

    #[test]
    fn entries_are_added_once_and_dropped_after_expiry() {
        let mut list = RevocationList::default();
        list.add(entry("n2", "aa", Some(100)), 10);
        list.add(entry("n2", "aa", Some(100)), 20);
        list.add(entry("n3", "bb", None), 30);
        assert_eq!(list.entries.len(), 2);
        assert_eq!(
            list.fingerprints().get("aa").map(String::as_str),
            Some("n2")
        );
        list.add(entry("n4", "cc", Some(500)), 101);
        let fps = list.fingerprints();
        assert!(!fps.contains_key("aa"), "expired certificate dropped");
        assert!(fps.contains_key("bb") && fps.contains_key("cc"));
        let back: RevocationList =
            serde_json::from_slice(&serde_json::to_vec(&list).unwrap()).unwrap();
        assert_eq!(back, list);
    }
}
