//! Roles: which certificates a name may be issued under (pure parsing and TTL rules).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tresor_sdk::fields;

use crate::error::PkiError;
use crate::keys::KeySpec;
use crate::names::NamePolicy;

/// At most this many `allowed_domains` entries.
const MAX_DOMAINS: usize = 1000;

/// A stored role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Role {
    /// Domains the role issues for.
    pub(crate) allowed_domains: Vec<String>,
    /// Names below an allowed domain may be requested.
    pub(crate) allow_subdomains: bool,
    /// An allowed domain itself may be requested.
    pub(crate) allow_bare_domains: bool,
    /// Any name may be requested.
    pub(crate) allow_any_name: bool,
    /// `localhost`/`localdomain` may be requested.
    pub(crate) allow_localhost: bool,
    /// IP SANs may be requested.
    pub(crate) allow_ip_sans: bool,
    /// Names must be hostnames.
    pub(crate) enforce_hostnames: bool,
    /// Default TTL in seconds (0: the mount's default).
    pub(crate) ttl: u64,
    /// Longest TTL in seconds (0: the mount's maximum).
    pub(crate) max_ttl: u64,
    /// How far before "now" certificates start being valid, seconds.
    pub(crate) not_before_duration: u64,
    /// Issued certificates get a lease.
    pub(crate) generate_lease: bool,
    /// Issued certificates are not stored (nor listed).
    pub(crate) no_store: bool,
    /// Key type of issued certificates.
    pub(crate) key_type: String,
    /// Key size of issued certificates (0: the type's default).
    pub(crate) key_bits: u32,
    /// TLS server authentication in the extended key usage.
    pub(crate) server_flag: bool,
    /// TLS client authentication in the extended key usage.
    pub(crate) client_flag: bool,
}

impl Default for Role {
    fn default() -> Self {
        // Vault's defaults for a role written with no fields.
        Self {
            allowed_domains: Vec::new(),
            allow_subdomains: false,
            allow_bare_domains: false,
            allow_any_name: false,
            allow_localhost: true,
            allow_ip_sans: true,
            enforce_hostnames: true,
            ttl: 0,
            max_ttl: 0,
            not_before_duration: 30,
            generate_lease: false,
            no_store: false,
            key_type: "rsa".to_owned(),
            key_bits: 2048,
            server_flag: true,
            client_flag: true,
        }
    }
}

fn invalid(e: tresor_sdk::LogicalError) -> PkiError {
    PkiError::Invalid(e.to_string())
}

impl Role {
    /// A role from a write: absent fields take their defaults (a write replaces the role).
    pub(crate) fn from_request(data: &Map<String, Value>) -> Result<Self, PkiError> {
        let d = Role::default();
        let flag = |f: &str, default: bool| -> Result<bool, PkiError> {
            Ok(fields::get_bool(data, f)
                .map_err(invalid)?
                .unwrap_or(default))
        };
        let dur = |f: &str, default: u64| -> Result<u64, PkiError> {
            Ok(fields::get_duration(data, f)
                .map_err(invalid)?
                .unwrap_or(default))
        };
        let allowed_domains = fields::get_str_list(data, "allowed_domains")
            .map_err(invalid)?
            .unwrap_or_default();
        if allowed_domains.len() > MAX_DOMAINS {
            return Err(PkiError::Invalid(format!(
                "allowed_domains: at most {MAX_DOMAINS} entries"
            )));
        }
        if let Some(d) = allowed_domains
            .iter()
            .find(|d| d.len() > crate::names::MAX_NAME_LEN)
        {
            return Err(PkiError::Invalid(format!(
                "allowed_domains entry too long: {:?}",
                d.chars().take(64).collect::<String>()
            )));
        }
        let key_type = fields::get_str(data, "key_type")
            .map_err(invalid)?
            .unwrap_or_else(|| d.key_type.clone());
        let key_bits = fields::get_u64(data, "key_bits")
            .map_err(invalid)?
            .unwrap_or(0);
        // `any` (keys brought in a CSR) has no meaning without sign endpoints yet.
        let spec = KeySpec::parse(&key_type, key_bits)?;
        let role = Role {
            allowed_domains,
            allow_subdomains: flag("allow_subdomains", d.allow_subdomains)?,
            allow_bare_domains: flag("allow_bare_domains", d.allow_bare_domains)?,
            allow_any_name: flag("allow_any_name", d.allow_any_name)?,
            allow_localhost: flag("allow_localhost", d.allow_localhost)?,
            allow_ip_sans: flag("allow_ip_sans", d.allow_ip_sans)?,
            enforce_hostnames: flag("enforce_hostnames", d.enforce_hostnames)?,
            ttl: dur("ttl", d.ttl)?,
            max_ttl: dur("max_ttl", d.max_ttl)?,
            not_before_duration: dur("not_before_duration", d.not_before_duration)?,
            generate_lease: flag("generate_lease", d.generate_lease)?,
            no_store: flag("no_store", d.no_store)?,
            key_type: spec.type_name().to_owned(),
            key_bits: spec.bits(),
            server_flag: flag("server_flag", d.server_flag)?,
            client_flag: flag("client_flag", d.client_flag)?,
        };
        if role.max_ttl > 0 && role.ttl > role.max_ttl {
            return Err(PkiError::Invalid(
                "\"ttl\" value must be less than \"max_ttl\" value".to_owned(),
            ));
        }
        Ok(role)
    }

    /// The key spec of issued certificates.
    pub(crate) fn key_spec(&self) -> Result<KeySpec, PkiError> {
        KeySpec::parse(&self.key_type, u64::from(self.key_bits))
    }

    /// The name rules.
    pub(crate) fn name_policy(&self) -> NamePolicy {
        NamePolicy {
            allowed_domains: self.allowed_domains.clone(),
            allow_subdomains: self.allow_subdomains,
            allow_bare_domains: self.allow_bare_domains,
            allow_any_name: self.allow_any_name,
            allow_localhost: self.allow_localhost,
            enforce_hostnames: self.enforce_hostnames,
            allow_ip_sans: self.allow_ip_sans,
        }
    }

    /// The read answer.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "allowed_domains": self.allowed_domains,
            "allow_subdomains": self.allow_subdomains,
            "allow_bare_domains": self.allow_bare_domains,
            "allow_any_name": self.allow_any_name,
            "allow_localhost": self.allow_localhost,
            "allow_ip_sans": self.allow_ip_sans,
            "enforce_hostnames": self.enforce_hostnames,
            "ttl": self.ttl,
            "max_ttl": self.max_ttl,
            "not_before_duration": self.not_before_duration,
            "generate_lease": self.generate_lease,
            "no_store": self.no_store,
            "key_type": self.key_type,
            "key_bits": self.key_bits,
            "server_flag": self.server_flag,
            "client_flag": self.client_flag,
        })
    }
}

/// The TTL a certificate gets, and a warning when it had to be shortened: the requested TTL,
/// else the role's, else the mount's default; capped at the role's maximum, else the mount's
/// maximum.
pub(crate) fn effective_ttl(
    requested: Option<u64>,
    role_ttl: u64,
    role_max: u64,
    mount_default: u64,
    mount_max: u64,
) -> (u64, Option<String>) {
    let max = if role_max > 0 { role_max } else { mount_max };
    let ttl = requested
        .filter(|t| *t > 0)
        .or(Some(role_ttl).filter(|t| *t > 0))
        .unwrap_or(mount_default);
    if max > 0 && ttl > max {
        let warn = requested
            .filter(|t| *t > max)
            .map(|t| format!("TTL {t}s is greater than the role's max TTL {max}s; capping"));
        (max, warn)
    } else {
        (ttl, None)
    }
}

/// Whether `name` can name a role: 1 to 128 letters, digits, `-`, `_` or `.`.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn hvac_role_parses() {
        let r = Role::from_request(&obj(json!({
            "allowed_domains": "hvac.com",
            "allow_subdomains": true,
            "generate_lease": true,
            "max_ttl": "72h",
        })))
        .ok();
        let r = r.as_ref();
        assert_eq!(r.map(|r| r.max_ttl), Some(72 * 3600));
        assert_eq!(r.map(|r| r.generate_lease), Some(true));
        assert_eq!(
            r.map(|r| r.allowed_domains.clone()),
            Some(vec!["hvac.com".to_owned()])
        );
        assert_eq!(
            r.map(|r| (r.key_type.as_str(), r.key_bits)),
            Some(("rsa", 2048))
        );
        assert_eq!(r.map(|r| r.allow_localhost), Some(true));
    }

    #[test]
    fn bad_roles_are_refused() {
        for bad in [
            json!({"ttl": "2h", "max_ttl": "1h"}),
            json!({"key_type": "ec", "key_bits": 1}),
            json!({"allow_subdomains": "perhaps"}),
            json!({"allowed_domains": vec!["a.com"; 1001]}),
        ] {
            assert!(Role::from_request(&obj(bad.clone())).is_err(), "{bad}");
        }
    }

    #[test]
    fn ttl_falls_back_and_caps() {
        // Nothing asked: the mount default, capped at the role's max.
        assert_eq!(
            effective_ttl(None, 0, 72 * 3600, 768 * 3600, 768 * 3600),
            (72 * 3600, None)
        );
        assert_eq!(effective_ttl(Some(60), 0, 3600, 7200, 7200), (60, None));
        assert_eq!(effective_ttl(None, 120, 3600, 7200, 7200), (120, None));
        let (ttl, warn) = effective_ttl(Some(10_000), 0, 3600, 7200, 7200);
        assert_eq!(ttl, 3600);
        assert!(warn.is_some());
        // No role max: the mount max.
        assert_eq!(effective_ttl(Some(10_000), 0, 0, 7200, 7200).0, 7200);
    }

    #[test]
    fn role_names() {
        assert!(valid_name("my-role"));
        assert!(!valid_name(""));
        assert!(!valid_name("a/b"));
        assert!(!valid_name(&"a".repeat(129)));
    }
}
