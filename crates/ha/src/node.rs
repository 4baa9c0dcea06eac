//! Building a node without reference cycles, in order: the Raft store (opened with elections
//! off), the HA runtime over it, the core (given the runtime's trait objects), and at
//! [`Node::start`] the runtime's tasks and the cluster port (given the core). Stopping the
//! node stops every task through the supervisor, seals the core and shuts Raft down.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tresor_cluster::ClientOptions;
use tresor_core::{Core, CoreOptions};
use tresor_http::AppState;
use tresor_raft::{RaftError, RaftOptions, RaftStore, Timing};

use crate::cluster::{ClusterNode, NodeTransport};
use crate::join_client::JoinTarget;
use crate::runtime::{HaRuntime, RuntimeOptions};
use crate::supervisor::Supervisor;

/// How long a single node (or the node `sys/init` turns into a cluster) may take to elect
/// itself.
const SINGLE_LEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long [`Node::stop`] waits for the background tasks to return before aborting them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// What a node is built from.
#[derive(Debug)]
pub struct NodeOptions {
    /// The Raft store's options (its election switch is managed by the runtime).
    pub raft: RaftOptions,
    /// The core's options (its metrics registry also counts the supervisor's failures).
    pub core: CoreOptions,
    /// The HA runtime's timers.
    pub runtime: RuntimeOptions,
    /// Whether the node has `retry_join` blocks: a fresh node then waits to be joined (or
    /// initialized) instead of forming a cluster of its own.
    pub wants_retry_join: bool,
    /// Whether to run the automatic unseal task (a node with an auto seal).
    pub auto_unseal: bool,
}

/// Why a node could not be built.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The Raft store did not open.
    #[error("opening raft storage in {dir}: {source}")]
    Open {
        /// The data directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: RaftError,
    },
    /// The Raft state could not be read.
    #[error("reading raft state: {0}")]
    State(#[source] RaftError),
    /// A single node could not form its cluster.
    #[error("bootstrapping raft: {0}")]
    Bootstrap(#[source] RaftError),
    /// A single node did not elect itself.
    #[error("waiting for a raft leader: {0}")]
    Leader(#[source] RaftError),
}

/// A built node: its core, Raft store and HA runtime, and the supervisor of its tasks.
#[derive(Debug)]
pub struct Node {
    /// The core.
    pub core: Arc<Core>,
    /// The Raft store.
    pub raft: Arc<RaftStore>,
    /// The HA runtime.
    pub runtime: Arc<HaRuntime>,
    supervisor: Supervisor,
    auto_unseal: bool,
    needs_join: bool,
}

impl Node {
    /// Opens Raft with elections off, builds the runtime and the core. A fresh node without
    /// `retry_join`, or a node that is its cluster's only member, forms (or re-forms) its
    /// one-node cluster now and campaigns; a member of a larger cluster stays out of
    /// elections until it is unsealed and has its cluster identity.
    pub async fn build(opts: NodeOptions) -> Result<Node, NodeError> {
        let NodeOptions {
            raft: mut raft_opts,
            core: core_opts,
            runtime: runtime_opts,
            wants_retry_join,
            auto_unseal,
        } = opts;
        let timing = Timing::for_multiplier(raft_opts.performance_multiplier);
        let supervisor = Supervisor::new(core_opts.metrics.clone());
        let cluster = ClusterNode::new(ClientOptions::for_timing(timing));
        let dir = raft_opts.data_dir.clone();
        raft_opts.elections = false;
        // The store records its vault.raft.* metrics in the node's registry.
        raft_opts.metrics = core_opts.metrics.clone();
        let raft = RaftStore::open(raft_opts, Arc::new(NodeTransport(cluster.clone())))
            .await
            .map_err(|source| NodeError::Open { dir, source })?;
        let bootstrapped = raft.is_bootstrapped().await.map_err(NodeError::State)?;
        let alone = raft.members().iter().all(|m| m.node_id == raft.node_id());
        let needs_join = !bootstrapped && wants_retry_join;
        let runtime = HaRuntime::new(
            raft.clone(),
            cluster,
            timing,
            false,
            runtime_opts,
            supervisor.clone(),
        );
        if !needs_join && (!bootstrapped || alone) {
            runtime.enable_elections();
            raft.bootstrap_single()
                .await
                .map_err(NodeError::Bootstrap)?;
            raft.wait_for_leader(SINGLE_LEADER_TIMEOUT)
                .await
                .map_err(NodeError::Leader)?;
        }
        let core = Core::new(raft.clone(), core_opts, runtime.clone());
        Ok(Node {
            core,
            raft,
            runtime,
            supervisor,
            auto_unseal,
            needs_join,
        })
    }

    /// Whether this fresh node waits to be joined (it has `retry_join` and no cluster yet).
    pub fn needs_join(&self) -> bool {
        self.needs_join
    }

    /// The supervisor of the node's tasks (the server runs its API listeners under it too).
    pub fn supervisor(&self) -> &Supervisor {
        &self.supervisor
    }

    /// Starts the node's background work: the cluster port on `cluster_listener` (if any),
    /// answering forwarded requests through `state`'s API router; the runtime's tasks (with
    /// `retry_join` if this node [needs a join](Self::needs_join)); and auto-unseal.
    pub fn start(
        &self,
        cluster_listener: Option<TcpListener>,
        state: AppState,
        retry_join: Vec<JoinTarget>,
    ) {
        if let Some(listener) = cluster_listener {
            let handler = self.runtime.cluster.handlers(self.raft.clone(), state);
            let cluster = self.runtime.cluster.clone();
            let token = self.supervisor.token();
            self.supervisor.spawn("cluster_port", async move {
                cluster.serve(listener, handler, token).await
            });
        }
        let targets = if self.needs_join {
            retry_join
        } else {
            Vec::new()
        };
        self.runtime.start(self.core.clone(), targets);
        if self.auto_unseal {
            // Unseal through the seal now, after every restart, after a join and after a
            // seal outage; retried with backoff until the seal answers.
            let core = self.core.clone();
            let token = self.supervisor.token();
            self.supervisor.spawn("auto_unseal", async move {
                tokio::select! {
                    _ = token.cancelled() => {}
                    _ = tresor_core::run_auto_unseal(core, tresor_core::AutoUnsealTiming::default()) => {}
                }
                Ok::<(), std::convert::Infallible>(())
            });
        }
    }

    /// Ordered shutdown: stops every task (waiting up to `grace`), seals the core, shuts
    /// Raft down.
    pub async fn stop(self, grace: Duration) {
        self.supervisor.shutdown(grace).await;
        self.core.seal().await.ok();
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(error = %e, "raft shutdown");
        }
    }
}
