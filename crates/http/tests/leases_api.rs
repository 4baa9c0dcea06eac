//! Leases end to end through the router, with a test secrets engine (`leasy`) that hands out
//! credentials with a lease and records revocations (or fails them while "down"):
//! the envelope carries the lease, `sys/leases/*` (and the older `sys/renew`, `sys/revoke*`)
//! look up, list, renew, revoke, revoke by prefix and force; expired leases are revoked by the
//! active node's sweep; a backend that stays down makes a lease irrevocable and visible
//! (`sys/leases?type=irrevocable`, `sys/leases/count`, the metric); disabling a mount revokes
//! its leases.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::http::StatusCode;
use common::{Answer, call, unsealed_node_with};
use serde_json::{Map, Value, json};
use tresor_core::CoreOptions;
use tresor_expiration::RetryPolicy;
use tresor_http::AppState;
use tresor_sdk::{BackendKind, LogicalBackend, LogicalError, Operation, Request, Response, Secret};

/// What the test engine did, shared with the test.
#[derive(Default)]
struct Db {
    down: AtomicBool,
    next: AtomicU64,
    revoked: Mutex<BTreeSet<String>>,
    renewals: AtomicU64,
}

struct Leasy(Arc<Db>);

#[async_trait]
impl LogicalBackend for Leasy {
    async fn handle(&self, req: &Request) -> Result<Option<Response>, LogicalError> {
        match req.operation {
            Operation::Read => {
                let role = req
                    .path
                    .strip_prefix("creds/")
                    .ok_or(LogicalError::UnsupportedPath)?;
                let user = format!("u{}", self.0.next.fetch_add(1, Ordering::SeqCst));
                let mut internal = Map::new();
                internal.insert("username".into(), json!(user));
                let ttl = if role == "short" { 1 } else { 0 };
                Ok(Some(Response {
                    secret: Some(Box::new(Secret {
                        ttl,
                        renewable: role != "fixed",
                        internal,
                        ..Secret::default()
                    })),
                    ..Response::json(json!({ "username": user, "password": "pw" }))
                }))
            }
            Operation::Revoke | Operation::Renew if self.0.down.load(Ordering::SeqCst) => {
                Err(LogicalError::Internal("database unreachable".into()))
            }
            Operation::Revoke => {
                let s = req.secret.as_ref().unwrap();
                let user = s.internal["username"].as_str().unwrap().to_owned();
                self.0.revoked.lock().unwrap().insert(user);
                Ok(None)
            }
            Operation::Renew => {
                self.0.renewals.fetch_add(1, Ordering::SeqCst);
                Ok(None)
            }
            _ => Err(LogicalError::UnsupportedOperation),
        }
    }
}

async fn node(db: &Arc<Db>) -> (AppState, String) {
    let mut backends = tresor_engines::registry();
    let shared = db.clone();
    backends.register(
        BackendKind::Secret,
        "leasy",
        Arc::new(move |_: &BTreeMap<String, String>| {
            Ok(Arc::new(Leasy(shared.clone())) as Arc<dyn LogicalBackend>)
        }),
    );
    let (state, root) = unsealed_node_with(CoreOptions {
        backends,
        audit_types: tresor_audit::registry(),
        lease_retry: RetryPolicy {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(1),
            max_attempts: 2,
        },
        lease_sweep_interval: Duration::from_millis(50),
        ..CoreOptions::default()
    })
    .await;
    let r = call(
        &state,
        "POST",
        "/v1/sys/mounts/leasy",
        Some(&root),
        Some(
            json!({"type": "leasy", "config": {"default_lease_ttl": "1h", "max_lease_ttl": "2h"}}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    (state, root)
}

async fn creds(state: &AppState, root: &str, role: &str) -> Answer {
    let r = call(
        state,
        "GET",
        &format!("/v1/leasy/creds/{role}"),
        Some(root),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r
}

async fn put(state: &AppState, root: &str, path: &str, body: Value) -> Answer {
    call(state, "PUT", &format!("/v1/{path}"), Some(root), Some(body)).await
}

/// The Prometheus text of `sys/metrics`.
async fn metrics_text(state: &AppState, root: &str) -> String {
    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let req = axum::http::Request::builder()
        .uri("/v1/sys/metrics?format=prometheus")
        .header("x-vault-token", root)
        .body(Body::empty())
        .unwrap();
    let resp = tresor_http::router(state.clone())
        .oneshot(req)
        .await
        .unwrap();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn revoked(db: &Db) -> BTreeSet<String> {
    db.revoked.lock().unwrap().clone()
}

/// Polls `f` every 50 ms for up to 15 s.
async fn wait_until(what: &str, mut f: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !f().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_secret_gets_a_lease_that_is_looked_up_listed_renewed_and_revoked() {
    let db = Arc::new(Db::default());
    let (state, root) = node(&db).await;
    let r = creds(&state, &root, "app").await;
    let id = r.body["lease_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("leasy/creds/app/"), "{}", r.body);
    assert_eq!(r.body["lease_duration"], 3600);
    assert_eq!(r.body["renewable"], true);
    assert_eq!(r.body["data"]["username"], "u0");

    let look = put(
        &state,
        &root,
        "sys/leases/lookup",
        json!({ "lease_id": id }),
    )
    .await;
    assert_eq!(look.status, StatusCode::OK, "{}", look.body);
    assert_eq!(look.body["data"]["id"], id.as_str());
    assert_eq!(look.body["data"]["renewable"], true);
    assert!(look.body["data"]["ttl"].as_u64().unwrap() > 3590);
    assert_eq!(look.body["data"]["last_renewal"], Value::Null);
    let unknown = put(
        &state,
        &root,
        "sys/leases/lookup",
        json!({"lease_id": "leasy/creds/app/nope"}),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown.body, json!({"errors": ["invalid lease"]}));

    let list = call(
        &state,
        "LIST",
        "/v1/sys/leases/lookup/leasy/creds",
        Some(&root),
        None,
    )
    .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert_eq!(list.body["data"]["keys"], json!(["app/"]));
    let none = call(
        &state,
        "LIST",
        "/v1/sys/leases/lookup/other/",
        Some(&root),
        None,
    )
    .await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);

    let renewed = put(
        &state,
        &root,
        "sys/leases/renew",
        json!({"lease_id": id, "increment": "30m"}),
    )
    .await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.body);
    assert_eq!(renewed.body["lease_id"], id.as_str());
    assert_eq!(renewed.body["lease_duration"], 1800);
    assert_eq!(db.renewals.load(Ordering::SeqCst), 1);
    // Past the mount's 2 h maximum the TTL is capped, with a warning.
    let capped = put(
        &state,
        &root,
        &format!("sys/renew/{id}"),
        json!({"increment": "5h"}),
    )
    .await;
    assert_eq!(capped.status, StatusCode::OK, "{}", capped.body);
    assert!(capped.body["lease_duration"].as_u64().unwrap() <= 7200);
    assert!(
        capped.body["warnings"][0]
            .as_str()
            .unwrap()
            .contains("capped")
    );

    let rev = put(
        &state,
        &root,
        "sys/leases/revoke",
        json!({ "lease_id": id }),
    )
    .await;
    assert_eq!(rev.status, StatusCode::NO_CONTENT, "{}", rev.body);
    assert_eq!(revoked(&db), BTreeSet::from(["u0".to_owned()]));
    let gone = put(
        &state,
        &root,
        "sys/leases/lookup",
        json!({ "lease_id": id }),
    )
    .await;
    assert_eq!(gone.status, StatusCode::BAD_REQUEST);
    // Revoking what is gone is not an error (as OpenBao answers).
    let again = put(
        &state,
        &root,
        "sys/leases/revoke",
        json!({ "lease_id": id }),
    )
    .await;
    assert_eq!(again.status, StatusCode::NO_CONTENT);

    let fixed = creds(&state, &root, "fixed").await;
    let fixed_id = fixed.body["lease_id"].as_str().unwrap();
    let refused = put(
        &state,
        &root,
        "sys/leases/renew",
        json!({ "lease_id": fixed_id }),
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.body, json!({"errors": ["lease is not renewable"]}));
}

#[tokio::test]
async fn revoke_prefix_and_force_and_a_disabled_mount_take_their_leases() {
    let db = Arc::new(Db::default());
    let (state, root) = node(&db).await;
    for role in ["a", "a", "b"] {
        creds(&state, &root, role).await;
    }
    let r = put(
        &state,
        &root,
        "sys/leases/revoke-prefix/leasy/creds/a",
        json!({}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(
        revoked(&db),
        BTreeSet::from(["u0".to_owned(), "u1".to_owned()])
    );

    // The backend is down: a plain prefix revocation fails and keeps the lease, a forced one
    // deletes it.
    db.down.store(true, Ordering::SeqCst);
    let r = put(&state, &root, "sys/revoke-prefix/leasy", json!({})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(
        r.body["errors"][0]
            .as_str()
            .unwrap()
            .contains("database unreachable")
    );
    let list = call(
        &state,
        "LIST",
        "/v1/sys/leases/lookup/leasy/creds/",
        Some(&root),
        None,
    )
    .await;
    assert_eq!(list.body["data"]["keys"], json!(["b/"]));
    let r = put(&state, &root, "sys/leases/revoke-force/leasy", json!({})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let list = call(
        &state,
        "LIST",
        "/v1/sys/leases/lookup/leasy/",
        Some(&root),
        None,
    )
    .await;
    assert_eq!(list.status, StatusCode::NOT_FOUND);

    // Disabling the mount revokes what it issued; while the backend is down it refuses.
    db.down.store(false, Ordering::SeqCst);
    creds(&state, &root, "c").await;
    db.down.store(true, Ordering::SeqCst);
    let r = call(&state, "DELETE", "/v1/sys/mounts/leasy", Some(&root), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    db.down.store(false, Ordering::SeqCst);
    let r = call(&state, "DELETE", "/v1/sys/mounts/leasy", Some(&root), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert!(revoked(&db).contains("u3"));
}

#[tokio::test]
async fn expired_leases_are_revoked_and_a_dead_backend_makes_them_irrevocable() {
    let db = Arc::new(Db::default());
    let (state, root) = node(&db).await;
    creds(&state, &root, "short").await;
    wait_until("the 1 s lease to be revoked at expiry", async || {
        revoked(&db).contains("u0")
    })
    .await;

    db.down.store(true, Ordering::SeqCst);
    let r = creds(&state, &root, "short").await;
    let id = r.body["lease_id"].as_str().unwrap().to_owned();
    wait_until("the lease to become irrevocable", async || {
        let r = call(
            &state,
            "GET",
            "/v1/sys/leases?type=irrevocable",
            Some(&root),
            None,
        )
        .await;
        r.body["data"]["lease_count"] == 1
    })
    .await;
    let r = call(
        &state,
        "GET",
        "/v1/sys/leases?type=irrevocable",
        Some(&root),
        None,
    )
    .await;
    assert_eq!(r.body["data"]["leases"][0]["lease_id"], id.as_str());
    assert!(
        r.body["data"]["leases"][0]["error"]
            .as_str()
            .unwrap()
            .contains("database unreachable")
    );
    let c = call(
        &state,
        "GET",
        "/v1/sys/leases/count?type=irrevocable",
        Some(&root),
        None,
    )
    .await;
    assert_eq!(c.body["data"]["lease_count"], 1, "{}", c.body);
    let m = metrics_text(&state, &root).await;
    assert!(
        m.lines().any(|l| !l.starts_with('#')
            && l.contains("expire_num_irrevocable_leases")
            && l.ends_with(" 1")),
        "{m}"
    );
    // Still there, still listed: never dropped silently.
    let look = put(
        &state,
        &root,
        "sys/leases/lookup",
        json!({ "lease_id": id }),
    )
    .await;
    assert_eq!(look.status, StatusCode::OK);
    // The operator revokes it once the database is back.
    db.down.store(false, Ordering::SeqCst);
    let r = put(
        &state,
        &root,
        "sys/leases/revoke",
        json!({ "lease_id": id }),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert!(revoked(&db).contains("u1"));
    let c = call(
        &state,
        "GET",
        "/v1/sys/leases/count?type=irrevocable",
        Some(&root),
        None,
    )
    .await;
    assert_eq!(c.body["data"]["lease_count"], 0);
}

#[tokio::test]
async fn listing_and_prefix_revocation_need_sudo() {
    let db = Arc::new(Db::default());
    let (state, root) = node(&db).await;
    let r = call(
        &state,
        "PUT",
        "/v1/sys/policies/acl/ops",
        Some(&root),
        Some(json!({"policy": "path \"sys/leases/*\" { capabilities = [\"update\", \"list\"] }\npath \"sys/revoke-prefix/*\" { capabilities = [\"update\"] }"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let t = call(
        &state,
        "POST",
        "/v1/auth/token/create",
        Some(&root),
        Some(json!({"policies": ["ops"]})),
    )
    .await;
    let ops = t.body["auth"]["client_token"].as_str().unwrap().to_owned();
    let r = creds(&state, &root, "app").await;
    let id = r.body["lease_id"].as_str().unwrap();
    let look = put(&state, &ops, "sys/leases/lookup", json!({ "lease_id": id })).await;
    assert_eq!(look.status, StatusCode::OK);
    for (method, path) in [
        ("LIST", "/v1/sys/leases/lookup/leasy/"),
        ("PUT", "/v1/sys/leases/revoke-prefix/leasy"),
        ("PUT", "/v1/sys/revoke-prefix/leasy"),
        ("PUT", "/v1/sys/leases/revoke-force/leasy"),
    ] {
        let r = call(&state, method, path, Some(&ops), None).await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "{method} {path}: {}",
            r.body
        );
    }
    assert!(revoked(&db).is_empty());
}

/// Physical storage that refuses writes of lease entries while `fail` is set (a disk or quorum
/// problem that hits exactly the lease stage).
struct FailLeaseWrites {
    inner: tresor_storage::InMemBackend,
    fail: Arc<AtomicBool>,
}

#[async_trait]
impl tresor_storage::Backend for FailLeaseWrites {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, tresor_storage::StorageError> {
        self.inner.get(key).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, tresor_storage::StorageError> {
        self.inner.list(prefix).await
    }

    async fn apply(
        &self,
        ops: Vec<tresor_storage::Op>,
    ) -> Result<(), tresor_storage::StorageError> {
        if self.fail.load(Ordering::SeqCst) && ops.iter().any(|o| o.key().contains("sys/expire/")) {
            return Err(tresor_storage::StorageError::Unavailable(
                "disk full".into(),
            ));
        }
        self.inner.apply(ops).await
    }
}

#[tokio::test]
async fn a_secret_whose_lease_cannot_be_stored_is_revoked_and_never_returned() {
    let db = Arc::new(Db::default());
    let fail = Arc::new(AtomicBool::new(false));
    let mut backends = tresor_engines::registry();
    let shared = db.clone();
    backends.register(
        BackendKind::Secret,
        "leasy",
        Arc::new(move |_: &BTreeMap<String, String>| {
            Ok(Arc::new(Leasy(shared.clone())) as Arc<dyn LogicalBackend>)
        }),
    );
    let core = tresor_core::Core::new(
        Arc::new(FailLeaseWrites {
            inner: tresor_storage::InMemBackend::new(),
            fail: fail.clone(),
        }),
        CoreOptions {
            backends,
            ..CoreOptions::default()
        },
        Arc::new(tresor_core::SingleNode::default()),
    );
    let state = AppState::new(core);
    let (state, root) = common::init_unseal(state).await;
    let r = call(
        &state,
        "POST",
        "/v1/sys/mounts/leasy",
        Some(&root),
        Some(json!({"type": "leasy"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    fail.store(true, Ordering::SeqCst);
    let r = call(&state, "GET", "/v1/leasy/creds/app", Some(&root), None).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", r.body);
    assert!(!r.body.to_string().contains("u0"), "{}", r.body);
    assert_eq!(revoked(&db), BTreeSet::from(["u0".to_owned()]));
}
