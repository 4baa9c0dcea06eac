//! `sys/leases/*` and the older `sys/renew`, `sys/revoke`, `sys/revoke-prefix`,
//! `sys/revoke-force`: lease lookup, listing, renewal, revocation (one, by prefix, forced),
//! tidy, counts and the irrevocable leases. Answers follow OpenBao's where Vault's docs are
//! silent (an unknown lease: lookup 400 "invalid lease", renew 400 "lease not found", revoke
//! 204).

use serde_json::{Map, Value, json};
use tresor_expiration::{ExpirationError, ExpirationManager};
use tresor_sdk::fields::{get_bool, get_duration, get_str};
use tresor_sdk::{Operation, Response, ResponseStatus, Secret};

use crate::error::CoreError;
use crate::pipeline::data_response;

fn is_write(op: Operation) -> bool {
    matches!(op, Operation::Update | Operation::Create)
}

/// The lease id of a request: the rest of the URL when given, else the body's `lease_id`.
fn lease_id(url_id: &str, data: &Map<String, Value>) -> Result<String, CoreError> {
    if !url_id.is_empty() {
        return Ok(url_id.to_owned());
    }
    match get_str(data, "lease_id")? {
        Some(id) if !id.is_empty() => Ok(id),
        _ => Err(CoreError::invalid("missing lease ID")),
    }
}

/// `sys/leases/lookup` (PUT/POST, body `lease_id`).
pub(super) async fn lookup(
    leases: &ExpirationManager,
    op: Operation,
    data: &Map<String, Value>,
) -> Result<Option<Response>, CoreError> {
    if !is_write(op) {
        return super::unsupported();
    }
    let id = lease_id("", data)?;
    match leases.lookup(&id).await {
        Ok(e) => Ok(data_response(e.lookup_json(leases.now()))),
        Err(ExpirationError::NotFound) => Err(CoreError::invalid("invalid lease")),
        Err(e) => Err(e.into()),
    }
}

/// `LIST sys/leases/lookup/<prefix>`: the children one level down (404 when none).
pub(super) async fn list(
    leases: &ExpirationManager,
    op: Operation,
    prefix: &str,
) -> Result<Option<Response>, CoreError> {
    if op != Operation::List {
        return super::unsupported();
    }
    let prefix = match prefix {
        "" => String::new(),
        p if p.ends_with('/') => p.to_owned(),
        p => format!("{p}/"),
    };
    let keys = leases.list(&prefix).await?;
    if keys.is_empty() {
        return Ok(None);
    }
    Ok(data_response(json!({ "keys": keys })))
}

/// `sys/leases/renew[/<id>]` and `sys/renew[/<id>]` (`increment`, a duration).
pub(super) async fn renew(
    leases: &ExpirationManager,
    op: Operation,
    url_id: &str,
    data: &Map<String, Value>,
) -> Result<Option<Response>, CoreError> {
    if !is_write(op) {
        return super::unsupported();
    }
    let id = lease_id(url_id, data)?;
    let increment = get_duration(data, "increment")?.unwrap_or(0);
    let (e, warning) = leases.renew(&id, increment).await?;
    let ttl = e.ttl_at(leases.now());
    let mut resp = Response {
        lease_duration: ttl,
        renewable: e.renewable,
        secret: Some(Box::new(Secret {
            lease_id: e.lease_id,
            ttl,
            renewable: e.renewable,
            ..Secret::default()
        })),
        ..Response::default()
    };
    resp.warnings.extend(warning);
    Ok(Some(resp))
}

/// `sys/leases/revoke[/<id>]` and `sys/revoke[/<id>]`; always synchronous (`sync` is
/// accepted and ignored). An unknown lease is revoked already.
pub(super) async fn revoke(
    leases: &ExpirationManager,
    op: Operation,
    url_id: &str,
    data: &Map<String, Value>,
) -> Result<Option<Response>, CoreError> {
    if !is_write(op) {
        return super::unsupported();
    }
    let id = lease_id(url_id, data)?;
    let _sync = get_bool(data, "sync")?;
    match leases.revoke(&id).await {
        Ok(()) | Err(ExpirationError::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// `sys/leases/revoke-prefix/<prefix>` (and `revoke-force`, which deletes leases whose
/// backend fails): a lease id revokes that lease, anything else the leases below it.
pub(super) async fn revoke_prefix(
    leases: &ExpirationManager,
    op: Operation,
    prefix: &str,
    force: bool,
) -> Result<Option<Response>, CoreError> {
    if !is_write(op) {
        return super::unsupported();
    }
    if prefix.is_empty() {
        return Err(CoreError::invalid("missing prefix"));
    }
    let exact = match leases.lookup(prefix).await {
        Ok(_) => true,
        Err(ExpirationError::NotFound) => false,
        Err(e) => return Err(e.into()),
    };
    let n = if exact {
        leases.revoke_prefix(prefix, force).await?
    } else {
        leases.revoke_prefix(&format!("{prefix}/"), force).await?
    };
    tracing::info!(prefix, force, revoked = n, "leases revoked by prefix");
    Ok(None)
}

/// `sys/leases/tidy`: drops unreadable and dangling lease entries; 202 as OpenBao answers.
pub(super) async fn tidy(
    leases: &ExpirationManager,
    op: Operation,
) -> Result<Option<Response>, CoreError> {
    if !is_write(op) {
        return super::unsupported();
    }
    let removed = leases.tidy().await?;
    tracing::info!(removed, "lease tidy done");
    Ok(Some(Response {
        status: ResponseStatus::Accepted,
        ..Response::default().with_warning(
            "Tidy operation successfully started. Any information from the operation will be printed to the server logs.",
        )
    }))
}

fn irrevocable_type(data: &Map<String, Value>) -> Result<bool, CoreError> {
    match get_str(data, "type")?.as_deref() {
        Some("irrevocable") => Ok(true),
        None | Some("") => Ok(false),
        Some(other) => Err(CoreError::invalid(format!(
            "unknown lease type {other:?}: only \"irrevocable\" is supported"
        ))),
    }
}

/// `GET sys/leases/count?type=irrevocable`.
pub(super) fn count(
    leases: &ExpirationManager,
    op: Operation,
    data: &Map<String, Value>,
) -> Result<Option<Response>, CoreError> {
    if op != Operation::Read {
        return super::unsupported();
    }
    if !irrevocable_type(data)? {
        // As OpenBao: only the irrevocable count is served here.
        return Ok(None);
    }
    Ok(data_response(json!({
        "lease_count": leases.irrevocable_count(),
        "counts": {},
    })))
}

/// `GET sys/leases?type=irrevocable`: each irrevocable lease with its last error.
pub(super) async fn irrevocable(
    leases: &ExpirationManager,
    op: Operation,
    data: &Map<String, Value>,
) -> Result<Option<Response>, CoreError> {
    if op != Operation::Read {
        return super::unsupported();
    }
    if !irrevocable_type(data)? {
        return Ok(None);
    }
    let list: Vec<Value> = leases
        .irrevocable()
        .await?
        .into_iter()
        .map(|e| {
            json!({
                "lease_id": e.lease_id,
                "namespace": "",
                "error": e.revoke_error.unwrap_or_default(),
            })
        })
        .collect();
    Ok(data_response(json!({
        "lease_count": list.len(),
        "leases": list,
    })))
}
