//! Leases across a failover, with three complete nodes in one process and a test secrets
//! engine (`leasy`) whose "database" all nodes share: a lease issued by the active node is
//! found by the next active node after the first one stops, and revoked by it at expiry; a
//! database that is down at expiry makes the revocation retry until it is back.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, json};
use tresor_core::CoreOptions;
use tresor_expiration::RetryPolicy;
use tresor_ha::testing::{TestCluster, TestNode, fast_runtime, wait_until};
use tresor_sdk::{BackendKind, LogicalBackend, LogicalError, Operation, Request, Response, Secret};

const WAIT: Duration = Duration::from_secs(60);
/// Long enough for the failover to happen before the lease expires.
const LEASE_TTL: u64 = 15;

/// The shared "database": users created, revoked, and failed revocation attempts.
#[derive(Default)]
struct Db {
    down: AtomicBool,
    next: AtomicU64,
    failed_attempts: AtomicU64,
    revoked: Mutex<BTreeSet<String>>,
}

struct Leasy(Arc<Db>);

#[async_trait]
impl LogicalBackend for Leasy {
    async fn handle(&self, req: &Request) -> Result<Option<Response>, LogicalError> {
        match req.operation {
            Operation::Read => {
                let user = format!("u{}", self.0.next.fetch_add(1, Ordering::SeqCst));
                let mut internal = Map::new();
                internal.insert("username".into(), json!(user));
                Ok(Some(Response {
                    secret: Some(Box::new(Secret {
                        ttl: LEASE_TTL,
                        renewable: true,
                        internal,
                        ..Secret::default()
                    })),
                    ..Response::json(json!({ "username": user }))
                }))
            }
            Operation::Revoke if self.0.down.load(Ordering::SeqCst) => {
                self.0.failed_attempts.fetch_add(1, Ordering::SeqCst);
                Err(LogicalError::Internal("connection refused".into()))
            }
            Operation::Revoke => {
                let user = req.secret.as_ref().unwrap().internal["username"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                self.0.revoked.lock().unwrap().insert(user);
                Ok(None)
            }
            _ => Ok(None),
        }
    }
}

fn core_options(db: &Arc<Db>) -> CoreOptions {
    let mut backends = tresor_engines::registry();
    let shared = db.clone();
    backends.register(
        BackendKind::Secret,
        "leasy",
        Arc::new(move |_: &BTreeMap<String, String>| {
            Ok(Arc::new(Leasy(shared.clone())) as Arc<dyn LogicalBackend>)
        }),
    );
    CoreOptions {
        backends,
        lease_retry: RetryPolicy {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(2),
            max_attempts: 100,
        },
        lease_sweep_interval: Duration::from_millis(100),
        ..CoreOptions::default()
    }
}

/// `sys/leases/lookup` of `lease_id` through `node`: status and body.
async fn lookup(node: &TestNode, root: &str, lease_id: &str) -> (u16, serde_json::Value) {
    node.call(
        "PUT",
        "sys/leases/lookup",
        Some(root),
        Some(json!({ "lease_id": lease_id })),
    )
    .await
    .unwrap()
}

fn revoked(db: &Db) -> BTreeSet<String> {
    db.revoked.lock().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_next_active_node_revokes_leases_at_expiry_retrying_while_the_database_is_down() {
    let db = Arc::new(Db::default());
    let mut cluster = TestCluster::start_with(3, fast_runtime(), || core_options(&db))
        .await
        .unwrap();
    let (root, _) = cluster.form().await.unwrap();
    let active = cluster
        .nodes
        .iter()
        .position(|n| n.node.core.is_active_node())
        .unwrap();

    let (status, body) = cluster.nodes[active]
        .call(
            "POST",
            "sys/mounts/leasy",
            Some(&root),
            Some(json!({"type": "leasy"})),
        )
        .await
        .unwrap();
    assert_eq!(status, 204, "{body}");
    let (status, body) = cluster.nodes[active]
        .call("GET", "leasy/creds/app", Some(&root), None)
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let lease_id = body["lease_id"].as_str().unwrap().to_owned();
    assert_eq!(body["lease_duration"], LEASE_TTL);

    // The active node stops; another takes over and knows the lease.
    let old = cluster.nodes.remove(active);
    old.node.stop(Duration::from_secs(10)).await;
    wait_until(WAIT, "a new active node", || async {
        cluster.nodes.iter().any(|n| n.node.core.is_active_node())
    })
    .await
    .unwrap();
    let new = cluster
        .nodes
        .iter()
        .find(|n| n.node.core.is_active_node())
        .unwrap();
    let (status, body) = lookup(new, &root, &lease_id).await;
    assert_eq!(status, 200, "{body}");
    assert!(revoked(&db).is_empty(), "revoked before expiry");

    // The database is down when the lease expires: the new active node keeps trying.
    db.down.store(true, Ordering::SeqCst);
    wait_until(WAIT, "failed revocation attempts", || async {
        db.failed_attempts.load(Ordering::SeqCst) >= 2
    })
    .await
    .unwrap();
    let (status, _) = lookup(new, &root, &lease_id).await;
    assert_eq!(
        status, 200,
        "the lease must stay while its revocation fails"
    );
    db.down.store(false, Ordering::SeqCst);
    wait_until(WAIT, "the lease to be revoked", || async {
        revoked(&db).contains("u0")
    })
    .await
    .unwrap();
    // The backend's revoke returns before the lease entry is deleted; the
    // entry must then go, so lookups answer 400 soon after.
    wait_until(WAIT, "the revoked lease's entry to be removed", || async {
        lookup(new, &root, &lease_id).await.0 == 400
    })
    .await
    .unwrap();
    cluster.stop().await;
}
