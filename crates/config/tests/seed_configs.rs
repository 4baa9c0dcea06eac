//! Every server config from the seed documents, read in place from `shared/reference`.
#![allow(clippy::unwrap_used)] // test helpers may unwrap, like the tests themselves

use std::path::PathBuf;

use tresor_config::{ConfigError, StorageConfig, TlsVersion, load, parse_str};

fn seed(name: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/reference/seed-configs/"
    ))
    .join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(seed(name)).unwrap()
}

#[test]
fn seed000_raft_awskms_auto_join() {
    let c = load(&[seed("seed000-vault.hcl")]).unwrap();
    c.validate().unwrap();
    assert!(c.ui);
    assert!(!c.disable_mlock);
    assert_eq!(c.listeners.len(), 1);
    let l = &c.listeners[0];
    assert_eq!(l.address, "0.0.0.0:8200");
    assert_eq!(l.cluster_address, "0.0.0.0:8201");
    assert_eq!(l.tls_min_version, TlsVersion::Tls13);
    assert_eq!(l.tls_cert_file.as_deref(), Some("/opt/vault/tls/vault.crt"));
    assert!(l.source.ends_with("seed000-vault.hcl"));
    let raft = c.raft().unwrap();
    assert_eq!(raft.path, "/opt/vault/data");
    assert_eq!(raft.node_id.as_deref(), Some("vault-1"));
    assert_eq!(raft.retry_join.len(), 1);
    let rj = &raft.retry_join[0];
    assert_eq!(
        rj.auto_join.as_deref(),
        Some("provider=aws region=eu-north-1 tag_key=vault-cluster tag_value=production")
    );
    assert_eq!(rj.auto_join_scheme.as_deref(), Some("https"));
    assert_eq!(rj.leader_tls_servername.as_deref(), Some("vault.internal"));
    assert_eq!(
        rj.leader_ca_cert_file.as_deref(),
        Some("/opt/vault/tls/ca.crt")
    );
    assert_eq!(c.seals.len(), 1);
    assert_eq!(c.seals[0].kind, "awskms");
    assert_eq!(c.seals[0].param("region"), Some("eu-north-1"));
    assert_eq!(c.seals[0].param("kms_key_id"), Some("alias/vault-unseal"));
    assert_eq!(c.api_addr.as_deref(), Some("https://10.0.1.10:8200"));
    assert_eq!(c.cluster_addr.as_deref(), Some("https://10.0.1.10:8201"));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn seed002_node1_full() {
    let c = load(&[seed("seed002-vault-node1.hcl")]).unwrap();
    c.validate().unwrap();
    let raft = c.raft().unwrap();
    assert_eq!(raft.performance_multiplier, 1);
    assert_eq!(raft.autopilot_reconcile_interval, Some(10));
    assert_eq!(raft.snapshot_threshold, 8192);
    assert_eq!(raft.trailing_logs, 10_000);
    let leaders: Vec<_> = raft
        .retry_join
        .iter()
        .map(|r| r.leader_api_addr.as_deref().unwrap())
        .collect();
    assert_eq!(
        leaders,
        [
            "https://vault-2.internal:8200",
            "https://vault-3.internal:8200"
        ]
    );
    assert_eq!(
        raft.retry_join[1].leader_client_key_file.as_deref(),
        Some("/opt/vault/tls/vault.key")
    );
    let l = &c.listeners[0];
    assert_eq!(l.max_request_size, Some(33_554_432));
    assert_eq!(l.max_request_duration, 90);
    assert!(l.telemetry.unauthenticated_metrics_access);
    assert!(!l.tls_require_and_verify_client_cert);
    assert_eq!(
        l.tls_client_ca_file.as_deref(),
        Some("/opt/vault/tls/ca.crt")
    );
    assert_eq!(c.cluster_name.as_deref(), Some("vault-prod"));
    assert_eq!(c.log_level.as_deref(), Some("info"));
    assert_eq!(c.log_file.as_deref(), Some("/var/log/vault/vault.log"));
    assert_eq!(c.log_rotate_duration, Some(86_400));
    assert_eq!(c.log_rotate_max_files, Some(30));
    assert_eq!(c.telemetry.prometheus_retention_time, 30);
    assert!(c.telemetry.disable_hostname);
    assert_eq!(c.telemetry.usage_gauge_period, Some(600));
    assert_eq!(c.telemetry.maximum_gauge_cardinality, 500);
    assert_eq!(c.default_lease_ttl, 3600);
    assert_eq!(c.max_lease_ttl, 768 * 3600);
    assert!(!c.disable_mlock);
    assert!(c.seals.is_empty());
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn seed003_config() {
    let c = load(&[seed("seed003-config.hcl")]).unwrap();
    c.validate().unwrap();
    let l = &c.listeners[0];
    assert_eq!(l.cluster_address, "0.0.0.0:8201", "derived from address");
    assert_eq!(l.tls_min_version, TlsVersion::Tls12, "Vault's default");
    assert_eq!(c.raft().unwrap().node_id.as_deref(), Some("vault1"));
    assert_eq!(c.raft().unwrap().retry_join.len(), 2);
    assert!(c.disable_mlock);
    assert_eq!(c.default_lease_ttl, 2_764_800);
    assert_eq!(c.max_lease_ttl, 2_764_800);
}

#[test]
fn seed004_consul_is_refused_with_file_key_reason() {
    let c = load(&[seed("seed004-consul-awskms.hcl")]).unwrap();
    assert_eq!(
        c.storage,
        Some(StorageConfig::Other {
            kind: "consul".into()
        })
    );
    assert!(c.listeners[0].tls_disable, "tls_disable = 1");
    let err = c.validate().unwrap_err();
    assert!(matches!(err, ConfigError::Unsupported { .. }), "{err:?}");
    assert!(err.file().ends_with("seed004-consul-awskms.hcl"));
    assert_eq!(err.key(), Some("storage.consul"));
    let msg = err.to_string();
    assert!(
        msg.ends_with(
            "seed004-consul-awskms.hcl: storage.consul: storage type \"consul\" is not \
             supported; Tresor uses integrated Raft storage (storage \"raft\")"
        ),
        "{msg}"
    );
}

#[test]
fn seed002_listener_fragment() {
    let c = parse_str(&read("seed002-listener-hardened.hcl"), "listener.hcl").unwrap();
    let l = &c.listeners[0];
    assert_eq!(
        l.tls_cert_file.as_deref(),
        Some("/opt/vault/tls/vault-full-chain.crt")
    );
    assert_eq!(l.tls_min_version, TlsVersion::Tls13);
    assert!(l.tls_cipher_suites.is_empty(), "commented out");
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    // A fragment is not a server config: validation asks for storage.
    let err = c.validate().unwrap_err();
    assert_eq!(err.key(), Some("storage"));
}

#[test]
fn seed002_supported_seal_fragments() {
    let c = parse_str(&read("seed002-seal-awskms.hcl"), "awskms.hcl").unwrap();
    assert_eq!(c.seals[0].kind, "awskms");
    assert_eq!(
        c.seals[0].param("kms_key_id"),
        Some("arn:aws:kms:us-east-1:123456789012:key/abcd-1234-efgh-5678")
    );
    assert!(c.seals[0].param("endpoint").is_none(), "commented out");

    let c = parse_str(&read("seed002-seal-transit.hcl"), "transit.hcl").unwrap();
    let s = &c.seals[0];
    assert_eq!(s.kind, "transit");
    assert_eq!(
        s.param("address"),
        Some("https://hcp-vault.example.com:8200")
    );
    assert_eq!(s.param("token"), Some("hvs.transit-unseal-token"));
    assert_eq!(s.param("disable_renewal"), Some("false"));
    assert_eq!(s.param("mount_path"), Some("transit/"));
    let dbg = format!("{s:?}");
    assert!(
        !dbg.contains("hvs.transit-unseal-token"),
        "token leaked in Debug: {dbg}"
    );
    assert!(dbg.contains("transit/"));

    // Fragments lack storage; with it they validate.
    let mut full = read("seed002-seal-transit.hcl");
    full.push_str(
        "\nstorage \"raft\" { path = \"/d\" }\nlistener \"tcp\" { tls_disable = true }\n",
    );
    parse_str(&full, "transit+raft.hcl")
        .unwrap()
        .validate()
        .unwrap();
    assert_eq!(
        parse_str(&read("seed002-seal-awskms.hcl"), "awskms.hcl")
            .unwrap()
            .validate()
            .unwrap_err()
            .key(),
        Some("storage")
    );
}

#[test]
fn seed001_template_placeholders_parse_literally_with_warning() {
    let c = load(&[seed("seed001-seal-awskms-template.hcl")]).unwrap();
    let s = &c.seals[0];
    assert_eq!(s.param("region"), Some("${aws_region}"));
    assert_eq!(s.param("kms_key_id"), Some("${kms_key}"));
    assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
    assert!(
        c.warnings[0].contains("seal.awskms.region"),
        "{:?}",
        c.warnings
    );
    assert!(c.warnings[0].contains("unrendered template"));
}

#[test]
fn unsupported_seals_are_refused_clearly() {
    for (file, kind) in [
        ("seed002-seal-gcpckms.hcl", "gcpckms"),
        ("seed002-seal-azurekeyvault.hcl", "azurekeyvault"),
    ] {
        let mut text = read(file);
        text.push_str("\nstorage \"raft\" { path = \"/d\" }\n");
        let c = parse_str(&text, file).unwrap();
        assert_eq!(c.seals[0].kind, kind);
        let err = c.validate().unwrap_err();
        assert_eq!(err.key(), Some(format!("seal.{kind}").as_str()));
        assert_eq!(
            err.to_string(),
            format!(
                "{file}: seal.{kind}: seal type \"{kind}\" is not supported (supported: \
                 awskms, transit, pkcs11)"
            )
        );
    }
}
