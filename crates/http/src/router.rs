//! The one entry point: every request under `/v1/` is dispatched by path, raw sys endpoints
//! first, then the logical pipeline.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use tresor_core::Core;
use tresor_sdk::path::{CanonicalPath, Verdict, canonicalize};

use crate::error::ApiError;
use crate::{logical, raw};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The node's core.
    pub core: Arc<Core>,
    /// Largest accepted request body, bytes (0 = unlimited).
    pub max_request_size: usize,
    /// Longest a request may run.
    pub max_request_duration: Duration,
    /// How this listener serves `sys/metrics`.
    pub metrics: crate::metrics::MetricsSettings,
    /// Which unauthenticated raw endpoints this listener turns off.
    pub raw_switches: crate::raw_endpoints::RawSwitches,
    /// Limits on the shape of JSON request bodies, checked before they are parsed.
    pub json_limits: crate::json_limits::JsonLimits,
}

impl AppState {
    /// A listener's state with Vault's defaults: 32 MiB bodies, 90 s per request, metrics
    /// behind a token, Vault's JSON limits, every raw endpoint served.
    pub fn new(core: Arc<Core>) -> AppState {
        AppState {
            core,
            max_request_size: 32 * 1024 * 1024,
            max_request_duration: Duration::from_secs(90),
            metrics: Default::default(),
            raw_switches: Default::default(),
            json_limits: Default::default(),
        }
    }
}

/// The axum router for the API listener.
pub fn router(state: AppState) -> Router {
    Router::new().fallback(dispatch).with_state(state)
}

/// A request reduced to what the handlers need.
pub(crate) struct ApiRequest {
    pub(crate) method: Method,
    /// The canonical path after `/v1/`: every handler and the core see this one string.
    pub(crate) path: CanonicalPath,
    pub(crate) query: BTreeMap<String, String>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) json_limits: crate::json_limits::JsonLimits,
    /// Who sent it.
    pub(crate) client: crate::client_addr::ClientAddr,
}

/// What audit entries record about a request's client: its address, the forwarding standby
/// and the headers.
pub(crate) fn request_meta(
    client: &crate::client_addr::ClientAddr,
    headers: &HeaderMap,
) -> tresor_core::RequestMeta {
    tresor_core::RequestMeta {
        remote: client.remote,
        forwarded_from: client.forwarded_from.clone(),
        headers: headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect(),
    }
}

impl ApiRequest {
    /// What audit entries record about the client: address, forwarding standby, headers.
    pub(crate) fn meta(&self) -> tresor_core::RequestMeta {
        request_meta(&self.client, &self.headers)
    }

    /// The client token: `X-Vault-Token`, else `Authorization: Bearer`.
    pub(crate) fn token(&self) -> Option<String> {
        token_of(&self.headers)
    }

    /// The JSON body as an object (empty body = empty object).
    pub(crate) fn json_body(&self) -> Result<Map<String, Value>, ApiError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Map::new());
        }
        crate::json_limits::check(&self.body, &self.json_limits)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        match serde_json::from_slice::<Value>(&self.body) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(Value::Null) => Ok(Map::new()),
            Ok(_) => Err(ApiError::bad_request(
                "failed to parse JSON input: body must be a JSON object",
            )),
            Err(e) => Err(ApiError::bad_request(format!(
                "failed to parse JSON input: {e}"
            ))),
        }
    }

    /// The query parameters as a data object.
    pub(crate) fn query_data(&self) -> Map<String, Value> {
        self.query
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect()
    }
}

/// The client token of a request's headers: `X-Vault-Token`, else `Authorization: Bearer`.
pub(crate) fn token_of(headers: &HeaderMap) -> Option<String> {
    if let Some(t) = headers.get("x-vault-token").and_then(|v| v.to_str().ok()) {
        return Some(t.trim().to_owned());
    }
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_owned())
}

fn parse_query(q: Option<&str>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for pair in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.insert(percent_decode(k), percent_decode(v));
    }
    out
}

/// Decodes `%XX` escapes and `+` (as space) in a query component.
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hex = s
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// How much of an oversized body is read and thrown away so the client, still sending, gets
/// the 413 instead of a reset connection (beyond this the connection is simply closed).
const DRAIN_CAP: usize = 64 * 1024 * 1024;

/// Reads the body up to `limit` bytes. Over the limit, the rest is drained (up to
/// [`DRAIN_CAP`]) and 413 is returned; a broken body is a 400.
async fn read_body(body: Body, limit: usize) -> Result<Bytes, StatusCode> {
    use http_body_util::BodyExt as _;
    let mut body = body;
    let mut buf = bytes::BytesMut::new();
    let mut seen: usize = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| StatusCode::BAD_REQUEST)?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen = seen.saturating_add(data.len());
        if seen > limit {
            if seen > limit.saturating_add(DRAIN_CAP) {
                return Err(StatusCode::PAYLOAD_TOO_LARGE);
            }
            buf.clear();
            continue;
        }
        buf.extend_from_slice(&data);
    }
    if seen > limit {
        return Err(StatusCode::PAYLOAD_TOO_LARGE);
    }
    Ok(buf.freeze())
}

/// The answer to a path that is not clean: a 307 to the clean path, the query kept (the
/// method and body are repeated by the client, as OpenBao answers).
fn redirect(clean: &str, query: Option<&str>) -> Response {
    let location = match query {
        Some(q) => format!("{clean}?{q}"),
        None => clean.to_owned(),
    };
    match axum::http::HeaderValue::from_str(&location) {
        Ok(value) => {
            let mut resp = StatusCode::TEMPORARY_REDIRECT.into_response();
            resp.headers_mut()
                .insert(axum::http::header::LOCATION, value);
            resp
        }
        Err(_) => ApiError::bad_request("invalid request path").into_response(),
    }
}

/// The answer to a request path that is not canonical (stage 1 of the pipeline).
fn refuse_path(verdict: Verdict, query: Option<&str>) -> Response {
    match verdict {
        Verdict::Redirect(clean) => redirect(&clean, query),
        Verdict::Invalid(reason) => ApiError::bad_request(reason).into_response(),
        Verdict::NotApi | Verdict::Canonical(_) => {
            ApiError::bare(StatusCode::NOT_FOUND).into_response()
        }
    }
}

async fn dispatch(State(state): State<AppState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    // Stage 1: the canonical path, or the answer that refuses it.
    let path = match canonicalize(parts.uri.path()) {
        Verdict::Canonical(path) => path,
        other => return refuse_path(other, parts.uri.query()),
    };
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    // Snapshots stream in and out, outside the buffered pipeline and its time limit.
    if crate::raft_snapshot::is_snapshot_path(path.as_str()) {
        let client = parts
            .extensions
            .get::<crate::client_addr::ClientAddr>()
            .cloned()
            .unwrap_or_default();
        return crate::raft_snapshot::handle(
            &state,
            parts.method,
            path.as_str(),
            &path_and_query,
            &parts.headers,
            &client,
            Body::new(body),
        )
        .await;
    }
    let limit = if state.max_request_size == 0 {
        usize::MAX
    } else {
        state.max_request_size
    };
    // The body is read inside the request's time limit: a client that trickles it is cut
    // off with the rest of the request.
    let work = async {
        let body = match read_body(Body::new(body), limit).await {
            Ok(b) => b,
            Err(StatusCode::PAYLOAD_TOO_LARGE) => {
                return ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "http: request body too large",
                )
                .into_response();
            }
            // A broken body, or one the listener's read timeout cut off.
            Err(status) => {
                return ApiError::new(status, "error reading the request body").into_response();
            }
        };
        let api = ApiRequest {
            method: parts.method,
            path,
            query: parse_query(parts.uri.query()),
            headers: parts.headers,
            body,
            json_limits: state.json_limits,
            client: parts
                .extensions
                .get::<crate::client_addr::ClientAddr>()
                .cloned()
                .unwrap_or_default(),
        };
        // Every node answers for its own metrics, sealed or standby.
        if let Some(resp) = crate::metrics::handle(&state, &api).await {
            return resp;
        }
        if !crate::forward::is_local(api.path.as_str()) && state.core.is_standby() {
            if api.headers.contains_key(crate::forward::FORWARDED_HEADER) {
                return crate::forward::no_active_node();
            }
            // Reads a standby may answer itself are tried here first; anything it cannot
            // answer (a write, a path it does not serve, a handler that would write) goes on.
            if crate::forward::may_serve_on_standby(&api) {
                match logical::serve(&state, &api).await {
                    logical::Served::Answer(resp) => return resp,
                    logical::Served::Standby(_) => {}
                }
            }
            let fwd = crate::forward::to_forwarded(
                &api.method,
                &path_and_query,
                &api.headers,
                &api.body,
                &api.client,
            );
            return match state.core.ha().forwarding.forward(fwd).await {
                Ok(resp) => crate::forward::from_forwarded(resp),
                Err(e) => {
                    tracing::debug!(error = %e, "forwarding to the active node failed");
                    crate::forward::no_active_node()
                }
            };
        }
        if let Some(resp) = raw::handle(&state, &api).await {
            return resp;
        }
        logical::handle(&state, api).await
    };
    match tokio::time::timeout(state.max_request_duration, work).await {
        Ok(r) => r,
        Err(_) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "context deadline exceeded")
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        let q = parse_query(Some("list=true&a=b%20c&x+y=1&bad=%zz"));
        assert_eq!(q.get("list").map(String::as_str), Some("true"));
        assert_eq!(q.get("a").map(String::as_str), Some("b c"));
        assert_eq!(q.get("x y").map(String::as_str), Some("1"));
        assert_eq!(q.get("bad").map(String::as_str), Some("%zz"));
    }
}
