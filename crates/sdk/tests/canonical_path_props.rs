//! Property tests of the canonicalizer: no input panics, every canonical path is a fixed
//! point, redirects lead to clean paths, and decoding never smuggles a separator or a
//! relative segment past the check. Every run prints its seed; `PROPTEST_RNG_SEED=<seed>
//! cargo test -p tresor-sdk --test integration canonical_path_props::` replays it.

use proptest::prelude::*;
use tresor_sdk::path::{CanonicalPath, Verdict, canonicalize, clean};

/// Path-like text built from the pieces that matter: separators, dots, escapes, plus.
fn raw_path() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("/".to_owned()),
        Just("//".to_owned()),
        Just(".".to_owned()),
        Just("..".to_owned()),
        Just("%2F".to_owned()),
        Just("%2f".to_owned()),
        Just("%2E".to_owned()),
        Just("%00".to_owned()),
        Just("%".to_owned()),
        Just("%zz".to_owned()),
        Just("+".to_owned()),
        Just("%20".to_owned()),
        Just("%C3%A9".to_owned()),
        "[a-zA-Z0-9_-]{1,6}",
    ];
    proptest::collection::vec(piece, 0..12).prop_map(|parts| format!("/v1/{}", parts.concat()))
}

fn config() -> ProptestConfig {
    tresor_testkit::props::seeded_config(2000)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_text_never_panics(s in ".{0,64}") {
        let _ = canonicalize(&s);
        let _ = CanonicalPath::parse(&s);
    }

    #[test]
    fn verdicts_are_consistent(raw in raw_path()) {
        match canonicalize(&raw) {
            Verdict::Canonical(p) => {
                let text = p.as_str();
                prop_assert!(!text.starts_with('/'), "{raw} -> {text}");
                prop_assert!(!text.contains("//"), "{raw} -> {text}");
                prop_assert!(!text.chars().any(char::is_control), "{raw} -> {text:?}");
                let body = text.strip_suffix('/').unwrap_or(text);
                prop_assert!(
                    body.is_empty() || body.split('/').all(|s| !matches!(s, "" | "." | "..")),
                    "{raw} -> {text}"
                );
                // A canonical path is a fixed point.
                prop_assert_eq!(CanonicalPath::parse(text), Some(p.clone()));
                prop_assert_eq!(p.clone().into_directory().into_directory(), p.clone().into_directory());
            }
            Verdict::Redirect(target) => {
                prop_assert_eq!(clean(&target), target.clone());
                prop_assert!(!matches!(canonicalize(&target), Verdict::Redirect(_)), "{raw} -> {target}");
            }
            Verdict::NotApi => prop_assert!(!clean(&raw).starts_with("/v1/"), "{raw}"),
            Verdict::Invalid(_) => {}
        }
    }

    #[test]
    fn clean_is_idempotent(raw in raw_path()) {
        let once = clean(&raw);
        prop_assert_eq!(clean(&once), once.clone());
    }
}
