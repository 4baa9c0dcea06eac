//! Token types on a three-node cluster of real processes: a batch token made on the active
//! node is accepted by the standbys and, after the active node is killed with -9, by the new
//! active node (the keyring it is sealed with is the cluster's); a revoked service parent
//! takes its service and batch children with it, on every node.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::{Value, json};
use tresor_testkit::cluster::Cluster;

fn with_token(
    c: &Cluster,
    i: usize,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> reqwest::blocking::Response {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut r = c
        .http
        .request(m, c.url(i, path))
        .header("X-Vault-Token", token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().unwrap()
}

fn create(c: &Cluster, i: usize, token: &str, path: &str, body: Value) -> Value {
    let r = with_token(c, i, token, "POST", path, Some(body));
    let status = r.status();
    let v: Value = r.json().unwrap();
    assert_eq!(status, 200, "{path} on node {i}: {v}");
    v["auth"].clone()
}

fn client_token(auth: &Value) -> String {
    auth["client_token"].as_str().unwrap().to_owned()
}

/// The status of `GET sys/mounts` (which the `reader` policy allows) with `token` via `i`.
fn mounts_status(c: &Cluster, i: usize, token: &str) -> u16 {
    with_token(c, i, token, "GET", "sys/mounts", None)
        .status()
        .as_u16()
}

#[test]
fn batch_tokens_work_on_standbys_and_after_failover_and_parents_take_children_along() {
    let mut c = Cluster::start(3);
    let leader = c.wait_leader(None, Duration::from_secs(10));
    let standbys: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let policy = "path \"sys/mounts\" { capabilities = [\"read\"] }\n\
                  path \"auth/token/*\" { capabilities = [\"create\", \"update\", \"read\"] }";
    let r = c.put(
        leader,
        "sys/policies/acl/reader",
        json!({ "policy": policy }),
    );
    assert_eq!(r.status(), 204, "{}", r.text().unwrap());

    let root = c.token.clone();
    let orphan_batch = create(
        &c,
        leader,
        &root,
        "auth/token/create-orphan",
        json!({"type": "batch", "policies": ["reader"], "ttl": "1h"}),
    );
    assert_eq!(orphan_batch["token_type"], "batch");
    assert_eq!(orphan_batch["accessor"], "");
    let orphan_batch = client_token(&orphan_batch);
    assert!(orphan_batch.starts_with("hvb."), "{orphan_batch}");
    // A service parent that stays, with a batch child.
    let keeper = client_token(&create(
        &c,
        leader,
        &root,
        "auth/token/create",
        json!({"policies": ["reader"], "ttl": "2h"}),
    ));
    let kept_batch = client_token(&create(
        &c,
        leader,
        &keeper,
        "auth/token/create",
        json!({"type": "batch", "ttl": "1h"}),
    ));

    // Every node accepts them (a standby forwards; the active node opens them).
    for i in 0..3 {
        for t in [&orphan_batch, &kept_batch] {
            assert_eq!(mounts_status(&c, i, t), 200, "node {i}");
        }
        let me: Value = with_token(&c, i, &orphan_batch, "GET", "auth/token/lookup-self", None)
            .json()
            .unwrap();
        assert_eq!(me["data"]["type"], "batch", "node {i}: {me}");
    }

    // A revoked parent takes its service and batch children with it, seen from every node.
    let parent = client_token(&create(
        &c,
        leader,
        &root,
        "auth/token/create",
        json!({"policies": ["reader"], "ttl": "2h"}),
    ));
    let service_child = client_token(&create(
        &c,
        standbys[0],
        &parent,
        "auth/token/create",
        json!({"ttl": "1h"}),
    ));
    let grandchild = client_token(&create(
        &c,
        standbys[1],
        &service_child,
        "auth/token/create",
        json!({"ttl": "1h"}),
    ));
    let batch_child = client_token(&create(
        &c,
        standbys[1],
        &parent,
        "auth/token/create",
        json!({"type": "batch"}),
    ));
    for t in [&service_child, &grandchild, &batch_child] {
        assert_eq!(mounts_status(&c, standbys[0], t), 200);
    }
    let r = c.post(standbys[1], "auth/token/revoke", json!({ "token": parent }));
    assert_eq!(r.status(), 204, "{}", r.text().unwrap());
    for i in 0..3 {
        for t in [&parent, &service_child, &grandchild, &batch_child] {
            assert_eq!(mounts_status(&c, i, t), 403, "node {i}, token {t:.12}");
        }
    }

    // Batch tokens cannot be revoked by hand, through a standby either.
    let r = c.post(
        standbys[0],
        "auth/token/revoke",
        json!({ "token": orphan_batch }),
    );
    assert_eq!(r.status(), 400);

    // kill -9 the active node: the new active node opens the same tokens.
    c.kill9(leader);
    let new_leader = c.wait_leader(Some(leader), Duration::from_secs(30));
    let survivors: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    for &i in &survivors {
        c.wait_for(
            "the batch tokens to be accepted after failover",
            Duration::from_secs(30),
            |c| {
                (mounts_status(c, i, &orphan_batch) == 200
                    && mounts_status(c, i, &kept_batch) == 200)
                    .then_some(())
            },
        );
    }
    // And mints new ones that work everywhere still up.
    let after = client_token(&create(
        &c,
        new_leader,
        &root,
        "auth/token/create-orphan",
        json!({"type": "batch", "policies": ["reader"]}),
    ));
    for &i in &survivors {
        assert_eq!(mounts_status(&c, i, &after), 200, "node {i}");
    }
}
