//! Auto-unseal through AWS KMS (moto_server on loopback) with the real binary. Every node's
//! `seal "awskms"` endpoint is a [`FaultProxy`] in front of moto; stopping the proxy is the
//! KMS outage (moto keeps its keys in memory and is never restarted).
//!
//! - A three-node cluster: init gives recovery keys, the joining nodes unseal by themselves,
//!   every node comes back unsealed after kill -9, a node restarted during a KMS outage stays
//!   sealed (503, "auto-unseal failed … retrying") and unseals once KMS answers again, and
//!   generate-root works with the recovery keys.
//! - Seal migrations with data intact: Shamir → awskms → Shamir on a three-node cluster, and
//!   awskms → awskms (another KMS key, the old stanza disabled).
//! - Seal HA: two awskms keys behind two proxies; either one alone unseals, and seal-status /
//!   health report the degraded seal set.

#![allow(clippy::unwrap_used)]

use tresor_testkit::process;

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use tresor_testkit::fault_proxy::FaultProxy;
use tresor_testkit::moto::{Moto, stanza};
use tresor_testkit::seal_node;
use tresor_testkit::seal_node::SealNode;

const WAIT: Duration = Duration::from_secs(30);

fn voters(node: &SealNode, token: &str) -> Option<usize> {
    let r = node.send("GET", "sys/storage/raft/configuration", Some(token), None);
    let v: Value = r.json().ok()?;
    let servers = v["data"]["config"]["servers"].as_array()?.clone();
    Some(servers.iter().filter(|s| s["voter"] == true).count())
}

/// Polls `node`'s seal-status until `f` holds; returns that document.
fn wait_status(node: &SealNode, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let st = node.seal_status();
        if f(&st) {
            return st;
        }
        assert!(
            Instant::now() < deadline,
            "{}: timed out waiting for {what}; last status {st}; log:\n{}",
            node.name,
            seal_node::tail(&node.log(), 40)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `sys/health` as (status code, body).
fn health(node: &SealNode) -> (u16, Value) {
    let r = node.send("GET", "sys/health", None, None);
    let code = r.status().as_u16();
    (code, r.json().unwrap_or(Value::Null))
}

/// The `healthy` flags of seal-status' `seals` list.
fn seal_flags(st: &Value) -> Vec<Value> {
    st["seals"]
        .as_array()
        .map(|a| a.iter().map(|s| s["healthy"].clone()).collect())
        .unwrap_or_default()
}

/// Three nodes on one awskms stanza: node 1 initialized with recovery keys 3/2, nodes 2-3
/// joined through `retry_join` and unsealed by themselves, all three voters.
fn awskms_cluster(seal: &str) -> (Vec<SealNode>, Vec<String>, String) {
    let mut nodes: Vec<SealNode> = (1..=3)
        .map(|i| SealNode::new(&format!("node-{i}"), None))
        .collect();
    nodes[0].configure(seal, None);
    nodes[0].spawn();
    let before = nodes[0].seal_status();
    assert_eq!(before["type"], "awskms", "{before}");
    assert_eq!(before["recovery_seal"], true);
    assert_eq!(before["initialized"], false);
    let (recovery, token) = nodes[0].init_recovery();
    assert_eq!(recovery.len(), 3);
    nodes[0].wait_health(200, WAIT);
    let st = nodes[0].seal_status();
    assert_eq!(st["sealed"], false);
    assert_eq!((st["t"].clone(), st["n"].clone()), (json!(2), json!(3)));
    let leader = nodes[0].addr.clone();
    for n in nodes.iter_mut().skip(1) {
        n.configure(seal, Some(&leader));
        n.spawn();
    }
    for n in &nodes[1..] {
        n.wait_unsealed(WAIT);
    }
    process::wait_for("three voters", WAIT, || {
        (voters(&nodes[0], &token) == Some(3)).then_some(())
    });
    (nodes, recovery, token)
}

#[test]
fn three_node_cluster_unseals_itself_after_kill9_and_a_kms_outage() {
    let moto = Moto::start();
    let key = moto.create_key();
    let mut kms = FaultProxy::start(moto.addr());
    let seal = stanza(&kms.endpoint(), &key, false);
    let (mut nodes, recovery, token) = awskms_cluster(&seal);
    nodes[0].write_marker(&token, "before-restarts");

    // kill -9 and restart each node in turn: unsealed and serving with no operator action.
    for node in nodes.iter_mut() {
        node.kill9();
        node.spawn();
        node.wait_unsealed(WAIT);
        process::wait_for("the cluster to serve again", WAIT, || {
            node.has_marker(&token, "before-restarts").then_some(())
        });
        let st = node.seal_status();
        assert_eq!(
            (st["type"].clone(), st["sealed"].clone()),
            (json!("awskms"), json!(false))
        );
    }

    // KMS outage: a node restarted now stays sealed (503) and keeps retrying.
    kms.stop();
    let node = &mut nodes[2];
    node.kill9();
    let log_before = node.log().len();
    node.spawn();
    assert_eq!(node.health(), Some(503));
    process::wait_for("the retry log line", WAIT, || {
        let log = node.log();
        let new = &log[log_before.min(log.len())..];
        (new.contains("auto-unseal failed") && new.contains("retrying in")).then_some(())
    });
    let st = node.seal_status();
    assert_eq!(
        (st["sealed"].clone(), st["type"].clone()),
        (json!(true), json!("awskms"))
    );
    assert_eq!(node.health(), Some(503));
    // The other two keep serving: KMS is needed only to unseal.
    assert!(nodes[0].has_marker(&token, "before-restarts"));
    // KMS answers again: the node unseals by itself.
    kms.resume();
    nodes[2].wait_unsealed(Duration::from_secs(60));
    process::wait_for("node 3 to serve again", WAIT, || {
        nodes[2].has_marker(&token, "before-restarts").then_some(())
    });

    // generate-root with the recovery keys (OTP flow, decoded token used).
    let active = nodes
        .iter()
        .find(|n| n.health() == Some(200))
        .expect("an active node");
    let attempt: Value = active
        .send("GET", "sys/generate-root/attempt", None, None)
        .json()
        .unwrap();
    assert_eq!(attempt["required"], 2, "{attempt}");
    let generated = generate_root(active, &recovery[1..]);
    assert_ne!(generated, token);
    let me = active.send("GET", "auth/token/lookup-self", Some(&generated), None);
    assert_eq!(me.status(), 200, "the generated root token works");
    assert!(active.has_marker(&generated, "before-restarts"));
}

#[test]
fn shamir_to_awskms_and_back_on_a_three_node_cluster() {
    let moto = Moto::start();
    let key = moto.create_key();
    let kms = FaultProxy::start(moto.addr());
    let awskms = stanza(&kms.endpoint(), &key, false);
    let awskms_old = stanza(&kms.endpoint(), &key, true);
    let mut nodes: Vec<SealNode> = (1..=3)
        .map(|i| SealNode::new(&format!("node-{i}"), None))
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

    // Shamir -> awskms (docs/runbooks/seal-migration.md): every node stopped and given the
    // seal stanza; the leader first, then each other node, unsealed with -migrate and the old
    // unseal keys.
    for n in nodes.iter_mut() {
        n.stop();
    }
    for (i, n) in nodes.iter().enumerate() {
        n.configure(&awskms, join(i));
    }
    nodes[0].spawn();
    let st = nodes[0].seal_status();
    assert_eq!(
        (st["migration"].clone(), st["sealed"].clone()),
        (json!(true), json!(true))
    );
    assert_eq!(st["type"], "shamir");
    assert_eq!(nodes[0].health(), Some(503));
    let r = nodes[0].send("PUT", "sys/unseal", None, Some(json!({"key": keys[0]})));
    assert_eq!(r.status(), 400, "a plain unseal is refused while migrating");
    let st = nodes[0].unseal(&keys[..2], true);
    assert_eq!(st["sealed"], false, "{st}");
    for n in &mut nodes[1..] {
        n.spawn();
        assert_eq!(n.seal_status()["migration"], true);
        n.unseal(&keys[1..], true);
    }
    for n in &nodes {
        n.wait_unsealed(WAIT);
        let st = wait_status(n, "the awskms seal", |s| {
            s["type"] == "awskms" && s["migration"] == false && s["sealed"] == false
        });
        assert_eq!(st["recovery_seal"], true);
        assert_eq!((st["t"].clone(), st["n"].clone()), (json!(2), json!(3)));
    }
    // From now on restarted nodes unseal themselves through KMS.
    for n in &mut nodes {
        n.kill9();
        n.spawn();
        n.wait_unsealed(WAIT);
    }
    process::wait_for("Shamir-era data through node 3", WAIT, || {
        nodes[2].has_marker(&token, "shamir-era").then_some(())
    });
    let active = process::wait_for("an active node", WAIT, || {
        nodes.iter().position(|n| n.health() == Some(200))
    });
    nodes[active].write_marker(&token, "awskms-era");
    // The old unseal keys are the recovery keys now.
    let generated = generate_root(&nodes[active], &keys[1..]);
    assert!(nodes[active].has_marker(&generated, "awskms-era"));

    // awskms -> Shamir: the awskms stanza stays, disabled, to unwrap the root key once.
    for n in nodes.iter_mut() {
        n.stop();
    }
    for (i, n) in nodes.iter().enumerate() {
        n.configure(&awskms_old, join(i));
    }
    nodes[0].spawn();
    let st = nodes[0].seal_status();
    assert_eq!(
        (st["migration"].clone(), st["type"].clone()),
        (json!(true), json!("awskms"))
    );
    nodes[0].unseal(&keys[..2], true);
    for n in &mut nodes[1..] {
        n.spawn();
        assert_eq!(n.seal_status()["migration"], true);
        n.unseal(&keys[..2], true);
    }
    for n in &nodes {
        n.wait_unsealed(WAIT);
        let st = wait_status(n, "the Shamir seal", |s| {
            s["type"] == "shamir" && s["migration"] == false
        });
        assert_eq!(st["recovery_seal"], false);
        assert!(st.get("seals").is_none(), "no auto seal set: {st}");
    }
    // A restarted node needs the Shamir keys again: KMS is not used any more.
    nodes[2].stop();
    nodes[2].spawn();
    assert_eq!(nodes[2].health(), Some(503));
    nodes[2].unseal(&keys[1..], false);
    nodes[2].wait_unsealed(WAIT);
    process::wait_for("data of both eras", WAIT, || {
        (nodes[2].has_marker(&token, "shamir-era") && nodes[2].has_marker(&token, "awskms-era"))
            .then_some(())
    });
}

#[test]
fn awskms_to_another_kms_key() {
    let moto = Moto::start();
    let (old_key, new_key) = (moto.create_key(), moto.create_key());
    let kms = FaultProxy::start(moto.addr());
    let mut node = SealNode::new("node-1", None);
    node.configure(&stanza(&kms.endpoint(), &old_key, false), None);
    node.spawn();
    let (recovery, token) = node.init_recovery();
    node.wait_health(200, WAIT);
    node.write_marker(&token, "old-key-era");

    node.kill9();
    let both = format!(
        "{}{}",
        stanza(&kms.endpoint(), &old_key, true),
        stanza(&kms.endpoint(), &new_key, false)
    );
    node.configure(&both, None);
    node.spawn();
    // The root key is found under the old KMS key: the node waits for -migrate.
    wait_status(&node, "migration mode", |s| s["migration"] == true);
    assert_eq!(node.health(), Some(503));
    let st = node.unseal(&recovery[1..], true);
    assert_eq!(st["sealed"], false, "{st}");
    node.wait_health(200, WAIT);
    let st = node.seal_status();
    assert_eq!(
        (st["migration"].clone(), st["type"].clone()),
        (json!(false), json!("awskms"))
    );
    assert!(node.has_marker(&token, "old-key-era"));

    // Only the new key from now on; the old key is disabled in KMS to prove it is not used.
    moto.kms("DisableKey", json!({"KeyId": old_key}));
    node.kill9();
    node.configure(&stanza(&kms.endpoint(), &new_key, false), None);
    node.spawn();
    node.wait_health(200, WAIT);
    assert!(node.has_marker(&token, "old-key-era"));
    let generated = generate_root(&node, &recovery[..2]);
    assert!(node.has_marker(&generated, "old-key-era"));
}

// Seal HA: two enabled awskms stanzas (two KMS keys) form a seal set.
#[test]
fn two_kms_keys_either_one_unseals_and_the_degraded_set_is_reported() {
    let moto = Moto::start();
    let (key_a, key_b) = (moto.create_key(), moto.create_key());
    let mut kms = [
        FaultProxy::start(moto.addr()),
        FaultProxy::start(moto.addr()),
    ];
    let seals = format!(
        "{}{}",
        stanza(&kms[0].endpoint(), &key_a, false),
        stanza(&kms[1].endpoint(), &key_b, false)
    );
    let mut node = SealNode::new("node-1", None);
    node.configure(&seals, None);
    node.spawn();
    let (_recovery, token) = node.init_recovery();
    node.wait_health(200, WAIT);
    node.write_marker(&token, "seal-ha");
    let st = wait_status(&node, "both seals checked healthy", |s| {
        seal_flags(s) == [json!(true), json!(true)]
    });
    assert_eq!(st["seals"][0]["type"], "awskms");
    assert_ne!(st["seals"][0]["name"], st["seals"][1]["name"]);
    let (code, body) = health(&node);
    assert_eq!(
        (code, body["seal_degraded"].clone()),
        (200, json!(false)),
        "{body}"
    );

    // One seal's KMS is down (the first, then the second): the other one unseals after
    // kill -9, and the set is reported degraded until the KMS is back.
    for (down, up) in [(0, 1), (1, 0)] {
        kms[down].stop();
        node.kill9();
        node.spawn();
        node.wait_health(200, WAIT);
        assert!(node.has_marker(&token, "seal-ha"));
        let st = wait_status(&node, "the stopped seal reported unhealthy", |s| {
            seal_flags(s).get(down) == Some(&json!(false))
        });
        assert_eq!(seal_flags(&st)[up], true, "{st}");
        assert_eq!(st["sealed"], false);
        let (code, body) = health(&node);
        assert_eq!(code, 200, "a degraded set still serves: {body}");
        assert_eq!(body["seal_degraded"], true, "{body}");
        // The KMS is back: a later check (within ~10 s) clears the hint.
        kms[down].resume();
        process::wait_for("the seal set healthy again", WAIT, || {
            (health(&node).1["seal_degraded"] == false).then_some(())
        });
        assert_eq!(seal_flags(&node.seal_status()), [json!(true), json!(true)]);
    }
    let log = node.log();
    assert!(
        log.contains("seal health check failed"),
        "{}",
        seal_node::tail(&log, 20)
    );
    assert!(log.contains("seal health check passes again"));
}

// The write helper retries exactly the 503s whose request was not processed; the strings it
// looks for are the server's own.
#[test]
fn the_write_helper_retries_only_unprocessed_requests() {
    let body = |msg: String| json!({ "errors": [msg] }).to_string();
    let unconfirmed = body(tresor_core::CoreError::LeadershipUnconfirmed.to_string());
    let no_active = body(tresor_http::NO_ACTIVE_NODE.to_owned());
    assert!(seal_node::not_processed(503, &unconfirmed));
    assert!(seal_node::not_processed(503, &no_active));
    assert!(!seal_node::not_processed(500, &unconfirmed));
    let unavailable = tresor_core::CoreError::Storage(tresor_storage::StorageError::Unavailable(
        "raft stopped".into(),
    ));
    assert!(!seal_node::not_processed(
        503,
        &body(unavailable.to_string())
    ));
    assert!(!seal_node::not_processed(
        503,
        &body("Vault is sealed".into())
    ));
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
