//! JWT/OIDC and Kubernetes logins through the router, against real endpoints the test serves
//! on 127.0.0.1: a JWKS and an OIDC discovery document (keys the test holds: an RSA key from
//! `tests/fixtures/jwt_test_rsa.pk8.pem`, made for these tests only, and P-256 and Ed25519
//! keys made at run time), and a Kubernetes TokenReview API that checks the reviewer's bearer
//! and answers from a table of known tokens.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair};
use serde_json::{Value, json};
use tresor_core::{Core, CoreOptions, SingleNode};
use tresor_http::AppState;

use common::{Answer, call};

const ISSUER: &str = "https://issuer.test";

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

// --- keys and signing ----------------------------------------------------------------------

enum Key {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

fn rsa_key() -> Key {
    let pem = include_str!("fixtures/jwt_test_rsa.pk8.pem");
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = STANDARD.decode(body).unwrap();
    Key::Rsa(RsaKeyPair::from_pkcs8(&der).unwrap())
}

fn ec_key() -> Key {
    let rng = SystemRandom::new();
    let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
    Key::Ec(EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap())
}

fn ed_key() -> Key {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    Key::Ed(Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap())
}

impl Key {
    fn alg(&self) -> &'static str {
        match self {
            Key::Rsa(_) => "RS256",
            Key::Ec(_) => "ES256",
            Key::Ed(_) => "EdDSA",
        }
    }

    /// The JWK of the public key.
    fn jwk(&self, kid: &str) -> Value {
        match self {
            Key::Rsa(k) => {
                let c = signature::RsaPublicKeyComponents::<Vec<u8>>::from(k.public());
                json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                       "n": URL_SAFE_NO_PAD.encode(&c.n), "e": URL_SAFE_NO_PAD.encode(&c.e)})
            }
            Key::Ec(k) => {
                let p = k.public_key().as_ref();
                json!({"kty": "EC", "crv": "P-256", "kid": kid,
                       "x": URL_SAFE_NO_PAD.encode(&p[1..33]), "y": URL_SAFE_NO_PAD.encode(&p[33..])})
            }
            Key::Ed(k) => json!({"kty": "OKP", "crv": "Ed25519", "kid": kid,
                                 "x": URL_SAFE_NO_PAD.encode(k.public_key().as_ref())}),
        }
    }

    /// The SubjectPublicKeyInfo PEM of an Ed25519 key.
    fn ed_pem(&self) -> String {
        let Key::Ed(k) = self else {
            panic!("not ed25519")
        };
        let mut der = vec![
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        der.extend_from_slice(k.public_key().as_ref());
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            STANDARD.encode(der)
        )
    }

    /// A compact JWS of `claims`, with `kid` in the header when given.
    fn sign(&self, kid: Option<&str>, claims: &Value) -> String {
        let mut header = json!({"alg": self.alg(), "typ": "JWT"});
        if let Some(k) = kid {
            header["kid"] = json!(k);
        }
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let rng = SystemRandom::new();
        let sig = match self {
            Key::Rsa(k) => {
                let mut sig = vec![0; k.public().modulus_len()];
                k.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &rng,
                    input.as_bytes(),
                    &mut sig,
                )
                .unwrap();
                sig
            }
            Key::Ec(k) => k.sign(&rng, input.as_bytes()).unwrap().as_ref().to_vec(),
            Key::Ed(k) => k.sign(input.as_bytes()).as_ref().to_vec(),
        };
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }
}

// --- the endpoints the test serves -----------------------------------------------------------

/// What the test's server answers.
#[derive(Default)]
struct Served {
    /// The JWKS document.
    jwks: Mutex<Value>,
    /// The discovery document's issuer (the server's own base URL unless changed).
    issuer: Mutex<String>,
    /// How often the JWKS was fetched.
    jwks_fetches: AtomicUsize,
    /// The bearer a TokenReview must present (besides the reviewed token itself).
    reviewer: Mutex<String>,
    /// Reviewed token → the TokenReview status to answer.
    reviews: Mutex<HashMap<String, Value>>,
    /// The bearers and bodies of the TokenReviews received.
    received: Mutex<Vec<(String, Value)>>,
}

async fn jwks(State(s): State<Arc<Served>>) -> Json<Value> {
    s.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    Json(s.jwks.lock().unwrap().clone())
}

async fn discovery(State(s): State<Arc<Served>>) -> Json<Value> {
    let issuer = s.issuer.lock().unwrap().clone();
    Json(json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/jwks"),
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
    }))
}

async fn token_review(
    State(s): State<Arc<Served>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    let token = body["spec"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    s.received
        .lock()
        .unwrap()
        .push((bearer.clone(), body.clone()));
    if body["kind"] != "TokenReview" {
        return (StatusCode::BAD_REQUEST, Json(json!({"kind": "Status"})));
    }
    if bearer != *s.reviewer.lock().unwrap() && bearer != token {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"kind": "Status", "status": "Failure", "reason": "Unauthorized"})),
        );
    }
    let status = s
        .reviews
        .lock()
        .unwrap()
        .get(&token)
        .cloned()
        .unwrap_or_else(|| json!({"authenticated": false}));
    (
        StatusCode::CREATED,
        Json(
            json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "status": status}),
        ),
    )
}

/// Serves the JWKS, discovery and TokenReview endpoints; answers the state and the base URL.
/// The server task ends with the test's runtime.
async fn serve() -> (Arc<Served>, String) {
    let served = Arc::new(Served::default());
    let app = Router::new()
        .route("/jwks", get(jwks))
        .route("/.well-known/openid-configuration", get(discovery))
        .route(
            "/apis/authentication.k8s.io/v1/tokenreviews",
            post(token_review),
        )
        .with_state(served.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    *served.issuer.lock().unwrap() = base.clone();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (served, base)
}

// --- the node ------------------------------------------------------------------------------

/// A node with the auth methods registered, `kv/app` (v1) readable by the `reader` policy,
/// and the method `kind` at `auth/<path>`.
async fn node(kind: &str, path: &str) -> (AppState, String) {
    let mut backends = tresor_engines::registry();
    tresor_auth::register(&mut backends);
    let core = Core::new(
        Arc::new(tresor_storage::InMemBackend::new()),
        CoreOptions {
            backends,
            ..CoreOptions::default()
        },
        Arc::new(SingleNode::default()),
    );
    let state = AppState::new(core);
    let init = call(
        &state,
        "PUT",
        "/v1/sys/init",
        None,
        Some(json!({"secret_shares": 1, "secret_threshold": 1})),
    )
    .await;
    let key = init.body["keys_base64"][0].as_str().unwrap().to_owned();
    let root = init.body["root_token"].as_str().unwrap().to_owned();
    call(
        &state,
        "PUT",
        "/v1/sys/unseal",
        None,
        Some(json!({"key": key})),
    )
    .await;
    for (m, uri, body) in [
        (
            "POST",
            "/v1/sys/mounts/kv".to_owned(),
            json!({"type": "kv"}),
        ),
        ("PUT", "/v1/kv/app".to_owned(), json!({"v": "1"})),
        (
            "PUT",
            "/v1/sys/policies/acl/reader".to_owned(),
            json!({"policy": "path \"kv/*\" { capabilities = [\"read\"] }"}),
        ),
        (
            "POST",
            format!("/v1/sys/auth/{path}"),
            json!({"type": kind}),
        ),
    ] {
        let a = call(&state, m, &uri, Some(&root), Some(body)).await;
        assert!(a.status.is_success(), "{uri}: {} {}", a.status, a.body);
    }
    (state, root)
}

fn ok(a: &Answer) {
    assert!(a.status.is_success(), "{} {}", a.status, a.body);
}

/// Asserts a refusal with `status` whose error contains `text`.
fn refused(a: &Answer, status: StatusCode, text: &str) {
    assert_eq!(a.status, status, "{}", a.body);
    let errors = a.body["errors"].to_string();
    assert!(errors.contains(text), "{errors} should contain {text:?}");
}

async fn login(state: &AppState, mount: &str, body: Value) -> Answer {
    call(
        state,
        "POST",
        &format!("/v1/auth/{mount}/login"),
        None,
        Some(body),
    )
    .await
}

/// Claims of a good token for the `dev` role.
fn dev_claims() -> Value {
    json!({
        "iss": ISSUER, "sub": "u-1", "aud": ["tresor", "other"], "email": "alice@example.com",
        "groups": ["dev-eu", "ops"], "org": {"team": "core"},
        "iat": now(), "nbf": now() - 5, "exp": now() + 300,
    })
}

fn with(mut claims: Value, key: &str, v: Value) -> Value {
    claims[key] = v;
    claims
}

#[tokio::test]
async fn jwt_login_through_a_jwks_endpoint() {
    let (served, base) = serve().await;
    let (rsa, ec, other_ec) = (rsa_key(), ec_key(), ec_key());
    *served.jwks.lock().unwrap() = json!({"keys": [rsa.jwk("rsa1"), ec.jwk("ec1")]});
    let (state, root) = node("jwt", "jwt").await;
    ok(&call(
        &state,
        "POST",
        "/v1/auth/jwt/config",
        Some(&root),
        Some(json!({"jwks_url": format!("{base}/jwks"), "bound_issuer": ISSUER})),
    )
    .await);
    let fetched_at_config = served.jwks_fetches.load(Ordering::SeqCst);
    assert_eq!(
        fetched_at_config, 1,
        "the JWKS is fetched when the config is written"
    );
    let cfg = call(&state, "GET", "/v1/auth/jwt/config", Some(&root), None).await;
    assert_eq!(cfg.body["data"]["jwks_url"], format!("{base}/jwks"));

    // A role with no binding is refused.
    let r = call(
        &state,
        "POST",
        "/v1/auth/jwt/role/none",
        Some(&root),
        Some(json!({"role_type": "jwt", "user_claim": "sub"})),
    )
    .await;
    refused(&r, StatusCode::BAD_REQUEST, "at least one bound constraint");
    ok(&call(
        &state,
        "POST",
        "/v1/auth/jwt/role/dev",
        Some(&root),
        Some(json!({
            "role_type": "jwt", "user_claim": "email", "bound_audiences": ["tresor"],
            "bound_claims_type": "glob", "bound_claims": {"/org/team": "core", "groups": ["dev-*"]},
            "claim_mappings": {"email": "mail", "/org/team": "team"},
            "token_policies": ["reader"], "token_ttl": "10m",
        })),
    )
    .await);
    let listed = call(&state, "LIST", "/v1/auth/jwt/role", Some(&root), None).await;
    assert_eq!(listed.body["data"]["keys"], json!(["dev"]));
    let read = call(&state, "GET", "/v1/auth/jwt/role/dev", Some(&root), None).await;
    assert_eq!(read.body["data"]["expiration_leeway"], 150);
    assert_eq!(read.body["data"]["clock_skew_leeway"], 60);
    assert_eq!(read.body["data"]["token_ttl"], 600);

    // RS256 and ES256 tokens log in.
    let mut entity = None;
    for (key, kid) in [(&rsa, "rsa1"), (&ec, "ec1")] {
        let a = login(
            &state,
            "jwt",
            json!({"role": "dev", "jwt": key.sign(Some(kid), &dev_claims())}),
        )
        .await;
        ok(&a);
        let auth = &a.body["auth"];
        assert_eq!(auth["policies"], json!(["default", "reader"]));
        assert_eq!(
            auth["metadata"],
            json!({"role": "dev", "mail": "alice@example.com", "team": "core"})
        );
        assert_eq!(auth["lease_duration"], 600);
        let e = auth["entity_id"].as_str().unwrap().to_owned();
        assert!(!e.is_empty());
        assert_eq!(
            entity.get_or_insert(e.clone()),
            &e,
            "one entity per user claim"
        );
        let token = auth["client_token"].as_str().unwrap();
        let me = call(
            &state,
            "GET",
            "/v1/auth/token/lookup-self",
            Some(token),
            None,
        )
        .await;
        assert_eq!(me.body["data"]["display_name"], "jwt-alice-example-com");
        ok(&call(&state, "GET", "/v1/kv/app", Some(token), None).await);
    }

    // Refusals, each a 400 with Vault's reason.
    let bad = |claims: Value| rsa.sign(Some("rsa1"), &claims);
    let cases = [
        (
            bad(with(dev_claims(), "aud", json!("nope"))),
            "aud claim does not match any bound audience",
        ),
        (
            bad(with(dev_claims(), "iss", json!("https://evil.test"))),
            "invalid issuer",
        ),
        (
            bad(with(dev_claims(), "exp", json!(now() - 3600))),
            "token is expired",
        ),
        (
            bad(with(dev_claims(), "nbf", json!(now() + 3600))),
            "not valid yet",
        ),
        (
            bad(with(dev_claims(), "org", json!({"team": "edge"}))),
            "does not match any associated bound claim",
        ),
        (
            bad(with(dev_claims(), "groups", json!(["ops"]))),
            "does not match any associated bound claim",
        ),
        (
            other_ec.sign(Some("ec1"), &dev_claims()),
            "failed to verify",
        ),
        ("not.a.jwt".to_owned(), "error parsing token"),
        ("x".repeat(70 * 1024), "error parsing token"),
    ];
    for (jwt, why) in cases {
        let a = login(&state, "jwt", json!({"role": "dev", "jwt": jwt})).await;
        refused(&a, StatusCode::BAD_REQUEST, why);
    }
    refused(
        &login(
            &state,
            "jwt",
            json!({"role": "nope", "jwt": bad(dev_claims())}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "could not be found",
    );
    refused(
        &login(&state, "jwt", json!({"jwt": bad(dev_claims())})).await,
        StatusCode::BAD_REQUEST,
        "missing role",
    );
    refused(
        &login(&state, "jwt", json!({"role": "dev"})).await,
        StatusCode::BAD_REQUEST,
        "missing token",
    );

    // A token with an audience logging in to a role that binds none is refused.
    ok(&call(
        &state,
        "POST",
        "/v1/auth/jwt/role/by-sub",
        Some(&root),
        Some(json!({
        "role_type": "jwt", "user_claim": "sub", "bound_subject": "u-1"})),
    )
    .await);
    refused(
        &login(
            &state,
            "jwt",
            json!({"role": "by-sub", "jwt": bad(dev_claims())}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "no audiences bound to the role",
    );
    let no_aud = dev_claims()
        .as_object()
        .unwrap()
        .clone()
        .into_iter()
        .filter(|(k, _)| k != "aud")
        .collect::<serde_json::Map<_, _>>();
    let a = login(
        &state,
        "jwt",
        json!({"role": "by-sub", "jwt": bad(Value::Object(no_aud.clone()))}),
    )
    .await;
    ok(&a);
    assert_eq!(a.body["auth"]["metadata"], json!({"role": "by-sub"}));
    refused(
        &login(
            &state,
            "jwt",
            json!({"role": "by-sub",
        "jwt": bad(with(Value::Object(no_aud), "sub", json!("u-2")))}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "sub claim does not match bound subject",
    );

    // An OIDC role does not log in with a JWT.
    ok(&call(
        &state,
        "POST",
        "/v1/auth/jwt/role/browser",
        Some(&root),
        Some(json!({
        "user_claim": "sub", "allowed_redirect_uris": ["https://app/cb"]})),
    )
    .await);
    refused(
        &login(
            &state,
            "jwt",
            json!({"role": "browser", "jwt": bad(dev_claims())}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "oidc role_type is not allowed",
    );

    // Key rotation: a token naming a kid the cache lacks makes one refetch, and logs in.
    assert_eq!(
        served.jwks_fetches.load(Ordering::SeqCst),
        fetched_at_config
    );
    let rotated = ec_key();
    *served.jwks.lock().unwrap() = json!({"keys": [rsa.jwk("rsa1"), rotated.jwk("ec2")]});
    ok(&login(
        &state,
        "jwt",
        json!({"role": "dev", "jwt": rotated.sign(Some("ec2"), &dev_claims())}),
    )
    .await);
    assert_eq!(
        served.jwks_fetches.load(Ordering::SeqCst),
        fetched_at_config + 1
    );
    // Right after, another unknown kid does not fetch again (rate limit) and is refused.
    let a = login(
        &state,
        "jwt",
        json!({"role": "dev", "jwt": other_ec.sign(Some("ec3"), &dev_claims())}),
    )
    .await;
    refused(&a, StatusCode::BAD_REQUEST, "failed to verify");
    assert_eq!(
        served.jwks_fetches.load(Ordering::SeqCst),
        fetched_at_config + 1
    );

    // The token renews while its role exists, and not after.
    let a = login(
        &state,
        "jwt",
        json!({"role": "dev", "jwt": rsa.sign(Some("rsa1"), &dev_claims())}),
    )
    .await;
    let token = a.body["auth"]["client_token"].as_str().unwrap().to_owned();
    ok(&call(
        &state,
        "POST",
        "/v1/auth/token/renew-self",
        Some(&token),
        Some(json!({})),
    )
    .await);
    ok(&call(&state, "DELETE", "/v1/auth/jwt/role/dev", Some(&root), None).await);
    let r = call(
        &state,
        "POST",
        "/v1/auth/token/renew-self",
        Some(&token),
        Some(json!({})),
    )
    .await;
    refused(&r, StatusCode::BAD_REQUEST, "does not exist during renewal");
}

#[tokio::test]
async fn oidc_discovery_and_static_keys() {
    let (served, base) = serve().await;
    let ec = ec_key();
    *served.jwks.lock().unwrap() = json!({"keys": [ec.jwk("k")]});
    let (state, root) = node("oidc", "oidc").await;
    let listed = call(&state, "GET", "/v1/sys/auth", Some(&root), None).await;
    assert_eq!(listed.body["data"]["oidc/"]["type"], "oidc");
    // Discovery that names another issuer is refused when the config is written.
    *served.issuer.lock().unwrap() = "https://elsewhere.test".into();
    let r = call(
        &state,
        "POST",
        "/v1/auth/oidc/config",
        Some(&root),
        Some(json!({"oidc_discovery_url": base})),
    )
    .await;
    refused(
        &r,
        StatusCode::BAD_REQUEST,
        "error checking oidc discovery URL",
    );
    *served.issuer.lock().unwrap() = base.clone();
    ok(&call(
        &state,
        "POST",
        "/v1/auth/oidc/config",
        Some(&root),
        Some(json!({"oidc_discovery_url": base, "default_role": "ci"})),
    )
    .await);
    let r = call(
        &state,
        "POST",
        "/v1/auth/oidc/config",
        Some(&root),
        Some(json!({"oidc_discovery_url": base, "jwks_url": format!("{base}/jwks")})),
    )
    .await;
    refused(&r, StatusCode::BAD_REQUEST, "exactly one of");
    ok(&call(
        &state,
        "POST",
        "/v1/auth/oidc/role/ci",
        Some(&root),
        Some(json!({
        "role_type": "jwt", "user_claim": "sub", "bound_claims": {"repo": "org/app"},
        "token_policies": "reader"})),
    )
    .await);
    let claims = json!({"iss": base, "sub": "ci-bot", "repo": "org/app", "exp": now() + 60});
    // No role named: the default role.
    let a = login(&state, "oidc", json!({"jwt": ec.sign(Some("k"), &claims)})).await;
    ok(&a);
    assert_eq!(a.body["auth"]["metadata"]["role"], "ci");
    let wrong_iss = with(claims.clone(), "iss", json!(ISSUER));
    refused(
        &login(
            &state,
            "oidc",
            json!({"jwt": ec.sign(Some("k"), &wrong_iss)}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid issuer",
    );

    // Static keys on a jwt mount: an Ed25519 PEM key verifies; other keys do not.
    let ed = ed_key();
    let (state2, root2) = node("jwt", "jwt").await;
    ok(&call(
        &state2,
        "POST",
        "/v1/auth/jwt/config",
        Some(&root2),
        Some(json!({"jwt_validation_pubkeys": [ed.ed_pem()], "bound_issuer": ISSUER})),
    )
    .await);
    ok(&call(
        &state2,
        "POST",
        "/v1/auth/jwt/role/r",
        Some(&root2),
        Some(json!({
        "role_type": "jwt", "user_claim": "sub", "bound_subject": "svc", "token_policies": "reader",
        "expiration_leeway": 1000})),
    )
    .await);
    // No exp: iat plus the role's expiration leeway.
    let c = json!({"iss": ISSUER, "sub": "svc", "iat": now() - 900});
    ok(&login(
        &state2,
        "jwt",
        json!({"role": "r", "jwt": ed.sign(None, &c)}),
    )
    .await);
    refused(
        &login(
            &state2,
            "jwt",
            json!({"role": "r", "jwt": ec.sign(None, &c)}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "no known key successfully validated the token signature",
    );
    let old = json!({"iss": ISSUER, "sub": "svc", "iat": now() - 2000});
    refused(
        &login(
            &state2,
            "jwt",
            json!({"role": "r", "jwt": ed.sign(None, &old)}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "expired",
    );
}

// --- Kubernetes ----------------------------------------------------------------------------

fn sa_claims(ns: &str, name: &str, uid: &str, aud: &str) -> Value {
    json!({
        "iss": "https://kubernetes.default.svc.cluster.local", "aud": [aud],
        "sub": format!("system:serviceaccount:{ns}:{name}"),
        "iat": now(), "exp": now() + 600,
        "kubernetes.io": {"namespace": ns, "serviceaccount": {"name": name, "uid": uid},
                          "pod": {"name": "p-1", "uid": "pod-uid"}},
    })
}

fn reviewed(ns: &str, name: &str, uid: &str) -> Value {
    json!({"authenticated": true, "audiences": ["vault"],
           "user": {"username": format!("system:serviceaccount:{ns}:{name}"), "uid": uid,
                    "groups": ["system:serviceaccounts"]}})
}

#[tokio::test]
async fn kubernetes_login_through_token_review() {
    let (served, base) = serve().await;
    *served.reviewer.lock().unwrap() = "reviewer-jwt".into();
    let key = rsa_key();
    let good = key.sign(
        Some("k8s"),
        &sa_claims("production", "webapp-sa", "12345-abcde-67890", "vault"),
    );
    let legacy = key.sign(
        None,
        &json!({
            "iss": "kubernetes/serviceaccount",
            "kubernetes.io/serviceaccount/namespace": "production",
            "kubernetes.io/serviceaccount/secret.name": "webapp-sa-token-abcde",
            "kubernetes.io/serviceaccount/service-account.name": "webapp-sa",
            "kubernetes.io/serviceaccount/service-account.uid": "12345-abcde-67890",
            "sub": "system:serviceaccount:production:webapp-sa",
        }),
    );
    let other_sa = key.sign(None, &sa_claims("production", "db-sa", "u-db", "vault"));
    let dev_ns = key.sign(None, &sa_claims("dev", "webapp-sa", "u-dev", "vault"));
    let wrong_aud = key.sign(
        None,
        &sa_claims("production", "webapp-sa", "12345-abcde-67890", "other"),
    );
    let revoked = key.sign(None, &json!({"revoked": true, "aud": ["vault"],
        "kubernetes.io": {"namespace": "production", "serviceaccount": {"name": "webapp-sa", "uid": "old"}}}));
    let liar = key.sign(
        None,
        &sa_claims("production", "webapp-sa", "forged-uid", "vault"),
    );
    {
        let mut r = served.reviews.lock().unwrap();
        r.insert(
            good.clone(),
            reviewed("production", "webapp-sa", "12345-abcde-67890"),
        );
        r.insert(legacy.clone(), json!({"authenticated": true,
            "user": {"username": "system:serviceaccount:production:webapp-sa", "uid": "12345-abcde-67890"}}));
        r.insert(other_sa.clone(), reviewed("production", "db-sa", "u-db"));
        r.insert(dev_ns.clone(), reviewed("dev", "webapp-sa", "u-dev"));
        // The API server knows the forged token's signer, but not that uid.
        r.insert(
            liar.clone(),
            reviewed("production", "webapp-sa", "12345-abcde-67890"),
        );
    }
    let (state, root) = node("kubernetes", "kubernetes").await;
    ok(&call(&state, "POST", "/v1/auth/kubernetes/config", Some(&root), Some(json!({
        "kubernetes_host": base, "token_reviewer_jwt": "reviewer-jwt", "disable_local_ca_jwt": true,
    }))).await);
    let cfg = call(
        &state,
        "GET",
        "/v1/auth/kubernetes/config",
        Some(&root),
        None,
    )
    .await;
    assert_eq!(cfg.body["data"]["kubernetes_host"], base);
    assert!(
        cfg.body["data"].get("token_reviewer_jwt").is_none(),
        "the reviewer JWT is never shown"
    );
    let r = call(
        &state,
        "POST",
        "/v1/auth/kubernetes/role/webapp",
        Some(&root),
        Some(json!({"bound_service_account_names": "webapp-sa"})),
    )
    .await;
    refused(
        &r,
        StatusCode::BAD_REQUEST,
        "bound_service_account_namespaces",
    );
    ok(&call(&state, "POST", "/v1/auth/kubernetes/role/webapp", Some(&root), Some(json!({
        "bound_service_account_names": ["webapp-*"], "bound_service_account_namespaces": ["prod*"],
        "audience": "vault", "token_policies": "reader", "token_ttl": 3600,
    }))).await);

    let a = login(&state, "kubernetes", json!({"role": "webapp", "jwt": good})).await;
    ok(&a);
    let auth = &a.body["auth"];
    assert_eq!(auth["policies"], json!(["default", "reader"]));
    assert_eq!(
        auth["metadata"],
        json!({
            "role": "webapp", "service_account_name": "webapp-sa",
            "service_account_namespace": "production", "service_account_uid": "12345-abcde-67890",
            "service_account_secret_name": "",
        })
    );
    assert_eq!(auth["lease_duration"], 3600);
    let entity = auth["entity_id"].as_str().unwrap().to_owned();
    assert!(!entity.is_empty());
    let token = auth["client_token"].as_str().unwrap();
    let me = call(
        &state,
        "GET",
        "/v1/auth/token/lookup-self",
        Some(token),
        None,
    )
    .await;
    assert_eq!(
        me.body["data"]["display_name"],
        "kubernetes-production-webapp-sa"
    );
    ok(&call(&state, "GET", "/v1/kv/app", Some(token), None).await);
    {
        let received = served.received.lock().unwrap();
        let (bearer, body) = received.last().unwrap();
        assert_eq!(bearer, "reviewer-jwt");
        assert_eq!(body["spec"]["token"], good);
        assert_eq!(body["spec"]["audiences"], json!(["vault"]));
    }

    // Legacy secret tokens carry their secret's name; same account, same entity. (This one
    // has no audience, so a role without one takes it.)
    ok(&call(
        &state,
        "POST",
        "/v1/auth/kubernetes/role/legacy",
        Some(&root),
        Some(json!({
        "bound_service_account_names": "webapp-sa", "bound_service_account_namespaces": "*",
        "policies": "reader"})),
    )
    .await);
    let a = login(
        &state,
        "kubernetes",
        json!({"role": "legacy", "jwt": legacy}),
    )
    .await;
    ok(&a);
    assert_eq!(
        a.body["auth"]["metadata"]["service_account_secret_name"],
        "webapp-sa-token-abcde"
    );
    assert_eq!(a.body["auth"]["entity_id"], entity.as_str());

    // Refusals: 403 for whatever the bindings or the review refuse.
    for (jwt, case) in [
        (other_sa.as_str(), "unbound service account"),
        (dev_ns.as_str(), "unbound namespace"),
        (wrong_aud.as_str(), "wrong audience"),
        (revoked.as_str(), "review says not authenticated"),
        (liar.as_str(), "review names another uid"),
        ("garbage", "not a JWT"),
    ] {
        let a = login(&state, "kubernetes", json!({"role": "webapp", "jwt": jwt})).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{case}: {}", a.body);
    }
    refused(
        &login(&state, "kubernetes", json!({"role": "nope", "jwt": good})).await,
        StatusCode::BAD_REQUEST,
        "invalid role name",
    );
    refused(
        &login(&state, "kubernetes", json!({"jwt": good})).await,
        StatusCode::BAD_REQUEST,
        "missing role",
    );

    // A reviewer the API server does not accept: 403.
    ok(&call(
        &state,
        "POST",
        "/v1/auth/kubernetes/config",
        Some(&root),
        Some(json!({
        "kubernetes_host": base, "token_reviewer_jwt": "stale", "disable_local_ca_jwt": true})),
    )
    .await);
    let a = login(&state, "kubernetes", json!({"role": "webapp", "jwt": good})).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    // No reviewer JWT: the client's own JWT is the bearer, as Vault does.
    ok(&call(
        &state,
        "POST",
        "/v1/auth/kubernetes/config",
        Some(&root),
        Some(json!({
        "kubernetes_host": base, "disable_local_ca_jwt": true})),
    )
    .await);
    ok(&login(&state, "kubernetes", json!({"role": "webapp", "jwt": good})).await);
    assert_eq!(served.received.lock().unwrap().last().unwrap().0, good);

    // pem_keys: the signature is checked before the review.
    let ed = ed_key();
    ok(&call(
        &state,
        "POST",
        "/v1/auth/kubernetes/config",
        Some(&root),
        Some(json!({
        "kubernetes_host": base, "disable_local_ca_jwt": true, "pem_keys": [ed.ed_pem()]})),
    )
    .await);
    let before = served.received.lock().unwrap().len();
    let a = login(&state, "kubernetes", json!({"role": "webapp", "jwt": good})).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    assert_eq!(
        served.received.lock().unwrap().len(),
        before,
        "no review for a bad signature"
    );
    let signed = ed.sign(
        None,
        &sa_claims("production", "webapp-sa", "12345-abcde-67890", "vault"),
    );
    served.reviews.lock().unwrap().insert(
        signed.clone(),
        reviewed("production", "webapp-sa", "12345-abcde-67890"),
    );
    ok(&login(
        &state,
        "kubernetes",
        json!({"role": "webapp", "jwt": signed}),
    )
    .await);

    // alias_name_source=serviceaccount_name: another alias, so another entity.
    ok(&call(
        &state,
        "POST",
        "/v1/auth/kubernetes/role/webapp",
        Some(&root),
        Some(json!({"alias_name_source": "serviceaccount_name"})),
    )
    .await);
    let a = login(
        &state,
        "kubernetes",
        json!({"role": "webapp", "jwt": signed}),
    )
    .await;
    ok(&a);
    assert_ne!(a.body["auth"]["entity_id"], entity.as_str());

    // The token renews while its role exists, and not after.
    let token = a.body["auth"]["client_token"].as_str().unwrap().to_owned();
    ok(&call(
        &state,
        "POST",
        "/v1/auth/token/renew-self",
        Some(&token),
        Some(json!({})),
    )
    .await);
    ok(&call(
        &state,
        "DELETE",
        "/v1/auth/kubernetes/role/webapp",
        Some(&root),
        None,
    )
    .await);
    let r = call(
        &state,
        "POST",
        "/v1/auth/token/renew-self",
        Some(&token),
        Some(json!({})),
    )
    .await;
    refused(&r, StatusCode::BAD_REQUEST, "does not exist during renewal");
}
