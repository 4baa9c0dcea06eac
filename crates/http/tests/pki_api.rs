//! The PKI engine through the router: mounted as `pki`, set up as hvac's `configure_pki`
//! does, a certificate issued under a `generate_lease` role comes with a lease that
//! `sys/leases/lookup` finds and lists, and whose revocation (`sys/leases/revoke`) revokes the
//! certificate: it is marked revoked and listed in the CRL, which (like the CA) is served
//! without a token, as a bare DER/PEM body.

#![allow(clippy::unwrap_used)]

use crate::common;

use axum::http::StatusCode;
use common::{Answer, call, unsealed_node};
use serde_json::{Value, json};
use tresor_http::AppState;

async fn put(state: &AppState, token: &str, path: &str, body: Value) -> Answer {
    call(
        state,
        "PUT",
        &format!("/v1/{path}"),
        Some(token),
        Some(body),
    )
    .await
}

/// A GET without a token, answered with a bare body: its status, content type and bytes.
async fn get_raw(state: &AppState, uri: &str) -> (StatusCode, String, Vec<u8>) {
    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let req = axum::http::Request::builder()
        .uri(uri)
        .body(Body::empty())
        .unwrap();
    let resp = tresor_http::router(state.clone())
        .oneshot(req)
        .await
        .unwrap();
    let status = resp.status();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, content_type, bytes.to_vec())
}

/// The DER of the CRL served at `pki/crl` (bare, without a token).
async fn crl_der(state: &AppState) -> Vec<u8> {
    let (status, content_type, body) = get_raw(state, "/v1/pki/crl").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/pkix-crl");
    // A DER SEQUENCE.
    assert_eq!(body.first(), Some(&0x30));
    body
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn an_issued_certificate_gets_a_lease_whose_revocation_revokes_it() {
    let (state, root) = unsealed_node().await;
    let r = put(&state, &root, "sys/mounts/pki", json!({"type": "pki"})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let ca = put(
        &state,
        &root,
        "pki/root/generate/internal",
        json!({"common_name": "hvac.com", "ttl": "8760h"}),
    )
    .await;
    assert_eq!(ca.status, StatusCode::OK, "{}", ca.body);
    assert!(ca.body["data"]["private_key"].is_null());
    let r = put(
        &state,
        &root,
        "pki/config/urls",
        json!({"issuing_certificates": "http://127.0.0.1:8200/v1/pki/ca",
               "crl_distribution_points": "http://127.0.0.1:8200/v1/pki/crl"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let r = put(
        &state,
        &root,
        "pki/roles/my-role",
        json!({"allowed_domains": "hvac.com", "allow_subdomains": true,
               "generate_lease": true, "max_ttl": "72h"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    let issued = put(
        &state,
        &root,
        "pki/issue/my-role",
        json!({"common_name": "test.hvac.com"}),
    )
    .await;
    assert_eq!(issued.status, StatusCode::OK, "{}", issued.body);
    let id = issued.body["lease_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("pki/issue/my-role/"), "{}", issued.body);
    assert_eq!(issued.body["lease_duration"], 72 * 3600);
    assert_eq!(issued.body["renewable"], false);
    let serial = issued.body["data"]["serial_number"]
        .as_str()
        .unwrap()
        .to_owned();
    let serial_bytes: Vec<u8> = serial
        .split(':')
        .map(|p| u8::from_str_radix(p, 16).unwrap())
        .collect();
    assert!(!contains(&crl_der(&state).await, &serial_bytes));

    let look = put(&state, &root, "sys/leases/lookup", json!({"lease_id": id})).await;
    assert_eq!(look.status, StatusCode::OK, "{}", look.body);
    assert_eq!(look.body["data"]["id"], id.as_str());
    let list = call(
        &state,
        "LIST",
        "/v1/sys/leases/lookup/pki/",
        Some(&root),
        None,
    )
    .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert_eq!(list.body["data"]["keys"], json!(["issue/"]));

    let rev = put(&state, &root, "sys/leases/revoke", json!({"lease_id": id})).await;
    assert_eq!(rev.status, StatusCode::NO_CONTENT, "{}", rev.body);
    let cert = call(&state, "GET", &format!("/v1/pki/cert/{serial}"), None, None).await;
    assert_eq!(cert.status, StatusCode::OK, "{}", cert.body);
    assert!(cert.body["data"]["revocation_time"].as_i64().unwrap() > 0);
    assert!(contains(&crl_der(&state).await, &serial_bytes));
    let none = call(
        &state,
        "LIST",
        "/v1/sys/leases/lookup/pki/",
        Some(&root),
        None,
    )
    .await;
    assert_eq!(none.status, StatusCode::NOT_FOUND, "{}", none.body);

    // The CA is public; roles are not.
    let (status, content_type, pem) = get_raw(&state, "/v1/pki/ca/pem").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/pem-certificate-chain");
    assert_eq!(
        String::from_utf8(pem).unwrap(),
        ca.body["data"]["certificate"].as_str().unwrap()
    );
    let json = call(&state, "GET", "/v1/pki/cert/ca", None, None).await;
    assert_eq!(
        json.body["data"]["certificate"],
        ca.body["data"]["certificate"]
    );
    let role = call(&state, "GET", "/v1/pki/roles/my-role", None, None).await;
    assert!(role.status.is_client_error(), "{}", role.status);
}
