//! The join race, held: node 1 is initialized and nodes 2 and 3 join it at once. They once
//! got `BadSignature` on the cluster port forever because the activation task and the join
//! admission each created a cluster CA; the CA is now created once, under the core's lock.
//! Every round must end with three voters, one leader, and a write on the leader readable
//! through every node.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::json;
use tresor_core::InitRequest;
use tresor_ha::testing::{TestCluster, TestNode, fast_runtime, wait_until};

/// Rounds of the race (the issue asks for at least 50).
const ROUNDS: usize = 50;
/// Bound of every wait of one round.
const WAIT: Duration = Duration::from_secs(60);

async fn unseal_joiner(node: &TestNode, key: &str) {
    wait_until(
        WAIT,
        &format!("{} to hold a join challenge", node.id),
        || async { node.node.core.has_pending_join() },
    )
    .await
    .unwrap();
    node.node.core.unseal(Some(key), false).await.unwrap();
}

async fn round(i: usize) {
    let cluster = TestCluster::start(3, fast_runtime()).await.unwrap();
    let [n1, n2, n3] = &cluster.nodes[..] else {
        unreachable!()
    };
    let init = n1.node.core.init(InitRequest::shamir(1, 1)).await.unwrap();
    let key = init.keys_base64[0].clone();
    n1.node.core.unseal(Some(&key), false).await.unwrap();
    // At once: the joins race node 1's activation (which creates the cluster CA).
    let (j2, j3) = tokio::join!(
        n2.node.core.raft_join(n1.join_params()),
        n3.node.core.raft_join(n1.join_params())
    );
    j2.unwrap();
    j3.unwrap();
    tokio::join!(unseal_joiner(n2, &key), unseal_joiner(n3, &key));

    let all = ["n1", "n2", "n3"];
    wait_until(
        WAIT,
        "three voters and one leader seen by every node",
        || async {
            cluster.nodes.iter().all(|n| n.voters() == all)
                && cluster
                    .nodes
                    .iter()
                    .all(|n| n.leader().is_some() && n.leader() == n1.leader())
        },
    )
    .await
    .unwrap_or_else(|e| panic!("round {i}: {e}"));
    let leader_id = n1.leader().unwrap();
    let leader = cluster.nodes.iter().find(|n| n.id == leader_id).unwrap();
    wait_until(WAIT, "the leader to be the active node", || async {
        leader.node.core.is_active_node()
    })
    .await
    .unwrap_or_else(|e| panic!("round {i}: {e}"));
    wait_until(
        WAIT,
        "every node unsealed with its cluster identity",
        || async {
            cluster
                .nodes
                .iter()
                .all(|n| !n.node.core.is_sealed() && n.node.runtime.has_cluster_identity())
        },
    )
    .await
    .unwrap_or_else(|e| panic!("round {i}: {e}"));

    let policy = format!("path \"round/{i}\" {{ capabilities = [\"read\"] }}");
    let (status, body) = leader
        .call(
            "PUT",
            "sys/policies/acl/race",
            Some(&init.root_token),
            Some(json!({ "policy": policy })),
        )
        .await
        .unwrap();
    assert_eq!(status, 204, "round {i}: write on the leader: {body}");
    let written = leader.node.raft.metrics().await.commit_index.unwrap_or(0);
    for n in &cluster.nodes {
        wait_until(WAIT, &format!("{} to apply the write", n.id), || async {
            n.applied().await >= written
        })
        .await
        .unwrap_or_else(|e| panic!("round {i}: {e}"));
        // A standby answers through the active node over the cluster port (mutual TLS with
        // the one cluster CA).
        let (status, body) = n
            .call("GET", "sys/policies/acl/race", Some(&init.root_token), None)
            .await
            .unwrap();
        assert_eq!(status, 200, "round {i}: read on {}: {body}", n.id);
        assert_eq!(
            body["data"]["policy"],
            json!(policy),
            "round {i} on {}",
            n.id
        );
    }
    for n in &cluster.nodes {
        assert_eq!(
            n.node.supervisor().failures(),
            0,
            "round {i}: a background task of {} failed",
            n.id
        );
    }
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_joining_right_after_init_all_become_voters() {
    // The nodes' logs, with RUST_LOG (e.g. `RUST_LOG=warn ... -- --nocapture`).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    for i in 0..ROUNDS {
        let started = std::time::Instant::now();
        round(i).await;
        eprintln!("round {i} held ({:?})", started.elapsed());
    }
}
