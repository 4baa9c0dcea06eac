//! `audit "TYPE" "PATH" { description = "...", local = false, options { KEY = "VALUE" } }`:
//! audit devices declared in the configuration (OpenBao's declarative audit devices). The
//! active node creates them when it becomes active and on SIGHUP, and removes those whose
//! block is gone.

use std::collections::BTreeMap;

use crate::error::ConfigError;
use crate::section::{Section, labeled, to_string};
use crate::tree::{Node, join};

/// One declared audit device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditStanza {
    /// The device type (`file`, `socket`, `syslog`, `http`).
    pub kind: String,
    /// Where it is enabled, with a trailing `/`.
    pub path: String,
    /// Free text.
    pub description: String,
    /// Whether it is local to this cluster.
    pub local: bool,
    /// The device's options.
    pub options: BTreeMap<String, String>,
    /// The file that declared it.
    pub source: String,
}

/// Decodes every `audit` block of `field`.
pub(crate) fn decode_audits(
    field: crate::section::Field<'_>,
    warnings: &mut Vec<String>,
) -> Result<Vec<AuditStanza>, ConfigError> {
    let file = field.file;
    let mut out = Vec::new();
    for (kind, body) in labeled(field, "audit")? {
        let kind_key = join("audit", kind);
        for (path, node) in body {
            let key = join(&kind_key, path);
            let Node::Map(entries) = node else {
                return Err(ConfigError::invalid(
                    file,
                    &key,
                    format!(
                        "expected a block like audit \"{kind}\" \"PATH\" {{ ... }}, got {}",
                        node.kind_name()
                    ),
                ));
            };
            let mut sec = Section::new(key.clone(), file, entries);
            let description = sec.string("description")?.unwrap_or_default();
            let local = sec.bool("local")?.unwrap_or(false);
            let mut options = BTreeMap::new();
            if let Some(f) = sec.last("options") {
                let Node::Map(opts) = f.node else {
                    return Err(ConfigError::invalid(
                        file,
                        &join(&key, "options"),
                        "expected a block of KEY = \"VALUE\"",
                    ));
                };
                for (k, v) in opts {
                    let text = to_string(v)
                        .map_err(|reason| ConfigError::invalid(file, &join(&key, k), reason))?;
                    options.insert(k.clone(), text);
                }
            }
            sec.finish(warnings);
            let trimmed = path.trim_matches('/');
            if trimmed.is_empty() {
                return Err(ConfigError::invalid(
                    file,
                    &key,
                    "the audit device path is empty",
                ));
            }
            let path = format!("{trimmed}/");
            if out.iter().any(|a: &AuditStanza| a.path == path) {
                return Err(ConfigError::invalid(
                    file,
                    &key,
                    format!("two audit blocks declare the path {path}"),
                ));
            }
            out.push(AuditStanza {
                kind: kind.to_owned(),
                path,
                description,
                local,
                options,
                source: file.to_owned(),
            });
        }
    }
    Ok(out)
}
