//! The authorize stage: the ACL decision on the canonical path, pure (no I/O, no runtime).

use std::time::Duration;

use serde_json::{Map, Value};
use tresor_policy::{Acl, Capability};
use tresor_sdk::Operation;

use crate::error::CoreError;

/// Everything the ACL decides on, gathered by the earlier stages.
#[derive(Debug)]
pub(crate) struct Ask<'a> {
    /// The canonical request path (mount prefix included), exactly as the backend serves it.
    pub(crate) path: &'a str,
    /// The operation, with create vs update already decided.
    pub(crate) operation: Operation,
    /// Whether the path is a root path of its backend (needs `sudo`).
    pub(crate) sudo: bool,
    /// The request data (body, or query parameters of a read).
    pub(crate) data: &'a Map<String, Value>,
    /// The response-wrapping TTL the client asked for, seconds.
    pub(crate) wrap_ttl: Option<u64>,
}

/// Decides `ask` against `acl`: the capability, `sudo` on root paths, parameter constraints
/// (on create, update, patch and on reads' query parameters, as Vault checks them) and the
/// rule's response-wrapping bounds. Any refusal is "permission denied". On success, answers
/// whether the caller holds `sudo` on the path.
pub(crate) fn authorize(acl: &Acl, ask: &Ask<'_>) -> Result<bool, CoreError> {
    let check = acl.check(ask.path, Capability::from(ask.operation));
    if !check.allowed || (ask.sudo && !check.sudo) {
        return Err(CoreError::PermissionDenied);
    }
    if matches!(
        ask.operation,
        Operation::Create | Operation::Update | Operation::Patch | Operation::Read
    ) {
        acl.check_parameters(ask.path, ask.data)
            .map_err(|_| CoreError::PermissionDenied)?;
    }
    wrapping_within(check.min_wrapping_ttl, check.max_wrapping_ttl, ask.wrap_ttl)?;
    Ok(check.sudo)
}

/// A rule with a wrapping bound makes wrapping mandatory on its path, within the bounds.
fn wrapping_within(
    min: Option<Duration>,
    max: Option<Duration>,
    wrap_ttl: Option<u64>,
) -> Result<(), CoreError> {
    let min = min.filter(|d| !d.is_zero());
    let max = max.filter(|d| !d.is_zero());
    if min.is_none() && max.is_none() {
        return Ok(());
    }
    let Some(ttl) = wrap_ttl.filter(|t| *t > 0).map(Duration::from_secs) else {
        return Err(CoreError::PermissionDenied);
    };
    if min.is_some_and(|m| ttl < m) || max.is_some_and(|m| ttl > m) {
        return Err(CoreError::PermissionDenied);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tresor_policy::Policy;

    fn acl(hcl: &str) -> Acl {
        Acl::new(&[Policy::parse("p", hcl).expect("policy parses")])
    }

    fn ask<'a>(path: &'a str, operation: Operation, data: &'a Map<String, Value>) -> Ask<'a> {
        Ask {
            path,
            operation,
            sudo: false,
            data,
            wrap_ttl: None,
        }
    }

    #[test]
    fn capability_and_sudo() {
        let none = Map::new();
        let a = acl(r#"path "auth/token/accessors/" { capabilities = ["list"] }"#);
        let mut q = ask("auth/token/accessors/", Operation::List, &none);
        assert!(authorize(&a, &q).is_ok());
        q.sudo = true;
        assert!(matches!(
            authorize(&a, &q),
            Err(CoreError::PermissionDenied)
        ));
        let a = acl(r#"path "auth/token/accessors/" { capabilities = ["list", "sudo"] }"#);
        assert!(authorize(&a, &q).is_ok());
        assert!(authorize(&Acl::root(), &q).is_ok());
    }

    #[test]
    fn create_only_cannot_update() {
        let none = Map::new();
        let a = acl(r#"path "sys/policies/acl/*" { capabilities = ["create"] }"#);
        assert!(authorize(&a, &ask("sys/policies/acl/new", Operation::Create, &none)).is_ok());
        assert!(
            authorize(
                &a,
                &ask("sys/policies/acl/default", Operation::Update, &none)
            )
            .is_err()
        );
    }

    #[test]
    fn read_query_parameters_are_constrained() {
        let a = acl(r#"path "kv/*" {
                 capabilities = ["read"]
                 denied_parameters = { "version" = [] }
               }"#);
        let mut data = Map::new();
        assert!(authorize(&a, &ask("kv/x", Operation::Read, &data)).is_ok());
        data.insert("version".into(), Value::String("1".into()));
        assert!(authorize(&a, &ask("kv/x", Operation::Read, &data)).is_err());
    }

    #[test]
    fn wrapping_bounds_make_wrapping_mandatory() {
        let none = Map::new();
        let a = acl(r#"path "kv/*" {
                 capabilities = ["read"]
                 min_wrapping_ttl = "1m"
                 max_wrapping_ttl = "1h"
               }"#);
        let mut q = ask("kv/x", Operation::Read, &none);
        assert!(authorize(&a, &q).is_err(), "unwrapped");
        q.wrap_ttl = Some(30);
        assert!(authorize(&a, &q).is_err(), "below the minimum");
        q.wrap_ttl = Some(7200);
        assert!(authorize(&a, &q).is_err(), "above the maximum");
        q.wrap_ttl = Some(600);
        assert!(authorize(&a, &q).is_ok());
    }
}
