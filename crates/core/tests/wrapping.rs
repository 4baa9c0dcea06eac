//! Response wrapping through the core: wrapped answers, the `sys/wrapping/*` endpoints, the
//! single-use rule, expiry, and what reaches the physical store.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tresor_core::{
    Core, CoreError, CoreOptions, CoreRequest, InitRequest, Method, Reply, SingleNode, WrapInfo,
};
use tresor_storage::InMemBackend;

const INVALID: &str = "wrapping token is not valid or does not exist";

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn req(method: Method, path: &str, data: Value, token: Option<&str>) -> CoreRequest {
    CoreRequest {
        method,
        path: tresor_sdk::CanonicalPath::parse(path).expect("canonical path"),
        data: obj(data),
        token: token.map(str::to_owned),
    }
}

async fn ready() -> (Arc<InMemBackend>, Arc<Core>, String) {
    let physical = Arc::new(InMemBackend::new());
    let core = Core::new(
        physical.clone(),
        CoreOptions {
            backends: tresor_engines::registry(),
            ..CoreOptions::default()
        },
        Arc::new(SingleNode::default()),
    );
    let init = core.init(InitRequest::shamir(1, 1)).await.unwrap();
    core.unseal(Some(&init.keys[0]), false).await.unwrap();
    (physical, core, init.root_token)
}

fn wrapped(r: Result<Reply, CoreError>) -> WrapInfo {
    match r.unwrap() {
        Reply::Wrapped(w) => w,
        other => panic!("expected a wrapped reply, got {other:?}"),
    }
}

fn unwrapped(r: Result<Reply, CoreError>) -> Value {
    match r.unwrap() {
        Reply::Unwrapped(text) => serde_json::from_str(&text).unwrap(),
        other => panic!("expected an unwrapped envelope, got {other:?}"),
    }
}

fn is_invalid(r: Result<Reply, CoreError>) -> bool {
    matches!(r, Err(CoreError::InvalidRequest(m)) if m == INVALID)
}

async fn unwrap_as(core: &Core, caller: &str, wrapping: &str) -> Result<Reply, CoreError> {
    core.serve(
        req(
            Method::Write,
            "sys/wrapping/unwrap",
            json!({ "token": wrapping }),
            Some(caller),
        ),
        None,
    )
    .await
}

#[tokio::test]
async fn wrapped_token_creation_unwraps_once() {
    let (physical, core, root) = ready().await;
    let info = wrapped(
        core.serve(
            req(
                Method::Write,
                "auth/token/create",
                json!({"period": "30m", "policies": ["default"]}),
                Some(&root),
            ),
            Some(900),
        )
        .await,
    );
    assert_eq!(info.ttl, 900);
    assert_eq!(info.creation_path, "auth/token/create");
    assert!(info.token.starts_with("hvs."));
    assert!(info.creation_time.ends_with('Z'));
    let wrapped_accessor = info.wrapped_accessor.clone().unwrap();

    // Nothing secret reaches the physical store in the clear.
    for (key, value) in physical.dump() {
        let hay = String::from_utf8_lossy(&value);
        assert!(!hay.contains(&info.token), "wrapping token at {key}");
        assert!(!key.contains(&info.token), "wrapping token in key {key}");
    }

    let env = unwrapped(unwrap_as(&core, &root, &info.token).await);
    let client_token = env["auth"]["client_token"].as_str().unwrap().to_owned();
    assert_eq!(env["auth"]["lease_duration"], 1800);
    assert_eq!(env["auth"]["accessor"], wrapped_accessor.as_str());
    assert_eq!(env["wrap_info"], Value::Null);
    for (_, value) in physical.dump() {
        assert!(!String::from_utf8_lossy(&value).contains(&client_token));
    }

    // The unwrapped token is real.
    let look = core
        .handle(req(
            Method::Write,
            "auth/token/lookup",
            json!({ "token": client_token }),
            Some(&root),
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(look.data.unwrap()["period"], 1800);

    // Single use.
    assert!(is_invalid(unwrap_as(&core, &root, &info.token).await));
}

#[tokio::test]
async fn wrapping_token_can_unwrap_itself_and_lookup_needs_no_auth() {
    let (_, core, root) = ready().await;
    let info = wrapped(
        core.serve(
            req(
                Method::Write,
                "sys/wrapping/wrap",
                json!({"user": "alice", "n": 3}),
                Some(&root),
            ),
            Some(120),
        )
        .await,
    );
    assert_eq!(info.wrapped_accessor, None);

    // Lookup: no client token at all, and it does not use the token up.
    let look = core
        .serve(
            req(
                Method::Write,
                "sys/wrapping/lookup",
                json!({ "token": info.token }),
                None,
            ),
            None,
        )
        .await
        .unwrap();
    let Reply::Response(Some(look)) = look else {
        panic!("lookup answer: {look:?}")
    };
    let data = look.data.unwrap();
    assert_eq!(data["creation_ttl"], 120);
    assert_eq!(data["creation_path"], "sys/wrapping/wrap");
    assert_eq!(data["creation_time"], info.creation_time.as_str());

    // First-party unwrap: the wrapping token is the client token, no body.
    let first = core
        .serve(
            req(
                Method::Write,
                "sys/wrapping/unwrap",
                json!({}),
                Some(&info.token),
            ),
            None,
        )
        .await;
    let env = unwrapped(first);
    assert_eq!(env["data"], json!({"user": "alice", "n": 3}));
    let again = core
        .serve(
            req(
                Method::Write,
                "sys/wrapping/unwrap",
                json!({}),
                Some(&info.token),
            ),
            None,
        )
        .await;
    assert!(is_invalid(again));
    // A bogus token and no token at all are refused the same way.
    assert!(is_invalid(unwrap_as(&core, &root, "hvs.bogus").await));
    let none = core
        .serve(
            req(Method::Write, "sys/wrapping/lookup", json!({}), None),
            None,
        )
        .await;
    assert!(is_invalid(none));
}

#[tokio::test]
async fn wrap_endpoint_requires_a_wrap_ttl_and_ordinary_tokens_are_not_wrapping_tokens() {
    let (_, core, root) = ready().await;
    let r = core
        .serve(
            req(
                Method::Write,
                "sys/wrapping/wrap",
                json!({"a": 1}),
                Some(&root),
            ),
            None,
        )
        .await;
    assert!(matches!(r, Err(CoreError::InvalidRequest(m)) if m.contains("wrapping")));
    // The root token is not a wrapping token, and is not consumed by trying.
    assert!(is_invalid(unwrap_as(&core, &root, &root).await));
    assert!(
        core.handle(req(Method::Get, "sys/mounts", json!({}), Some(&root)))
            .await
            .is_ok()
    );
    // Nobody may hold the response-wrapping policy or rewrite it.
    assert!(matches!(
        core.handle(req(
            Method::Write,
            "auth/token/create",
            json!({"policies": ["response-wrapping"]}),
            Some(&root)
        ))
        .await,
        Err(CoreError::InvalidRequest(_))
    ));
    assert!(matches!(
        core.handle(req(
            Method::Write,
            "sys/policies/acl/response-wrapping",
            json!({"policy": "path \"*\" { capabilities = [\"sudo\"] }"}),
            Some(&root)
        ))
        .await,
        Err(CoreError::InvalidRequest(_))
    ));
}

#[tokio::test]
async fn acl_applies_to_third_party_unwrap_and_rewrap() {
    let (_, core, root) = ready().await;
    let wrap = |data: Value| {
        let core = core.clone();
        let root = root.clone();
        async move {
            wrapped(
                core.serve(
                    req(Method::Write, "sys/wrapping/wrap", data, Some(&root)),
                    Some(300),
                )
                .await,
            )
        }
    };
    let token_with = |body: Value| {
        let core = core.clone();
        let root = root.clone();
        async move {
            core.handle(req(Method::Write, "auth/token/create", body, Some(&root)))
                .await
                .unwrap()
                .unwrap()
                .auth
                .unwrap()
                .client_token
        }
    };
    core.handle(req(
        Method::Write,
        "sys/policies/acl/nothing",
        json!({"policy": "path \"kv/*\" { capabilities = [\"read\"] }"}),
        Some(&root),
    ))
    .await
    .unwrap();
    let plain = token_with(json!({"policies": ["nothing"], "no_default_policy": true})).await;
    let default = token_with(json!({"policies": ["default"]})).await;

    let info = wrap(json!({"k": "v"})).await;
    assert!(matches!(
        unwrap_as(&core, &plain, &info.token).await,
        Err(CoreError::PermissionDenied)
    ));
    // The denied attempt did not use the wrapping token up; the default policy allows unwrap.
    let env = unwrapped(unwrap_as(&core, &default, &info.token).await);
    assert_eq!(env["data"]["k"], "v");

    // Rewrap: a new token for the same response, the old one dead.
    let info = wrap(json!({"k": "w"})).await;
    let first_party = core
        .serve(
            req(
                Method::Write,
                "sys/wrapping/rewrap",
                json!({}),
                Some(&info.token),
            ),
            None,
        )
        .await;
    assert!(matches!(first_party, Err(CoreError::PermissionDenied)));
    let new = wrapped(
        core.serve(
            req(
                Method::Write,
                "sys/wrapping/rewrap",
                json!({ "token": info.token }),
                Some(&root),
            ),
            None,
        )
        .await,
    );
    assert_ne!(new.token, info.token);
    assert_eq!(new.ttl, 300);
    assert_eq!(new.creation_path, "sys/wrapping/wrap");
    assert!(is_invalid(unwrap_as(&core, &root, &info.token).await));
    // `handle` (no wire format) still returns the unwrapped response.
    let resp = core
        .handle(req(
            Method::Write,
            "sys/wrapping/unwrap",
            json!({ "token": new.token }),
            Some(&root),
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.data.unwrap()["k"], "w");
}

#[tokio::test]
async fn empty_answers_are_not_wrapped_and_reads_are() {
    let (_, core, root) = ready().await;
    core.handle(req(
        Method::Write,
        "sys/mounts/kv",
        json!({"type": "kv"}),
        Some(&root),
    ))
    .await
    .unwrap();
    // A write with no response body stays a plain (empty) answer.
    let w = core
        .serve(
            req(Method::Write, "kv/a", json!({"pw": "s3cret"}), Some(&root)),
            Some(60),
        )
        .await
        .unwrap();
    assert!(matches!(w, Reply::Response(None)), "{w:?}");
    let info = wrapped(
        core.serve(req(Method::Get, "kv/a", json!({}), Some(&root)), Some(60))
            .await,
    );
    assert_eq!(info.creation_path, "kv/a");
    let env = unwrapped(unwrap_as(&core, &root, &info.token).await);
    assert_eq!(env["data"]["pw"], "s3cret");
}

#[tokio::test]
async fn expired_wrapping_tokens_cannot_be_unwrapped() {
    let (_, core, root) = ready().await;
    let info = wrapped(
        core.serve(
            req(
                Method::Write,
                "sys/wrapping/wrap",
                json!({"a": 1}),
                Some(&root),
            ),
            Some(1),
        )
        .await,
    );
    // Expiry is in whole seconds: after two seconds the token is certainly past it.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let look = core
        .serve(
            req(
                Method::Write,
                "sys/wrapping/lookup",
                json!({ "token": info.token }),
                None,
            ),
            None,
        )
        .await;
    assert!(is_invalid(look));
    assert!(is_invalid(unwrap_as(&core, &root, &info.token).await));
}
