//! Keeps the cluster's self-issued node certificates fresh. Node certificates live 90 days;
//! the active node reissues any member's certificate once two thirds of its validity have
//! passed and stores it in the (replicated) barrier, and every unsealed node installs its
//! own stored certificate when it changes. Operator-supplied certificates (a CA without its
//! key here) are never rotated.

use std::time::{Duration, Instant};

use tresor_cluster::ClusterIdentity;
use tresor_core::{Core, CoreError, Leadership};

use crate::cluster::host_of;
use crate::runtime::{CA_NAME, HaRuntime, node_identity_name};

/// How often the active node looks for certificates due for rotation, and every node for a
/// newer certificate of its own.
const CHECK_INTERVAL: Duration = Duration::from_secs(60);

/// The per-node state of the rotation checks (kept by the activation loop).
#[derive(Debug, Default)]
pub(crate) struct CertRotation {
    last_check: Option<Instant>,
    /// The certificate (PEM) this node installed last.
    installed_pem: Option<String>,
}

/// Members whose stored identity carries a certificate due for rotation at `now` (Unix
/// seconds).
fn due(identities: &[(String, ClusterIdentity)], now: i64) -> Vec<&str> {
    identities
        .iter()
        .filter(|(_, id)| id.node_cert().is_some_and(|c| c.needs_rotation(now)))
        .map(|(node, _)| node.as_str())
        .collect()
}

pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl CertRotation {
    /// Runs the checks when [`CHECK_INTERVAL`] has passed since the last run. Call only on an
    /// unsealed node.
    pub(crate) async fn tick(&mut self, core: &Core, ha: &HaRuntime) {
        if self
            .last_check
            .is_some_and(|at| at.elapsed() < CHECK_INTERVAL)
        {
            return;
        }
        self.last_check = Some(Instant::now());
        if ha.is_active()
            && let Err(e) = reissue_due(core, ha).await
        {
            tracing::warn!(error = %e, "cluster certificate rotation failed; will retry");
        }
        if let Err(e) = self.install_newer(core, ha).await {
            tracing::warn!(error = %e, "installing the rotated cluster certificate failed");
        }
    }

    async fn install_newer(&mut self, core: &Core, ha: &HaRuntime) -> Result<(), CoreError> {
        let name = node_identity_name(ha.raft.node_id());
        let Some(bytes) = core.cluster_tls_get(&name).await? else {
            return Ok(());
        };
        let identity: ClusterIdentity = serde_json::from_slice(&bytes)?;
        let Some(pem) = identity.node_cert().map(|c| c.cert_pem.clone()) else {
            return Ok(());
        };
        match &self.installed_pem {
            // The first look records what activation installed at unseal.
            None => self.installed_pem = Some(pem),
            Some(current) if *current == pem => {}
            Some(_) => {
                ha.cluster
                    .install(&identity)
                    .map_err(|e| CoreError::Internal(e.to_string()))?;
                tracing::info!("installed this node's rotated cluster certificate");
                self.installed_pem = Some(pem);
            }
        }
        Ok(())
    }
}

/// Active node: reissues every member certificate that is due and stores it.
async fn reissue_due(core: &Core, ha: &HaRuntime) -> Result<usize, CoreError> {
    let Some(ca_bytes) = core.cluster_tls_get(CA_NAME).await? else {
        return Ok(0);
    };
    let ca: ClusterIdentity = serde_json::from_slice(&ca_bytes)?;
    if !ca.can_issue() {
        return Ok(0);
    }
    let members = ha.raft.members();
    let mut identities = Vec::new();
    for m in &members {
        if let Some(bytes) = core
            .cluster_tls_get(&node_identity_name(&m.node_id))
            .await?
        {
            identities.push((m.node_id.clone(), serde_json::from_slice(&bytes)?));
        }
    }
    let now = unix_now();
    let mut rotated = 0;
    for node in due(&identities, now) {
        let Some(member) = members.iter().find(|m| m.node_id == node) else {
            continue;
        };
        let fresh = ca
            .issue_node_identity(node, &[host_of(&member.cluster_addr)])
            .map_err(|e| CoreError::Internal(e.to_string()))?;
        core.cluster_tls_put(&node_identity_name(node), serde_json::to_vec(&fresh)?)
            .await?;
        tracing::info!(
            node,
            "reissued a cluster certificate past two thirds of its life"
        );
        rotated += 1;
    }
    Ok(rotated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_certificates_past_two_thirds_of_their_life_are_due() {
        let ca = ClusterIdentity::generate_ca("c").unwrap();
        let id = ca.issue_node_identity("n1", &["127.0.0.1".into()]).unwrap();
        let cert = id.node_cert().unwrap().clone();
        let (start, end) = (cert.not_before.unwrap(), cert.not_after.unwrap());
        let identities = vec![
            ("n1".to_owned(), id.clone()),
            ("n2".to_owned(), ca.without_ca_key()),
        ];
        assert!(due(&identities, start + 1).is_empty());
        let two_thirds = start + (end - start) / 3 * 2;
        assert!(due(&identities, two_thirds - 10).is_empty());
        assert_eq!(due(&identities, two_thirds), vec!["n1"]);
        assert_eq!(due(&identities, end + 1), vec!["n1"]);
    }
}
