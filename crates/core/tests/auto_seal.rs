//! Auto seals in the core, without HTTP or Raft: init with recovery keys, unsealing through
//! the seal (also after restarts, outages and with a seal set), the background retry task,
//! recovery-key ceremonies, and joining with an auto seal.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tresor_core::{
    AdmittedNode, AutoUnsealTiming, AutopilotControl, Core, CoreError, CoreOptions, CoreRequest,
    Forwarding, InitRequest, InitResponse, JoinAdmission, LeaderInfo, Leadership, Membership,
    Method, RekeyTarget, RekeyUpdate, SingleNode,
};
use tresor_seal::{Seal, TestSeal};
use tresor_storage::{Backend, InMemBackend, Op};
use zeroize::Zeroizing;

fn options(seals: &[Arc<TestSeal>]) -> CoreOptions {
    CoreOptions {
        seals: seals.iter().map(|s| s.clone() as Arc<dyn Seal>).collect(),
        ..CoreOptions::default()
    }
}

fn core_over(physical: &Arc<InMemBackend>, seals: &[Arc<TestSeal>]) -> Arc<Core> {
    Core::new(
        physical.clone(),
        options(seals),
        Arc::new(SingleNode::default()),
    )
}

fn recovery_init(shares: u32, threshold: u32) -> InitRequest {
    InitRequest {
        recovery_shares: Some(shares),
        recovery_threshold: Some(threshold),
        ..InitRequest::default()
    }
}

async fn initialized(
    seals: &[Arc<TestSeal>],
    shares: u32,
    threshold: u32,
) -> (Arc<InMemBackend>, Arc<Core>, InitResponse) {
    let physical = Arc::new(InMemBackend::new());
    let core = core_over(&physical, seals);
    let init = core.init(recovery_init(shares, threshold)).await.unwrap();
    (physical, core, init)
}

fn mounts_read(token: &str) -> CoreRequest {
    CoreRequest {
        method: Method::Get,
        path: tresor_sdk::CanonicalPath::parse("sys/mounts").expect("canonical path"),
        data: Default::default(),
        token: Some(token.into()),
    }
}

async fn serves(core: &Core, token: &str) -> bool {
    matches!(core.handle(mounts_read(token)).await, Ok(Some(_)))
}

#[tokio::test]
async fn init_with_an_auto_seal_returns_recovery_keys_and_unseals() {
    let seal = Arc::new(TestSeal::new());
    let physical = Arc::new(InMemBackend::new());
    let core = core_over(&physical, std::slice::from_ref(&seal));
    let before = core.seal_status().await.unwrap();
    assert_eq!(before.kind, "test");
    assert!(before.recovery_seal && !before.initialized && before.sealed);

    let init = core
        .init(InitRequest {
            // Asked-for unseal shares are ignored: the seal holds the root key.
            secret_shares: Some(5),
            secret_threshold: Some(3),
            ..recovery_init(4, 2)
        })
        .await
        .unwrap();
    assert!(init.keys.is_empty() && init.keys_base64.is_empty());
    assert_eq!(init.recovery_keys.len(), 4);
    assert_eq!(init.recovery_keys_base64.len(), 4);
    assert!(
        !core.is_sealed(),
        "an auto-sealed node unseals itself after init"
    );
    assert!(serves(&core, &init.root_token).await);

    let v = serde_json::to_value(&init).unwrap();
    assert_eq!(v["keys"], json!([]));
    assert_eq!(v["keys_base64"], json!([]));
    assert_eq!(v["recovery_keys"].as_array().unwrap().len(), 4);

    let status = core.seal_status().await.unwrap();
    assert_eq!(status.kind, "test");
    assert!(status.initialized && !status.sealed && status.recovery_seal);
    assert_eq!((status.t, status.n), (2, 4));
    let sv = serde_json::to_value(&status).unwrap();
    assert_eq!(sv["type"], "test");
    assert_eq!(sv["recovery_seal_type"], "shamir");

    // The root key in storage is wrapped by the seal, not a Shamir key.
    let stored: serde_json::Value =
        serde_json::from_slice(&physical.get("core/root-key").await.unwrap().unwrap()).unwrap();
    assert_eq!(stored[0]["seal_type"], "test");
    assert!(physical.get("core/recovery-key").await.unwrap().is_some());
}

#[tokio::test]
async fn recovery_counts_default_and_shamir_keeps_refusing_them() {
    let seal = Arc::new(TestSeal::new());
    let physical = Arc::new(InMemBackend::new());
    let core = core_over(&physical, &[seal]);
    let init = core.init(InitRequest::default()).await.unwrap();
    assert_eq!(init.recovery_keys.len(), 5);
    let status = core.seal_status().await.unwrap();
    assert_eq!((status.t, status.n), (3, 5));

    let shamir = Core::new(
        Arc::new(InMemBackend::new()),
        CoreOptions::default(),
        Arc::new(SingleNode::default()),
    );
    let err = shamir
        .init(InitRequest {
            recovery_shares: Some(3),
            recovery_threshold: Some(2),
            ..InitRequest::shamir(1, 1)
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "parameters specific to auto unseal seals present"
    );
    let init = shamir.init(InitRequest::shamir(1, 1)).await.unwrap();
    let v = serde_json::to_value(&init).unwrap();
    assert!(v.get("recovery_keys").is_none(), "omitted with Shamir: {v}");
    let st = shamir.seal_status().await.unwrap();
    assert!(!st.recovery_seal && st.recovery_seal_type.is_none());
}

#[tokio::test]
async fn a_sealed_or_restarted_node_unseals_through_its_seal() {
    let seal = Arc::new(TestSeal::new());
    let (physical, core, init) = initialized(std::slice::from_ref(&seal), 3, 2).await;
    core.seal().await.unwrap();
    assert!(core.is_sealed() && core.is_operator_sealed());
    assert!(core.auto_unseal().await.unwrap());
    assert!(!core.is_sealed() && !core.is_operator_sealed());
    assert!(!core.auto_unseal().await.unwrap(), "already unsealed");
    assert!(serves(&core, &init.root_token).await);

    // A restart: a new core over the same storage and the same seal.
    let restarted = core_over(&physical, std::slice::from_ref(&seal));
    assert!(restarted.is_sealed());
    assert!(restarted.auto_unseal().await.unwrap());
    assert!(serves(&restarted, &init.root_token).await);

    // A node whose seal holds another key cannot unseal, and says which seal and why.
    let stranger = core_over(&physical, &[Arc::new(TestSeal::new())]);
    let err = stranger.auto_unseal().await.unwrap_err();
    assert!(matches!(err, CoreError::Seal(_)), "{err:?}");
    assert!(err.to_string().contains("test seal"), "{err}");
    assert!(stranger.is_sealed());
}

#[tokio::test]
async fn an_unavailable_seal_keeps_the_node_sealed_until_it_answers() {
    let seal = Arc::new(TestSeal::new());
    let (physical, _core, init) = initialized(std::slice::from_ref(&seal), 1, 1).await;
    seal.set_available(false);
    let restarted = core_over(&physical, std::slice::from_ref(&seal));
    let err = restarted.auto_unseal().await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("test seal") && text.contains("unavailable"),
        "{text}"
    );
    assert!(restarted.is_sealed());
    let health = restarted.health().await.unwrap();
    assert!(health.initialized && health.sealed);

    seal.set_available(true);
    assert!(restarted.auto_unseal().await.unwrap());
    assert!(serves(&restarted, &init.root_token).await);
}

/// Polls `cond` every 10 ms until it holds (panics after 20 s).
async fn eventually(what: &str, mut cond: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !cond().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn the_background_task_retries_until_the_seal_answers_and_respects_an_explicit_seal() {
    let seal = Arc::new(TestSeal::new());
    let (physical, _core, init) = initialized(std::slice::from_ref(&seal), 3, 2).await;
    seal.set_available(false);
    let core = core_over(&physical, std::slice::from_ref(&seal));
    let timing = AutoUnsealTiming {
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        poll: Duration::from_millis(5),
    };
    let task = tokio::spawn(tresor_core::run_auto_unseal(core.clone(), timing));

    eventually("two failed attempts", async || {
        core.auto_unseal_failures() >= 2
    })
    .await;
    assert!(core.is_sealed(), "sealed while the seal is unavailable");
    seal.set_available(true);
    core.wake_auto_unseal();
    eventually("unsealed by the task", async || !core.is_sealed()).await;
    assert!(serves(&core, &init.root_token).await);

    // An operator's seal is not undone by the task; recovery keys lift it.
    core.seal().await.unwrap();
    let failures = core.auto_unseal_failures();
    for k in &init.recovery_keys[..2] {
        core.unseal(Some(k), false).await.unwrap();
    }
    assert!(!core.is_sealed());
    assert_eq!(core.auto_unseal_failures(), failures);
    task.abort();
}

#[tokio::test]
async fn unseal_keys_are_refused_and_recovery_keys_lift_an_explicit_seal() {
    let seal = Arc::new(TestSeal::new());
    let (_p, core, init) = initialized(&[seal], 3, 2).await;
    core.seal().await.unwrap();
    // Shares that are not the recovery key (e.g. another cluster's unseal keys).
    let other = Core::new(
        Arc::new(InMemBackend::new()),
        CoreOptions::default(),
        Arc::new(SingleNode::default()),
    );
    let unseal_keys = other.init(InitRequest::shamir(3, 2)).await.unwrap().keys;
    let st = core.unseal(Some(&unseal_keys[0]), false).await.unwrap();
    assert_eq!((st.progress, st.t), (1, 2));
    let err = core.unseal(Some(&unseal_keys[1]), false).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("recovery keys") && text.contains("test"),
        "{text}"
    );
    assert!(core.is_sealed());
    assert_eq!(core.seal_status().await.unwrap().progress, 0);

    for k in &init.recovery_keys_base64[1..3] {
        core.unseal(Some(k), false).await.unwrap();
    }
    assert!(!core.is_sealed());
}

async fn generate_root(core: &Core, keys: &[String]) -> Result<String, CoreError> {
    let start = core.generate_root_init(None, None).await?;
    assert_eq!(start.required as usize, keys.len());
    let mut last = None;
    for k in keys {
        last = Some(core.generate_root_update(k, &start.nonce).await?);
    }
    let done = last.unwrap();
    assert!(done.complete);
    Ok(
        tresor_seal::root_token_decode(&done.encoded_token, &start.otp)
            .unwrap()
            .to_string(),
    )
}

#[tokio::test]
async fn recovery_keys_generate_a_working_root_token() {
    let seal = Arc::new(TestSeal::new());
    let (_p, core, init) = initialized(&[seal], 3, 2).await;
    let status = core.generate_root_status().await.unwrap();
    assert_eq!(status.required, 2);
    let token = generate_root(&core, &init.recovery_keys[1..3])
        .await
        .unwrap();
    assert_ne!(token, init.root_token);
    assert!(serves(&core, &token).await);

    // Shares that do not form the recovery key are refused.
    let bogus: Vec<String> = (0..2)
        .map(|_| hex::encode(tresor_crypto::random_bytes(33)))
        .collect();
    let err = generate_root(&core, &bogus).await.unwrap_err();
    assert!(err.to_string().contains("recovery key"), "{err}");
}

#[tokio::test]
async fn rekeying_the_recovery_key_replaces_the_shares() {
    let seal = Arc::new(TestSeal::new());
    let (_p, core, init) = initialized(&[seal], 3, 2).await;

    let err = core
        .rekey_init(RekeyTarget::Barrier, 3, 2, false, false, false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("rekey the recovery keys"), "{err}");

    let st = core
        .rekey_init(RekeyTarget::Recovery, 4, 3, false, false, true)
        .await
        .unwrap();
    assert_eq!((st.required, st.n, st.t), (2, 4, 3));
    core.rekey_update(RekeyTarget::Recovery, &init.recovery_keys[0], &st.nonce)
        .await
        .unwrap();
    let done = core
        .rekey_update(RekeyTarget::Recovery, &init.recovery_keys[2], &st.nonce)
        .await
        .unwrap();
    let RekeyUpdate::Complete {
        keys,
        verification_nonce,
        ..
    } = done
    else {
        panic!("expected new keys");
    };
    assert_eq!(keys.len(), 4);
    // Until verified, the old keys still rule.
    assert_eq!(core.seal_status().await.unwrap().n, 3);
    let vnonce = verification_nonce.unwrap();
    for k in &keys[..3] {
        core.rekey_verify_update(RekeyTarget::Recovery, k, &vnonce)
            .await
            .unwrap();
    }
    let status = core.seal_status().await.unwrap();
    assert_eq!((status.t, status.n), (3, 4));

    assert!(
        generate_root(&core, &init.recovery_keys[..3])
            .await
            .is_err()
    );
    core.generate_root_cancel();
    let token = generate_root(&core, &keys[1..4]).await.unwrap();
    assert!(serves(&core, &token).await);

    // A Shamir node has no recovery keys to rekey.
    let shamir = Core::new(
        Arc::new(InMemBackend::new()),
        CoreOptions::default(),
        Arc::new(SingleNode::default()),
    );
    let k = shamir.init(InitRequest::shamir(1, 1)).await.unwrap().keys;
    shamir.unseal(Some(&k[0]), false).await.unwrap();
    let err = shamir
        .rekey_init(RekeyTarget::Recovery, 3, 2, false, false, false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("only with an auto seal"), "{err}");
}

#[tokio::test]
async fn a_seal_set_unseals_while_any_one_seal_answers() {
    let a = Arc::new(TestSeal::new());
    let b = Arc::new(TestSeal::new());
    let (physical, _core, init) = initialized(&[a.clone(), b.clone()], 1, 1).await;
    let stored: serde_json::Value =
        serde_json::from_slice(&physical.get("core/root-key").await.unwrap().unwrap()).unwrap();
    assert_eq!(
        stored.as_array().unwrap().len(),
        2,
        "wrapped under each seal"
    );

    a.set_available(false);
    let restarted = core_over(&physical, &[a.clone(), b.clone()]);
    assert!(restarted.auto_unseal().await.unwrap());
    assert!(serves(&restarted, &init.root_token).await);
    // Recovery keys still check out with the first seal down.
    assert!(generate_root(&restarted, &init.recovery_keys).await.is_ok());

    b.set_available(false);
    let down = core_over(&physical, &[a.clone(), b.clone()]);
    let err = down.auto_unseal().await.unwrap_err().to_string();
    assert!(err.contains("no seal could unwrap"), "{err}");
    assert!(down.is_sealed());
    // Only the second seal configured: it alone unseals once it answers.
    b.set_available(true);
    let only_b = core_over(&physical, &[b]);
    assert!(only_b.auto_unseal().await.unwrap());
}

/// A cluster layer that relays a joiner's answer to the leader's core and "replicates" the
/// leader's physical store to the joiner.
#[derive(Default)]
struct Relay {
    active: AtomicBool,
    leader_core: Mutex<Option<Arc<Core>>>,
    leader_physical: Mutex<Option<Arc<InMemBackend>>>,
    own_physical: Mutex<Option<Arc<InMemBackend>>>,
}

#[async_trait::async_trait]
impl Leadership for Relay {
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

impl Forwarding for Relay {}
impl AutopilotControl for Relay {}

#[async_trait::async_trait]
impl Membership for Relay {
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
    async fn install_joined_identity(
        &self,
        _identity: Zeroizing<Vec<u8>>,
    ) -> Result<(), CoreError> {
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
    async fn admit(&self, _core: &Core, _node: JoinAdmission) -> Result<AdmittedNode, CoreError> {
        Ok(AdmittedNode {
            identity: Zeroizing::new(b"node identity".to_vec()),
            peers: Vec::new(),
        })
    }
}

fn ha_node(active: bool, seals: &[Arc<TestSeal>]) -> (Arc<InMemBackend>, Arc<Relay>, Arc<Core>) {
    let physical = Arc::new(InMemBackend::new());
    let ha = Arc::new(Relay::default());
    ha.active.store(active, Ordering::SeqCst);
    *ha.own_physical.lock().unwrap() = Some(physical.clone());
    let core = Core::new(physical.clone(), options(seals), ha.clone());
    (physical, ha, core)
}

#[tokio::test]
async fn a_joiner_with_the_same_auto_seal_joins_and_unseals_without_keys() {
    let seal = Arc::new(TestSeal::new());
    let (leader_physical, _lha, leader) = ha_node(true, std::slice::from_ref(&seal));
    let init = leader.init(recovery_init(3, 2)).await.unwrap();
    assert!(leader.is_active_node());

    // Another KMS key: refused at once.
    let (_p, _ha, stranger) = ha_node(false, &[Arc::new(TestSeal::new())]);
    let challenge = leader.join_challenge("n9").await.unwrap();
    assert_eq!(challenge.root_keys.len(), 1);
    let err = stranger
        .set_pending_join("n9", challenge.clone())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("join refused"), "{err}");
    assert!(!stranger.has_pending_join());
    // A Shamir node cannot join an auto-sealed cluster either.
    let (_p, _ha, shamir) = ha_node(false, &[]);
    let err = shamir.set_pending_join("n9", challenge).await.unwrap_err();
    assert!(err.to_string().contains("configure the same seal"), "{err}");

    let (_p, ha, joiner) = ha_node(false, std::slice::from_ref(&seal));
    *ha.leader_core.lock().unwrap() = Some(leader.clone());
    *ha.leader_physical.lock().unwrap() = Some(leader_physical);
    let challenge = leader.join_challenge("n2").await.unwrap();
    joiner.set_pending_join("n2", challenge).await.unwrap();
    assert!(joiner.has_pending_join());
    // No operator keys are taken for such a join.
    assert!(
        joiner
            .unseal(Some(&init.recovery_keys[0]), false)
            .await
            .is_err()
    );
    assert!(joiner.auto_unseal().await.unwrap());
    assert!(!joiner.is_sealed() && !joiner.has_pending_join());
    assert!(joiner.is_initialized().await.unwrap());
    assert!(joiner.is_standby());
    let st = joiner.seal_status().await.unwrap();
    assert_eq!((st.kind.as_str(), st.t, st.n), ("test", 2, 3));

    // After a restart the joined node unseals from its own (replicated) storage.
    joiner.seal().await.unwrap();
    assert!(joiner.auto_unseal().await.unwrap());
}
