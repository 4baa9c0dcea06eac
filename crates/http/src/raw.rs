//! The raw sys endpoints: bare JSON answers, no logical envelope, mostly unauthenticated.

use axum::Json;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value, json};
use tresor_core::{CoreError, InitRequest, RekeyTarget};
use tresor_sdk::{Operation, fields};

use crate::error::ApiError;
use crate::raw_endpoints::{self, Access};
use crate::router::{ApiRequest, AppState};

fn ok<T: Serialize>(v: &T) -> Response {
    (StatusCode::OK, Json(v)).into_response()
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

fn method_not_allowed() -> Response {
    ApiError::bare(StatusCode::METHOD_NOT_ALLOWED).into_response()
}

fn is_write(m: &Method) -> bool {
    m == Method::PUT || m == Method::POST
}

fn err(e: CoreError) -> ApiError {
    ApiError::from(e)
}

fn str_field(body: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    fields::get_str(body, key).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// Handles `req` if it is a raw endpoint; `None` hands it to the logical pipeline. The
/// endpoint's declaration decides, before its handler runs: the method (405), the listener
/// switch (405, as if the endpoint did not exist), `sudo` (403) and the audit stages.
pub(crate) async fn handle(state: &AppState, req: &ApiRequest) -> Option<Response> {
    let endpoint = raw_endpoints::lookup(req.path.as_str())?;
    if !raw_endpoints::takes(endpoint.methods, &req.method)
        || state.raw_switches.disables(endpoint.switch)
    {
        return Some(
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "unsupported operation").into_response(),
        );
    }
    if endpoint.access == Access::Sudo {
        let cap = raw_endpoints::capability(&req.method);
        if let Err(e) = state
            .core
            .check_sudo(req.token().as_deref(), endpoint.path, cap)
            .await
        {
            return Some(err(e).into_response());
        }
    }
    if !endpoint.audited {
        return Some(dispatch(state, req).await);
    }
    let token = req.token();
    let raw = match state
        .core
        .audit_raw_request(
            endpoint.path,
            operation(&req.method),
            token.as_deref(),
            &req.meta(),
        )
        .await
    {
        Ok(raw) => raw,
        Err(e) => return Some(err(e).into_response()),
    };
    let resp = dispatch(state, req).await;
    let failed = (!resp.status().is_success()).then(|| resp.status().to_string());
    match state.core.audit_raw_response(raw, failed.as_deref()).await {
        Ok(()) => Some(resp),
        Err(e) => Some(err(e).into_response()),
    }
}

/// The logical operation a raw request's method stands for (for the audit record).
fn operation(method: &Method) -> Operation {
    match *method {
        Method::GET | Method::HEAD => Operation::Read,
        Method::DELETE => Operation::Delete,
        _ => Operation::Update,
    }
}

/// Runs the handler of a declared raw endpoint.
async fn dispatch(state: &AppState, req: &ApiRequest) -> Response {
    let r = match req.path.as_str() {
        "sys/init" => init(state, req).await,
        "sys/seal-status" => seal_status(state, req).await,
        "sys/unseal" => unseal(state, req).await,
        "sys/seal" => seal(state, req).await,
        "sys/health" => health(state, req).await,
        "sys/leader" => leader(state, req).await,
        "sys/step-down" => step_down(state, req).await,
        "sys/generate-root/attempt" | "sys/generate-root" => {
            generate_root_attempt(state, req).await
        }
        "sys/generate-root/update" => generate_root_update(state, req).await,
        "sys/rekey/init" => rekey_init(state, req, RekeyTarget::Barrier).await,
        "sys/rekey/update" => rekey_update(state, req, RekeyTarget::Barrier).await,
        "sys/rekey/verify" => rekey_verify(state, req, RekeyTarget::Barrier).await,
        "sys/rekey/backup" | "sys/rekey/recovery-key-backup" => rekey_backup(req),
        "sys/rekey-recovery-key/init" => rekey_init(state, req, RekeyTarget::Recovery).await,
        "sys/rekey-recovery-key/update" => rekey_update(state, req, RekeyTarget::Recovery).await,
        "sys/rekey-recovery-key/verify" => rekey_verify(state, req, RekeyTarget::Recovery).await,
        other => crate::raft_api::handle(state, req, other)
            .await
            .unwrap_or_else(|| Err(ApiError::bare(StatusCode::NOT_FOUND))),
    };
    r.unwrap_or_else(IntoResponse::into_response)
}

type R = Result<Response, ApiError>;

fn body(req: &ApiRequest) -> Result<Map<String, Value>, ApiError> {
    req.json_body()
}

async fn init(state: &AppState, req: &ApiRequest) -> R {
    if req.method == Method::GET {
        let initialized = state.core.is_initialized().await.map_err(err)?;
        return Ok(ok(&json!({ "initialized": initialized })));
    }
    if !is_write(&req.method) {
        return Ok(method_not_allowed());
    }
    let body = body(req)?;
    let parsed: InitRequest = serde_json::from_value(Value::Object(body))
        .map_err(|e| ApiError::bad_request(format!("failed to parse JSON input: {e}")))?;
    let resp = state.core.init(parsed).await.map_err(err)?;
    Ok(ok(&resp))
}

async fn seal_status(state: &AppState, req: &ApiRequest) -> R {
    if req.method != Method::GET {
        return Ok(method_not_allowed());
    }
    // With auto seals the document also lists each seal's last health-check result.
    Ok(ok(&state.core.seal_status_report().await.map_err(err)?))
}

async fn unseal(state: &AppState, req: &ApiRequest) -> R {
    if !is_write(&req.method) {
        return Ok(method_not_allowed());
    }
    let body = body(req)?;
    // Vault decodes this body case-insensitively.
    let lower: Map<String, Value> = body
        .into_iter()
        .map(|(k, v)| (k.to_lowercase(), v))
        .collect();
    let key = str_field(&lower, "key")?.filter(|k| !k.is_empty());
    let reset = fields::get_bool(&lower, "reset")
        .map_err(|e| ApiError::bad_request(e.to_string()))?
        .unwrap_or(false);
    let migrate = fields::get_bool(&lower, "migrate")
        .map_err(|e| ApiError::bad_request(e.to_string()))?
        .unwrap_or(false);
    let status = if migrate {
        state.core.unseal_migrate(key.as_deref(), reset).await
    } else {
        state.core.unseal(key.as_deref(), reset).await
    };
    Ok(ok(&status.map_err(err)?))
}

async fn seal(state: &AppState, req: &ApiRequest) -> R {
    if !is_write(&req.method) {
        return Ok(method_not_allowed());
    }
    state.core.seal().await.map_err(err)?;
    Ok(no_content())
}

fn code_param(req: &ApiRequest, name: &str, default: u16) -> Result<u16, ApiError> {
    match req.query.get(name) {
        None => Ok(default),
        Some(v) => v
            .parse::<u16>()
            .ok()
            .filter(|c| (100..=999).contains(c))
            .ok_or_else(|| ApiError::bad_request(format!("bad code {name}: {v:?}"))),
    }
}

fn bool_param(req: &ApiRequest, name: &str) -> Result<bool, ApiError> {
    match req.query.get(name).map(String::as_str) {
        None => Ok(false),
        Some("" | "true" | "1" | "t" | "T" | "TRUE" | "True") => Ok(true),
        Some("false" | "0" | "f" | "F" | "FALSE" | "False") => Ok(false),
        Some(v) => Err(ApiError::bad_request(format!(
            "bad value for {name}: {v:?}"
        ))),
    }
}

async fn health(state: &AppState, req: &ApiRequest) -> R {
    let head = req.method == Method::HEAD;
    if req.method != Method::GET && !head {
        return Ok(method_not_allowed());
    }
    let standby_ok = bool_param(req, "standbyok")?;
    let perf_standby_ok = bool_param(req, "perfstandbyok")?;
    let active_code = code_param(req, "activecode", 200)?;
    let standby_code = code_param(req, "standbycode", 429)?;
    let sealed_code = code_param(req, "sealedcode", 503)?;
    let uninit_code = code_param(req, "uninitcode", 501)?;
    let _dr = code_param(req, "drsecondarycode", 472)?;
    let perf_standby_code = code_param(req, "performancestandbycode", 473)?;
    let removed_code = code_param(req, "removedcode", 530)?;
    let ha_unhealthy_code = code_param(req, "haunhealthycode", 474)?;
    // With auto seals the body also carries `seal_degraded`; the status code ignores it.
    let report = state.core.health_report().await.map_err(err)?;
    let status = &report.status;
    let code = if status.removed_from_cluster {
        removed_code
    } else if !status.initialized {
        uninit_code
    } else if status.sealed {
        sealed_code
    } else if status.standby && status.ha_connection_healthy == Some(false) {
        ha_unhealthy_code
    } else if status.performance_standby {
        if perf_standby_ok {
            active_code
        } else {
            perf_standby_code
        }
    } else if status.standby && !standby_ok {
        standby_code
    } else {
        active_code
    };
    let code = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    if head || code == StatusCode::NO_CONTENT {
        return Ok(code.into_response());
    }
    Ok((code, Json(report)).into_response())
}

async fn leader(state: &AppState, req: &ApiRequest) -> R {
    if req.method != Method::GET {
        return Ok(method_not_allowed());
    }
    Ok(ok(&state.core.leader_status().await.map_err(err)?))
}

async fn step_down(state: &AppState, req: &ApiRequest) -> R {
    if !is_write(&req.method) {
        return Ok(method_not_allowed());
    }
    state.core.step_down().await.map_err(err)?;
    Ok(no_content())
}

async fn generate_root_attempt(state: &AppState, req: &ApiRequest) -> R {
    let core = &state.core;
    match req.method {
        Method::GET => Ok(ok(&core.generate_root_status().await.map_err(err)?)),
        Method::DELETE => {
            core.generate_root_cancel();
            Ok(no_content())
        }
        ref m if is_write(m) => {
            let b = body(req)?;
            let otp = str_field(&b, "otp")?;
            let pgp = str_field(&b, "pgp_key")?;
            Ok(ok(&core.generate_root_init(otp, pgp).await.map_err(err)?))
        }
        _ => Ok(method_not_allowed()),
    }
}

fn key_and_nonce(req: &ApiRequest) -> Result<(String, String), ApiError> {
    let b = body(req)?;
    let key = str_field(&b, "key")?
        .filter(|k| !k.is_empty())
        .ok_or_else(|| ApiError::bad_request("'key' must be specified in request body as JSON"))?;
    let nonce = str_field(&b, "nonce")?.unwrap_or_default();
    Ok((key, nonce))
}

async fn generate_root_update(state: &AppState, req: &ApiRequest) -> R {
    if !is_write(&req.method) {
        return Ok(method_not_allowed());
    }
    let (key, nonce) = key_and_nonce(req)?;
    Ok(ok(&state
        .core
        .generate_root_update(&key, &nonce)
        .await
        .map_err(err)?))
}

async fn rekey_init(state: &AppState, req: &ApiRequest, target: RekeyTarget) -> R {
    let core = &state.core;
    match req.method {
        Method::GET => Ok(ok(&core.rekey_status(target).await.map_err(err)?)),
        Method::DELETE => {
            core.rekey_cancel(target);
            Ok(no_content())
        }
        ref m if is_write(m) => {
            let b = body(req)?;
            let bad = |e: tresor_sdk::LogicalError| ApiError::bad_request(e.to_string());
            let shares = fields::get_u64(&b, "secret_shares")
                .map_err(bad)?
                .unwrap_or(0) as u32;
            let threshold = fields::get_u64(&b, "secret_threshold")
                .map_err(bad)?
                .unwrap_or(0) as u32;
            let pgp = fields::get_str_list(&b, "pgp_keys")
                .map_err(bad)?
                .is_some_and(|k| !k.is_empty());
            let backup = fields::get_bool(&b, "backup")
                .map_err(bad)?
                .unwrap_or(false);
            let verify = fields::get_bool(&b, "require_verification")
                .map_err(bad)?
                .unwrap_or(false);
            Ok(ok(&core
                .rekey_init(target, shares, threshold, pgp, backup, verify)
                .await
                .map_err(err)?))
        }
        _ => Ok(method_not_allowed()),
    }
}

async fn rekey_update(state: &AppState, req: &ApiRequest, target: RekeyTarget) -> R {
    if !is_write(&req.method) {
        return Ok(method_not_allowed());
    }
    let (key, nonce) = key_and_nonce(req)?;
    Ok(ok(&state
        .core
        .rekey_update(target, &key, &nonce)
        .await
        .map_err(err)?))
}

async fn rekey_verify(state: &AppState, req: &ApiRequest, target: RekeyTarget) -> R {
    let core = &state.core;
    match req.method {
        Method::GET => Ok(ok(&core.rekey_verify_status(target).map_err(err)?)),
        Method::DELETE => Ok(ok(&core.rekey_verify_cancel(target).map_err(err)?)),
        ref m if is_write(m) => {
            let (key, nonce) = key_and_nonce(req)?;
            Ok(ok(&core
                .rekey_verify_update(target, &key, &nonce)
                .await
                .map_err(err)?))
        }
        _ => Ok(method_not_allowed()),
    }
}

fn rekey_backup(req: &ApiRequest) -> R {
    match req.method {
        Method::GET => Err(ApiError::bad_request("no backed-up keys found")),
        Method::DELETE => Ok(no_content()),
        _ => Ok(method_not_allowed()),
    }
}
