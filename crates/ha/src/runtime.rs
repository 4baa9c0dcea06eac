//! The HA runtime of one node ([`HaRuntime`]): the core's view of the Raft cluster
//! (leadership, forwarding, joins on both sides, membership changes, step-down, autopilot),
//! implementing the core's [`Leadership`], [`Forwarding`], [`Membership`] and
//! [`AutopilotControl`]. It holds no reference to the core: the operations that need the
//! core's storage receive it as an argument, and the background tasks get it at
//! [`HaRuntime::start`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::mpsc;
use tresor_cluster::ClusterIdentity;
use tresor_core::{
    AdmittedNode, AutopilotConfiguration, AutopilotControl, AutopilotState, Core, CoreError,
    ForwardedRequest, ForwardedResponse, Forwarding, JoinAdmission, JoinChallenge, JoinParams,
    LeaderInfo, Leadership, Membership, Peer, RaftConfiguration, RaftServer, RaftSummary,
};
use tresor_raft::autopilot::AutopilotConfig;
use tresor_raft::{BarrierFailed, RaftError, RaftStore, ReadBarrier};
use zeroize::Zeroizing;

use crate::autopilot::{self, Autopilot};
use crate::cluster::{ClusterNode, REMOVED_MARKER, host_of, strip_scheme};
use crate::join_client::{JoinClient, JoinTarget};
use crate::revocation;
use crate::supervisor::Supervisor;

/// How long `sys/step-down` keeps the old leader from sending heartbeats and campaigning.
pub(crate) const STEP_DOWN_HOLD: Duration = Duration::from_secs(5);
/// How long the leader waits for an admitted learner to catch up before giving up on it
/// (autopilot promotes it later, once it is healthy and stable).
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(120);
/// How long init waits for the one-node cluster it formed to elect this node.
const INIT_LEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// Barrier name (under `core/cluster-tls/`) of the cluster CA.
pub(crate) const CA_NAME: &str = "ca";

/// Barrier name of the identity issued to `node_id`.
pub(crate) fn node_identity_name(node_id: &str) -> String {
    format!("node/{node_id}")
}

/// Timers of the runtime's background work (defaults: what a production node uses).
#[derive(Clone, Debug)]
pub struct RuntimeOptions {
    /// Pause between rounds of join attempts (`retry_join`).
    pub retry_join_interval: Duration,
    /// How often the active node runs autopilot.
    pub autopilot_interval: Duration,
    /// Autopilot's configuration until an operator stores one.
    pub autopilot_defaults: AutopilotConfig,
    /// How often the activation loop looks at the core when Raft reports nothing new (seal
    /// and unseal do not show in Raft's metrics).
    pub activation_poll: Duration,
    /// Whether standbys answer reads themselves, linearizably (see `tresor_core`'s standby
    /// module); `false` (`disable_standby_reads`) forwards every request to the active node.
    pub standby_reads: bool,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            retry_join_interval: Duration::from_secs(1),
            autopilot_interval: Duration::from_secs(1),
            autopilot_defaults: AutopilotConfig::default(),
            activation_poll: Duration::from_millis(200),
            standby_reads: true,
        }
    }
}

/// The HA runtime: adapts a [`RaftStore`] and the cluster port to the core's traits.
pub struct HaRuntime {
    pub(crate) raft: Arc<RaftStore>,
    pub(crate) cluster: Arc<ClusterNode>,
    pub(crate) options: RuntimeOptions,
    /// Runs every background task (and is stopped by the node's shutdown).
    pub(crate) supervisor: Supervisor,
    /// Whether this node may campaign in elections (mirrors openraft's runtime switch).
    electing: AtomicBool,
    /// The [`Core::activation_count`] this node last took its cluster identity for.
    identity_generation: std::sync::atomic::AtomicU64,
    /// Until when a step-down holds this node back (the activation loop ends the hold).
    stepping_down: Mutex<Option<Instant>>,
    /// Join targets handed to the retry-join task (it starts with the runtime).
    retry_tx: mpsc::UnboundedSender<Vec<JoinTarget>>,
    retry_rx: Mutex<Option<mpsc::UnboundedReceiver<Vec<JoinTarget>>>>,
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
    /// Standby: coalesces the ReadIndex rounds that precede its own answers to reads.
    read_index: crate::read_index::ReadIndexRounds,
}

/// Why a coalesced round (a leadership confirmation, or a standby's read index) failed.
#[derive(Debug)]
enum RoundError {
    /// The round this request ran failed.
    Round(String),
    /// The round that covered this request (run by another request) failed.
    Covered,
}

impl From<BarrierFailed> for RoundError {
    fn from(_: BarrierFailed) -> Self {
        RoundError::Covered
    }
}

impl From<crate::read_index::RoundFailed> for RoundError {
    fn from(_: crate::read_index::RoundFailed) -> Self {
        RoundError::Covered
    }
}

fn internal(e: impl std::fmt::Display) -> CoreError {
    CoreError::Internal(e.to_string())
}

impl std::fmt::Debug for HaRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HaRuntime")
            .field("node_id", &self.raft.node_id())
            .field("electing", &self.elections_enabled())
            .finish_non_exhaustive()
    }
}

impl HaRuntime {
    /// A runtime over `raft` using `cluster` for node-to-node traffic. `electing` is the
    /// election switch Raft was opened with; `supervisor` runs its tasks.
    pub(crate) fn new(
        raft: Arc<RaftStore>,
        cluster: Arc<ClusterNode>,
        timing: tresor_raft::Timing,
        electing: bool,
        options: RuntimeOptions,
        supervisor: Supervisor,
    ) -> Arc<Self> {
        if raft.data_dir().join(REMOVED_MARKER).exists() {
            tracing::warn!("this node was removed from its raft cluster; it will not campaign");
            cluster.mark_removed();
        }
        let (retry_tx, retry_rx) = mpsc::unbounded_channel();
        Arc::new(Self {
            quorum_stale_ms: timing.election_max_ms.saturating_mul(2),
            // Half the followers' lease (one maximum election timeout): the other half is a
            // margin for clock-rate differences between hosts.
            read_barrier: ReadBarrier::with_lease(Duration::from_millis(
                timing.election_max_ms / 2,
            )),
            confirm_timeout: Duration::from_millis(timing.election_max_ms.max(500)),
            read_index: Default::default(),
            raft,
            cluster,
            options,
            supervisor,
            electing: AtomicBool::new(electing),
            identity_generation: std::sync::atomic::AtomicU64::new(0),
            stepping_down: Mutex::new(None),
            retry_tx,
            retry_rx: Mutex::new(Some(retry_rx)),
            joining: Mutex::new(None),
            autopilot: Autopilot::default(),
            was_member: AtomicBool::new(false),
        })
    }

    /// The Raft store under this runtime.
    pub fn raft(&self) -> &Arc<RaftStore> {
        &self.raft
    }

    /// Whether this node has a cluster identity (certificate) installed.
    pub fn has_cluster_identity(&self) -> bool {
        self.cluster.has_identity()
    }

    /// Starts the background work that drives `core` from the Raft state: activation
    /// (with certificate rotation and revocation sync), autopilot and retry-join (first with
    /// `retry_join`, later with the targets of `sys/storage/raft/join` calls that retry).
    /// Every task runs under the runtime's supervisor and holds `core` until it stops. Only
    /// the first call starts anything.
    pub fn start(self: &Arc<Self>, core: Arc<Core>, retry_join: Vec<JoinTarget>) {
        // The retry-join receiver is taken once: it doubles as the "started" flag.
        let Some(rx) = self
            .retry_rx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        else {
            tracing::warn!("the HA runtime was already started");
            return;
        };
        let sup = &self.supervisor;
        sup.spawn(
            "activation",
            crate::activation::run(core.clone(), self.clone(), sup.token()),
        );
        sup.spawn(
            "autopilot",
            crate::autopilot::run(core.clone(), self.clone(), sup.token()),
        );
        sup.spawn(
            "retry_join",
            retry_join_requests(self.clone(), core, rx, sup.token()),
        );
        if !retry_join.is_empty() {
            let _ = self.retry_tx.send(retry_join);
        }
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

    /// The activation whose cluster identity is installed (0: none yet).
    pub(crate) fn identity_generation(&self) -> u64 {
        self.identity_generation.load(Ordering::Acquire)
    }

    /// Records that the identity of activation `g` is installed.
    pub(crate) fn set_identity_generation(&self, g: u64) {
        self.identity_generation.store(g, Ordering::Release);
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
        self.stepping_down
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// Ends a step-down whose hold has passed: heartbeats resume, and elections too unless
    /// `sealed` (a sealed node stays out; the activation loop decides then).
    pub(crate) fn end_step_down_hold(&self, sealed: bool) {
        let mut hold = self.stepping_down.lock().unwrap_or_else(|e| e.into_inner());
        if hold.is_none_or(|until| Instant::now() < until) {
            return;
        }
        *hold = None;
        drop(hold);
        self.raft.raft().runtime_config().heartbeat(true);
        if !sealed && self.cluster.has_identity() {
            self.set_elections(true);
        }
    }

    /// Whether elections are currently allowed on this node.
    pub fn elections_enabled(&self) -> bool {
        self.electing.load(Ordering::Acquire)
    }

    /// Leader: removes `server_id` from the configuration, tells it so (best effort, bounded
    /// by the notice timeout) and then revokes its cluster certificate, so that it can no
    /// longer talk to any node's cluster port.
    pub(crate) async fn remove_and_notify(
        &self,
        core: &Core,
        server_id: &str,
    ) -> Result<(), CoreError> {
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
        revocation::revoke_node(core, self, server_id)
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
impl Leadership for HaRuntime {
    fn is_active(&self) -> bool {
        if !self.raft.is_leader() {
            return false;
        }
        // A leader of several voters must have heard from a quorum recently. No quorum
        // acknowledgement at all means it has not (yet) in this term: openraft restores a
        // restarted node as leader of its old term before it learns of a newer one.
        !self.raft.has_other_voters()
            || self
                .raft
                .quorum_ack_age_ms()
                .is_some_and(|ms| ms <= self.quorum_stale_ms)
    }

    async fn confirm_leadership(&self) -> Result<(), CoreError> {
        if !self.raft.has_other_voters() {
            return Ok(());
        }
        let raft = self.raft.raft().clone();
        let timeout = self.confirm_timeout;
        let round = || async move {
            match tokio::time::timeout(timeout, raft.ensure_linearizable()).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(RoundError::Round(e.to_string())),
                Err(_) => Err(RoundError::Round(format!(
                    "no quorum acknowledged leadership within {timeout:?}"
                ))),
            }
        };
        self.read_barrier.confirm(round).await.map_err(|e| {
            if let RoundError::Round(reason) = &e {
                tracing::warn!(%reason, "leadership not confirmed; refusing requests until it is");
            }
            CoreError::LeadershipUnconfirmed
        })
    }

    fn serves_standby_reads(&self) -> bool {
        self.options.standby_reads && self.cluster.has_identity() && !self.removed_from_cluster()
    }

    async fn standby_read_index(&self) -> Result<u64, CoreError> {
        let (leader_id, leader) = self
            .raft
            .leader()
            .filter(|(id, _)| id != self.raft.node_id())
            .ok_or(CoreError::Standby { leader: None })?;
        let unavailable = || CoreError::Standby {
            leader: Some(leader.api_addr.clone()),
        };
        let timeout = self.confirm_timeout;
        let round = || async {
            match tokio::time::timeout(timeout, self.cluster.read_index(&leader.cluster_addr)).await
            {
                Ok(Ok(index)) => Ok(index),
                Ok(Err(e)) => Err(RoundError::Round(e.to_string())),
                Err(_) => Err(RoundError::Round(format!(
                    "the active node gave no read index within {timeout:?}"
                ))),
            }
        };
        let index = self.read_index.index(round).await.map_err(|e| {
            if let RoundError::Round(reason) = &e {
                tracing::debug!(%reason, leader = %leader_id, "read index round failed");
            }
            unavailable()
        })?;
        // Usually applied already; otherwise wait for Raft to report it.
        if self.raft.applied_index_now() < index {
            self.raft
                .raft()
                .wait(Some(timeout))
                .applied_index_at_least(Some(index), "standby read")
                .await
                .map_err(|e| {
                    tracing::debug!(error = %e, index, "standby did not apply the read index in time");
                    unavailable()
                })?;
        }
        Ok(self.raft.watched_keys().generation())
    }

    fn active_contact(&self) -> Option<(u64, bool)> {
        if self.raft.is_leader() {
            return None;
        }
        // Never contacted since start counts as long ago as the store has been open.
        let ms = self.raft.millis_since_leader_contact().unwrap_or(u64::MAX);
        Some((ms, ms <= self.quorum_stale_ms))
    }

    fn watch_keys(&self, patterns: Vec<String>) {
        self.raft.watched_keys().set(patterns);
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
        {
            let mut hold = self.stepping_down.lock().unwrap_or_else(|e| e.into_inner());
            if hold.is_some() {
                return;
            }
            *hold = Some(Instant::now() + STEP_DOWN_HOLD);
        }
        self.raft.raft().runtime_config().heartbeat(false);
        self.set_elections(false);
        self.read_barrier.expire_lease();
        tracing::info!(hold = ?STEP_DOWN_HOLD, "stepping down: heartbeats and elections paused");
    }

    fn raft_summary(&self) -> Option<RaftSummary> {
        Some(RaftSummary {
            peers: self.raft.members().len(),
            leader: self.raft.is_leader(),
        })
    }

    async fn refresh_raft_metrics(&self) {
        self.raft.refresh_metrics().await;
    }
}

#[async_trait::async_trait]
impl Forwarding for HaRuntime {
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
}

#[async_trait::async_trait]
impl Membership for HaRuntime {
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
        self.enable_elections();
        self.raft.bootstrap_single().await.map_err(map_raft)?;
        self.raft
            .wait_for_leader(INIT_LEADER_TIMEOUT)
            .await
            .map_err(map_raft)?;
        Ok(())
    }

    async fn join(&self, core: &Core, params: JoinParams) -> Result<(), CoreError> {
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
                self.retry_tx
                    .send(vec![JoinTarget::Fixed(client)])
                    .map_err(|_| CoreError::Internal("the retry-join task has stopped".into()))?;
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        self.accept_challenge(core, client, challenge).await
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

    async fn admit(&self, core: &Core, node: JoinAdmission) -> Result<AdmittedNode, CoreError> {
        // A join can arrive right after this node became active, before the activation task
        // created the cluster CA: both get (or create) the one CA under the core's lock.
        let ca = cluster_ca(core).await?;
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
        autopilot::set_permanent_non_voter(core, &node.server_id, node.non_voter).await?;
        let raft = self.raft.clone();
        let id = node.server_id.clone();
        let non_voter = node.non_voter;
        let token = self.supervisor.token();
        // Joins only add a learner; autopilot promotes it once it is healthy and stable.
        self.supervisor.spawn("add_learner", async move {
            let add = tokio::time::timeout(CATCH_UP_TIMEOUT, raft.add_learner(&id, info));
            tokio::select! {
                _ = token.cancelled() => {}
                added = add => match added {
                    Ok(Ok(())) => tracing::info!(node = %id, non_voter, "node joined as a non-voter"),
                    Ok(Err(e)) => tracing::warn!(node = %id, error = %e, "adding learner failed"),
                    Err(_) => tracing::warn!(node = %id, "learner did not catch up in time"),
                },
            }
            Ok::<(), CoreError>(())
        });
        let peers = self
            .raft
            .members()
            .into_iter()
            .map(|m| Peer {
                node_id: m.node_id,
                cluster_addr: m.cluster_addr,
            })
            .collect();
        Ok(AdmittedNode {
            identity: bytes,
            peers,
        })
    }

    async fn configuration(&self) -> Result<RaftConfiguration, CoreError> {
        let index = self.raft.metrics().await.commit_index.unwrap_or_default();
        let servers = self
            .raft
            .members()
            .into_iter()
            .map(|m| RaftServer {
                address: strip_scheme(&m.cluster_addr),
                node_id: m.node_id,
                leader: m.leader,
                protocol_version: "3".into(),
                voter: m.voter,
            })
            .collect();
        Ok(RaftConfiguration { index, servers })
    }

    async fn remove_peer(&self, core: &Core, server_id: &str) -> Result<(), CoreError> {
        self.remove_and_notify(core, server_id).await
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
}

#[async_trait::async_trait]
impl AutopilotControl for HaRuntime {
    async fn config(&self, core: &Core) -> Result<AutopilotConfiguration, CoreError> {
        let c = autopilot::load_config(core, &self.options.autopilot_defaults).await?;
        Ok(autopilot::configuration_of(&c))
    }

    async fn set_config(
        &self,
        core: &Core,
        body: serde_json::Map<String, Value>,
    ) -> Result<(), CoreError> {
        autopilot::update_config(core, &self.options.autopilot_defaults, &body).await
    }

    async fn state(&self, core: &Core) -> Result<AutopilotState, CoreError> {
        self.autopilot.state(core, self).await
    }
}

/// The retry-join task: runs one retry loop per list of targets it receives (from the
/// configuration's `retry_join` at start, or a `sys/storage/raft/join` call with `retry`)
/// until `shutdown`.
async fn retry_join_requests(
    ha: Arc<HaRuntime>,
    core: Arc<Core>,
    mut requests: mpsc::UnboundedReceiver<Vec<JoinTarget>>,
    shutdown: tokio_util::sync::CancellationToken,
) -> Result<(), CoreError> {
    loop {
        let targets = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            next = requests.recv() => match next {
                Some(t) => t,
                None => return Ok(()),
            },
        };
        let (ha2, core2, token) = (ha.clone(), core.clone(), shutdown.clone());
        ha.supervisor.spawn("retry_join_loop", async move {
            tokio::select! {
                _ = token.cancelled() => {}
                _ = ha2.retry_join(&core2, targets) => {}
            }
            Ok::<(), CoreError>(())
        });
    }
}

impl HaRuntime {
    /// Tries each leader in turn every [`RuntimeOptions::retry_join_interval`] until one
    /// hands out a challenge (or this node is initialized some other way).
    async fn retry_join(&self, core: &Core, targets: Vec<JoinTarget>) {
        loop {
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
                    Ok(c) => match self.accept_challenge(core, client.clone(), c).await {
                        Ok(()) => return,
                        Err(e) => tracing::warn!(error = %e, "join refused locally"),
                    },
                    Err(e) => {
                        tracing::info!(leader = %client.leader(), error = %e, "join attempt failed; will retry")
                    }
                }
            }
            tokio::time::sleep(self.options.retry_join_interval).await;
        }
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
