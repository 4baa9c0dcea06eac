//! Auto-unseal through a PKCS#11 HSM (SoftHSM2 tokens in a temp dir), with the real binary:
//! init gives recovery keys and leaves the node unsealed; kill -9 and restart come back
//! unsealed with no operator; an HSM that is missing at start keeps the node sealed (503,
//! "auto-unseal failed ... retrying") until it is back; generate-root works with recovery keys;
//! and a three-node cluster sharing one token unseals every node by itself, also after kill -9.

#![allow(clippy::unwrap_used)]

use tresor_testkit::process;

use std::time::Duration;

use serde_json::{Value, json};

use tresor_testkit::seal_node::SealNode;
use tresor_testkit::softhsm::Hsm;

const UNSEAL: Duration = Duration::from_secs(30);

#[test]
fn single_node_unseals_itself_after_restarts_and_an_hsm_outage() {
    let hsm = Hsm::new(&["tresor"]);
    let mut node = SealNode::new("node-1", Some(&hsm.conf));
    node.configure(&hsm.stanza("tresor", "root-key", false), None);
    node.spawn();
    let before = node.seal_status();
    assert_eq!(before["type"], "pkcs11");
    assert_eq!(before["recovery_seal"], true);

    let (recovery, token) = node.init_recovery();
    assert_eq!(recovery.len(), 3);
    node.wait_health(200, UNSEAL);
    let st = node.seal_status();
    assert_eq!(st["sealed"], false);
    assert_eq!((st["t"].clone(), st["n"].clone()), (json!(2), json!(3)));
    node.write_marker(&token, "before-restart");

    // kill -9 and restart: unsealed again with no operator action.
    node.kill9();
    node.spawn();
    node.wait_health(200, UNSEAL);
    assert!(node.has_marker(&token, "before-restart"));

    // The HSM cannot unwrap at start (its key is gone; no key is generated once the node is
    // initialized): the node comes up sealed, answers 503 and keeps retrying.
    node.kill9();
    hsm.take_keys_away();
    node.configure(&hsm.stanza_with("tresor", "root-key", false, false), None);
    node.spawn();
    assert_eq!(node.health(), Some(503));
    process::wait_for("the retry log line", UNSEAL, || {
        let log = node.log();
        (log.contains("auto-unseal failed") && log.contains("retrying in")).then_some(())
    });
    assert_eq!(node.seal_status()["sealed"], true);
    // The HSM comes back: the node unseals by itself.
    hsm.bring_keys_back();
    node.wait_health(200, Duration::from_secs(60));
    assert!(node.has_marker(&token, "before-restart"));

    // generate-root with the recovery keys.
    assert_eq!(
        node.send("GET", "sys/generate-root/attempt", None, None)
            .json::<Value>()
            .unwrap()["required"],
        2
    );
    let new_root = generate_root(&node, &recovery[..2]);
    let me = node.send(
        "GET",
        "auth/token/lookup-self",
        Some(new_root.as_str()),
        None,
    );
    assert_eq!(me.status(), 200, "the generated root token works");
}

#[test]
fn three_nodes_sharing_a_token_unseal_themselves() {
    let hsm = Hsm::new(&["cluster"]);
    let stanza = hsm.stanza("cluster", "root-key", false);
    let mut nodes: Vec<SealNode> = (1..=3)
        .map(|i| SealNode::new(&format!("node-{i}"), Some(&hsm.conf)))
        .collect();
    nodes[0].configure(&stanza, None);
    nodes[0].spawn();
    let (_recovery, token) = nodes[0].init_recovery();
    nodes[0].wait_health(200, UNSEAL);
    nodes[0].write_marker(&token, "cluster");
    let leader = nodes[0].addr.clone();
    for n in nodes.iter_mut().skip(1) {
        n.configure(&stanza, Some(&leader));
        n.spawn();
    }
    for n in &nodes[1..] {
        n.wait_unsealed(UNSEAL);
    }
    process::wait_for("three voters", UNSEAL, || {
        let r = nodes[0].send("GET", "sys/storage/raft/configuration", Some(&token), None);
        let v: Value = r.json().ok()?;
        let servers = v["data"]["config"]["servers"].as_array()?.clone();
        (servers.len() == 3 && servers.iter().all(|s| s["voter"] == true)).then_some(())
    });

    for node in nodes.iter_mut() {
        node.kill9();
        node.spawn();
        node.wait_unsealed(UNSEAL);
        // Some node is active and serves the data (forwarded if this one is a standby).
        process::wait_for("the cluster to serve again", UNSEAL, || {
            node.has_marker(&token, "cluster").then_some(())
        });
        assert_eq!(node.seal_status()["type"], "pkcs11");
    }
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
