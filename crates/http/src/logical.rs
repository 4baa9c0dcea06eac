//! The logical pipeline's HTTP side: method mapping and Vault's response envelope.

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tresor_core::{CoreRequest, Method as CoreMethod};
use tresor_sdk::Response as LogicalResponse;

use crate::error::ApiError;
use crate::router::{ApiRequest, AppState};

fn core_method(req: &ApiRequest) -> Option<CoreMethod> {
    let list = matches!(
        req.query.get("list").map(String::as_str),
        Some("true" | "1" | "t" | "")
    );
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

/// Builds Vault's envelope around a backend response.
pub(crate) fn envelope(resp: &LogicalResponse) -> Value {
    json!({
        "request_id": uuid::Uuid::new_v4().to_string(),
        "lease_id": "",
        "renewable": resp.renewable,
        "lease_duration": resp.lease_duration,
        "data": resp.data,
        "wrap_info": null,
        "warnings": if resp.warnings.is_empty() { Value::Null } else { json!(resp.warnings) },
        "auth": resp.auth,
        "mount_type": "",
    })
}

pub(crate) async fn handle(state: &AppState, req: ApiRequest) -> Response {
    let Some(method) = core_method(&req) else {
        return ApiError::bare(StatusCode::METHOD_NOT_ALLOWED).into_response();
    };
    let data = match method {
        CoreMethod::Write | CoreMethod::Patch => match req.json_body() {
            Ok(d) => d,
            Err(e) => return e.into_response(),
        },
        _ => {
            let mut d = req.query_data();
            d.remove("list");
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
    match state.core.handle(core_req).await {
        Err(e) => ApiError::from(e).into_response(),
        Ok(None) => match method {
            CoreMethod::Get | CoreMethod::List => {
                ApiError::bare(StatusCode::NOT_FOUND).into_response()
            }
            _ => StatusCode::NO_CONTENT.into_response(),
        },
        Ok(Some(resp)) => {
            let empty = resp.data.is_none() && resp.auth.is_none() && resp.warnings.is_empty();
            if empty && resp.status == Some(404) {
                return ApiError::bare(StatusCode::NOT_FOUND).into_response();
            }
            if empty && resp.status.is_none() && req.method != Method::GET {
                return StatusCode::NO_CONTENT.into_response();
            }
            let status = resp
                .status
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::OK);
            (
                status,
                [("content-type", "application/json")],
                envelope(&resp).to_string(),
            )
                .into_response()
        }
    }
}
