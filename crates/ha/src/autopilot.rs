//! Autopilot at run time: on the active node, about once a second, gathers each server's last
//! contact (from the cluster transport) and replicated index (from Raft metrics), judges
//! health with [`tresor_raft::autopilot`], promotes stable non-voters and removes dead
//! servers. Its configuration and the list of permanent non-voters live in the barrier.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;
use tresor_core::{AutopilotConfiguration, AutopilotState, Core, CoreError, Leadership};
use tresor_raft::autopilot::{Action, AutopilotConfig, ServerFacts, StabilityTracker, go_duration};
use tresor_raft::node_id_of;

use crate::cluster::strip_scheme;
use crate::runtime::HaRuntime;
/// Barrier name (under `core/raft/autopilot/`) of the configuration.
const CONFIG_NAME: &str = "configuration";
/// Barrier name of the permanent non-voters (a JSON array of node ids).
const NON_VOTERS_NAME: &str = "non-voters";

/// Autopilot's in-memory state on one node.
#[derive(Default)]
pub(crate) struct Autopilot {
    inner: Mutex<Tracking>,
}

#[derive(Default)]
struct Tracking {
    tracker: StabilityTracker,
    /// When this node started leading (contacts before that are not evidence of life).
    leading_since: Option<Instant>,
}

/// Reads the stored configuration (`defaults` when none; stored fields override them).
pub(crate) async fn load_config(
    core: &Core,
    defaults: &AutopilotConfig,
) -> Result<AutopilotConfig, CoreError> {
    let Some(bytes) = core.autopilot_get(CONFIG_NAME).await? else {
        return Ok(defaults.clone());
    };
    let Value::Object(doc) = serde_json::from_slice::<Value>(&bytes)? else {
        return Err(CoreError::Internal(
            "stored autopilot configuration is not an object".into(),
        ));
    };
    defaults
        .merged(&doc)
        .map_err(|e| CoreError::Internal(e.to_string()))
}

/// The configuration as `sys/storage/raft/autopilot/configuration` shows it.
pub(crate) fn configuration_of(c: &AutopilotConfig) -> AutopilotConfiguration {
    AutopilotConfiguration {
        cleanup_dead_servers: c.cleanup_dead_servers,
        dead_server_last_contact_threshold: go_duration(c.dead_server_last_contact_threshold),
        last_contact_threshold: go_duration(c.last_contact_threshold),
        max_trailing_logs: c.max_trailing_logs,
        min_quorum: c.min_quorum,
        server_stabilization_time: go_duration(c.server_stabilization_time),
    }
}

/// Applies the fields of `body` to the stored configuration (active node only).
pub(crate) async fn update_config(
    core: &Core,
    defaults: &AutopilotConfig,
    body: &Map<String, Value>,
) -> Result<(), CoreError> {
    let current = load_config(core, defaults).await?;
    let next = current
        .merged(body)
        .map_err(|e| CoreError::invalid(e.to_string()))?;
    core.autopilot_put(CONFIG_NAME, serde_json::to_vec(&next.to_json())?)
        .await
}

/// The permanent non-voters recorded at admission.
pub(crate) async fn permanent_non_voters(core: &Core) -> Result<BTreeSet<String>, CoreError> {
    match core.autopilot_get(NON_VOTERS_NAME).await? {
        Some(bytes) => Ok(serde_json::from_slice(&bytes)?),
        None => Ok(BTreeSet::new()),
    }
}

/// Records whether `node_id` is a permanent non-voter (active node only).
pub(crate) async fn set_permanent_non_voter(
    core: &Core,
    node_id: &str,
    non_voter: bool,
) -> Result<(), CoreError> {
    let mut set = permanent_non_voters(core).await?;
    let changed = if non_voter {
        set.insert(node_id.to_owned())
    } else {
        set.remove(node_id)
    };
    if changed {
        core.autopilot_put(NON_VOTERS_NAME, serde_json::to_vec(&set)?)
            .await?;
    }
    Ok(())
}

impl Autopilot {
    /// Forgets the tracking state (this node is not leading).
    fn reset(&self) {
        let mut t = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        *t = Tracking::default();
    }

    /// The current facts about every server of the configuration, as the leader sees them.
    fn facts(&self, ha: &HaRuntime, permanent: &BTreeSet<String>) -> Vec<ServerFacts> {
        let now = Instant::now();
        let leading_since = *self
            .inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .leading_since
            .get_or_insert(now);
        let metrics = ha.raft.raft().metrics().borrow().clone();
        let me = ha.raft.node_id();
        ha.raft
            .members()
            .into_iter()
            .map(|m| {
                let is_me = m.node_id == me;
                let matched = metrics
                    .replication
                    .as_ref()
                    .and_then(|r| r.get(&node_id_of(&m.node_id)).copied().flatten());
                let (last_index, last_term) = if is_me {
                    (metrics.last_log_index.unwrap_or(0), metrics.current_term)
                } else {
                    matched
                        .map(|l| (l.index, l.leader_id.get_term()))
                        .unwrap_or((0, 0))
                };
                let last_contact = if is_me {
                    Some(Duration::ZERO)
                } else {
                    // Never heard from since leading: count from the start of leadership.
                    let seen = ha
                        .cluster
                        .last_contact(&m.node_id)
                        .filter(|t| *t >= leading_since)
                        .unwrap_or(leading_since);
                    Some(now.saturating_duration_since(seen))
                };
                ServerFacts {
                    permanent_non_voter: permanent.contains(&m.node_id),
                    id: m.node_id,
                    address: strip_scheme(&m.cluster_addr),
                    voter: m.voter,
                    leader: is_me,
                    last_contact,
                    last_index,
                    last_term,
                }
            })
            .collect()
    }

    /// Judges every server now (updating the stability clocks).
    async fn observe(
        &self,
        core: &Core,
        ha: &HaRuntime,
    ) -> Result<(AutopilotConfig, Vec<tresor_raft::ServerHealth>), CoreError> {
        let config = load_config(core, &ha.options.autopilot_defaults).await?;
        let permanent = permanent_non_voters(core).await?;
        let facts = self.facts(ha, &permanent);
        let health = self
            .inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .tracker
            .observe(&config, &facts, SystemTime::now());
        Ok((config, health))
    }

    /// The `autopilot/state` document (active node).
    pub(crate) async fn state(
        &self,
        core: &Core,
        ha: &HaRuntime,
    ) -> Result<AutopilotState, CoreError> {
        if !ha.is_active() {
            return Err(CoreError::Standby {
                leader: ha.leader().map(|l| l.api_addr),
            });
        }
        let (_, health) = self.observe(core, ha).await?;
        // The raft layer renders the document (its tests pin every field); read it typed.
        let doc = tresor_raft::autopilot::state_json(&health, env!("CARGO_PKG_VERSION"));
        Ok(serde_json::from_value(doc)?)
    }

    /// One reconciliation round on the active node: promotions and dead-server removals.
    async fn reconcile(&self, core: &Core, ha: &HaRuntime) -> Result<(), CoreError> {
        let (config, health) = self.observe(core, ha).await?;
        for action in tresor_raft::autopilot::decide(&config, &health, SystemTime::now()) {
            match action {
                Action::Promote(id) => match ha.raft.promote(&id).await {
                    Ok(()) => tracing::info!(node = %id, "autopilot: promoted to voter"),
                    Err(e) => tracing::warn!(node = %id, error = %e, "autopilot: promotion failed"),
                },
                Action::Remove(id) => {
                    tracing::warn!(node = %id, "autopilot: removing dead server");
                    if let Err(e) = ha.remove_and_notify(core, &id).await {
                        tracing::warn!(node = %id, error = %e, "autopilot: removal failed");
                    }
                    // One removal per round: the next round sees the new configuration.
                    break;
                }
            }
        }
        Ok(())
    }
}

/// Runs autopilot until `shutdown`: reconciles every
/// [`RuntimeOptions::autopilot_interval`](crate::RuntimeOptions::autopilot_interval) while
/// this node is the unsealed active node.
pub(crate) async fn run(
    core: Arc<Core>,
    ha: Arc<HaRuntime>,
    shutdown: CancellationToken,
) -> Result<(), CoreError> {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(ha.options.autopilot_interval) => {},
        }
        if core.is_sealed() || !core.has_active_state() || !ha.is_active() {
            ha.autopilot.reset();
            continue;
        }
        if let Err(e) = ha.autopilot.reconcile(&core, &ha).await {
            tracing::debug!(error = %e, "autopilot round failed");
        }
    }
}
