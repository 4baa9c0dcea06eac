//! Autopilot with real processes: the configuration API (Go durations, partial updates,
//! validation, forwarding), a new node joining as a non-voter and promoted once stable, a
//! permanent non-voter, dead-server cleanup within `min_quorum`, and a removed node
//! reporting `removed_from_cluster`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use tresor_testkit::cluster;

use std::time::Duration;

use cluster::{Cluster, Node};
use serde_json::{Value, json};

const CONFIG: &str = "sys/storage/raft/autopilot/configuration";
const STATE: &str = "sys/storage/raft/autopilot/state";

fn config(c: &Cluster, i: usize) -> Value {
    let r = c.get(i, CONFIG);
    assert_eq!(r.status(), 200);
    r.json::<Value>().unwrap()["data"].clone()
}

fn state(c: &Cluster, i: usize) -> Option<Value> {
    let r = c.req(i, "GET", STATE).send().ok()?;
    (r.status() == 200).then(|| r.json::<Value>().unwrap()["data"].clone())
}

fn server_state(c: &Cluster, i: usize, id: &str) -> Option<Value> {
    state(c, i).and_then(|s| s["servers"].get(id).cloned())
}

/// Whether the Raft configuration (read through node `i`) lists `id`, and as a voter.
fn membership(c: &Cluster, i: usize, id: &str) -> Option<bool> {
    c.servers(i)
        .iter()
        .find(|s| s["node_id"] == id)
        .map(|s| s["voter"] == true)
}

/// Milliseconds of a Go duration as the state reports it (`1.5s`, `250ms`, `1m2s`).
fn go_millis(s: &str) -> u64 {
    let mut total = 0.0;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    while let Some(ch) = chars.next() {
        if ch.is_ascii_digit() || ch == '.' {
            num.push(ch);
            continue;
        }
        let unit = if ch == 'm' && chars.peek() == Some(&'s') {
            chars.next();
            1.0
        } else {
            match ch {
                'h' => 3_600_000.0,
                'm' => 60_000.0,
                's' => 1000.0,
                _ => panic!("unexpected unit in {s}"),
            }
        };
        total += num.parse::<f64>().unwrap() * unit;
        num.clear();
    }
    total as u64
}

#[test]
fn autopilot_promotes_keeps_non_voters_cleans_up_and_reports_removal() {
    let mut c = Cluster::start(3);
    let leader = c.wait_leader(None, Duration::from_secs(10));
    let standby = (leader + 1) % 3;

    // Defaults, as Vault renders them.
    let d = config(&c, standby);
    assert_eq!(d["cleanup_dead_servers"], false);
    assert_eq!(d["dead_server_last_contact_threshold"], "24h0m0s");
    assert_eq!(d["last_contact_threshold"], "10s");
    assert_eq!(d["max_trailing_logs"], 1000);
    assert_eq!(d["min_quorum"], 0);
    assert_eq!(d["server_stabilization_time"], "10s");

    // Writes answer 204, accept strings and seconds, keep the other fields, and are
    // forwarded from a standby.
    let r = c.post(leader, CONFIG, json!({"server_stabilization_time": "3s"}));
    assert_eq!(r.status(), 204, "{}", r.text().unwrap());
    let r = c.post(
        standby,
        CONFIG,
        json!({"max_trailing_logs": "500", "last_contact_threshold": 5}),
    );
    assert_eq!(r.status(), 204, "{}", r.text().unwrap());
    let d = config(&c, leader);
    assert_eq!(d["server_stabilization_time"], "3s");
    assert_eq!(d["max_trailing_logs"], 500);
    assert_eq!(d["last_contact_threshold"], "5s");
    assert_eq!(d["dead_server_last_contact_threshold"], "24h0m0s");
    let r = c.post(
        leader,
        CONFIG,
        json!({"dead_server_last_contact_threshold": "1h"}),
    );
    assert_eq!(r.status(), 204);
    assert_eq!(
        config(&c, standby)["dead_server_last_contact_threshold"],
        "1h0m0s"
    );

    // Validation: bad durations, cleanup without a min_quorum, no token.
    for bad in [
        json!({"last_contact_threshold": "soon"}),
        json!({"server_stabilization_time": "-1s"}),
        json!({"cleanup_dead_servers": true}),
        json!({"max_trailing_logs": "many"}),
    ] {
        let r = c.post(leader, CONFIG, bad.clone());
        assert_eq!(r.status(), 400, "{bad}");
    }
    assert_eq!(config(&c, leader)["server_stabilization_time"], "3s");
    let r = c.http.get(c.url(leader, CONFIG)).send().unwrap();
    assert_eq!(r.status(), 403);
    let r = c.http.get(c.url(leader, STATE)).send().unwrap();
    assert_eq!(r.status(), 403);

    // State of the healthy three-node cluster (read through a standby).
    let st = c.wait_for("a healthy autopilot state", Duration::from_secs(15), |c| {
        state(c, standby).filter(|s| s["healthy"] == true)
    });
    assert_eq!(st["failure_tolerance"], 1);
    assert_eq!(st["leader"], c.nodes[leader].name);
    assert_eq!(st["voters"].as_array().unwrap().len(), 3);
    let me = &st["servers"][&c.nodes[leader].name];
    assert_eq!(me["status"], "leader");
    assert_eq!(me["last_contact"], "0s");
    assert_eq!(me["node_status"], "alive");
    let other = &st["servers"][&c.nodes[standby].name];
    assert_eq!(other["status"], "voter");
    assert_eq!(other["node_type"], "voter");
    assert!(other["last_index"].as_u64().unwrap() > 0, "{other}");
    assert!(other["stable_since"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        other["address"],
        format!("127.0.0.1:{}", c.nodes[standby].cluster_port)
    );

    // A fourth node joins as a non-voter and is promoted once stable.
    let n4 = c.add_node("node-4");
    let first = c.wait_for(
        "node-4 in the autopilot state",
        Duration::from_secs(20),
        |c| server_state(c, leader, "node-4"),
    );
    assert_eq!(first["status"], "non-voter", "{first}");
    assert_eq!(membership(&c, leader, "node-4"), Some(false));
    c.wait_for("node-4 to be promoted", Duration::from_secs(20), |c| {
        (membership(c, leader, "node-4") == Some(true)).then_some(())
    });
    let s4 = server_state(&c, leader, "node-4").unwrap();
    assert_eq!(s4["status"], "voter");

    // A node joined with non_voter=true (retry_join_as_non_voter) stays a non-voter.
    let mut n5node = Node::new("node-5", Some(&c.nodes[leader].addr));
    let config_path = n5node.dir.path().join("server.hcl");
    let text = std::fs::read_to_string(&config_path).unwrap();
    let text = text.replace(
        "performance_multiplier = 1",
        "performance_multiplier = 1\n  retry_join_as_non_voter = true",
    );
    assert!(text.contains("retry_join_as_non_voter"));
    std::fs::write(&config_path, text).unwrap();
    n5node.spawn(&c.http);
    c.nodes.push(n5node);
    let n5 = c.nodes.len() - 1;
    c.wait_for_challenge(n5);
    c.unseal(n5);
    // Healthy for well over the stabilization time (3 s) and still not promoted.
    c.wait_for("node-5 stable for 6s", Duration::from_secs(30), |c| {
        let s = server_state(c, leader, "node-5")?;
        let since = s["stable_since"].as_str()?;
        let since = time_of(since);
        (s["healthy"] == true && now_unix() - since >= 6).then_some(())
    });
    assert_eq!(membership(&c, leader, "node-5"), Some(false));
    assert_eq!(
        server_state(&c, leader, "node-5").unwrap()["status"],
        "non-voter"
    );

    // Dead-server cleanup: four voters, min_quorum 3 → a killed voter is removed.
    let r = c.post(
        leader,
        CONFIG,
        json!({"cleanup_dead_servers": true, "min_quorum": 3,
               "last_contact_threshold": "2s", "dead_server_last_contact_threshold": "4s"}),
    );
    assert_eq!(r.status(), 204, "{}", r.text().unwrap());
    let victim = [0, 1, 2, n4].into_iter().find(|&i| i != leader).unwrap();
    let victim_name = c.nodes[victim].name.clone();
    c.kill9(victim);
    c.wait_for(
        "the dead voter to be removed",
        Duration::from_secs(20),
        |c| membership(c, leader, &victim_name).is_none().then_some(()),
    );
    let st = state(&c, leader).unwrap();
    assert_eq!(st["voters"].as_array().unwrap().len(), 3, "{st}");
    assert!(st["servers"].get(&victim_name).is_none());

    // Three voters, min_quorum 3 → a killed voter stays in the configuration.
    let victim2 = [0, 1, 2, n4]
        .into_iter()
        .find(|&i| i != leader && i != victim)
        .unwrap();
    let victim2_name = c.nodes[victim2].name.clone();
    c.kill9(victim2);
    c.wait_for(
        "the second dead voter to be seen as left for a while",
        Duration::from_secs(20),
        |c| {
            let s = server_state(c, leader, &victim2_name)?;
            (s["node_status"] == "left" && go_millis(s["last_contact"].as_str()?) >= 7_000)
                .then_some(())
        },
    );
    assert_eq!(membership(&c, leader, &victim2_name), Some(true));
    let st = state(&c, leader).unwrap();
    assert_eq!(st["healthy"], false);
    assert_eq!(st["failure_tolerance"], 0);

    // A removed (live) node reports removed_from_cluster.
    let r = c.post(
        leader,
        "sys/storage/raft/remove-peer",
        json!({"server_id": "node-5"}),
    );
    assert_eq!(r.status(), 204, "{}", r.text().unwrap());
    c.wait_for(
        "node-5 to report its removal",
        Duration::from_secs(10),
        |c| {
            let r = c.http.get(c.url(n5, "sys/health")).send().ok()?;
            (r.status() == 530).then(|| r.json::<Value>().unwrap())
        },
    );
    let h: Value = c
        .http
        .get(c.url(n5, "sys/health?removedcode=299"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(h["removed_from_cluster"], true);
    assert_eq!(c.seal_status(n5)["removed_from_cluster"], true);
    // The remaining members do not report it.
    let h: Value = c
        .http
        .get(c.url(leader, "sys/health"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(h["removed_from_cluster"], false);
    assert!(c.seal_status(leader).get("removed_from_cluster").is_none());
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Unix seconds of an RFC 3339 UTC timestamp `YYYY-MM-DDTHH:MM:SSZ`.
fn time_of(s: &str) -> i64 {
    let n = |r: std::ops::Range<usize>| s[r].parse::<i64>().unwrap();
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    let (hh, mm, ss) = (n(11..13), n(14..16), n(17..19));
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + hh * 3600 + mm * 60 + ss
}
