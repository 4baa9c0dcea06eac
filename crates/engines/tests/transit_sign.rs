//! Transit's signing keys, HMAC, derived keys, backup/restore and trim through
//! `LogicalBackend::handle`, on an in-memory store. Signatures are also checked with the
//! public keys the engine shows, by the curve and RSA crates directly.
#![allow(clippy::unwrap_used)]

use crate::common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::Harness;
use serde_json::{Value, json};
use tresor_sdk::{LogicalError, Operation::*};

fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

fn sig_bytes(sig: &Value) -> Vec<u8> {
    let text = sig.as_str().unwrap();
    let body = text.splitn(3, ':').nth(2).unwrap();
    STANDARD.decode(body).unwrap()
}

async fn sign(h: &Harness, key: &str, body: Value) -> Value {
    h.data(Update, &format!("sign/{key}"), body).await
}

async fn valid(h: &Harness, key: &str, body: Value) -> bool {
    h.data(Update, &format!("verify/{key}"), body).await["valid"]
        .as_bool()
        .unwrap()
}

async fn internal(h: &Harness, op: tresor_sdk::Operation, path: &str, body: Value) -> String {
    match h.call(op, path, body).await {
        Err(LogicalError::Internal(m)) => m,
        other => panic!("{path}: expected an internal error, got {other:?}"),
    }
}

#[tokio::test]
async fn ed25519_signatures_verify_here_and_with_the_shown_public_key() {
    use ed25519_dalek::Verifier as _;
    let h = Harness::transit();
    h.ok(Update, "keys/ed", json!({"type": "ed25519"})).await;
    let info = h.data(Read, "keys/ed", json!({})).await;
    assert_eq!(info["supports_signing"], true);
    assert_eq!(info["supports_encryption"], false);
    assert_eq!(info["keys"]["1"]["name"], "ed25519");
    let pk = STANDARD
        .decode(info["keys"]["1"]["public_key"].as_str().unwrap())
        .unwrap();
    let pk = ed25519_dalek::VerifyingKey::from_bytes(&pk.try_into().unwrap()).unwrap();

    let input = b64(b"hash this ish");
    // hvac sends RSA options to an ed25519 key; they are accepted and do not matter.
    let out = sign(
        &h,
        "ed",
        json!({"input": input, "signature_algorithm": "pss", "salt_length": "-1"}),
    )
    .await;
    assert_eq!(out["key_version"], 1);
    let sig = ed25519_dalek::Signature::from_slice(&sig_bytes(&out["signature"])).unwrap();
    pk.verify(b"hash this ish", &sig).unwrap();
    assert!(
        valid(
            &h,
            "ed",
            json!({"input": input, "signature": out["signature"]})
        )
        .await
    );
    assert!(
        !valid(
            &h,
            "ed",
            json!({"input": b64(b"other"), "signature": out["signature"]})
        )
        .await
    );
    // Encryption is refused for a signing key.
    let m = h
        .bad(Update, "encrypt/ed", json!({"plaintext": input}))
        .await;
    assert!(m.contains("does not support encryption"), "{m}");
}

#[tokio::test]
async fn ecdsa_signatures_in_asn1_and_jws() {
    use p256::ecdsa::signature::Verifier as _;
    use p256::pkcs8::DecodePublicKey as _;
    let h = Harness::transit();
    for t in ["ecdsa-p256", "ecdsa-p384", "ecdsa-p521"] {
        h.ok(Update, &format!("keys/{t}"), json!({"type": t})).await;
        for marshaling in ["asn1", "jws"] {
            for alg in ["sha2-256", "sha2-512", "sha3-384"] {
                let body = json!({"input": b64(b"msg"), "marshaling_algorithm": marshaling});
                let out = h
                    .data(Update, &format!("sign/{t}/{alg}"), body.clone())
                    .await;
                let mut check = body.clone();
                check["signature"] = out["signature"].clone();
                assert!(
                    h.data(Update, &format!("verify/{t}/{alg}"), check.clone())
                        .await["valid"]
                        == true,
                    "{t} {marshaling} {alg}"
                );
                check["input"] = json!(b64(b"msh"));
                assert_eq!(
                    h.data(Update, &format!("verify/{t}/{alg}"), check).await["valid"],
                    false
                );
            }
        }
    }
    // P-256 with SHA-256 in ASN.1 is plain ECDSA: the PEM public key verifies it.
    let out = sign(&h, "ecdsa-p256", json!({"input": b64(b"plain")})).await;
    let info = h.data(Read, "keys/ecdsa-p256", json!({})).await;
    assert_eq!(info["keys"]["1"]["name"], "P-256");
    let pem = info["keys"]["1"]["public_key"].as_str().unwrap();
    let vk = p256::ecdsa::VerifyingKey::from_public_key_pem(pem).unwrap();
    let sig = p256::ecdsa::Signature::from_der(&sig_bytes(&out["signature"])).unwrap();
    vk.verify(b"plain", &sig).unwrap();
}

#[tokio::test]
async fn rsa_pss_and_pkcs1v15_with_salt_lengths() {
    use rsa::pkcs8::DecodePublicKey as _;
    let h = Harness::transit();
    h.ok(Update, "keys/r", json!({"type": "rsa-2048"})).await;
    let input = b64(b"document");
    for salt in ["auto", "hash", "-1", "0", "1", "20"] {
        let body = json!({"input": input, "salt_length": salt});
        let out = sign(&h, "r", body.clone()).await;
        for verify_salt in [salt, "auto"] {
            let check = json!({"input": input, "salt_length": verify_salt,
                "signature": out["signature"]});
            assert!(
                valid(&h, "r", check).await,
                "sign {salt} verify {verify_salt}"
            );
        }
    }
    // A fixed salt length must match when verifying.
    let out = sign(&h, "r", json!({"input": input, "salt_length": "hash"})).await;
    let check = json!({"input": input, "salt_length": "5", "signature": out["signature"]});
    assert!(!valid(&h, "r", check).await);
    // The PEM public key verifies a PSS signature with the digest-length salt.
    let info = h.data(Read, "keys/r", json!({})).await;
    let public =
        rsa::RsaPublicKey::from_public_key_pem(info["keys"]["1"]["public_key"].as_str().unwrap())
            .unwrap();
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(b"document");
    public
        .verify(
            rsa::Pss::new::<sha2::Sha256>(),
            &digest,
            &sig_bytes(&out["signature"]),
        )
        .unwrap();
    // PKCS#1 v1.5, also prehashed.
    let out = sign(
        &h,
        "r",
        json!({"input": input, "signature_algorithm": "pkcs1v15"}),
    )
    .await;
    public
        .verify(
            rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
            &digest,
            &sig_bytes(&out["signature"]),
        )
        .unwrap();
    let pre = json!({"input": b64(&digest), "prehashed": true,
        "signature_algorithm": "pkcs1v15", "signature": out["signature"]});
    assert!(valid(&h, "r", pre).await);
    // Salt lengths Vault refuses.
    for bad in ["foobar", "-2", "1.5"] {
        let m = h
            .bad(
                Update,
                "sign/r",
                json!({"input": input, "salt_length": bad}),
            )
            .await;
        assert!(m.contains("invalid salt_length"), "{bad}: {m}");
    }
    let m = h
        .bad(
            Update,
            "sign/r",
            json!({"input": input, "salt_length": "100000"}),
        )
        .await;
    assert!(m.contains("too long"), "{m}");
}

#[tokio::test]
async fn batch_signing_keeps_references_and_item_errors() {
    let h = Harness::transit();
    h.ok(Update, "keys/ed", json!({"type": "ed25519"})).await;
    let r = h
        .ok(
            Update,
            "sign/ed",
            json!({"batch_input": [
                {"input": b64(b"a"), "reference": "one"},
                {"input": "%%%", "reference": "two"},
            ]}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, tresor_sdk::ResponseStatus::InvalidRequest);
    let results = r.data.unwrap()["batch_results"].clone();
    assert_eq!(results[0]["reference"], "one");
    assert!(results[0]["signature"].is_string());
    assert!(results[1]["error"].as_str().unwrap().contains("base64"));
    let v = h
        .data(
            Update,
            "verify/ed",
            json!({"batch_input": [
                {"input": b64(b"a"), "signature": results[0]["signature"], "reference": "x"},
                {"input": b64(b"b"), "signature": results[0]["signature"]},
            ]}),
        )
        .await;
    assert_eq!(
        v["batch_results"][0],
        json!({"valid": true, "reference": "x"})
    );
    assert_eq!(v["batch_results"][1], json!({"valid": false}));
}

#[tokio::test]
async fn hmac_generate_verify_and_export() {
    use hmac::Mac as _;
    let h = Harness::transit();
    h.ok(Update, "keys/k", json!({"exportable": true})).await;
    let input = b64(b"hash this ish");
    let out = h.data(Update, "hmac/k", json!({"input": input})).await;
    assert_eq!(out.as_object().unwrap().len(), 1, "only the hmac: {out}");
    let mac = out["hmac"].as_str().unwrap().to_owned();
    assert!(mac.starts_with("vault:v1:"));
    let out512 = h
        .data(Update, "hmac/k/sha2-512", json!({"input": input}))
        .await;
    assert_eq!(sig_bytes(&out512["hmac"]).len(), 64);
    // The exported HMAC key computes the same MAC.
    let exported = h.data(Read, "export/hmac-key/k/1", json!({})).await;
    let key = STANDARD
        .decode(exported["keys"]["1"].as_str().unwrap())
        .unwrap();
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    m.update(b"hash this ish");
    assert_eq!(m.finalize().into_bytes().to_vec(), sig_bytes(&json!(mac)));
    assert!(valid(&h, "k", json!({"input": input, "hmac": mac})).await);
    assert!(!valid(&h, "k", json!({"input": b64(b"x"), "hmac": mac})).await);
    assert!(
        valid(
            &h,
            "k",
            json!({"input": input, "hmac": out512["hmac"], "hash_algorithm": "sha2-512"})
        )
        .await
    );
    let m = h
        .bad(
            Update,
            "hmac/k",
            json!({"input": input, "algorithm": "meow2-256"}),
        )
        .await;
    assert!(m.contains("unsupported algorithm"), "{m}");
    let m = h.bad(Update, "hmac/missing", json!({"input": input})).await;
    assert!(m.contains("not found"), "{m}");
}

#[tokio::test]
async fn export_types_follow_the_key_type() {
    let h = Harness::transit();
    h.ok(
        Update,
        "keys/ed",
        json!({"type": "ed25519", "exportable": true}),
    )
    .await;
    let sk = h.data(Read, "export/signing-key/ed", json!({})).await;
    assert_eq!(
        STANDARD
            .decode(sk["keys"]["1"].as_str().unwrap())
            .unwrap()
            .len(),
        64
    );
    let pk = h.data(Read, "export/public-key/ed/latest", json!({})).await;
    assert_eq!(sk["type"], "ed25519");
    assert!(pk["keys"]["1"].is_string());
    h.bad(Read, "export/encryption-key/ed", json!({})).await;
    // Without exportable only the public key leaves.
    h.ok(Update, "keys/ec", json!({"type": "ecdsa-p384"})).await;
    let m = h.bad(Read, "export/signing-key/ec", json!({})).await;
    assert!(m.contains("not exportable"), "{m}");
    let pk = h.data(Read, "export/public-key/ec", json!({})).await;
    assert!(
        pk["keys"]["1"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----")
    );
}

#[tokio::test]
async fn backup_and_restore() {
    let h = Harness::transit();
    h.ok(Update, "keys/k", json!({})).await;
    let ct = h
        .data(Update, "encrypt/k", json!({"plaintext": b64(b"kept")}))
        .await["ciphertext"]
        .clone();
    let m = internal(&h, Read, "backup/k", json!({})).await;
    assert!(m.contains("exporting is disallowed on the policy"), "{m}");
    h.ok(Update, "keys/k/config", json!({"exportable": true}))
        .await;
    let m = internal(&h, Read, "backup/k", json!({})).await;
    assert!(
        m.contains("plaintext backup is disallowed on the policy"),
        "{m}"
    );
    h.ok(
        Update,
        "keys/k/config",
        json!({"exportable": true, "allow_plaintext_backup": true}),
    )
    .await;
    let backup = h.data(Read, "backup/k", json!({})).await["backup"].clone();
    // Restore under a new name, then over the existing one only with force.
    h.ok(Update, "restore/copy", json!({"backup": backup}))
        .await;
    let plain = h
        .data(Update, "decrypt/copy", json!({"ciphertext": ct}))
        .await;
    assert_eq!(plain["plaintext"], b64(b"kept"));
    let m = internal(&h, Update, "restore", json!({"backup": backup})).await;
    assert!(m.contains("already exists"), "{m}");
    h.ok(Update, "keys/k/rotate", json!({})).await;
    h.ok(Update, "restore", json!({"backup": backup, "force": true}))
        .await;
    assert_eq!(
        h.data(Read, "keys/k", json!({})).await["latest_version"],
        1,
        "the forced restore put back the backed-up key"
    );
    // Hostile backups are refused with 400.
    for bad in [
        json!({}),
        json!({"backup": "%%%"}),
        json!({"backup": b64(b"{}")}),
    ] {
        h.bad(Update, "restore/x", bad).await;
    }
    h.bad(Update, "restore/bad name", json!({"backup": backup}))
        .await;
    assert!(h.ok(Read, "keys/x", json!({})).await.is_none());
}

#[tokio::test]
async fn trim_is_bounded_by_the_minimum_versions() {
    let h = Harness::transit();
    h.ok(Update, "keys/k", json!({})).await;
    let old = h
        .data(Update, "encrypt/k", json!({"plaintext": b64(b"v1")}))
        .await["ciphertext"]
        .clone();
    for _ in 0..10 {
        h.ok(Update, "keys/k/rotate", json!({})).await;
    }
    let m = h
        .bad(Update, "keys/k/trim", json!({"min_available_version": 2}))
        .await;
    assert!(m.contains("min_encryption_version"), "{m}");
    h.ok(
        Update,
        "keys/k/config",
        json!({"min_decryption_version": 3, "min_encryption_version": 9}),
    )
    .await;
    for (v, want) in [
        (json!(4), "min_decryption_version"),
        (json!(0), "at least 1"),
        (json!(-1), "at least 1"),
        (json!("x"), "min_available_version"),
    ] {
        let m = h
            .bad(Update, "keys/k/trim", json!({"min_available_version": v}))
            .await;
        assert!(m.contains(want), "{v}: {m}");
    }
    h.bad(Update, "keys/k/trim", json!({})).await;
    let info = h
        .data(Update, "keys/k/trim", json!({"min_available_version": 2}))
        .await;
    assert_eq!(info["min_available_version"], 2);
    // The read lists versions from min_decryption_version on: 3..=11.
    assert_eq!(info["keys"].as_object().unwrap().len(), 9);
    // Version 2 is still held (the minimum may move back to it), version 1 is gone.
    let info = h
        .data(
            Update,
            "keys/k/config",
            json!({"min_decryption_version": 2}),
        )
        .await;
    let versions: Vec<&String> = info["keys"].as_object().unwrap().keys().collect();
    assert_eq!(versions.len(), 10);
    assert!(!versions.contains(&&"1".to_owned()));
    let m = h
        .bad(Update, "keys/k/trim", json!({"min_available_version": 1}))
        .await;
    assert!(m.contains("cannot be lowered"), "{m}");
    let m = h.bad(Update, "decrypt/k", json!({"ciphertext": old})).await;
    assert!(m.contains("too old"), "{m}");
    let m = h
        .bad(
            Update,
            "keys/k/config",
            json!({"min_decryption_version": 1}),
        )
        .await;
    assert!(m.contains("trimmed"), "{m}");
    h.bad(
        Update,
        "keys/missing/trim",
        json!({"min_available_version": 1}),
    )
    .await;
}

#[tokio::test]
async fn derived_and_convergent_keys() {
    let h = Harness::transit();
    h.ok(Update, "keys/d", json!({"derived": true})).await;
    let info = h.data(Read, "keys/d", json!({})).await;
    assert_eq!(info["derived"], true);
    assert_eq!(info["kdf"], "hkdf_sha256");
    let m = h
        .bad(Update, "encrypt/d", json!({"plaintext": b64(b"x")}))
        .await;
    assert!(m.contains("context"), "{m}");
    let ctx = b64(b"tenant-1");
    let ct = h
        .data(
            Update,
            "encrypt/d",
            json!({"plaintext": b64(b"x"), "context": ctx}),
        )
        .await["ciphertext"]
        .clone();
    let plain = h
        .data(
            Update,
            "decrypt/d",
            json!({"ciphertext": ct, "context": ctx}),
        )
        .await;
    assert_eq!(plain["plaintext"], b64(b"x"));
    h.bad(
        Update,
        "decrypt/d",
        json!({"ciphertext": ct, "context": b64(b"tenant-2")}),
    )
    .await;
    // Convergent: the same plaintext and context give the same ciphertext.
    h.ok(
        Update,
        "keys/c",
        json!({"derived": true, "convergent_encryption": true, "type": "chacha20-poly1305"}),
    )
    .await;
    let enc = |ctx: &'static [u8]| json!({"plaintext": b64(b"same"), "context": b64(ctx)});
    let a = h.data(Update, "encrypt/c", enc(b"c1")).await["ciphertext"].clone();
    let b = h.data(Update, "encrypt/c", enc(b"c1")).await["ciphertext"].clone();
    let c = h.data(Update, "encrypt/c", enc(b"c2")).await["ciphertext"].clone();
    assert_eq!(a, b);
    assert_ne!(a, c);
    // A derived ed25519 key returns the context's public key with each signature.
    h.ok(
        Update,
        "keys/e",
        json!({"type": "ed25519", "derived": true}),
    )
    .await;
    let out = sign(&h, "e", json!({"input": b64(b"m"), "context": ctx})).await;
    assert!(out["public_key"].is_string());
    assert!(
        valid(
            &h,
            "e",
            json!({"input": b64(b"m"), "context": ctx, "signature": out["signature"]})
        )
        .await
    );
    assert!(
        !valid(
            &h,
            "e",
            json!({"input": b64(b"m"), "context": b64(b"other"), "signature": out["signature"]})
        )
        .await
    );
}

#[tokio::test]
async fn hostile_signing_input_gets_400_not_a_panic() {
    let h = Harness::transit();
    h.ok(Update, "keys/ed", json!({"type": "ed25519"})).await;
    h.ok(Update, "keys/aes", json!({})).await;
    let cases = [
        ("sign/ed", json!({})),
        ("sign/ed", json!({"input": "!!"})),
        ("sign/ed", json!({"input": "YQ==", "key_version": 99})),
        ("sign/ed", json!({"input": "YQ==", "key_version": "x"})),
        ("sign/ed", json!({"input": "YQ==", "hash_algorithm": "md5"})),
        (
            "sign/ed",
            json!({"input": "YQ==", "marshaling_algorithm": "xml"}),
        ),
        ("sign/ed", json!({"input": "YQ==", "batch_input": "nope"})),
        ("sign/aes", json!({"input": "YQ=="})),
        ("sign/missing", json!({"input": "YQ=="})),
        ("verify/ed", json!({"input": "YQ=="})),
        (
            "verify/ed",
            json!({"input": "YQ==", "signature": "vault:v1:%%"}),
        ),
        (
            "verify/ed",
            json!({"input": "YQ==", "signature": "vault:v99999999999999999999:AA"}),
        ),
        (
            "verify/ed",
            json!({"input": "YQ==", "signature": "vault:v0:AA"}),
        ),
        (
            "verify/missing",
            json!({"input": "YQ==", "signature": "vault:v1:AA"}),
        ),
        (
            "verify/aes",
            json!({"input": "YQ==", "signature": "vault:v1:AA"}),
        ),
        ("verify/aes", json!({"input": "YQ==", "hmac": "garbage"})),
    ];
    for (path, body) in cases {
        h.bad(Update, path, body).await;
    }
    // A well-formed but wrong signature is simply invalid.
    assert!(
        !valid(
            &h,
            "ed",
            json!({"input": "YQ==", "signature": "vault:v1:AAAA"})
        )
        .await
    );
}
