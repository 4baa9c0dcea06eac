//! [`RaftStore`]: opening, bootstrapping and running one node of the Raft store.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use openraft::error::{
    ChangeMembershipError, ClientWriteError, InitializeError, RaftError as OrRaftError,
};
use openraft::{ChangeMembers, Raft, RaftMetrics, ServerState};

use crate::blocking::run_blocking;
use crate::group_commit::GroupCommit;
use crate::log_store::LogStore;
use crate::state_machine::StateMachine;
use crate::transport::{NetworkFactory, dispatch};
use crate::{
    FollowerStatus, MemberInfo, NodeId, NodeInfo, RaftError, RaftOptions, RaftStatus, RpcKind,
    Transport, TypeConfig, node_id_of,
};

const STATE_FILE: &str = "state.redb";
/// How long [`RaftStore::add_learner`] waits out another membership change in progress.
const MEMBERSHIP_BUSY_WAIT: Duration = Duration::from_secs(10);
/// How often it retries meanwhile.
const MEMBERSHIP_RETRY: Duration = Duration::from_millis(50);
const SNAPSHOT_DIR: &str = "snapshots";

/// One node of the replicated store. Implements [`tresor_storage::Backend`].
pub struct RaftStore {
    pub(crate) id: NodeId,
    info: NodeInfo,
    opts: RaftOptions,
    raft: Raft<TypeConfig>,
    log: LogStore,
    pub(crate) state_db: Arc<redb::Database>,
    writer: GroupCommit,
    writer_task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    config: Arc<openraft::Config>,
    stopped: AtomicBool,
    /// When this process opened the store: votes are refused for `vote_hold` after it.
    opened: std::time::Instant,
    /// How long after opening this node refuses to vote (one maximum election timeout).
    vote_hold: std::time::Duration,
    /// Serializes snapshot restores (see [`RaftStore::restore_archive`]).
    pub(crate) restore_lock: tokio::sync::Mutex<()>,
    /// Counts the snapshot restores this node has applied.
    restores: tokio::sync::watch::Receiver<u64>,
    /// Keys whose applied changes raise a generation (see [`crate::WatchedKeys`]).
    watched: Arc<crate::WatchedKeys>,
    /// The state machine's last applied index (see [`RaftStore::applied_index_now`]).
    applied_index: Arc<std::sync::atomic::AtomicU64>,
    /// When the leader last contacted this node (`vault.raft.leader.lastContact`).
    leader_contact: crate::telemetry::LeaderContact,
    /// The tasks following Raft's metrics (ends when Raft shuts down): counting state
    /// transitions, and purging the log behind its trail ([`crate::log_trail`]).
    watchers: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// When that task last saw a new metrics snapshot.
    metrics_seen: Arc<crate::telemetry::Stamp>,
}

impl std::fmt::Debug for RaftStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftStore")
            .field("node_id", &self.info.node_id)
            .field("data_dir", &self.opts.data_dir)
            .finish_non_exhaustive()
    }
}

impl RaftStore {
    /// Opens (or creates) the node's files under `opts.data_dir` and starts Raft. The node
    /// rejoins its cluster if it has state; a fresh node waits to be bootstrapped or added.
    pub async fn open(
        opts: RaftOptions,
        transport: Arc<dyn Transport>,
    ) -> Result<Arc<RaftStore>, RaftError> {
        let config = opts.openraft_config()?;
        std::fs::create_dir_all(&opts.data_dir)?;
        // The state machine first: redb's lock on `state.redb` keeps a second instance from
        // opening (and recovering) the log files while this one may still write them.
        let mut sm = StateMachine::open(
            &opts.data_dir.join(STATE_FILE),
            opts.data_dir.join(SNAPSHOT_DIR),
        )?;
        let mut log = LogStore::open(&opts.data_dir, opts.effective_log_segment_bytes())?;
        crate::peers_json::recover_if_present(&opts.data_dir, &opts.node_id, &mut log, &mut sm)
            .await?;
        let state_db = sm.db();
        let restores = sm.restores();
        let watched = sm.watched();
        let applied_index = sm.applied_index();
        let id = node_id_of(&opts.node_id);
        let info = NodeInfo {
            node_id: opts.node_id.clone(),
            api_addr: opts.api_addr.clone(),
            cluster_addr: opts.cluster_addr.clone(),
        };
        let metrics = opts.metrics.clone();
        let raft = Raft::new(
            id,
            config.clone(),
            NetworkFactory {
                transport,
                metrics: metrics.clone(),
            },
            log.clone(),
            sm,
        )
        .await
        .map_err(|e| RaftError::Stopped(e.to_string()))?;
        let (writer, writer_task) = GroupCommit::start(
            raft.clone(),
            quorum_stale_ms(&config),
            crate::telemetry::CommitMetrics::new(&metrics),
        );
        let metrics_seen = Arc::new(crate::telemetry::Stamp::new());
        let watchers = vec![
            tokio::spawn(crate::telemetry::watch_states(
                raft.metrics(),
                metrics.clone(),
                metrics_seen.clone(),
            )),
            tokio::spawn(crate::log_trail::keep_trail(
                raft.clone(),
                log.clone(),
                opts.effective_snapshot_threshold(),
                opts.effective_trailing_logs(),
            )),
        ];
        Ok(Arc::new(RaftStore {
            id,
            info,
            opts,
            raft,
            log,
            state_db,
            writer,
            writer_task: std::sync::Mutex::new(Some(writer_task)),
            vote_hold: std::time::Duration::from_millis(config.election_timeout_max),
            config,
            stopped: AtomicBool::new(false),
            opened: std::time::Instant::now(),
            restore_lock: tokio::sync::Mutex::new(()),
            restores,
            watched,
            applied_index,
            leader_contact: crate::telemetry::LeaderContact::new(&metrics),
            watchers: std::sync::Mutex::new(watchers),
            metrics_seen,
        }))
    }

    /// The keys whose applied changes this node counts: state derived from them in memory is
    /// current once its generation is read after the applied index reached a read index.
    pub fn watched_keys(&self) -> &Arc<crate::WatchedKeys> {
        &self.watched
    }

    /// The index of the last entry the state machine applied, read without waiting: it is
    /// set as each apply commits, before openraft (and so any client) learns of it. On the
    /// leader, which acknowledges a write only once applied, it covers every acknowledged
    /// write.
    pub fn applied_index_now(&self) -> u64 {
        self.applied_index
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// Milliseconds since the leader last sent this node an AppendEntries (or heartbeat);
    /// `None` when none has arrived since the store opened.
    pub fn millis_since_leader_contact(&self) -> Option<u64> {
        self.leader_contact.millis_since()
    }

    /// This node's string id.
    pub fn node_id(&self) -> &str {
        &self.info.node_id
    }

    /// This node's identity as stored in the cluster configuration.
    pub fn node_info(&self) -> &NodeInfo {
        &self.info
    }

    /// The underlying openraft handle (for the cluster transport and advanced callers).
    pub fn raft(&self) -> &Raft<TypeConfig> {
        &self.raft
    }

    /// Where snapshots are kept.
    pub fn snapshot_dir(&self) -> PathBuf {
        self.opts.data_dir.join(SNAPSHOT_DIR)
    }

    /// Watches the number of snapshot restores this node has applied since it opened (it
    /// changes on every node, leader and followers, once the restore's commit is applied):
    /// the server reloads its keyring and caches when it does.
    pub fn restores(&self) -> tokio::sync::watch::Receiver<u64> {
        self.restores.clone()
    }

    /// The node's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.opts.data_dir
    }

    /// Whether this node has joined or formed a cluster (has a vote, log or membership).
    pub async fn is_bootstrapped(&self) -> Result<bool, RaftError> {
        self.raft
            .is_initialized()
            .await
            .map_err(|e| RaftError::Stopped(e.to_string()))
    }

    /// Forms a one-member cluster of this node if it was never initialized. Idempotent.
    pub async fn bootstrap_single(&self) -> Result<(), RaftError> {
        if self.is_bootstrapped().await? {
            return Ok(());
        }
        let members = BTreeMap::from([(self.id, self.info.clone())]);
        match self.raft.initialize(members).await {
            Ok(()) => Ok(()),
            Err(OrRaftError::APIError(InitializeError::NotAllowed(_))) => Ok(()),
            Err(OrRaftError::APIError(e)) => Err(RaftError::Membership(e.to_string())),
            Err(OrRaftError::Fatal(e)) => Err(RaftError::Stopped(e.to_string())),
        }
    }

    /// Adds `info` (as `node_id`) to the cluster as a non-voting learner and waits until it has
    /// caught up with the log (this does not time out: wrap it in a timeout if the learner may
    /// be unreachable; the membership change itself is committed before the wait). Leader only.
    ///
    /// openraft refuses a membership change while another one is still being committed (a
    /// concurrent join, or autopilot promoting the node that joined just before); such a
    /// refusal is waited out, retrying every 50 ms for up to 10 s.
    pub async fn add_learner(&self, node_id: &str, mut info: NodeInfo) -> Result<(), RaftError> {
        info.node_id = node_id.to_owned();
        let deadline = tokio::time::Instant::now() + MEMBERSHIP_BUSY_WAIT;
        loop {
            let res = self
                .raft
                .add_learner(node_id_of(node_id), info.clone(), true)
                .await;
            let busy = matches!(
                &res,
                Err(OrRaftError::APIError(
                    ClientWriteError::ChangeMembershipError(ChangeMembershipError::InProgress(_))
                ))
            );
            if busy && !self.is_shut_down() && tokio::time::Instant::now() < deadline {
                tracing::info!(
                    node = node_id,
                    "another membership change in progress; retrying the learner"
                );
                tokio::time::sleep(MEMBERSHIP_RETRY).await;
                continue;
            }
            return self.map_membership(res);
        }
    }

    /// Makes `node_id` (already a learner) a voter. Leader only.
    pub async fn promote(&self, node_id: &str) -> Result<(), RaftError> {
        let ids = BTreeSet::from([node_id_of(node_id)]);
        let res = self
            .raft
            .change_membership(ChangeMembers::AddVoterIds(ids), true)
            .await;
        self.map_membership(res)
    }

    /// Replaces the voter set by `voters` (each must already be a member); removed voters stay
    /// as learners. Leader only.
    pub async fn change_membership(&self, voters: &[String]) -> Result<(), RaftError> {
        let ids: BTreeSet<NodeId> = voters.iter().map(|v| node_id_of(v)).collect();
        let res = self
            .raft
            .change_membership(ChangeMembers::ReplaceAllVoters(ids), true)
            .await;
        self.map_membership(res)
    }

    /// Removes `node_id` from the cluster entirely (voter or learner). Leader only.
    pub async fn remove_node(&self, node_id: &str) -> Result<(), RaftError> {
        let id = node_id_of(node_id);
        let metrics = self.raft.metrics().borrow().clone();
        let membership = metrics.membership_config.membership();
        if membership.get_node(&id).is_none() {
            return Err(RaftError::UnknownNode(node_id.to_owned()));
        }
        let is_voter = membership.voter_ids().any(|v| v == id);
        let change = if is_voter {
            ChangeMembers::RemoveVoters(BTreeSet::from([id]))
        } else {
            ChangeMembers::RemoveNodes(BTreeSet::from([id]))
        };
        let res = self.raft.change_membership(change, false).await;
        self.map_membership(res)
    }

    fn map_membership<T>(
        &self,
        res: Result<T, OrRaftError<NodeId, ClientWriteError<NodeId, NodeInfo>>>,
    ) -> Result<(), RaftError> {
        match res {
            Ok(_) => Ok(()),
            Err(OrRaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(RaftError::NotLeader {
                    leader: f.leader_node.map(|n| n.node_id),
                })
            }
            Err(OrRaftError::APIError(e)) => Err(RaftError::Membership(e.to_string())),
            Err(OrRaftError::Fatal(e)) => Err(RaftError::Stopped(e.to_string())),
        }
    }

    fn current_metrics(&self) -> RaftMetrics<NodeId, NodeInfo> {
        self.raft.metrics().borrow().clone()
    }

    fn name_of(metrics: &RaftMetrics<NodeId, NodeInfo>, id: NodeId) -> String {
        metrics
            .membership_config
            .membership()
            .get_node(&id)
            .map(|n| n.node_id.clone())
            .unwrap_or_else(|| format!("#{id:016x}"))
    }

    /// Every node in the current cluster configuration.
    pub fn members(&self) -> Vec<MemberInfo> {
        let m = self.current_metrics();
        let membership = m.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let mut out: Vec<MemberInfo> = membership
            .nodes()
            .map(|(id, node)| MemberInfo {
                node_id: node.node_id.clone(),
                cluster_addr: node.cluster_addr.clone(),
                api_addr: node.api_addr.clone(),
                voter: voters.contains(id),
                leader: m.current_leader == Some(*id),
            })
            .collect();
        out.sort_by(|a, b| a.node_id.cmp(&b.node_id));
        out
    }

    /// Leader: milliseconds since a quorum last acknowledged it, `None` before any
    /// acknowledgement in its term. openraft computes the figure when it publishes a metrics
    /// snapshot, so a snapshot read after this process was paused (SIGSTOP, a stalled VM)
    /// still shows the age from before the pause. Added to it here: the time since the
    /// snapshot was last seen new, which makes the answer too old rather than too young.
    pub fn quorum_ack_age_ms(&self) -> Option<u64> {
        // Read before the snapshot: a snapshot seen later only makes the sum larger.
        let unseen = self.metrics_seen.age_ms();
        let rx = self.raft.metrics();
        let m = rx.borrow();
        m.millis_since_quorum_ack
            .map(|ms| ms.saturating_add(unseen))
    }

    /// Whether the configuration has a voter other than this node (read in place, without
    /// copying the membership: the active node asks before every answer).
    pub fn has_other_voters(&self) -> bool {
        let rx = self.raft.metrics();
        let m = rx.borrow();
        m.membership_config
            .membership()
            .voter_ids()
            .any(|id| id != self.id)
    }

    /// The current leader as known to this node.
    pub fn leader(&self) -> Option<(String, NodeInfo)> {
        let m = self.current_metrics();
        let id = m.current_leader?;
        let info = m.membership_config.membership().get_node(&id)?.clone();
        Some((info.node_id.clone(), info))
    }

    /// Whether this node currently believes it is the leader.
    pub fn is_leader(&self) -> bool {
        let m = self.raft.metrics();
        let m = m.borrow();
        m.state == ServerState::Leader && m.current_leader == Some(self.id)
    }

    /// Term, indexes, leader and replication progress of this node.
    pub async fn metrics(&self) -> RaftStatus {
        let m = self.current_metrics();
        let commit_index = self
            .raft
            .with_raft_state(|st| st.committed.map(|c| c.index))
            .await
            .ok()
            .flatten();
        let followers = m
            .replication
            .as_ref()
            .map(|r| {
                r.iter()
                    .filter(|(id, _)| **id != self.id)
                    .map(|(id, matched)| FollowerStatus {
                        node_id: Self::name_of(&m, *id),
                        matched_index: matched.map(|l| l.index),
                    })
                    .collect()
            })
            .unwrap_or_default();
        RaftStatus {
            node_id: self.info.node_id.clone(),
            state: format!("{:?}", m.state),
            term: m.current_term,
            last_log_index: m.last_log_index,
            commit_index,
            applied_index: m.last_applied.map(|l| l.index),
            snapshot_index: m.snapshot.map(|l| l.index),
            purged_index: m.purged.map(|l| l.index),
            leader: m.current_leader.map(|id| Self::name_of(&m, id)),
            millis_since_quorum_ack: m.millis_since_quorum_ack,
            followers,
        }
    }

    /// Waits until a leader is known and, if it is this node, until it has applied every entry
    /// its log held when it was first seen leading (so local reads reflect everything
    /// committed before). Returns the leader's string id and identity.
    pub async fn wait_for_leader(
        &self,
        timeout: Duration,
    ) -> Result<(String, NodeInfo), RaftError> {
        let mut rx = self.raft.metrics();
        let id = self.id;
        let wait = async {
            let mut catch_up_to: Option<u64> = None;
            loop {
                let found = {
                    let m = rx.borrow_and_update();
                    if let Err(e) = &m.running_state {
                        return Err(RaftError::Stopped(e.to_string()));
                    }
                    match m.current_leader {
                        Some(leader) if leader != id => {
                            m.membership_config.membership().get_node(&leader).cloned()
                        }
                        Some(_) if m.state == ServerState::Leader => {
                            let target = *catch_up_to.get_or_insert(m.last_log_index.unwrap_or(0));
                            let applied = m.last_applied.map(|l| l.index).unwrap_or(0);
                            (applied >= target).then(|| self.info.clone())
                        }
                        _ => None,
                    }
                };
                if let Some(info) = found {
                    return Ok((info.node_id.clone(), info));
                }
                if rx.changed().await.is_err() {
                    return Err(RaftError::Stopped("raft node stopped".into()));
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .map_err(|_| RaftError::Unavailable(format!("no leader within {timeout:?}")))?
    }

    /// Asks openraft to build a snapshot now (asynchronously; watch `metrics().snapshot_index`).
    pub async fn trigger_snapshot(&self) -> Result<(), RaftError> {
        self.raft
            .trigger()
            .snapshot()
            .await
            .map_err(|e| RaftError::Stopped(e.to_string()))
    }

    /// Streams a consistent copy of this node's state machine to `writer`, in the snapshot
    /// file format (see [`inspect_snapshot`](crate::inspect_snapshot)), and returns the writer.
    /// On a follower the copy may lag the leader. This is the internal format; operator
    /// snapshots (Vault's archive, restorable) are [`RaftStore::save_archive`] and
    /// [`RaftStore::restore_archive`].
    pub async fn export_snapshot<W>(&self, writer: W) -> Result<W, RaftError>
    where
        W: std::io::Write + Send + 'static,
    {
        let db = self.state_db.clone();
        run_blocking(move || {
            crate::state_machine::write_snapshot(&db, None, writer).map(|(_, w)| w)
        })
        .await
    }

    /// How many entries the Raft log currently holds after its purge point (bounded by
    /// compaction).
    pub async fn log_entry_count(&self) -> Result<u64, RaftError> {
        self.log.entry_count().await
    }

    /// Serves one RPC received by the cluster transport: decodes `request` of kind `kind`,
    /// runs it on the local Raft node and returns the serialized reply for the sender.
    ///
    /// Vote requests are refused for one maximum election timeout after the store opened.
    /// Before a restart this node may have acknowledged a leader's heartbeat, promising (by
    /// openraft's leader lease) not to vote for anyone else for that long; the promise lived
    /// in memory only, and leaders rely on it to answer reads without a round of heartbeats
    /// (see [`ReadBarrier`](crate::ReadBarrier)).
    pub async fn handle_rpc(&self, kind: RpcKind, request: &[u8]) -> Result<Vec<u8>, RaftError> {
        if self.stopped.load(Ordering::Acquire) {
            return Err(RaftError::Stopped("node is shut down".into()));
        }
        if kind == RpcKind::Vote && self.opened.elapsed() < self.vote_hold {
            return Err(RaftError::Unavailable(
                "node restarted less than one election timeout ago; not voting yet".into(),
            ));
        }
        if kind == RpcKind::AppendEntries {
            self.leader_contact.contacted();
        }
        dispatch(&self.raft, kind, request).await
    }

    /// Sets the scrape-time gauges of this node in its registry (`RaftOptions::metrics`):
    /// Vault's `vault.raft_storage.stats.applied_index`, `commit_index` and `fsm_pending`,
    /// Tresor's `last_log_index`, `snapshot_index`, `log_db_bytes` (the log's segment files)
    /// and `state_db_bytes`
    /// (file sizes from the file system, no database read), and Tresor's
    /// `vault.raft.leader.lastContact_seconds`: 0 on the leader, on any other node the time
    /// since the leader last contacted it (since the store opened when none has).
    pub async fn refresh_metrics(&self) {
        use tresor_telemetry::names;
        let m = &self.opts.metrics;
        let status = self.metrics().await;
        let index = |v: Option<u64>| v.unwrap_or(0) as f64;
        m.gauge(&names::RAFT_STORAGE_APPLIED_INDEX, &[])
            .set(index(status.applied_index));
        m.gauge(&names::RAFT_STORAGE_COMMIT_INDEX, &[])
            .set(index(status.commit_index));
        let pending = status
            .commit_index
            .unwrap_or(0)
            .saturating_sub(status.applied_index.unwrap_or(0));
        m.gauge(&names::RAFT_STORAGE_FSM_PENDING, &[])
            .set(pending as f64);
        m.gauge(&names::RAFT_STORAGE_LAST_LOG_INDEX, &[])
            .set(index(status.last_log_index));
        m.gauge(&names::RAFT_STORAGE_SNAPSHOT_INDEX, &[])
            .set(index(status.snapshot_index));
        if let Ok(meta) = std::fs::metadata(self.opts.data_dir.join(STATE_FILE)) {
            m.gauge(&names::RAFT_STORAGE_STATE_DB_BYTES, &[])
                .set(meta.len() as f64);
        }
        if let Ok(dir) = std::fs::read_dir(self.opts.data_dir.join(crate::log_store::LOG_DIR)) {
            let bytes: u64 = dir
                .filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum();
            m.gauge(&names::RAFT_STORAGE_LOG_DB_BYTES, &[])
                .set(bytes as f64);
        }
        let since = if self.is_leader() {
            0.0
        } else {
            self.leader_contact.seconds_since()
        };
        m.gauge(&names::RAFT_LEADER_LAST_CONTACT_SECONDS, &[])
            .set(since);
    }

    /// Stops the writer and the Raft node. Later writes fail with `Unavailable`; pending ones
    /// resolve as `Unknown` if their fate is not yet known. Idempotent.
    pub async fn shutdown(&self) -> Result<(), RaftError> {
        if self.stopped.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.writer.stop();
        if let Some(task) = self.take_writer_task() {
            // The writer answers every queued request before it ends.
            let _ = task.await;
        }
        let stopped = self
            .raft
            .shutdown()
            .await
            .map_err(|e| RaftError::Stopped(e.to_string()));
        // The metrics watchers have nothing left to follow.
        let watchers =
            std::mem::take(&mut *self.watchers.lock().unwrap_or_else(|e| e.into_inner()));
        for task in watchers {
            task.abort();
            let _ = task.await;
        }
        // Raft has stopped: nothing appends any more, so the commit index it last reported
        // can be written on its own.
        self.log.persist_committed().await?;
        stopped
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    pub fn is_shut_down(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// Fails fast when this node cannot accept writes.
    pub(crate) fn check_writable(&self) -> Result<(), RaftError> {
        if self.is_shut_down() {
            return Err(RaftError::Unavailable("raft store is shut down".into()));
        }
        let m = self.raft.metrics();
        let m = m.borrow();
        if let Err(e) = &m.running_state {
            return Err(RaftError::Unavailable(format!("raft stopped: {e}")));
        }
        if m.current_leader != Some(self.id) || m.state != ServerState::Leader {
            let leader = m.current_leader.map(|id| Self::name_of(&m, id));
            return Err(RaftError::NotLeader { leader });
        }
        let voters = m.membership_config.membership().voter_ids().count();
        let stale_after = quorum_stale_ms(&self.config);
        if voters > 1 && m.millis_since_quorum_ack.is_some_and(|ms| ms > stale_after) {
            return Err(RaftError::Unavailable(
                "leader has not heard from a quorum recently".into(),
            ));
        }
        Ok(())
    }

    pub(crate) fn writer(&self) -> &GroupCommit {
        &self.writer
    }
}

/// How long a leader of several voters may go without a quorum acknowledgement before it
/// refuses new writes (`Unavailable`) and gives up on pending ones (`Unknown`): two maximum
/// election timeouts, by which time the majority side has elected a new leader.
fn quorum_stale_ms(config: &openraft::Config) -> u64 {
    config.election_timeout_max.saturating_mul(2)
}

impl RaftStore {
    fn take_writer_task(&self) -> Option<tokio::task::JoinHandle<()>> {
        // The slot only ever holds a handle; a panic elsewhere cannot corrupt it.
        self.writer_task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}

impl Drop for RaftStore {
    fn drop(&mut self) {
        if let Some(task) = self.take_writer_task() {
            task.abort();
        }
        for task in self
            .watchers
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            task.abort();
        }
    }
}
