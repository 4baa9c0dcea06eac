//! End-to-end: the real runner against a tiny in-process server that answers like Vault (or
//! etcd's gateway), records every request and fails some on purpose.
#![allow(clippy::unwrap_used)] // test helpers may unwrap, like the tests themselves

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use clap::Parser;
use serde_json::{Value, json};
use tresor_bench::payload::payload;
use tresor_bench::{BenchError, Cli, Report, run};

/// One request as the fake server saw it.
#[derive(Clone, Debug)]
struct Seen {
    method: Method,
    path: String,
    token: Option<String>,
    content_type: Option<String>,
    body: Bytes,
}

impl Seen {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// How the fake misbehaves.
#[derive(Clone, Default)]
struct Faults {
    /// Fail every n-th request with this method with a 500.
    fail_every: Option<(Method, u64)>,
    /// Answer 404 under /v1/transit/ as if no transit engine were mounted.
    no_transit: bool,
    /// Answer every request with a redirect to this URL.
    redirect_to: Option<String>,
}

#[derive(Clone, Default)]
struct Fake {
    seen: Arc<Mutex<Vec<Seen>>>,
    matching: Arc<AtomicU64>,
    faults: Faults,
}

impl Fake {
    fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn handle(
    State(fake): State<Fake>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let text = |name| {
        headers
            .get(name)
            .map(|v: &header::HeaderValue| v.to_str().unwrap().to_owned())
    };
    fake.seen.lock().unwrap().push(Seen {
        method: method.clone(),
        path: path.clone(),
        token: text("x-vault-token"),
        content_type: text("content-type"),
        body,
    });
    if let Some(location) = &fake.faults.redirect_to {
        return (
            StatusCode::TEMPORARY_REDIRECT,
            [(header::LOCATION, location.clone())],
        )
            .into_response();
    }
    if let Some((fail_method, every)) = &fake.faults.fail_every
        && *fail_method == method
        && (fake.matching.fetch_add(1, Ordering::SeqCst) + 1) % every == 0
    {
        let body = axum::Json(json!({ "errors": ["injected failure"] }));
        return (StatusCode::INTERNAL_SERVER_ERROR, body).into_response();
    }
    if fake.faults.no_transit && path.starts_with("/v1/transit/") {
        return (StatusCode::NOT_FOUND, axum::Json(json!({ "errors": [] }))).into_response();
    }
    let answer = match (method.as_str(), path.as_str()) {
        ("POST", "/v1/auth/token/create") => json!({ "auth": { "client_token": "s.child" } }),
        ("POST", p) if p.starts_with("/v1/transit/encrypt/") => {
            json!({ "data": { "ciphertext": "vault:v1:abc" } })
        }
        ("POST", "/v3/kv/put") => json!({ "header": { "revision": "2" } }),
        ("POST", "/v3/kv/range") => json!({ "header": {}, "kvs": [], "count": "0" }),
        ("GET", _) => json!({ "data": { "data": { "v": "x" }, "metadata": { "version": 1 } } }),
        _ => json!({ "data": { "version": 1 } }),
    };
    axum::Json(answer).into_response()
}

/// Starts a fake on a free loopback port; returns it and its base URL.
async fn start(faults: Faults) -> (Fake, String) {
    let fake = Fake {
        faults,
        ..Fake::default()
    };
    let app = Router::new().fallback(handle).with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (fake, format!("http://{addr}"))
}

async fn bench(args: &[&str]) -> Result<Report, BenchError> {
    bench_with_stop(args, false).await
}

async fn bench_with_stop(args: &[&str], stop: bool) -> Result<Report, BenchError> {
    let mut full = vec!["tresor-bench", "--warmup", "0", "--seed", "1"];
    full.extend_from_slice(args);
    let config = Cli::try_parse_from(full)
        .unwrap()
        .validate(|k| (k == "VAULT_TOKEN").then(|| "s.test".to_owned()))
        .unwrap();
    run(&config, Arc::new(AtomicBool::new(stop))).await
}

fn key_number(path: &str, prefix: &str) -> u64 {
    path.strip_prefix(prefix)
        .unwrap_or_else(|| panic!("{path} does not start with {prefix}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn kv_write_sends_vault_requests_and_counts_errors() {
    let (fake, addr) = start(Faults {
        fail_every: Some((Method::PUT, 5)),
        ..Faults::default()
    })
    .await;
    let args = [
        "kv-write",
        "--addr",
        &addr,
        "--ops",
        "50",
        "--concurrency",
        "4",
        "--keys",
        "10",
        "--payload",
        "32",
        "--prefix",
        "p",
    ];
    let report = bench(&args).await.unwrap();

    let seen = fake.requests();
    assert_eq!(seen.len(), 50, "exactly --ops requests without warm-up");
    let want_body = json!({ "data": { "v": payload(32, 1) } });
    for req in &seen {
        assert_eq!(req.method, Method::PUT);
        assert!(key_number(&req.path, "/v1/secret/data/p/") < 10);
        assert_eq!(req.token.as_deref(), Some("s.test"));
        assert_eq!(req.content_type.as_deref(), Some("application/json"));
        assert_eq!(req.json(), want_body);
    }
    let keys: BTreeSet<&str> = seen.iter().map(|r| r.path.as_str()).collect();
    assert!(keys.len() > 1, "keys are drawn from the key set, not fixed");

    assert_eq!(report.ops, 50);
    assert_eq!(report.errors, 10);
    assert_eq!(report.ok, 40);
    assert_eq!(report.errors_by_kind.get("http_500"), Some(&10));
    assert_eq!(report.errors_by_kind.len(), 1);
    assert!((report.error_rate - 0.2).abs() < 1e-12);
    assert!(
        !report.passes(0.01),
        "20% errors must fail the default budget"
    );
    assert!(report.passes(0.25));
    assert!(report.latency_ms.p50.is_some());
    assert!(report.latency_ms.p50 <= report.latency_ms.max);
}

#[tokio::test]
async fn kv_read_prepares_the_key_set_then_reads_it() {
    let (fake, addr) = start(Faults {
        fail_every: Some((Method::GET, 10)),
        ..Faults::default()
    })
    .await;
    let args = [
        "kv-read",
        "--addr",
        &addr,
        "--ops",
        "30",
        "--concurrency",
        "3",
        "--keys",
        "20",
        "--kv-version",
        "1",
        "--mount",
        "kv",
    ];
    let report = bench(&args).await.unwrap();

    let seen = fake.requests();
    let puts: Vec<&Seen> = seen.iter().filter(|r| r.method == Method::PUT).collect();
    let gets: Vec<&Seen> = seen.iter().filter(|r| r.method == Method::GET).collect();
    assert_eq!(puts.len(), 20);
    assert_eq!(gets.len(), 30);
    let written: BTreeSet<u64> = puts
        .iter()
        .map(|r| key_number(&r.path, "/v1/kv/tresor-bench/"))
        .collect();
    assert_eq!(written, (0..20).collect(), "every key written exactly once");
    for put in &puts {
        assert_eq!(put.json(), json!({ "v": payload(256, 1) }));
    }
    let first_get = seen.iter().position(|r| r.method == Method::GET).unwrap();
    assert!(
        seen[first_get..].iter().all(|r| r.method == Method::GET),
        "reads start only after the key set is prepared"
    );
    for get in &gets {
        assert!(key_number(&get.path, "/v1/kv/tresor-bench/") < 20);
        assert_eq!(get.token.as_deref(), Some("s.test"));
        assert!(get.body.is_empty());
    }
    assert_eq!((report.ops, report.errors), (30, 3));
    assert_eq!(report.errors_by_kind.get("http_500"), Some(&3));
}

#[tokio::test]
async fn skip_prepare_reads_at_once_without_writing() {
    let (fake, addr) = start(Faults::default()).await;
    let args = [
        "kv-read",
        "--addr",
        &addr,
        "--ops",
        "12",
        "--concurrency",
        "2",
        "--keys",
        "5",
        "--skip-prepare",
    ];
    let report = bench(&args).await.unwrap();
    let seen = fake.requests();
    assert!(
        seen.iter().all(|r| r.method == Method::GET),
        "no key is written"
    );
    assert_eq!(seen.len(), 12);
    assert_eq!(report.ops, 12);
}

#[tokio::test]
async fn preparation_failure_stops_the_run() {
    let (fake, addr) = start(Faults {
        fail_every: Some((Method::PUT, 1)),
        ..Faults::default()
    })
    .await;
    let args = [
        "kv-read",
        "--addr",
        &addr,
        "--ops",
        "5",
        "--concurrency",
        "1",
        "--keys",
        "3",
    ];
    let err = bench(&args).await.unwrap_err();
    assert!(
        matches!(&err, BenchError::Prepare { attempts: 3, answer, .. } if answer == "HTTP 500"),
        "{err:?}"
    );
    let seen = fake.requests();
    assert_eq!(seen.len(), 3, "one key retried three times, then stop");
    assert!(seen.iter().all(|r| r.method == Method::PUT));
}

#[tokio::test]
async fn mixed_reads_and_writes_over_the_prepared_keys() {
    let (fake, addr) = start(Faults::default()).await;
    let args = [
        "mixed",
        "--addr",
        &addr,
        "--ops",
        "200",
        "--concurrency",
        "4",
        "--keys",
        "10",
    ];
    let report = bench(&args).await.unwrap();
    let seen = fake.requests();
    let measured = &seen[10..];
    assert!(seen[..10].iter().all(|r| r.method == Method::PUT));
    assert_eq!(measured.len(), 200);
    let writes = measured.iter().filter(|r| r.method == Method::PUT).count();
    let reads = measured.iter().filter(|r| r.method == Method::GET).count();
    assert_eq!(reads + writes, 200);
    assert!(
        writes >= 1 && reads > 4 * writes,
        "{reads} reads, {writes} writes"
    );
    assert_eq!((report.ops, report.errors), (200, 0));
    assert!(report.passes(0.0));
}

#[tokio::test]
async fn token_create_posts_the_vault_body() {
    let (fake, addr) = start(Faults::default()).await;
    let report = bench(&[
        "token-create",
        "--addr",
        &addr,
        "--ops",
        "7",
        "--concurrency",
        "2",
    ])
    .await
    .unwrap();
    let seen = fake.requests();
    assert_eq!(seen.len(), 7);
    for req in &seen {
        assert_eq!(req.method, Method::POST);
        assert_eq!(req.path, "/v1/auth/token/create");
        assert_eq!(req.token.as_deref(), Some("s.test"));
        assert_eq!(req.json(), json!({ "policies": ["default"], "ttl": "1h" }));
    }
    assert_eq!(report.ok, 7);
}

#[tokio::test]
async fn transit_is_refused_when_the_engine_is_missing() {
    let (fake, addr) = start(Faults {
        no_transit: true,
        ..Faults::default()
    })
    .await;
    let err = bench(&["transit-encrypt", "--addr", &addr, "--ops", "5"])
        .await
        .unwrap_err();
    assert!(matches!(err, BenchError::TransitUnavailable { .. }));
    let message = err.to_string();
    assert!(
        message.contains("not available until the transit engine exists"),
        "{message}"
    );
    assert!(message.contains("HTTP 404"), "{message}");
    assert_eq!(fake.requests().len(), 1, "only the probe was sent");
    assert_eq!(err.exit_code(), 1);
}

#[tokio::test]
async fn transit_encrypts_when_the_engine_answers() {
    let (fake, addr) = start(Faults::default()).await;
    let args = [
        "transit-encrypt",
        "--addr",
        &addr,
        "--ops",
        "5",
        "--concurrency",
        "2",
        "--transit-key",
        "bench",
        "--payload",
        "20",
    ];
    let report = bench(&args).await.unwrap();
    let seen = fake.requests();
    assert_eq!(seen.len(), 6, "one probe plus five measured");
    for req in &seen {
        assert_eq!(req.path, "/v1/transit/encrypt/bench");
        let plaintext = req.json()["plaintext"].as_str().unwrap().to_owned();
        assert_eq!(B64.decode(plaintext).unwrap(), payload(20, 1).into_bytes());
    }
    assert_eq!(report.ok, 5);
}

#[tokio::test]
async fn etcd_put_and_range_use_the_v3_gateway_without_a_token() {
    let (fake, addr) = start(Faults::default()).await;
    bench(&[
        "etcd-put",
        "--addr",
        &addr,
        "--ops",
        "6",
        "--keys",
        "4",
        "--payload",
        "8",
    ])
    .await
    .unwrap();
    let seen = fake.requests();
    assert_eq!(seen.len(), 6);
    for req in &seen {
        assert_eq!(
            (req.method.clone(), req.path.as_str()),
            (Method::POST, "/v3/kv/put")
        );
        assert_eq!(req.token, None, "no Vault token is sent to etcd");
        let body = req.json();
        let key = B64.decode(body["key"].as_str().unwrap()).unwrap();
        let key = String::from_utf8(key).unwrap();
        assert!(key_number(&key, "tresor-bench/") < 4);
        let value = B64.decode(body["value"].as_str().unwrap()).unwrap();
        assert_eq!(value, payload(8, 1).into_bytes());
    }

    let (fake, addr) = start(Faults::default()).await;
    let report = bench(&["etcd-range", "--addr", &addr, "--ops", "9", "--keys", "3"])
        .await
        .unwrap();
    let seen = fake.requests();
    assert_eq!(seen.iter().filter(|r| r.path == "/v3/kv/put").count(), 3);
    let ranges: Vec<&Seen> = seen.iter().filter(|r| r.path == "/v3/kv/range").collect();
    assert_eq!(ranges.len(), 9);
    for req in ranges {
        let key = B64.decode(req.json()["key"].as_str().unwrap()).unwrap();
        assert!(key_number(&String::from_utf8(key).unwrap(), "tresor-bench/") < 3);
    }
    assert_eq!(report.ok, 9);
}

#[tokio::test]
async fn workers_and_prepared_keys_spread_over_several_nodes() {
    let (a, addr_a) = start(Faults::default()).await;
    let (b, addr_b) = start(Faults::default()).await;
    let args = [
        "kv-read",
        "--addr",
        &addr_a,
        "--addr",
        &addr_b,
        "--ops",
        "40",
        "--concurrency",
        "2",
        "--keys",
        "6",
    ];
    let report = bench(&args).await.unwrap();
    let puts = |f: &Fake| -> BTreeSet<u64> {
        f.requests()
            .iter()
            .filter(|r| r.method == Method::PUT)
            .map(|r| key_number(&r.path, "/v1/secret/data/tresor-bench/"))
            .collect()
    };
    assert_eq!(puts(&a), BTreeSet::from([0, 2, 4]));
    assert_eq!(puts(&b), BTreeSet::from([1, 3, 5]));
    let gets = |f: &Fake| {
        f.requests()
            .iter()
            .filter(|r| r.method == Method::GET)
            .count()
    };
    assert_eq!(gets(&a) + gets(&b), 40);
    assert!(gets(&a) > 0 && gets(&b) > 0, "each node gets a worker");
    assert_eq!(report.targets, vec![addr_a, addr_b]);
}

#[tokio::test]
async fn refused_connections_count_as_transport_errors() {
    // Bind and drop to get a loopback port nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let report = bench(&[
        "kv-write",
        "--addr",
        &addr,
        "--ops",
        "12",
        "--concurrency",
        "3",
    ])
    .await
    .unwrap();
    assert_eq!((report.ops, report.ok, report.errors), (12, 0, 12));
    assert_eq!(report.errors_by_kind.get("connect"), Some(&12));
    assert_eq!(report.latency_ms.p50, None);
    assert!(!report.passes(0.99), "nothing succeeded");
}

#[tokio::test]
async fn redirects_to_remote_hosts_are_not_followed() {
    let (fake, addr) = start(Faults {
        redirect_to: Some("http://192.0.2.1:8200/v1/secret/data/x".to_owned()),
        ..Faults::default()
    })
    .await;
    let report = bench(&[
        "kv-write",
        "--addr",
        &addr,
        "--ops",
        "4",
        "--concurrency",
        "1",
    ])
    .await
    .unwrap();
    assert_eq!(report.errors_by_kind.get("http_307"), Some(&4));
    assert_eq!(fake.requests().len(), 4);
}

#[tokio::test]
async fn a_stop_before_measuring_sends_nothing() {
    let (fake, addr) = start(Faults::default()).await;
    let err = bench_with_stop(&["kv-write", "--addr", &addr, "--ops", "4"], true)
        .await
        .unwrap_err();
    assert!(matches!(err, BenchError::Interrupted));
    assert!(fake.requests().is_empty());
}
