//! The `sys/storage/raft/*` endpoints: join, the join handshake (challenge and answer),
//! the cluster configuration, peer removal and autopilot (configuration and state).
//! Who may call each (sudo or nobody) is declared in [`crate::raw_endpoints`].

use axum::Json;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tresor_core::{JoinAdmission, JoinParams};
use tresor_sdk::fields;

use crate::error::ApiError;
use crate::router::{ApiRequest, AppState};

type R = Result<Response, ApiError>;

fn is_write(m: &Method) -> bool {
    m == Method::PUT || m == Method::POST
}

fn bad(e: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(e.to_string())
}

/// Handles `path` if it is one of the raft endpoints.
pub(crate) async fn handle(state: &AppState, req: &ApiRequest, path: &str) -> Option<R> {
    Some(match path {
        "sys/storage/raft/join" => join(state, req).await,
        "sys/storage/raft/bootstrap/challenge" => challenge(state, req).await,
        "sys/storage/raft/bootstrap/answer" => answer(state, req).await,
        "sys/storage/raft/configuration" => configuration(state, req).await,
        "sys/storage/raft/remove-peer" => remove_peer(state, req).await,
        "sys/storage/raft/autopilot/configuration" => autopilot_configuration(state, req).await,
        "sys/storage/raft/autopilot/state" => autopilot_state(state, req).await,
        _ => return None,
    })
}

fn method_not_allowed() -> R {
    Ok(ApiError::bare(StatusCode::METHOD_NOT_ALLOWED).into_response())
}

async fn join(state: &AppState, req: &ApiRequest) -> R {
    if !is_write(&req.method) {
        return method_not_allowed();
    }
    let params: JoinParams = serde_json::from_value(Value::Object(req.json_body()?))
        .map_err(|e| bad(format!("failed to parse JSON input: {e}")))?;
    if params.leader_api_addr.is_empty() {
        return Err(bad("leader_api_addr is required"));
    }
    state.core.raft_join(params).await.map_err(ApiError::from)?;
    Ok(Json(json!({ "joined": true })).into_response())
}

async fn challenge(state: &AppState, req: &ApiRequest) -> R {
    if !is_write(&req.method) {
        return method_not_allowed();
    }
    let body = req.json_body()?;
    let server_id = fields::get_str(&body, "server_id")
        .map_err(bad)?
        .unwrap_or_default();
    let c = state
        .core
        .join_challenge(&server_id)
        .await
        .map_err(ApiError::from)?;
    Ok(Json(c).into_response())
}

async fn answer(state: &AppState, req: &ApiRequest) -> R {
    if !is_write(&req.method) {
        return method_not_allowed();
    }
    let body = req.json_body()?;
    let s = |k: &str| -> Result<String, ApiError> {
        Ok(fields::get_str(&body, k).map_err(bad)?.unwrap_or_default())
    };
    let node = JoinAdmission {
        server_id: s("server_id")?,
        cluster_addr: s("cluster_addr")?,
        api_addr: s("api_addr")?,
        non_voter: fields::get_bool(&body, "non_voter")
            .map_err(bad)?
            .unwrap_or(false),
    };
    if node.server_id.is_empty() || node.cluster_addr.is_empty() {
        return Err(bad("server_id and cluster_addr are required"));
    }
    let reply = state
        .core
        .join_answer(node, &s("answer")?)
        .await
        .map_err(ApiError::from)?;
    Ok(Json(reply).into_response())
}

async fn configuration(state: &AppState, req: &ApiRequest) -> R {
    if req.method != Method::GET {
        return method_not_allowed();
    }
    let config = state
        .core
        .raft_configuration()
        .await
        .map_err(ApiError::from)?;
    Ok(logical_envelope(json!({ "config": config })))
}

/// A logical-style response: `data` in Vault's envelope.
fn logical_envelope(data: Value) -> Response {
    Json(json!({
        "request_id": uuid::Uuid::new_v4().to_string(),
        "lease_id": "",
        "renewable": false,
        "lease_duration": 0,
        "data": data,
        "wrap_info": null,
        "warnings": null,
        "auth": null,
    }))
    .into_response()
}

async fn autopilot_configuration(state: &AppState, req: &ApiRequest) -> R {
    if req.method == Method::GET {
        let data = state
            .core
            .autopilot_configuration()
            .await
            .map_err(ApiError::from)?;
        return Ok(logical_envelope(json!(data)));
    }
    if !is_write(&req.method) {
        return method_not_allowed();
    }
    let body = req.json_body()?;
    state
        .core
        .set_autopilot_configuration(body)
        .await
        .map_err(ApiError::from)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn autopilot_state(state: &AppState, req: &ApiRequest) -> R {
    if req.method != Method::GET {
        return method_not_allowed();
    }
    let data = state.core.autopilot_state().await.map_err(ApiError::from)?;
    Ok(logical_envelope(json!(data)))
}

async fn remove_peer(state: &AppState, req: &ApiRequest) -> R {
    if !is_write(&req.method) {
        return method_not_allowed();
    }
    let body = req.json_body()?;
    let id = fields::get_str(&body, "server_id")
        .map_err(bad)?
        .unwrap_or_default();
    if id.is_empty() {
        return Err(bad("missing server_id"));
    }
    state
        .core
        .raft_remove_peer(&id)
        .await
        .map_err(ApiError::from)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
