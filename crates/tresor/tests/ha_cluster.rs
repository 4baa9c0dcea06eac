//! HA with real processes: joins through retry_join, standbys forwarding to the active node,
//! health and leader answers, failover after kill -9, rejoin after restart, step-down,
//! remove-peer, a join with the wrong seal, and `-dev-three-node`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use tresor_testkit::cluster;
use tresor_testkit::process;

use std::time::Duration;

use cluster::{Cluster, Node};
use serde_json::{Value, json};

fn read_secret(c: &Cluster, i: usize, key: &str) -> Option<Value> {
    let r = c.get(i, &format!("secret/{key}"));
    (r.status() == 200).then(|| r.json::<Value>().unwrap()["data"]["v"].clone())
}

#[test]
fn three_nodes_join_forward_fail_over_and_catch_up() {
    let mut c = Cluster::start(3);
    // One leader (node 1, which formed the cluster), two followers, all voters.
    let servers = c.servers(1);
    assert_eq!(servers.len(), 3, "{servers:?}");
    assert_eq!(servers.iter().filter(|s| s["leader"] == true).count(), 1);
    assert!(servers.iter().all(|s| s["protocol_version"] == "3"));
    let leader = c.wait_leader(None, Duration::from_secs(10));
    assert_eq!(leader, 0);
    let leader_entry = servers.iter().find(|s| s["leader"] == true).unwrap();
    assert_eq!(leader_entry["node_id"], "node-1");
    assert_eq!(
        leader_entry["address"],
        format!("127.0.0.1:{}", c.nodes[0].cluster_port)
    );

    // The CLI reads the same table (through a standby).
    let out = std::process::Command::new(process::bin())
        .args(["operator", "raft", "list-peers"])
        .env("VAULT_ADDR", &c.nodes[2].addr)
        .env("VAULT_TOKEN", &c.token)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text.matches("follower").count(), 2, "{text}");
    assert_eq!(text.matches("leader").count(), 1, "{text}");

    // Standby health and leader answer locally.
    assert_eq!(c.get(1, "sys/health").status(), 473);
    assert_eq!(c.get(1, "sys/health?perfstandbyok=true").status(), 200);
    let health: Value = c.get(2, "sys/health").json().unwrap();
    assert_eq!(health["standby"], true);
    let l: Value = c.get(1, "sys/leader").json().unwrap();
    assert_eq!(l["is_self"], false);
    assert_eq!(l["leader_address"], c.nodes[0].addr);
    assert_eq!(
        l["leader_cluster_address"],
        format!("https://127.0.0.1:{}", c.nodes[0].cluster_port)
    );

    // A mount and writes through standbys are forwarded and readable everywhere.
    let r = c.post(1, "sys/mounts/secret", json!({"type": "kv"}));
    assert_eq!(r.status(), 204, "{}", r.text().unwrap());
    let r = c.put(2, "secret/a", json!({"v": "one"}));
    assert_eq!(r.status(), 204, "{}", r.text().unwrap());
    for i in 0..3 {
        assert_eq!(read_secret(&c, i, "a"), Some(json!("one")), "node {i}");
    }
    // Errors come back unchanged too.
    let r = c.get(1, "secret/missing");
    assert_eq!(r.status(), 404);
    let r = c.http.get(c.url(2, "secret/a")).send().unwrap();
    assert_eq!(r.status(), 403, "no token → the active node's 403");

    // kill -9 the leader: a new one is elected, writes continue, nothing acknowledged is lost.
    c.kill9(0);
    let new_leader = c.wait_leader(Some(0), Duration::from_secs(20));
    let mut acknowledged = vec![("a".to_owned(), "one".to_owned())];
    for n in 0..5 {
        let (k, v) = (format!("k{n}"), format!("v{n}"));
        let via = 1 + n % 2;
        c.wait_for("a write after failover", Duration::from_secs(15), |c| {
            (c.put(via, &format!("secret/{k}"), json!({ "v": v }))
                .status()
                == 204)
                .then_some(())
        });
        acknowledged.push((k, v));
    }
    for i in [1, 2] {
        for (k, v) in &acknowledged {
            assert_eq!(read_secret(&c, i, k), Some(json!(v)), "node {i} key {k}");
        }
    }

    // The old leader restarts sealed, is unsealed from its own data and catches up.
    c.restart(0);
    assert_eq!(c.seal_status(0)["sealed"], true);
    c.unseal(0);
    let target: Value = c.get(new_leader, "sys/leader").json().unwrap();
    let commit = target["raft_committed_index"].as_u64().unwrap();
    c.wait_for("the old leader to catch up", Duration::from_secs(20), |c| {
        let l: Value = c.get(0, "sys/leader").json().ok()?;
        (l["raft_applied_index"].as_u64()? >= commit && l["is_self"] == false).then_some(())
    });
    for (k, v) in &acknowledged {
        assert_eq!(
            read_secret(&c, 0, k),
            Some(json!(v)),
            "restarted node, key {k}"
        );
    }

    // Losing one follower keeps the cluster writable.
    let follower = (0..3).find(|i| *i != new_leader && *i != 0).unwrap();
    c.kill9(follower);
    c.wait_for(
        "a write with one follower down",
        Duration::from_secs(15),
        |c| (c.put(0, "secret/after", json!({"v": "x"})).status() == 204).then_some(()),
    );
    assert_eq!(read_secret(&c, new_leader, "after"), Some(json!("x")));
}

#[test]
fn step_down_and_seal_move_leadership_and_remove_peer_shrinks_the_cluster() {
    let c = Cluster::start(3);
    let old = c.wait_leader(None, Duration::from_secs(10));
    let r = c.put(old, "sys/step-down", json!({}));
    assert_eq!(r.status(), 204, "{}", r.text().unwrap());
    let stepped = c.wait_leader(Some(old), Duration::from_secs(20));
    assert_ne!(stepped, old);

    // Sealing the active node hands leadership to another voter; unsealed again, it is a
    // standby.
    let r = c.put(stepped, "sys/seal", json!({}));
    assert_eq!(r.status(), 204, "{}", r.text().unwrap());
    let new = c.wait_leader(Some(stepped), Duration::from_secs(20));
    c.unseal(stepped);
    c.wait_for(
        "the unsealed node to be a standby",
        Duration::from_secs(10),
        |c| (c.get(stepped, "sys/health").status() == 473).then_some(()),
    );
    assert_eq!(c.leader(), Some(new));

    let victim = (0..3).find(|i| *i != new).unwrap();
    let id = c.nodes[victim].name.clone();
    let r = c.post(
        new,
        "sys/storage/raft/remove-peer",
        json!({ "server_id": id }),
    );
    assert_eq!(r.status(), 204, "{}", r.text().unwrap());
    c.wait_for("the peer to be gone", Duration::from_secs(10), |c| {
        let s = c.servers(new);
        (s.len() == 2 && s.iter().all(|x| x["node_id"] != id.as_str())).then_some(())
    });
    let r = c.post(
        new,
        "sys/storage/raft/remove-peer",
        json!({ "server_id": "nope" }),
    );
    assert_eq!(r.status(), 400);
}

#[test]
fn a_node_with_another_clusters_keys_cannot_join() {
    let c = Cluster::start(1);
    // A second, unrelated cluster provides the wrong keys.
    let other = Cluster::start(1);
    let mut joiner = Node::new("intruder", Some(&c.nodes[0].addr));
    joiner.spawn(&c.http);
    let url = |p: &str| format!("{}/v1/{p}", joiner.addr);
    c.wait_for("a join challenge", Duration::from_secs(20), |c| {
        let st: Value = c
            .http
            .get(url("sys/seal-status"))
            .send()
            .ok()?
            .json()
            .ok()?;
        (st["initialized"] == true).then_some(())
    });
    let mut failed = None;
    for k in &other.init.keys[..2] {
        let r = c
            .http
            .put(url("sys/unseal"))
            .json(&json!({ "key": k }))
            .send()
            .unwrap();
        if r.status() != 200 {
            failed = Some(r.text().unwrap());
        }
    }
    assert!(failed.is_some_and(|t| t.contains("invalid key")));
    let st: Value = c
        .http
        .get(url("sys/seal-status"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(st["sealed"], true);
    assert_eq!(c.servers(0).len(), 1);

    // Guessing the answer is refused by the leader.
    let r = c.post(
        0,
        "sys/storage/raft/bootstrap/challenge",
        json!({"server_id": "guess"}),
    );
    assert_eq!(r.status(), 200);
    let r = c.post(
        0,
        "sys/storage/raft/bootstrap/answer",
        json!({"server_id": "guess", "answer": "AAAA", "cluster_addr": "https://127.0.0.1:1"}),
    );
    assert_eq!(r.status(), 403);
    assert_eq!(c.servers(0).len(), 1);
}

/// A base port with the five ports above it free too.
fn free_port_run() -> u16 {
    process::wait_for("six free ports in a row", Duration::from_secs(10), || {
        let base = process::free_port();
        let all_free = (0..6).all(|d| {
            base.checked_add(d)
                .is_some_and(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok())
        });
        all_free.then_some(base)
    })
}

#[test]
fn dev_three_node_starts_an_unsealed_cluster() {
    let base = free_port_run();
    let dir = tempfile::tempdir().unwrap();
    let log = std::fs::File::create(dir.path().join("dev.log")).unwrap();
    let mut child = std::process::Command::new(process::bin())
        .args([
            "server",
            "-dev",
            "-dev-three-node",
            "-dev-root-token-id=root",
            &format!("-dev-listen-address=127.0.0.1:{base}"),
        ])
        .env("TMPDIR", dir.path()) // its data directory goes with ours
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let http = reqwest::blocking::Client::new();
    let url = |i: u16, p: &str| format!("http://127.0.0.1:{}/v1/{p}", base + 2 * i);
    let codes = process::wait_for("three answering nodes", Duration::from_secs(30), || {
        let codes: Vec<u16> = (0..3)
            .map(|i| {
                http.get(url(i, "sys/health"))
                    .send()
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0)
            })
            .collect();
        (codes.iter().all(|c| *c != 0 && *c != 503 && *c != 501)).then_some(codes)
    });
    assert_eq!(codes.iter().filter(|c| **c == 200).count(), 1, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == 473).count(), 2, "{codes:?}");
    let r = http
        .put(url(2, "secret/data/x"))
        .header("X-Vault-Token", "root")
        .json(&json!({"data": {"a": "b"}}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = http
        .get(url(1, "secret/data/x"))
        .header("X-Vault-Token", "root")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(v["data"]["data"]["a"], "b");
    child.kill().ok();
    child.wait().ok();
}

#[test]
fn a_removed_nodes_certificate_is_refused_and_a_rejoin_gets_a_new_one() {
    let mut c = Cluster::start(3);
    let leader = c.wait_leader(None, Duration::from_secs(10));
    let r = c.post(leader, "sys/mounts/secret", json!({"type": "kv"}));
    assert_eq!(r.status(), 204, "{}", r.text().unwrap());
    let victim = (0..3).find(|i| *i != leader).unwrap();
    let other = (0..3).find(|i| *i != leader && *i != victim).unwrap();
    // Control: the victim forwards over the cluster port with its certificate.
    let r = c.put(victim, "secret/before", json!({"v": "1"}));
    assert_eq!(r.status(), 204, "{}", r.text().unwrap());

    let id = c.nodes[victim].name.clone();
    let r = c.post(
        leader,
        "sys/storage/raft/remove-peer",
        json!({ "server_id": id }),
    );
    assert_eq!(r.status(), 204, "{}", r.text().unwrap());

    // The removed node still runs and still holds its certificate: a request through it is
    // forwarded with that certificate, which the leader's cluster port now refuses.
    const REFUSED: &str = "refused a revoked cluster certificate";
    c.wait_for(
        "the leader to refuse the removed node's certificate",
        Duration::from_secs(20),
        |c| {
            let status = c.put(victim, "secret/after", json!({"v": "2"})).status();
            assert_ne!(status, 204, "a write through the removed node was served");
            c.nodes[leader].log().contains(REFUSED).then_some(())
        },
    );
    let refusal = c.nodes[leader]
        .log()
        .lines()
        .find(|l| l.contains(REFUSED))
        .unwrap()
        .to_owned();
    assert!(refusal.contains(&id), "{refusal}");
    assert_eq!(read_secret(&c, leader, "after"), None);
    // The remaining member is unaffected.
    let r = c.put(other, "secret/still", json!({"v": "3"}));
    assert_eq!(r.status(), 204, "{}", r.text().unwrap());

    // Joining again (fresh data, the cluster's keys) issues a new certificate that works.
    c.nodes[victim].kill9();
    c.nodes[victim].wipe_data();
    let leader_addr = c.nodes[leader].addr.clone();
    c.nodes[victim].write_config(&[leader_addr]);
    let http = c.http.clone();
    c.nodes[victim].spawn(&http);
    c.wait_for_challenge(victim);
    c.unseal(victim);
    c.wait_for(
        "a write through the rejoined node",
        Duration::from_secs(30),
        |c| (c.put(victim, "secret/rejoined", json!({"v": "4"})).status() == 204).then_some(()),
    );
    assert_eq!(read_secret(&c, leader, "rejoined"), Some(json!("4")));
}

/// Seed 002's formation: every node carries `retry_join` blocks for the two others. Init on
/// any one of them (here the second) forms the cluster there; the others join it once it is
/// unsealed, and the joined nodes serve the data written through the first.
#[test]
fn init_on_any_node_of_an_all_retry_join_cluster_forms_the_cluster_there() {
    let places: Vec<cluster::Place> = (0..3).map(|_| cluster::Place::loopback()).collect();
    let addrs: Vec<String> = places
        .iter()
        .map(|p| format!("http://{}:{}", p.ip, p.port))
        .collect();
    let http = cluster::client_with_timeout(Duration::from_secs(30));
    let mut nodes: Vec<Node> = places
        .into_iter()
        .enumerate()
        .map(|(i, place)| {
            let others = (0..3).filter(|&j| j != i).map(|j| addrs[j].clone());
            Node::new_at(&format!("node-{}", i + 1), place, others.collect())
        })
        .collect();
    for n in &mut nodes {
        n.spawn(&http);
    }
    let first = 1;
    let r = http
        .put(format!("{}/v1/sys/init", addrs[first]))
        .json(&json!({"secret_shares": 3, "secret_threshold": 2}))
        .send()
        .unwrap();
    let status = r.status();
    let v: Value = r.json().unwrap();
    assert_eq!(status, 200, "{v}");
    let init = process::Init {
        keys: process::strings(&v["keys"]),
        keys_base64: process::strings(&v["keys_base64"]),
        root_token: v["root_token"].as_str().unwrap().to_owned(),
    };
    let c = Cluster {
        token: init.root_token.clone(),
        init,
        nodes,
        http,
        probe: cluster::client_with_timeout(Duration::from_secs(2)),
        net: None,
        extra: Default::default(),
    };
    // The others are still waiting for a leader, uninitialized.
    for i in [0, 2] {
        assert_eq!(c.seal_status(i)["initialized"], false, "node {i}");
    }
    c.unseal(first);
    c.wait_for(
        "the initialized node to be active",
        Duration::from_secs(20),
        |c| (c.get(first, "sys/health").status() == 200).then_some(()),
    );
    let r = c.post(first, "sys/mounts/secret", json!({"type": "kv"}));
    assert_eq!(r.status(), 204, "{}", r.text().unwrap());
    let r = c.put(first, "secret/formed", json!({"v": "here"}));
    assert_eq!(r.status(), 204, "{}", r.text().unwrap());
    for i in [0, 2] {
        c.wait_for_challenge(i);
        c.unseal(i);
    }
    c.wait_for("3 voters", Duration::from_secs(30), |c| {
        let s = c.servers(first);
        (s.len() == 3 && s.iter().all(|x| x["voter"] == true)).then_some(())
    });
    assert_eq!(c.wait_leader(None, Duration::from_secs(10)), first);
    for i in [0, 2] {
        c.wait_for(
            "the joined node to serve the data",
            Duration::from_secs(20),
            |c| (read_secret(c, i, "formed") == Some(json!("here"))).then_some(()),
        );
    }

    // An unsealed standby answers sys/metrics with its own metrics once the active node
    // accepted the token; never "sealed".
    let r = c.get(0, "sys/metrics");
    let status = r.status();
    let body: Value = r.json().unwrap();
    assert_eq!(status, 200, "{body}");
    let gauge = |suffix: &str| {
        body["Gauges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["Name"].as_str().is_some_and(|n| n.ends_with(suffix)))
            .and_then(|g| g["Value"].as_f64())
    };
    assert_eq!(gauge("core.unsealed"), Some(1.0), "{body}");
    assert_eq!(
        gauge("core.active"),
        Some(0.0),
        "this node's own metrics: {body}"
    );
    let r = c.http.get(c.url(0, "sys/metrics")).send().unwrap();
    assert_eq!(r.status(), 403, "no token: {}", r.text().unwrap());
}

#[test]
fn operator_health_prints_each_nodes_role_like_the_seed_script() {
    let mut c = Cluster::start(3);
    let leader = c.wait_leader(None, Duration::from_secs(10));
    let addrs: Vec<String> = c.nodes.iter().map(|n| n.addr.clone()).collect();
    let mut args = vec!["operator", "health"];
    args.extend(addrs.iter().map(String::as_str));
    let out = c.cli(leader, &args);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text.matches("ACTIVE").count(), 1, "{text}");
    assert_eq!(text.matches("STANDBY").count(), 2, "{text}");
    assert!(
        text.contains("Raft peers:") && text.contains("leader"),
        "{text}"
    );
    assert!(text.contains("Audit devices:"), "{text}");

    // A node down: reported, and the exit status says the cluster is not healthy.
    let down = (0..3).find(|&i| i != leader).unwrap();
    c.kill9(down);
    let mut json_args = vec!["operator", "health", "-format=json"];
    json_args.extend(addrs.iter().map(String::as_str));
    let out = c.cli(leader, &json_args);
    assert_eq!(out.status.code(), Some(2));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["healthy"], false);
    assert_eq!(v["nodes"][down]["status"], "UNREACHABLE", "{v}");
    assert_eq!(v["nodes"][leader]["status"], "ACTIVE", "{v}");
}
