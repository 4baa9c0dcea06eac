//! TLS on the API listener (rustls, tls_min_version honoured) and `server -dev`.

#![allow(clippy::unwrap_used)]

use tresor_testkit::process;

use std::process::{Command, Stdio};
use std::time::Duration;

use process::{free_port, wait_for};

fn self_signed(dir: &std::path::Path) -> (String, String, String) {
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let c = dir.join("tls.crt");
    let k = dir.join("tls.key");
    std::fs::write(&c, cert.cert.pem()).unwrap();
    std::fs::write(&k, cert.key_pair.serialize_pem()).unwrap();
    (
        c.display().to_string(),
        k.display().to_string(),
        cert.cert.pem(),
    )
}

#[test]
fn tls_listener_serves_https_and_enforces_min_version() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, pem) = self_signed(dir.path());
    let port = free_port();
    let config = dir.path().join("tls.hcl");
    std::fs::write(
        &config,
        format!(
            r#"storage "raft" {{
  path = "{data}"
  node_id = "tls-1"
}}
listener "tcp" {{
  address         = "127.0.0.1:{port}"
  cluster_address = "127.0.0.1:{cport}"
  tls_cert_file   = "{cert}"
  tls_key_file    = "{key}"
  tls_min_version = "tls13"
}}
disable_mlock = true
"#,
            data = dir.path().join("data").display(),
            cport = free_port()
        ),
    )
    .unwrap();
    let mut child = Command::new(process::bin())
        .args(["server", &format!("-config={}", config.display())])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ca = reqwest::Certificate::from_pem(pem.as_bytes()).unwrap();
    let client = reqwest::blocking::Client::builder()
        .add_root_certificate(ca.clone())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let url = format!("https://127.0.0.1:{port}/v1/sys/health");
    let status = wait_for("the TLS listener", Duration::from_secs(60), || {
        client.get(&url).send().ok().map(|r| r.status().as_u16())
    });
    assert_eq!(status, 501, "uninitialized server answers over TLS");

    // Plain HTTP on the TLS port fails.
    let plain = reqwest::blocking::Client::new()
        .get(format!("http://127.0.0.1:{port}/v1/sys/health"))
        .send();
    assert!(plain.map(|r| r.status().as_u16() != 501).unwrap_or(true));
    // A client limited to TLS 1.2 cannot connect to a tls13-only listener.
    let old = reqwest::blocking::Client::builder()
        .add_root_certificate(ca)
        .max_tls_version(reqwest::tls::Version::TLS_1_2)
        .build()
        .unwrap();
    assert!(
        old.get(&url).send().is_err(),
        "TLS 1.2 must be refused when tls_min_version = tls13"
    );
    // A client that does not trust the certificate fails.
    assert!(reqwest::blocking::Client::new().get(&url).send().is_err());

    // The CLI trusts the OS trust store (here the file SSL_CERT_FILE names, as OpenSSL reads
    // it), like curl and Vault's CLI: with the certificate there, `status` answers.
    let cli_status = |store: Option<&str>| {
        let mut cmd = Command::new(process::bin());
        cmd.arg("status")
            .env("VAULT_ADDR", format!("https://127.0.0.1:{port}"))
            .env_remove("VAULT_CACERT")
            .env_remove("VAULT_CAPATH")
            .env_remove("VAULT_SKIP_VERIFY")
            .env_remove("SSL_CERT_DIR");
        match store {
            Some(file) => cmd.env("SSL_CERT_FILE", file),
            None => cmd.env("SSL_CERT_FILE", dir.path().join("empty.pem")),
        };
        let out = cmd.output().unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    std::fs::write(dir.path().join("empty.pem"), "").unwrap();
    let trusted = cli_status(Some(&cert));
    assert!(trusted.contains("Initialized"), "{trusted}");
    assert!(!trusted.contains("certificate"), "{trusted}");
    let untrusted = cli_status(None);
    assert!(untrusted.contains("UnknownIssuer"), "{untrusted}");
    child.kill().ok();
    child.wait().ok();
}

#[test]
fn dev_mode_is_initialized_unsealed_with_kv_v2() {
    let port = free_port();
    let tmp = tempfile::tempdir().unwrap(); // the dev server's data directory, killed or not
    let mut child = Command::new(process::bin())
        .args([
            "server",
            "-dev",
            "-dev-root-token-id=devroot",
            &format!("-dev-listen-address=127.0.0.1:{port}"),
        ])
        .env("TMPDIR", tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let http = reqwest::blocking::Client::new();
    let base = format!("http://127.0.0.1:{port}/v1");
    wait_for(
        "the dev server to be active",
        Duration::from_secs(60),
        || {
            http.get(format!("{base}/sys/health"))
                .send()
                .ok()
                .filter(|r| r.status() == 200)
        },
    );
    // Dev mode mounts `secret/` right after the node becomes active, so health may answer 200
    // a moment before the mount exists.
    let mounts: serde_json::Value = wait_for("the dev KV mount", Duration::from_secs(30), || {
        http.get(format!("{base}/sys/mounts"))
            .header("X-Vault-Token", "devroot")
            .send()
            .ok()?
            .json::<serde_json::Value>()
            .ok()
            .filter(|m| !m["data"]["secret/"].is_null())
    });
    assert_eq!(mounts["data"]["secret/"]["options"]["version"], "2");
    let w = http
        .post(format!("{base}/secret/data/hello"))
        .header("X-Vault-Token", "devroot")
        .json(&serde_json::json!({"data": {"a": "b"}}))
        .send()
        .unwrap();
    assert_eq!(w.status(), 200);
    child.kill().ok();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Root Token: devroot"), "{stdout}");
    assert!(stdout.contains("Unseal Key: "), "{stdout}");
}

/// The server restarts itself with its allocator settings, keeping any the operator set.
#[test]
fn the_server_runs_with_its_allocator_settings_unless_told_otherwise() {
    const NAMES: [&str; 3] = [
        "MALLOC_ARENA_MAX",
        "MIMALLOC_PURGE_DELAY",
        "MIMALLOC_ARENA_EAGER_COMMIT",
    ];
    for (given, expected) in [(None, ["1", "0", "0"]), (Some("3"), ["3", "0", "0"])] {
        let port = free_port();
        let tmp = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(process::bin());
        cmd.args([
            "server",
            "-dev",
            &format!("-dev-listen-address=127.0.0.1:{port}"),
        ])
        .env("TMPDIR", tmp.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        for name in NAMES {
            cmd.env_remove(name);
        }
        if let Some(v) = given {
            cmd.env("MALLOC_ARENA_MAX", v);
        }
        let mut child = cmd.spawn().unwrap();
        let http = reqwest::blocking::Client::new();
        wait_for("the dev server to answer", Duration::from_secs(60), || {
            http.get(format!("http://127.0.0.1:{port}/v1/sys/health"))
                .send()
                .ok()
        });
        let environ = std::fs::read(format!("/proc/{}/environ", child.id())).unwrap();
        let environ = String::from_utf8_lossy(&environ);
        for (name, value) in NAMES.iter().zip(expected) {
            let set: Vec<&str> = environ
                .split('\0')
                .filter(|v| v.strip_prefix(name).is_some_and(|r| r.starts_with('=')))
                .collect();
            assert_eq!(set, vec![format!("{name}={value}")], "given {given:?}");
        }
        child.kill().ok();
        child.wait().ok();
    }
}
