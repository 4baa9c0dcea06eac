//! Loading directories (merge rules), Vault's JSON form, and unknown-key warnings.
#![allow(clippy::unwrap_used)] // test helpers may unwrap, like the tests themselves

use std::fs;

use tresor_config::{ConfigError, TlsVersion, load, parse_str};

#[test]
fn directory_files_merge_in_name_order() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("10-base.hcl"),
        r#"
ui = false
log_level = "debug"
listener "tcp" {
  address     = "0.0.0.0:8200"
  tls_disable = "true"
}
telemetry {
  disable_hostname = true
}
"#,
    )
    .unwrap();
    fs::write(
        dir.path().join("20-storage.json"),
        r#"{
  "storage": {"raft": {"path": "/data", "retry_join": [
      {"leader_api_addr": "https://a:8200"}, {"leader_api_addr": "https://b:8200"}]}},
  "listener": [{"tcp": {"address": "127.0.0.1:9200", "tls_disable": 1}}],
  "ui": true
}"#,
    )
    .unwrap();
    fs::write(
        dir.path().join("30-seal.hcl"),
        "seal \"transit\" {\n address = \"https://t:8200\"\n}\ntelemetry {\n prometheus_retention_time = \"1m\"\n}\nlog_level = \"warn\"\n",
    )
    .unwrap();
    fs::write(dir.path().join("notes.txt"), "not config").unwrap();

    let c = load(&[dir.path().to_owned()]).unwrap();
    c.validate().unwrap();
    assert_eq!(c.sources.len(), 3);
    assert!(c.sources[0].ends_with("10-base.hcl"));
    assert!(c.sources[2].ends_with("30-seal.hcl"));
    // scalars: later file wins
    assert!(c.ui);
    assert_eq!(c.log_level.as_deref(), Some("warn"));
    assert!(c.origin("log_level").ends_with("30-seal.hcl"));
    assert!(c.origin("ui").ends_with("20-storage.json"));
    // listeners accumulate, in order
    let addrs: Vec<_> = c.listeners.iter().map(|l| l.address.as_str()).collect();
    assert_eq!(addrs, ["0.0.0.0:8200", "127.0.0.1:9200"]);
    assert!(c.listeners.iter().all(|l| l.tls_disable));
    assert!(c.listeners[1].source.ends_with("20-storage.json"));
    // retry_join blocks accumulate
    assert_eq!(c.raft().unwrap().retry_join.len(), 2);
    // telemetry merges key by key
    assert!(c.telemetry.disable_hostname);
    assert_eq!(c.telemetry.prometheus_retention_time, 60);
    assert_eq!(c.seals[0].kind, "transit");
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn files_and_directories_combine_and_second_storage_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.hcl");
    let b = dir.path().join("b.hcl");
    fs::write(&a, "storage \"raft\" { path = \"/a\" }\n").unwrap();
    fs::write(&b, "storage \"raft\" { path = \"/b\" }\n").unwrap();
    let err = load(&[a.clone(), b.clone()]).unwrap_err();
    assert!(err.file().ends_with("b.hcl"), "{err}");
    assert_eq!(err.key(), Some("storage.raft"));
    assert!(err.to_string().contains("only one storage block"), "{err}");
    // Also within one file, and for the legacy `backend` name.
    let err = parse_str(
        "storage \"raft\" { path = \"/a\" }\nbackend \"file\" { path = \"/b\" }\n",
        "one.hcl",
    )
    .unwrap_err();
    assert_eq!(err.key(), Some("backend.file"));
}

#[test]
fn missing_paths_and_empty_directories_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = load(&[dir.path().to_owned()]).unwrap_err();
    assert!(matches!(err, ConfigError::NoFiles { .. }), "{err:?}");
    let err = load(&[dir.path().join("nope.hcl")]).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }), "{err:?}");
    assert!(err.to_string().contains("nope.hcl"));
}

#[test]
fn vault_json_form() {
    let json = r#"{
  "ui": "true",
  "disable_mlock": "1",
  "api_addr": "https://10.0.0.1:8200",
  "default_lease_ttl": "24h",
  "max_lease_ttl": 86400,
  "listener": {"tcp": {"address": "[::]:8200", "tls_cert_file": "/c", "tls_key_file": "/k",
                       "tls_min_version": "tls13", "max_request_size": -1,
                       "telemetry": {"unauthenticated_metrics_access": "true"}}},
  "storage": {"raft": {"path": "/data", "node_id": "n1", "performance_multiplier": "1",
                       "retry_join": {"auto_join": "provider=aws tag_key=k tag_value=v",
                                      "auto_join_port": "8300"}}},
  "seal": [{"awskms": {"region": "eu-north-1", "kms_key_id": "alias/x"}}],
  "telemetry": {"usage_gauge_period": "none"}
}"#;
    let c = parse_str(json, "server.json").unwrap();
    c.validate().unwrap();
    assert!(c.ui);
    assert!(c.disable_mlock);
    assert_eq!(c.default_lease_ttl, 86_400);
    assert_eq!(c.max_lease_ttl, 86_400);
    let l = &c.listeners[0];
    assert_eq!(l.address, "[::]:8200");
    assert_eq!(l.cluster_address, "[::]:8201");
    assert_eq!(l.tls_min_version, TlsVersion::Tls13);
    assert_eq!(l.max_request_size, None, "negative means unlimited");
    assert!(l.telemetry.unauthenticated_metrics_access);
    let raft = c.raft().unwrap();
    assert_eq!(raft.performance_multiplier, 1);
    assert_eq!(raft.retry_join[0].auto_join_port, Some(8300));
    assert_eq!(c.seals[0].param("kms_key_id"), Some("alias/x"));
    assert_eq!(c.telemetry.usage_gauge_period, None);
    // The same text without a .json name is detected by its leading brace.
    let again = parse_str(json, "server.conf").unwrap();
    assert_eq!(again.listeners[0].address, "[::]:8200");
    assert_eq!(again.raft(), c.raft());
}

#[test]
fn unknown_keys_become_warnings_not_errors() {
    let c = parse_str(
        r#"
storage "raft" {
  path = "/d"
  bogus_raft = 1
  retry_join {
    leader_api_addr = "https://x:8200"
    nope = true
  }
}
listener "tcp" {
  tls_disable = true
  foo = "bar"
  telemetry { what = 1 }
  redact_version = true
}
telemetry {
  statsd_address = "127.0.0.1:8125"
  mystery = 2
}
cache_size = 1000
frobnicate = "yes"
"#,
        "config.hcl",
    )
    .unwrap();
    c.validate().unwrap();
    for expected in [
        "config.hcl: unknown key storage.raft.bogus_raft",
        "config.hcl: unknown key storage.raft.retry_join.nope",
        "config.hcl: unknown key listener.tcp.foo",
        "config.hcl: unknown key listener.tcp.telemetry.what",
        "config.hcl: unknown key telemetry.mystery",
        "config.hcl: unknown key frobnicate",
        "config.hcl: listener.tcp.redact_version is a Vault setting that Tresor ignores",
        "config.hcl: telemetry.statsd_address is a Vault setting that Tresor ignores",
        "config.hcl: cache_size is a Vault setting that Tresor ignores",
    ] {
        assert!(
            c.warnings.iter().any(|w| w == expected),
            "missing {expected:?} in {:#?}",
            c.warnings
        );
    }
    assert_eq!(c.warnings.len(), 9, "{:#?}", c.warnings);
}

#[test]
fn quoted_scalars_and_hcl_comment_styles() {
    let c = parse_str(
        r#"
# hash comment
// slash comment
/* block
   comment */
disable_mlock = "1"
ui = "true"
max_lease_ttl = 7200 // integer seconds
default_lease_ttl = "10m"
storage "raft" {
  path = "/d"
  performance_multiplier = "1"
  snapshot_threshold = "100"
}
listener "tcp" {
  tls_disable = "1"
  address = ":8200"
  max_request_duration = "2m"
  max_request_size = 0
}
"#,
        "q.hcl",
    )
    .unwrap();
    c.validate().unwrap();
    assert!(c.disable_mlock && c.ui);
    assert_eq!((c.default_lease_ttl, c.max_lease_ttl), (600, 7200));
    let raft = c.raft().unwrap();
    assert_eq!(
        (raft.performance_multiplier, raft.snapshot_threshold),
        (1, 100)
    );
    let l = &c.listeners[0];
    assert!(l.tls_disable);
    assert_eq!(l.address, "0.0.0.0:8200");
    assert_eq!(l.max_request_duration, 120);
    assert_eq!(l.max_request_size, Some(33_554_432), "0 means the default");
}

#[test]
fn max_lease_ttl_alone_caps_the_default() {
    let c = parse_str("max_lease_ttl = \"1h\"\n", "t.hcl").unwrap();
    assert_eq!((c.default_lease_ttl, c.max_lease_ttl), (3600, 3600));
}

#[test]
fn pem_heredocs_are_kept_and_secrets_redacted_in_debug() {
    let c = parse_str(
        r#"
storage "raft" {
  path = "/d"
  retry_join {
    leader_api_addr   = "https://a:8200"
    leader_ca_cert    = <<PEM
-----BEGIN CERTIFICATE-----
MIIB
-----END CERTIFICATE-----
PEM
    leader_client_key = "-----BEGIN PRIVATE KEY-----\nsecretkeymaterial\n-----END PRIVATE KEY-----\n"
  }
}
seal "pkcs11" {
  lib = "/usr/lib/softhsm.so"
  pin = "1234-secret-pin"
  slot = 0
}
"#,
        "pem.hcl",
    )
    .unwrap();
    let rj = &c.raft().unwrap().retry_join[0];
    assert_eq!(
        rj.leader_ca_cert.as_deref(),
        Some("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    );
    let key = rj.leader_client_key.as_ref().unwrap();
    assert!(key.contains("\nsecretkeymaterial\n"), "escapes resolved");
    assert_eq!(c.seals[0].param("slot"), Some("0"));
    assert_eq!(c.seals[0].param("pin"), Some("1234-secret-pin"));
    let dbg = format!("{c:?}");
    assert!(!dbg.contains("secretkeymaterial"), "{dbg}");
    assert!(!dbg.contains("1234-secret-pin"), "{dbg}");
    assert!(dbg.contains("/usr/lib/softhsm.so"));
}

#[test]
fn standby_reads_are_on_unless_either_switch_turns_them_off() {
    let parse = |extra: &str| {
        parse_str(
            &format!("storage \"raft\" {{ path = \"/d\" }}\n{extra}\n"),
            "s.hcl",
        )
        .unwrap()
    };
    assert!(!parse("").disable_standby_reads);
    assert!(parse("disable_standby_reads = true").disable_standby_reads);
    assert!(parse("disable_performance_standby = \"true\"").disable_standby_reads);
    assert!(!parse("disable_standby_reads = false").disable_standby_reads);
    let c = parse("disable_performance_standby = true");
    assert!(
        c.warnings
            .iter()
            .all(|w| !w.contains("disable_performance_standby")),
        "acted on, not ignored: {:?}",
        c.warnings
    );
    assert!(parse_str("disable_standby_reads = \"maybe\"\n", "bad.hcl").is_err());
}
