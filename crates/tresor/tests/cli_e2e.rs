//! Tresor's own CLI driving a real server: operator init/unseal/seal, secrets enable, kv,
//! policy, token, with VAULT_ADDR/VAULT_TOKEN and single-dash flags.

#![allow(clippy::unwrap_used)]

use tresor_testkit::process;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use process::Server;
use serde_json::Value;

fn cli(s: &Server, token: Option<&str>, args: &[&str]) -> Output {
    let home = s.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = Command::new(process::bin());
    cmd.args(args)
        .env_clear()
        .env("HOME", &home)
        .env("VAULT_ADDR", &s.addr)
        .stdin(Stdio::null());
    if let Some(t) = token {
        cmd.env("VAULT_TOKEN", t);
    }
    cmd.output().unwrap()
}

fn ok(out: &Output, what: &str) -> String {
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
fn operator_kv_policy_token_flow() {
    let s = Server::start();
    let out = cli(&s, None, &["status"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "status of an uninitialized/sealed server exits 2"
    );

    let init: Value = serde_json::from_str(&ok(
        &cli(
            &s,
            None,
            &[
                "operator",
                "init",
                "-key-shares=3",
                "-key-threshold=2",
                "-format=json",
            ],
        ),
        "operator init",
    ))
    .unwrap();
    let keys = process::strings(&init["unseal_keys_b64"]);
    let root = init["root_token"].as_str().unwrap().to_owned();
    assert_eq!(keys.len(), 3);
    ok(
        &cli(&s, None, &["operator", "unseal", &keys[0]]),
        "unseal 1",
    );
    ok(
        &cli(&s, None, &["operator", "unseal", &keys[2]]),
        "unseal 2",
    );
    ok(&cli(&s, None, &["status"]), "status when unsealed");

    let r = Some(root.as_str());
    ok(
        &cli(
            &s,
            r,
            &["secrets", "enable", "-path=secret", "-version=2", "kv"],
        ),
        "secrets enable",
    );
    let list = ok(
        &cli(&s, r, &["secrets", "list", "-format=json"]),
        "secrets list",
    );
    assert!(list.contains("secret/"), "{list}");
    ok(
        &cli(
            &s,
            r,
            &["kv", "put", "secret/app", "user=alice", "pass=s3cret"],
        ),
        "kv put",
    );
    let got: Value = serde_json::from_str(&ok(
        &cli(&s, r, &["kv", "get", "-format=json", "secret/app"]),
        "kv get",
    ))
    .unwrap();
    assert_eq!(got["data"]["data"]["user"], "alice");
    let field = ok(
        &cli(&s, r, &["kv", "get", "-field=pass", "secret/app"]),
        "kv get -field",
    );
    assert_eq!(field.trim(), "s3cret");
    ok(
        &cli(&s, r, &["kv", "put", "-mount=secret", "app", "user=bob"]),
        "kv put -mount",
    );
    let meta: Value = serde_json::from_str(&ok(
        &cli(
            &s,
            r,
            &["kv", "metadata", "get", "-format=json", "secret/app"],
        ),
        "metadata",
    ))
    .unwrap();
    assert_eq!(meta["data"]["current_version"], 2);

    // A policy from a file, a token bound to it: reads allowed, writes refused.
    let policy = s.dir.path().join("app-read.hcl");
    std::fs::File::create(&policy)
        .unwrap()
        .write_all(b"path \"secret/data/app\" {\n  capabilities = [\"read\"]\n}\n")
        .unwrap();
    ok(
        &cli(
            &s,
            r,
            &["policy", "write", "app-read", policy.to_str().unwrap()],
        ),
        "policy write",
    );
    let policies = ok(&cli(&s, r, &["policy", "list"]), "policy list");
    assert!(
        policies.lines().any(|l| l.trim() == "app-read"),
        "{policies}"
    );
    let tok: Value = serde_json::from_str(&ok(
        &cli(
            &s,
            r,
            &[
                "token",
                "create",
                "-policy=app-read",
                "-ttl=1h",
                "-format=json",
            ],
        ),
        "token create",
    ))
    .unwrap();
    let app = tok["auth"]["client_token"].as_str().unwrap().to_owned();
    let look: Value = serde_json::from_str(&ok(
        &cli(&s, Some(&app), &["token", "lookup", "-format=json"]),
        "token lookup",
    ))
    .unwrap();
    assert_eq!(
        look["data"]["policies"],
        serde_json::json!(["app-read", "default"])
    );
    let read = ok(
        &cli(&s, Some(&app), &["kv", "get", "-field=user", "secret/app"]),
        "read with app token",
    );
    assert_eq!(read.trim(), "bob");
    let denied = cli(&s, Some(&app), &["kv", "put", "secret/app", "user=mallory"]);
    assert!(!denied.status.success());
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("403"),
        "{}",
        String::from_utf8_lossy(&denied.stderr)
    );

    // A batch token: created with -type=batch, looked up as type batch, used, not revocable.
    let batch = ok(
        &cli(
            &s,
            r,
            &[
                "token",
                "create",
                "-type=batch",
                "-policy=app-read",
                "-ttl=30m",
                "-field=token",
            ],
        ),
        "token create -type=batch",
    );
    let batch = batch.trim().to_owned();
    assert!(batch.starts_with("hvb."), "{batch}");
    let look = ok(
        &cli(&s, r, &["token", "lookup", &batch]),
        "token lookup batch",
    );
    assert!(
        look.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["type", "batch"]),
        "{look}"
    );
    let read = ok(
        &cli(
            &s,
            Some(&batch),
            &["kv", "get", "-field=user", "secret/app"],
        ),
        "read with batch token",
    );
    assert_eq!(read.trim(), "bob");
    let revoke = cli(&s, r, &["token", "revoke", &batch]);
    assert!(!revoke.status.success());
    assert!(
        String::from_utf8_lossy(&revoke.stderr).contains("batch tokens cannot be revoked"),
        "{}",
        String::from_utf8_lossy(&revoke.stderr)
    );

    // Rotation and key status, then seal: status exits 2.
    ok(&cli(&s, r, &["operator", "rotate"]), "rotate");
    let read = ok(
        &cli(
            &s,
            Some(&batch),
            &["kv", "get", "-field=user", "secret/app"],
        ),
        "read with a batch token after rotation",
    );
    assert_eq!(read.trim(), "bob");
    let ks = ok(
        &cli(&s, r, &["operator", "key-status", "-format=json"]),
        "key-status",
    );
    assert!(ks.contains("\"term\""), "{ks}");
    ok(&cli(&s, r, &["token", "revoke", &app]), "token revoke");
    assert!(!cli(&s, Some(&app), &["token", "lookup"]).status.success());
    ok(&cli(&s, r, &["operator", "seal"]), "seal");
    assert_eq!(cli(&s, None, &["status"]).status.code(), Some(2));

    // Usage errors exit 2.
    assert_eq!(cli(&s, r, &["kv", "put"]).status.code(), Some(2));
}
