//! Property tests of configuration parsing: random and mutated HCL and JSON never panic (nor
//! overflow the stack), and every error names the file, and the key where it is about one.
//!
//! Every run prints its seed; `PROPTEST_RNG_SEED=<seed> cargo test -p tresor-config --test
//! prop_parse` replays it. `PROPTEST_CASES` changes the number of cases.

#![allow(clippy::unwrap_used)] // tests may unwrap

use proptest::prelude::*;
use tresor_config::{ConfigError, parse_str};

fn config(cases: u32) -> ProptestConfig {
    tresor_testkit::props::seeded_config(cases)
}

/// Valid configurations to mutate.
const SEEDS: &[&str] = &[
    "storage \"raft\" {\n  path = \"/d\"\n  node_id = \"n1\"\n  retry_join {\n    leader_api_addr = \"https://a:8200\"\n  }\n}\nlistener \"tcp\" {\n  address = \"0.0.0.0:8200\"\n  tls_disable = 1\n  max_request_size = -1\n  max_json_depth = 50\n  telemetry {\n    unauthenticated_metrics_access = true\n  }\n}\napi_addr = \"http://a:8200\"\nui = true\n",
    "seal \"transit\" {\n  address = \"https://v:8200\"\n  token = \"${TOKEN}\"\n  key_name = \"k\"\n}\ntelemetry {\n  prometheus_retention_time = \"24h\"\n}\ndefault_lease_ttl = \"768h\"\n",
    "listener \"tcp\" {\n  tls_cert_file = <<EOF\n-----BEGIN-----\nEOF\n  x_forwarded_for_authorized_addrs = \"10.0.0.0/8, 127.0.0.1\"\n}\n# c\n// c\n/* c */\n",
    r#"{"storage": {"raft": {"path": "/d"}}, "listener": [{"tcp": {"address": ":8200", "tls_disable": "true"}}], "max_lease_ttl": "1h"}"#,
];

/// Fragments that matter to the parsers and the decoder.
const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    "\"",
    "\\",
    "${",
    "%{",
    "<<EOF\n",
    "\nEOF\n",
    "#",
    "//",
    "/*",
    "*/",
    "\n",
    ",",
    "=",
    ":",
    "-",
    "!",
    "+",
    "listener",
    "storage",
    "seal",
    "\"tcp\"",
    "\"raft\"",
    "telemetry",
    "null",
    "true",
    "1e999",
    "-9223372036854775809",
    "\u{0}",
    "é",
    "max_json_depth = 0\n",
    "tls_min_version = tls13\n",
    "a.b",
];

fn mutated() -> impl Strategy<Value = String> {
    tresor_testkit::props::mutated(SEEDS, TOKENS)
}

fn noise() -> impl Strategy<Value = String> {
    tresor_testkit::props::noise(TOKENS)
}

/// Parses (and validates what parses) on a worker-sized stack; checks the error's naming.
fn parse_checked(text: String, file: &'static str) {
    std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || {
            let err = match parse_str(&text, file) {
                Ok(c) => match c.validate() {
                    Ok(()) => return,
                    Err(e) => e,
                },
                Err(e) => e,
            };
            assert_eq!(err.file(), file, "{err}");
            let msg = err.to_string();
            assert!(msg.starts_with(file), "{msg}");
            match &err {
                ConfigError::Invalid { key, reason, .. }
                | ConfigError::Unsupported { key, reason, .. } => {
                    assert!(!key.is_empty(), "{msg}");
                    assert!(!reason.is_empty(), "{msg}");
                }
                ConfigError::Parse { reason, .. } => assert!(!reason.is_empty(), "{msg}"),
                _ => {}
            }
        })
        .unwrap()
        .join()
        .unwrap();
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn mutated_hcl_never_panics(text in mutated()) {
        parse_checked(text, "mutated.hcl");
    }

    #[test]
    fn mutated_text_as_json_never_panics(text in mutated()) {
        parse_checked(text, "mutated.json");
    }

    #[test]
    fn random_text_never_panics(text in noise()) {
        parse_checked(text, "random.hcl");
    }
}
