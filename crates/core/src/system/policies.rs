//! `sys/policy[/<name>]` (legacy) and `sys/policies/acl[/<name>]`.

use serde_json::{Map, Value, json};
use tresor_sdk::{Operation, Response};

use crate::active::Active;
use crate::error::CoreError;
use crate::pipeline::data_response;

fn policy_text(data: &Map<String, Value>, keys: &[&str]) -> Result<String, CoreError> {
    for key in keys {
        match data.get(*key) {
            Some(Value::String(s)) if !s.is_empty() => return Ok(s.clone()),
            // Clients sometimes send the JSON policy as an object rather than a string.
            Some(v @ Value::Object(_)) => return Ok(v.to_string()),
            _ => {}
        }
    }
    Err(CoreError::invalid(
        "'policy' parameter not supplied or empty",
    ))
}

pub(super) async fn list_legacy(
    active: &Active,
    op: Operation,
) -> Result<Option<Response>, CoreError> {
    if !matches!(op, Operation::Read | Operation::List) {
        return super::unsupported();
    }
    let names = active.policies.list().await?;
    Ok(data_response(json!({ "policies": names, "keys": names })))
}

pub(super) async fn list_acl(
    active: &Active,
    op: Operation,
) -> Result<Option<Response>, CoreError> {
    if !matches!(op, Operation::Read | Operation::List) {
        return super::unsupported();
    }
    let names = active.policies.list().await?;
    Ok(data_response(json!({ "keys": names })))
}

async fn read_raw(active: &Active, name: &str) -> Result<Option<String>, CoreError> {
    if name == "root" {
        return Ok(Some(String::new()));
    }
    Ok(active.policies.get(name).await?.map(|p| p.raw().to_owned()))
}

/// The two policy endpoints differ only in field names: the legacy `sys/policy/<name>`
/// answers `rules` and accepts `policy` or `rules`; `sys/policies/acl/<name>` answers and
/// accepts `policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Flavor {
    /// `sys/policy/<name>`.
    Legacy,
    /// `sys/policies/acl/<name>`.
    Acl,
}

pub(super) async fn policy(
    active: &Active,
    op: Operation,
    name: &str,
    data: &Map<String, Value>,
    flavor: Flavor,
) -> Result<Option<Response>, CoreError> {
    let name = name.to_lowercase();
    let (field, accepted): (&str, &[&str]) = match flavor {
        Flavor::Legacy => ("rules", &["policy", "rules"]),
        Flavor::Acl => ("policy", &["policy"]),
    };
    match op {
        Operation::Read => Ok(read_raw(active, &name)
            .await?
            .and_then(|text| data_response(json!({ "name": name, field: text })))),
        Operation::Create | Operation::Update => {
            let text = policy_text(data, accepted)?;
            active.policies.put(&name, &text).await?;
            Ok(None)
        }
        Operation::Delete => {
            active.policies.delete(&name).await?;
            Ok(None)
        }
        Operation::List if flavor == Flavor::Acl => list_acl(active, Operation::List).await,
        _ => super::unsupported(),
    }
}
