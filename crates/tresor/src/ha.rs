//! The core's view of the Raft cluster ([`RaftHa`]): leadership, forwarding, joins (both
//! sides), membership changes and step-down.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use serde_json::{Value, json};
use tresor_cluster::ClusterIdentity;
use tresor_core::{
    AdmittedNode, Core, CoreError, ForwardedRequest, ForwardedResponse, HaStatus, JoinAdmission,
    JoinChallenge, JoinParams, LeaderInfo,
};
use tresor_raft::{BarrierFailed, RaftError, RaftStore, ReadBarrier};
use zeroize::Zeroizing;

use crate::autopilot::{self, Autopilot};
use crate::cluster::{ClusterNode, REMOVED_MARKER, host_of, strip_scheme};
use crate::join_client::{JoinClient, JoinTarget};
use crate::revocation;

/// How long `sys/step-down` keeps the old leader from sending heartbeats and campaigning.
pub(crate) const STEP_DOWN_HOLD: Duration = Duration::from_secs(5);
/// How long the leader waits for an admitted learner to catch up before giving up on it
/// (autopilot promotes it later, once it is healthy and stable).
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(120);
/// Pause between rounds of join attempts.
pub(crate) const RETRY_JOIN_INTERVAL: Duration = Duration::from_secs(1);
/// How long init waits for the one-node cluster it formed to elect this node.
const INIT_LEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// Barrier name (under `core/cluster-tls/`) of the cluster CA.
pub(crate) const CA_NAME: &str = "ca";

/// Barrier name of the identity issued to `node_id`.
pub(crate) fn node_identity_name(node_id: &str) -> String {
    format!("node/{node_id}")
}

/// Adapts a [`RaftStore`] and the cluster port to the core's [`HaStatus`].
pub(crate) struct RaftHa {
    pub(crate) raft: Arc<RaftStore>,
    pub(crate) cluster: Arc<ClusterNode>,
    core: OnceLock<Weak<Core>>,
    me: Weak<RaftHa>,
    /// Whether this node may campaign in elections (mirrors openraft's runtime switch).
    electing: AtomicBool,
    /// Set while a step-down holds this node back.
    stepping_down: AtomicBool,
    /// The leader a join in progress talks to.
    joining: Mutex<Option<JoinClient>>,
    /// A leader of several voters that has not heard from a quorum for this long no longer
    /// reports itself active (it may have been deposed behind a partition).
    quorum_stale_ms: u64,
    /// Promotions and dead-server cleanup on the active node.
    pub(crate) autopilot: Autopilot,
    /// Set once this node has seen itself in the configuration (a joiner replaying older
    /// configurations that predate it is not "removed").
    was_member: AtomicBool,
    /// Coalesces the leadership confirmations that precede every answer of the active node,
    /// and holds the read lease a successful one grants.
    read_barrier: ReadBarrier,
    /// How long one confirmation round may take before the request is refused as retriable.
    confirm_timeout: Duration,
}

/// Why a leadership confirmation failed.
#[derive(Debug)]
enum ConfirmError {
    /// The round this request ran failed.
    Round(String),
    /// The round that covered this request (run by another request) failed.
    Covered,
}

impl From<BarrierFailed> for ConfirmError {
    fn from(_: BarrierFailed) -> Self {
        ConfirmError::Covered
    }
}

fn internal(e: impl std::fmt::Display) -> CoreError {
    CoreError::Internal(e.to_string())
}

impl RaftHa {
    /// A view of `raft` using `cluster` for node-to-node traffic.
    pub(crate) fn new(
        raft: Arc<RaftStore>,
        cluster: Arc<ClusterNode>,
        timing: tresor_raft::Timing,
    ) -> Arc<Self> {
        if raft.data_dir().join(REMOVED_MARKER).exists() {
            tracing::warn!("this node was removed from its raft cluster; it will not campaign");
            cluster.mark_removed();
        }
        Arc::new_cyclic(|me| Self {
            quorum_stale_ms: timing.election_max_ms.saturating_mul(2),
            // Half the followers' lease (one maximum election timeout): the other half is a
            // margin for clock-rate differences between hosts.
            read_barrier: ReadBarrier::with_lease(Duration::from_millis(
                timing.election_max_ms / 2,
            )),
            confirm_timeout: Duration::from_millis(timing.election_max_ms.max(500)),
            raft,
            cluster,
            core: OnceLock::new(),
            me: me.clone(),
            electing: AtomicBool::new(true),
            stepping_down: AtomicBool::new(false),
            joining: Mutex::new(None),
            autopilot: Autopilot::default(),
            was_member: AtomicBool::new(false),
        })
    }

    /// Connects the core (after it was created with this view).
    pub(crate) fn set_core(&self, core: &Arc<Core>) {
        let _ = self.core.set(Arc::downgrade(core));
    }

    fn core(&self) -> Result<Arc<Core>, CoreError> {
        self.core
            .get()
            .and_then(Weak::upgrade)
            .ok_or_else(|| CoreError::Internal("core is gone".into()))
    }

    /// Leader: makes sure the cluster CA and this node's identity exist in the barrier, and
    /// installs the identity.
    pub(crate) async fn ensure_leader_identity(&self, core: &Core) -> Result<(), CoreError> {
        let ca = cluster_ca(core).await?;
        let node_id = self.raft.node_id().to_owned();
        let name = node_identity_name(&node_id);
        let hosts = vec![host_of(&self.raft.node_info().cluster_addr)];
        let (bytes, _) = core
            .cluster_tls_get_or_create(&name, || {
                let id = ca.issue_node_identity(&node_id, &hosts).map_err(internal)?;
                Ok(serde_json::to_vec(&id)?)
            })
            .await?;
        let identity: ClusterIdentity = serde_json::from_slice(&bytes)?;
        self.cluster.install(&identity).map_err(internal)?;
        Ok(())
    }

    /// Any unsealed node: installs its identity from the (replicated) barrier, if present.
    pub(crate) async fn install_stored_identity(&self, core: &Core) -> Result<bool, CoreError> {
        let name = node_identity_name(self.raft.node_id());
        let Some(bytes) = core.cluster_tls_get(&name).await? else {
            return Ok(false);
        };
        let identity: ClusterIdentity = serde_json::from_slice(&bytes)?;
        self.cluster.install(&identity).map_err(internal)?;
        Ok(true)
    }

    /// Lets this node campaign in elections again.
    pub(crate) fn enable_elections(&self) {
        self.set_elections(true);
    }

    /// Allows or forbids this node to campaign (a sealed member of a larger cluster must not
    /// lead it).
    pub(crate) fn set_elections(&self, on: bool) {
        if self.electing.swap(on, Ordering::AcqRel) != on {
            self.raft.raft().runtime_config().elect(on);
        }
    }

    /// Whether a step-down is holding this node back from elections.
    pub(crate) fn stepping_down(&self) -> bool {
        self.stepping_down.load(Ordering::Acquire)
    }

    /// Whether elections are currently allowed on this node.
    pub(crate) fn elections_enabled(&self) -> bool {
        self.electing.load(Ordering::Acquire)
    }

    /// Leader: removes `server_id` from the configuration, tells it so (best effort, bounded
    /// by the notice timeout) and then revokes its cluster certificate, so that it can no
    /// longer talk to any node's cluster port.
    pub(crate) async fn remove_and_notify(&self, server_id: &str) -> Result<(), CoreError> {
        let addr = self
            .raft
            .members()
            .into_iter()
            .find(|m| m.node_id == server_id)
            .map(|m| m.cluster_addr);
        self.raft.remove_node(server_id).await.map_err(map_raft)?;
        if server_id == self.raft.node_id() {
            self.mark_removed();
        } else if let Some(addr) = addr {
            // The notice needs the node's certificate: deliver it before the revocation.
            self.cluster.notify_removed(server_id, &addr).await;
        }
        let core = self.core()?;
        revocation::revoke_node(&core, self, server_id)
            .await
            .map_err(|e| {
                tracing::error!(node = server_id, error = %e, "revoking the removed node's certificate failed");
                CoreError::Internal(format!(
                    "peer {server_id} was removed but revoking its cluster certificate failed: {e}"
                ))
            })?;
        Ok(())
    }

    /// Records that this node left the cluster (in memory and in the data directory).
    fn mark_removed(&self) {
        self.cluster.mark_removed();
        if let Err(e) = std::fs::write(self.raft.data_dir().join(REMOVED_MARKER), b"removed\n") {
            tracing::warn!(error = %e, "could not write the removed-from-cluster marker");
        }
    }

    /// Whether the cluster configuration has more voters than this node.
    pub(crate) fn has_other_voters(&self) -> bool {
        self.raft
            .members()
            .iter()
            .any(|m| m.voter && m.node_id != self.raft.node_id())
    }
}

/// The cluster CA, created (once, see [`Core::cluster_tls_get_or_create`]) if the cluster has
/// none yet. Active node only when it must be created.
pub(crate) async fn cluster_ca(core: &Core) -> Result<ClusterIdentity, CoreError> {
    let (bytes, created) = core
        .cluster_tls_get_or_create(CA_NAME, || {
            let ca = ClusterIdentity::generate_ca("tresor-cluster").map_err(internal)?;
            Ok(serde_json::to_vec(&ca)?)
        })
        .await?;
    if created {
        tracing::info!("cluster CA created");
    }
    Ok(serde_json::from_slice(&bytes)?)
}

fn map_raft(e: RaftError) -> CoreError {
    match e {
        RaftError::NotLeader { leader } => CoreError::Standby { leader },
        RaftError::UnknownNode(n) => CoreError::invalid(format!("unknown peer {n:?}")),
        other => CoreError::Storage(other.into()),
    }
}

#[async_trait::async_trait]
impl HaStatus for RaftHa {
    fn is_active(&self) -> bool {
        if !self.raft.is_leader() {
            return false;
        }
        let rx = self.raft.raft().metrics();
        let m = rx.borrow();
        let voters = m.membership_config.membership().voter_ids().count();
        // A leader of several voters must have heard from a quorum recently. No quorum
        // acknowledgement at all means it has not (yet) in this term: openraft restores a
        // restarted node as leader of its old term before it learns of a newer one.
        voters <= 1
            || m.millis_since_quorum_ack
                .is_some_and(|ms| ms <= self.quorum_stale_ms)
    }

    async fn confirm_leadership(&self) -> Result<(), CoreError> {
        if !self.has_other_voters() {
            return Ok(());
        }
        let raft = self.raft.raft().clone();
        let timeout = self.confirm_timeout;
        let round = || async move {
            match tokio::time::timeout(timeout, raft.ensure_linearizable()).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(ConfirmError::Round(e.to_string())),
                Err(_) => Err(ConfirmError::Round(format!(
                    "no quorum acknowledged leadership within {timeout:?}"
                ))),
            }
        };
        self.read_barrier.confirm(round).await.map_err(|e| {
            if let ConfirmError::Round(reason) = &e {
                tracing::warn!(%reason, "leadership not confirmed; refusing requests until it is");
            }
            CoreError::LeadershipUnconfirmed
        })
    }

    fn leader(&self) -> Option<LeaderInfo> {
        self.raft.leader().map(|(id, node)| LeaderInfo {
            node_id: id,
            api_addr: node.api_addr,
            cluster_addr: node.cluster_addr,
        })
    }

    async fn raft_indexes(&self) -> Option<(u64, u64)> {
        let m = self.raft.metrics().await;
        Some((m.commit_index.unwrap_or(0), m.applied_index.unwrap_or(0)))
    }

    fn step_down(&self) {
        if !self.raft.is_leader() {
            return;
        }
        if self.stepping_down.swap(true, Ordering::AcqRel) {
            return;
        }
        self.raft.raft().runtime_config().heartbeat(false);
        self.set_elections(false);
        self.read_barrier.expire_lease();
        tracing::info!(hold = ?STEP_DOWN_HOLD, "stepping down: heartbeats and elections paused");
        let Some(me) = self.me.upgrade() else {
            return;
        };
        tokio::spawn(async move {
            tokio::time::sleep(STEP_DOWN_HOLD).await;
            me.raft.raft().runtime_config().heartbeat(true);
            // A sealed node stays out of elections; the activation task decides then.
            let sealed = me.core().map(|c| c.is_sealed()).unwrap_or(true);
            if !sealed && me.cluster.has_identity() {
                me.set_elections(true);
            }
            me.stepping_down.store(false, Ordering::Release);
        });
    }

    async fn forward(&self, req: ForwardedRequest) -> Result<ForwardedResponse, CoreError> {
        let leader = self
            .raft
            .leader()
            .filter(|(id, _)| id != self.raft.node_id())
            .ok_or(CoreError::Standby { leader: None })?;
        self.cluster
            .forward(&leader.1.cluster_addr, &req)
            .await
            .map_err(|e| {
                tracing::debug!(error = %e, leader = %leader.0, "forwarding failed");
                CoreError::Standby {
                    leader: Some(leader.1.api_addr.clone()),
                }
            })
    }

    async fn prepare_init(&self) -> Result<(), CoreError> {
        if self
            .joining
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
        {
            return Err(CoreError::invalid(
                "this node is joining a cluster; unseal it with the cluster's keys instead",
            ));
        }
        if self.raft.is_bootstrapped().await.map_err(map_raft)? {
            return Ok(());
        }
        // A node waiting in retry_join is initialized by the operator: it forms the cluster,
        // and its own retry_join stops (the node is bootstrapped, then initialized).
        tracing::info!("init on a node outside any raft cluster: forming a one-node cluster");
        self.raft.bootstrap_single().await.map_err(map_raft)?;
        self.raft
            .wait_for_leader(INIT_LEADER_TIMEOUT)
            .await
            .map_err(map_raft)?;
        Ok(())
    }

    async fn join(&self, params: JoinParams) -> Result<(), CoreError> {
        let core = self.core()?;
        if core.is_initialized().await? {
            return Err(CoreError::invalid(
                "node is already initialized; it cannot join another cluster",
            ));
        }
        if self.raft.is_bootstrapped().await.map_err(map_raft)? {
            return Err(CoreError::invalid(
                "node is already a member of a raft cluster",
            ));
        }
        let client = JoinClient::new(&params, self.raft.node_info().clone())?;
        let challenge = match client.challenge().await {
            Ok(c) => c,
            Err(e) if params.retry => {
                tracing::warn!(error = %e, "join attempt failed; retrying in the background");
                if let Some(me) = self.me.upgrade() {
                    me.spawn_retry_join(vec![JoinTarget::Fixed(client)]);
                }
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        self.accept_challenge(&core, client, challenge).await
    }

    async fn complete_join(&self, answer: String) -> Result<String, CoreError> {
        let client = self
            .joining
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| CoreError::invalid("no join in progress"))?;
        client.answer(&answer).await
    }

    async fn install_joined_identity(&self, identity: Zeroizing<Vec<u8>>) -> Result<(), CoreError> {
        let identity: ClusterIdentity = serde_json::from_slice(&identity)?;
        self.cluster.install(&identity).map_err(internal)?;
        self.enable_elections();
        Ok(())
    }

    async fn admit(&self, node: JoinAdmission) -> Result<AdmittedNode, CoreError> {
        let core = self.core()?;
        // A join can arrive right after this node became active, before the activation task
        // created the cluster CA: both get (or create) the one CA under the core's lock.
        let ca = cluster_ca(&core).await?;
        let hosts = vec![host_of(&node.cluster_addr)];
        let identity = ca
            .issue_node_identity(&node.server_id, &hosts)
            .map_err(internal)?;
        let bytes = Zeroizing::new(serde_json::to_vec(&identity)?);
        core.cluster_tls_put(&node_identity_name(&node.server_id), bytes.to_vec())
            .await?;
        let info = tresor_raft::NodeInfo {
            node_id: node.server_id.clone(),
            api_addr: node.api_addr.clone(),
            cluster_addr: node.cluster_addr.clone(),
        };
        autopilot::set_permanent_non_voter(&core, &node.server_id, node.non_voter).await?;
        let raft = self.raft.clone();
        let id = node.server_id.clone();
        let non_voter = node.non_voter;
        // Joins only add a learner; autopilot promotes it once it is healthy and stable.
        tokio::spawn(async move {
            match tokio::time::timeout(CATCH_UP_TIMEOUT, raft.add_learner(&id, info)).await {
                Ok(Ok(())) => tracing::info!(node = %id, non_voter, "node joined as a non-voter"),
                Ok(Err(e)) => tracing::warn!(node = %id, error = %e, "adding learner failed"),
                Err(_) => tracing::warn!(node = %id, "learner did not catch up in time"),
            }
        });
        let peers = self
            .raft
            .members()
            .into_iter()
            .map(|m| json!({"node_id": m.node_id, "cluster_addr": m.cluster_addr}))
            .collect();
        Ok(AdmittedNode {
            identity: bytes,
            peers: Value::Array(peers),
        })
    }

    async fn raft_configuration(&self) -> Result<Value, CoreError> {
        let index = self.raft.metrics().await.commit_index.unwrap_or_default();
        let servers: Vec<Value> = self
            .raft
            .members()
            .into_iter()
            .map(|m| {
                json!({
                    "node_id": m.node_id,
                    "address": strip_scheme(&m.cluster_addr),
                    "leader": m.leader,
                    "protocol_version": "3",
                    "voter": m.voter,
                })
            })
            .collect();
        Ok(json!({ "config": { "index": index, "servers": servers } }))
    }

    async fn remove_peer(&self, server_id: &str) -> Result<(), CoreError> {
        self.remove_and_notify(server_id).await
    }

    fn removed_from_cluster(&self) -> bool {
        if self.cluster.is_removed() {
            return true;
        }
        // A member that no longer finds itself in the configuration it knows.
        let rx = self.raft.raft().metrics();
        let m = rx.borrow();
        let member = m
            .membership_config
            .membership()
            .get_node(&tresor_raft::node_id_of(self.raft.node_id()))
            .is_some();
        if member {
            self.was_member.store(true, Ordering::Release);
        }
        !member && self.was_member.load(Ordering::Acquire)
    }

    async fn autopilot_configuration(&self) -> Result<Value, CoreError> {
        Ok(autopilot::load_config(&*self.core()?).await?.to_json())
    }

    async fn set_autopilot_configuration(
        &self,
        body: serde_json::Map<String, Value>,
    ) -> Result<(), CoreError> {
        autopilot::update_config(&*self.core()?, &body).await
    }

    async fn autopilot_state(&self) -> Result<Value, CoreError> {
        self.autopilot.state(&*self.core()?, self).await
    }
}

impl RaftHa {
    /// Tries each leader in turn every [`RETRY_JOIN_INTERVAL`] until one hands out a
    /// challenge (or this node is initialized some other way).
    pub(crate) fn spawn_retry_join(self: Arc<Self>, targets: Vec<JoinTarget>) {
        tokio::spawn(async move {
            loop {
                let Ok(core) = self.core() else { return };
                if core.has_pending_join()
                    || self.raft.is_bootstrapped().await.unwrap_or(false)
                    || core.is_initialized().await.unwrap_or(false)
                {
                    tracing::info!("retry_join stops: this node is in a raft cluster");
                    return;
                }
                let mut clients = Vec::new();
                for target in &targets {
                    clients.extend(target.clients(self.raft.node_info()).await);
                }
                for client in &clients {
                    match client.challenge().await {
                        Ok(c) => match self.accept_challenge(&core, client.clone(), c).await {
                            Ok(()) => return,
                            Err(e) => tracing::warn!(error = %e, "join refused locally"),
                        },
                        Err(e) => {
                            tracing::info!(leader = %client.leader(), error = %e, "join attempt failed; will retry")
                        }
                    }
                }
                drop(core);
                tokio::time::sleep(RETRY_JOIN_INTERVAL).await;
            }
        });
    }

    async fn accept_challenge(
        &self,
        core: &Core,
        client: JoinClient,
        challenge: JoinChallenge,
    ) -> Result<(), CoreError> {
        // Init on this node formed a cluster of its own after the challenge was fetched.
        if self.raft.is_bootstrapped().await.map_err(map_raft)? {
            return Err(CoreError::invalid(
                "node is already a member of a raft cluster",
            ));
        }
        core.set_pending_join(self.raft.node_id(), challenge)
            .await?;
        *self.joining.lock().unwrap_or_else(|e| e.into_inner()) = Some(client);
        tracing::info!("join challenge received; unseal this node with the cluster's keys");
        Ok(())
    }
}
