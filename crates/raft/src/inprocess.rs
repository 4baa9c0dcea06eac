//! An in-process [`Transport`] for tests: every node lives in the same process and RPCs are
//! direct calls, with switches to cut links, isolate nodes and pause them.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use async_trait::async_trait;

use crate::{NodeInfo, RaftError, RaftStore, RpcKind, Transport};

#[derive(Default)]
struct Registry {
    nodes: HashMap<String, Weak<RaftStore>>,
    /// Cut links, stored with the smaller id first.
    cut: HashSet<(String, String)>,
    isolated: HashSet<String>,
    /// Paused nodes: their messages go unanswered (the call hangs, then fails).
    paused: HashSet<String>,
}

impl Registry {
    fn blocked(&self, a: &str, b: &str) -> bool {
        self.isolated.contains(a) || self.isolated.contains(b) || self.cut.contains(&pair(a, b))
    }

    fn frozen(&self, a: &str, b: &str) -> bool {
        self.paused.contains(a) || self.paused.contains(b)
    }
}

/// How long a message to or from a paused node waits for an answer before it fails, like
/// an RPC to a stopped process that times out.
const PAUSED_CALL_TIMEOUT: Duration = Duration::from_millis(500);
/// How often a waiting message checks whether the node was resumed.
const PAUSED_POLL: Duration = Duration::from_millis(10);

fn pair(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_owned(), b.to_owned())
    } else {
        (b.to_owned(), a.to_owned())
    }
}

/// A simulated network of nodes in one process. Create one, hand each node
/// [`transport_for`](Self::transport_for) its own id, and [`register`](Self::register) each
/// store once opened. Dropped stores become unreachable.
#[derive(Clone, Default)]
pub struct InProcessNetwork {
    inner: Arc<Mutex<Registry>>,
}

impl std::fmt::Debug for InProcessNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessNetwork").finish_non_exhaustive()
    }
}

impl InProcessNetwork {
    /// An empty network.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        // The registry holds plain maps; a panic elsewhere cannot leave it half-updated.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The transport node `node_id` sends through (it knows its source for partitions).
    pub fn transport_for(&self, node_id: &str) -> Arc<dyn Transport> {
        Arc::new(InProcessTransport {
            from: node_id.to_owned(),
            net: self.clone(),
        })
    }

    /// Makes `store` reachable under its node id.
    pub fn register(&self, store: &Arc<RaftStore>) {
        self.lock()
            .nodes
            .insert(store.node_id().to_owned(), Arc::downgrade(store));
    }

    /// Removes a node from the network (as if its process died).
    pub fn unregister(&self, node_id: &str) {
        self.lock().nodes.remove(node_id);
    }

    /// Cuts the link between `a` and `b` in both directions.
    pub fn partition(&self, a: &str, b: &str) {
        self.lock().cut.insert(pair(a, b));
    }

    /// Cuts every link of `node`.
    pub fn isolate(&self, node: &str) {
        self.lock().isolated.insert(node.to_owned());
    }

    /// Restores every cut link and isolated node (paused nodes stay paused).
    pub fn heal(&self) {
        let mut reg = self.lock();
        reg.cut.clear();
        reg.isolated.clear();
    }

    /// Freezes `node`'s traffic while it keeps running: every message to or from it goes
    /// unanswered (the call waits, then fails as a timeout) until [`resume`](Self::resume).
    /// Messages already being handled complete normally.
    pub fn pause(&self, node: &str) {
        self.lock().paused.insert(node.to_owned());
    }

    /// Lets a paused node's messages through again.
    pub fn resume(&self, node: &str) {
        self.lock().paused.remove(node);
    }

    /// Whether `node` is paused.
    pub fn is_paused(&self, node: &str) -> bool {
        self.lock().paused.contains(node)
    }

    /// Waits while the link between `from` and `to` is frozen by a pause; `true` if it still
    /// is after [`PAUSED_CALL_TIMEOUT`].
    async fn wait_while_frozen(&self, from: &str, to: &str) -> bool {
        let deadline = tokio::time::Instant::now() + PAUSED_CALL_TIMEOUT;
        while self.lock().frozen(from, to) {
            if tokio::time::Instant::now() >= deadline {
                return true;
            }
            tokio::time::sleep(PAUSED_POLL).await;
        }
        false
    }
}

/// One node's view of an [`InProcessNetwork`].
struct InProcessTransport {
    from: String,
    net: InProcessNetwork,
}

#[async_trait]
impl Transport for InProcessTransport {
    async fn call(
        &self,
        target: &NodeInfo,
        kind: RpcKind,
        request: Vec<u8>,
    ) -> Result<Vec<u8>, RaftError> {
        if self
            .net
            .wait_while_frozen(&self.from, &target.node_id)
            .await
        {
            return Err(RaftError::Rpc(format!(
                "{} -> {}: no answer (paused)",
                self.from, target.node_id
            )));
        }
        let store = {
            let reg = self.net.lock();
            if reg.blocked(&self.from, &target.node_id) {
                return Err(RaftError::Rpc(format!(
                    "link {} -> {} is cut",
                    self.from, target.node_id
                )));
            }
            reg.nodes.get(&target.node_id).and_then(Weak::upgrade)
        };
        let store = store
            .ok_or_else(|| RaftError::Rpc(format!("node {} is not running", target.node_id)))?;
        store.handle_rpc(kind, &request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_symmetric_and_heal_clears() {
        let net = InProcessNetwork::new();
        net.partition("b", "a");
        net.isolate("c");
        {
            let reg = net.lock();
            assert!(reg.blocked("a", "b") && reg.blocked("b", "a"));
            assert!(reg.blocked("a", "c") && reg.blocked("c", "d"));
            assert!(!reg.blocked("a", "d"));
        }
        net.heal();
        let reg = net.lock();
        assert!(!reg.blocked("a", "b") && !reg.blocked("a", "c"));
    }

    #[test]
    fn pause_freezes_both_directions_until_resume() {
        let net = InProcessNetwork::new();
        net.pause("a");
        assert!(net.is_paused("a") && !net.is_paused("b"));
        {
            let reg = net.lock();
            assert!(reg.frozen("a", "b") && reg.frozen("b", "a"));
            assert!(!reg.frozen("b", "c"));
            assert!(!reg.blocked("a", "b"), "a pause is not a cut");
        }
        net.heal();
        assert!(net.is_paused("a"), "heal does not resume");
        net.resume("a");
        assert!(!net.lock().frozen("a", "b"));
    }

    #[tokio::test]
    async fn a_call_to_a_paused_node_waits_then_fails_or_passes_on_resume() {
        let net = InProcessNetwork::new();
        net.pause("b");
        let started = tokio::time::Instant::now();
        assert!(net.wait_while_frozen("a", "b").await);
        assert!(started.elapsed() >= PAUSED_CALL_TIMEOUT);
        let waiter = {
            let net = net.clone();
            tokio::spawn(async move { net.wait_while_frozen("a", "b").await })
        };
        tokio::time::sleep(PAUSED_CALL_TIMEOUT / 5).await;
        net.resume("b");
        assert!(!waiter.await.unwrap(), "resumed before the timeout");
    }
}
