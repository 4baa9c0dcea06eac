//! Reads answered by standbys of an in-process three-node cluster: every write acknowledged by
//! the active node is visible to a read on any standby right after, policy and mount changes
//! apply at once, requests that must write (limited-use tokens, wrapping) still go to the
//! active node, and `sys/health` reports performance standbys with Vault's codes.

#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use tresor_core::CoreOptions;
use tresor_ha::RuntimeOptions;
use tresor_ha::testing::{TestCluster, TestNode, fast_runtime};

fn with_engines() -> CoreOptions {
    CoreOptions {
        backends: tresor_engines::registry(),
        ..CoreOptions::default()
    }
}

async fn formed(runtime: RuntimeOptions) -> (TestCluster, String) {
    let cluster = TestCluster::start_with(3, runtime, with_engines)
        .await
        .unwrap();
    let (root, _) = cluster.form().await.unwrap();
    (cluster, root)
}

/// A formed cluster with a KV engine of `version` ("1" or "2") mounted at `secret/`.
async fn formed_with_kv(runtime: RuntimeOptions, version: &str) -> (TestCluster, String) {
    let (cluster, root) = formed(runtime).await;
    let body = json!({"type": "kv", "options": {"version": version}});
    ok(
        active(&cluster),
        "POST",
        "sys/mounts/secret",
        &root,
        Some(body),
    )
    .await;
    (cluster, root)
}

fn active(cluster: &TestCluster) -> &TestNode {
    cluster
        .nodes
        .iter()
        .find(|n| n.node.core.is_active_node())
        .unwrap()
}

fn standbys(cluster: &TestCluster) -> Vec<&TestNode> {
    cluster
        .nodes
        .iter()
        .filter(|n| !n.node.core.is_active_node())
        .collect()
}

/// How many requests `node` served through its own pipeline (`vault.core.handle_request`).
async fn served(node: &TestNode, root: &str) -> u64 {
    let (status, doc) = node
        .call("GET", "sys/metrics", Some(root), None)
        .await
        .unwrap();
    assert_eq!(status, 200, "{}: {doc}", node.id);
    doc["Samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["Name"] == "vault.core.handle_request")
        .filter_map(|s| s["Count"].as_u64())
        .sum()
}

async fn ok(node: &TestNode, method: &str, path: &str, token: &str, body: Option<Value>) -> Value {
    let (status, resp) = node.call(method, path, Some(token), body).await.unwrap();
    assert!(
        (200..300).contains(&status),
        "{} {method} {path}: {status} {resp}",
        node.id
    );
    resp
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn standbys_answer_reads_themselves_and_see_every_acknowledged_write() {
    let (cluster, root) = formed_with_kv(fast_runtime(), "2").await;
    let leader = active(&cluster);
    let standbys = standbys(&cluster);
    let before: Vec<u64> =
        futures::future::join_all(standbys.iter().map(|s| served(s, &root))).await;
    const ROUNDS: u64 = 40;
    for i in 0..ROUNDS {
        let value = format!("v{i}");
        ok(
            leader,
            "PUT",
            "secret/data/k",
            &root,
            Some(json!({"data": {"v": value}})),
        )
        .await;
        // Right after the acknowledgement, on every standby: never the previous version.
        for s in &standbys {
            let got = ok(s, "GET", "secret/data/k", &root, None).await;
            assert_eq!(
                got["data"]["data"]["v"],
                value.as_str(),
                "{} round {i}",
                s.id
            );
            assert_eq!(got["data"]["metadata"]["version"], i + 1, "{}", s.id);
        }
    }
    for (s, before) in standbys.iter().zip(before) {
        let after = served(s, &root).await;
        assert!(
            after >= before + ROUNDS,
            "{} served {} of {ROUNDS} reads itself",
            s.id,
            after - before
        );
    }
    // A list and a sys read are answered too; a write on a standby is still forwarded.
    let s = standbys[0];
    let listed = ok(s, "LIST", "secret/metadata", &root, None).await;
    assert_eq!(listed["data"]["keys"], json!(["k"]));
    ok(s, "GET", "sys/internal/ui/mounts/secret/k", &root, None).await;
    ok(
        s,
        "PUT",
        "secret/data/w",
        &root,
        Some(json!({"data": {"x": 1}})),
    )
    .await;
    let got = ok(leader, "GET", "secret/data/w", &root, None).await;
    assert_eq!(got["data"]["data"]["x"], 1);
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn policy_mount_and_token_changes_apply_to_standby_reads_at_once() {
    let (cluster, root) = formed_with_kv(fast_runtime(), "2").await;
    let leader = active(&cluster);
    ok(
        leader,
        "PUT",
        "secret/data/a",
        &root,
        Some(json!({"data": {"x": "1"}})),
    )
    .await;
    // The policy `reader` grants reading `path` only.
    let grant = |path: &str| {
        let body = json!({"policy": format!("path \"{path}\" {{ capabilities = [\"read\"] }}")});
        ok(leader, "PUT", "sys/policies/acl/reader", &root, Some(body))
    };
    grant("secret/data/a").await;
    let token = ok(
        leader,
        "POST",
        "auth/token/create",
        &root,
        Some(json!({"policies": ["reader"]})),
    )
    .await;
    let token = token["auth"]["client_token"].as_str().unwrap().to_owned();
    let s = standbys(&cluster)[0];
    ok(s, "GET", "secret/data/a", &token, None).await;
    // The policy no longer grants the path: the very next read on the standby is refused.
    grant("secret/data/other").await;
    let (status, body) = s
        .call("GET", "secret/data/a", Some(&token), None)
        .await
        .unwrap();
    assert_eq!(status, 403, "{body}");
    // A revoked token stops working on the standby at once.
    grant("secret/data/a").await;
    ok(s, "GET", "secret/data/a", &token, None).await;
    ok(
        leader,
        "POST",
        "auth/token/revoke",
        &root,
        Some(json!({"token": token})),
    )
    .await;
    let (status, _) = s
        .call("GET", "secret/data/a", Some(&token), None)
        .await
        .unwrap();
    assert_eq!(status, 403);
    // A new mount is readable on the standby right after it was written through the leader.
    ok(
        leader,
        "POST",
        "sys/mounts/kv1",
        &root,
        Some(json!({"type": "kv"})),
    )
    .await;
    ok(leader, "PUT", "kv1/b", &root, Some(json!({"y": "2"}))).await;
    let got = ok(s, "GET", "kv1/b", &root, None).await;
    assert_eq!(got["data"]["y"], "2");
    // And an unmounted one is gone.
    ok(leader, "DELETE", "sys/mounts/kv1", &root, None).await;
    let (status, _) = s.call("GET", "kv1/b", Some(&root), None).await.unwrap();
    assert!(status == 403 || status == 404, "{status}");
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_that_must_write_are_forwarded_from_a_standby() {
    let (cluster, root) = formed_with_kv(fast_runtime(), "1").await;
    let leader = active(&cluster);
    ok(leader, "PUT", "secret/a", &root, Some(json!({"x": "1"}))).await;
    // A token with two uses: each read through a standby uses one, on the active node.
    let token = ok(
        leader,
        "POST",
        "auth/token/create",
        &root,
        Some(json!({"num_uses": 2})),
    )
    .await;
    let token = token["auth"]["client_token"].as_str().unwrap().to_owned();
    let s = standbys(&cluster)[0];
    ok(s, "GET", "secret/a", &token, None).await;
    ok(s, "GET", "secret/a", &token, None).await;
    let (status, _) = s.call("GET", "secret/a", Some(&token), None).await.unwrap();
    assert_eq!(status, 403, "the third use is refused");
    // A wrapped read is forwarded (wrapping stores the response).
    let resp = reqwest::Client::new()
        .get(format!("{}/v1/secret/a", s.api_addr))
        .header("x-vault-token", &root)
        .header("x-vault-wrap-ttl", "60")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let wrapping = body["wrap_info"]["token"].as_str().unwrap().to_owned();
    let unwrapped = ok(s, "POST", "sys/wrapping/unwrap", &wrapping, None).await;
    assert_eq!(unwrapped["data"]["x"], "1");
    cluster.stop().await;
}

async fn health(node: &TestNode, query: &str) -> (u16, Value) {
    node.call("GET", &format!("sys/health{query}"), None, None)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn health_reports_performance_standbys_unless_standby_reads_are_off() {
    let (cluster, root) = formed(fast_runtime()).await;
    let s = standbys(&cluster)[0];
    let (status, body) = health(s, "").await;
    assert_eq!(status, 473, "{body}");
    assert_eq!(body["standby"], true);
    assert_eq!(body["performance_standby"], true);
    assert_eq!(body["ha_connection_healthy"], true);
    assert_eq!(health(s, "?perfstandbyok=true").await.0, 200);
    assert_eq!(health(s, "?performancestandbycode=299").await.0, 299);
    let (status, body) = health(active(&cluster), "").await;
    assert_eq!(status, 200);
    assert_eq!(body["performance_standby"], false);
    assert!(body.get("ha_connection_healthy").is_none(), "{body}");
    let (_, leader) = s
        .call("GET", "sys/leader", Some(&root), None)
        .await
        .unwrap();
    assert_eq!(leader["performance_standby"], true);
    cluster.stop().await;

    let mut off = fast_runtime();
    off.standby_reads = false;
    let (cluster, root) = formed_with_kv(off, "1").await;
    let s = standbys(&cluster)[0];
    let (status, body) = health(s, "").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["performance_standby"], false);
    let leader = active(&cluster);
    ok(leader, "PUT", "secret/a", &root, Some(json!({"x": "1"}))).await;
    let before = served(s, &root).await;
    ok(s, "GET", "secret/a", &root, None).await;
    assert_eq!(
        served(s, &root).await,
        before,
        "forwarded, not served by the standby"
    );
    cluster.stop().await;
}
