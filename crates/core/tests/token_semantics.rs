//! Token semantics through the core's request pipeline: use-limited tokens cannot create
//! tokens, children of a revoked parent are refused, and the token store (with its expiry
//! task) survives seal and unseal.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use serde_json::{Map, Value, json};
use tresor_core::{Core, CoreError, CoreOptions, CoreRequest, InitRequest, Method, SingleNode};
use tresor_storage::InMemBackend;

fn req(method: Method, path: &str, data: Value, token: &str) -> CoreRequest {
    CoreRequest {
        method,
        path: tresor_sdk::CanonicalPath::parse(path).expect("canonical path"),
        data: data.as_object().cloned().unwrap_or_else(Map::new),
        token: Some(token.into()),
    }
}

async fn ready() -> (Arc<Core>, String, String) {
    let core = Core::new(
        Arc::new(InMemBackend::new()),
        CoreOptions::default(),
        Arc::new(SingleNode::default()),
    );
    let init = core.init(InitRequest::shamir(1, 1)).await.unwrap();
    let key = init.keys[0].clone();
    core.unseal(Some(&key), false).await.unwrap();
    let root = init.root_token;
    core.handle(req(
        Method::Write,
        "sys/policies/acl/minter",
        json!({"policy": "path \"auth/token/create*\" { capabilities = [\"create\", \"update\"] }"}),
        &root,
    ))
    .await
    .unwrap();
    (core, root, key)
}

async fn create(core: &Core, path: &str, data: Value, token: &str) -> Result<String, CoreError> {
    Ok(core
        .handle(req(Method::Write, path, data, token))
        .await?
        .and_then(|r| r.auth)
        .map(|a| a.client_token)
        .unwrap_or_default())
}

#[tokio::test]
async fn use_limited_tokens_cannot_create_tokens() {
    let (core, root, _) = ready().await;
    let limited = create(
        &core,
        "auth/token/create",
        json!({"policies": ["minter"], "num_uses": 5}),
        &root,
    )
    .await
    .unwrap();
    for path in ["auth/token/create", "auth/token/create-orphan"] {
        match create(&core, path, json!({}), &limited).await {
            Err(CoreError::InvalidRequest(m)) => {
                assert_eq!(m, "restricted use token cannot generate child tokens");
            }
            other => panic!("{path}: expected a 400, got {other:?}"),
        }
    }
    // A single-use token spends its only use on the request itself: no parent is left.
    let once = create(
        &core,
        "auth/token/create",
        json!({"policies": ["minter"], "num_uses": 1}),
        &root,
    )
    .await
    .unwrap();
    assert!(matches!(
        create(&core, "auth/token/create", json!({}), &once).await,
        Err(CoreError::InvalidRequest(_))
    ));
    // An unlimited token with the same policy may.
    let free = create(
        &core,
        "auth/token/create",
        json!({"policies": ["minter"]}),
        &root,
    )
    .await
    .unwrap();
    assert!(
        create(&core, "auth/token/create", json!({}), &free)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn children_of_a_revoked_parent_are_refused() {
    let (core, root, key) = ready().await;
    let parent = create(
        &core,
        "auth/token/create",
        json!({"policies": ["minter"]}),
        &root,
    )
    .await
    .unwrap();
    let child = create(&core, "auth/token/create", json!({}), &parent)
        .await
        .unwrap();
    let lookup_self = || req(Method::Get, "auth/token/lookup-self", json!({}), &child);
    core.handle(lookup_self()).await.unwrap();

    // Seal and unseal: the active state (and its expiry task) is rebuilt; tokens persist.
    core.seal().await.unwrap();
    core.unseal(Some(&key), false).await.unwrap();
    core.handle(lookup_self()).await.unwrap();

    core.handle(req(
        Method::Write,
        "auth/token/revoke",
        json!({"token": parent}),
        &root,
    ))
    .await
    .unwrap();
    assert!(matches!(
        core.handle(lookup_self()).await,
        Err(CoreError::PermissionDenied)
    ));
}
