//! Values Tresor refuses, each named by file and dotted key.
#![allow(clippy::unwrap_used)] // test helpers may unwrap, like the tests themselves

use std::path::Path;

use tresor_config::{ConfigError, dev_config, parse_str};

/// Storage and a valid plain-HTTP listener: what every case below adds its setting to.
const BASE: &str = "storage \"raft\" { path = \"/d\" }\nlistener \"tcp\" { tls_disable = true }\n";

/// Parses `BASE` + `extra` and returns the error of parsing or validating it.
fn refuse(extra: &str) -> ConfigError {
    let text = format!("{BASE}{extra}");
    match parse_str(&text, "config.hcl") {
        Err(e) => e,
        Ok(c) => c.validate().expect_err("configuration should be refused"),
    }
}

fn tcp(body: &str) -> String {
    format!("listener \"tcp\" {{\n{body}\n}}\n")
}

#[test]
fn tls_versions() {
    let err = refuse(&tcp("tls_disable = true\ntls_min_version = \"tls10\""));
    assert!(matches!(err, ConfigError::Unsupported { .. }), "{err:?}");
    assert_eq!(err.key(), Some("listener.tcp.tls_min_version"));
    assert!(err.to_string().contains("tls12, tls13"), "{err}");
    let err = refuse(&tcp("tls_disable = true\ntls_min_version = \"tls11\""));
    assert_eq!(err.key(), Some("listener.tcp.tls_min_version"));
    let err = refuse(&tcp("tls_disable = true\ntls_min_version = \"ssl3\""));
    assert!(matches!(err, ConfigError::Invalid { .. }), "{err:?}");
    assert_eq!(err.key(), Some("listener.tcp.tls_min_version"));
    let err = refuse(&tcp(
        "tls_disable = true\ntls_min_version = \"tls13\"\ntls_max_version = \"tls12\"",
    ));
    assert_eq!(err.key(), Some("listener.tcp.tls_max_version"));
    for ok in ["tls12", "tls13"] {
        parse_str(
            &format!(
                "{BASE}{}",
                tcp(&format!("tls_disable = 1\ntls_min_version = \"{ok}\""))
            ),
            "c.hcl",
        )
        .unwrap()
        .validate()
        .unwrap();
    }
}

#[test]
fn tls_enabled_needs_cert_and_key() {
    let err = refuse(&tcp("address = \"0.0.0.0:8200\""));
    assert_eq!(err.key(), Some("listener.tcp.tls_cert_file"));
    assert!(err.to_string().contains("tls_disable = true"), "{err}");
    let err = refuse(&tcp("tls_cert_file = \"/c\""));
    assert_eq!(err.key(), Some("listener.tcp.tls_key_file"));
    let err = refuse(&tcp(
        "tls_cert_file = \"/c\"\ntls_key_file = \"/k\"\ntls_require_and_verify_client_cert = true\ntls_disable_client_certs = true",
    ));
    assert_eq!(err.key(), Some("listener.tcp.tls_disable_client_certs"));
}

#[test]
fn malformed_durations_name_the_key() {
    let err = refuse("default_lease_ttl = \"ten days\"\n");
    assert!(matches!(err, ConfigError::Invalid { .. }), "{err:?}");
    assert_eq!(err.key(), Some("default_lease_ttl"));
    assert_eq!(err.file(), "config.hcl");
    assert!(
        err.to_string()
            .starts_with("config.hcl: default_lease_ttl: "),
        "{err}"
    );
    let err = refuse(&tcp(
        "tls_disable = true\nmax_request_duration = \"5 parsecs\"",
    ));
    assert_eq!(err.key(), Some("listener.tcp.max_request_duration"));
    let err = parse_str(
        "storage \"raft\" {\n path = \"/d\"\n autopilot_reconcile_interval = \"soon\"\n}\n",
        "r.hcl",
    )
    .unwrap_err();
    assert_eq!(err.key(), Some("storage.raft.autopilot_reconcile_interval"));
    let err = refuse("telemetry { prometheus_retention_time = true }\n");
    assert_eq!(err.key(), Some("telemetry.prometheus_retention_time"));
}

#[test]
fn bad_scalars_name_the_key() {
    assert_eq!(refuse("ui = \"maybe\"\n").key(), Some("ui"));
    assert_eq!(
        refuse(&tcp("tls_disable = \"yes please\"")).key(),
        Some("listener.tcp.tls_disable")
    );
    assert_eq!(refuse("log_level = \"loud\"\n").key(), Some("log_level"));
    assert_eq!(refuse("log_format = \"xml\"\n").key(), Some("log_format"));
    let err = refuse("default_lease_ttl = \"2h\"\nmax_lease_ttl = \"1h\"\n");
    assert_eq!(err.key(), Some("default_lease_ttl"));
}

#[test]
fn malformed_addresses() {
    let cases = [
        (
            tcp("tls_disable = true\naddress = \"0.0.0.0\""),
            "listener.tcp.address",
        ),
        (
            tcp("tls_disable = true\naddress = \"0.0.0.0:99999\""),
            "listener.tcp.address",
        ),
        (
            tcp("tls_disable = true\ncluster_address = \"host:port\""),
            "listener.tcp.cluster_address",
        ),
        (
            format!(
                "{}api_addr = \"10.0.0.1:8200\"\n",
                tcp("tls_disable = true")
            ),
            "api_addr",
        ),
        (
            format!(
                "{}cluster_addr = \"https://{{{{ GetPrivateIP }}}}:8201\"\n",
                tcp("tls_disable = true")
            ),
            "cluster_addr",
        ),
    ];
    for (text, key) in cases {
        let err = refuse(&text);
        assert_eq!(err.key(), Some(key), "{text}: {err}");
    }
}

#[test]
fn unsupported_storage_listener_and_ha() {
    let err = parse_str("storage \"file\" { path = \"/x\" }\n", "f.hcl")
        .unwrap()
        .validate()
        .unwrap_err();
    assert_eq!(err.key(), Some("storage.file"));
    let err = refuse("ha_storage \"consul\" { address = \"x\" }\n");
    assert_eq!(err.key(), Some("ha_storage.consul"));
    let err = refuse("listener \"unix\" { address = \"/run/vault.sock\" }\n");
    assert_eq!(err.key(), Some("listener.unix"));
    assert!(err.to_string().contains("supported: tcp"), "{err}");
    let err = parse_str("ui = true\n", "empty.hcl")
        .unwrap()
        .validate()
        .unwrap_err();
    assert_eq!(err.key(), Some("storage"));
    assert_eq!(err.file(), "empty.hcl");
    let err = parse_str("storage \"raft\" { path = \"/d\" }\n", "nolistener.hcl")
        .unwrap()
        .validate()
        .unwrap_err();
    assert_eq!(err.key(), Some("listener"));
}

#[test]
fn raft_and_retry_join_rules() {
    let l = tcp("tls_disable = true");
    let cases = [
        (
            "storage \"raft\" { node_id = \"a\" }\n",
            "storage.raft.path",
        ),
        (
            "storage \"raft\" {\n path = \"/d\"\n performance_multiplier = 11\n}\n",
            "storage.raft.performance_multiplier",
        ),
        (
            "storage \"raft\" {\n path = \"/d\"\n retry_join { leader_tls_servername = \"x\" }\n}\n",
            "storage.raft.retry_join",
        ),
        (
            "storage \"raft\" {\n path = \"/d\"\n retry_join {\n leader_api_addr = \"https://a:8200\"\n auto_join = \"provider=aws\"\n }\n}\n",
            "storage.raft.retry_join",
        ),
        (
            "storage \"raft\" {\n path = \"/d\"\n retry_join { leader_api_addr = \"vault-2:8200\" }\n}\n",
            "storage.raft.retry_join.leader_api_addr",
        ),
        (
            "storage \"raft\" {\n path = \"/d\"\n retry_join {\n auto_join = \"provider=aws\"\n auto_join_scheme = \"ftp\"\n }\n}\n",
            "storage.raft.retry_join.auto_join_scheme",
        ),
    ];
    for (storage, key) in cases {
        let err = parse_str(&format!("{storage}{l}"), "r.hcl")
            .and_then(|c| c.validate())
            .unwrap_err();
        assert_eq!(err.key(), Some(key), "{storage}: {err}");
    }
}

#[test]
fn seal_rules() {
    let l = tcp("tls_disable = true");
    // migration: one disabled, one enabled
    let ok = format!(
        "{BASE}{l}seal \"awskms\" {{\n disabled = \"true\"\n kms_key_id = \"k\"\n}}\nseal \"transit\" {{\n address = \"https://t:8200\"\n priority = 1\n name = \"t\"\n}}\n"
    );
    let c = parse_str(&ok, "s.hcl").unwrap();
    c.validate().unwrap();
    assert!(c.seals[0].disabled);
    assert!(!c.seals[0].params.contains_key("disabled"));
    assert_eq!(c.seals[1].priority, Some(1));
    assert_eq!(c.seals[1].name.as_deref(), Some("t"));
    // Seal HA: several enabled auto seals are a seal set.
    let two = format!("{BASE}{l}seal \"awskms\" {{}}\nseal \"transit\" {{}}\n");
    parse_str(&two, "s.hcl").unwrap().validate().unwrap();
    let with_shamir = format!("{BASE}{l}seal \"awskms\" {{}}\nseal \"shamir\" {{}}\n");
    let err = parse_str(&with_shamir, "s.hcl")
        .unwrap()
        .validate()
        .unwrap_err();
    assert_eq!(err.key(), Some("seal.shamir"));
    let shamir = format!("{BASE}{l}seal \"shamir\" {{}}\n");
    parse_str(&shamir, "s.hcl").unwrap().validate().unwrap();
}

#[test]
fn parse_errors_carry_location() {
    let err = parse_str(
        "ui = true\nlistener \"tcp\" {\n  address = \n",
        "broken.hcl",
    )
    .unwrap_err();
    match &err {
        ConfigError::Parse { file, line, .. } => {
            assert_eq!(file, "broken.hcl");
            assert!(*line >= 3, "{err}");
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().starts_with("broken.hcl:"), "{err}");
}

#[test]
fn dev_config_defaults_validate() {
    let c = dev_config("127.0.0.1:8200", Path::new("/tmp/tresor-dev"));
    c.validate().unwrap();
    assert!(c.dev);
    assert!(c.listeners[0].tls_disable);
    assert_eq!(c.listeners[0].cluster_address, "127.0.0.1:8201");
    assert_eq!(c.raft().unwrap().path, "/tmp/tresor-dev");
    assert_eq!(c.api_addr.as_deref(), Some("http://127.0.0.1:8200"));
    assert_eq!(c.default_lease_ttl, 2_764_800);
    // Dev mode with storage removed is still runnable (in-memory is the server's choice).
    let mut no_storage = c.clone();
    no_storage.storage = None;
    no_storage.validate().unwrap();
    no_storage.dev = false;
    assert_eq!(no_storage.validate().unwrap_err().key(), Some("storage"));
}
