//! `sys/mounts`, `sys/mounts/<path>[/tune]`, `sys/remount`, `sys/auth[/<path>[/tune]]`.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use tresor_sdk::{Operation, Response, fields};
use tresor_storage::{Backend, Op, list_recursive};

use crate::active::{Active, new_entry};
use crate::core::Core;
use crate::error::CoreError;
use crate::mounts::{MountEntry, MountTable, is_protected, normalize_mount_path};
use crate::pipeline::data_response;

fn entry_json(e: &MountEntry) -> Value {
    json!({
        "type": e.kind,
        "description": e.description,
        "accessor": e.accessor,
        "uuid": e.uuid,
        "config": {
            "default_lease_ttl": e.config.default_lease_ttl,
            "max_lease_ttl": e.config.max_lease_ttl,
            "force_no_cache": e.config.force_no_cache,
        },
        "options": if e.options.is_empty() { Value::Null } else { json!(e.options) },
        "local": e.local,
        "seal_wrap": e.seal_wrap,
        "external_entropy_access": false,
        "plugin_version": "",
        "running_plugin_version": "",
        "running_sha256": "",
    })
}

fn table_json(t: &MountTable) -> Value {
    Value::Object(
        t.entries
            .iter()
            .map(|(p, e)| (p.clone(), entry_json(e)))
            .collect(),
    )
}

pub(super) fn list_mounts(active: &Active, op: Operation) -> Result<Option<Response>, CoreError> {
    if op != Operation::Read {
        return super::unsupported();
    }
    Ok(data_response(table_json(&active.mounts_snapshot())))
}

pub(super) fn list_auth(active: &Active, op: Operation) -> Result<Option<Response>, CoreError> {
    if op != Operation::Read {
        return super::unsupported();
    }
    Ok(data_response(table_json(&active.auth_snapshot())))
}

/// One mount's entry, or 400 `"<missing> <path>"` when there is none.
fn read_entry(
    table: &MountTable,
    path: &str,
    missing: &str,
) -> Result<Option<Response>, CoreError> {
    // The mount that serves the path (longest prefix), as Vault reads `sys/mounts/<path>`.
    let entry = table
        .route(path)
        .map(|(entry, _)| entry)
        .ok_or_else(|| CoreError::invalid(format!("{missing} {path}")))?;
    Ok(data_response(entry_json(entry)))
}

/// Reads the `config` object of an enable request.
fn parse_config(data: &Map<String, Value>) -> Result<(u64, u64, bool), CoreError> {
    let cfg = match data.get("config") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    let d = fields::get_duration(&cfg, "default_lease_ttl")?.unwrap_or(0);
    let m = fields::get_duration(&cfg, "max_lease_ttl")?.unwrap_or(0);
    let f = fields::get_bool(&cfg, "force_no_cache")?.unwrap_or(false);
    Ok((d, m, f))
}

fn parse_options(data: &Map<String, Value>) -> Result<BTreeMap<String, String>, CoreError> {
    Ok(fields::get_str_map(data, "options")?.unwrap_or_default())
}

/// Normalizes engine types: `kv-v2` is `kv` with `version = 2`.
fn normalize_kind(kind: &str, options: &mut BTreeMap<String, String>) -> String {
    match kind {
        "kv-v2" => {
            options.insert("version".into(), "2".into());
            "kv".into()
        }
        "kv-v1" => {
            options.insert("version".into(), "1".into());
            "kv".into()
        }
        other => other.to_owned(),
    }
}

pub(super) async fn mount(
    active: &Active,
    op: Operation,
    raw_path: &str,
    data: &Map<String, Value>,
) -> Result<Option<Response>, CoreError> {
    let path = normalize_mount_path(raw_path);
    match op {
        Operation::Read => read_entry(
            &active.mounts_snapshot(),
            &path,
            "No secret engine mount at",
        ),
        Operation::Create | Operation::Update => enable(active, &path, data).await,
        Operation::Delete => disable(active, &path).await,
        _ => super::unsupported(),
    }
}

async fn enable(
    active: &Active,
    path: &str,
    data: &Map<String, Value>,
) -> Result<Option<Response>, CoreError> {
    let kind = fields::get_str(data, "type")?
        .filter(|t| !t.is_empty())
        .ok_or_else(|| CoreError::invalid("backend type must be specified as a string"))?;
    if path == "/" || path.is_empty() {
        return Err(CoreError::invalid("path cannot be empty"));
    }
    if is_protected(path) {
        return Err(CoreError::invalid(format!(
            "cannot mount at reserved path {path:?}"
        )));
    }
    let mut options = parse_options(data)?;
    let kind = normalize_kind(&kind, &mut options);
    let (default_ttl, max_ttl, force_no_cache) = parse_config(data)?;
    if max_ttl != 0 && default_ttl > max_ttl {
        return Err(CoreError::invalid(
            "default lease TTL cannot be larger than max lease TTL",
        ));
    }
    let _guard = active.table_lock.lock().await;
    let mut table = active.mounts_snapshot();
    if let Some(existing) = table.conflict(path) {
        return Err(CoreError::invalid(format!(
            "path is already in use at {existing}"
        )));
    }
    let mut entry = new_entry(
        path,
        &kind,
        &fields::get_str(data, "description")?.unwrap_or_default(),
    );
    entry.options = options;
    if entry.kind == "kv" && !entry.options.contains_key("version") {
        entry.options.insert("version".into(), "1".into());
    }
    entry.config.default_lease_ttl = default_ttl;
    entry.config.max_lease_ttl = max_ttl;
    entry.config.force_no_cache = force_no_cache;
    entry.local = fields::get_bool(data, "local")?.unwrap_or(false);
    entry.seal_wrap = fields::get_bool(data, "seal_wrap")?.unwrap_or(false);
    let backend = active.instantiate(&entry).await?;
    table.entries.insert(path.to_owned(), entry.clone());
    active.store_mounts(table).await?;
    active.set_backend(&entry.uuid, backend);
    tracing::info!(path, kind = %entry.kind, "secrets engine enabled");
    Ok(None)
}

async fn disable(active: &Active, path: &str) -> Result<Option<Response>, CoreError> {
    if is_protected(path) {
        return Err(CoreError::invalid(format!("cannot unmount {path:?}")));
    }
    let _guard = active.table_lock.lock().await;
    let mut table = active.mounts_snapshot();
    if !table.entries.contains_key(path) {
        return Ok(None);
    }
    // As Vault: the mount's leases are revoked through its backend first; when one cannot
    // be, the mount stays (and says why) rather than leave secrets nobody can revoke.
    active
        .leases
        .revoke_prefix(path, false)
        .await
        .map_err(|e| CoreError::invalid(format!("failed to revoke the mount's leases: {e}")))?;
    let Some(entry) = table.entries.remove(path) else {
        return Ok(None);
    };
    active.store_mounts(table).await?;
    if let Ok(mut b) = active.backends.write() {
        b.remove(&entry.uuid);
    }
    // The mount is gone from the table first: a crash here leaves unreachable ciphertext, never
    // a mount pointing at half-deleted data.
    let view = active.mount_view(&entry);
    let keys = list_recursive(&view, "").await?;
    for chunk in keys.chunks(256) {
        view.apply(
            chunk
                .iter()
                .map(|k| Op::Delete { key: k.clone() })
                .collect(),
        )
        .await?;
    }
    tracing::info!(path, "secrets engine disabled");
    Ok(None)
}

pub(super) async fn tune(
    active: &Active,
    op: Operation,
    raw_path: &str,
    data: &Map<String, Value>,
    auth_table: bool,
) -> Result<Option<Response>, CoreError> {
    let path = normalize_mount_path(raw_path);
    let table = if auth_table {
        active.auth_snapshot()
    } else {
        active.mounts_snapshot()
    };
    let sys_entry;
    // A read finds the mount that serves the path (longest prefix), as Vault reads it; a
    // write tunes only the mount named exactly.
    let found = match op {
        Operation::Read => table.route(&path).map(|(e, _)| e),
        _ => table.entries.get(&path),
    };
    let entry = match found {
        Some(e) => e,
        None if !auth_table && path == "sys/" => {
            sys_entry = new_entry("sys/", "system", "");
            &sys_entry
        }
        None => {
            return Err(CoreError::invalid(format!(
                "cannot fetch sysview for path {path:?}"
            )));
        }
    };
    match op {
        Operation::Read => {
            let info = active.mount_info(entry);
            Ok(data_response(json!({
                "default_lease_ttl": info.default_lease_ttl,
                "max_lease_ttl": info.max_lease_ttl,
                "force_no_cache": entry.config.force_no_cache,
                "description": entry.description,
                "options": if entry.options.is_empty() { Value::Null } else { json!(entry.options) },
            })))
        }
        Operation::Update | Operation::Create => {
            let _guard = active.table_lock.lock().await;
            let mut table = if auth_table {
                active.auth_snapshot()
            } else {
                active.mounts_snapshot()
            };
            let Some(entry) = table.entries.get_mut(&path) else {
                return Err(CoreError::invalid(format!("cannot tune {path:?}")));
            };
            if let Some(d) = fields::get_duration(data, "default_lease_ttl")? {
                entry.config.default_lease_ttl = d;
            }
            if let Some(m) = fields::get_duration(data, "max_lease_ttl")? {
                entry.config.max_lease_ttl = m;
            }
            let (d, m) = (entry.config.default_lease_ttl, entry.config.max_lease_ttl);
            if m != 0 && d > m {
                return Err(CoreError::invalid(
                    "default lease TTL cannot be larger than max lease TTL",
                ));
            }
            if let Some(desc) = fields::get_str(data, "description")? {
                entry.description = desc;
            }
            if let Some(opts) = fields::get_str_map(data, "options")? {
                for (k, v) in opts {
                    if k == "version" && entry.kind == "kv" {
                        let current = entry
                            .options
                            .get("version")
                            .map(String::as_str)
                            .unwrap_or("1");
                        if v != current {
                            return Err(CoreError::invalid(
                                "changing the version of an existing KV mount is not supported yet",
                            ));
                        }
                    }
                    entry.options.insert(k, v);
                }
            }
            for key in [
                "audit_non_hmac_request_keys",
                "audit_non_hmac_response_keys",
                "passthrough_request_headers",
            ] {
                if let Some(list) = fields::get_str_list(data, key)? {
                    match key {
                        "audit_non_hmac_request_keys" => {
                            entry.config.audit_non_hmac_request_keys = list
                        }
                        "audit_non_hmac_response_keys" => {
                            entry.config.audit_non_hmac_response_keys = list
                        }
                        _ => entry.config.passthrough_request_headers = list,
                    }
                }
            }
            if let Some(v) = fields::get_str(data, "listing_visibility")? {
                entry.config.listing_visibility = v;
            }
            if auth_table {
                active.store_auth(table).await?;
            } else {
                active.store_mounts(table).await?;
            }
            Ok(None)
        }
        _ => super::unsupported(),
    }
}

pub(super) async fn remount(
    core: &Core,
    active: &Active,
    op: Operation,
    data: &Map<String, Value>,
) -> Result<Option<Response>, CoreError> {
    if !matches!(op, Operation::Update | Operation::Create) {
        return super::unsupported();
    }
    let from = fields::get_str(data, "from")?.filter(|s| !s.is_empty());
    let to = fields::get_str(data, "to")?.filter(|s| !s.is_empty());
    let (Some(from), Some(to)) = (from, to) else {
        return Err(CoreError::invalid(
            "both 'from' and 'to' path must be specified as a string",
        ));
    };
    let (from, to) = (normalize_mount_path(&from), normalize_mount_path(&to));
    if from.starts_with("auth/") || to.starts_with("auth/") {
        return Err(CoreError::invalid(
            "moving auth mounts is not supported yet",
        ));
    }
    if is_protected(&from) || is_protected(&to) {
        return Err(CoreError::invalid("cannot remount reserved paths"));
    }
    let _guard = active.table_lock.lock().await;
    let mut table = active.mounts_snapshot();
    let Some(mut entry) = table.entries.remove(&from) else {
        return Err(CoreError::invalid(format!("no matching mount at {from:?}")));
    };
    if let Some(existing) = table.conflict(&to) {
        return Err(CoreError::invalid(format!(
            "path already in use at {existing:?}"
        )));
    }
    entry.path = to.clone();
    table.entries.insert(to.clone(), entry);
    active.store_mounts(table).await?;
    // Storage lives under the mount's uuid, so moving is a table change only; it is complete
    // when this returns.
    let id = uuid::Uuid::new_v4().to_string();
    remember_migration(core, &id, &from, &to);
    Ok(data_response(json!({ "migration_id": id })))
}

/// Remounts remembered for `sys/remount/status`.
const REMEMBERED_REMOUNTS: usize = 100;

fn remember_migration(core: &Core, id: &str, from: &str, to: &str) {
    let mut m = crate::core::lock(&core.remounts);
    if m.len() >= REMEMBERED_REMOUNTS {
        m.pop_front();
    }
    m.push_back((id.to_owned(), from.to_owned(), to.to_owned()));
}

pub(super) fn remount_status(
    core: &Core,
    op: Operation,
    id: &str,
) -> Result<Option<Response>, CoreError> {
    if op != Operation::Read {
        return super::unsupported();
    }
    let m = crate::core::lock(&core.remounts);
    let Some((id, from, to)) = m.iter().find(|(i, _, _)| i == id) else {
        return Err(CoreError::invalid(format!(
            "no migration found with id {id:?}"
        )));
    };
    Ok(data_response(json!({
        "migration_id": id,
        "migration_info": { "source_mount": from, "target_mount": to, "status": "success" }
    })))
}

pub(super) async fn auth_mount(
    active: &Active,
    op: Operation,
    raw_path: &str,
    data: &Map<String, Value>,
) -> Result<Option<Response>, CoreError> {
    let path = normalize_mount_path(raw_path);
    match op {
        Operation::Read => read_entry(&active.auth_snapshot(), &path, "No auth engine at"),
        Operation::Create | Operation::Update => enable_auth(active, &path, data).await,
        Operation::Delete => disable_auth(active, &path).await,
        _ => super::unsupported(),
    }
}

/// `sys/auth/<path>` write: mounts an auth method of a registered type.
async fn enable_auth(
    active: &Active,
    path: &str,
    data: &Map<String, Value>,
) -> Result<Option<Response>, CoreError> {
    let kind = fields::get_str(data, "type")?
        .filter(|t| !t.is_empty())
        .ok_or_else(|| CoreError::invalid("backend type must be specified as a string"))?;
    if path == "/" || path.is_empty() {
        return Err(CoreError::invalid("path cannot be empty"));
    }
    if kind == "token" {
        return Err(CoreError::invalid(
            "token credential backend cannot be instantiated",
        ));
    }
    let options = parse_options(data)?;
    let (default_ttl, max_ttl, _force_no_cache) = parse_config(data)?;
    if max_ttl != 0 && default_ttl > max_ttl {
        return Err(CoreError::invalid(
            "default lease TTL cannot be larger than max lease TTL",
        ));
    }
    let _guard = active.table_lock.lock().await;
    let mut table = active.auth_snapshot();
    if let Some(existing) = table.conflict(path) {
        return Err(CoreError::invalid(format!(
            "path is already in use at auth/{existing}"
        )));
    }
    let mut entry = new_entry(
        path,
        &kind,
        &fields::get_str(data, "description")?.unwrap_or_default(),
    );
    // Auth mounts' accessors read `auth_<type>_<8 hex>`, as Vault names them.
    entry.accessor = crate::active::new_accessor(&format!("auth_{kind}"));
    entry.options = options;
    entry.config.default_lease_ttl = default_ttl;
    entry.config.max_lease_ttl = max_ttl;
    entry.local = fields::get_bool(data, "local")?.unwrap_or(false);
    entry.seal_wrap = fields::get_bool(data, "seal_wrap")?.unwrap_or(false);
    let backend = active.instantiate_auth(&entry).await?;
    table.entries.insert(path.to_owned(), entry.clone());
    active.store_auth(table).await?;
    active.set_backend(&entry.uuid, backend);
    tracing::info!(path, kind = %entry.kind, "auth method enabled");
    Ok(None)
}

/// `sys/auth/<path>` delete: unmounts an auth method, revokes the tokens its logins issued
/// and deletes its storage.
async fn disable_auth(active: &Active, path: &str) -> Result<Option<Response>, CoreError> {
    if path == "token/" {
        return Err(CoreError::invalid(
            "token credential backend cannot be disabled",
        ));
    }
    let _guard = active.table_lock.lock().await;
    let mut table = active.auth_snapshot();
    let Some(entry) = table.entries.remove(path) else {
        return Ok(None);
    };
    active.store_auth(table).await?;
    if let Ok(mut b) = active.backends.write() {
        b.remove(&entry.uuid);
    }
    // Logged-in clients are logged out: every token a login through this mount issued.
    let prefix = format!("auth/{path}");
    let tokens = &active.tokens;
    for accessor in tokens
        .list_accessors()
        .await
        .map_err(tresor_sdk::LogicalError::from)?
    {
        let issued_here = tokens
            .lookup_accessor(&accessor)
            .await
            .map_err(tresor_sdk::LogicalError::from)?
            .is_some_and(|t| t.path.starts_with(&prefix));
        if issued_here {
            tokens
                .revoke_accessor(&accessor)
                .await
                .map_err(tresor_sdk::LogicalError::from)?;
        }
    }
    let view = active.auth_view(&entry);
    let keys = list_recursive(&view, "").await?;
    for chunk in keys.chunks(256) {
        view.apply(
            chunk
                .iter()
                .map(|k| Op::Delete { key: k.clone() })
                .collect(),
        )
        .await?;
    }
    tracing::info!(path, "auth method disabled");
    Ok(None)
}
