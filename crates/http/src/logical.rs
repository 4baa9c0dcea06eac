//! The logical pipeline's HTTP side: method mapping, the `X-Vault-Wrap-TTL` header and Vault's
//! response envelope (plain, wrapped, or a stored envelope returned by an unwrap).

use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use tresor_core::{CoreRequest, Method as CoreMethod, Reply, envelope, wrapped_envelope};
use tresor_sdk::{ResponseStatus, duration};

use crate::error::ApiError;
use crate::router::{ApiRequest, AppState};

/// Go's `strconv.ParseBool`, which Vault applies to `?list=`.
fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Whether a GET is a list (`?list=` with a true value; an empty value is not).
fn is_list(req: &ApiRequest) -> Result<bool, ApiError> {
    match req.query.get("list").map(String::as_str) {
        None | Some("") => Ok(false),
        Some(v) => parse_bool(v).ok_or_else(|| {
            ApiError::bad_request(format!("error parsing list query parameter: {v:?}"))
        }),
    }
}

fn core_method(req: &ApiRequest, list: bool) -> Option<CoreMethod> {
    Some(match req.method.as_str() {
        "GET" if list => CoreMethod::List,
        "GET" => CoreMethod::Get,
        "LIST" => CoreMethod::List,
        "PUT" | "POST" => CoreMethod::Write,
        "PATCH" => CoreMethod::Patch,
        "DELETE" => CoreMethod::Delete,
        _ => return None,
    })
}

/// The wrap TTL asked for with `X-Vault-Wrap-TTL` (Go duration or seconds); `None` when the
/// header is absent, empty or zero.
pub(crate) fn wrap_ttl(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(raw) = headers.get("x-vault-wrap-ttl") else {
        return Ok(None);
    };
    let text = raw
        .to_str()
        .map_err(|_| ApiError::bad_request("error parsing X-Vault-Wrap-TTL header"))?
        .trim();
    if text.is_empty() {
        return Ok(None);
    }
    let secs = duration::parse_secs(text).map_err(|e| {
        ApiError::bad_request(format!("error parsing X-Vault-Wrap-TTL header: {e}"))
    })?;
    Ok(Some(secs).filter(|s| *s > 0))
}

/// The status code of a response's kind.
fn status_code(status: ResponseStatus) -> StatusCode {
    match status {
        ResponseStatus::Ok => StatusCode::OK,
        ResponseStatus::Accepted => StatusCode::ACCEPTED,
        ResponseStatus::NotFound => StatusCode::NOT_FOUND,
        ResponseStatus::InvalidRequest => StatusCode::BAD_REQUEST,
        ResponseStatus::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        ResponseStatus::ClientChosen(c) => {
            StatusCode::from_u16(c).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

fn json_response(status: StatusCode, body: String) -> Response {
    (status, [("content-type", "application/json")], body).into_response()
}

/// A bare (non-JSON) answer a backend asked for with Vault's convention: `data` holding
/// `http_content_type`, `http_raw_body` (base64 of the bytes) and optionally
/// `http_status_code` (200 when absent). Used by the PKI engine's `ca`, `ca/pem`, `ca_chain`,
/// `crl` and `crl/pem`. `None` when `data` is not such an answer.
fn raw_response(data: Option<&serde_json::Map<String, serde_json::Value>>) -> Option<Response> {
    use base64::Engine as _;
    let data = data?;
    let content_type = data.get("http_content_type")?.as_str()?;
    let body = base64::engine::general_purpose::STANDARD
        .decode(data.get("http_raw_body")?.as_str()?)
        .ok()?;
    let status = data
        .get("http_status_code")
        .and_then(serde_json::Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .and_then(|c| StatusCode::from_u16(c).ok())
        .unwrap_or(StatusCode::OK);
    let content_type = axum::http::HeaderValue::from_str(content_type).ok()?;
    Some(
        (
            status,
            [(axum::http::header::CONTENT_TYPE, content_type)],
            body,
        )
            .into_response(),
    )
}

/// What [`serve`] made of a request.
pub(crate) enum Served {
    /// The answer to send.
    Answer(Response),
    /// This node is a standby that cannot answer the request: forward it (the error is the
    /// answer when it cannot be forwarded).
    Standby(tresor_core::CoreError),
}

pub(crate) async fn handle(state: &AppState, req: ApiRequest) -> Response {
    match serve(state, &req).await {
        Served::Answer(resp) => resp,
        // The node lost or has not yet taken the active role: retriable.
        Served::Standby(e) => ApiError::from(e).into_response(),
    }
}

/// Runs a logical request; a standby's refusal to answer it comes back as
/// [`Served::Standby`] rather than as an error response.
pub(crate) async fn serve(state: &AppState, req: &ApiRequest) -> Served {
    let list = match req.method {
        Method::GET => match is_list(req) {
            Ok(l) => l,
            Err(e) => return Served::Answer(e.into_response()),
        },
        _ => false,
    };
    let Some(method) = core_method(req, list) else {
        return Served::Answer(ApiError::bare(StatusCode::METHOD_NOT_ALLOWED).into_response());
    };
    let data = match method {
        CoreMethod::Write | CoreMethod::Patch => match req.json_body() {
            Ok(d) => d,
            Err(e) => return Served::Answer(e.into_response()),
        },
        _ => {
            // The query is the request's data (checked against parameter constraints), all
            // of it but a list request's own `list`.
            let mut d = req.query_data();
            if method == CoreMethod::List {
                d.remove("list");
            }
            d
        }
    };
    let token = req.token();
    let path = req.path.clone();
    let core_req = CoreRequest {
        method,
        path,
        data,
        token,
    };
    let reply = match wrap_ttl(&req.headers) {
        Ok(ttl) => state.core.serve_with(core_req, ttl, &req.meta()).await,
        Err(e) => return Served::Answer(e.into_response()),
    };
    Served::Answer(match reply {
        Err(e @ tresor_core::CoreError::Standby { .. }) => return Served::Standby(e),
        Err(e) => ApiError::from(e).into_response(),
        Ok(reply) => render(req, method, reply),
    })
}

/// The HTTP answer of a served request.
fn render(req: &ApiRequest, method: CoreMethod, reply: Reply) -> Response {
    match reply {
        Reply::Wrapped(info) => json_response(StatusCode::OK, wrapped_envelope(&info).to_string()),
        Reply::Unwrapped(text) => json_response(StatusCode::OK, text.to_string()),
        Reply::Response(None) => match method {
            CoreMethod::Get | CoreMethod::List => {
                ApiError::bare(StatusCode::NOT_FOUND).into_response()
            }
            _ => StatusCode::NO_CONTENT.into_response(),
        },
        Reply::Response(Some(resp)) => {
            if let Some(raw) = raw_response(resp.data.as_ref()) {
                return raw;
            }
            let empty = resp.data.is_none()
                && resp.auth.is_none()
                && resp.secret.is_none()
                && resp.warnings.is_empty();
            if empty && resp.status == ResponseStatus::NotFound {
                return ApiError::bare(StatusCode::NOT_FOUND).into_response();
            }
            if empty && resp.status == ResponseStatus::Ok && req.method != Method::GET {
                return StatusCode::NO_CONTENT.into_response();
            }
            let status = status_code(resp.status);
            let request_id = uuid::Uuid::new_v4().to_string();
            json_response(status, envelope(&resp, &request_id).to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_bodies_need_a_content_type_and_base64() {
        let m = |v: serde_json::Value| v.as_object().cloned().unwrap();
        let ok = m(
            serde_json::json!({"http_content_type": "application/pkix-crl", "http_raw_body": "AAEC"}),
        );
        let r = raw_response(Some(&ok)).unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], "application/pkix-crl");
        for bad in [
            serde_json::json!({"http_raw_body": "AAEC"}),
            serde_json::json!({"http_content_type": "x/y", "http_raw_body": "!!"}),
            serde_json::json!({"http_content_type": "x\ny", "http_raw_body": "AAEC"}),
            serde_json::json!({"certificate": "x"}),
        ] {
            assert!(raw_response(Some(&m(bad.clone()))).is_none(), "{bad}");
        }
        assert!(raw_response(None).is_none());
    }

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-vault-wrap-ttl", v.parse().unwrap());
        h
    }

    #[test]
    fn wrap_ttl_header_forms() {
        assert_eq!(wrap_ttl(&HeaderMap::new()).unwrap(), None);
        assert_eq!(wrap_ttl(&headers("15m")).unwrap(), Some(900));
        assert_eq!(wrap_ttl(&headers("60")).unwrap(), Some(60));
        assert_eq!(wrap_ttl(&headers("1h30m")).unwrap(), Some(5400));
        assert_eq!(wrap_ttl(&headers("0")).unwrap(), None);
        assert_eq!(wrap_ttl(&headers("")).unwrap(), None);
        assert_eq!(
            wrap_ttl(&headers("soon")).unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            wrap_ttl(&headers("-5s")).unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
    }
}
