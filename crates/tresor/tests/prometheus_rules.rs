//! The shipped `deploy/prometheus/` files against a real Prometheus (Debian's package, installed
//! by `scripts/ci-deps.sh`) scraping a three-node cluster:
//! - `promtool` accepts the alert rules and the scrape config as shipped;
//! - every metric the rules and the Grafana dashboard name is exported by the cluster and
//!   stored by Prometheus (the histograms' `_bucket` series, the leader and last-contact
//!   gauges included);
//! - sealing a node makes `VaultSealed` pending for that node only, and with a new leader
//!   elected `VaultNoLeader` stays inactive (`sum(vault_raft_leader) == 1`).

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use tresor_testkit::cluster::{Cluster, Extra};
use tresor_testkit::process::wait_for;
use tresor_testkit::prometheus::{Prometheus, promtool, tresor_job};

fn deploy(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(file)
}

/// The `vault_*` metric names in `text` (rule expressions, dashboard queries).
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("vault_") {
        let start = i + at;
        let preceded =
            start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        if !preceded {
            out.insert(text[start..end].to_owned());
        }
        i = end;
    }
    out
}

/// The expressions of the rule file (the `expr:` lines).
fn rule_exprs(rules: &str) -> String {
    rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("expr:"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `expr` of every target of the dashboard.
fn dashboard_exprs(dashboard: &Value) -> String {
    let mut out = Vec::new();
    for p in dashboard["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().unwrap() {
            out.push(t["expr"].as_str().unwrap().to_owned());
        }
    }
    out.join("\n")
}

#[test]
fn metric_names_are_read_from_expressions() {
    let names = metric_names(
        "histogram_quantile(0.99, rate(vault_core_handle_request_duration_seconds_bucket[5m])) > 0.5\nsum(vault_raft_leader) == 0 and my_vault_x",
    );
    let want: BTreeSet<String> = [
        "vault_core_handle_request_duration_seconds_bucket",
        "vault_raft_leader",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(names, want);
}

#[test]
fn shipped_rules_and_config_pass_promtool() {
    let rules = deploy("prometheus/vault-alerts.yml");
    let out = promtool(&["check", "rules", rules.to_str().unwrap()]).unwrap();
    assert!(out.contains("SUCCESS: 6 rules found"), "{out}");
    let config = deploy("prometheus/prometheus.yml");
    promtool(&["check", "config", config.to_str().unwrap()]).unwrap();
    let text = std::fs::read_to_string(&rules).unwrap();
    for alert in [
        "VaultSealed",
        "VaultHighLatency",
        "VaultLeaseAccumulation",
        "VaultRaftLeaderLost",
        "VaultAuditDeviceSlow",
        "VaultNoLeader",
    ] {
        assert!(
            text.contains(&format!("alert: {alert}\n")),
            "{alert} missing"
        );
    }
}

/// Metrics of the dashboard that a cluster without auto-unseal does not have.
const ONLY_WITH_AUTO_UNSEAL: &[&str] = &["vault_seal_health"];

#[test]
fn prometheus_scrapes_a_cluster_and_the_seed_alerts_evaluate() {
    let c = Cluster::start_configured(3, Extra::observed());
    let leader = c.wait_leader(None, Duration::from_secs(20));

    // Traffic the latency, audit and Raft metrics observe: an audited KV mount in use.
    let audit_log = c.nodes[leader].dir.path().join("audit.log");
    let r = c.put(
        leader,
        "sys/audit/file",
        json!({"type": "file", "options": {"file_path": audit_log.to_str().unwrap()}}),
    );
    assert_eq!(r.status(), 204, "{}", r.text().unwrap());
    assert_eq!(
        c.post(leader, "sys/mounts/secret", json!({"type": "kv"}))
            .status(),
        204
    );
    for i in 0..20 {
        let node = i % 3;
        assert_eq!(
            c.put(node, &format!("secret/k{i}"), json!({"v": i}))
                .status(),
            204
        );
        assert_eq!(c.get(node, &format!("secret/k{i}")).status(), 200);
    }

    let rules = deploy("prometheus/vault-alerts.yml");
    let targets: Vec<String> = c
        .nodes
        .iter()
        .map(|n| n.addr.trim_start_matches("http://").to_owned())
        .collect();
    let prom = Prometheus::start("1s", &[&rules], &tresor_job(&targets, "1s"));
    wait_for("every node scraped", Duration::from_secs(60), || {
        let t = prom.targets();
        (t.len() == 3 && t.iter().all(|(_, h)| h == "up")).then_some(())
    });

    let rule_text = std::fs::read_to_string(&rules).unwrap();
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(deploy("grafana/tresor-dashboard.json")).unwrap(),
    )
    .unwrap();
    let mut names = metric_names(&rule_exprs(&rule_text));
    assert!(names.len() >= 5, "{names:?}");
    names.extend(metric_names(&dashboard_exprs(&dashboard)));
    let wanted: Vec<&String> = names
        .iter()
        .filter(|n| !ONLY_WITH_AUTO_UNSEAL.contains(&n.as_str()))
        .collect();
    let missing = |prom: &Prometheus| -> Vec<String> {
        wanted
            .iter()
            .filter(|n| prom.query(&format!("count({n})")).is_empty())
            .map(|n| n.to_string())
            .collect()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let m = missing(&prom);
        if m.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not exported after 30 s: {m:?}\nprometheus log: {}",
            prom.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // One leader per scrape round, as VaultNoLeader reads it.
    wait_for(
        "sum(vault_raft_leader) == 1",
        Duration::from_secs(30),
        || {
            let v = prom.query("sum(vault_raft_leader)");
            (v.first()?["value"][1] == "1").then_some(())
        },
    );

    // Seal the active node: its scrape still answers (unauthenticated metrics), with
    // vault_core_unsealed 0, and VaultSealed becomes pending for it alone.
    let sealed = targets[leader].clone();
    assert_eq!(c.put(leader, "sys/seal", json!({})).status(), 204);
    c.wait_leader(Some(leader), Duration::from_secs(30));
    let alert = wait_for("VaultSealed pending", Duration::from_secs(60), || {
        prom.alerts()
            .into_iter()
            .find(|a| a["labels"]["alertname"] == "VaultSealed")
    });
    assert_eq!(alert["state"], "pending", "{alert}");
    assert_eq!(alert["labels"]["instance"], sealed.as_str(), "{alert}");
    assert_eq!(alert["labels"]["severity"], "critical");
    let sealed_alerts: Vec<Value> = prom
        .alerts()
        .into_iter()
        .filter(|a| a["labels"]["alertname"] == "VaultSealed")
        .collect();
    assert_eq!(sealed_alerts.len(), 1, "{sealed_alerts:?}");
    // A new leader took over: the no-leader rule, which may have gone pending during the
    // election, clears without ever firing.
    wait_for(
        "a new leader in the scrapes",
        Duration::from_secs(30),
        || {
            let v = prom.query("sum(vault_raft_leader)");
            (v.first()?["value"][1] == "1").then_some(())
        },
    );
    wait_for("VaultNoLeader to clear", Duration::from_secs(30), || {
        let alerts = prom.alerts();
        assert!(
            !alerts
                .iter()
                .any(|a| a["labels"]["alertname"] == "VaultNoLeader" && a["state"] == "firing"),
            "{alerts:?}"
        );
        (!alerts
            .iter()
            .any(|a| a["labels"]["alertname"] == "VaultNoLeader"))
        .then_some(())
    });
}
