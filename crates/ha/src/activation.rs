//! Drives the core from the Raft state: the leader becomes the active node (builds its state
//! fresh from storage), a node that loses leadership drops it, and an unsealed node installs
//! its cluster identity from the barrier and then takes part in elections.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tresor_core::{Core, CoreError, Leadership, Membership};

use crate::cert_rotation::CertRotation;
use crate::revocation::RevocationSync;
use crate::runtime::HaRuntime;

/// How often the active node runs the key rotation check (count writes, rotation by use).
const KEY_ROTATION_CHECK: Duration = Duration::from_secs(1);

/// Runs until `shutdown`.
pub(crate) async fn run(
    core: Arc<Core>,
    ha: Arc<HaRuntime>,
    shutdown: CancellationToken,
) -> Result<(), CoreError> {
    let mut rx = ha.raft.raft().metrics();
    let mut rotation = CertRotation::default();
    let mut revocations = RevocationSync::default();
    let mut last_key_check: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => {
                if core.is_active_node() {
                    core.persist_key_usage().await;
                }
                return Ok(());
            }
            r = rx.changed() => if r.is_err() {
                return Err(CoreError::Internal("raft stopped reporting metrics".into()));
            },
            _ = tokio::time::sleep(ha.options.activation_poll) => {},
        }
        ha.end_step_down_hold(core.is_sealed());
        step(&core, &ha).await;
        if !core.is_sealed() && ha.cluster.has_identity() {
            revocations.tick(&core, &ha).await;
            rotation.tick(&core, &ha).await;
        }
        if core.is_active_node() && last_key_check.is_none_or(|t| t.elapsed() >= KEY_ROTATION_CHECK)
        {
            last_key_check = Some(Instant::now());
            if let Err(e) = core.key_rotation_tick().await {
                tracing::warn!(error = %e, "key rotation check failed; will retry");
            }
        }
    }
}

async fn step(core: &Arc<Core>, ha: &HaRuntime) {
    if ha.removed_from_cluster() {
        // A removed node serves its local status only and never campaigns.
        ha.set_elections(false);
        if core.has_active_state() {
            core.become_standby().await;
        }
        return;
    }
    if core.is_sealed() {
        if core.has_active_state() {
            core.become_standby().await;
        }
        // A sealed member of a larger cluster hands leadership over and stays out of
        // elections until it is unsealed again.
        if ha.raft.has_other_voters() {
            if ha.raft.is_leader() && ha.elections_enabled() {
                ha.step_down();
            }
            ha.set_elections(false);
        }
        return;
    }
    if ha.cluster.has_identity() && !ha.elections_enabled() && !ha.stepping_down() {
        ha.enable_elections();
    }
    if ha.is_active() {
        if !core.has_active_state() {
            // A new leader first applies everything its log held when it won.
            if ha
                .raft
                .wait_for_leader(Duration::from_secs(2))
                .await
                .is_err()
                || !ha.is_active()
            {
                return;
            }
            // ... and confirms with a quorum that it still leads before it loads any state.
            if ha.confirm_leadership().await.is_err() {
                return;
            }
            if let Err(e) = core.become_active().await {
                tracing::error!(error = %e, "could not become the active node");
                return;
            }
        }
        // Each build of the active state (election, unseal, snapshot restore) takes the
        // identity from the barrier as it is now: after a restore with -force from another
        // cluster the barrier holds that cluster's CA, and the certificate this node had in
        // memory would no longer match the ones it issues to joining nodes.
        let generation = core.activation_count();
        if core.has_active_state() && !core.is_sealed() && ha.identity_generation() != generation {
            match ha.ensure_leader_identity(core).await {
                Ok(()) => ha.set_identity_generation(generation),
                Err(e) => tracing::error!(error = %e, "could not set up the cluster identity"),
            }
        }
        // While sealed the identity cannot be read or created; the next tick after unseal does it.
        if !ha.cluster.has_identity()
            && !core.is_sealed()
            && let Err(e) = ha.ensure_leader_identity(core).await
        {
            tracing::error!(error = %e, "could not set up the cluster identity");
        }
    } else if core.has_active_state() {
        core.become_standby().await;
    }
    if !ha.cluster.has_identity() && !core.is_sealed() {
        match ha.install_stored_identity(core).await {
            Ok(true) => {
                ha.enable_elections();
                tracing::info!("cluster identity installed; taking part in elections");
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "reading the cluster identity"),
        }
    }
}
