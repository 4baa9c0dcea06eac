//! `GET /v1/sys/metrics`: the node's metrics in Vault's JSON, or in Prometheus text format with
//! `?format=prometheus` (or an `Accept` header asking for it, as Vault reads it). Always
//! answered by the node asked (never forwarded to the active node), and before rendering the
//! core's state gauges are refreshed, so a sealed node reports `vault_core_unsealed 0`.
//!
//! Authentication as Vault: a token with `read` on `sys/metrics`, unless the listener's
//! `telemetry { unauthenticated_metrics_access = true }` allows anyone (then the endpoint also
//! answers while the node is sealed). An unsealed standby has the active node check the token
//! (a forwarded `sys/capabilities-self`) and answers with its own metrics; with no active node
//! reachable it answers a clear, retriable 503, never "sealed". With `prometheus_retention_time = 0` the Prometheus
//! format is refused with Vault's 400 `prometheus is not enabled`.

use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use tresor_telemetry::{RenderOptions, prometheus, vault_json};

use crate::error::ApiError;
use crate::router::{ApiRequest, AppState};

/// The route's path under `/v1/`.
pub(crate) const PATH: &str = "sys/metrics";

/// How a listener serves `sys/metrics`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricsSettings {
    /// Serve without a token (the listener's `unauthenticated_metrics_access`).
    pub unauthenticated_access: bool,
    /// Whether the Prometheus format is served (`prometheus_retention_time` > 0).
    pub prometheus_enabled: bool,
    /// Prefix, host name handling and Prometheus retention.
    pub render: RenderOptions,
}

impl Default for MetricsSettings {
    /// Token required, Prometheus on with Tresor's 24 h retention, names prefixed `vault`.
    fn default() -> Self {
        MetricsSettings {
            unauthenticated_access: false,
            prometheus_enabled: true,
            render: RenderOptions {
                retention: Some(std::time::Duration::from_secs(86_400)),
                ..RenderOptions::default()
            },
        }
    }
}

/// The format a request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// Vault's JSON (the default).
    Json,
    /// Prometheus text exposition format.
    Prometheus,
    /// Anything else given as `format`.
    Unknown(String),
}

/// The `format` query parameter; without one, an `Accept` header starting with
/// `application/openmetrics-text` (the first one) or `prometheus` (any, e.g. Vault's
/// `prometheus/telemetry`) asks for Prometheus.
pub(crate) fn requested_format(format: Option<&str>, headers: &HeaderMap) -> Format {
    match format.map(str::trim).filter(|f| !f.is_empty()) {
        Some("prometheus") => return Format::Prometheus,
        Some(other) => return Format::Unknown(other.to_owned()),
        None => {}
    }
    let accepts: Vec<&str> = headers
        .get_all("accept")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let first_openmetrics = accepts
        .first()
        .is_some_and(|a| a.trim_start().starts_with("application/openmetrics-text"));
    let any_prometheus = accepts.iter().any(|a| {
        a.split(',')
            .any(|part| part.trim_start().starts_with("prometheus"))
    });
    if first_openmetrics || any_prometheus {
        Format::Prometheus
    } else {
        Format::Json
    }
}

/// A raw answer of Vault's metrics handler: a status, a content type and a body.
fn raw(status: StatusCode, content_type: &'static str, body: String) -> Response {
    (status, [("content-type", content_type)], body).into_response()
}

/// The standby's answer when no active node could check the token (retriable).
pub(crate) const STANDBY_CANNOT_CHECK: &str = "this standby cannot check the token for sys/metrics: no active node answered; retry, \
     ask the active node, or set unauthenticated_metrics_access on this listener";

/// Standby: asks the active node (over the cluster port) what the request's token may do on
/// `sys/metrics`; `read` (or `root`) lets this node answer.
async fn check_on_active_node(state: &AppState, req: &ApiRequest) -> Result<(), ApiError> {
    let body = axum::body::Bytes::from_static(br#"{"paths":["sys/metrics"]}"#);
    let fwd = crate::forward::to_forwarded(
        &Method::POST,
        "/v1/sys/capabilities-self",
        &req.headers,
        &body,
        &req.client,
    );
    let unavailable = || ApiError::new(StatusCode::SERVICE_UNAVAILABLE, STANDBY_CANNOT_CHECK);
    let resp = state.core.ha().forwarding.forward(fwd).await.map_err(|e| {
        tracing::debug!(error = %e, "checking a sys/metrics token on the active node failed");
        unavailable()
    })?;
    match resp.status {
        200 => {
            let caps = capabilities_in(&resp.body);
            if caps.iter().any(|c| c == "read" || c == "root") {
                Ok(())
            } else {
                Err(ApiError::from(tresor_core::CoreError::PermissionDenied))
            }
        }
        400 | 403 => Err(ApiError::from(tresor_core::CoreError::PermissionDenied)),
        _ => Err(unavailable()),
    }
}

/// The `capabilities` list of a `sys/capabilities-self` answer (under `data`, or at the top
/// level as Vault also returns it); empty when absent or malformed.
fn capabilities_in(body: &[u8]) -> Vec<String> {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    let list = v
        .get("data")
        .and_then(|d| d.get("capabilities"))
        .or_else(|| v.get("capabilities"));
    list.and_then(serde_json::Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Handles `sys/metrics`; `None` for any other path.
pub(crate) async fn handle(state: &AppState, req: &ApiRequest) -> Option<Response> {
    if req.path.as_str() != PATH {
        return None;
    }
    Some(
        serve(state, req)
            .await
            .unwrap_or_else(IntoResponse::into_response),
    )
}

async fn serve(state: &AppState, req: &ApiRequest) -> Result<Response, ApiError> {
    if req.method != Method::GET {
        return Err(ApiError::bare(StatusCode::METHOD_NOT_ALLOWED));
    }
    let settings = &state.metrics;
    if !settings.unauthenticated_access {
        if state.core.is_standby() && !req.headers.contains_key(crate::forward::FORWARDED_HEADER) {
            // An unsealed standby has no token store: the active node checks the token, and
            // this node then answers with its own metrics.
            check_on_active_node(state, req).await?;
        } else {
            state
                .core
                .check_metrics_access(req.token().as_deref())
                .await
                .map_err(ApiError::from)?;
        }
    }
    let format = requested_format(req.query.get("format").map(String::as_str), &req.headers);
    let core = &state.core;
    Ok(match format {
        Format::Prometheus if !settings.prometheus_enabled => raw(
            StatusCode::BAD_REQUEST,
            "text/plain",
            "prometheus is not enabled".into(),
        ),
        Format::Prometheus => {
            core.refresh_scrape_metrics().await;
            let text = prometheus::render(&core.metrics().snapshot(), &settings.render);
            raw(StatusCode::OK, prometheus::CONTENT_TYPE, text)
        }
        Format::Json => {
            core.refresh_scrape_metrics().await;
            let now = time::OffsetDateTime::now_utc();
            match vault_json::render(&core.metrics().snapshot(), &settings.render, now) {
                Ok(json) => raw(StatusCode::OK, "application/json", json),
                Err(e) => raw(
                    StatusCode::BAD_REQUEST,
                    "text/plain",
                    format!("error while marshalling the in-memory metrics: {e}"),
                ),
            }
        }
        Format::Unknown(f) => raw(
            StatusCode::BAD_REQUEST,
            "text/plain",
            format!("metric response format \"{f}\" unknown"),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("accept", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn capabilities_are_read_from_data_or_the_top_level() {
        let body = br#"{"data":{"capabilities":["read","list"],"sys/metrics":["read","list"]}}"#;
        assert_eq!(capabilities_in(body), vec!["read", "list"]);
        assert_eq!(
            capabilities_in(br#"{"capabilities":["root"]}"#),
            vec!["root"]
        );
        assert!(capabilities_in(br#"{"data":{}}"#).is_empty());
        assert!(capabilities_in(b"not json").is_empty());
    }

    #[test]
    fn the_format_comes_from_the_query_then_the_accept_header() {
        let none = HeaderMap::new();
        assert_eq!(requested_format(None, &none), Format::Json);
        assert_eq!(requested_format(Some(""), &none), Format::Json);
        assert_eq!(
            requested_format(Some("prometheus"), &none),
            Format::Prometheus
        );
        assert_eq!(
            requested_format(Some("xml"), &none),
            Format::Unknown("xml".into())
        );
        assert_eq!(
            requested_format(None, &accept(&["prometheus"])),
            Format::Prometheus
        );
        assert_eq!(
            requested_format(None, &accept(&["application/json", "prometheus/telemetry"])),
            Format::Prometheus
        );
        assert_eq!(
            requested_format(
                None,
                &accept(&["application/openmetrics-text;version=1.0.0,text/plain;q=0.5"])
            ),
            Format::Prometheus
        );
        assert_eq!(
            requested_format(None, &accept(&["application/json"])),
            Format::Json
        );
        // The query wins over the header.
        assert_eq!(
            requested_format(Some("json"), &accept(&["prometheus"])),
            Format::Unknown("json".into())
        );
    }
}
