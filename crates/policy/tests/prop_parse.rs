//! Property tests of policy parsing: random and mutated HCL and JSON text never panics (and
//! never overflows the stack); what is refused is refused with an error.
//!
//! Every run prints its seed; `PROPTEST_RNG_SEED=<seed> cargo test -p tresor-policy --test
//! prop_parse` replays it. `PROPTEST_CASES` changes the number of cases.

#![allow(clippy::unwrap_used)] // tests may unwrap

use proptest::prelude::*;
use tresor_policy::{MAX_POLICY_DEPTH, Policy, PolicyError, format_hcl};

fn config(cases: u32) -> ProptestConfig {
    tresor_testkit::props::seeded_config(cases)
}

/// Valid policies, HCL and JSON, to mutate.
const SEEDS: &[&str] = &[
    "path \"secret/*\" {\n  capabilities = [\"read\", \"list\"]\n}\n",
    "path \"a/+/b\" { policy = \"write\" }\npath \"sys/*\" { capabilities = [\"deny\"] }\n",
    "path \"kv/data/x\" {\n  capabilities = [\"create\"]\n  allowed_parameters = {\n    \"ttl\" = []\n    \"*\" = [\"a\", 1]\n  }\n  required_parameters = [\"ttl\"]\n  min_wrapping_ttl = \"1m\"\n  max_wrapping_ttl = 3600\n}\n",
    "# comment\n// other\n/* block */ path \"x\" { capabilities = [\"sudo\"] comment = <<EOF\ntext ${x}\nEOF\n}\n",
    r#"{"path": {"secret/*": {"capabilities": ["read"], "denied_parameters": {"a": []}}}}"#,
    r#"{"path": [{"a": {"policy": "read"}}, {"b": [{"capabilities": ["list"]}]}]}"#,
];

/// Fragments that matter to HCL and JSON parsers.
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
    "$${",
    "<<EOF\n",
    "\nEOF\n",
    "<<-X\n",
    "#",
    "//",
    "/*",
    "*/",
    "\n",
    ",",
    "=",
    ":",
    "!",
    "-",
    "+",
    "?",
    "path",
    "capabilities",
    "\"read\"",
    "null",
    "true",
    "1e999",
    "-0",
    "\u{0}",
    "é",
    "\r\n",
    "for x in y :",
    "...",
];

fn mutated() -> impl Strategy<Value = String> {
    tresor_testkit::props::mutated(SEEDS, TOKENS)
}

fn noise() -> impl Strategy<Value = String> {
    tresor_testkit::props::noise(TOKENS)
}

fn parse_checked(text: &str) {
    // Must return (Ok or Err) without panicking; run twice to exercise the cache-free path.
    let parsed = Policy::parse("p", text);
    if let Err(e) = &parsed {
        assert!(!e.to_string().is_empty());
        assert!(!e.is_permission_denied(), "parse errors are 400s: {e:?}");
    }
    let _ = format_hcl(text);
}

/// Runs `f` on a thread with a worker-sized stack so an overflow is caught as a crash.
fn on_worker_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn mutated_policies_never_panic(text in mutated()) {
        on_worker_stack(move || parse_checked(&text));
    }

    #[test]
    fn random_text_never_panics(text in noise()) {
        on_worker_stack(move || parse_checked(&text));
    }

    #[test]
    fn random_json_bodies_never_panic(value in json_value()) {
        let text = serde_json::json!({ "path": { "secret/*": value } }).to_string();
        on_worker_stack(move || parse_checked(&text));
    }

    /// Nesting past the limit in any mix of brackets is refused as TooDeep.
    #[test]
    fn too_deep_is_an_error(opens in prop::collection::vec(prop::sample::select(&["[", "{a = ", "(", "!", "\"${"][..]), MAX_POLICY_DEPTH + 1..MAX_POLICY_DEPTH * 3)) {
        let text = format!("x = {}", opens.concat());
        let err = Policy::parse("p", &text).unwrap_err();
        prop_assert!(matches!(err, PolicyError::TooDeep { .. }), "{err:?}");
    }
}

/// Arbitrary JSON values up to a modest depth.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
        prop::sample::select(&["read", "deny", "sudo", "1h", "-1", "write"][..])
            .prop_map(Value::from),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(
                    &[
                        "capabilities",
                        "policy",
                        "allowed_parameters",
                        "denied_parameters",
                        "required_parameters",
                        "min_wrapping_ttl",
                        "max_wrapping_ttl",
                        "x",
                        "*",
                    ][..]
                )
                .prop_map(str::to_owned),
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
