//! Standby → active request forwarding, both ends.
//!
//! A standby hands every request that is not a local raw endpoint to the active node (through
//! [`Forwarding::forward`](tresor_core::Forwarding::forward), i.e. the cluster port) and returns
//! its status, content type and body unchanged. The active node replays a
//! [`ForwardedRequest`] through its own router with [`serve_forwarded`].

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tresor_core::{ForwardedRequest, ForwardedResponse};

use crate::error::ApiError;
use crate::router::{AppState, router};

/// Marks a request replayed on the active node, so it is never forwarded a second time.
pub const FORWARDED_HEADER: &str = "x-tresor-forwarded";

/// The error a standby answers when it cannot reach an active node (retriable).
pub const NO_ACTIVE_NODE: &str = "node is not active; no active node is known, retry";

/// Request headers carried to the active node.
const CARRIED: &[&str] = &[
    "x-vault-token",
    "authorization",
    "x-vault-wrap-ttl",
    "content-type",
    "x-vault-request",
];

/// Whether `path` (without `/v1/`) is always answered by the receiving node itself: status,
/// health and the endpoints a sealed or joining node must serve (declared in
/// [`crate::raw_endpoints`]).
pub(crate) fn is_local(path: &str) -> bool {
    crate::raw_endpoints::lookup(path).is_some_and(|e| e.local)
}

/// Whether a standby tries `req` itself before forwarding it: a GET or LIST without response
/// wrapping, and without `X-Vault-Inconsistent: forward-active-node` (a client asking for the
/// active node's answer gets it, though a standby's own answer is just as current). The core
/// decides the rest (see `tresor_core`'s standby module).
pub(crate) fn may_serve_on_standby(req: &crate::router::ApiRequest) -> bool {
    let read = req.method == Method::GET || req.method.as_str() == "LIST";
    let wrapped = crate::logical::wrap_ttl(&req.headers).is_ok_and(|t| t.is_some());
    let to_active = req
        .headers
        .get("x-vault-inconsistent")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("forward-active-node"));
    read && !wrapped && !to_active
}

/// Builds the message a standby sends for a request.
pub(crate) fn to_forwarded(
    method: &Method,
    path_and_query: &str,
    headers: &HeaderMap,
    body: &Bytes,
    client: &crate::client_addr::ClientAddr,
) -> ForwardedRequest {
    let headers = CARRIED
        .iter()
        .filter_map(|name| {
            headers
                .get(*name)
                .and_then(|v| v.to_str().ok())
                .map(|v| ((*name).to_owned(), v.to_owned()))
        })
        .collect();
    ForwardedRequest {
        method: method.as_str().to_owned(),
        path_and_query: path_and_query.to_owned(),
        headers,
        body: body.to_vec(),
        remote_addr: client.remote.map(|a| a.to_string()),
        forwarded_from: client.local.map(|a| a.to_string()),
    }
}

/// Turns the active node's answer back into an HTTP response.
pub(crate) fn from_forwarded(resp: ForwardedResponse) -> Response {
    let status = StatusCode::from_u16(resp.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut out = (status, resp.body).into_response();
    out.headers_mut().remove("content-type");
    if let Some(ct) = resp
        .content_type
        .and_then(|c| HeaderValue::from_str(&c).ok())
    {
        out.headers_mut().insert("content-type", ct);
    }
    out
}

/// The retriable 503 of a standby that knows no reachable active node.
pub(crate) fn no_active_node() -> Response {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, NO_ACTIVE_NODE).into_response()
}

/// Active node: runs a request forwarded by a standby through this node's router.
pub async fn serve_forwarded(state: AppState, req: ForwardedRequest) -> ForwardedResponse {
    let fail = |status: StatusCode, msg: &str| ForwardedResponse {
        status: status.as_u16(),
        content_type: Some("application/json".into()),
        body: serde_json::json!({ "errors": [msg] })
            .to_string()
            .into_bytes(),
    };
    let Ok(method) = Method::from_bytes(req.method.as_bytes()) else {
        return fail(StatusCode::BAD_REQUEST, "invalid forwarded method");
    };
    let mut builder = Request::builder()
        .method(method)
        .uri(&req.path_and_query)
        .header(FORWARDED_HEADER, "1");
    for (name, value) in &req.headers {
        if CARRIED.contains(&name.as_str()) {
            builder = builder.header(name.as_str(), value.as_str());
        }
    }
    let Ok(mut request) = builder.body(Body::from(req.body)) else {
        return fail(StatusCode::BAD_REQUEST, "invalid forwarded request");
    };
    request
        .extensions_mut()
        .insert(crate::client_addr::ClientAddr {
            remote: req.remote_addr.as_deref().and_then(|a| a.parse().ok()),
            forwarded_from: Some(
                req.forwarded_from
                    .clone()
                    .unwrap_or_else(|| "standby".into()),
            ),
            local: None,
        });
    // A panic while answering a forwarded request is a 500 for that request, as on a listener.
    let response = match crate::panic_guard::catch_panics(router(state))
        .oneshot(request)
        .await
    {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match axum::body::to_bytes(response.into_body(), usize::MAX).await {
        Ok(body) => ForwardedResponse {
            status,
            content_type,
            body: body.to_vec(),
        },
        Err(_) => fail(
            StatusCode::INTERNAL_SERVER_ERROR,
            "reading the active node's answer",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_status_and_join_endpoints_are_local() {
        for p in [
            "sys/health",
            "sys/seal-status",
            "sys/leader",
            "sys/unseal",
            "sys/init",
            "sys/storage/raft/join",
        ] {
            assert!(is_local(p), "{p}");
        }
        for p in [
            "secret/data/a",
            "sys/mounts",
            "sys/seal",
            "sys/step-down",
            "sys/storage/raft/configuration",
            "sys/storage/raft/bootstrap/challenge",
        ] {
            assert!(!is_local(p), "{p}");
        }
    }

    #[test]
    fn only_relevant_headers_are_carried() {
        let mut h = HeaderMap::new();
        h.insert("x-vault-token", HeaderValue::from_static("tok"));
        h.insert("content-type", HeaderValue::from_static("application/json"));
        h.insert("cookie", HeaderValue::from_static("nope"));
        let f = to_forwarded(
            &Method::PUT,
            "/v1/a?b=c",
            &h,
            &Bytes::from_static(b"{}"),
            &Default::default(),
        );
        assert_eq!(f.method, "PUT");
        assert_eq!(f.path_and_query, "/v1/a?b=c");
        assert_eq!(f.body, b"{}");
        let names: Vec<&str> = f.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["x-vault-token", "content-type"]);
    }

    #[test]
    fn answers_come_back_unchanged() {
        let r = from_forwarded(ForwardedResponse {
            status: 404,
            content_type: Some("application/json".into()),
            body: b"{\"errors\":[]}".to_vec(),
        });
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(r.headers().get("content-type").unwrap(), "application/json");
    }
}
