//! Property tests of the JSON body limits and of the raw sys endpoints' body handling.
//!
//! * [`tresor_http::json_limits::check`] agrees with a reference computed recursively on the
//!   parsed value (depth, longest string, largest object and array), compact or pretty, and
//!   never panics on random bytes.
//! * Random JSON objects sent to the raw sys endpoints (init, unseal, seal, generate-root,
//!   rekey, step-down) never panic and never produce a 500.
//!
//! Every run prints its seed; `PROPTEST_RNG_SEED=<seed> cargo test -p tresor-http --test
//! json_limits_props` replays it. `PROPTEST_CASES` changes the number of cases.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use tower::ServiceExt;
use tresor_core::{Core, CoreOptions, InitRequest, SingleNode};
use tresor_http::json_limits::{JsonLimitError, JsonLimits, check};
use tresor_http::{AppState, router};
use tresor_seal::{Seal, TestSeal};

fn config(cases: u32) -> ProptestConfig {
    tresor_testkit::props::seeded_config(cases)
}

/// The shape of a value, computed recursively (the reference).
#[derive(Debug, Default, Clone, Copy)]
struct Shape {
    depth: usize,
    longest_string: usize,
    most_entries: usize,
    most_elements: usize,
}

fn shape(v: &Value) -> Shape {
    let mut s = Shape::default();
    match v {
        Value::String(x) => s.longest_string = x.len(),
        Value::Array(items) => {
            s.most_elements = items.len();
            for i in items {
                s = merge(s, shape(i));
            }
            s.depth += 1;
        }
        Value::Object(map) => {
            s.most_entries = map.len();
            for (k, i) in map {
                s.longest_string = s.longest_string.max(k.len());
                s = merge(s, shape(i));
            }
            s.depth += 1;
        }
        _ => {}
    }
    s
}

fn merge(a: Shape, b: Shape) -> Shape {
    Shape {
        depth: a.depth.max(b.depth),
        longest_string: a.longest_string.max(b.longest_string),
        most_entries: a.most_entries.max(b.most_entries),
        most_elements: a.most_elements.max(b.most_elements),
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        "[\"\\\\/\\n\\t\\u{1}é€😀a-z\\[\\]{},:]{0,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(8, 128, 10, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..10).prop_map(Value::Array),
            prop::collection::btree_map("[a-z\"\\\\{\\[é]{0,8}", inner, 0..10)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A value wrapped `n` more times in arrays or objects (deep but cheap to generate).
fn deep_value() -> impl Strategy<Value = (Value, usize)> {
    (json_value(), prop::collection::vec(any::<bool>(), 0..120)).prop_map(|(mut v, wraps)| {
        for as_array in &wraps {
            v = if *as_array {
                Value::Array(vec![v])
            } else {
                json!({ "k": v })
            };
        }
        (v, wraps.len())
    })
}

fn limits() -> impl Strategy<Value = JsonLimits> {
    (1usize..140, 0usize..30, 0usize..12, 0usize..12).prop_map(|(d, s, o, a)| JsonLimits {
        max_depth: d,
        max_string_value_length: s,
        max_object_entry_count: o,
        max_array_element_count: a,
    })
}

fn violated(s: Shape, l: &JsonLimits) -> Vec<JsonLimitError> {
    let mut v = Vec::new();
    if s.depth > l.max_depth {
        v.push(JsonLimitError::Depth);
    }
    if s.longest_string > l.max_string_value_length {
        v.push(JsonLimitError::StringLength);
    }
    if s.most_entries > l.max_object_entry_count {
        v.push(JsonLimitError::ObjectEntries);
    }
    if s.most_elements > l.max_array_element_count {
        v.push(JsonLimitError::ArrayElements);
    }
    v
}

/// Checks compact and pretty forms against the reference.
fn agrees(value: &Value, l: &JsonLimits) -> Result<(), TestCaseError> {
    let s = shape(value);
    let bad = violated(s, l);
    for text in [
        serde_json::to_string(value).unwrap(),
        serde_json::to_string_pretty(value).unwrap(),
    ] {
        match check(text.as_bytes(), l) {
            Ok(()) => prop_assert!(bad.is_empty(), "{s:?} {l:?} passed: {text}"),
            Err(e) => prop_assert!(bad.contains(&e), "{e:?} not in {bad:?} for {s:?}: {text}"),
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn checker_agrees_with_the_reference(value in json_value(), l in limits()) {
        agrees(&value, &l)?;
    }

    #[test]
    fn checker_agrees_on_deep_values((value, _) in deep_value(), l in limits()) {
        agrees(&value, &l)?;
    }

    #[test]
    fn depth_alone_is_exact((value, _) in deep_value(), d in 1usize..140) {
        let l = JsonLimits { max_depth: d, ..unlimited() };
        let depth = shape(&value).depth;
        let text = serde_json::to_string(&value).unwrap();
        prop_assert_eq!(check(text.as_bytes(), &l).is_ok(), depth <= d);
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400), l in limits()) {
        let _ = check(&bytes, &l);
    }

    #[test]
    fn json_ish_bytes_never_panic(
        parts in prop::collection::vec(
            prop::sample::select(&["[", "]", "{", "}", "\"", "\\", "\\u", "\\uD83D", ",", ":", "1", "é", " "][..]),
            0..200,
        ),
        l in limits(),
    ) {
        let _ = check(parts.concat().as_bytes(), &l);
    }

    #[test]
    fn init_request_from_any_json_never_panics(v in json_value()) {
        let _ = serde_json::from_value::<InitRequest>(v);
    }
}

fn unlimited() -> JsonLimits {
    JsonLimits {
        max_depth: usize::MAX,
        max_string_value_length: usize::MAX,
        max_object_entry_count: usize::MAX,
        max_array_element_count: usize::MAX,
    }
}

/// Field names the raw sys endpoints read, and some they do not.
const FIELDS: &[&str] = &[
    "key",
    "reset",
    "migrate",
    "nonce",
    "otp",
    "pgp_key",
    "secret_shares",
    "secret_threshold",
    "stored_shares",
    "pgp_keys",
    "recovery_shares",
    "recovery_threshold",
    "recovery_pgp_keys",
    "root_token_pgp_key",
    "backup",
    "require_verification",
    "KEY",
    "Reset",
    "x",
];

fn sys_body() -> impl Strategy<Value = Map<String, Value>> {
    let value = prop_oneof![
        json_value(),
        (0i64..8).prop_map(Value::from),
        prop::sample::select(&["", "true", "1", "abc", "AAAA", "-1", "00"][..])
            .prop_map(Value::from),
    ];
    prop::collection::btree_map(
        prop::sample::select(FIELDS).prop_map(str::to_owned),
        value,
        0..6,
    )
    .prop_map(|m| m.into_iter().collect())
}

const SYS_PATHS: &[&str] = &[
    "sys/init",
    "sys/unseal",
    "sys/seal",
    "sys/step-down",
    "sys/generate-root/attempt",
    "sys/generate-root/update",
    "sys/rekey/init",
    "sys/rekey/update",
    "sys/rekey/verify",
    "sys/rekey-recovery-key/init",
    "sys/rekey-recovery-key/update",
    "sys/rekey-recovery-key/verify",
    "sys/policies/acl/p",
    "sys/mounts/m",
];

fn app_state() -> AppState {
    let core = Core::new(
        Arc::new(tresor_storage::InMemBackend::new()),
        CoreOptions {
            seals: vec![Arc::new(TestSeal::new()) as Arc<dyn Seal>],
            backends: tresor_engines::registry(),
            ..CoreOptions::default()
        },
        Arc::new(SingleNode::default()),
    );
    AppState::new(core)
}

async fn put(s: &AppState, path: &str, token: &str, body: String) -> (StatusCode, Vec<u8>) {
    let req = Request::builder()
        .method("PUT")
        .uri(format!("/v1/{path}"))
        .header("x-vault-token", token)
        .body(Body::from(body))
        .unwrap();
    let resp = router(s.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, bytes.to_vec())
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn random_sys_bodies_never_panic_or_500(
        initialise in any::<bool>(),
        bodies in prop::collection::vec(sys_body(), SYS_PATHS.len()),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let s = app_state();
            let mut token = String::new();
            if initialise {
                let body = json!({"recovery_shares": 1, "recovery_threshold": 1}).to_string();
                let (code, bytes) = put(&s, "sys/init", "", body).await;
                prop_assert_eq!(code, StatusCode::OK);
                let v: Value = serde_json::from_slice(&bytes).unwrap();
                token = v["root_token"].as_str().unwrap().to_owned();
            }
            for (path, body) in SYS_PATHS.iter().zip(bodies) {
                let text = Value::Object(body).to_string();
                let (code, bytes) = put(&s, path, &token, text.clone()).await;
                prop_assert_ne!(code, StatusCode::INTERNAL_SERVER_ERROR, "{} {}: {}", path, text,
                    String::from_utf8_lossy(&bytes));
                if !bytes.is_empty() {
                    prop_assert!(serde_json::from_slice::<Value>(&bytes).is_ok(), "{}", path);
                }
            }
            Ok(())
        })?;
    }
}
