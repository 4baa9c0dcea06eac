//! The mount tables (secrets engines and auth methods) and longest-prefix routing.
//!
//! Pure data and logic: persistence is the caller's (the table is one JSON document in the
//! barrier at `core/mounts` or `core/auth`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Tunable settings of a mount (`sys/mounts/<path>/tune`). Zero TTLs mean "system default".
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct MountConfig {
    /// Default lease TTL in seconds (0 = system default).
    #[serde(default)]
    pub default_lease_ttl: u64,
    /// Maximum lease TTL in seconds (0 = system default).
    #[serde(default)]
    pub max_lease_ttl: u64,
    /// `force_no_cache` as Vault stores it.
    #[serde(default)]
    pub force_no_cache: bool,
    /// Listing visibility (`unauth` or empty).
    #[serde(default)]
    pub listing_visibility: String,
    /// Keys to HMAC in request audit logs.
    #[serde(default)]
    pub audit_non_hmac_request_keys: Vec<String>,
    /// Keys to HMAC in response audit logs.
    #[serde(default)]
    pub audit_non_hmac_response_keys: Vec<String>,
    /// Headers passed through to the backend.
    #[serde(default)]
    pub passthrough_request_headers: Vec<String>,
}

/// One mounted backend.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct MountEntry {
    /// Path with a trailing slash, e.g. `secret/`.
    pub path: String,
    /// Backend type, e.g. `kv`, `system`, `token`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Unique id; the mount's storage lives under it.
    pub uuid: String,
    /// Accessor, e.g. `kv_1f2e3d4c`.
    pub accessor: String,
    /// Tunables.
    #[serde(default)]
    pub config: MountConfig,
    /// Backend options, e.g. `version = "2"`.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Replication-local flag (kept for API compatibility).
    #[serde(default)]
    pub local: bool,
    /// Seal-wrap flag (kept for API compatibility).
    #[serde(default)]
    pub seal_wrap: bool,
    /// Unix seconds when the mount was created.
    #[serde(default)]
    pub created_at: i64,
}

/// A table of mounts keyed by path.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct MountTable {
    /// Entries by path (with trailing slash).
    pub entries: BTreeMap<String, MountEntry>,
}

/// Normalizes a user-supplied mount path: no leading slash, exactly one trailing slash.
pub fn normalize_mount_path(path: &str) -> String {
    let p = path.trim().trim_matches('/');
    format!("{p}/")
}

impl MountTable {
    /// The entry whose path is the longest prefix of `path`, with the remainder of `path`.
    pub fn route<'a>(&'a self, path: &'a str) -> Option<(&'a MountEntry, &'a str)> {
        // Also match a request for the mount itself without trailing slash ("secret").
        let mut best: Option<&MountEntry> = None;
        for (mount, entry) in &self.entries {
            let is_mount_itself =
                mount.len() == path.len() + 1 && mount.starts_with(path) && mount.ends_with('/');
            let matches = path.starts_with(mount.as_str()) || is_mount_itself;
            if matches && best.is_none_or(|b| mount.len() > b.path.len()) {
                best = Some(entry);
            }
        }
        best.map(|e| {
            let rest = path.get(e.path.len()..).unwrap_or("");
            (e, rest)
        })
    }

    /// Whether a new mount at `path` would conflict with an existing one (same path, or one
    /// nested inside the other), as Vault refuses.
    pub fn conflict(&self, path: &str) -> Option<&str> {
        self.entries
            .keys()
            .find(|m| path.starts_with(m.as_str()) || m.starts_with(path))
            .map(String::as_str)
    }

    /// The entry with this uuid.
    pub fn by_uuid(&self, uuid: &str) -> Option<&MountEntry> {
        self.entries.values().find(|e| e.uuid == uuid)
    }
}

/// Paths that can never be mounted over or unmounted by users.
pub const PROTECTED_PATHS: &[&str] = &["sys/", "auth/", "cubbyhole/", "identity/", "audit/"];

/// Whether `path` (normalized) is reserved.
pub fn is_protected(path: &str) -> bool {
    PROTECTED_PATHS
        .iter()
        .any(|p| path.starts_with(p) || p.starts_with(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str) -> MountEntry {
        MountEntry {
            path: path.into(),
            kind: "kv".into(),
            description: String::new(),
            uuid: format!("u-{path}"),
            accessor: String::new(),
            config: MountConfig::default(),
            options: BTreeMap::new(),
            local: false,
            seal_wrap: false,
            created_at: 0,
        }
    }

    fn table(paths: &[&str]) -> MountTable {
        MountTable {
            entries: paths.iter().map(|p| (p.to_string(), entry(p))).collect(),
        }
    }

    #[test]
    fn longest_prefix_wins() {
        let t = table(&["secret/", "secret/team/", "kv/"]);
        let (e, rest) = t.route("secret/team/x").unwrap();
        assert_eq!(e.path, "secret/team/");
        assert_eq!(rest, "x");
        let (e, rest) = t.route("secret/teamx").unwrap();
        assert_eq!(e.path, "secret/");
        assert_eq!(rest, "teamx");
        assert!(t.route("other/x").is_none());
        let (e, rest) = t.route("kv").unwrap();
        assert_eq!((e.path.as_str(), rest), ("kv/", ""));
    }

    #[test]
    fn conflicts_and_normalization() {
        let t = table(&["secret/"]);
        assert_eq!(normalize_mount_path("/secret"), "secret/");
        assert_eq!(t.conflict("secret/a/"), Some("secret/"));
        assert_eq!(t.conflict("sec/"), None);
        assert!(is_protected("sys/"));
        assert!(is_protected("auth/foo/"));
        assert!(!is_protected("secret/"));
    }
}
