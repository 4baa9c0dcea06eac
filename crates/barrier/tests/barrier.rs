//! Behaviour of the barrier over an in-memory physical store.

use std::sync::Arc;

use tresor_barrier::{Barrier, BarrierError, KEYRING_PATH};
use tresor_crypto::Key32;
use tresor_storage::{Backend, InMemBackend, Op, StorageError};

async fn unsealed() -> (Arc<InMemBackend>, Barrier, Key32) {
    let physical = Arc::new(InMemBackend::new());
    let barrier = Barrier::new(physical.clone());
    let root = Key32::generate();
    barrier.initialize(&root).await.expect("initialize");
    barrier.unseal(&root).await.expect("unseal");
    (physical, barrier, root)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The term recorded in the header of a stored value.
fn stored_term(physical: &InMemBackend, key: &str) -> u32 {
    let blob = physical.dump().remove(key).expect("stored value");
    assert_eq!(blob[0], tresor_barrier::FORMAT_VERSION);
    u32::from_be_bytes(blob[1..5].try_into().expect("four bytes"))
}

#[tokio::test]
async fn barrier_passes_storage_conformance() {
    let (_physical, barrier, _root) = unsealed().await;
    tresor_storage::conformance::run(&barrier).await;
}

#[tokio::test]
async fn physical_store_never_holds_plaintext() {
    let (physical, barrier, root) = unsealed().await;
    let secret = b"correct horse battery staple, the secret value";
    barrier.put("secret/one", secret.to_vec()).await.unwrap();
    barrier
        .apply(vec![Op::Put {
            key: "secret/two".into(),
            value: secret.to_vec(),
        }])
        .await
        .unwrap();
    assert_eq!(
        barrier.get("secret/one").await.unwrap().as_deref(),
        Some(&secret[..])
    );
    let dump = physical.dump();
    assert_eq!(
        dump.keys().map(String::as_str).collect::<Vec<_>>(),
        vec![KEYRING_PATH, "secret/one", "secret/two"]
    );
    for (key, value) in &dump {
        assert!(!contains(value, secret), "plaintext at {key}");
        assert!(!contains(value, &secret[..16]), "plaintext prefix at {key}");
        assert!(!contains(value, root.as_bytes()), "root key at {key}");
    }
    assert_ne!(
        dump["secret/one"], dump["secret/two"],
        "fresh nonce per write"
    );
}

#[tokio::test]
async fn lifecycle_initialize_seal_unseal() {
    let physical = Arc::new(InMemBackend::new());
    let barrier = Barrier::new(physical.clone());
    let root = Key32::generate();
    assert!(!barrier.is_initialized().await.unwrap());
    assert!(barrier.is_sealed());
    assert_eq!(
        barrier.unseal(&root).await,
        Err(BarrierError::NotInitialized)
    );
    barrier.initialize(&root).await.unwrap();
    assert!(barrier.is_initialized().await.unwrap());
    assert!(barrier.is_sealed(), "initialize leaves the barrier sealed");
    assert_eq!(
        barrier.initialize(&Key32::generate()).await,
        Err(BarrierError::AlreadyInitialized)
    );
    assert_eq!(barrier.get("a").await, Err(StorageError::Sealed));
    assert_eq!(barrier.put("a", vec![1]).await, Err(StorageError::Sealed));
    assert_eq!(barrier.list("").await, Err(StorageError::Sealed));
    assert_eq!(barrier.key_status(), Err(BarrierError::Sealed));
    assert_eq!(barrier.root_key(), Err(BarrierError::Sealed));
    assert_eq!(barrier.rotate().await, Err(BarrierError::Sealed));

    barrier.unseal(&root).await.unwrap();
    assert!(!barrier.is_sealed());
    assert_eq!(barrier.root_key().unwrap(), root);
    barrier.put("a", vec![1]).await.unwrap();
    barrier.seal();
    assert!(barrier.is_sealed());
    assert_eq!(barrier.get("a").await, Err(StorageError::Sealed));
    barrier.unseal(&root).await.unwrap();
    assert_eq!(barrier.get("a").await.unwrap(), Some(vec![1]));
}

#[tokio::test]
async fn wrong_root_key_is_refused_and_stays_sealed() {
    let (physical, barrier, root) = unsealed().await;
    barrier.put("k", b"v".to_vec()).await.unwrap();
    let fresh = Barrier::new(physical.clone());
    assert_eq!(
        fresh.unseal(&Key32::generate()).await,
        Err(BarrierError::InvalidKey)
    );
    assert!(fresh.is_sealed());
    // A wrong key presented to an unsealed barrier does not disturb it either.
    assert_eq!(
        barrier.unseal(&Key32::generate()).await,
        Err(BarrierError::InvalidKey)
    );
    assert_eq!(barrier.root_key().unwrap(), root);
    assert_eq!(barrier.get("k").await.unwrap(), Some(b"v".to_vec()));
}

#[tokio::test]
async fn rotation_keeps_old_data_and_uses_new_term() {
    let (physical, barrier, root) = unsealed().await;
    barrier.put("old", b"before".to_vec()).await.unwrap();
    barrier.put("other", b"x".to_vec()).await.unwrap();
    let status = barrier.key_status().unwrap();
    assert_eq!(status.term, 1);
    assert_eq!(status.encryptions, 2);
    assert!(
        status.install_time.ends_with('Z'),
        "{}",
        status.install_time
    );

    assert_eq!(barrier.rotate().await.unwrap(), 2);
    let status = barrier.key_status().unwrap();
    assert_eq!(status.term, 2);
    assert_eq!(status.encryptions, 0, "count restarts with the new term");

    barrier.put("new", b"after".to_vec()).await.unwrap();
    assert_eq!(stored_term(&physical, "old"), 1);
    assert_eq!(stored_term(&physical, "new"), 2);
    assert_eq!(barrier.get("old").await.unwrap(), Some(b"before".to_vec()));
    assert_eq!(barrier.get("new").await.unwrap(), Some(b"after".to_vec()));
    assert_eq!(barrier.key_status().unwrap().encryptions, 1);

    // The rotation was persisted: a restarted node sees term 2 and reads both.
    let restarted = Barrier::new(physical.clone());
    restarted.unseal(&root).await.unwrap();
    assert_eq!(restarted.key_status().unwrap().term, 2);
    assert_eq!(
        restarted.get("old").await.unwrap(),
        Some(b"before".to_vec())
    );
    assert_eq!(restarted.get("new").await.unwrap(), Some(b"after".to_vec()));
    assert_eq!(restarted.rotate().await.unwrap(), 3);
}

#[tokio::test]
async fn standby_picks_up_rotation() {
    let (physical, active, root) = unsealed().await;
    let standby = Barrier::new(physical.clone());
    standby.unseal(&root).await.unwrap();
    assert_eq!(active.rotate().await.unwrap(), 2);
    active.put("k", b"v".to_vec()).await.unwrap();
    assert_eq!(standby.key_status().unwrap().term, 1);
    // Reading a value of an unknown term reloads the keyring on its own...
    assert_eq!(standby.get("k").await.unwrap(), Some(b"v".to_vec()));
    assert_eq!(standby.key_status().unwrap().term, 2);
    // ...and an explicit reload picks up later rotations.
    assert_eq!(active.rotate().await.unwrap(), 3);
    standby.reload_keyring().await.unwrap();
    assert_eq!(standby.key_status().unwrap().term, 3);
}

#[tokio::test]
async fn moving_ciphertext_to_another_path_fails() {
    let (physical, barrier, _root) = unsealed().await;
    barrier.put("a/source", b"value".to_vec()).await.unwrap();
    let blob = physical.get("a/source").await.unwrap().unwrap();
    physical.put("a/target", blob).await.unwrap();
    match barrier.get("a/target").await {
        Err(StorageError::Corrupt { key, .. }) => assert_eq!(key, "a/target"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert_eq!(
        barrier.get("a/source").await.unwrap(),
        Some(b"value".to_vec())
    );
}

#[tokio::test]
async fn tampered_and_unknown_values_are_corrupt() {
    let (physical, barrier, _root) = unsealed().await;
    barrier.put("t", b"value".to_vec()).await.unwrap();
    let blob = physical.get("t").await.unwrap().unwrap();
    for (i, name) in [
        (0, "version"),
        (4, "term"),
        (10, "nonce"),
        (blob.len() - 1, "tag"),
    ] {
        let mut bad = blob.clone();
        bad[i] ^= 0x40;
        physical.put("t", bad).await.unwrap();
        assert!(
            matches!(barrier.get("t").await, Err(StorageError::Corrupt { .. })),
            "tampered {name} must be refused"
        );
    }
    physical.put("t", b"plain".to_vec()).await.unwrap();
    assert!(matches!(
        barrier.get("t").await,
        Err(StorageError::Corrupt { .. })
    ));
}

#[tokio::test]
async fn keyring_is_not_reachable_through_the_barrier() {
    let (physical, barrier, root) = unsealed().await;
    let before = physical.get(KEYRING_PATH).await.unwrap();
    for key in [KEYRING_PATH, "core/keyring-backup", "core/keyring/x"] {
        assert!(matches!(
            barrier.put(key, b"x".to_vec()).await,
            Err(StorageError::Invalid(_))
        ));
        assert!(matches!(
            barrier.delete(key).await,
            Err(StorageError::Invalid(_))
        ));
        assert!(matches!(
            barrier.get(key).await,
            Err(StorageError::Invalid(_))
        ));
    }
    // A batch with a reserved key changes nothing.
    let res = barrier
        .apply(vec![
            Op::Put {
                key: "fine".into(),
                value: b"1".to_vec(),
            },
            Op::Delete {
                key: KEYRING_PATH.into(),
            },
        ])
        .await;
    assert!(matches!(res, Err(StorageError::Invalid(_))));
    assert_eq!(barrier.get("fine").await.unwrap(), None);
    assert_eq!(physical.get(KEYRING_PATH).await.unwrap(), before);
    barrier.put("core/other", b"ok".to_vec()).await.unwrap();
    let restarted = Barrier::new(physical);
    restarted.unseal(&root).await.unwrap();
    assert_eq!(
        restarted.get("core/other").await.unwrap(),
        Some(b"ok".to_vec())
    );
}

#[tokio::test]
async fn restart_and_unseal_reads_everything_back() {
    let (physical, barrier, root) = unsealed().await;
    let mut expected = Vec::new();
    for i in 0..50u32 {
        let key = format!("logical/mount/{}/item{i}", i % 5);
        let value = format!("value number {i}").into_bytes();
        barrier.put(&key, value.clone()).await.unwrap();
        expected.push((key, value));
        if i == 25 {
            barrier.rotate().await.unwrap();
        }
    }
    drop(barrier);
    let restarted = Barrier::new(physical);
    assert!(restarted.is_initialized().await.unwrap());
    restarted.unseal(&root).await.unwrap();
    for (key, value) in &expected {
        assert_eq!(
            restarted.get(key).await.unwrap().as_ref(),
            Some(value),
            "{key}"
        );
    }
    assert_eq!(
        tresor_storage::list_recursive(&restarted, "logical/")
            .await
            .unwrap()
            .len(),
        50
    );
}

#[tokio::test]
async fn rekey_switches_root_key() {
    let (physical, barrier, old_root) = unsealed().await;
    barrier.put("k", b"v".to_vec()).await.unwrap();
    barrier.rotate().await.unwrap();
    let new_root = Key32::generate();
    barrier.rekey(&new_root).await.unwrap();
    assert_eq!(barrier.root_key().unwrap(), new_root);
    assert_eq!(
        barrier.key_status().unwrap().term,
        2,
        "rekey keeps the keyring"
    );
    assert_eq!(barrier.get("k").await.unwrap(), Some(b"v".to_vec()));

    let restarted = Barrier::new(physical);
    assert_eq!(
        restarted.unseal(&old_root).await,
        Err(BarrierError::InvalidKey)
    );
    restarted.unseal(&new_root).await.unwrap();
    assert_eq!(restarted.get("k").await.unwrap(), Some(b"v".to_vec()));
    assert_eq!(restarted.key_status().unwrap().term, 2);
}

#[tokio::test]
async fn frozen_writes_are_refused_and_change_nothing() {
    let (physical, barrier, _root) = unsealed().await;
    barrier.put("a", b"1".to_vec()).await.unwrap();
    let before = physical.dump();
    barrier.freeze_writes();
    assert!(barrier.writes_frozen());
    let err = barrier.put("a", b"2".to_vec()).await.unwrap_err();
    assert!(
        matches!(err, StorageError::Unavailable(ref m) if m.contains("restore")),
        "{err:?}"
    );
    assert!(barrier.delete("a").await.is_err());
    assert_eq!(physical.dump(), before, "a frozen barrier writes nothing");
    // Reads go on.
    assert_eq!(barrier.get("a").await.unwrap().as_deref(), Some(&b"1"[..]));
    barrier.thaw_writes();
    barrier.put("a", b"2".to_vec()).await.unwrap();
    assert_eq!(barrier.get("a").await.unwrap().as_deref(), Some(&b"2"[..]));
}
