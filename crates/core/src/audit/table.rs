//! The audit table (`core/audit` in the barrier, replicated like the mount tables) and the
//! audited request headers (`core/audited-headers`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Barrier path of the audit table.
pub(crate) const AUDIT_TABLE_PATH: &str = "core/audit";
/// Barrier path of the audited request headers.
pub const AUDITED_HEADERS_PATH: &str = "core/audited-headers";

/// The server settings that govern audit devices.
#[derive(Clone, Debug)]
pub struct AuditSettings {
    /// `allow_audit_log_prefixing`: whether devices may take the `prefix` option.
    pub allow_prefix: bool,
    /// Whether devices may be enabled and disabled through the API (Vault: yes; OpenBao's
    /// `unsafe_allow_api_audit_creation = false` turns it off).
    pub api_creation: bool,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            allow_prefix: false,
            api_creation: true,
        }
    }
}

/// One enabled device as stored.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct AuditTableEntry {
    /// Where it is enabled, with a trailing `/`.
    pub(crate) path: String,
    /// Its type.
    #[serde(rename = "type")]
    pub(crate) kind: String,
    /// Free text.
    #[serde(default)]
    pub(crate) description: String,
    /// Its options as given.
    #[serde(default)]
    pub(crate) options: BTreeMap<String, String>,
    /// Whether it stays on this cluster only (accepted, informational: no replication).
    #[serde(default)]
    pub(crate) local: bool,
    /// Its id.
    pub(crate) uuid: String,
    /// Its HMAC key, hex (new each time the path is enabled).
    pub(crate) salt: String,
    /// Whether it was declared in the server configuration rather than through the API.
    #[serde(default)]
    pub(crate) declared: bool,
}

/// The audit table.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct AuditTable {
    pub(crate) entries: Vec<AuditTableEntry>,
}

impl AuditTable {
    /// Whether `path` would nest with (be a prefix of, or under) an enabled path.
    pub(crate) fn conflicts(&self, path: &str) -> Option<&AuditTableEntry> {
        self.entries
            .iter()
            .find(|e| e.path.starts_with(path) || path.starts_with(&e.path))
    }
}

/// One audited request header: its values are copied into request entries, hashed when
/// `hmac` is set.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct HeaderSetting {
    pub(crate) hmac: bool,
}

/// The audited request headers, by lower-case name.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct HeaderConfig {
    pub(crate) headers: BTreeMap<String, HeaderSetting>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str) -> AuditTableEntry {
        AuditTableEntry {
            path: path.into(),
            kind: "file".into(),
            description: String::new(),
            options: BTreeMap::new(),
            local: false,
            uuid: "u".into(),
            salt: "00".into(),
            declared: false,
        }
    }

    #[test]
    fn nested_paths_conflict() {
        let t = AuditTable {
            entries: vec![entry("file/"), entry("team/a/")],
        };
        assert!(t.conflicts("file/").is_some());
        assert!(t.conflicts("file/more/").is_some());
        assert!(t.conflicts("team/").is_some());
        assert!(t.conflicts("files/").is_none());
        assert!(t.conflicts("team/b/").is_none());
    }
}
