//! Process faults against a three-node cluster: losing two of three nodes refuses writes
//! without split brain and heals when one returns; a paused (SIGSTOP) leader is replaced and
//! catches up once resumed; a removed peer re-joins with a wiped data directory.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use tresor_testkit::cluster;

use std::time::{Duration, Instant};

use cluster::{ActiveSampler, Cluster, client_with_timeout, send_status};
use serde_json::{Value, json};

fn mount_kv(c: &Cluster, via: usize) {
    let r = c.post(via, "sys/mounts/secret", json!({"type": "kv"}));
    assert_eq!(r.status(), 204, "{}", r.text().unwrap());
}

fn read_secret(c: &Cluster, i: usize, key: &str) -> Option<Value> {
    let r = c.get(i, &format!("secret/{key}"));
    (r.status() == 200).then(|| r.json::<Value>().unwrap()["data"]["v"].clone())
}

/// Writes `secret/<key>` through node `via` until it is acknowledged (204), within `timeout`.
fn write_until_acked(c: &Cluster, via: usize, key: &str, value: &str, timeout: Duration) {
    let short = client_with_timeout(Duration::from_secs(3));
    c.wait_for(&format!("write of {key} via node {via}"), timeout, |c| {
        let rb = short
            .put(c.url(via, &format!("secret/{key}")))
            .header("X-Vault-Token", &c.token)
            .json(&json!({ "v": value }));
        (send_status(rb) == Some(204)).then_some(())
    });
}

fn applied_index(c: &Cluster, i: usize) -> Option<u64> {
    c.leader_status(i)?["raft_applied_index"].as_u64()
}

#[test]
fn losing_two_of_three_refuses_writes_and_heals_when_one_returns() {
    let mut c = Cluster::start(3);
    let leader = c.wait_leader(None, Duration::from_secs(10));
    mount_kv(&c, leader);
    let mut acked: Vec<(String, String)> = Vec::new();
    for n in 0..5 {
        let (k, v) = (format!("before{n}"), format!("b{n}"));
        write_until_acked(&c, leader, &k, &v, Duration::from_secs(10));
        acked.push((k, v));
    }
    let sampler = ActiveSampler::start(c.addrs());
    let followers: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    for &f in &followers {
        c.kill9(f);
    }

    // A write to the leader without a quorum is not acknowledged: it errors or times out.
    let short = client_with_timeout(Duration::from_secs(5));
    let started = Instant::now();
    let status = send_status(
        short
            .put(c.url(leader, "secret/lost"))
            .header("X-Vault-Token", &c.token)
            .json(&json!({"v": "x"})),
    );
    eprintln!(
        "write without quorum: {status:?} after {:?}",
        started.elapsed()
    );
    assert!(
        !status.is_some_and(|s| (200..300).contains(&s)),
        "a write without quorum was acknowledged: {status:?}"
    );
    // …and the leader stops reporting itself active within a few seconds.
    let started = Instant::now();
    let code = c.wait_for(
        "the leader without quorum to stop being active",
        Duration::from_secs(5),
        |c| c.health(leader).filter(|s| *s != 200),
    );
    eprintln!("leader health {code} after {:?}", started.elapsed());
    let status = send_status(
        short
            .put(c.url(leader, "secret/refused"))
            .header("X-Vault-Token", &c.token)
            .json(&json!({"v": "x"})),
    );
    assert!(
        !status.is_some_and(|s| (200..300).contains(&s)),
        "write accepted by an inactive leader: {status:?}"
    );

    // One follower returns: the cluster has a quorum again and accepts writes.
    let back = followers[0];
    c.restart(back);
    c.unseal(back);
    for n in 0..5 {
        let (k, v) = (format!("after{n}"), format!("a{n}"));
        write_until_acked(&c, leader, &k, &v, Duration::from_secs(20));
        acked.push((k, v));
    }
    let (rounds, split) = sampler.finish();
    assert!(rounds > 10, "the sampler barely ran ({rounds} rounds)");
    assert!(
        split.is_empty(),
        "two nodes reported active at once: {split:?}"
    );
    let target = applied_index(&c, leader).unwrap();
    c.wait_for(
        "the returned follower to catch up",
        Duration::from_secs(20),
        |c| (applied_index(c, back)? >= target).then_some(()),
    );
    for i in [leader, back] {
        for (k, v) in &acked {
            assert_eq!(read_secret(&c, i, k), Some(json!(v)), "node {i} key {k}");
        }
    }
    assert_eq!(read_secret(&c, leader, "refused"), None);
    // "lost" timed out: it may or may not have been applied, both are correct.
}

#[test]
fn paused_leader_is_replaced_and_follows_after_resume() {
    let mut c = Cluster::start(3);
    let old = c.wait_leader(None, Duration::from_secs(10));
    mount_kv(&c, old);
    write_until_acked(&c, old, "a", "one", Duration::from_secs(10));
    let sampler = ActiveSampler::start(c.addrs());

    c.pause(old);
    let started = Instant::now();
    let new = c.wait_leader(Some(old), Duration::from_secs(20));
    let others: Vec<usize> = (0..3).filter(|i| *i != old).collect();
    for (n, via) in others.iter().cycle().take(4).enumerate() {
        write_until_acked(
            &c,
            *via,
            &format!("k{n}"),
            &format!("v{n}"),
            Duration::from_secs(15),
        );
    }
    eprintln!(
        "node {new} leads and took writes {:?} after the pause",
        started.elapsed()
    );

    // Requests sent to the frozen node are the first it serves once resumed: it must not
    // answer them as the active node (it was deposed while frozen), and a read must not
    // come from its stale local state.
    let probes: Vec<_> = ["sys/health", "secret/k3"]
        .into_iter()
        .map(|path| {
            let (url, token) = (c.url(old, path), c.token.clone());
            std::thread::spawn(move || {
                let r = client_with_timeout(Duration::from_secs(10))
                    .get(url)
                    .header("X-Vault-Token", token)
                    .send()
                    .ok()?;
                Some((r.status().as_u16(), r.text().unwrap_or_default()))
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300)); // let both requests reach the socket
    c.resume(old);
    let answers: Vec<_> = probes.into_iter().map(|t| t.join().unwrap()).collect();
    eprintln!("first answers after SIGCONT: {answers:?}");
    // A leader resumed after SIGSTOP finds a Raft metrics snapshot from before the pause,
    // whose quorum-ack age is young. `RaftStore::quorum_ack_age_ms` adds the time since the
    // snapshot was last seen new, so the resumed node does not call itself active (this
    // assertion failed now and then before that).
    assert_ne!(
        answers[0].as_ref().map(|a| a.0),
        Some(200),
        "PRODUCT BUG: the deposed leader answered health 200 right after SIGCONT: {answers:?}"
    );
    assert!(
        answers[1].as_ref().is_none_or(|a| a.0 != 404),
        "PRODUCT BUG: the deposed leader served a stale read right after SIGCONT: {answers:?}"
    );
    let commit = c.leader_status(new).unwrap()["raft_committed_index"]
        .as_u64()
        .unwrap();
    c.wait_for(
        "the resumed leader to follow and catch up",
        Duration::from_secs(20),
        |c| {
            let l = c.leader_status(old)?;
            (l["is_self"] == false
                && l["raft_applied_index"].as_u64()? >= commit
                && c.health(old)? == 473)
                .then_some(())
        },
    );
    let (_, split) = sampler.finish();
    assert!(
        split.is_empty(),
        "two nodes reported active at once: {split:?}"
    );
    assert_eq!(c.leader(), Some(new));
    // Read through the old leader (now a standby that forwards) and from its own state.
    assert_eq!(read_secret(&c, old, "a"), Some(json!("one")));
    for n in 0..4 {
        assert_eq!(
            read_secret(&c, old, &format!("k{n}")),
            Some(json!(format!("v{n}")))
        );
    }
}

#[test]
fn removed_peer_rejoins_with_a_wiped_data_dir() {
    let mut c = Cluster::start(3);
    let leader = c.wait_leader(None, Duration::from_secs(10));
    mount_kv(&c, leader);
    write_until_acked(&c, leader, "a", "one", Duration::from_secs(10));
    let victim = (0..3).find(|i| *i != leader).unwrap();
    let id = c.nodes[victim].name.clone();
    let r = c.post(
        leader,
        "sys/storage/raft/remove-peer",
        json!({ "server_id": id }),
    );
    assert_eq!(r.status(), 204, "{}", r.text().unwrap());
    c.wait_for("list-peers to show 2", Duration::from_secs(10), |c| {
        let s = c.servers(leader);
        (s.len() == 2 && s.iter().all(|x| x["node_id"] != id.as_str())).then_some(())
    });
    write_until_acked(&c, leader, "b", "two", Duration::from_secs(10));

    // Fresh start of the same node: empty data dir, retry_join to both remaining nodes.
    c.kill9(victim);
    let joins: Vec<String> = (0..3)
        .filter(|i| *i != victim)
        .map(|i| c.nodes[i].addr.clone())
        .collect();
    c.nodes[victim].wipe_data();
    c.nodes[victim].write_config(&joins);
    let http = c.http.clone();
    c.nodes[victim].spawn(&http);
    assert_eq!(c.seal_status(victim)["sealed"], true);
    c.wait_for_challenge(victim);
    c.unseal(victim);
    c.wait_for(
        "the node to be listed again",
        Duration::from_secs(20),
        |c| {
            c.servers(leader)
                .iter()
                .any(|s| s["node_id"] == id.as_str())
                .then_some(())
        },
    );
    // It may join as a non-voter and be promoted once stable (autopilot).
    let started = Instant::now();
    c.wait_for(
        "the re-joined node to be a voter",
        Duration::from_secs(45),
        |c| {
            let s = c.servers(leader);
            (s.len() == 3 && s.iter().all(|x| x["voter"] == true)).then_some(())
        },
    );
    eprintln!("voter again {:?} after unseal", started.elapsed());
    let target = applied_index(&c, leader).unwrap();
    c.wait_for(
        "the re-joined node to catch up",
        Duration::from_secs(20),
        |c| (applied_index(c, victim)? >= target).then_some(()),
    );
    assert_eq!(c.health(victim), Some(473));
    write_until_acked(&c, victim, "c", "three", Duration::from_secs(10));
    for k in [("a", "one"), ("b", "two"), ("c", "three")] {
        assert_eq!(read_secret(&c, victim, k.0), Some(json!(k.1)));
    }
}

#[test]
fn restarted_old_leader_never_serves_stale_reads() {
    let mut c = Cluster::start(3);
    let old = c.wait_leader(None, Duration::from_secs(10));
    mount_kv(&c, old);
    write_until_acked(&c, old, "k", "before", Duration::from_secs(10));
    c.kill9(old);
    let new = c.wait_leader(Some(old), Duration::from_secs(20));
    write_until_acked(&c, new, "k", "after", Duration::from_secs(15));

    c.restart(old);
    c.unseal(old);
    // From the moment it is unsealed, everything the old leader answers must be current:
    // reads forwarded to (or served like) the active node, and never a second active node.
    let short = client_with_timeout(Duration::from_secs(3));
    let deadline = Instant::now() + Duration::from_secs(4);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        let read = short
            .get(c.url(old, "secret/k"))
            .header("X-Vault-Token", &c.token)
            .send()
            .ok()
            .map(|r| (r.status().as_u16(), r.text().unwrap_or_default()));
        let health = c.health(old);
        // PRODUCT BUG (reported): openraft 0.9 restores a restarted leader as leader of its
        // old term and its quorum-ack age is `None`, which tresor::ha::RaftHa::is_active
        // counts as fresh; the node turns active after unseal and serves its pre-crash state.
        assert!(
            read.as_ref()
                .is_none_or(|(s, body)| *s != 200 || !body.contains("before")),
            "PRODUCT BUG: the restarted old leader served a stale read: {read:?}"
        );
        assert_ne!(
            health,
            Some(200),
            "PRODUCT BUG: the restarted old leader reports active beside node {new}"
        );
        seen.push((read.map(|r| r.0), health));
    }
    eprintln!("answers of the restarted node: {seen:?}");
    assert_eq!(c.leader(), Some(new));
    assert_eq!(read_secret(&c, old, "k"), Some(json!("after")));
}
