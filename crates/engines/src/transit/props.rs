//! Property tests: the parsers and checks that read request text never panic, and accept
//! exactly what they say. Seeds are printed; replay with `PROPTEST_RNG_SEED=<seed>`.

use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::{Map, Value, json};
use tresor_testkit::props::seeded_config;

use super::asym::{self, SaltLength, SignParams};
use super::cipher::KeyType;
use super::{backup, ciphertext, sign};

proptest! {
    #![proptest_config(seeded_config(256))]

    #[test]
    fn salt_length_accepts_exactly_auto_hash_and_integers_from_minus_one(
        text in "(auto|hash|-?[0-9]{1,25}|[a-z -]{0,8})"
    ) {
        let parsed = SaltLength::parse(&text);
        let as_int = text.trim().parse::<i64>().ok();
        let expected_ok = matches!(text.trim(), "" | "auto" | "hash")
            || as_int.is_some_and(|n| n >= -1);
        prop_assert_eq!(parsed.is_ok(), expected_ok, "{:?} -> {:?}", text, parsed);
        if let (Ok(SaltLength::Fixed(n)), Some(i)) = (parsed, as_int) {
            prop_assert_eq!(i64::try_from(n).ok(), Some(i));
        }
    }

    #[test]
    fn versioned_strings_round_trip_and_garbage_is_refused(
        version in 1u64..u64::MAX,
        blob in proptest::collection::vec(any::<u8>(), 0..64),
        junk in "\\PC{0,40}",
    ) {
        let text = ciphertext::format(version, &blob);
        let parsed = ciphertext::parse_as(&text, "signature").unwrap();
        prop_assert_eq!(parsed.version, version);
        prop_assert_eq!(&parsed.blob, &blob);
        let url = ciphertext::format_url(version, &blob);
        prop_assert_eq!(ciphertext::parse_url_as(&url, "signature").unwrap().blob, blob);
        // Arbitrary text: an answer either way, never a panic.
        let _ = ciphertext::parse_as(&junk, "hmac");
        let _ = ciphertext::parse_url_as(&format!("vault:v{junk}"), "signature");
    }

    #[test]
    fn restore_never_panics_on_hostile_backups(text in "\\PC{0,200}") {
        use base64::Engine as _;
        let _ = backup::decode(&text, None);
        let as_b64 = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
        prop_assert!(backup::decode(&as_b64, Some("k")).is_err());
    }

    #[test]
    fn sign_options_never_panic(
        hash in "\\PC{0,12}", sig in "\\PC{0,12}", salt in "\\PC{0,12}",
        marshal in "\\PC{0,8}", prehashed in "\\PC{0,6}",
    ) {
        let data: Map<String, Value> = match json!({"hash_algorithm": hash,
            "signature_algorithm": sig, "salt_length": salt,
            "marshaling_algorithm": marshal, "prehashed": prehashed}) {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let _ = sign::sign_params(&data, "");
    }
}

/// Arbitrary signature bytes against real keys of each family: never a panic, never valid.
#[test]
fn hostile_signatures_are_simply_invalid() {
    let keys: Vec<(KeyType, zeroize::Zeroizing<Vec<u8>>)> = [
        KeyType::Ed25519,
        KeyType::EcdsaP256,
        KeyType::EcdsaP521,
        KeyType::Rsa2048,
    ]
    .into_iter()
    .map(|t| (t, asym::generate(t).unwrap()))
    .collect();
    let mut runner = TestRunner::new(seeded_config(128));
    let strategy = (
        proptest::collection::vec(any::<u8>(), 0..300),
        0..keys.len(),
        any::<bool>(),
        prop_oneof![
            Just(SaltLength::Auto),
            Just(SaltLength::Hash),
            (0usize..400).prop_map(SaltLength::Fixed)
        ],
    );
    runner
        .run(&strategy, |(sig, i, jws, salt)| {
            let (t, key) = &keys[i];
            let p = SignParams {
                jws,
                salt,
                ..SignParams::default()
            };
            prop_assert!(!asym::verify(*t, key, b"message", &sig, &p).unwrap());
            Ok(())
        })
        .unwrap();
}
