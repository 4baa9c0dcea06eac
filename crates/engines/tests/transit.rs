//! The transit engine through `LogicalBackend::handle`, on an in-memory store.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{Harness, START_NS};
use serde_json::{Value, json};
use tresor_engines::{Transit, is_known_type, new_backend};
use tresor_sdk::{LogicalError, MountInfo, Operation::*};
use tresor_storage::{InMemBackend, View};

fn harness() -> Harness {
    let now = Arc::new(AtomicI64::new(START_NS));
    let n = now.clone();
    let backend = Arc::new(Transit::with_clock(Arc::new(move || {
        n.load(Ordering::SeqCst)
    })));
    let inner = Arc::new(InMemBackend::new());
    let view = View::new(inner.clone(), "logical/test-uuid/");
    let mount = MountInfo {
        path: "transit/".into(),
        kind: "transit".into(),
        ..MountInfo::default()
    };
    Harness {
        backend,
        inner,
        view,
        now,
        mount,
    }
}

fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

fn unb64(v: &Value) -> Vec<u8> {
    STANDARD.decode(v.as_str().unwrap()).unwrap()
}

async fn encrypt(h: &Harness, key: &str, plain: &[u8]) -> (String, u64) {
    let v = h
        .data(
            Update,
            &format!("encrypt/{key}"),
            json!({"plaintext": b64(plain)}),
        )
        .await;
    (
        v["ciphertext"].as_str().unwrap().to_owned(),
        v["key_version"].as_u64().unwrap(),
    )
}

async fn decrypt(h: &Harness, key: &str, ciphertext: &str) -> Result<Vec<u8>, String> {
    match h
        .call(
            Update,
            &format!("decrypt/{key}"),
            json!({"ciphertext": ciphertext}),
        )
        .await
    {
        Ok(Some(r)) => Ok(unb64(&r.data.unwrap()["plaintext"])),
        Ok(None) => panic!("decrypt answered nothing"),
        Err(LogicalError::InvalidRequest(m)) => Err(m),
        Err(e) => panic!("decrypt: unexpected error {e}"),
    }
}

#[tokio::test]
async fn factory_builds_transit() {
    assert!(is_known_type("transit"));
    let mut h = harness();
    h.backend = new_backend("transit", &BTreeMap::new()).unwrap();
    h.ok(Update, "keys/k", json!({})).await;
    let (c, v) = encrypt(&h, "k", b"via factory").await;
    assert_eq!(v, 1);
    assert_eq!(decrypt(&h, "k", &c).await.unwrap(), b"via factory");
}

#[tokio::test]
async fn create_read_list_keys() {
    let h = harness();
    assert!(h.ok(Read, "keys/k1", json!({})).await.is_none());
    assert!(h.ok(List, "keys/", json!({})).await.is_none());
    let created = h.data(Update, "keys/k1", json!({"exportable": true})).await;
    assert_eq!(created["name"], "k1");
    h.ok(Update, "keys/k0", json!({"type": "aes128-gcm96"}))
        .await;
    let v = h.data(Read, "keys/k1", json!({})).await;
    assert_eq!(v["type"], "aes256-gcm96");
    assert_eq!(v["keys"], json!({"1": START_NS / 1_000_000_000}));
    assert_eq!(v["latest_version"], 1);
    assert_eq!(v["min_decryption_version"], 1);
    assert_eq!(v["min_encryption_version"], 0);
    assert_eq!(v["min_available_version"], 0);
    assert_eq!(v["deletion_allowed"], false);
    assert_eq!(v["exportable"], true);
    assert_eq!(v["allow_plaintext_backup"], false);
    assert_eq!(v["derived"], false);
    assert_eq!(v["supports_encryption"], true);
    assert_eq!(v["supports_decryption"], true);
    assert_eq!(v["supports_signing"], false);
    assert_eq!(v["imported_key"], false);
    assert_eq!(v["auto_rotate_period"], 0);
    assert!(v.get("key").is_none(), "key material must never be shown");
    assert_eq!(
        h.data(Read, "keys/k0", json!({})).await["type"],
        "aes128-gcm96"
    );
    assert_eq!(
        h.data(List, "keys/", json!({})).await["keys"],
        json!(["k0", "k1"])
    );
    // Creating again changes nothing and says so.
    let again = h
        .ok(Update, "keys/k1", json!({"type": "aes128-gcm96"}))
        .await
        .unwrap();
    assert_eq!(again.warnings.len(), 1);
    assert_eq!(
        h.data(Read, "keys/k1", json!({})).await["type"],
        "aes256-gcm96"
    );
    // The key material is stored in the mount's view (the barrier encrypts it below).
    assert_eq!(h.stored_keys("policy/").len(), 2);
}

#[tokio::test]
async fn unsupported_key_settings_are_refused() {
    let h = harness();
    let m = h
        .bad(Update, "keys/c", json!({"convergent_encryption": true}))
        .await;
    assert!(m.contains("needs derived=true"), "{m}");
    let m = h
        .bad(
            Update,
            "keys/d",
            json!({"type": "ecdsa-p256", "derived": true}),
        )
        .await;
    assert!(m.contains("cannot be derived"), "{m}");
    let m = h.bad(Update, "keys/r", json!({"type": "rsa-1024"})).await;
    assert!(m.contains("unknown key type"), "{m}");
    h.bad(Update, "keys/bad name", json!({})).await;
    assert!(
        h.ok(List, "keys/", json!({})).await.is_none(),
        "nothing was created"
    );
}

#[tokio::test]
async fn rotate_and_decrypt_across_versions() {
    let h = harness();
    h.ok(Update, "keys/k", json!({})).await;
    let (c1, v1) = encrypt(&h, "k", b"first").await;
    assert!(c1.starts_with("vault:v1:"));
    h.advance_secs(10);
    let rotated = h.data(Update, "keys/k/rotate", json!({})).await;
    assert_eq!(rotated["latest_version"], 2);
    let (c2, v2) = encrypt(&h, "k", b"second").await;
    assert_eq!((v1, v2), (1, 2));
    assert!(c2.starts_with("vault:v2:"));
    assert_eq!(decrypt(&h, "k", &c1).await.unwrap(), b"first");
    assert_eq!(decrypt(&h, "k", &c2).await.unwrap(), b"second");
    let info = h.data(Read, "keys/k", json!({})).await;
    let t0 = START_NS / 1_000_000_000;
    assert_eq!(info["keys"], json!({"1": t0, "2": t0 + 10}));
    // An explicit older version may still encrypt.
    let v = h
        .data(
            Update,
            "encrypt/k",
            json!({"plaintext": b64(b"x"), "key_version": 1}),
        )
        .await;
    assert_eq!(v["key_version"], 1);
    h.bad(
        Update,
        "encrypt/k",
        json!({"plaintext": b64(b"x"), "key_version": 3}),
    )
    .await;
    // Rotating a missing key is an error, not a creation.
    h.bad(Update, "keys/none/rotate", json!({})).await;
}

#[tokio::test]
async fn min_decryption_and_encryption_versions() {
    let h = harness();
    h.ok(Update, "keys/k", json!({})).await;
    let (c1, _) = encrypt(&h, "k", b"old").await;
    h.ok(Update, "keys/k/rotate", json!({})).await;
    let (c2, _) = encrypt(&h, "k", b"new").await;
    let m = h
        .bad(
            Update,
            "keys/k/config",
            json!({"min_decryption_version": 3}),
        )
        .await;
    assert!(m.contains("latest key version is 2"), "{m}");
    let cfg = h
        .data(
            Update,
            "keys/k/config",
            json!({"min_decryption_version": 2, "min_encryption_version": 2}),
        )
        .await;
    assert_eq!(cfg["min_decryption_version"], 2);
    let err = decrypt(&h, "k", &c1).await.unwrap_err();
    assert!(err.contains("too old"), "{err}");
    assert_eq!(decrypt(&h, "k", &c2).await.unwrap(), b"new");
    let m = h
        .bad(
            Update,
            "encrypt/k",
            json!({"plaintext": b64(b"x"), "key_version": 1}),
        )
        .await;
    assert!(m.contains("min_encryption_version"), "{m}");
    // Lowering it again makes the old ciphertext readable: versions are kept, not destroyed.
    h.ok(
        Update,
        "keys/k/config",
        json!({"min_decryption_version": 1, "min_encryption_version": 0}),
    )
    .await;
    assert_eq!(decrypt(&h, "k", &c1).await.unwrap(), b"old");
    // min_encryption_version may not fall below min_decryption_version.
    let m = h
        .bad(
            Update,
            "keys/k/config",
            json!({"min_decryption_version": 2, "min_encryption_version": 1}),
        )
        .await;
    assert!(m.contains("min_decryption_version"), "{m}");
    assert_eq!(
        h.data(Read, "keys/k", json!({})).await["min_decryption_version"],
        1
    );
}

#[tokio::test]
async fn exportable_cannot_be_unset_and_config_needs_a_key() {
    let h = harness();
    h.ok(Update, "keys/k", json!({})).await;
    h.ok(Update, "keys/k/config", json!({"exportable": true}))
        .await;
    let m = h
        .bad(Update, "keys/k/config", json!({"exportable": false}))
        .await;
    assert!(m.contains("cannot be disabled"), "{m}");
    let m = h
        .bad(Update, "keys/k/config", json!({"auto_rotate_period": "5m"}))
        .await;
    assert!(m.contains("auto_rotate_period"), "{m}");
    h.bad(
        Update,
        "keys/missing/config",
        json!({"deletion_allowed": true}),
    )
    .await;
}

#[tokio::test]
async fn tampered_or_foreign_ciphertext_is_refused() {
    let h = harness();
    h.ok(Update, "keys/a", json!({})).await;
    h.ok(Update, "keys/b", json!({})).await;
    let (c, _) = encrypt(&h, "a", b"secret").await;
    let err = decrypt(&h, "b", &c).await.unwrap_err();
    assert!(err.contains("authentication failed"), "{err}");
    let mut blob = STANDARD.decode(&c["vault:v1:".len()..]).unwrap();
    let last = blob.len() - 1;
    blob[last] ^= 1;
    let tampered = format!("vault:v1:{}", b64(&blob));
    assert!(decrypt(&h, "a", &tampered).await.is_err());
    let err = decrypt(&h, "a", "not-a-ciphertext").await.unwrap_err();
    assert!(err.contains("invalid ciphertext"), "{err}");
    let err = decrypt(&h, "a", "vault:v7:AAAA").await.unwrap_err();
    assert!(err.contains("does not exist"), "{err}");
    let m = h
        .bad(Update, "decrypt/nokey", json!({"ciphertext": c}))
        .await;
    assert!(m.contains("encryption key not found"), "{m}");
    // Associated data must match.
    let v = h
        .data(
            Update,
            "encrypt/a",
            json!({"plaintext": b64(b"p"), "associated_data": b64(b"ctx-1")}),
        )
        .await;
    let ct = v["ciphertext"].clone();
    h.bad(
        Update,
        "decrypt/a",
        json!({"ciphertext": ct, "associated_data": b64(b"ctx-2")}),
    )
    .await;
    let ok = h
        .data(
            Update,
            "decrypt/a",
            json!({"ciphertext": ct, "associated_data": b64(b"ctx-1")}),
        )
        .await;
    assert_eq!(unb64(&ok["plaintext"]), b"p");
}

#[tokio::test]
async fn encrypt_upserts_only_on_create() {
    let h = harness();
    assert_eq!(h.exists(Update, "encrypt/auto").await, Some(false));
    assert_eq!(h.exists(Update, "decrypt/auto").await, None);
    let m = h
        .bad(Update, "encrypt/auto", json!({"plaintext": b64(b"x")}))
        .await;
    assert!(m.contains("encryption key not found"), "{m}");
    assert!(h.ok(Read, "keys/auto", json!({})).await.is_none());
    let v = h
        .data(
            Create,
            "encrypt/auto",
            json!({"plaintext": b64(b"x"), "type": "aes128-gcm96"}),
        )
        .await;
    assert_eq!(v["key_version"], 1);
    assert_eq!(h.exists(Update, "encrypt/auto").await, Some(true));
    assert_eq!(
        h.data(Read, "keys/auto", json!({})).await["type"],
        "aes128-gcm96"
    );
    assert_eq!(
        decrypt(&h, "auto", v["ciphertext"].as_str().unwrap())
            .await
            .unwrap(),
        b"x"
    );
    // An upsert that asks for an impossible key (convergent without derivation) is refused
    // and creates nothing.
    h.bad(
        Create,
        "encrypt/der",
        json!({"plaintext": "", "convergent_encryption": true}),
    )
    .await;
    assert!(h.ok(Read, "keys/der", json!({})).await.is_none());
    // Nor does encrypt create a signing key it could not use.
    let m = h
        .bad(
            Create,
            "encrypt/sig",
            json!({"plaintext": "", "type": "ed25519"}),
        )
        .await;
    assert!(m.contains("cannot encrypt"), "{m}");
    assert!(h.ok(Read, "keys/sig", json!({})).await.is_none());
}

#[tokio::test]
async fn rewrap_moves_to_latest_or_requested_version() {
    let h = harness();
    h.ok(Update, "keys/k", json!({})).await;
    let (c1, _) = encrypt(&h, "k", b"payload").await;
    h.ok(Update, "keys/k/rotate", json!({})).await;
    h.ok(Update, "keys/k/rotate", json!({})).await;
    let v = h.data(Update, "rewrap/k", json!({"ciphertext": c1})).await;
    assert_eq!(v["key_version"], 3);
    let c3 = v["ciphertext"].as_str().unwrap().to_owned();
    assert!(c3.starts_with("vault:v3:"));
    let v = h
        .data(
            Update,
            "rewrap/k",
            json!({"ciphertext": c1, "key_version": 2}),
        )
        .await;
    assert_eq!(v["key_version"], 2);
    // After raising the minimum, the rewrapped ciphertext still decrypts, the original does not.
    h.ok(
        Update,
        "keys/k/config",
        json!({"min_decryption_version": 3}),
    )
    .await;
    assert_eq!(decrypt(&h, "k", &c3).await.unwrap(), b"payload");
    assert!(decrypt(&h, "k", &c1).await.is_err());
    h.bad(Update, "rewrap/k", json!({"ciphertext": c1})).await;
    h.bad(Update, "rewrap/missing", json!({"ciphertext": c3}))
        .await;
}

#[tokio::test]
async fn datakeys_decrypt_to_their_plaintext() {
    let h = harness();
    h.ok(Update, "keys/k", json!({})).await;
    let v = h.data(Update, "datakey/plaintext/k", json!({})).await;
    let plain = unb64(&v["plaintext"]);
    assert_eq!(plain.len(), 32);
    assert_eq!(v["key_version"], 1);
    let unwrapped = decrypt(&h, "k", v["ciphertext"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(unwrapped, plain);

    let w = h
        .data(Update, "datakey/wrapped/k", json!({"bits": 512}))
        .await;
    assert!(
        w.get("plaintext").is_none(),
        "wrapped data keys carry no plaintext"
    );
    let key = decrypt(&h, "k", w["ciphertext"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(key.len(), 64);
    assert_ne!(key[..32], plain[..]);

    let v = h
        .data(Update, "datakey/plaintext/k", json!({"bits": "128"}))
        .await;
    assert_eq!(unb64(&v["plaintext"]).len(), 16);
    let m = h
        .bad(Update, "datakey/plaintext/k", json!({"bits": 100}))
        .await;
    assert!(m.contains("bits"), "{m}");
    h.bad(Update, "datakey/other/k", json!({})).await;
    let m = h.bad(Update, "datakey/wrapped/none", json!({})).await;
    assert!(m.contains("encryption key not found"), "{m}");
}

#[tokio::test]
async fn delete_requires_deletion_allowed() {
    let h = harness();
    h.ok(Update, "keys/k", json!({})).await;
    let m = h.bad(Delete, "keys/k", json!({})).await;
    assert!(m.contains("deletion is not allowed"), "{m}");
    assert!(h.ok(Read, "keys/k", json!({})).await.is_some());
    h.ok(Update, "keys/k/config", json!({"deletion_allowed": true}))
        .await;
    assert!(h.ok(Delete, "keys/k", json!({})).await.is_none());
    assert!(h.ok(Read, "keys/k", json!({})).await.is_none());
    assert!(h.stored_keys("policy/").is_empty());
    let m = h.bad(Delete, "keys/k", json!({})).await;
    assert!(m.contains("not found"), "{m}");
}

#[tokio::test]
async fn batch_encrypt_and_decrypt() {
    let h = harness();
    h.ok(Update, "keys/k", json!({})).await;
    let enc = h
        .data(
            Update,
            "encrypt/k",
            json!({"batch_input": [
                {"plaintext": b64(b"one"), "reference": "r1"},
                {"plaintext": b64(b"two")},
            ]}),
        )
        .await;
    let results = enc["batch_results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["reference"], "r1");
    assert_eq!(results[1]["key_version"], 1);
    let c1 = results[0]["ciphertext"].clone();
    let c2 = results[1]["ciphertext"].clone();
    assert_ne!(c1, c2);

    let resp = h
        .ok(
            Update,
            "decrypt/k",
            json!({"batch_input": [
                {"ciphertext": c2},
                {"ciphertext": "vault:v1:garbage", "reference": "bad"},
                {"ciphertext": c1},
            ]}),
        )
        .await
        .unwrap();
    assert_eq!(
        resp.status,
        tresor_sdk::ResponseStatus::InvalidRequest,
        "a failed item makes the batch a 400"
    );
    let data = Value::Object(resp.data.unwrap());
    let results = data["batch_results"].as_array().unwrap();
    assert_eq!(unb64(&results[0]["plaintext"]), b"two");
    assert!(
        results[1]["error"]
            .as_str()
            .unwrap()
            .contains("invalid ciphertext")
    );
    assert_eq!(results[1]["reference"], "bad");
    assert_eq!(unb64(&results[2]["plaintext"]), b"one");

    let resp = h
        .ok(
            Update,
            "decrypt/k",
            json!({"partial_failure_response_code": 207, "batch_input": [
                {"ciphertext": c1}, {"ciphertext": ""},
            ]}),
        )
        .await
        .unwrap();
    assert_eq!(resp.status, tresor_sdk::ResponseStatus::ClientChosen(207));
    h.bad(Update, "encrypt/k", json!({"batch_input": []})).await;
}

#[tokio::test]
async fn auto_rotation_happens_on_use_after_the_period() {
    let h = harness();
    h.ok(Update, "keys/k", json!({"auto_rotate_period": "1h"}))
        .await;
    assert_eq!(
        h.data(Read, "keys/k", json!({})).await["auto_rotate_period"],
        3600
    );
    let (c1, v1) = encrypt(&h, "k", b"a").await;
    h.advance_secs(3599);
    assert_eq!(encrypt(&h, "k", b"b").await.1, v1);
    h.advance_secs(1);
    let (_, v2) = encrypt(&h, "k", b"c").await;
    assert_eq!(v2, 2);
    assert_eq!(h.data(Read, "keys/k", json!({})).await["latest_version"], 2);
    assert_eq!(decrypt(&h, "k", &c1).await.unwrap(), b"a");
    // Disabling it stops rotation.
    h.ok(Update, "keys/k/config", json!({"auto_rotate_period": 0}))
        .await;
    h.advance_secs(100_000);
    assert_eq!(encrypt(&h, "k", b"d").await.1, 2);
}

#[tokio::test]
async fn export_gives_keys_that_open_ciphertexts() {
    let h = harness();
    h.ok(Update, "keys/plain", json!({})).await;
    let m = h.bad(Read, "export/encryption-key/plain", json!({})).await;
    assert!(m.contains("not exportable"), "{m}");
    h.ok(Update, "keys/k", json!({"exportable": true})).await;
    h.ok(Update, "keys/k/rotate", json!({})).await;
    let (c, v) = encrypt(&h, "k", b"portable").await;
    assert_eq!(v, 2);
    let all = h.data(Read, "export/encryption-key/k", json!({})).await;
    assert_eq!(all["keys"].as_object().unwrap().len(), 2);
    let latest = h
        .data(Read, "export/encryption-key/k/latest", json!({}))
        .await;
    let key = unb64(&latest["keys"]["2"]);
    assert_eq!(key, unb64(&all["keys"]["2"]));
    // The ciphertext is nonce || ciphertext || tag under the exported key.
    let blob = STANDARD.decode(&c["vault:v2:".len()..]).unwrap();
    let cipher = Aes256Gcm::new_from_slice(&key).unwrap();
    let plain = cipher
        .decrypt(Nonce::from_slice(&blob[..12]), &blob[12..])
        .unwrap();
    assert_eq!(plain, b"portable");
    h.bad(Read, "export/encryption-key/k/9", json!({})).await;
    h.bad(Read, "export/kitty-key/k", json!({})).await;
    // Symmetric keys have no signing or public key to export.
    h.bad(Read, "export/signing-key/k", json!({})).await;
    h.bad(Read, "export/public-key/k", json!({})).await;
}

#[tokio::test]
async fn random_and_hash() {
    let h = harness();
    let r = h.data(Update, "random/16", json!({})).await;
    assert_eq!(unb64(&r["random_bytes"]).len(), 16);
    let r = h
        .data(Update, "random", json!({"format": "hex", "bytes": 8}))
        .await;
    assert_eq!(r["random_bytes"].as_str().unwrap().len(), 16);
    let a = h.data(Update, "random", json!({})).await;
    let b = h.data(Update, "random", json!({})).await;
    assert_ne!(a["random_bytes"], b["random_bytes"]);
    let s = h
        .data(Update, "hash/sha2-256", json!({"input": b64(b"abc")}))
        .await;
    assert_eq!(
        s["sum"],
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    let s2 = h
        .data(
            Update,
            "hash",
            json!({"input": b64(b"abc"), "algorithm": "sha2-256", "format": "base64"}),
        )
        .await;
    assert_eq!(
        hex::encode(unb64(&s2["sum"])),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    h.bad(Update, "hash/md5", json!({"input": b64(b"abc")}))
        .await;
    h.bad(Update, "hash", json!({})).await;
}

#[tokio::test]
async fn unknown_paths_and_operations() {
    let h = harness();
    assert!(matches!(
        h.call(Read, "nope", json!({})).await,
        Err(LogicalError::UnsupportedPath)
    ));
    assert!(matches!(
        h.call(Read, "encrypt/k", json!({})).await,
        Err(LogicalError::UnsupportedOperation)
    ));
    assert!(matches!(
        h.call(Delete, "keys/k/rotate", json!({})).await,
        Err(LogicalError::UnsupportedOperation)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_upserts_create_one_key() {
    let h = Arc::new(harness());
    let mut tasks = Vec::new();
    for i in 0..8u8 {
        let h = h.clone();
        tasks.push(tokio::spawn(async move {
            let v = h
                .data(Create, "encrypt/race", json!({"plaintext": b64(&[i])}))
                .await;
            (i, v["ciphertext"].as_str().unwrap().to_owned())
        }));
    }
    let mut outputs = Vec::new();
    for t in tasks {
        outputs.push(t.await.unwrap());
    }
    // Had a second upsert replaced the key, earlier ciphertexts would no longer decrypt.
    assert_eq!(
        h.data(Read, "keys/race", json!({})).await["latest_version"],
        1
    );
    for (i, c) in outputs {
        assert_eq!(decrypt(&h, "race", &c).await.unwrap(), vec![i]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_rotations_each_add_a_version() {
    let h = Arc::new(harness());
    h.ok(Update, "keys/k", json!({})).await;
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let h = h.clone();
            tokio::spawn(async move { h.ok(Update, "keys/k/rotate", json!({})).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let info = h.data(Read, "keys/k", json!({})).await;
    assert_eq!(info["latest_version"], 7);
    assert_eq!(info["keys"].as_object().unwrap().len(), 7);
}
