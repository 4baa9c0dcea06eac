//! `sys/internal/ui/mounts[/<path>]`: what the CLI uses to find a path's mount and KV version.

use serde_json::{Map, Value, json};
use tresor_policy::Acl;
use tresor_sdk::{Operation, Response};

use crate::active::Active;
use crate::error::CoreError;
use crate::mounts::MountEntry;
use crate::pipeline::data_response;

fn entry_json(e: &MountEntry, path: &str) -> Value {
    json!({
        "path": path,
        "type": e.kind,
        "description": e.description,
        "accessor": e.accessor,
        "uuid": e.uuid,
        "options": if e.options.is_empty() { Value::Null } else { json!(e.options) },
        "config": {
            "default_lease_ttl": e.config.default_lease_ttl,
            "max_lease_ttl": e.config.max_lease_ttl,
            "force_no_cache": e.config.force_no_cache,
        },
        "local": e.local,
        "seal_wrap": e.seal_wrap,
        "external_entropy_access": false,
    })
}

/// Whether the ACL grants anything at all below `prefix`.
fn visible(acl: &Acl, prefix: &str) -> bool {
    if acl.is_root() {
        return true;
    }
    acl.rules().iter().any(|r| {
        let pattern = r.pattern.as_str();
        !r.capabilities.is_deny()
            && !r.capabilities.is_empty()
            && (pattern.starts_with(prefix) || prefix.starts_with(pattern.trim_end_matches('*')))
    })
}

pub(super) fn mounts(
    active: &Active,
    op: Operation,
    acl: &Acl,
) -> Result<Option<Response>, CoreError> {
    if op != Operation::Read {
        return super::unsupported();
    }
    let secret: Map<String, Value> = active
        .mounts_snapshot()
        .entries
        .iter()
        .filter(|(p, _)| visible(acl, p))
        .map(|(p, e)| (p.clone(), entry_json(e, p)))
        .collect();
    let auth: Map<String, Value> = active
        .auth_snapshot()
        .entries
        .iter()
        .filter(|(p, _)| visible(acl, &format!("auth/{p}")))
        .map(|(p, e)| (p.clone(), entry_json(e, p)))
        .collect();
    Ok(data_response(json!({ "secret": secret, "auth": auth })))
}

pub(super) fn mount(
    active: &Active,
    op: Operation,
    path: &str,
    acl: &Acl,
) -> Result<Option<Response>, CoreError> {
    if op != Operation::Read {
        return super::unsupported();
    }
    let table = active.mounts_snapshot();
    let Some((entry, _)) = table.route(path) else {
        return Err(CoreError::invalid(format!(
            "preflight capability check returned 403, please ensure client's policies grant access to path \"{path}/\""
        )));
    };
    if !visible(acl, &entry.path) {
        return Err(CoreError::PermissionDenied);
    }
    Ok(data_response(entry_json(entry, &entry.path)))
}
