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
    /// Devices declared in the configuration (`audit "TYPE" "PATH" { }`).
    pub declared: Vec<DeclaredAudit>,
    /// `allow_audit_log_prefixing`: whether devices may take the `prefix` option.
    pub allow_prefix: bool,
    /// Whether devices may be enabled and disabled through the API (Vault: yes; OpenBao's
    /// `unsafe_allow_api_audit_creation = false` turns it off).
    pub api_creation: bool,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            declared: Vec::new(),
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

/// An audit device declared in the server configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeclaredAudit {
    /// Its type.
    pub kind: String,
    /// Its path, with a trailing `/`.
    pub path: String,
    /// Free text.
    pub description: String,
    /// Whether it is local to this cluster.
    pub local: bool,
    /// Its options.
    pub options: BTreeMap<String, String>,
}

impl DeclaredAudit {
    fn same_as(&self, e: &AuditTableEntry) -> bool {
        e.declared
            && e.kind == self.kind
            && e.description == self.description
            && e.local == self.local
            && e.options == self.options
    }
}

/// The table with its declared devices made to match `declared`: declared entries no longer
/// in the configuration (or changed there) are removed, missing ones added with a salt from
/// `new_salt`; an API-enabled device at a declared path wins and is reported. Returns the
/// new table and the reports; the table is unchanged when nothing differs.
pub(crate) fn reconcile(
    table: &AuditTable,
    declared: &[DeclaredAudit],
    mut new_salt: impl FnMut() -> String,
) -> (AuditTable, Vec<String>) {
    let mut reports = Vec::new();
    let mut entries: Vec<AuditTableEntry> = table
        .entries
        .iter()
        .filter(|e| !e.declared || declared.iter().any(|d| d.path == e.path && d.same_as(e)))
        .cloned()
        .collect();
    for d in declared {
        if entries.iter().any(|e| e.path == d.path && d.same_as(e)) {
            continue;
        }
        let probe = AuditTable {
            entries: entries.clone(),
        };
        if let Some(other) = probe.conflicts(&d.path) {
            reports.push(format!(
                "declared audit device {} not created: the path conflicts with {} enabled through the API",
                d.path, other.path
            ));
            continue;
        }
        entries.push(AuditTableEntry {
            path: d.path.clone(),
            kind: d.kind.clone(),
            description: d.description.clone(),
            options: d.options.clone(),
            local: d.local,
            uuid: uuid::Uuid::new_v4().to_string(),
            salt: new_salt(),
            declared: true,
        });
    }
    (AuditTable { entries }, reports)
}

#[cfg(test)]
mod reconcile_tests {
    use super::*;

    fn declared(path: &str, file: &str) -> DeclaredAudit {
        DeclaredAudit {
            kind: "file".into(),
            path: path.into(),
            options: [("file_path".to_owned(), file.to_owned())]
                .into_iter()
                .collect(),
            ..DeclaredAudit::default()
        }
    }

    fn salts() -> impl FnMut() -> String {
        let mut n = 0;
        move || {
            n += 1;
            format!("{n:02}")
        }
    }

    #[test]
    fn adds_keeps_changes_and_removes_declared_devices() {
        let (t1, r) = reconcile(&AuditTable::default(), &[declared("a/", "/x")], salts());
        assert!(r.is_empty());
        assert_eq!(t1.entries.len(), 1);
        assert!(t1.entries[0].declared);
        // Same declaration: nothing changes (the salt stays).
        let (t2, _) = reconcile(&t1, &[declared("a/", "/x")], salts());
        assert_eq!(t2, t1);
        // Changed options: replaced, with a new salt.
        let (t3, _) = reconcile(&t2, &[declared("a/", "/y")], || "ff".into());
        assert_eq!(t3.entries.len(), 1);
        assert_eq!(t3.entries[0].options["file_path"], "/y");
        assert_eq!(t3.entries[0].salt, "ff");
        // Block removed: device removed.
        let (t4, _) = reconcile(&t3, &[], salts());
        assert!(t4.entries.is_empty());
    }

    #[test]
    fn api_devices_win_and_stay() {
        let (mut t, _) = reconcile(&AuditTable::default(), &[], salts());
        t.entries.push(AuditTableEntry {
            path: "a/".into(),
            kind: "socket".into(),
            description: String::new(),
            options: BTreeMap::new(),
            local: false,
            uuid: "u".into(),
            salt: "00".into(),
            declared: false,
        });
        let (t2, reports) = reconcile(&t, &[declared("a/", "/x")], salts());
        assert_eq!(t2, t);
        assert_eq!(reports.len(), 1, "{reports:?}");
        let (t3, _) = reconcile(&t, &[], salts());
        assert_eq!(t3, t, "API devices are never removed by the configuration");
    }
}
