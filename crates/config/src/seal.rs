//! `seal "TYPE" { ... }` blocks.

use std::collections::BTreeMap;
use std::fmt;

use zeroize::Zeroize;

use crate::error::ConfigError;
use crate::section::{to_bool, to_int, to_string};
use crate::tree::{Node, join};

/// Seal types Tresor implements (besides the implicit default, `shamir`).
pub const SUPPORTED_SEALS: &[&str] = &["awskms", "transit", "pkcs11"];

/// Parameters whose values are shown in `Debug`; all others (tokens, secret keys, PINs,
/// client secrets, ...) are redacted.
const PUBLIC_PARAMS: &[&str] = &[
    "region",
    "kms_key_id",
    "endpoint",
    "address",
    "key_name",
    "mount_path",
    "namespace",
    "lib",
    "slot",
    "token_label",
    "key_label",
    "key_id",
    "mechanism",
    "tls_ca_cert",
    "tls_server_name",
    "tls_skip_verify",
    "disable_renewal",
    "tenant_id",
    "vault_name",
    "project",
    "key_ring",
    "crypto_key",
];

/// One `seal` block. Every parameter other than `disabled`, `name` and `priority` is kept as a
/// string in `params` (numbers and booleans as written, e.g. `"false"`); the seal
/// implementation interprets them. Parameter values are zeroized when the stanza is dropped and
/// only non-secret ones are shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct SealStanza {
    /// The seal type (block label): `shamir`, `awskms`, `transit`, `pkcs11`, ...
    pub kind: String,
    /// `disabled = true`: the old seal during a seal migration.
    pub disabled: bool,
    /// Optional seal name.
    pub name: Option<String>,
    /// Optional priority (seal HA).
    pub priority: Option<i64>,
    /// All other parameters, as strings.
    pub params: BTreeMap<String, String>,
    /// The file the block came from.
    pub source: String,
}

impl SealStanza {
    /// A stanza of `kind` with no parameters.
    pub fn new(kind: &str) -> Self {
        SealStanza {
            kind: kind.to_owned(),
            disabled: false,
            name: None,
            priority: None,
            params: BTreeMap::new(),
            source: String::new(),
        }
    }

    /// A parameter's value.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

impl Drop for SealStanza {
    fn drop(&mut self) {
        for v in self.params.values_mut() {
            v.zeroize();
        }
    }
}

impl fmt::Debug for SealStanza {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let params: BTreeMap<&str, &str> = self
            .params
            .iter()
            .map(|(k, v)| {
                let shown = if PUBLIC_PARAMS.contains(&k.as_str()) {
                    v.as_str()
                } else {
                    "<redacted>"
                };
                (k.as_str(), shown)
            })
            .collect();
        f.debug_struct("SealStanza")
            .field("kind", &self.kind)
            .field("disabled", &self.disabled)
            .field("name", &self.name)
            .field("priority", &self.priority)
            .field("params", &params)
            .field("source", &self.source)
            .finish()
    }
}

/// Decodes one seal block body.
pub(crate) fn decode_seal(
    kind: &str,
    path: &str,
    file: &str,
    entries: &[(String, Node)],
    warnings: &mut Vec<String>,
) -> Result<SealStanza, ConfigError> {
    let mut s = SealStanza::new(kind);
    s.source = file.to_owned();
    for (name, node) in entries {
        let key = join(path, name);
        let bad = |reason: String| ConfigError::invalid(file, &key, reason);
        match name.as_str() {
            "disabled" => s.disabled = to_bool(node).map_err(bad)?,
            "name" => s.name = Some(to_string(node).map_err(bad)?),
            "priority" => s.priority = Some(to_int(node).map_err(bad)?),
            _ => match node {
                Node::Map(_) | Node::List(_) => {
                    warnings.push(format!("{file}: unknown key {key}"));
                }
                Node::Null => {}
                scalar => {
                    s.params
                        .insert(name.clone(), to_string(scalar).map_err(bad)?);
                }
            },
        }
    }
    Ok(s)
}
