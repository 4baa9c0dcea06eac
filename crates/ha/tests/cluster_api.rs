//! The `sys/storage/raft/*` endpoints of an in-process three-node cluster: the typed answers
//! of the runtime serialize to Vault's documents, a standby forwards, step-down moves
//! leadership, and stopping the nodes stops every task.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::{Value, json};
use tresor_ha::testing::{TestCluster, TestNode, fast_runtime, wait_until};

const WAIT: Duration = Duration::from_secs(60);

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort();
    k
}

async fn formed() -> (TestCluster, String) {
    let cluster = TestCluster::start(3, fast_runtime()).await.unwrap();
    let (root, _) = cluster.form().await.unwrap();
    (cluster, root)
}

/// `sys/metrics` of `node` in Vault's JSON.
async fn metrics(node: &TestNode, token: Option<&str>) -> Value {
    let (status, body) = node.call("GET", "sys/metrics", token, None).await.unwrap();
    assert_eq!(status, 200, "{}: {body}", node.id);
    body
}

/// The value of the unlabelled gauge `name` in a `sys/metrics` JSON document.
fn gauge(doc: &Value, name: &str) -> Option<f64> {
    doc["Gauges"]
        .as_array()?
        .iter()
        .find(|g| g["Name"] == name && g["Labels"].as_object().is_none_or(|l| l.is_empty()))
        .and_then(|g| g["Value"].as_f64())
}

fn active(cluster: &TestCluster) -> Option<&TestNode> {
    cluster.nodes.iter().find(|n| n.node.core.is_active_node())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn raft_endpoints_answer_vaults_documents_and_step_down_moves_leadership() {
    let (cluster, root) = formed().await;
    let tok = Some(root.as_str());
    wait_until(WAIT, "an active node", || async {
        active(&cluster).is_some()
    })
    .await
    .unwrap();
    let standby = cluster
        .nodes
        .iter()
        .find(|n| !n.node.core.is_active_node())
        .unwrap();

    // Through a standby: forwarded to the active node.
    let (status, body) = standby
        .call("GET", "sys/storage/raft/configuration", tok, None)
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let config = &body["data"]["config"];
    assert!(config["index"].as_u64().unwrap() > 0, "{body}");
    let servers = config["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 3);
    for s in servers {
        assert_eq!(
            keys(s),
            ["address", "leader", "node_id", "protocol_version", "voter"]
        );
        assert_eq!(s["protocol_version"], "3");
        assert_eq!(s["voter"], true);
        assert!(!s["address"].as_str().unwrap().contains("://"));
    }
    assert_eq!(servers.iter().filter(|s| s["leader"] == true).count(), 1);

    let (status, body) = standby
        .call("GET", "sys/storage/raft/autopilot/configuration", tok, None)
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"],
        json!({
            "cleanup_dead_servers": false,
            "dead_server_last_contact_threshold": "24h0m0s",
            "last_contact_threshold": "10s",
            "max_trailing_logs": 1000,
            "min_quorum": 0,
            "server_stabilization_time": "0s",
        })
    );
    let (status, body) = standby
        .call("GET", "sys/storage/raft/autopilot/state", tok, None)
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let state = &body["data"];
    assert_eq!(
        keys(state),
        [
            "failure_tolerance",
            "healthy",
            "leader",
            "non_voters",
            "servers",
            "voters"
        ]
    );
    assert_eq!(state["voters"].as_array().unwrap().len(), 3);
    assert_eq!(state["non_voters"], json!([]));
    let server = &state["servers"][state["leader"].as_str().unwrap()];
    assert_eq!(
        keys(server),
        [
            "address",
            "healthy",
            "id",
            "last_contact",
            "last_index",
            "last_term",
            "name",
            "node_status",
            "node_type",
            "stable_since",
            "status",
            "version"
        ]
    );
    assert_eq!(server["status"], "leader");
    assert_eq!(server["last_contact"], "0s");

    // sys/metrics on every node: three peers, one Raft leader, autopilot on the active node.
    wait_until(WAIT, "one node reporting vault.raft.leader 1", || async {
        let mut leaders = 0;
        for n in &cluster.nodes {
            let doc = metrics(n, tok).await;
            assert_eq!(gauge(&doc, "vault.raft.peers"), Some(3.0), "{}", n.id);
            match gauge(&doc, "vault.raft.leader") {
                Some(1.0) => leaders += 1,
                Some(0.0) => {}
                other => panic!("{}: vault.raft.leader {other:?}", n.id),
            }
            let active_node = n.node.core.is_active_node();
            let tolerance = gauge(&doc, "vault.autopilot.failure_tolerance");
            assert_eq!(tolerance.is_some(), active_node, "{}: {tolerance:?}", n.id);
            if active_node {
                assert!(gauge(&doc, "vault.autopilot.healthy").is_some());
                assert!(gauge(&doc, "vault.token.count").unwrap() >= 1.0);
            }
        }
        leaders == 1
    })
    .await
    .unwrap();

    // Step-down: another voter takes over; the old leader campaigns again after its hold.
    let old = active(&cluster).unwrap();
    let old_id = old.id.clone();
    let (status, body) = old.call("PUT", "sys/step-down", tok, None).await.unwrap();
    assert_eq!(status, 204, "{body}");
    assert!(
        !old.node.runtime.elections_enabled(),
        "held out of elections"
    );
    wait_until(WAIT, "another active node", || async {
        active(&cluster).is_some_and(|n| n.id != old_id)
    })
    .await
    .unwrap();
    let old = cluster.nodes.iter().find(|n| n.id == old_id).unwrap();
    wait_until(WAIT, "the old leader's hold to end", || async {
        old.node.runtime.elections_enabled()
    })
    .await
    .unwrap();

    for n in &cluster.nodes {
        assert_eq!(n.node.supervisor().failures(), 0, "{}", n.id);
    }
    let supervisors: Vec<_> = cluster
        .nodes
        .iter()
        .map(|n| n.node.supervisor().clone())
        .collect();
    cluster.stop().await;
    for s in supervisors {
        assert!(s.is_stopping());
        assert_eq!(s.running(), Vec::<String>::new());
    }
}
