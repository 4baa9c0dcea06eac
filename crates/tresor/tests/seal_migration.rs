//! Seal migration with the real binary and SoftHSM2 tokens: Shamir → pkcs11 on a three-node
//! cluster (leader first, then each other node, `unseal -migrate` with the old unseal keys;
//! afterwards restarted nodes unseal themselves through the HSM), back pkcs11 → Shamir with the recovery keys (the old
//! seal kept as a `disabled` stanza), and pkcs11 → pkcs11 (another key) on one node. Data
//! written before every migration reads back after it.

#![allow(clippy::unwrap_used)]

use tresor_testkit::process;

use std::time::Duration;

use serde_json::{Value, json};

use tresor_testkit::seal_node;
use tresor_testkit::seal_node::SealNode;
use tresor_testkit::softhsm::Hsm;

const WAIT: Duration = Duration::from_secs(30);

fn voters(node: &SealNode, token: &str) -> Option<usize> {
    let r = node.send("GET", "sys/storage/raft/configuration", Some(token), None);
    let v: Value = r.json().ok()?;
    let servers = v["data"]["config"]["servers"].as_array()?.clone();
    Some(servers.iter().filter(|s| s["voter"] == true).count())
}

/// Waits until `node`'s seal-status satisfies `f`.
fn wait_status(node: &SealNode, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let st = node.seal_status();
        if f(&st) {
            return st;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{}: timed out waiting for {what}; last status {st}; log:\n{}",
            node.name,
            seal_node::tail(&node.log(), 40)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn shamir_to_pkcs11_and_back_on_a_three_node_cluster() {
    let hsm = Hsm::new(&["migrate"]);
    let pkcs11 = hsm.stanza("migrate", "root-key", false);
    let pkcs11_old = hsm.stanza("migrate", "root-key", true);
    let mut nodes: Vec<SealNode> = (1..=3)
        .map(|i| SealNode::new(&format!("node-{i}"), Some(&hsm.conf)))
        .collect();
    let leader = nodes[0].addr.clone();
    let join = |i: usize| (i > 0).then_some(leader.as_str());

    // A Shamir cluster.
    nodes[0].configure("", None);
    nodes[0].spawn();
    let (keys, token) = nodes[0].init_shamir();
    nodes[0].unseal(&keys[..2], false);
    nodes[0].wait_health(200, WAIT);
    nodes[0].write_marker(&token, "shamir-era");
    for (i, n) in nodes.iter_mut().enumerate().skip(1) {
        n.configure("", join(i));
        n.spawn();
        wait_status(n, "a join challenge", |s| s["initialized"] == true);
        n.unseal(&keys[..2], false);
    }
    process::wait_for("three voters", WAIT, || {
        (voters(&nodes[0], &token) == Some(3)).then_some(())
    });

    // Shamir -> pkcs11: stop every node, add the seal stanza, start the leader first.
    for n in nodes.iter_mut() {
        n.stop();
    }
    for (i, n) in nodes.iter().enumerate() {
        n.configure(&pkcs11, join(i));
    }
    nodes[0].spawn();
    let st = nodes[0].seal_status();
    assert_eq!(st["migration"], true, "{st}");
    assert_eq!(st["sealed"], true);
    assert_eq!(st["type"], "shamir");
    assert_eq!(nodes[0].health(), Some(503));
    // A plain unseal is refused while the migration is pending.
    let r = nodes[0].send("PUT", "sys/unseal", None, Some(json!({"key": keys[0]})));
    assert_eq!(r.status(), 400);
    assert!(r.text().unwrap().contains("-migrate"));
    let st = nodes[0].unseal(&keys[..2], true);
    assert_eq!(st["sealed"], false, "{st}");
    // The other nodes come back with the new config. With Raft storage a sealed node takes no
    // part in the cluster, so each is unsealed with -migrate too (the same old keys); once a
    // quorum is up the active node writes the migration and every node follows it.
    for n in &mut nodes[1..] {
        n.spawn();
        assert_eq!(n.seal_status()["migration"], true);
        n.unseal(&keys[1..], true);
    }
    for n in &nodes {
        n.wait_unsealed(WAIT);
        let st = wait_status(n, "the migrated seal", |s| {
            s["type"] == "pkcs11" && s["migration"] == false && s["sealed"] == false
        });
        assert_eq!(st["recovery_seal"], true);
        assert_eq!((st["t"].clone(), st["n"].clone()), (json!(2), json!(3)));
    }
    // From now on every node unseals itself through the HSM.
    for n in &mut nodes[1..] {
        n.stop();
        n.spawn();
        n.wait_unsealed(WAIT);
    }
    process::wait_for("data through node 3", WAIT, || {
        nodes[2].has_marker(&token, "shamir-era").then_some(())
    });
    nodes[0].write_marker(&token, "pkcs11-era");
    // The old unseal keys are the recovery keys now.
    let active = nodes
        .iter()
        .find(|n| n.health() == Some(200))
        .expect("an active node");
    let generated = generate_root(active, &keys[1..]);
    assert!(active.has_marker(&generated, "pkcs11-era"));

    // pkcs11 -> Shamir: the pkcs11 stanza stays, disabled, so the old root key can be read.
    for n in nodes.iter_mut() {
        n.stop();
    }
    for (i, n) in nodes.iter().enumerate() {
        n.configure(&pkcs11_old, join(i));
    }
    nodes[0].spawn();
    let st = nodes[0].seal_status();
    assert_eq!(st["migration"], true, "{st}");
    assert_eq!(st["type"], "pkcs11");
    nodes[0].unseal(&keys[..2], true);
    for n in &mut nodes[1..] {
        n.spawn();
        assert_eq!(n.seal_status()["migration"], true);
        n.unseal(&keys[..2], true);
    }
    for n in &nodes {
        n.wait_unsealed(WAIT);
        let st = wait_status(n, "the Shamir config", |s| {
            s["type"] == "shamir" && s["migration"] == false
        });
        assert_eq!(st["recovery_seal"], false);
        assert_eq!((st["t"].clone(), st["n"].clone()), (json!(2), json!(3)));
    }
    // A restarted node now needs the (former recovery) keys as Shamir unseal keys.
    nodes[2].stop();
    nodes[2].spawn();
    assert_eq!(nodes[2].health(), Some(503));
    wait_status(&nodes[2], "shamir after restart", |s| {
        s["type"] == "shamir" && s["migration"] == false
    });
    nodes[2].unseal(&keys[1..], false);
    nodes[2].wait_unsealed(WAIT);
    process::wait_for("data after both migrations", WAIT, || {
        (nodes[1].has_marker(&token, "shamir-era") && nodes[1].has_marker(&token, "pkcs11-era"))
            .then_some(())
    });
}

#[test]
fn pkcs11_to_another_pkcs11_key_on_one_node() {
    let hsm = Hsm::new(&["rekeyed"]);
    let mut node = SealNode::new("node-1", Some(&hsm.conf));
    node.configure(&hsm.stanza("rekeyed", "old-key", false), None);
    node.spawn();
    let (recovery, token) = node.init_recovery();
    node.wait_health(200, WAIT);
    node.write_marker(&token, "old-key-era");

    node.kill9();
    let both = format!(
        "{}{}",
        hsm.stanza("rekeyed", "old-key", true),
        hsm.stanza("rekeyed", "new-key", false)
    );
    node.configure(&both, None);
    node.spawn();
    // The auto-unseal attempt finds the root key under the old key and waits for -migrate.
    wait_status(&node, "migration mode", |s| s["migration"] == true);
    assert_eq!(node.health(), Some(503));
    let st = node.unseal(&recovery[1..], true);
    assert_eq!(st["sealed"], false, "{st}");
    node.wait_health(200, WAIT);
    let st = node.seal_status();
    assert_eq!(st["migration"], false, "{st}");
    assert_eq!(st["type"], "pkcs11");
    assert!(node.has_marker(&token, "old-key-era"));

    // Only the new stanza from now on: the node unseals itself, the recovery keys still work.
    node.kill9();
    node.configure(&hsm.stanza("rekeyed", "new-key", false), None);
    node.spawn();
    node.wait_health(200, WAIT);
    assert!(node.has_marker(&token, "old-key-era"));
    let generated = generate_root(&node, &recovery[..2]);
    assert!(node.has_marker(&generated, "old-key-era"));
}

/// Runs generate-root on `node` with `keys` (recovery keys with an auto seal, unseal keys with
/// Shamir) and returns the new root token.
fn generate_root(node: &SealNode, keys: &[String]) -> String {
    let r = node.send("PUT", "sys/generate-root/attempt", None, Some(json!({})));
    let init: Value = r.json().unwrap();
    let otp = init["otp"].as_str().unwrap().to_owned();
    let nonce = init["nonce"].as_str().unwrap().to_owned();
    let mut last = Value::Null;
    for k in keys {
        let r = node.send(
            "PUT",
            "sys/generate-root/update",
            None,
            Some(json!({ "key": k, "nonce": nonce })),
        );
        assert_eq!(r.status(), 200);
        last = r.json().unwrap();
    }
    assert_eq!(last["complete"], true, "{last}");
    tresor_seal::root_token_decode(last["encoded_token"].as_str().unwrap(), &otp)
        .unwrap()
        .to_string()
}
