//! The built-in `default` policy and the rules on policy names.

use crate::PolicyError;

/// Name of the policy every non-root token gets unless told otherwise; it cannot be deleted.
pub const DEFAULT_POLICY_NAME: &str = "default";

/// Name of the root policy. It is not stored: it stands for [`crate::Acl::root`].
pub const ROOT_POLICY_NAME: &str = "root";

/// The text of the built-in `default` policy, installed when no `default` policy is stored.
///
/// It lets a token look after itself and use the per-token and wrapping facilities; it grants
/// nothing on any secrets engine except the token's own cubbyhole. Vault's templated identity
/// rules (`identity/entity/id/{{identity.entity.id}}`) are left out: templating is not
/// supported.
pub const DEFAULT_POLICY: &str = r#"# Built-in default policy: what every ordinary token may do with itself.

# Inspect the calling token.
path "auth/token/lookup-self" {
  capabilities = ["read"]
}

# Extend the calling token's lifetime.
path "auth/token/renew-self" {
  capabilities = ["update"]
}

# Revoke the calling token.
path "auth/token/revoke-self" {
  capabilities = ["update"]
}

# Ask what the calling token may do on a path.
path "sys/capabilities-self" {
  capabilities = ["update"]
}

# The web UI reads the token's effective rules from here.
path "sys/internal/ui/resultant-acl" {
  capabilities = ["read"]
}

# Renew and look up leases (the token still needs to know the lease id).
path "sys/renew" {
  capabilities = ["update"]
}

path "sys/leases/renew" {
  capabilities = ["update"]
}

path "sys/leases/lookup" {
  capabilities = ["update"]
}

# The token's private storage area.
path "cubbyhole/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}

# Response wrapping: wrap data, inspect and unwrap tokens.
path "sys/wrapping/wrap" {
  capabilities = ["update"]
}

path "sys/wrapping/lookup" {
  capabilities = ["update"]
}

path "sys/wrapping/unwrap" {
  capabilities = ["update"]
}

# Hashing helpers.
path "sys/tools/hash" {
  capabilities = ["update"]
}

path "sys/tools/hash/*" {
  capabilities = ["update"]
}
"#;

/// Checks a (lower-cased) policy name for create/update.
///
/// Refused: the empty name, `root` (not a stored policy), names with `/`, control characters
/// or surrounding whitespace (they would not round-trip through paths and storage keys).
pub fn validate_name(name: &str) -> Result<(), PolicyError> {
    let refuse = |reason: String| {
        Err(PolicyError::InvalidName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return refuse("policy name cannot be empty".into());
    }
    if name == ROOT_POLICY_NAME {
        return refuse(format!("cannot update {ROOT_POLICY_NAME:?} policy"));
    }
    if name.trim() != name {
        return refuse("policy name cannot start or end with whitespace".into());
    }
    if name.contains('/') || name.chars().any(char::is_control) {
        return refuse(format!("policy name {name:?} contains invalid characters"));
    }
    Ok(())
}

/// Checks that a (lower-cased) policy may be deleted: `root` and `default` may not.
pub fn validate_delete(name: &str) -> Result<(), PolicyError> {
    if name == ROOT_POLICY_NAME || name == DEFAULT_POLICY_NAME {
        return Err(PolicyError::InvalidName {
            name: name.to_owned(),
            reason: format!("cannot delete {name:?} policy"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Acl, Capability, Policy};

    #[test]
    fn default_policy_grants_self_service_only() {
        let policy = Policy::parse(DEFAULT_POLICY_NAME, DEFAULT_POLICY).unwrap();
        let acl = Acl::new(&[policy]);
        let allowed = |p: &str, op| acl.check(p, op).allowed;
        assert!(allowed("auth/token/lookup-self", Capability::Read));
        assert!(allowed("auth/token/renew-self", Capability::Update));
        assert!(allowed("auth/token/revoke-self", Capability::Update));
        assert!(allowed("sys/capabilities-self", Capability::Update));
        assert!(allowed("sys/leases/renew", Capability::Update));
        assert!(allowed("sys/leases/lookup", Capability::Update));
        assert!(allowed("sys/renew", Capability::Update));
        assert!(allowed("cubbyhole/anything", Capability::Create));
        assert!(allowed("cubbyhole/", Capability::List));
        assert!(allowed("sys/wrapping/unwrap", Capability::Update));
        assert!(allowed("sys/tools/hash/sha2-256", Capability::Update));
        assert!(!allowed("auth/token/create", Capability::Update));
        assert!(!allowed("secret/foo", Capability::Read));
        assert!(!allowed("sys/policies/acl/default", Capability::Update));
        assert!(!acl.check("cubbyhole/x", Capability::Read).sudo);
    }

    #[test]
    fn names() {
        assert!(validate_name("dev-team").is_ok());
        assert!(validate_name("default").is_ok());
        for bad in ["", "root", "a/b", " x", "x\n"] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
        let err = validate_name("root").unwrap_err();
        assert_eq!(err.to_string(), "cannot update \"root\" policy");
        assert!(validate_delete("dev").is_ok());
        assert_eq!(
            validate_delete("default").unwrap_err().to_string(),
            "cannot delete \"default\" policy"
        );
        assert!(validate_delete("root").is_err());
    }
}
