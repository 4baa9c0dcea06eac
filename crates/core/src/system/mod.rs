//! The built-in `sys/` logical backend.
//!
//! The raw endpoints (init, seal-status, unseal, seal, health, leader, generate-root, rekey,
//! step-down) do not pass through here: the http layer calls the [`Core`] methods directly.

mod audit;
mod autosnap;
mod capabilities;
mod keys;
mod leases;
mod mounts;
mod policies;
mod ui;

use serde_json::{Map, Value};
use tresor_policy::Acl;
use tresor_sdk::{Auth, Operation, Response};

use crate::active::Active;
use crate::core::Core;
use crate::error::CoreError;

/// `sys/` paths that need `sudo` in addition to the capability (relative to `sys/`).
pub(crate) const ROOT_PATHS: &[&str] = &[
    "auth/*",
    "remount",
    "rotate",
    "rotate/*",
    "audit",
    "audit/*",
    "raw",
    "raw/*",
    "revoke-prefix/*",
    "revoke-force/*",
    "leases/revoke-prefix/*",
    "leases/revoke-force/*",
    "leases/lookup/*",
    "storage/raft/snapshot",
    "storage/raft/snapshot-force",
    "storage/raft/remove-peer",
    "storage/raft/configuration",
    "storage/raft/autopilot/*",
    "storage/raft/snapshot-auto/config/*",
    "config/*",
];

/// `sys/` paths that skip the ACL check (they filter their answer by the caller's ACL
/// themselves, as Vault's unauthenticated `sys/internal/ui/mounts` does).
pub(crate) const ACL_EXEMPT_PATHS: &[&str] = &["internal/ui/mounts", "internal/ui/mounts/*"];

/// Dispatches a `sys/` request (already authorized).
pub(crate) async fn handle(
    core: &Core,
    active: &Active,
    op: Operation,
    rel: &str,
    data: &Map<String, Value>,
    auth: &Auth,
    acl: &Acl,
) -> Result<Option<Response>, CoreError> {
    // A LIST names a directory (the pipeline gave it its trailing `/`); every other path is
    // served exactly as the ACL saw it.
    let rel = match op {
        Operation::List => rel.strip_suffix('/').unwrap_or(rel),
        _ => rel,
    };
    let segs: Vec<&str> = rel.split('/').collect();
    match segs.as_slice() {
        ["mounts"] => mounts::list_mounts(active, op),
        ["mounts", mount @ .., "tune"] if !mount.is_empty() => {
            mounts::tune(active, op, &mount.join("/"), data, false).await
        }
        // `sys/mounts/` names no mount: nothing serves it.
        ["mounts", ""] | ["auth", ""] => Err(CoreError::UnsupportedPath),
        ["mounts", mount @ ..] => mounts::mount(active, op, &mount.join("/"), data).await,
        ["remount"] => mounts::remount(core, active, op, data).await,
        ["remount", "status", id] => mounts::remount_status(core, op, id),
        ["auth"] => mounts::list_auth(active, op),
        ["auth", mount @ .., "tune"] if !mount.is_empty() => {
            mounts::tune(active, op, &mount.join("/"), data, true).await
        }
        ["auth", mount @ ..] => mounts::auth_mount(active, op, &mount.join("/"), data).await,
        ["policy"] => policies::list_legacy(active, op).await,
        ["policy", ..] => {
            policies::policy(
                active,
                op,
                rel.strip_prefix("policy/").unwrap_or_default(),
                data,
                policies::Flavor::Legacy,
            )
            .await
        }
        ["policies", "acl"] => policies::list_acl(active, op).await,
        ["policies", "acl", ..] => {
            policies::policy(
                active,
                op,
                rel.strip_prefix("policies/acl/").unwrap_or_default(),
                data,
                policies::Flavor::Acl,
            )
            .await
        }
        ["audit"] => audit::list(core, op).await,
        ["audit", ""] => Err(CoreError::UnsupportedPath),
        ["audit", ..] => {
            audit::device(
                core,
                op,
                rel.strip_prefix("audit/").unwrap_or_default(),
                data,
            )
            .await
        }
        ["audit-hash", ..] => audit::hash(
            core,
            op,
            rel.strip_prefix("audit-hash/").unwrap_or_default(),
            data,
        ),
        ["config", "auditing", "request-headers"] => audit::headers(active, op).await,
        ["config", "auditing", "request-headers", name] => {
            audit::header(active, op, name, data).await
        }
        ["capabilities"] => capabilities::for_token(active, op, data).await,
        ["capabilities-self"] => capabilities::for_self(active, op, data, acl),
        ["capabilities-accessor"] => capabilities::for_accessor(active, op, data).await,
        ["key-status"] => keys::key_status(core, op),
        ["rotate"] | ["rotate", "keyring"] => keys::rotate(core, op).await,
        ["rotate", "config"] | ["rotate", "keyring", "config"] => {
            keys::rotate_config(core, op, data).await
        }
        ["wrapping", "wrap"] => match op {
            // The body becomes the response's data; the core wraps it (and refuses the request
            // when no wrap TTL was given).
            Operation::Update | Operation::Create => Ok(Some(Response::data(data.clone()))),
            _ => unsupported(),
        },
        ["storage", "raft", "snapshot-auto", "config"] => autosnap::list(active, op).await,
        ["storage", "raft", "snapshot-auto", "config", name] => {
            autosnap::config(active, op, name, data).await
        }
        ["storage", "raft", "snapshot-auto", "status", name] => {
            autosnap::status(active, op, name).await
        }
        ["leases"] => leases::irrevocable(&active.leases, op, data).await,
        ["leases", "count"] => leases::count(&active.leases, op, data),
        ["leases", "lookup"] => leases::lookup(&active.leases, op, data).await,
        ["leases", "lookup", ..] => {
            let prefix = rel.strip_prefix("leases/lookup/").unwrap_or_default();
            leases::list(&active.leases, op, prefix).await
        }
        ["leases", "renew"] | ["renew"] => leases::renew(&active.leases, op, "", data).await,
        ["leases", "renew", ..] | ["renew", ..] => {
            let id = tail(rel, &["leases/renew/", "renew/"]);
            leases::renew(&active.leases, op, id, data).await
        }
        ["leases", "revoke"] | ["revoke"] => leases::revoke(&active.leases, op, "", data).await,
        ["leases", "revoke", ..] | ["revoke", ..] => {
            let id = tail(rel, &["leases/revoke/", "revoke/"]);
            leases::revoke(&active.leases, op, id, data).await
        }
        ["leases", "revoke-prefix", ..] | ["revoke-prefix", ..] => {
            let prefix = tail(rel, &["leases/revoke-prefix/", "revoke-prefix/"]);
            leases::revoke_prefix(&active.leases, op, prefix, false).await
        }
        ["leases", "revoke-force", ..] | ["revoke-force", ..] => {
            let prefix = tail(rel, &["leases/revoke-force/", "revoke-force/"]);
            leases::revoke_prefix(&active.leases, op, prefix, true).await
        }
        ["leases", "tidy"] => leases::tidy(&active.leases, op).await,
        ["internal", "ui", "mounts"] => ui::mounts(active, op, acl),
        ["internal", "ui", "mounts", ..] => {
            let path = rel.strip_prefix("internal/ui/mounts/").unwrap_or_default();
            ui::mount(active, op, path, acl)
        }
        _ => {
            let _ = auth;
            Err(CoreError::UnsupportedPath)
        }
    }
}

/// `rel` without the first of `prefixes` it starts with.
fn tail<'a>(rel: &'a str, prefixes: &[&str]) -> &'a str {
    prefixes
        .iter()
        .find_map(|p| rel.strip_prefix(p))
        .unwrap_or_default()
}

/// Refuses an operation the path does not take.
pub(crate) fn unsupported() -> Result<Option<Response>, CoreError> {
    Err(CoreError::UnsupportedOperation)
}
