//! The built-in `sys/` logical backend.
//!
//! The raw endpoints (init, seal-status, unseal, seal, health, leader, generate-root, rekey,
//! step-down) do not pass through here: the http layer calls the [`Core`] methods directly.

mod capabilities;
mod keys;
mod mounts;
mod policies;
mod ui;

use serde_json::{Map, Value};
use tresor_policy::Acl;
use tresor_sdk::{Auth, Operation, Response};

use crate::active::Active;
use crate::core::Core;
use crate::error::CoreError;
use crate::request::Method;

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
    "config/*",
];

/// `sys/` paths that skip the ACL check (they filter their answer by the caller's ACL
/// themselves, as Vault's unauthenticated `sys/internal/ui/mounts` does).
pub(crate) const ACL_EXEMPT_PATHS: &[&str] = &["internal/ui/mounts", "internal/ui/mounts/*"];

/// The operation a `sys/` request performs (PUT/POST on a policy that does not exist yet is a
/// `create`).
pub(crate) async fn operation(
    active: &Active,
    method: Method,
    rel: &str,
) -> Result<Operation, CoreError> {
    Ok(match method {
        Method::Get => Operation::Read,
        Method::List => Operation::List,
        Method::Patch => Operation::Patch,
        Method::Delete => Operation::Delete,
        Method::Write => {
            let name = rel
                .strip_prefix("policy/")
                .or_else(|| rel.strip_prefix("policies/acl/"));
            match name {
                Some(n) if !n.is_empty() => {
                    if active.policies.get(&n.to_lowercase()).await?.is_some() {
                        Operation::Update
                    } else {
                        Operation::Create
                    }
                }
                _ => Operation::Update,
            }
        }
    })
}

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
    let rel = rel.trim_end_matches('/');
    let segs: Vec<&str> = rel.split('/').collect();
    match segs.as_slice() {
        ["mounts"] => mounts::list_mounts(active, op),
        ["mounts", ..] if rel.ends_with("/tune") => {
            let path = &rel["mounts/".len()..rel.len() - "/tune".len()];
            mounts::tune(active, op, path, data, false).await
        }
        ["mounts", ..] => mounts::mount(active, op, &rel["mounts/".len()..], data).await,
        ["remount"] => mounts::remount(active, op, data).await,
        ["remount", "status", id] => mounts::remount_status(op, id),
        ["auth"] => mounts::list_auth(active, op),
        ["auth", ..] if rel.ends_with("/tune") => {
            let path = &rel["auth/".len()..rel.len() - "/tune".len()];
            mounts::tune(active, op, path, data, true).await
        }
        ["auth", ..] => mounts::auth_mount(active, op, &rel["auth/".len()..], data).await,
        ["policy"] => policies::list_legacy(active, op).await,
        ["policy", ..] => {
            policies::policy(
                active,
                op,
                &rel["policy/".len()..],
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
                &rel["policies/acl/".len()..],
                data,
                policies::Flavor::Acl,
            )
            .await
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
        ["internal", "ui", "mounts"] => ui::mounts(active, op, acl),
        ["internal", "ui", "mounts", ..] => {
            ui::mount(active, op, &rel["internal/ui/mounts/".len()..], acl)
        }
        _ => {
            let _ = auth;
            Err(CoreError::UnsupportedPath)
        }
    }
}

/// Refuses an operation the path does not take.
pub(crate) fn unsupported() -> Result<Option<Response>, CoreError> {
    Err(CoreError::UnsupportedOperation)
}
