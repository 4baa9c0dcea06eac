//! Operator snapshots through the real server: save, write more, restore (the old state is
//! back, tokens and mounts included); damaged archives are refused with nothing changed; an
//! archive from another cluster needs snapshot-force, then the node seals until it is
//! unsealed with the source cluster's keys.

#![allow(clippy::unwrap_used)]

use tresor_testkit::process;

use process::{Server, body};
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
    assert_eq!(
        s.post("sys/mounts/secret", json!({"type": "kv"})).status(),
        204
    );
    assert_eq!(s.put("secret/a", json!({"v": "1"})).status(), 204);

    // A token without a policy for the path may not take a snapshot.
    let no_token = s
        .http
        .get(s.url("sys/storage/raft/snapshot"))
        .send()
        .unwrap();
    assert_eq!(no_token.status(), 403);
    let archive = save(&s);

    assert_eq!(s.put("secret/a", json!({"v": "2"})).status(), 204);
    assert_eq!(s.put("secret/b", json!({"v": "3"})).status(), 204);
    assert_eq!(
        s.post("sys/mounts/later", json!({"type": "kv"})).status(),
        204
    );

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
    assert_eq!(
        a.post("sys/mounts/secret", json!({"type": "kv"})).status(),
        204
    );
    assert_eq!(a.put("secret/x", json!({"v": "from-a"})).status(), 204);
    let archive = save(&a);
    a.stop();

    let mut b = Server::start();
    b.init_unseal(1, 1);
    assert_eq!(
        b.post("sys/mounts/secret", json!({"type": "kv"})).status(),
        204
    );
    assert_eq!(b.put("secret/x", json!({"v": "from-b"})).status(), 204);

    let r = restore(&b, "sys/storage/raft/snapshot", archive.clone());
    assert_eq!(r.status(), 400);
    assert!(
        body(r)["errors"][0]
            .as_str()
            .unwrap()
            .contains("snapshot-force")
    );
    assert_eq!(read_value(&b, "secret/x").as_deref(), Some("from-b"));

    let r = restore(&b, "sys/storage/raft/snapshot-force", archive);
    assert_eq!(r.status(), 204, "{}", r.text().unwrap_or_default());
    // The restored keyring is under A's root key: B seals itself.
    let st = body(b.get("sys/seal-status"));
    assert_eq!(st["sealed"], true, "{st}");
    b.unseal(&a_init.keys[..1]);
    b.token = Some(a_init.root_token.clone());
    process::wait_for(
        "the active state",
        std::time::Duration::from_secs(20),
        || (b.get("secret/x").status() == 200).then_some(()),
    );
    assert_eq!(read_value(&b, "secret/x").as_deref(), Some("from-a"));
}

fn cli(s: &Server, args: &[&str]) -> std::process::Output {
    let home = s.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = std::process::Command::new(process::bin());
    cmd.args(args)
        .env_clear()
        .env("HOME", &home)
        .env("VAULT_ADDR", &s.addr)
        .stdin(std::process::Stdio::null());
    if let Some(t) = &s.token {
        cmd.env("VAULT_TOKEN", t);
    }
    cmd.output().unwrap()
}

fn ok(out: &std::process::Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn cli_save_inspect_restore() {
    let mut s = Server::start();
    s.init_unseal(1, 1);
    assert_eq!(
        s.post("sys/mounts/secret", json!({"type": "kv"})).status(),
        204
    );
    assert_eq!(s.put("secret/a", json!({"v": "1"})).status(), 204);
    let file = s.dir.path().join("backup.snap");
    let file_arg = file.to_str().unwrap();
    ok(
        &cli(&s, &["operator", "raft", "snapshot", "save", file_arg]),
        "save",
    );

    // Offline: no server needed, checksums verified, prefixes counted.
    let table = ok(
        &cli(&s, &["operator", "raft", "snapshot", "inspect", file_arg]),
        "inspect",
    );
    for field in [
        "ID", "Size", "Index", "Term", "Version", "Key Name", "core/", "logical/",
    ] {
        assert!(table.contains(field), "{field} missing from:\n{table}");
    }
    let doc: serde_json::Value = serde_json::from_str(&ok(
        &cli(
            &s,
            &[
                "operator",
                "raft",
                "snapshot",
                "inspect",
                "-format=json",
                file_arg,
            ],
        ),
        "inspect json",
    ))
    .unwrap();
    assert!(doc["info"]["Index"].as_u64().unwrap() > 0, "{doc}");
    assert!(doc["total_count"].as_u64().unwrap() > 3, "{doc}");
    let mut damaged = std::fs::read(&file).unwrap();
    damaged.truncate(damaged.len() - 10);
    let bad = s.dir.path().join("bad.snap");
    std::fs::write(&bad, damaged).unwrap();
    let out = cli(
        &s,
        &[
            "operator",
            "raft",
            "snapshot",
            "inspect",
            bad.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));

    assert_eq!(s.put("secret/a", json!({"v": "2"})).status(), 204);
    ok(
        &cli(&s, &["operator", "raft", "snapshot", "restore", file_arg]),
        "restore",
    );
    assert_eq!(read_value(&s, "secret/a").as_deref(), Some("1"));
    ok(
        &cli(
            &s,
            &[
                "operator", "raft", "snapshot", "restore", "-force", file_arg,
            ],
        ),
        "restore -force",
    );
    assert_eq!(read_value(&s, "secret/a").as_deref(), Some("1"));
}
