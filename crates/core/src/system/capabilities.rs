//! `sys/capabilities`, `sys/capabilities-self`, `sys/capabilities-accessor`.

use serde_json::{Map, Value};
use tresor_policy::Acl;
use tresor_sdk::{Operation, Response, fields};

use crate::active::Active;
use crate::error::CoreError;

fn paths(data: &Map<String, Value>) -> Result<Vec<String>, CoreError> {
    let mut out = fields::get_str_list(data, "paths")?.unwrap_or_default();
    if let Some(p) = fields::get_str(data, "path")? {
        out.extend(
            p.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty()),
        );
    }
    if out.is_empty() {
        return Err(CoreError::invalid("missing paths"));
    }
    Ok(out)
}

fn answer(acl: &Acl, paths: &[String]) -> Option<Response> {
    let mut data = Map::new();
    for (i, p) in paths.iter().enumerate() {
        let caps: Vec<Value> = acl
            .capabilities(p.trim_start_matches('/'))
            .into_iter()
            .map(Value::String)
            .collect();
        if i == 0 {
            data.insert("capabilities".into(), Value::Array(caps.clone()));
        }
        data.insert(p.clone(), Value::Array(caps));
    }
    Some(Response::data(data))
}

fn check_op(op: Operation) -> Result<(), CoreError> {
    if matches!(op, Operation::Update | Operation::Create) {
        Ok(())
    } else {
        Err(CoreError::UnsupportedOperation)
    }
}

pub(super) fn for_self(
    _active: &Active,
    op: Operation,
    data: &Map<String, Value>,
    acl: &Acl,
) -> Result<Option<Response>, CoreError> {
    check_op(op)?;
    Ok(answer(acl, &paths(data)?))
}

pub(super) async fn for_token(
    active: &Active,
    op: Operation,
    data: &Map<String, Value>,
) -> Result<Option<Response>, CoreError> {
    check_op(op)?;
    let token = fields::get_str(data, "token")?
        .filter(|t| !t.is_empty())
        .ok_or_else(|| CoreError::invalid("missing token"))?;
    let entry = active
        .tokens
        .lookup(&token)
        .await
        .map_err(|e| CoreError::Internal(e.to_string()))?
        .ok_or_else(|| CoreError::invalid("invalid token"))?;
    let acl = active.policies.acl(&entry.policies).await?;
    Ok(answer(&acl, &paths(data)?))
}

pub(super) async fn for_accessor(
    active: &Active,
    op: Operation,
    data: &Map<String, Value>,
) -> Result<Option<Response>, CoreError> {
    check_op(op)?;
    let accessor = fields::get_str(data, "accessor")?
        .filter(|t| !t.is_empty())
        .ok_or_else(|| CoreError::invalid("missing accessor"))?;
    let entry = active
        .tokens
        .lookup_accessor(&accessor)
        .await
        .map_err(|e| CoreError::Internal(e.to_string()))?
        .ok_or_else(|| CoreError::invalid("invalid accessor"))?;
    let acl = active.policies.acl(&entry.policies).await?;
    Ok(answer(&acl, &paths(data)?))
}
