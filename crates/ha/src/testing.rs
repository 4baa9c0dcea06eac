//! An in-process cluster of complete nodes for tests (feature `testing`): each node is what
//! `tresor server` runs (Raft store, HA runtime, core, the API on a loopback HTTP listener
//! and the mutual-TLS cluster port on loopback), built through [`Node::build`]. Tests wait on
//! conditions ([`wait_until`]), never on the clock alone.

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::net::TcpListener;
use tresor_core::{CoreOptions, JoinParams};
use tresor_http::{AppState, ServeOptions};
use tresor_raft::RaftOptions;

use crate::node::{Node, NodeOptions};
use crate::runtime::RuntimeOptions;

/// How often [`wait_until`] looks at its condition.
const POLL: Duration = Duration::from_millis(20);

/// Waits until `cond` holds, looking every few milliseconds; fails naming `what` after
/// `timeout`.
pub async fn wait_until<F, Fut>(timeout: Duration, what: &str, mut cond: F) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if cond().await {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("timed out after {timeout:?} waiting for {what}"));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Runtime timers for tests: quick retries, autopilot rounds and promotions.
pub fn fast_runtime() -> RuntimeOptions {
    let mut options = RuntimeOptions {
        retry_join_interval: Duration::from_millis(50),
        autopilot_interval: Duration::from_millis(100),
        activation_poll: Duration::from_millis(20),
        ..RuntimeOptions::default()
    };
    options.autopilot_defaults.server_stabilization_time = Duration::ZERO;
    options
}

/// One complete node of a [`TestCluster`].
#[derive(Debug)]
pub struct TestNode {
    /// The node (core, Raft store, runtime).
    pub node: Node,
    /// Its node id.
    pub id: String,
    /// Its API address (`http://127.0.0.1:port`).
    pub api_addr: String,
    http: reqwest::Client,
}

impl TestNode {
    /// Builds and starts node `id` with its data under `dir`. Like a node with `retry_join`,
    /// it forms no cluster of its own: it waits to be initialized or joined.
    pub async fn start(dir: &Path, id: &str, runtime: RuntimeOptions) -> Result<TestNode, String> {
        Self::start_with(dir, id, runtime, CoreOptions::default()).await
    }

    /// Like [`TestNode::start`], with the core built from `core` (engine registries, lease
    /// timings).
    pub async fn start_with(
        dir: &Path,
        id: &str,
        runtime: RuntimeOptions,
        core: CoreOptions,
    ) -> Result<TestNode, String> {
        let api = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let cluster = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let api_addr = format!("http://{}", api.local_addr().map_err(|e| e.to_string())?);
        let cluster_addr = format!(
            "https://{}",
            cluster.local_addr().map_err(|e| e.to_string())?
        );
        let mut raft = RaftOptions::new(dir.join(id), id, &api_addr, &cluster_addr);
        raft.performance_multiplier = 3;
        let node = Node::build(NodeOptions {
            raft,
            core,
            runtime,
            wants_retry_join: true,
            auto_unseal: false,
        })
        .await
        .map_err(|e| e.to_string())?;
        let state = AppState::new(node.core.clone());
        let router = tresor_http::router(state.clone());
        let token = node.supervisor().token();
        node.supervisor().spawn("api_listener", async move {
            tresor_http::serve(api, ServeOptions::default(), router, token).await
        });
        node.start(Some(cluster), state, Vec::new());
        Ok(TestNode {
            node,
            id: id.to_owned(),
            api_addr,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .map_err(|e| e.to_string())?,
        })
    }

    /// Join parameters pointing at this node's API.
    pub fn join_params(&self) -> JoinParams {
        JoinParams {
            leader_api_addr: self.api_addr.clone(),
            retry: true,
            ..JoinParams::default()
        }
    }

    /// Sends `method /v1/path` to this node's API; answers the status and JSON body (`Null`
    /// when empty).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Result<(u16, Value), String> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        let mut req = self
            .http
            .request(method, format!("{}/v1/{path}", self.api_addr));
        if let Some(t) = token {
            req = req.header("x-vault-token", t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    /// The voters of the Raft configuration as this node knows it.
    pub fn voters(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .node
            .raft
            .members()
            .into_iter()
            .filter(|m| m.voter)
            .map(|m| m.node_id)
            .collect();
        v.sort();
        v
    }

    /// The leader this node knows of.
    pub fn leader(&self) -> Option<String> {
        self.node.raft.leader().map(|(id, _)| id)
    }

    /// Raft's applied index on this node.
    pub async fn applied(&self) -> u64 {
        self.node.raft.metrics().await.applied_index.unwrap_or(0)
    }
}

/// N complete nodes in one process, their data in a temporary directory.
#[derive(Debug)]
pub struct TestCluster {
    /// The nodes, `n1` first.
    pub nodes: Vec<TestNode>,
    dir: tempfile::TempDir,
}

impl TestCluster {
    /// Starts `n` fresh nodes (`n1`, `n2`, ...), none initialized or joined yet.
    pub async fn start(n: usize, runtime: RuntimeOptions) -> Result<TestCluster, String> {
        Self::start_with(n, runtime, CoreOptions::default).await
    }

    /// Like [`TestCluster::start`], each node's core built from what `core` returns.
    pub async fn start_with(
        n: usize,
        runtime: RuntimeOptions,
        core: impl Fn() -> CoreOptions,
    ) -> Result<TestCluster, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mut nodes = Vec::with_capacity(n);
        for i in 1..=n {
            nodes.push(
                TestNode::start_with(dir.path(), &format!("n{i}"), runtime.clone(), core()).await?,
            );
        }
        Ok(TestCluster { nodes, dir })
    }

    /// Forms the cluster: initializes `n1` with one Shamir share, unseals it, joins and
    /// unseals every other node, and waits until all are voters, each knows a leader and one
    /// node is active. Returns the root token and the unseal key (base64).
    pub async fn form(&self) -> Result<(String, String), String> {
        const WAIT: Duration = Duration::from_secs(60);
        let first = self.nodes.first().ok_or("no node")?;
        let init = first
            .node
            .core
            .init(tresor_core::InitRequest::shamir(1, 1))
            .await
            .map_err(|e| e.to_string())?;
        let key = init.keys_base64.first().cloned().ok_or("no unseal key")?;
        let unseal = |n: &TestNode| {
            let key = key.clone();
            let core = n.node.core.clone();
            async move {
                core.unseal(Some(&key), false)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
        };
        unseal(first).await?;
        for n in &self.nodes[1..] {
            n.node
                .core
                .raft_join(first.join_params())
                .await
                .map_err(|e| e.to_string())?;
            wait_until(WAIT, "a join challenge", || async {
                n.node.core.has_pending_join()
            })
            .await?;
            unseal(n).await?;
        }
        let voters = self.nodes.len();
        wait_until(WAIT, "every node a voter, and an active node", || async {
            self.nodes
                .iter()
                .all(|n| n.voters().len() == voters && n.leader().is_some())
                && self.nodes.iter().any(|n| n.node.core.is_active_node())
        })
        .await?;
        Ok((init.root_token, key))
    }

    /// Where the nodes keep their data.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops every node (all at once) and removes their data.
    pub async fn stop(self) {
        let stops = self
            .nodes
            .into_iter()
            .map(|n| n.node.stop(Duration::from_secs(10)));
        futures::future::join_all(stops).await;
        drop(self.dir);
    }
}
