//! Property tests of the pure parts: name checks agree with a plain model and never panic on
//! hostile text; serial numbers round-trip. Seeds are printed; replay with
//! `PROPTEST_RNG_SEED=<seed>`.

use proptest::prelude::*;
use tresor_testkit::props::seeded_config;

use super::names::{NamePolicy, check_name, is_hostname};
use super::serial;

fn policy(domain: &str, subdomains: bool, bare: bool) -> NamePolicy {
    NamePolicy {
        allowed_domains: vec![domain.to_owned()],
        allow_subdomains: subdomains,
        allow_bare_domains: bare,
        enforce_hostnames: true,
        ..NamePolicy::default()
    }
}

proptest! {
    #![proptest_config(seeded_config(256))]

    #[test]
    fn a_name_passes_exactly_when_the_model_says(
        labels in proptest::collection::vec("[a-z0-9]{1,8}", 0..4),
        domain in "[a-z]{1,8}\\.(com|org)",
        wildcard in any::<bool>(),
        subdomains in any::<bool>(),
        bare in any::<bool>(),
    ) {
        let p = policy(&domain, subdomains, bare);
        let mut parts: Vec<String> = labels.clone();
        if wildcard {
            parts.insert(0, "*".to_owned());
        }
        parts.push(domain.clone());
        let name = parts.join(".");
        let below = !parts[..parts.len() - 1].is_empty();
        let expected = if below { subdomains } else { bare };
        prop_assert_eq!(check_name(&p, &name).is_ok(), expected, "{}", name);
        // Upper case changes nothing.
        prop_assert_eq!(check_name(&p, &name.to_ascii_uppercase()).is_ok(), expected);
    }

    #[test]
    fn hostile_names_never_panic_and_long_ones_fail(
        text in "\\PC{0,300}",
        subdomains in any::<bool>(),
    ) {
        let mut p = policy("example.com", subdomains, true);
        let _ = check_name(&p, &text);
        p.enforce_hostnames = false;
        p.allow_any_name = true;
        let ok = check_name(&p, &text).is_ok();
        prop_assert_eq!(ok, !text.is_empty() && text.len() <= 253 && !text.chars().any(char::is_control));
        if is_hostname(&text) {
            prop_assert!(text.is_ascii());
        }
    }

    #[test]
    fn serials_round_trip(bytes in proptest::collection::vec(any::<u8>(), 1..21), junk in "\\PC{0,80}") {
        let text = serial::format(&bytes);
        prop_assert_eq!(serial::parse(&text).ok(), Some(bytes.clone()));
        prop_assert_eq!(serial::parse(&text.replace(':', "-").to_uppercase()).ok(), Some(bytes));
        let _ = serial::parse(&junk);
    }
}
