#![allow(clippy::unwrap_used)]
//! The transit seal against a real Tresor dev server's transit engine.

use crate::common;

use std::time::Duration;

use common::{DevServer, wait_for};
use serde_json::json;
use tresor_seal::{Seal, SealError, WrappedKey};
use tresor_seal_transit::{Timeouts, TransitSeal, TransitSettings};

/// Guards against hangs only; the seal's own timeouts are what bound the calls.
const HANG_GUARD: Duration = Duration::from_secs(60);

/// A dev server with transit mounted and keys `names` created.
async fn transit_server(names: &[&str]) -> DevServer {
    let server = DevServer::start().await;
    server.enable_transit().await;
    for name in names {
        server.create_key(name).await;
    }
    server
}

#[tokio::test]
async fn conformance_suite_passes() {
    let server = transit_server(&["seal-a", "seal-b"]).await;
    let a = server.seal("seal-a", common::ROOT, true).await;
    let b = server.seal("seal-b", common::ROOT, true).await;
    assert_eq!(a.seal_type(), "transit");
    assert!(a.is_auto());

    tresor_seal::conformance::run(&a).await;
    tresor_seal::conformance::check_foreign_instance_refused(&a, &b).await;
    tresor_seal::conformance::check_foreign_instance_refused(&b, &a).await;

    let wrapped = a.wrap(&[7u8; 32]).await.unwrap();
    assert_eq!(wrapped.key_id, "seal-a:v1");
    let text = String::from_utf8(wrapped.ciphertext.clone()).unwrap();
    assert!(text.starts_with("vault:v1:"), "{text}");
    a.health_check().await.unwrap();
}

#[tokio::test]
async fn blobs_wrapped_before_a_key_rotation_still_unwrap() {
    let server = transit_server(&["unseal"]).await;
    let seal = server.seal("unseal", common::ROOT, true).await;
    let secret = tresor_crypto::random_bytes(32);
    let old = seal.wrap(&secret).await.unwrap();
    assert_eq!(old.key_id, "unseal:v1");

    server.rotate_key("unseal").await;
    let new = seal.wrap(&secret).await.unwrap();
    assert_eq!(new.key_id, "unseal:v2", "new wraps use the latest version");
    assert!(new.ciphertext.starts_with(b"vault:v2:"));
    assert_eq!(seal.unwrap(&old).await.unwrap().as_slice(), &secret[..]);
    assert_eq!(seal.unwrap(&new).await.unwrap().as_slice(), &secret[..]);

    // Once the transit key refuses version 1, the old blob is refused for good, naming it.
    server
        .post(
            "transit/keys/unseal/config",
            json!({"min_decryption_version": 2}),
        )
        .await;
    let err = seal.unwrap(&old).await.unwrap_err();
    assert!(!err.is_unavailable(), "{err:?}");
    assert_eq!(
        err,
        SealError::UnknownKeyId {
            seal_type: "transit",
            key_id: "unseal:v1".into()
        }
    );
    assert_eq!(seal.unwrap(&new).await.unwrap().as_slice(), &secret[..]);
}

#[tokio::test]
async fn a_token_without_permission_gets_a_clear_final_error() {
    let server = transit_server(&["unseal"]).await;
    let wrapped = server
        .seal("unseal", common::ROOT, true)
        .await
        .wrap(b"root key")
        .await
        .unwrap();
    let token = server.create_token(&["default"], "1h").await;
    let seal = server.seal("unseal", &token, true).await;

    let err = seal.wrap(b"root key").await.unwrap_err();
    assert!(!err.is_unavailable(), "{err:?}");
    let shown = err.to_string();
    assert!(
        shown.contains("transit") && shown.contains("permission denied"),
        "{shown}"
    );
    assert_eq!(seal.health_check().await.unwrap_err(), err);

    let err = seal.unwrap(&wrapped).await.unwrap_err();
    assert!(!err.is_unavailable(), "{err:?}");
    let shown = err.to_string();
    assert!(
        shown.contains("transit") && shown.contains("permission denied"),
        "{shown}"
    );

    // Decrypting under a transit key that does not exist is refused as an unknown key.
    // (Encrypting with a token allowed to create keys creates it, as in Vault.)
    let missing = server.seal("no-such-key", common::ROOT, true).await;
    let forged = WrappedKey {
        key_id: "no-such-key:v1".into(),
        ..wrapped
    };
    assert_eq!(
        missing.unwrap(&forged).await.unwrap_err(),
        SealError::UnknownKeyId {
            seal_type: "transit",
            key_id: "no-such-key:v1".into()
        }
    );
}

#[tokio::test]
async fn a_stopped_server_is_unavailable() {
    let mut server = transit_server(&["unseal"]).await;
    let seal = server.seal("unseal", common::ROOT, true).await;
    let wrapped = seal.wrap(b"root key").await.unwrap();

    // Sealed: the server answers 503.
    server.post("sys/seal", json!({})).await;
    let err = seal.unwrap(&wrapped).await.unwrap_err();
    assert!(
        matches!(
            err,
            SealError::Unavailable {
                seal_type: "transit",
                ..
            }
        ),
        "{err:?}"
    );

    // Gone: the connection is refused.
    server.kill();
    let err = tokio::time::timeout(HANG_GUARD, seal.wrap(b"root key"))
        .await
        .expect("the wrap must fail within its timeouts")
        .unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    assert!(err.to_string().contains("transit"), "{err}");
    let err = tokio::time::timeout(HANG_GUARD, seal.unwrap(&wrapped))
        .await
        .expect("the unwrap must fail within its timeouts")
        .unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_as_unavailable() {
    // Accepts connections and never replies.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let mut stanza = tresor_config::SealStanza::new("transit");
    for (k, v) in [
        ("address", address.as_str()),
        ("token", "t"),
        ("key_name", "k"),
        ("disable_renewal", "true"),
    ] {
        stanza.params.insert(k.to_owned(), v.to_owned());
    }
    let settings = TransitSettings::from_stanza(&stanza, &|_| None).unwrap();
    let timeouts = Timeouts {
        connect: Duration::from_secs(1),
        request: Duration::from_millis(500),
    };
    let seal = TransitSeal::with_timeouts(&settings, timeouts).unwrap();
    let err = tokio::time::timeout(HANG_GUARD, seal.wrap(b"root key"))
        .await
        .expect("the request timeout must end the call")
        .unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    assert!(err.to_string().contains("timed out"), "{err}");
    holder.abort();
}

#[tokio::test]
async fn the_token_is_renewed_in_the_background() {
    let server = transit_server(&["unseal"]).await;
    server
        .write_policy(
            "unseal",
            r#"
path "transit/encrypt/unseal" { capabilities = ["update"] }
path "transit/decrypt/unseal" { capabilities = ["update"] }
"#,
        )
        .await;

    // Without renewal, a short-lived token expires.
    let unrenewed = server.create_token(&["unseal"], "3s").await;
    let idle = server.seal("unseal", &unrenewed, true).await;
    assert!(!idle.renews_token());
    wait_for(
        "the unrenewed token to expire",
        Duration::from_secs(30),
        || async { server.token_ttl(&unrenewed).await.is_none().then_some(()) },
    )
    .await;
    let err = idle.wrap(b"root key").await.unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");

    // With renewal, its TTL goes back up, again and again, and it outlives its first TTL.
    let token = server.create_token(&["unseal"], "4s").await;
    let seal = server.seal("unseal", &token, false).await;
    assert!(seal.renews_token());
    let wrapped = seal.wrap(b"root key").await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    let mut last = server.token_ttl(&token).await.unwrap();
    let mut renewals = 0;
    while renewals < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for two renewals (saw {renewals})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        let ttl = server
            .token_ttl(&token)
            .await
            .expect("the renewed token must stay valid");
        if ttl > last {
            renewals += 1;
        }
        last = ttl;
    }
    assert_eq!(seal.unwrap(&wrapped).await.unwrap().as_slice(), b"root key");

    // Dropping the seal stops the renewal: the token then expires.
    drop(seal);
    wait_for(
        "the token to expire after the seal is dropped",
        Duration::from_secs(30),
        || async { server.token_ttl(&token).await.is_none().then_some(()) },
    )
    .await;
}
