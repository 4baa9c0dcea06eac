#![allow(clippy::unwrap_used)]
//! The awskms seal against moto_server, a local KMS.

mod common;

use std::time::Duration;

use common::{Moto, create_key};
use tresor_config::SealStanza;
use tresor_seal::{Seal, SealError, WrappedKey};
use tresor_seal_awskms::{AwsKmsSeal, ENV_KMS_ENDPOINT, ENV_SEAL_KEY_ID};

/// Guards against hangs only; the SDK's own timeouts are what bound the calls.
const HANG_GUARD: Duration = Duration::from_secs(120);

#[tokio::test]
async fn conformance_suite_passes() {
    let moto = Moto::start();
    let admin = moto.admin();
    let (key_a, _) = create_key(&admin).await;
    let (key_c, _) = create_key(&admin).await;
    let seal_a = moto.seal(&key_a).await;
    let seal_c = moto.seal(&key_c).await;
    assert_eq!(seal_a.seal_type(), "awskms");
    assert!(seal_a.is_auto());

    tresor_seal::conformance::run(&seal_a).await;
    tresor_seal::conformance::check_foreign_instance_refused(&seal_a, &seal_c).await;
    tresor_seal::conformance::check_foreign_instance_refused(&seal_c, &seal_a).await;
}

#[tokio::test]
async fn wrapped_key_records_the_kms_key_arn() {
    let moto = Moto::start();
    let admin = moto.admin();
    let (key_id, arn) = create_key(&admin).await;
    let seal = moto.seal(&key_id).await;
    let wrapped = seal.wrap(&[9u8; 32]).await.unwrap();
    assert_eq!(wrapped.seal_type, "awskms");
    assert_eq!(wrapped.key_id, arn);
    assert!(arn.starts_with("arn:aws:kms:us-east-1:"), "{arn}");
    assert_eq!(seal.unwrap(&wrapped).await.unwrap().as_slice(), &[9u8; 32]);
    // A seal configured by ARN instead of key id (same key) unwraps it too.
    let by_arn = moto.seal(&arn).await;
    assert_eq!(
        by_arn.unwrap(&wrapped).await.unwrap().as_slice(),
        &[9u8; 32]
    );
}

#[tokio::test]
async fn alias_repointed_to_a_new_key_still_unwraps_old_blobs() {
    let moto = Moto::start();
    let admin = moto.admin();
    let (key_a, arn_a) = create_key(&admin).await;
    let (key_b, arn_b) = create_key(&admin).await;
    admin
        .create_alias()
        .alias_name("alias/tresor-test")
        .target_key_id(&key_a)
        .send()
        .await
        .unwrap();
    let seal = moto.seal("alias/tresor-test").await;
    let secret = tresor_crypto::random_bytes(32);
    let old = seal.wrap(&secret).await.unwrap();
    assert_eq!(old.key_id, arn_a, "the key ARN, not the alias, is recorded");
    assert_eq!(seal.current_key_arn().await.unwrap(), arn_a);

    admin
        .update_alias()
        .alias_name("alias/tresor-test")
        .target_key_id(&key_b)
        .send()
        .await
        .unwrap();
    assert_eq!(seal.current_key_arn().await.unwrap(), arn_b);
    assert_eq!(seal.unwrap(&old).await.unwrap().as_slice(), &secret[..]);
    let new = seal.wrap(&secret).await.unwrap();
    assert_eq!(
        new.key_id, arn_b,
        "new wraps use the key the alias names now"
    );
    assert_eq!(seal.unwrap(&new).await.unwrap().as_slice(), &secret[..]);

    // A seal configured with key A's ARN (configuration changed from the alias) still owns
    // the old blob; a seal configured with key B by id does not.
    let by_arn_a = moto.seal(&arn_a).await;
    assert_eq!(by_arn_a.unwrap(&old).await.unwrap().as_slice(), &secret[..]);
    let by_id_b = moto.seal(&key_b).await;
    let err = by_id_b.unwrap(&old).await.unwrap_err();
    assert_eq!(
        err,
        SealError::UnknownKeyId {
            seal_type: "awskms",
            key_id: arn_a.clone()
        }
    );
}

#[tokio::test]
async fn another_kms_keys_blob_is_refused() {
    let moto = Moto::start();
    let admin = moto.admin();
    let (key_a, _) = create_key(&admin).await;
    let (key_c, arn_c) = create_key(&admin).await;
    let seal_a = moto.seal(&key_a).await;
    let seal_c = moto.seal(&key_c).await;
    let foreign = seal_c.wrap(b"not yours").await.unwrap();
    let err = seal_a.unwrap(&foreign).await.unwrap_err();
    assert_eq!(
        err,
        SealError::UnknownKeyId {
            seal_type: "awskms",
            key_id: arn_c
        }
    );
    assert!(err.to_string().contains("awskms"));

    // Key C's encrypted data key grafted into a blob of key A's: authentication fails.
    let own = seal_a.wrap(b"mine").await.unwrap();
    let disguised = WrappedKey {
        key_id: own.key_id.clone(),
        ..foreign
    };
    assert!(seal_a.unwrap(&disguised).await.is_err());
}

#[tokio::test]
async fn health_check_reports_reachability_and_refusals() {
    let moto = Moto::start();
    let admin = moto.admin();
    let (key_id, _) = create_key(&admin).await;
    moto.seal(&key_id).await.health_check().await.unwrap();

    let missing = moto.seal("alias/does-not-exist").await;
    let err = missing.health_check().await.unwrap_err();
    assert!(
        matches!(
            err,
            SealError::Encrypt {
                seal_type: "awskms",
                ..
            }
        ),
        "a missing key is a refusal, not an outage: {err:?}"
    );
    let err = missing.wrap(b"x").await.unwrap_err();
    assert!(matches!(err, SealError::Encrypt { .. }), "{err:?}");
}

#[tokio::test]
async fn environment_overrides_select_key_and_endpoint() {
    let moto = Moto::start();
    let admin = moto.admin();
    let (key_id, arn) = create_key(&admin).await;
    // The stanza names neither the key nor the endpoint; only credentials and region.
    let mut stanza = SealStanza::new("awskms");
    stanza.params.insert("access_key".into(), "test".into());
    stanza.params.insert("secret_key".into(), "test".into());
    let endpoint = moto.endpoint();
    let env = |name: &str| match name {
        ENV_SEAL_KEY_ID => Some(key_id.clone()),
        ENV_KMS_ENDPOINT => Some(endpoint.clone()),
        _ => None,
    };
    let seal = AwsKmsSeal::from_stanza_with_env(&stanza, &env)
        .await
        .unwrap();
    assert_eq!(seal.kms_key_id(), key_id);
    let wrapped = seal.wrap(b"via env").await.unwrap();
    assert_eq!(wrapped.key_id, arn);
    assert_eq!(seal.unwrap(&wrapped).await.unwrap().as_slice(), b"via env");
}

#[tokio::test]
async fn stopped_endpoint_is_reported_unavailable() {
    let mut moto = Moto::start();
    let admin = moto.admin();
    let (key_id, _) = create_key(&admin).await;
    let seal = moto.seal(&key_id).await;
    let wrapped = seal.wrap(&[1u8; 32]).await.unwrap();

    moto.stop();

    let unavailable = |err: SealError| match err {
        SealError::Unavailable { seal_type, reason } => {
            assert_eq!(seal_type, "awskms");
            assert!(!reason.is_empty());
        }
        other => panic!("expected Unavailable, got {other:?}"),
    };
    let err = tokio::time::timeout(HANG_GUARD, seal.unwrap(&wrapped))
        .await
        .expect("unwrap must give up on its own")
        .unwrap_err();
    unavailable(err);
    let err = tokio::time::timeout(HANG_GUARD, seal.wrap(b"x"))
        .await
        .expect("wrap must give up on its own")
        .unwrap_err();
    unavailable(err);
    let err = tokio::time::timeout(HANG_GUARD, seal.health_check())
        .await
        .expect("health check must give up on its own")
        .unwrap_err();
    unavailable(err);
}

#[tokio::test]
async fn unreachable_endpoint_does_not_prevent_construction() {
    // A port nothing listens on: construction must not contact KMS (a node starts sealed).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut stanza = SealStanza::new("awskms");
    for (k, v) in [
        ("kms_key_id", "alias/anything".to_owned()),
        ("endpoint", format!("http://127.0.0.1:{port}")),
        ("access_key", "test".to_owned()),
        ("secret_key", "test".to_owned()),
    ] {
        stanza.params.insert(k.into(), v);
    }
    let seal = AwsKmsSeal::from_stanza_with_env(&stanza, &|_| None)
        .await
        .unwrap();
    let err = tokio::time::timeout(HANG_GUARD, seal.wrap(b"x"))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, SealError::Unavailable { .. }), "{err:?}");
}

#[tokio::test]
async fn silent_endpoint_times_out_as_unavailable() {
    // Accepts TCP connections (the kernel completes the handshake) but never answers: the
    // operation timeout, not the peer, ends the call.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let mut stanza = SealStanza::new("awskms");
    for (k, v) in [
        ("kms_key_id", "alias/anything".to_owned()),
        ("endpoint", format!("http://127.0.0.1:{port}")),
        ("access_key", "test".to_owned()),
        ("secret_key", "test".to_owned()),
    ] {
        stanza.params.insert(k.into(), v);
    }
    let seal = AwsKmsSeal::from_stanza_with_env(&stanza, &|_| None)
        .await
        .unwrap();
    let err = tokio::time::timeout(HANG_GUARD, seal.health_check())
        .await
        .expect("the SDK's operation timeout must end the call")
        .unwrap_err();
    assert!(matches!(err, SealError::Unavailable { .. }), "{err:?}");
    drop(silent);
}
