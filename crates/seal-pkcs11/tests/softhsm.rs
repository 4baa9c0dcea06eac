#![allow(clippy::unwrap_used)]
//! The pkcs11 seal against a real PKCS#11 module, SoftHSM2. Each test body runs in a child
//! process of this binary with its own tokens; see `support` for why and how.

mod support;

use cryptoki::context::Pkcs11;
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use tresor_seal::{Seal, SealError, WrappedKey, conformance};
use tresor_seal_pkcs11::Pkcs11Seal;

use support::{ChildHsm, PIN, SoftHsm, block_on, softhsm_lib};

fn no_env(_: &str) -> Option<String> {
    None
}

fn open(hsm: &ChildHsm, token: &str, key: &str, generate: bool) -> Result<Pkcs11Seal, SealError> {
    Pkcs11Seal::from_stanza_with_env(&hsm.stanza(token, key, generate), &no_env)
}

#[test]
fn conformance_suite() {
    let Some(hsm) = ChildHsm::current() else {
        return SoftHsm::new(&["t1"]).run("conformance_suite", "main");
    };
    let seal = open(&hsm, "t1", "tresor-root", true).unwrap();
    assert_eq!(seal.seal_type(), "pkcs11");
    assert!(seal.is_auto());
    block_on(async {
        conformance::run(&seal).await;
        seal.health_check().await.unwrap();
        // A failed tag check is an authentication failure, not an outage.
        let mut tampered = seal.wrap(b"root key").await.unwrap();
        let last = tampered.ciphertext.len() - 1;
        tampered.ciphertext[last] ^= 0x80;
        assert_eq!(
            seal.unwrap(&tampered).await.unwrap_err(),
            SealError::Decrypt {
                seal_type: "pkcs11"
            }
        );
        tampered.ciphertext.truncate(20);
        assert_eq!(
            seal.unwrap(&tampered).await.unwrap_err(),
            SealError::Decrypt {
                seal_type: "pkcs11"
            }
        );
    });
}

#[test]
fn a_blob_from_another_tokens_key_is_refused() {
    let Some(hsm) = ChildHsm::current() else {
        return SoftHsm::new(&["t1", "t2"])
            .run("a_blob_from_another_tokens_key_is_refused", "main");
    };
    // Same key label on two tokens: two different keys.
    let a = open(&hsm, "t1", "tresor-root", true).unwrap();
    let b = open(&hsm, "t2", "tresor-root", true).unwrap();
    block_on(async {
        conformance::check_foreign_instance_refused(&a, &b).await;
        conformance::check_foreign_instance_refused(&b, &a).await;
        let from_b = b.wrap(b"root key").await.unwrap();
        assert_ne!(from_b.key_id, a.current_key_id().await.unwrap());
        match a.unwrap(&from_b).await.unwrap_err() {
            SealError::UnknownKeyId { seal_type, key_id } => {
                assert_eq!(seal_type, "pkcs11");
                assert_eq!(key_id, from_b.key_id);
            }
            other => panic!("expected UnknownKeyId, got {other:?}"),
        }
    });
}

#[test]
fn generate_key_creates_the_key_then_finds_it() {
    let Some(hsm) = ChildHsm::current() else {
        let softhsm = SoftHsm::new(&["t1"]);
        let name = "generate_key_creates_the_key_then_finds_it";
        softhsm.run(name, "create");
        softhsm.run(name, "find");
        return;
    };
    let stored = hsm.dir.join("wrapped.json");
    match hsm.phase.as_str() {
        "create" => {
            // Not there yet: without generate_key it is a clear error...
            let err = open(&hsm, "t1", "tresor-root", false).unwrap_err();
            assert!(err.to_string().contains("tresor-root"), "{err}");
            // ...and generate_key creates it.
            let seal = open(&hsm, "t1", "tresor-root", true).unwrap();
            let wrapped = block_on(seal.wrap(b"the root key")).unwrap();
            assert!(
                wrapped.key_id.starts_with("tresor-root#"),
                "{}",
                wrapped.key_id
            );
            std::fs::write(&stored, wrapped.to_json()).unwrap();
        }
        "find" => {
            // A new process finds the key the first one created, with or without
            // generate_key, and does not create a second one.
            let wrapped = WrappedKey::from_json(&std::fs::read(&stored).unwrap()).unwrap();
            for generate in [false, true] {
                let seal = open(&hsm, "t1", "tresor-root", generate).unwrap();
                block_on(async {
                    assert_eq!(seal.current_key_id().await.unwrap(), wrapped.key_id);
                    let back = seal.unwrap(&wrapped).await.unwrap();
                    assert_eq!(back.as_slice(), b"the root key");
                });
            }
        }
        other => panic!("unknown phase {other}"),
    }
}

#[test]
fn a_wrong_pin_is_a_clear_error() {
    let Some(hsm) = ChildHsm::current() else {
        return SoftHsm::new(&["t1"]).run("a_wrong_pin_is_a_clear_error", "main");
    };
    let mut stanza = hsm.stanza("t1", "tresor-root", true);
    stanza.params.insert("pin".into(), "0000".into());
    let err = Pkcs11Seal::from_stanza_with_env(&stanza, &no_env).unwrap_err();
    assert!(
        matches!(err, SealError::InvalidConfig { .. }),
        "a refused pin must not look retriable: {err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("pkcs11"), "{text}");
    assert!(text.contains("CKR_PIN_INCORRECT"), "{text}");
    assert!(!text.contains("0000"), "the pin must not appear: {text}");
    // The VAULT_HSM_PIN override fixes it.
    let env = |name: &str| (name == "VAULT_HSM_PIN").then(|| PIN.to_owned());
    let seal = Pkcs11Seal::from_stanza_with_env(&stanza, &env).unwrap();
    block_on(seal.health_check()).unwrap();
}

#[test]
fn a_missing_key_without_generate_key_is_a_clear_error() {
    let Some(hsm) = ChildHsm::current() else {
        return SoftHsm::new(&["t1"]).run(
            "a_missing_key_without_generate_key_is_a_clear_error",
            "main",
        );
    };
    let err = open(&hsm, "t1", "no-such-key", false).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("pkcs11"), "{text}");
    assert!(text.contains("no-such-key"), "{text}");
    assert!(text.contains("generate_key"), "{text}");
    // Another token's key does not count.
    open(&hsm, "t1", "present", true).unwrap();
    let mut by_id = hsm.stanza("t1", "present", false);
    by_id.params.remove("key_label");
    by_id.params.insert("key_id".into(), "0xfeedface".into());
    let err = Pkcs11Seal::from_stanza_with_env(&by_id, &no_env).unwrap_err();
    assert!(err.to_string().contains("feedface"), "{err}");
}

#[test]
fn the_token_is_found_by_slot_or_label() {
    let Some(hsm) = ChildHsm::current() else {
        return SoftHsm::new(&["t1", "t2"]).run("the_token_is_found_by_slot_or_label", "main");
    };
    let by_label = open(&hsm, "t2", "k", true).unwrap();
    let mut by_slot = hsm.stanza("t2", "k", false);
    by_slot.params.remove("token_label");
    by_slot
        .params
        .insert("slot".into(), hsm.slot("t2").to_string());
    let by_slot = Pkcs11Seal::from_stanza_with_env(&by_slot, &no_env).unwrap();
    block_on(async {
        let wrapped = by_label.wrap(b"k").await.unwrap();
        assert_eq!(by_slot.unwrap(&wrapped).await.unwrap().as_slice(), b"k");
    });

    let mut mismatch = hsm.stanza("t1", "k", true);
    mismatch
        .params
        .insert("slot".into(), hsm.slot("t2").to_string());
    let err = Pkcs11Seal::from_stanza_with_env(&mismatch, &no_env).unwrap_err();
    assert!(err.to_string().contains("\"t1\""), "{err}");
    let err = open(&hsm, "absent-token", "k", true).unwrap_err();
    assert!(
        matches!(err, SealError::Unavailable { .. }) && err.to_string().contains("absent-token"),
        "{err:?}"
    );
}

#[test]
fn an_older_key_still_unwraps_after_the_key_label_changes() {
    let Some(hsm) = ChildHsm::current() else {
        return SoftHsm::new(&["t1"]).run(
            "an_older_key_still_unwraps_after_the_key_label_changes",
            "main",
        );
    };
    let old = open(&hsm, "t1", "key-2025", true).unwrap();
    let wrapped = block_on(old.wrap(b"root")).unwrap();
    drop(old);
    let new = open(&hsm, "t1", "key-2026", true).unwrap();
    block_on(async {
        assert_eq!(new.unwrap(&wrapped).await.unwrap().as_slice(), b"root");
        let rewrapped = new.wrap(b"root").await.unwrap();
        assert!(
            rewrapped.key_id.starts_with("key-2026#"),
            "{}",
            rewrapped.key_id
        );
        assert_ne!(rewrapped.key_id, wrapped.key_id);
        // A key id naming a key the token does not hold.
        let gone = WrappedKey {
            key_id: "key-1999#00".into(),
            ..wrapped
        };
        assert!(matches!(
            new.unwrap(&gone).await,
            Err(SealError::UnknownKeyId { .. })
        ));
    });
}

#[test]
fn a_lost_session_is_unavailable_then_reopened() {
    let Some(hsm) = ChildHsm::current() else {
        return SoftHsm::new(&["t1"]).run("a_lost_session_is_unavailable_then_reopened", "main");
    };
    let seal = open(&hsm, "t1", "tresor-root", true).unwrap();
    let wrapped = block_on(seal.wrap(b"root")).unwrap();

    // Log the token out from under the seal: PKCS#11 login state is per application and
    // token, so logging out any session of this process logs out the seal's session too.
    let module = Pkcs11::new(softhsm_lib()).unwrap();
    let slot = module
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| s.id() == hsm.slot("t1"))
        .unwrap();
    let other = module.open_ro_session(slot).unwrap();
    other.logout().unwrap();

    block_on(async {
        let err = seal.wrap(b"root").await.unwrap_err();
        assert!(
            matches!(err, SealError::Unavailable { .. }),
            "a lost session must be retriable: {err:?}"
        );
        let text = err.to_string();
        assert!(text.contains("pkcs11") && text.contains("CKR_"), "{text}");
        // The next call opens a new session and logs in again.
        assert_eq!(seal.unwrap(&wrapped).await.unwrap().as_slice(), b"root");
        seal.health_check().await.unwrap();
    });
    // The seal logged the token in again, for every session of this process.
    let err = other
        .login(UserType::User, Some(&AuthPin::new(Box::from(PIN))))
        .unwrap_err();
    assert!(err.to_string().contains("already"), "{err}");
}

#[test]
fn a_lazy_seal_reports_problems_on_use_and_never_retries_a_refused_pin() {
    let Some(hsm) = ChildHsm::current() else {
        return SoftHsm::new(&["t1"]).run(
            "a_lazy_seal_reports_problems_on_use_and_never_retries_a_refused_pin",
            "main",
        );
    };
    // Nothing is checked against the token at construction.
    let mut wrong_pin = hsm.stanza("t1", "tresor-root", true);
    wrong_pin.params.insert("pin".into(), "0000".into());
    let refused = Pkcs11Seal::from_stanza_lazy(&wrong_pin, &no_env).unwrap();
    let missing_key =
        Pkcs11Seal::from_stanza_lazy(&hsm.stanza("t1", "absent", false), &no_env).unwrap();
    let missing_token =
        Pkcs11Seal::from_stanza_lazy(&hsm.stanza("absent-token", "k", true), &no_env).unwrap();
    block_on(async {
        let err = refused.wrap(b"root").await.unwrap_err();
        assert!(matches!(err, SealError::InvalidConfig { .. }), "{err:?}");
        assert!(err.to_string().contains("CKR_PIN_INCORRECT"), "{err}");
        let err = missing_key.health_check().await.unwrap_err();
        assert!(matches!(err, SealError::Unavailable { .. }), "{err:?}");
        assert!(err.to_string().contains("absent"), "{err}");
        let err = missing_token.wrap(b"root").await.unwrap_err();
        assert!(err.to_string().contains("absent-token"), "{err}");

        // A correctly configured lazy seal opens its session on first use.
        let good =
            Pkcs11Seal::from_stanza_lazy(&hsm.stanza("t1", "tresor-root", true), &no_env).unwrap();
        let wrapped = good.wrap(b"root").await.unwrap();
        assert_eq!(good.unwrap(&wrapped).await.unwrap().as_slice(), b"root");
        // And the async constructor finds the key it generated.
        let opened = Pkcs11Seal::open(&hsm.stanza("t1", "tresor-root", false))
            .await
            .unwrap();
        assert_eq!(opened.unwrap(&wrapped).await.unwrap().as_slice(), b"root");

        // The token is logged in now (login state is per process), so a new login attempt by
        // the refused seal would succeed: it still fails because it never tries again.
        let err = refused.wrap(b"root").await.unwrap_err();
        assert!(err.to_string().contains("CKR_PIN_INCORRECT"), "{err}");
    });
}
