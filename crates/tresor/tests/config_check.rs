//! `tresor server -config=... -check` on the seeds' real configs, read in place.

#![allow(clippy::unwrap_used)]

use tresor_testkit::process;

use std::process::Command;

fn seed(name: &str) -> String {
    format!(
        "{}/../../../shared/reference/seed-configs/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn check(paths: &[String]) -> (i32, String) {
    let mut cmd = Command::new(process::bin());
    cmd.arg("server");
    for p in paths {
        cmd.arg(format!("-config={p}"));
    }
    let out = cmd.arg("-check").output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn seed_server_configs_validate() {
    for name in [
        "seed000-vault.hcl",
        "seed002-vault-node1.hcl",
        "seed003-config.hcl",
    ] {
        let (code, out) = check(&[seed(name)]);
        assert_eq!(code, 0, "{name} must validate: {out}");
        assert!(out.contains("Configuration is valid"), "{out}");
    }
}

#[test]
fn unsupported_storage_is_refused_with_file_key_and_reason() {
    let (code, out) = check(&[seed("seed004-consul-awskms.hcl")]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("seed004-consul-awskms.hcl"),
        "names the file: {out}"
    );
    assert!(out.contains("storage"), "names the key: {out}");
    assert!(out.contains("consul"), "says why: {out}");
}

#[test]
fn broken_config_fails_and_usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.hcl");
    std::fs::write(&bad, "listener \"tcp\" {\n  tls_cert_file = \"/x.crt\"\n  tls_key_file = \"/x.key\"\n  tls_min_version = \"tls10\"\n}\nstorage \"raft\" { path = \"/tmp/x\" }\n").unwrap();
    let (code, out) = check(&[bad.display().to_string()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("tls_min_version"), "{out}");
    let out = Command::new(process::bin())
        .args(["server", "-bogus"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(process::bin())
        .args(["server"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_directory_of_files_is_merged() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.hcl"),
        "storage \"raft\" { path = \"/tmp/tresor-x\" }\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.hcl"),
        "listener \"tcp\" {\n address = \"127.0.0.1:8200\"\n tls_disable = true\n}\n",
    )
    .unwrap();
    let (code, out) = check(&[dir.path().display().to_string()]);
    assert_eq!(code, 0, "{out}");
}
