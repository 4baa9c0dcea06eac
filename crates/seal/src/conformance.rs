//! The conformance suite every [`Seal`] implementation runs.
//!
//! Call [`run`] with a working seal (for Shamir: with a KEK installed), and
//! [`check_foreign_instance_refused`] with two independent instances of the same seal type.
//! Failures panic with a message naming the broken guarantee.

use tresor_crypto::random_bytes;

use crate::{Seal, WrappedKey};

/// Runs every single-instance check against `seal`.
pub async fn run(seal: &dyn Seal) {
    round_trip(seal).await;
    key_id_and_type_recorded(seal).await;
    wraps_are_randomized(seal).await;
    tampered_ciphertext_refused(seal).await;
    foreign_ciphertext_refused(seal).await;
    other_seal_type_refused(seal).await;
}

/// A key wrapped by `other` (an independent instance with its own key) must not unwrap in
/// `seal`, and the error must name the seal type.
pub async fn check_foreign_instance_refused(seal: &dyn Seal, other: &dyn Seal) {
    let wrapped = other.wrap(b"another instance's key").await.expect("wrap");
    let err = seal
        .unwrap(&wrapped)
        .await
        .expect_err("a key wrapped by another instance must not unwrap");
    assert_names_seal(seal, &err.to_string());
    // Even if both instances report the same key id, the other key must not decrypt.
    let own = seal.wrap(b"own").await.expect("wrap");
    let disguised = WrappedKey {
        key_id: own.key_id,
        ..wrapped
    };
    assert!(
        seal.unwrap(&disguised).await.is_err(),
        "ciphertext from another key must not unwrap under a matching key id"
    );
}

fn assert_names_seal(seal: &dyn Seal, message: &str) {
    assert!(
        message.contains(seal.seal_type()),
        "error {message:?} must name the seal type {:?}",
        seal.seal_type()
    );
}

async fn round_trip(seal: &dyn Seal) {
    for len in [1usize, 16, 32, 33, 64, 1000] {
        let secret = random_bytes(len);
        let wrapped = seal.wrap(&secret).await.expect("wrap");
        let back = seal.unwrap(&wrapped).await.expect("unwrap");
        assert_eq!(back.as_slice(), &secret[..], "round trip of {len} bytes");
        assert!(
            len < 16
                || !wrapped
                    .ciphertext
                    .windows(secret.len())
                    .any(|w| w == &secret[..]),
            "the plaintext must not appear in the ciphertext"
        );
        // The stored JSON form round-trips too.
        let stored = WrappedKey::from_json(&wrapped.to_json()).expect("json");
        assert_eq!(
            seal.unwrap(&stored).await.expect("unwrap").as_slice(),
            &secret[..]
        );
    }
}

async fn key_id_and_type_recorded(seal: &dyn Seal) {
    let wrapped = seal.wrap(b"key id").await.expect("wrap");
    assert_eq!(
        wrapped.seal_type,
        seal.seal_type(),
        "the seal type must be recorded"
    );
    assert!(
        !wrapped.key_id.is_empty(),
        "the key id must be recorded so rotated keys can still unwrap"
    );
}

async fn wraps_are_randomized(seal: &dyn Seal) {
    let a = seal.wrap(b"same").await.expect("wrap");
    let b = seal.wrap(b"same").await.expect("wrap");
    assert_ne!(
        a.ciphertext, b.ciphertext,
        "wrapping the same key twice must not give the same ciphertext"
    );
}

async fn tampered_ciphertext_refused(seal: &dyn Seal) {
    let wrapped = seal.wrap(&random_bytes(32)).await.expect("wrap");
    let n = wrapped.ciphertext.len();
    for i in [0, n / 2, n - 1] {
        let mut bad = wrapped.clone();
        bad.ciphertext[i] ^= 0x01;
        let err = seal
            .unwrap(&bad)
            .await
            .expect_err("tampered ciphertext must be refused");
        assert_names_seal(seal, &err.to_string());
    }
    let mut truncated = wrapped.clone();
    truncated.ciphertext.truncate(n / 2);
    assert!(
        seal.unwrap(&truncated).await.is_err(),
        "truncated ciphertext must be refused"
    );
    let mut empty = wrapped;
    empty.ciphertext.clear();
    assert!(
        seal.unwrap(&empty).await.is_err(),
        "empty ciphertext must be refused"
    );
}

/// Random bytes under the seal's own key id: what a blob from another key looks like to
/// anyone who does not hold that key.
async fn foreign_ciphertext_refused(seal: &dyn Seal) {
    let wrapped = seal.wrap(&random_bytes(32)).await.expect("wrap");
    let forged = WrappedKey {
        ciphertext: random_bytes(wrapped.ciphertext.len()),
        ..wrapped
    };
    let err = seal
        .unwrap(&forged)
        .await
        .expect_err("a foreign ciphertext must be refused");
    assert_names_seal(seal, &err.to_string());
}

async fn other_seal_type_refused(seal: &dyn Seal) {
    let wrapped = seal.wrap(b"typed").await.expect("wrap");
    let renamed = WrappedKey {
        seal_type: format!("not-{}", seal.seal_type()),
        ..wrapped
    };
    let err = seal
        .unwrap(&renamed)
        .await
        .expect_err("a key recorded for another seal type must be refused");
    assert_names_seal(seal, &err.to_string());
}
