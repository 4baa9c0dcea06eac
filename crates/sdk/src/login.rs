//! What an auth backend's login handler answers: the facts of the token to issue. The core's
//! login stage turns a [`LoginAuth`] into a token (policies sorted, `default` added, TTLs
//! clamped by the mount and the system, display name prefixed with the mount path, an identity
//! entity found or made for the alias) and fills the response's `auth` block; a backend never
//! mints tokens itself.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// The identity alias a login names: one entity per (mount accessor, alias name).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoginAlias {
    /// The alias name (a userpass user name, an AppRole role id, a JWT user claim, ...).
    pub name: String,
    /// Metadata attached to the alias.
    pub metadata: BTreeMap<String, String>,
}

/// The token a successful login asks for. TTLs are seconds, 0 meaning "not set" (the mount's
/// default, the mount's or system maximum).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoginAuth {
    /// The token's own policies (before `default` is added).
    pub policies: Vec<String>,
    /// Metadata attached to the token (`username`, `role_name`, ...).
    pub metadata: BTreeMap<String, String>,
    /// The backend's part of the display name (the core prefixes the mount path).
    pub display_name: String,
    /// Requested TTL.
    pub ttl: u64,
    /// Longest life through renewals, counted from creation (the role's `token_max_ttl`).
    pub max_ttl: u64,
    /// Renewal period (periodic token) or 0.
    pub period: u64,
    /// Hard cap that renewals never pass, or 0.
    pub explicit_max_ttl: u64,
    /// Uses before the token is revoked (0 = unlimited).
    pub num_uses: u64,
    /// CIDR blocks the token may be used from (empty = anywhere); also checked at login.
    pub bound_cidrs: Vec<String>,
    /// Whether the token may be renewed.
    pub renewable: bool,
    /// Do not add the `default` policy.
    pub no_default_policy: bool,
    /// `service`, `batch`, `default`, `default-service` or `default-batch` (empty = default).
    pub token_type: String,
    /// The identity alias of the login (an empty name: no entity).
    pub alias: LoginAlias,
    /// What the backend needs later (on renewal); never shown to clients.
    pub internal: Map<String, Value>,
}
