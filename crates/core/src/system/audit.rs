//! `sys/audit` (list, enable, disable; sudo), `sys/audit-hash/:path` and
//! `sys/config/auditing/request-headers[/:name]` (sudo).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use tresor_sdk::{Operation, Response};

use crate::active::Active;
use crate::audit::HeaderConfig;
use crate::core::Core;
use crate::error::CoreError;
use crate::pipeline::data_response;

/// Longest audit device path accepted.
const MAX_PATH: usize = 256;

/// `sys/audit`: the enabled devices by path.
pub(super) async fn list(core: &Core, op: Operation) -> Result<Option<Response>, CoreError> {
    if op != Operation::Read {
        return super::unsupported();
    }
    let table = core.audit_table().await?;
    let mut out = Map::new();
    for e in &table.entries {
        out.insert(
            e.path.clone(),
            json!({
                "type": e.kind,
                "description": e.description,
                "options": e.options,
                "local": e.local,
                "path": e.path,
            }),
        );
    }
    Ok(data_response(Value::Object(out)))
}

/// `sys/audit/:path`: enable (write) or disable (delete).
pub(super) async fn device(
    core: &Core,
    op: Operation,
    path: &str,
    data: &Map<String, Value>,
) -> Result<Option<Response>, CoreError> {
    let path = device_path(path)?;
    match op {
        Operation::Update | Operation::Create => {
            if !core.opts.audit_settings.api_creation {
                return Err(CoreError::invalid(
                    "cannot enable audit devices through the API on this server \
                     (unsafe_allow_api_audit_creation is false): declare them in the configuration",
                ));
            }
            let kind = data
                .get("type")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| CoreError::invalid("type is required"))?;
            let description = data
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let local = data.get("local").and_then(Value::as_bool).unwrap_or(false);
            let options = options(data.get("options"))?;
            core.enable_audit(&path, kind, description, options, local, false)
                .await?;
            Ok(None)
        }
        Operation::Delete => {
            if !core.opts.audit_settings.api_creation {
                return Err(CoreError::invalid(
                    "cannot disable audit devices through the API on this server \
                     (unsafe_allow_api_audit_creation is false)",
                ));
            }
            core.disable_audit(&path).await?;
            Ok(None)
        }
        _ => super::unsupported(),
    }
}

/// `sys/audit-hash/:path`: what the device records for `input`.
pub(super) fn hash(
    core: &Core,
    op: Operation,
    path: &str,
    data: &Map<String, Value>,
) -> Result<Option<Response>, CoreError> {
    if !matches!(op, Operation::Update | Operation::Create) {
        return super::unsupported();
    }
    let path = device_path(path)?;
    let input = data
        .get("input")
        .and_then(Value::as_str)
        .ok_or_else(|| CoreError::invalid("input is required"))?;
    let hash = core
        .audit
        .hash(&path, input)
        .ok_or_else(|| CoreError::invalid(format!("unknown audit backend {path:?}")))?;
    Ok(data_response(json!({ "hash": hash })))
}

/// `sys/config/auditing/request-headers`: every audited header.
pub(super) async fn headers(active: &Active, op: Operation) -> Result<Option<Response>, CoreError> {
    if op != Operation::Read {
        return super::unsupported();
    }
    let cfg = active.audited_headers();
    let headers: Map<String, Value> = cfg
        .headers
        .iter()
        .map(|(name, s)| (name.clone(), json!({ "hmac": s.hmac })))
        .collect();
    Ok(data_response(json!({ "headers": headers })))
}

/// `sys/config/auditing/request-headers/:name`: read, write (`hmac`) or delete one header.
pub(super) async fn header(
    active: &Active,
    op: Operation,
    name: &str,
    data: &Map<String, Value>,
) -> Result<Option<Response>, CoreError> {
    let name = name.trim().to_ascii_lowercase();
    if name.is_empty() || name.len() > 256 || !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(CoreError::invalid("header name is invalid"));
    }
    match op {
        Operation::Read => {
            let cfg = active.audited_headers();
            Ok(cfg
                .headers
                .get(&name)
                .and_then(|s| data_response(json!({ name.clone(): { "hmac": s.hmac } }))))
        }
        Operation::Update | Operation::Create => {
            let hmac = match data.get("hmac") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(Value::String(s)) => {
                    matches!(s.as_str(), "true" | "1" | "t" | "T" | "TRUE" | "True")
                }
                Some(_) => return Err(CoreError::invalid("hmac must be a boolean")),
            };
            active
                .update_audited_headers(|c: &mut HeaderConfig| {
                    c.headers
                        .insert(name.clone(), crate::audit::HeaderSetting { hmac });
                })
                .await?;
            Ok(None)
        }
        Operation::Delete => {
            active
                .update_audited_headers(|c: &mut HeaderConfig| {
                    c.headers.remove(&name);
                })
                .await?;
            Ok(None)
        }
        _ => super::unsupported(),
    }
}

/// A device path as stored: non-empty, no empty or relative segments, with a trailing `/`.
fn device_path(path: &str) -> Result<String, CoreError> {
    let trimmed = path.trim_matches('/');
    if trimmed.is_empty() {
        return Err(CoreError::invalid("audit device path is required"));
    }
    if trimmed.len() > MAX_PATH
        || trimmed
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(CoreError::invalid(format!(
            "invalid audit device path {path:?}"
        )));
    }
    Ok(format!("{trimmed}/"))
}

/// The `options` object: values as strings (numbers and booleans written as text).
fn options(v: Option<&Value>) -> Result<BTreeMap<String, String>, CoreError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(BTreeMap::new());
    };
    let Value::Object(m) = v else {
        return Err(CoreError::invalid("options must be an object of strings"));
    };
    m.iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => n.to_string(),
                _ => {
                    return Err(CoreError::invalid(format!("option {k} must be a string")));
                }
            };
            Ok((k.clone(), text))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(device_path("file").expect("file"), "file/");
        assert_eq!(device_path("file/").expect("file/"), "file/");
        assert_eq!(device_path("team/a").expect("nested"), "team/a/");
        for bad in ["", "/", "a//b", "a/../b", "."] {
            assert!(device_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn option_values_become_text() {
        let o = options(Some(&json!({"file_path": "/x", "log_raw": true, "n": 5}))).expect("ok");
        assert_eq!(o["log_raw"], "true");
        assert_eq!(o["n"], "5");
        assert!(options(Some(&json!({"a": {"b": 1}}))).is_err());
        assert!(options(Some(&json!(["a"]))).is_err());
    }
}
