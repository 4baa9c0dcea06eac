//! Seal migration in the core, without HTTP or Raft: Shamir → auto, auto → Shamir and
//! auto → auto (same seal type, another key), each with data intact and the operators' shares
//! still valid afterwards; refusals; and a second node sharing storage that follows a
//! migration another node wrote.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Map, Value, json};
use tresor_core::{
    AutopilotControl, Core, CoreError, CoreOptions, CoreRequest, Forwarding, InitRequest,
    LeaderInfo, Leadership, Membership, Method, SealMigration, SingleNode,
};
use tresor_seal::{Seal, TestSeal};
use tresor_storage::{Backend, InMemBackend};

const POLICY: &str = "path \"secret/migrated\" { capabilities = [\"read\"] }";

fn opts(new: &[&Arc<TestSeal>], old: &[&Arc<TestSeal>]) -> CoreOptions {
    CoreOptions {
        seals: new.iter().map(|s| (*s).clone() as Arc<dyn Seal>).collect(),
        migration_seals: old.iter().map(|s| (*s).clone() as Arc<dyn Seal>).collect(),
        backends: tresor_engines::registry(),
        ..CoreOptions::default()
    }
}

fn node(physical: &Arc<InMemBackend>, options: CoreOptions) -> Arc<Core> {
    Core::new(physical.clone(), options, Arc::new(SingleNode::default()))
}

fn request(method: Method, path: &str, data: Value, token: &str) -> CoreRequest {
    let data: Map<String, Value> = match data {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    CoreRequest {
        method,
        path: tresor_sdk::CanonicalPath::parse(path).expect("canonical path"),
        data,
        token: Some(token.into()),
    }
}

async fn write_data(core: &Core, token: &str) {
    core.handle(request(
        Method::Write,
        "sys/policies/acl/migrated",
        json!({ "policy": POLICY }),
        token,
    ))
    .await
    .unwrap();
}

async fn data_intact(core: &Core, token: &str) -> bool {
    match core
        .handle(request(
            Method::Get,
            "sys/policies/acl/migrated",
            json!({}),
            token,
        ))
        .await
    {
        Ok(Some(resp)) => serde_json::to_string(&resp.data)
            .unwrap()
            .contains("secret/migrated"),
        _ => false,
    }
}

/// Submits `keys` with `migrate: true`; returns the last status.
async fn migrate_with(core: &Core, keys: &[String]) -> tresor_core::SealStatus {
    let mut last = None;
    for k in keys {
        last = Some(core.unseal_migrate(Some(k), false).await.unwrap());
    }
    last.unwrap()
}

/// A Shamir node initialized 3/2, unsealed, with data written. Returns storage, unseal keys and
/// the root token.
async fn shamir_cluster() -> (Arc<InMemBackend>, Vec<String>, String) {
    let physical = Arc::new(InMemBackend::new());
    let core = node(&physical, CoreOptions::default());
    let init = core.init(InitRequest::shamir(3, 2)).await.unwrap();
    for k in &init.keys[..2] {
        core.unseal(Some(k), false).await.unwrap();
    }
    assert!(!core.is_sealed());
    write_data(&core, &init.root_token).await;
    (physical, init.keys, init.root_token)
}

/// An auto-sealed node initialized with recovery 3/2 under `seal`, with data written.
async fn auto_cluster(seal: &Arc<TestSeal>) -> (Arc<InMemBackend>, Vec<String>, String) {
    let physical = Arc::new(InMemBackend::new());
    let core = node(&physical, opts(&[seal], &[]));
    let init = core
        .init(InitRequest {
            recovery_shares: Some(3),
            recovery_threshold: Some(2),
            ..InitRequest::default()
        })
        .await
        .unwrap();
    assert!(!core.is_sealed());
    write_data(&core, &init.root_token).await;
    (physical, init.recovery_keys, init.root_token)
}

#[tokio::test]
async fn shamir_to_auto_turns_the_unseal_keys_into_recovery_keys() {
    let (physical, keys, root) = shamir_cluster().await;
    let seal = Arc::new(TestSeal::new());
    let core = node(&physical, opts(&[&seal], &[]));

    let status = core.seal_status().await.unwrap();
    assert!(status.sealed && status.initialized && status.migration);
    assert_eq!(status.kind, "shamir");
    assert_eq!((status.t, status.n), (2, 3));
    assert_eq!(
        core.pending_migration().await.unwrap(),
        Some(SealMigration::ShamirToAuto { to: "test".into() })
    );
    // The seal cannot unseal on its own: storage is still Shamir-protected.
    assert!(core.auto_unseal().await.is_err());
    // A plain unseal is refused while the migration is pending.
    let err = core.unseal(Some(&keys[0]), false).await.unwrap_err();
    assert!(matches!(err, CoreError::InvalidRequest(_)));
    assert!(err.to_string().contains("-migrate"), "{err}");

    let first = core.unseal_migrate(Some(&keys[0]), false).await.unwrap();
    assert!(first.sealed && first.migration);
    assert_eq!(first.progress, 1);
    let done = core.unseal_migrate(Some(&keys[2]), false).await.unwrap();
    assert!(!done.sealed, "{done:?}");
    assert!(!done.migration);
    assert_eq!(done.kind, "test");
    assert!(done.recovery_seal);
    assert_eq!((done.t, done.n), (2, 3));
    assert!(data_intact(&core, &root).await);
    let stored: Value =
        serde_json::from_slice(&physical.get("core/root-key").await.unwrap().unwrap()).unwrap();
    assert_eq!(stored[0]["seal_type"], "test");
    assert!(physical.get("core/recovery-key").await.unwrap().is_some());

    // A restart unseals through the seal alone.
    let restarted = node(&physical, opts(&[&seal], &[]));
    assert!(restarted.auto_unseal().await.unwrap());
    assert!(data_intact(&restarted, &root).await);
    // The old unseal keys are now the recovery keys: after an explicit seal they unseal.
    restarted.seal().await.unwrap();
    restarted.unseal(Some(&keys[1]), false).await.unwrap();
    let status = restarted.unseal(Some(&keys[2]), false).await.unwrap();
    assert!(!status.sealed);
    // A migrate unseal now is refused: nothing is pending.
    let fresh = node(&physical, opts(&[&seal], &[]));
    let err = fresh
        .unseal_migrate(Some(&keys[0]), false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("none is pending"), "{err}");
}

#[tokio::test]
async fn auto_to_shamir_turns_the_recovery_keys_into_unseal_keys() {
    let seal = Arc::new(TestSeal::new());
    let (physical, recovery, root) = auto_cluster(&seal).await;

    // Without the old seal's stanza the migration cannot unwrap the root key.
    let blind = node(&physical, CoreOptions::default());
    assert!(blind.seal_status().await.unwrap().migration);
    blind
        .unseal_migrate(Some(&recovery[0]), false)
        .await
        .unwrap();
    let err = blind
        .unseal_migrate(Some(&recovery[1]), false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("disabled"), "{err}");
    assert!(blind.is_sealed());

    let core = node(&physical, opts(&[], &[&seal]));
    assert_eq!(
        core.pending_migration().await.unwrap(),
        Some(SealMigration::AutoToShamir {
            from: "test".into()
        })
    );
    // Wrong shares are refused and nothing changes.
    let before = physical.get("core/seal-config").await.unwrap();
    let other = Arc::new(TestSeal::new());
    let (_, foreign, _) = auto_cluster(&other).await;
    core.unseal_migrate(Some(&foreign[0]), false).await.unwrap();
    let err = core
        .unseal_migrate(Some(&foreign[1]), false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("recovery key"), "{err}");
    assert!(core.is_sealed());
    assert_eq!(physical.get("core/seal-config").await.unwrap(), before);

    let done = migrate_with(&core, &recovery[1..]).await;
    assert!(!done.sealed && !done.migration);
    assert_eq!(done.kind, "shamir");
    assert!(!done.recovery_seal);
    assert_eq!((done.t, done.n), (2, 3));
    assert!(data_intact(&core, &root).await);
    assert!(physical.get("core/recovery-key").await.unwrap().is_none());

    // A Shamir restart unseals with the former recovery keys.
    let restarted = node(&physical, CoreOptions::default());
    assert!(!restarted.seal_status().await.unwrap().migration);
    restarted.unseal(Some(&recovery[0]), false).await.unwrap();
    let status = restarted.unseal(Some(&recovery[2]), false).await.unwrap();
    assert!(!status.sealed);
    assert!(data_intact(&restarted, &root).await);
}

#[tokio::test]
async fn auto_to_auto_with_the_same_seal_type_rewraps_under_the_new_key() {
    let old = Arc::new(TestSeal::new());
    let (physical, recovery, root) = auto_cluster(&old).await;
    let new = Arc::new(TestSeal::new());
    let core = node(&physical, opts(&[&new], &[&old]));
    // The types agree; the auto-unseal attempt finds the stored key under another key.
    assert!(!core.seal_status().await.unwrap().migration);
    let err = core.auto_unseal().await.unwrap_err();
    assert!(err.to_string().contains("migration"), "{err}");
    assert!(core.seal_status().await.unwrap().migration);
    assert!(core.is_sealed());

    let done = migrate_with(&core, &recovery[..2]).await;
    assert!(!done.sealed && !done.migration);
    assert_eq!(done.kind, "test");
    assert!(data_intact(&core, &root).await);
    let stored: Value =
        serde_json::from_slice(&physical.get("core/root-key").await.unwrap().unwrap()).unwrap();
    assert_eq!(stored[0]["key_id"], new.current_key_id());

    // Only the new seal is needed from now on, and the recovery keys stay valid.
    let restarted = node(&physical, opts(&[&new], &[]));
    assert!(restarted.auto_unseal().await.unwrap());
    restarted.seal().await.unwrap();
    restarted.unseal(Some(&recovery[2]), false).await.unwrap();
    assert!(
        !restarted
            .unseal(Some(&recovery[0]), false)
            .await
            .unwrap()
            .sealed
    );
    // With the stale disabled stanza still configured, nothing is pending.
    let stale = node(&physical, opts(&[&new], &[&old]));
    assert!(stale.auto_unseal().await.unwrap());
    assert!(!stale.seal_status().await.unwrap().migration);
}

/// An HA status whose activity the test switches.
#[derive(Default)]
struct Switch(AtomicBool);

#[async_trait::async_trait]
impl Leadership for Switch {
    fn is_active(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
    fn leader(&self) -> Option<LeaderInfo> {
        None
    }
    async fn raft_indexes(&self) -> Option<(u64, u64)> {
        None
    }
}

impl Forwarding for Switch {}
impl AutopilotControl for Switch {}
impl Membership for Switch {}

#[tokio::test]
async fn a_standby_migrates_when_it_becomes_active_and_others_follow() {
    let (physical, keys, root) = shamir_cluster().await;
    let seal = Arc::new(TestSeal::new());
    let ha = Arc::new(Switch::default());
    let standby = Core::new(physical.clone(), opts(&[&seal], &[]), ha.clone());
    let other = node(&physical, opts(&[&seal], &[]));
    assert!(other.auto_unseal().await.is_err());

    let status = migrate_with(&standby, &keys[..2]).await;
    assert!(!status.sealed, "the barrier opens with the old keys");
    assert!(status.migration, "not written until this node is active");
    assert!(physical.get("core/recovery-key").await.unwrap().is_none());
    ha.0.store(true, Ordering::SeqCst);
    assert!(standby.become_active().await.unwrap());
    assert!(!standby.seal_status().await.unwrap().migration);
    assert!(data_intact(&standby, &root).await);

    // The other node, configured with the new seal, now finds the migrated config and follows.
    assert!(!other.seal_status().await.unwrap().migration);
    assert!(other.auto_unseal().await.unwrap());
    assert!(data_intact(&other, &root).await);
}

#[tokio::test]
async fn a_prepared_migration_is_dropped_when_another_node_wrote_first() {
    let (physical, keys, _root) = shamir_cluster().await;
    let seal = Arc::new(TestSeal::new());
    let ha = Arc::new(Switch::default());
    let late = Core::new(physical.clone(), opts(&[&seal], &[]), ha.clone());
    migrate_with(&late, &keys[..2]).await;
    let first = node(&physical, opts(&[&seal], &[]));
    migrate_with(&first, &keys[1..]).await;
    let written = physical.get("core/root-key").await.unwrap();
    ha.0.store(true, Ordering::SeqCst);
    assert!(late.become_active().await.unwrap());
    assert_eq!(physical.get("core/root-key").await.unwrap(), written);
}
