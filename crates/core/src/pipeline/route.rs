//! The route stage: which backend serves a canonical path, and the part of the path it sees.

use std::sync::Arc;

use tresor_sdk::{CanonicalPath, LogicalBackend, MountInfo};
use tresor_storage::View;

use crate::active::Active;

/// `sys/` paths whose last part is a policy name: names are case-insensitive, so the path is
/// lower-cased there before any decision is made on it.
const POLICY_PREFIXES: &[&str] = &["sys/policy/", "sys/policies/acl/"];

/// Where a path goes.
pub(crate) enum Target {
    /// The built-in `sys/` backend.
    System,
    /// A mounted backend.
    Backend {
        backend: Arc<dyn LogicalBackend>,
        mount: MountInfo,
        view: View,
    },
}

/// A routed request path.
pub(crate) struct Routed {
    /// The backend.
    pub(crate) target: Target,
    /// The canonical path every later decision is made on.
    pub(crate) path: CanonicalPath,
    /// Length of the mount prefix (`sys/`, `secret/`, `auth/token/`): the backend sees the
    /// rest of [`Routed::path`], untouched.
    pub(crate) mount_len: usize,
}

impl Routed {
    /// The path relative to the mount, as the backend serves it.
    pub(crate) fn relative(&self) -> &str {
        self.path.as_str().get(self.mount_len..).unwrap_or_default()
    }

    /// The mount point (`sys/` for the system backend).
    pub(crate) fn mount_point(&self) -> &str {
        self.path.as_str().get(..self.mount_len).unwrap_or_default()
    }
}

/// Lower-cases a policy name in `path` (the only rewrite, made before every decision).
pub(crate) fn normalize_policy_name(path: CanonicalPath) -> CanonicalPath {
    POLICY_PREFIXES
        .iter()
        .fold(path, |p, prefix| p.lowercase_after(prefix))
}

impl Active {
    /// Resolves a canonical path to its backend (longest mount prefix); a path nothing
    /// serves comes back as the error, for the ACL to answer first.
    pub(crate) fn route(&self, path: CanonicalPath) -> Result<Routed, CanonicalPath> {
        let text = path.as_str();
        if text.starts_with("sys/") || text == "sys" {
            let path = normalize_policy_name(path);
            let mount_len = "sys/".len().min(path.as_str().len());
            return Ok(Routed {
                target: Target::System,
                path,
                mount_len,
            });
        }
        if let Some(rest) = text.strip_prefix("auth/") {
            let table = self.auth_snapshot();
            let Some((entry, rel)) = table.route(rest) else {
                return Err(path);
            };
            let backend = if entry.kind == "token" {
                self.token_backend.clone()
            } else {
                match self.backend(&entry.uuid) {
                    Some(b) => b,
                    None => return Err(path),
                }
            };
            let mount_len = text.len() - rel.len();
            return Ok(Routed {
                target: Target::Backend {
                    backend,
                    view: self.auth_view(entry),
                    mount: self.auth_mount_info(entry),
                },
                path,
                mount_len,
            });
        }
        let table = self.mounts_snapshot();
        let Some((entry, rel, backend)) = table
            .route(text)
            .and_then(|(entry, rel)| Some((entry, rel, self.backend(&entry.uuid)?)))
        else {
            return Err(path);
        };
        let mount_len = text.len() - rel.len();
        Ok(Routed {
            target: Target::Backend {
                backend,
                mount: self.mount_info(entry),
                view: self.mount_view(entry),
            },
            path,
            mount_len,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_names_are_lower_cased_before_decisions() {
        let p = |s: &str| CanonicalPath::parse(s).expect("canonical");
        assert_eq!(
            normalize_policy_name(p("sys/policies/acl/DEFAULT")).as_str(),
            "sys/policies/acl/default"
        );
        assert_eq!(
            normalize_policy_name(p("sys/policy/Admin")).as_str(),
            "sys/policy/admin"
        );
        assert_eq!(
            normalize_policy_name(p("sys/mounts/Secret")).as_str(),
            "sys/mounts/Secret"
        );
    }
}
