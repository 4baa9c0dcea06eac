//! The core without HTTP or Raft: init, unseal, request pipeline, ACL, and what reaches the
//! physical store, over an in-memory backend.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use serde_json::{Map, Value, json};
use tresor_core::{Core, CoreError, CoreOptions, CoreRequest, InitRequest, Method, SingleNode};
use tresor_storage::InMemBackend;

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn req(method: Method, path: &str, data: Value, token: &str) -> CoreRequest {
    CoreRequest {
        method,
        path: tresor_sdk::CanonicalPath::parse(path).expect("canonical path"),
        data: obj(data),
        token: Some(token.into()),
    }
}

async fn ready(shares: u32, threshold: u32) -> (Arc<InMemBackend>, Arc<Core>, Vec<String>, String) {
    let physical = Arc::new(InMemBackend::new());
    let core = Core::new(
        physical.clone(),
        CoreOptions {
            backends: tresor_engines::registry(),
            ..CoreOptions::default()
        },
        Arc::new(SingleNode::default()),
    );
    let init = core
        .init(InitRequest::shamir(shares, threshold))
        .await
        .unwrap();
    assert!(core.is_sealed(), "init leaves the node sealed");
    for k in &init.keys[..threshold as usize] {
        core.unseal(Some(k), false).await.unwrap();
    }
    assert!(!core.is_sealed());
    (physical, core, init.keys, init.root_token)
}

#[tokio::test]
async fn secrets_never_reach_storage_in_plaintext() {
    let (physical, core, _, root) = ready(3, 2).await;
    core.handle(req(
        Method::Write,
        "sys/mounts/secret",
        json!({"type": "kv-v2"}),
        &root,
    ))
    .await
    .unwrap();
    let marker = "correct-horse-battery-staple-0xC0FFEE";
    core.handle(req(
        Method::Write,
        "secret/data/app",
        json!({"data": {"pw": marker}}),
        &root,
    ))
    .await
    .unwrap();
    let read = core
        .handle(req(Method::Get, "secret/data/app", json!({}), &root))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.data.unwrap()["data"]["pw"], marker);
    for (key, value) in physical.dump() {
        let hay = String::from_utf8_lossy(&value);
        assert!(!hay.contains(marker), "plaintext secret found at {key}");
        assert!(!hay.contains(&root), "root token found at {key}");
        assert!(!key.contains(&root), "root token in a storage key: {key}");
    }
}

#[tokio::test]
async fn pipeline_authenticates_routes_and_authorizes() {
    let (_, core, _, root) = ready(1, 1).await;
    // No token / bad token.
    let mut anon = req(Method::Get, "sys/mounts", json!({}), "");
    anon.token = None;
    assert!(matches!(
        core.handle(anon).await,
        Err(CoreError::PermissionDenied)
    ));
    assert!(matches!(
        core.handle(req(Method::Get, "sys/mounts", json!({}), "hvs.bogus"))
            .await,
        Err(CoreError::PermissionDenied)
    ));
    // Unknown mount.
    assert!(matches!(
        core.handle(req(Method::Get, "nothing/here", json!({}), &root))
            .await,
        Err(CoreError::UnsupportedPath)
    ));
    // A policy with `create` only: writing a new key works, overwriting needs `update`.
    core.handle(req(
        Method::Write,
        "sys/mounts/kv",
        json!({"type": "kv"}),
        &root,
    ))
    .await
    .unwrap();
    core.handle(req(
        Method::Write,
        "sys/policies/acl/writer",
        json!({"policy": "path \"kv/*\" { capabilities = [\"create\", \"read\"] }"}),
        &root,
    ))
    .await
    .unwrap();
    let tok = core
        .handle(req(
            Method::Write,
            "auth/token/create",
            json!({"policies": ["writer"]}),
            &root,
        ))
        .await
        .unwrap()
        .unwrap()
        .auth
        .unwrap()
        .client_token;
    core.handle(req(Method::Write, "kv/new", json!({"a": "1"}), &tok))
        .await
        .unwrap();
    assert!(matches!(
        core.handle(req(Method::Write, "kv/new", json!({"a": "2"}), &tok))
            .await,
        Err(CoreError::PermissionDenied)
    ));
    assert!(matches!(
        core.handle(req(Method::Delete, "kv/new", json!({}), &tok))
            .await,
        Err(CoreError::PermissionDenied)
    ));
    // sudo-protected sys path without sudo.
    assert!(matches!(
        core.handle(req(Method::Write, "sys/rotate", json!({}), &tok))
            .await,
        Err(CoreError::PermissionDenied)
    ));
}

#[tokio::test]
async fn seal_drops_state_and_unseal_restores_it() {
    let (physical, core, keys, root) = ready(3, 2).await;
    core.handle(req(
        Method::Write,
        "sys/mounts/kv",
        json!({"type": "kv"}),
        &root,
    ))
    .await
    .unwrap();
    core.handle(req(Method::Write, "kv/a", json!({"v": "1"}), &root))
        .await
        .unwrap();
    core.seal().await.unwrap();
    assert!(matches!(
        core.handle(req(Method::Get, "kv/a", json!({}), &root))
            .await,
        Err(CoreError::Sealed)
    ));
    // A fresh core over the same storage (a restart) unseals and finds everything.
    let again = Core::new(
        physical,
        CoreOptions {
            backends: tresor_engines::registry(),
            ..CoreOptions::default()
        },
        Arc::new(SingleNode::default()),
    );
    assert!(again.is_initialized().await.unwrap());
    again.unseal(Some(&keys[1]), false).await.unwrap();
    let st = again.unseal(Some(&keys[2]), false).await.unwrap();
    assert!(!st.sealed);
    let v = again
        .handle(req(Method::Get, "kv/a", json!({}), &root))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v.data.unwrap()["v"], "1");
}

#[tokio::test]
async fn init_refuses_bad_configs_and_twice() {
    let core = Core::new(
        Arc::new(InMemBackend::new()),
        CoreOptions {
            backends: tresor_engines::registry(),
            ..CoreOptions::default()
        },
        Arc::new(SingleNode::default()),
    );
    for (n, t) in [(0, 0), (3, 5), (3, 1), (300, 2)] {
        let r = core.init(InitRequest::shamir(n, t)).await;
        assert!(
            matches!(r, Err(CoreError::InvalidRequest(_))),
            "{n}/{t} must be refused"
        );
    }
    core.init(InitRequest::shamir(1, 1)).await.unwrap();
    assert!(matches!(
        core.init(InitRequest::shamir(1, 1)).await,
        Err(CoreError::AlreadyInitialized)
    ));
}
