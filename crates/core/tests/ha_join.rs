//! Active/standby switching and the join handshake between two cores, without Raft or HTTP:
//! a scripted set of [`tresor_core::HaHandles`] plays the cluster layer, and "replication" copies the leader's
//! physical store to the joiner.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tresor_core::{
    AdmittedNode, AutopilotControl, Core, CoreError, CoreOptions, CoreRequest, Forwarding,
    InitRequest, JoinAdmission, LeaderInfo, Leadership, Membership, Method,
};
use tresor_storage::{Backend, InMemBackend, Op};
use zeroize::Zeroizing;

/// A cluster layer whose leadership the test flips, and that relays a joiner's answer to
/// the leader's core.
#[derive(Default)]
struct Scripted {
    active: AtomicBool,
    leader_core: Mutex<Option<Arc<Core>>>,
    leader_physical: Mutex<Option<Arc<InMemBackend>>>,
    own_physical: Mutex<Option<Arc<InMemBackend>>>,
    admitted: Mutex<Vec<JoinAdmission>>,
    installed: Mutex<Option<Vec<u8>>>,
}

#[async_trait::async_trait]
impl Leadership for Scripted {
    fn is_active(&self) -> bool {
        self.active.load(Ordering::SeqCst)
    }
    fn leader(&self) -> Option<LeaderInfo> {
        None
    }
    async fn raft_indexes(&self) -> Option<(u64, u64)> {
        None
    }
}

impl Forwarding for Scripted {}
impl AutopilotControl for Scripted {}

#[async_trait::async_trait]
impl Membership for Scripted {
    async fn complete_join(&self, answer: String) -> Result<String, CoreError> {
        let leader = self.leader_core.lock().unwrap().clone().unwrap();
        let node = JoinAdmission {
            server_id: "n2".into(),
            cluster_addr: "https://127.0.0.1:2".into(),
            api_addr: "http://127.0.0.1:3".into(),
            non_voter: false,
        };
        let reply = leader.join_answer(node, &answer).await?;
        Ok(reply["identity"].as_str().unwrap().to_owned())
    }
    async fn install_joined_identity(&self, identity: Zeroizing<Vec<u8>>) -> Result<(), CoreError> {
        *self.installed.lock().unwrap() = Some(identity.to_vec());
        // "Replication": the leader's whole physical store arrives here.
        let src = self.leader_physical.lock().unwrap().clone().unwrap();
        let dst = self.own_physical.lock().unwrap().clone().unwrap();
        let ops = src
            .dump()
            .into_iter()
            .map(|(k, v)| Op::Put { key: k, value: v })
            .collect();
        dst.apply(ops).await.unwrap();
        Ok(())
    }
    async fn admit(&self, _core: &Core, node: JoinAdmission) -> Result<AdmittedNode, CoreError> {
        self.admitted.lock().unwrap().push(node);
        Ok(AdmittedNode {
            identity: Zeroizing::new(b"node identity with a private key".to_vec()),
            peers: Vec::new(),
        })
    }
}

fn node(active: bool) -> (Arc<InMemBackend>, Arc<Scripted>, Arc<Core>) {
    let physical = Arc::new(InMemBackend::new());
    let ha = Arc::new(Scripted::default());
    ha.active.store(active, Ordering::SeqCst);
    *ha.own_physical.lock().unwrap() = Some(physical.clone());
    let core = Core::new(physical.clone(), CoreOptions::default(), ha.clone());
    (physical, ha, core)
}

fn mounts_read(token: &str) -> CoreRequest {
    CoreRequest {
        method: Method::Get,
        path: tresor_sdk::CanonicalPath::parse("sys/mounts").expect("canonical path"),
        data: Default::default(),
        token: Some(token.into()),
    }
}

#[tokio::test]
async fn a_standby_is_unsealed_without_active_state_until_it_leads() {
    let (_p, ha, core) = node(false);
    let init = core.init(InitRequest::shamir(1, 1)).await.unwrap();
    core.unseal(Some(&init.keys[0]), false).await.unwrap();
    assert!(!core.is_sealed());
    assert!(core.is_standby());
    assert!(!core.has_active_state());
    let h = core.health().await.unwrap();
    assert!(h.standby && !h.sealed && h.cluster_name.is_some());
    assert!(core.handle(mounts_read(&init.root_token)).await.is_err());

    ha.active.store(true, Ordering::SeqCst);
    assert!(core.become_active().await.unwrap());
    assert!(core.is_active_node());
    assert!(!core.health().await.unwrap().standby);
    assert!(
        core.handle(mounts_read(&init.root_token))
            .await
            .unwrap()
            .is_some()
    );
    assert!(core.leader_status().await.unwrap().is_self);

    ha.active.store(false, Ordering::SeqCst);
    assert!(core.become_standby().await);
    assert!(core.is_standby() && !core.is_sealed());
    assert!(!core.leader_status().await.unwrap().is_self);
}

async fn leader() -> (Arc<InMemBackend>, Arc<Core>, Vec<String>) {
    let (p, _ha, core) = node(true);
    let init = core.init(InitRequest::shamir(3, 2)).await.unwrap();
    for k in &init.keys[..2] {
        core.unseal(Some(k), false).await.unwrap();
    }
    (p, core, init.keys)
}

#[tokio::test]
async fn a_joiner_with_the_clusters_keys_gets_its_identity_and_unseals_from_replicated_data() {
    let (leader_physical, leader_core, keys) = leader().await;
    let (_p, ha, joiner) = node(false);
    *ha.leader_core.lock().unwrap() = Some(leader_core.clone());
    *ha.leader_physical.lock().unwrap() = Some(leader_physical);

    let challenge = leader_core.join_challenge("n2").await.unwrap();
    // Nothing in it is plaintext key material.
    let text = serde_json::to_string(&challenge).unwrap();
    assert!(!text.contains("BEGIN"));
    joiner.set_pending_join("n2", challenge).await.unwrap();
    let st = joiner.seal_status().await.unwrap();
    assert!(st.initialized && st.sealed);
    assert_eq!((st.t, st.n), (2, 3));

    let st = joiner.unseal(Some(&keys[0]), false).await.unwrap();
    assert_eq!(st.progress, 1);
    let st = joiner.unseal(Some(&keys[2]), false).await.unwrap();
    assert!(!st.sealed, "{st:?}");
    assert!(!joiner.has_pending_join());
    assert_eq!(
        ha.installed.lock().unwrap().as_deref(),
        Some(&b"node identity with a private key"[..])
    );
    // Same cluster: the joiner reads the leader's cluster id.
    let a = leader_core.seal_status().await.unwrap();
    let b = joiner.seal_status().await.unwrap();
    assert_eq!(a.cluster_id, b.cluster_id);
    assert!(a.cluster_id.is_some());
}

#[tokio::test]
async fn another_seals_keys_cannot_answer_the_challenge() {
    let (leader_physical, leader_core, _keys) = leader().await;
    let (_other_p, other_core, other_keys) = leader().await;
    drop(other_core);
    let (_p, ha, joiner) = node(false);
    *ha.leader_core.lock().unwrap() = Some(leader_core.clone());
    *ha.leader_physical.lock().unwrap() = Some(leader_physical);
    let challenge = leader_core.join_challenge("n2").await.unwrap();
    joiner.set_pending_join("n2", challenge).await.unwrap();
    joiner.unseal(Some(&other_keys[0]), false).await.unwrap();
    let err = joiner
        .unseal(Some(&other_keys[1]), false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("invalid key"), "{err}");
    assert!(joiner.is_sealed());
    assert!(ha.installed.lock().unwrap().is_none());
}

#[tokio::test]
async fn challenges_need_an_active_node_and_answers_must_match() {
    let (_p, _ha, standby) = node(false);
    let init = standby.init(InitRequest::shamir(1, 1)).await.unwrap();
    standby.unseal(Some(&init.keys[0]), false).await.unwrap();
    assert!(matches!(
        standby.join_challenge("n2").await,
        Err(CoreError::Standby { .. })
    ));

    let (_lp, leader_core, _keys) = leader().await;
    leader_core.join_challenge("n2").await.unwrap();
    let node = JoinAdmission {
        server_id: "n2".into(),
        cluster_addr: "https://127.0.0.1:2".into(),
        api_addr: String::new(),
        non_voter: false,
    };
    let wrong = leader_core.join_answer(node, "AAAA").await;
    assert!(matches!(wrong, Err(CoreError::PermissionDenied)));
    let v: Value = serde_json::to_value(leader_core.join_challenge("n3").await.unwrap()).unwrap();
    assert_eq!(v["seal_config"]["secret_threshold"], 2);
}

/// A store whose reads yield to the scheduler before they return what they read, so that
/// concurrent callers interleave at every read (as two tasks of a node do when Raft reads
/// take time).
struct YieldingReads(InMemBackend);

#[async_trait::async_trait]
impl Backend for YieldingReads {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, tresor_storage::StorageError> {
        let value = self.0.get(key).await;
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
        value
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, tresor_storage::StorageError> {
        self.0.list(prefix).await
    }
    async fn apply(&self, ops: Vec<Op>) -> Result<(), tresor_storage::StorageError> {
        self.0.apply(ops).await
    }
}

/// The activation task and a join admitted at the same moment both ask for the cluster CA
/// of a cluster that has none yet: exactly one is created, and both get that one.
#[tokio::test]
async fn concurrent_get_or_create_of_the_cluster_ca_creates_it_once() {
    let ha = Arc::new(Scripted::default());
    ha.active.store(true, Ordering::SeqCst);
    let physical = Arc::new(YieldingReads(InMemBackend::new()));
    let core = Core::new(physical, CoreOptions::default(), ha);
    let init = core.init(InitRequest::shamir(1, 1)).await.unwrap();
    core.unseal(Some(&init.keys[0]), false).await.unwrap();
    assert!(core.is_active_node());

    let created = AtomicUsize::new(0);
    let make = |label: &'static str| {
        let created = &created;
        let core = &core;
        async move {
            core.cluster_tls_get_or_create("ca", || {
                created.fetch_add(1, Ordering::SeqCst);
                Ok(label.as_bytes().to_vec())
            })
            .await
            .unwrap()
        }
    };
    let (a, b) = tokio::join!(make("CA made by activation"), make("CA made by admission"));
    assert_eq!(
        created.load(Ordering::SeqCst),
        1,
        "the CA was created twice"
    );
    assert_eq!(a.0, b.0, "the two callers got different CAs");
    assert!(a.1 != b.1, "exactly one caller created it");
    assert_eq!(core.cluster_tls_get("ca").await.unwrap(), Some(a.0.clone()));

    // Later calls find it and create nothing.
    let (again, fresh) = core
        .cluster_tls_get_or_create("ca", || panic!("must not be called"))
        .await
        .unwrap();
    assert_eq!((again, fresh), (a.0, false));
}
