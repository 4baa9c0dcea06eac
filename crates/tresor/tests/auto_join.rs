//! Cloud auto-join end to end with the real binary: `retry_join { auto_join = "provider=aws …" }`
//! finds the leader by EC2 tag, and the node joins, unseals itself through KMS and serves.
//!
//! moto_server plays both EC2 and KMS. Its instances are launched with the loopback
//! addresses the nodes listen on (127.0.0.11 and 127.0.0.12, one API port for both, as
//! `auto_join_port` is one port for every instance), so the discovered addresses are
//! reachable from the test. The API listeners use TLS with a certificate whose IP SANs are
//! those addresses; the joining node trusts it through `leader_ca_cert_file` and reaches
//! discovered peers with the default `auto_join_scheme` (https). Its EC2 credentials come
//! from the AWS default chain (environment variables), its endpoint from the query.

#![allow(clippy::unwrap_used)]

use tresor_testkit::process;

use std::time::Duration;

use serde_json::{Value, json};

use tresor_testkit::moto::{Moto, stanza};
use tresor_testkit::seal_node;
use tresor_testkit::seal_node::{ListenerTls, SealNode};

const WAIT: Duration = Duration::from_secs(30);
/// Joining waits for discovery (re-run at most every 10 s) and autopilot's promotion.
const JOIN_WAIT: Duration = Duration::from_secs(90);
const TAG_KEY: &str = "tresor-cluster";
const LEADER_IP: &str = "127.0.0.11";
const JOINER_IP: &str = "127.0.0.12";
/// Tagged with another value: discovery must not return it.
const OTHER_IP: &str = "127.0.0.13";
/// Tagged like the cluster but stopped: discovery must not return it either.
const STOPPED_IP: &str = "127.0.0.14";

/// The Raft configuration's servers as (node_id, address, voter).
fn servers(node: &SealNode, token: &str) -> Option<Vec<(String, String, bool)>> {
    let r = node.send("GET", "sys/storage/raft/configuration", Some(token), None);
    if r.status() != 200 {
        return None;
    }
    let v: Value = r.json().ok()?;
    let list = v["data"]["config"]["servers"].as_array()?;
    Some(
        list.iter()
            .map(|s| {
                (
                    s["node_id"].as_str().unwrap_or_default().to_owned(),
                    s["address"].as_str().unwrap_or_default().to_owned(),
                    s["voter"] == true,
                )
            })
            .collect(),
    )
}

/// The `auto_join` retry_join attributes: tag query against moto's EC2, this port for every
/// discovered instance, the listeners' certificate as the leader CA. No scheme (https is the
/// default), no credentials in the query (the default chain finds them in the environment).
fn auto_join(moto: &Moto, tag_value: &str, port: u16, ca: &std::path::Path) -> String {
    format!(
        "auto_join = \"provider=aws region=us-east-1 tag_key={TAG_KEY} tag_value={tag_value} \
         endpoint={endpoint}\"\n    auto_join_port = {port}\n    \
         leader_ca_cert_file = \"{ca}\"",
        endpoint = moto.endpoint(),
        ca = ca.display()
    )
}

/// Environment for the AWS default credential chain: static keys only (empty profile files
/// in `dir`, no instance metadata), whatever the test runner's own environment holds.
fn aws_env(dir: &std::path::Path) -> Vec<(String, String)> {
    let (config, credentials) = (dir.join("aws-config"), dir.join("aws-credentials"));
    std::fs::write(&config, "").unwrap();
    std::fs::write(&credentials, "").unwrap();
    [
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_SESSION_TOKEN", ""),
        ("AWS_PROFILE", "default"),
        ("AWS_CONFIG_FILE", &config.display().to_string()),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            &credentials.display().to_string(),
        ),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        // The endpoint comes from the query; an inherited override must not win.
        ("AWS_ENDPOINT_URL_EC2", ""),
        ("AWS_EC2_ENDPOINT", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

#[test]
fn a_node_discovers_its_leader_by_ec2_tag_joins_and_unseals_through_kms() {
    let moto = Moto::start();
    let key = moto.create_key();
    let seal = stanza(&moto.endpoint(), &key, false);
    let tag = "auto-join-e2e";
    for ip in [LEADER_IP, JOINER_IP] {
        moto.run_instance(ip, TAG_KEY, tag);
    }
    moto.run_instance(OTHER_IP, TAG_KEY, "another-cluster");
    let stopped = moto.run_instance(STOPPED_IP, TAG_KEY, tag);
    moto.stop_instance(&stopped);

    let certs = tempfile::tempdir().unwrap();
    let tls = ListenerTls::self_signed(certs.path(), &[LEADER_IP, JOINER_IP]);
    let port = seal_node::free_port_on(&[LEADER_IP, JOINER_IP]);
    let mut leader = SealNode::at("node-a", LEADER_IP, port, Some(tls.clone()));
    let mut joiner = SealNode::at("node-b", JOINER_IP, port, Some(tls.clone()));
    assert_eq!(joiner.addr, format!("https://{JOINER_IP}:{port}"));

    // Both instances boot together; the leader is not initialized yet.
    leader.configure(&seal, None);
    leader.spawn();
    joiner.env = aws_env(certs.path());
    joiner.configure_join(&seal, &auto_join(&moto, tag, port, tls.ca_file()));
    joiner.spawn();

    // The joiner discovers the leader and keeps asking it for a challenge, which an
    // uninitialized leader cannot give.
    let leader_url = format!("https://{LEADER_IP}:{port}");
    process::wait_for("a join attempt at the discovered leader", WAIT, || {
        plain(&joiner.log())
            .lines()
            .any(|l| l.contains("join attempt failed") && l.contains(&leader_url))
            .then_some(())
    });
    let st = joiner.seal_status();
    assert_eq!(
        (st["initialized"].clone(), st["sealed"].clone()),
        (json!(false), json!(true)),
        "{st}"
    );

    // The leader is initialized (recovery keys, awskms seal): the joiner gets its challenge,
    // unseals through KMS by itself and joins.
    let (_recovery, token) = leader.init_recovery();
    leader.wait_health(200, WAIT);
    joiner.wait_unsealed(JOIN_WAIT);
    let st = joiner.seal_status();
    assert_eq!(
        (
            st["type"].clone(),
            st["initialized"].clone(),
            st["sealed"].clone()
        ),
        (json!("awskms"), json!(true), json!(false)),
        "{st}"
    );
    let joined = process::wait_for("node-b as a voter", JOIN_WAIT, || {
        servers(&leader, &token).filter(|s| s.len() == 2 && s.iter().all(|(_, _, voter)| *voter))
    });
    let b = joined
        .iter()
        .find(|(id, _, _)| id == "node-b")
        .unwrap_or_else(|| panic!("node-b missing from {joined:?}"));
    assert_eq!(b.1, format!("{JOINER_IP}:{}", joiner.cluster_port));
    assert!(joined.iter().any(|(id, _, _)| id == "node-a"), "{joined:?}");
    // The joiner sees the same configuration.
    assert_eq!(
        servers(&joiner, &token).map(|mut s| {
            s.sort();
            s
        }),
        Some({
            let mut s = joined.clone();
            s.sort();
            s
        })
    );

    // A write on the leader reads back through the joiner.
    leader.write_marker(&token, "auto-joined");
    process::wait_for("the marker through node-b", WAIT, || {
        joiner.has_marker(&token, "auto-joined").then_some(())
    });

    // Every discovery found one peer to try: the leader (the joiner's own instance is
    // skipped; the other cluster's and the stopped instance are not returned).
    let log = plain(&joiner.log());
    let runs: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("auto_join discovery ran"))
        .collect();
    assert!(!runs.is_empty(), "{}", seal_node::tail(&log, 40));
    assert!(
        runs.iter().all(|l| l.trim_end().ends_with("found=1")),
        "{runs:#?}"
    );
    assert!(
        log.contains("join challenge received"),
        "{}",
        seal_node::tail(&log, 40)
    );
    let attempts: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("join attempt failed"))
        .collect();
    assert!(
        attempts
            .iter()
            .all(|l| l.contains(&format!("leader={leader_url} "))),
        "node-b tried someone other than the leader: {attempts:#?}"
    );
}

/// `log` without ANSI colour sequences.
fn plain(log: &str) -> String {
    let mut out = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ parameters final-letter
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
