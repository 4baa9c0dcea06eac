//! `sys/metrics` of a real `tresor server` with the awskms seal (moto_server behind a
//! [`FaultProxy`]; stopping the proxy is the KMS outage). The node has two API listeners: the
//! harness's one (a token with `read` on `sys/metrics` is needed) and a second one with
//! `telemetry { unauthenticated_metrics_access = true }`, which Prometheus scrapes even while
//! the node is stuck sealed.
//!
//! The scrape shows `vault_core_unsealed 1` with healthy seal gauges; a restart during a KMS
//! outage leaves the node sealed with `vault_core_unsealed 0`, the seal health gauge at 0 and
//! the auto-unseal failure counter growing; once KMS answers again the gauges are back at 1.

#![allow(clippy::unwrap_used)]

use tresor_testkit::process;

use std::time::Duration;

use serde_json::{Value, json};

use tresor_testkit::fault_proxy::FaultProxy;
use tresor_testkit::moto::{Moto, stanza};
use tresor_testkit::seal_node;
use tresor_testkit::seal_node::SealNode;

const WAIT: Duration = Duration::from_secs(45);

const UNSEALED: &str = "vault_core_unsealed";
const ACTIVE: &str = "vault_core_active";
const HEALTH: &str = "vault_seal_health{seal_name=\"awskms-1\",seal_type=\"awskms\"}";
const FAILURES: &str = "vault_seal_auto_unseal_failure{seal_type=\"awskms\"}";
const ENCRYPT: &str = "vault_seal_encrypt{seal_wrapper_name=\"awskms-1\"}";

/// The value of the sample line `series` (`name` or `name{labels}`) of a Prometheus text.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// The extra config of the node: the awskms stanza, host names left out of metric names (as
/// Vault users configure for Prometheus), and an unauthenticated metrics listener on `port`.
fn extra_config(seal: &str, port: u16, cluster_port: u16) -> String {
    format!(
        "{seal}\ntelemetry {{\n  disable_hostname = true\n}}\n\
         listener \"tcp\" {{\n  address         = \"127.0.0.1:{port}\"\n  \
         cluster_address = \"127.0.0.1:{cluster_port}\"\n  tls_disable     = true\n  \
         telemetry {{\n    unauthenticated_metrics_access = true\n  }}\n}}\n"
    )
}

/// A Prometheus scrape of the unauthenticated listener.
struct Scraper {
    url: String,
    http: reqwest::blocking::Client,
}

impl Scraper {
    fn new(port: u16) -> Scraper {
        Scraper {
            url: format!("http://127.0.0.1:{port}/v1/sys/metrics?format=prometheus"),
            http: seal_node::client(Duration::from_secs(10)),
        }
    }

    /// The scrape text, `None` while the node does not answer 200.
    fn scrape(&self) -> Option<String> {
        let r = self.http.get(&self.url).send().ok()?;
        (r.status() == 200).then(|| r.text().ok()).flatten()
    }

    /// Polls until every `(series, predicate)` holds on one scrape; returns that scrape.
    fn wait(&self, node: &SealNode, what: &str, want: &[(&str, &dyn Fn(f64) -> bool)]) -> String {
        let mut last = String::new();
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if let Some(text) = self.scrape() {
                if want
                    .iter()
                    .all(|(series, ok)| sample(&text, series).is_some_and(ok))
                {
                    return text;
                }
                last = text;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}; last scrape:\n{last}\nlog:\n{}",
                seal_node::tail(&node.log(), 40)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn one(v: f64) -> bool {
    v == 1.0
}

fn zero(v: f64) -> bool {
    v == 0.0
}

#[test]
fn metrics_follow_a_kms_outage_and_need_a_token_unless_unauthenticated() {
    let moto = Moto::start();
    let key = moto.create_key();
    let mut kms = FaultProxy::start(moto.addr());
    let mut node = SealNode::new("metrics", None);
    let (metrics_port, metrics_cluster_port) = (process::free_port(), process::free_port());
    node.configure(
        &extra_config(
            &stanza(&kms.endpoint(), &key, false),
            metrics_port,
            metrics_cluster_port,
        ),
        None,
    );
    node.spawn();
    let prom = Scraper::new(metrics_port);

    // Not initialized yet: sealed, and the scrape says so without a token.
    prom.wait(
        &node,
        "a sealed, uninitialized node",
        &[(UNSEALED, &zero), (ACTIVE, &zero)],
    );

    let (_recovery, token) = node.init_recovery();
    node.wait_health(200, WAIT);
    let text = prom.wait(
        &node,
        "unsealed and a passed seal health check",
        &[
            (UNSEALED, &one),
            (ACTIVE, &one),
            (HEALTH, &one),
            (FAILURES, &zero),
        ],
    );
    assert!(
        text.contains("# TYPE vault_core_unsealed gauge\n"),
        "{text}"
    );
    assert!(
        sample(&text, ENCRYPT).is_some_and(|n| n >= 1.0),
        "init wraps through the seal: {text}"
    );

    // The harness's listener wants a token with read on sys/metrics (Vault's error shape).
    let r = node.send("GET", "sys/metrics", None, None);
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.json::<Value>().unwrap(),
        json!({"errors": ["permission denied"]})
    );
    let r = node.send("GET", "sys/metrics", Some(&token), None);
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers().get("content-type").unwrap().to_str().unwrap(),
        "application/json"
    );
    let doc: Value = r.json().unwrap();
    let unsealed = doc["Gauges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["Name"] == "vault.core.unsealed")
        .cloned();
    assert_eq!(
        unsealed.map(|g| g["Value"].clone()),
        Some(json!(1.0)),
        "{doc}"
    );
    assert!(
        doc["Counters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["Name"] == "vault.seal.encrypt")
    );

    // KMS outage: restarted now, the node stays sealed, and the scrape (while sealed) shows it.
    kms.stop();
    node.kill9();
    node.spawn();
    let text = prom.wait(
        &node,
        "sealed with a failed seal and failed attempts",
        &[
            (UNSEALED, &zero),
            (ACTIVE, &zero),
            (HEALTH, &zero),
            (FAILURES, &|n| n >= 1.0),
        ],
    );
    assert_eq!(node.health(), Some(503));
    let failed = sample(&text, FAILURES).unwrap();
    prom.wait(
        &node,
        "the failure counter to grow",
        &[(FAILURES, &|n| n > failed), (UNSEALED, &zero)],
    );
    // The token-checked listener cannot serve metrics while sealed.
    assert_eq!(
        node.send("GET", "sys/metrics", Some(&token), None).status(),
        503
    );

    // KMS back: unsealed by itself, gauges back at 1.
    kms.resume();
    prom.wait(
        &node,
        "unsealed again with a healthy seal",
        &[(UNSEALED, &one), (ACTIVE, &one), (HEALTH, &one)],
    );
    node.wait_health(200, WAIT);
}
