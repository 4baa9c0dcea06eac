//! The stored form of a token and the TTL limits it is issued under.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The only token type issued so far.
pub const SERVICE_TYPE: &str = "service";

/// The policy that grants everything.
pub const ROOT_POLICY: &str = "root";

/// The policy every token gets unless asked otherwise.
pub const DEFAULT_POLICY: &str = "default";

/// The only policy of a response-wrapping token. It is built in (never stored) and may not be
/// assigned to tokens created through the API.
pub const RESPONSE_WRAPPING_POLICY: &str = "response-wrapping";

/// System-wide lease limits, in seconds (0 = no limit / no default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TtlLimits {
    /// TTL given to tokens that ask for none (and are not root-policy tokens).
    pub default_lease_ttl: u64,
    /// Longest TTL a non-periodic token may reach, counted from its creation.
    pub max_lease_ttl: u64,
}

/// One token as stored (under a salted hash of its id).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenEntry {
    /// The token itself (the secret the client presents).
    pub id: String,
    /// A non-secret handle that can look up, renew and revoke the token.
    pub accessor: String,
    /// Salted hash of the parent token's id; `None` for orphans.
    pub parent: Option<String>,
    /// Policies attached to the token, sorted.
    pub policies: Vec<String>,
    /// Free-form metadata.
    pub meta: BTreeMap<String, String>,
    /// Human-readable name (`root`, `token`, `token-<name>`).
    pub display_name: String,
    /// Uses left (0 = unlimited).
    pub num_uses: u64,
    /// Creation time, unix seconds.
    pub creation_time: u64,
    /// The TTL last granted (at creation or renewal), seconds; 0 = never expires.
    pub ttl: u64,
    /// The TTL granted at creation, seconds.
    pub creation_ttl: u64,
    /// When the token expires, unix seconds; `None` = never.
    pub expire_time: Option<u64>,
    /// Hard cap on the token's lifetime from creation, seconds (0 = none).
    pub explicit_max_ttl: u64,
    /// Renewal period for periodic tokens, seconds (0 = not periodic).
    pub period: u64,
    /// Whether the token may be renewed.
    pub renewable: bool,
    /// Whether the token has no parent.
    pub orphan: bool,
    /// The path the token was created at (`auth/token/create`, `auth/token/root`, ...).
    pub path: String,
    /// Token type (`service`).
    #[serde(rename = "type")]
    pub token_type: String,
    /// Identity entity (always empty: no identity store yet).
    pub entity_id: String,
    /// Time of the last renewal, unix seconds.
    #[serde(default)]
    pub last_renewal_time: Option<u64>,
    /// The role the token was created against, if any.
    #[serde(default)]
    pub role: Option<String>,
    /// Set when the token's revocation has started: it is unusable from then on, and the
    /// revocation of it and its descendants is resumed until it completes.
    #[serde(default, skip_serializing_if = "is_false")]
    pub revoking: bool,
    /// CIDR blocks the token may be used from (empty = anywhere); set by logins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bound_cidrs: Vec<String>,
    /// Longest life through renewals, counted from creation, seconds (0 = the system
    /// maximum alone); set by logins from the role's and the mount's maximum TTL.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_ttl: u64,
    /// What the auth method that issued the token keeps for its renewals (a login's
    /// `internal` data); never shown to clients.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub internal: serde_json::Map<String, serde_json::Value>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl TokenEntry {
    /// Whether the token carries the `root` policy.
    pub fn is_root(&self) -> bool {
        self.policies.iter().any(|p| p == ROOT_POLICY)
    }

    /// The token as a backend sees its caller (`Request::auth`).
    pub fn auth(&self) -> tresor_sdk::Auth {
        tresor_sdk::Auth {
            client_token: self.id.clone(),
            accessor: self.accessor.clone(),
            policies: self.policies.clone(),
            display_name: self.display_name.clone(),
            is_root: self.is_root(),
            metadata: self.meta.clone(),
        }
    }

    /// Whether the token has expired at `now` (unix seconds).
    pub fn is_expired(&self, now: u64) -> bool {
        self.expire_time.is_some_and(|e| e <= now)
    }

    /// Whether a request from `remote` may use the token (see [`tresor_sdk::cidr::allows`]).
    pub fn allows_addr(&self, remote: Option<std::net::IpAddr>) -> bool {
        tresor_sdk::cidr::allows(&self.bound_cidrs, remote)
    }

    /// Seconds left before expiry at `now` (0 for tokens that never expire).
    pub fn remaining_ttl(&self, now: u64) -> u64 {
        self.expire_time.map_or(0, |e| e.saturating_sub(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_and_remaining() {
        let e = TokenEntry {
            expire_time: Some(100),
            ..TokenEntry::default()
        };
        assert!(!e.is_expired(99));
        assert!(e.is_expired(100));
        assert_eq!(e.remaining_ttl(40), 60);
        assert_eq!(e.remaining_ttl(140), 0);
        let forever = TokenEntry::default();
        assert!(!forever.is_expired(u64::MAX));
        assert_eq!(forever.remaining_ttl(5), 0);
    }

    #[test]
    fn type_field_is_named_type() {
        let e = TokenEntry {
            token_type: SERVICE_TYPE.into(),
            policies: vec!["root".into()],
            ..TokenEntry::default()
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["type"], "service");
        assert!(e.is_root());
    }
}
