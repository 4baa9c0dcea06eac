//! `sys/metrics` of an in-process three-node cluster: every Vault metric the seeds' alert
//! rules and runbooks read, and Tresor's own histograms and Raft gauges, are exported in the
//! Prometheus format on the leader (the follower-side Raft metrics on a follower), and the
//! JSON format carries Vault's names under `Gauges`, `Counters` and `Samples`.

#![allow(clippy::unwrap_used)]

use std::sync::Mutex;
use std::time::Duration;

use serde_json::json;
use tresor_ha::testing::{TestCluster, TestNode, fast_runtime, wait_until};

const WAIT: Duration = Duration::from_secs(60);

async fn formed() -> (TestCluster, String) {
    let cluster = TestCluster::start(3, fast_runtime()).await.unwrap();
    let (root, _) = cluster.form().await.unwrap();
    (cluster, root)
}

/// `GET /v1/sys/metrics?format=prometheus` of `node`: status and text.
async fn prometheus(node: &TestNode, token: &str) -> (u16, String) {
    let resp = reqwest::Client::new()
        .get(format!(
            "{}/v1/sys/metrics?format=prometheus",
            node.api_addr
        ))
        .header("x-vault-token", token)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

/// The value of the first sample whose line starts with `series` followed by a space or
/// `{` (a metric name) or that equals `series` up to its value (a full series with labels).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let rest = l.strip_prefix(series)?;
        let value = if let Some(v) = rest.strip_prefix(' ') {
            v
        } else if rest.starts_with('{') {
            rest.rsplit_once(' ')?.1
        } else {
            return None;
        };
        value.trim().parse::<f64>().ok()
    })
}

/// Every metric a leader exports (Prometheus names; a summary's `_count` shows it).
const LEADER_SERIES: &[&str] = &[
    // Vault's core and usage gauges.
    "vault_core_active",
    "vault_core_unsealed",
    "vault_token_count",
    "vault_expire_num_leases",
    "vault_runtime_alloc_bytes",
    "vault_runtime_sys_bytes",
    // Request, barrier and audit timings (summaries with quantiles).
    "vault_core_handle_request",
    "vault_core_handle_request_count",
    "vault_core_handle_login_request_count",
    "vault_barrier_get_count",
    "vault_barrier_put_count",
    "vault_barrier_delete_count",
    "vault_barrier_list_count",
    "vault_audit_log_request_count",
    "vault_audit_log_response_count",
    "vault_audit_log_request_failure",
    "vault_audit_log_response_failure",
    // Raft.
    "vault_raft_peers",
    "vault_raft_leader",
    "vault_raft_apply",
    "vault_raft_commitTime",
    "vault_raft_commitTime_count",
    "vault_raft_state_candidate",
    "vault_raft_state_follower",
    "vault_raft_state_leader",
    "vault_raft_replication_appendEntries_rpc_count",
    "vault_raft_replication_appendEntries_logs",
    "vault_raft_storage_stats_applied_index",
    "vault_raft_storage_stats_commit_index",
    "vault_raft_storage_stats_fsm_pending",
    "vault_raft_storage_stats_last_log_index",
    "vault_raft_storage_stats_snapshot_index",
    "vault_raft_storage_stats_log_db_bytes",
    "vault_raft_storage_stats_state_db_bytes",
    "vault_autopilot_healthy",
    "vault_autopilot_failure_tolerance",
    // Tresor's own histograms and gauge, with the names seed 002's rules use.
    "vault_core_handle_request_duration_seconds_bucket",
    "vault_core_handle_request_duration_seconds_sum",
    "vault_core_handle_request_duration_seconds_count",
    "vault_audit_log_request_duration_seconds_bucket",
    "vault_audit_log_response_duration_seconds_bucket",
    "vault_raft_commitTime_duration_seconds_bucket",
    "vault_raft_commitTime_duration_seconds_count",
    "vault_raft_leader_lastContact_seconds",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_metric_of_the_seeds_is_exported_by_leader_and_followers() {
    let (cluster, root) = formed().await;
    let leader = cluster
        .nodes
        .iter()
        .find(|n| n.node.core.is_active_node())
        .unwrap();
    // A few requests through the pipeline: writes (Raft commits), reads, a list, a delete.
    for i in 0..3 {
        let (status, body) = leader
            .call(
                "PUT",
                &format!("sys/policies/acl/p{i}"),
                Some(&root),
                Some(json!({"policy": "path \"secret/*\" { capabilities = [\"read\"] }"})),
            )
            .await
            .unwrap();
        assert!(status < 300, "{status} {body}");
    }
    let (status, _) = leader
        .call("GET", "sys/policies/acl/p0", Some(&root), None)
        .await
        .unwrap();
    assert_eq!(status, 200);
    let (status, _) = leader
        .call("LIST", "sys/policies/acl", Some(&root), None)
        .await
        .unwrap();
    assert_eq!(status, 200);
    let (status, _) = leader
        .call("DELETE", "sys/policies/acl/p2", Some(&root), None)
        .await
        .unwrap();
    assert!(status < 300);

    // The leader: every series, with the timings of what just happened in them.
    let last = Mutex::new(String::new());
    wait_until(WAIT, "the leader's commit and request timings", || async {
        let (status, text) = prometheus(leader, &root).await;
        *last.lock().unwrap() = text.clone();
        status == 200
            && sample(&text, "vault_raft_commitTime_count").is_some_and(|v| v > 0.0)
            && sample(&text, "vault_core_handle_request_count").is_some_and(|v| v >= 4.0)
            && sample(&text, "vault_raft_replication_appendEntries_logs").is_some_and(|v| v > 0.0)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}:\n{}", last.lock().unwrap()));
    let text = last.into_inner().unwrap();
    for series in LEADER_SERIES {
        assert!(sample(&text, series).is_some(), "{series} missing:\n{text}");
    }
    for (series, want) in [
        ("vault_raft_leader", 1.0),
        ("vault_raft_leader_lastContact_seconds", 0.0),
        ("vault_raft_peers", 3.0),
        ("vault_core_active", 1.0),
        ("vault_raft_state_leader", 1.0),
    ] {
        assert_eq!(sample(&text, series), Some(want), "{series}:\n{text}");
    }
    assert!(sample(&text, "vault_raft_apply").unwrap() >= 3.0, "{text}");
    assert!(sample(&text, "vault_barrier_put_count").unwrap() >= 3.0);
    assert!(sample(&text, "vault_barrier_delete_count").unwrap() >= 1.0);
    assert!(sample(&text, "vault_barrier_list_count").unwrap() >= 1.0);
    // Quantiles and buckets as Prometheus reads them; replication per peer.
    assert!(
        text.contains("vault_core_handle_request{quantile=\"0.99\"}"),
        "{text}"
    );
    assert!(text.contains("vault_core_handle_request_duration_seconds_bucket{le=\"+Inf\"}"));
    let followers: Vec<&TestNode> = cluster.nodes.iter().filter(|n| n.id != leader.id).collect();
    for f in &followers {
        let peer = format!(
            "vault_raft_replication_appendEntries_rpc_count{{peer_id=\"{}\"}}",
            f.id
        );
        assert!(
            sample(&text, &peer).is_some_and(|v| v > 0.0),
            "{peer}:\n{text}"
        );
    }

    // A follower: the leader's contacts, timed and aged; its own transitions.
    for f in &followers {
        let last = Mutex::new(String::new());
        wait_until(WAIT, "a follower's leader contact gaps", || async {
            let (status, text) = prometheus(f, &root).await;
            *last.lock().unwrap() = text.clone();
            status == 200
                && sample(&text, "vault_raft_leader_lastContact_count").is_some_and(|v| v > 0.0)
        })
        .await
        .unwrap_or_else(|e| panic!("{e}:\n{}", last.lock().unwrap()));
        let text = last.into_inner().unwrap();
        assert!(text.contains("vault_raft_leader_lastContact{quantile=\"0.9\"}"));
        let age = sample(&text, "vault_raft_leader_lastContact_seconds").unwrap();
        assert!((0.0..5.0).contains(&age), "{age}");
        assert_eq!(sample(&text, "vault_raft_leader"), Some(0.0));
        assert!(sample(&text, "vault_raft_state_follower").unwrap() >= 1.0);
        assert!(sample(&text, "vault_raft_storage_stats_applied_index").unwrap() > 0.0);
    }

    // Vault's JSON on the leader: the same names, dotted, under their kinds.
    let (status, doc) = leader
        .call("GET", "sys/metrics", Some(&root), None)
        .await
        .unwrap();
    assert_eq!(status, 200);
    let names = |kind: &str| -> Vec<String> {
        doc[kind]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap().to_owned())
            .collect()
    };
    let (gauges, counters, samples) = (names("Gauges"), names("Counters"), names("Samples"));
    for g in [
        "vault.raft.peers",
        "vault.raft.leader",
        "vault.raft.leader.lastContact_seconds",
        "vault.core.active",
        "vault.autopilot.healthy",
        "vault.autopilot.failure_tolerance",
        "vault.token.count",
        "vault.expire.num_leases",
        "vault.runtime.alloc_bytes",
        "vault.runtime.sys_bytes",
        "vault.raft_storage.stats.applied_index",
        "vault.raft_storage.stats.commit_index",
    ] {
        assert!(gauges.iter().any(|n| n == g), "gauge {g} in {gauges:?}");
    }
    for c in [
        "vault.raft.apply",
        "vault.raft.state.leader",
        "vault.raft.state.follower",
        "vault.raft.state.candidate",
        "vault.raft.replication.appendEntries.logs",
        "vault.audit.log_request_failure",
        "vault.audit.log_response_failure",
    ] {
        assert!(
            counters.iter().any(|n| n == c),
            "counter {c} in {counters:?}"
        );
    }
    for s in [
        "vault.core.handle_request",
        "vault.barrier.get",
        "vault.barrier.put",
        "vault.barrier.delete",
        "vault.barrier.list",
        "vault.raft.commitTime",
        "vault.raft.replication.appendEntries.rpc",
        "vault.audit.log_request",
        "vault.audit.log_response",
    ] {
        assert!(samples.iter().any(|n| n == s), "sample {s} in {samples:?}");
    }
    let handle = doc["Samples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Name"] == "vault.core.handle_request")
        .unwrap();
    for field in ["Count", "Rate", "Sum", "Min", "Max", "Mean", "Stddev"] {
        assert!(handle[field].is_number(), "{field} in {handle}");
    }
    // Histograms are Prometheus only.
    assert!(
        !samples.iter().any(|n| n.ends_with("_duration_seconds")),
        "{samples:?}"
    );
    cluster.stop().await;
}
