//! `GET /v1/sys/metrics` through the router (no sockets): Vault's authentication rule, the two
//! formats, Prometheus switched off by `prometheus_retention_time = 0`, and unauthenticated
//! access answering while the node is sealed.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use tresor_core::{Core, CoreOptions, SingleNode, metered_seals};
use tresor_http::{AppState, MetricsSettings, router};
use tresor_seal::{Seal, TestSeal};
use tresor_telemetry::Metrics;

fn state(seal: &Arc<TestSeal>, metrics: MetricsSettings) -> AppState {
    let registry = Metrics::new();
    let core = Core::new(
        Arc::new(tresor_storage::InMemBackend::new()),
        CoreOptions {
            seals: metered_seals(vec![seal.clone() as Arc<dyn Seal>], &registry),
            metrics: registry,
            ..CoreOptions::default()
        },
        Arc::new(SingleNode::default()),
    );
    AppState {
        core,
        max_request_size: 0,
        max_request_duration: Duration::from_secs(30),
        json_limits: Default::default(),
        metrics,
        raw_switches: Default::default(),
    }
}

/// (status, content type, body) of a request.
async fn call(
    state: &AppState,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, String, String) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("x-vault-token", t);
    }
    let req = req
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    let resp = router(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let ctype = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, ctype, String::from_utf8(bytes.to_vec()).unwrap())
}

/// Initializes the node (recovery keys 1/1); returns the root token.
async fn init(s: &AppState) -> String {
    let (code, _, body) = call(
        s,
        "PUT",
        "/v1/sys/init",
        None,
        Some(json!({"recovery_shares": 1, "recovery_threshold": 1})),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["root_token"].as_str().unwrap().to_owned()
}

fn gauge(doc: &Value, name: &str) -> Option<f64> {
    doc["Gauges"]
        .as_array()?
        .iter()
        .find(|g| g["Name"] == name)
        .and_then(|g| g["Value"].as_f64())
}

#[tokio::test]
async fn a_token_with_read_is_needed_by_default() {
    let seal = Arc::new(TestSeal::new());
    let s = state(&seal, MetricsSettings::default());
    let token = init(&s).await;

    let (code, _, body) = call(&s, "GET", "/v1/sys/metrics", None, None).await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"errors": ["permission denied"]})
    );
    let (code, _, _) = call(&s, "GET", "/v1/sys/metrics", Some("not-a-token"), None).await;
    assert_eq!(code, StatusCode::FORBIDDEN);

    let (code, ctype, body) = call(&s, "GET", "/v1/sys/metrics", Some(&token), None).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(ctype, "application/json");
    let doc: Value = serde_json::from_str(&body).unwrap();
    assert!(doc["Timestamp"].as_str().unwrap().ends_with(" +0000 UTC"));
    assert_eq!(gauge(&doc, "vault.core.unsealed"), Some(1.0));
    assert_eq!(gauge(&doc, "vault.core.active"), Some(1.0));
    // Init wrapped the keys through the metered seal.
    let encrypt = doc["Counters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["Name"] == "vault.seal.encrypt")
        .unwrap();
    assert!(encrypt["Sum"].as_f64().unwrap() >= 1.0, "{encrypt}");
    assert_eq!(encrypt["Labels"], json!({"seal_wrapper_name": "test-1"}));

    let (code, ctype, text) = call(
        &s,
        "GET",
        "/v1/sys/metrics?format=prometheus",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    assert!(
        text.contains("# TYPE vault_core_unsealed gauge\nvault_core_unsealed 1\n"),
        "{text}"
    );

    let (code, _, text) = call(&s, "GET", "/v1/sys/metrics?format=xml", Some(&token), None).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(text, "metric response format \"xml\" unknown");
    let (code, _, _) = call(&s, "PUT", "/v1/sys/metrics", Some(&token), None).await;
    assert_eq!(code, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn retention_zero_turns_the_prometheus_format_off() {
    let seal = Arc::new(TestSeal::new());
    let s = state(
        &seal,
        MetricsSettings {
            unauthenticated_access: true,
            prometheus_enabled: false,
            ..MetricsSettings::default()
        },
    );
    let (code, ctype, text) =
        call(&s, "GET", "/v1/sys/metrics?format=prometheus", None, None).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(ctype, "text/plain");
    assert_eq!(text, "prometheus is not enabled");
    // JSON still works.
    let (code, _, _) = call(&s, "GET", "/v1/sys/metrics", None, None).await;
    assert_eq!(code, StatusCode::OK);
}

#[tokio::test]
async fn unauthenticated_access_answers_while_sealed() {
    let seal = Arc::new(TestSeal::new());
    let s = state(
        &seal,
        MetricsSettings {
            unauthenticated_access: true,
            ..MetricsSettings::default()
        },
    );
    let token = init(&s).await;
    let (code, _, text) = call(&s, "GET", "/v1/sys/metrics?format=prometheus", None, None).await;
    assert_eq!(code, StatusCode::OK);
    assert!(text.contains("\nvault_core_unsealed 1\n"), "{text}");

    let (code, _, _) = call(&s, "PUT", "/v1/sys/seal", Some(&token), None).await;
    assert_eq!(code, StatusCode::NO_CONTENT);
    let req = Request::builder()
        .uri("/v1/sys/metrics")
        .header("accept", "prometheus/telemetry")
        .body(Body::empty())
        .unwrap();
    let resp = router(s.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let text = String::from_utf8(
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    assert!(text.contains("\nvault_core_unsealed 0\n"), "{text}");
    assert!(text.contains("\nvault_core_active 0\n"), "{text}");
    assert!(
        text.contains("vault_seal_auto_unseal_failure{seal_type=\"test\"} 0\n"),
        "{text}"
    );
}

/// The value of the unlabelled series `name` in Prometheus text, if present.
fn prometheus_value(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[tokio::test]
async fn state_gauges_of_an_unsealed_node() {
    let seal = Arc::new(TestSeal::new());
    let s = state(&seal, MetricsSettings::default());
    let token = init(&s).await;
    let (code, _, text) = call(
        &s,
        "GET",
        "/v1/sys/metrics?format=prometheus",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{text}");
    for name in [
        "vault_runtime_alloc_bytes",
        "vault_runtime_sys_bytes",
        "vault_token_count",
        "vault_expire_num_leases",
    ] {
        assert!(
            text.contains(&format!("# TYPE {name} gauge\n")),
            "{name}: {text}"
        );
    }
    if cfg!(target_os = "linux") {
        let alloc = prometheus_value(&text, "vault_runtime_alloc_bytes").unwrap();
        let sys = prometheus_value(&text, "vault_runtime_sys_bytes").unwrap();
        assert!(alloc > 0.0 && sys >= alloc, "{alloc} {sys}");
    }
    // At least the root token of init.
    assert!(
        prometheus_value(&text, "vault_token_count").unwrap() >= 1.0,
        "{text}"
    );
    assert_eq!(
        prometheus_value(&text, "vault_expire_num_leases"),
        Some(0.0)
    );
    // Not Raft: no Raft or autopilot gauges.
    for name in [
        "vault_raft_peers",
        "vault_raft_leader",
        "vault_autopilot_healthy",
    ] {
        assert!(!text.contains(name), "{name}: {text}");
    }

    // Vault's JSON carries the same gauges.
    let (code, _, body) = call(&s, "GET", "/v1/sys/metrics", Some(&token), None).await;
    assert_eq!(code, StatusCode::OK);
    let doc: Value = serde_json::from_str(&body).unwrap();
    assert!(gauge(&doc, "vault.token.count").unwrap() >= 1.0);
    assert_eq!(gauge(&doc, "vault.expire.num_leases"), Some(0.0));
}
