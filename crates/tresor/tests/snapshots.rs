//! Operator snapshots through the real server: save, write more, restore (the old state is
//! back, tokens and mounts included); damaged archives are refused with nothing changed; an
//! archive from another cluster needs snapshot-force, then the node seals until it is
//! unsealed with the source cluster's keys.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Server, body};
use serde_json::json;

fn save(s: &Server) -> Vec<u8> {
    let r = s.get("sys/storage/raft/snapshot");
    assert_eq!(r.status(), 200);
    let headers = r.headers().clone();
    assert_eq!(headers["content-type"], "application/gzip");
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    r.bytes().unwrap().to_vec()
}

fn restore(s: &Server, path: &str, archive: Vec<u8>) -> reqwest::blocking::Response {
    s.req("POST", path).body(archive).send().unwrap()
}

fn read_value(s: &Server, path: &str) -> Option<String> {
    let r = s.get(path);
    if r.status() == 404 {
        return None;
    }
    assert_eq!(r.status(), 200, "{path}");
    body(r)["data"]["v"].as_str().map(str::to_owned)
}

#[test]
fn save_then_restore_brings_the_old_state_back() {
    let mut s = Server::start();
    s.init_unseal(1, 1);
    assert_eq!(s.post("sys/mounts/secret", json!({"type": "kv"})).status(), 204);
    assert_eq!(s.put("secret/a", json!({"v": "1"})).status(), 204);

    // A token without a policy for the path may not take a snapshot.
    let no_token = s.http.get(s.url("sys/storage/raft/snapshot")).send().unwrap();
    assert_eq!(no_token.status(), 403);
    let archive = save(&s);

    assert_eq!(s.put("secret/a", json!({"v": "2"})).status(), 204);
    assert_eq!(s.put("secret/b", json!({"v": "3"})).status(), 204);
    assert_eq!(s.post("sys/mounts/later", json!({"type": "kv"})).status(), 204);

    // Damaged archives are refused and change nothing.
    let mut flipped = archive.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x10;
    let truncated = archive[..archive.len() - 100].to_vec();
    for (name, bad) in [
        ("garbage", b"not a snapshot".to_vec()),
        ("flipped", flipped),
        ("truncated", truncated),
    ] {
        let r = restore(&s, "sys/storage/raft/snapshot", bad);
        assert_eq!(r.status(), 500, "{name}");
        let errors = body(r)["errors"].to_string();
        assert!(errors.contains("snapshot"), "{name}: {errors}");
        assert_eq!(read_value(&s, "secret/a").as_deref(), Some("2"), "{name}");
    }
    let garbage = restore(&s, "sys/storage/raft/snapshot", Vec::new());
    assert_eq!(
        body(garbage)["errors"][0],
        "failed to decompress snapshot: unexpected EOF"
    );

    let r = restore(&s, "sys/storage/raft/snapshot", archive);
    assert_eq!(r.status(), 204, "{}", r.text().unwrap_or_default());
    assert_eq!(read_value(&s, "secret/a").as_deref(), Some("1"));
    assert_eq!(read_value(&s, "secret/b"), None);
    let mounts = body(s.get("sys/mounts"));
    assert!(mounts["data"]["secret/"].is_object());
    assert!(mounts["data"]["later/"].is_null(), "{mounts}");
    // Still writable afterwards.
    assert_eq!(s.put("secret/c", json!({"v": "4"})).status(), 204);
    assert_eq!(read_value(&s, "secret/c").as_deref(), Some("4"));
}

#[test]
fn a_snapshot_of_another_cluster_needs_force_and_its_keys() {
    let mut a = Server::start();
    let a_init = a.init_unseal(1, 1);
    assert_eq!(a.post("sys/mounts/secret", json!({"type": "kv"})).status(), 204);
    assert_eq!(a.put("secret/x", json!({"v": "from-a"})).status(), 204);
    let archive = save(&a);
    a.stop();

    let mut b = Server::start();
    b.init_unseal(1, 1);
    assert_eq!(b.post("sys/mounts/secret", json!({"type": "kv"})).status(), 204);
    assert_eq!(b.put("secret/x", json!({"v": "from-b"})).status(), 204);

    let r = restore(&b, "sys/storage/raft/snapshot", archive.clone());
    assert_eq!(r.status(), 400);
    assert!(body(r)["errors"][0].as_str().unwrap().contains("snapshot-force"));
    assert_eq!(read_value(&b, "secret/x").as_deref(), Some("from-b"));

    let r = restore(&b, "sys/storage/raft/snapshot-force", archive);
    assert_eq!(r.status(), 204, "{}", r.text().unwrap_or_default());
    // The restored keyring is under A's root key: B seals itself.
    let st = body(b.get("sys/seal-status"));
    assert_eq!(st["sealed"], true, "{st}");
    b.unseal(&a_init.keys[..1]);
    b.token = Some(a_init.root_token.clone());
    common::wait_for("the active state", std::time::Duration::from_secs(20), || {
        (b.get("secret/x").status() == 200).then_some(())
    });
    assert_eq!(read_value(&b, "secret/x").as_deref(), Some("from-a"));
}
