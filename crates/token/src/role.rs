//! Token roles: named presets that let callers create tokens with settings they could not ask
//! for directly (orphans, periods, policies outside their own).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tresor_sdk::LogicalError;
use tresor_sdk::fields::{get_bool, get_duration, get_str, get_str_list, get_u64};

use crate::policies::{sanitize, sanitize_globs};

/// A stored token role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenRole {
    /// The role name (also part of the created tokens' path).
    pub name: String,
    /// If non-empty, created tokens may only carry these policies (plus `default`), and get all
    /// of them when none are requested.
    pub allowed_policies: Vec<String>,
    /// Policies created tokens may never carry.
    pub disallowed_policies: Vec<String>,
    /// Like `allowed_policies`, as glob patterns (`*` = any run of characters).
    pub allowed_policies_glob: Vec<String>,
    /// Like `disallowed_policies`, as glob patterns.
    pub disallowed_policies_glob: Vec<String>,
    /// Created tokens have no parent.
    pub orphan: bool,
    /// Created tokens may be renewed.
    pub renewable: bool,
    /// Created tokens are periodic with this period, seconds (0 = not periodic).
    pub period: u64,
    /// Cap on created tokens' lifetime, seconds (0 = none).
    pub explicit_max_ttl: u64,
    /// Appended to the created tokens' path.
    pub path_suffix: String,
    /// Token type the role issues: `service` or `batch` (always), `default-service` or
    /// `default-batch` (unless the request asks for the other).
    pub token_type: String,
    /// Stored for API compatibility; entity aliases are not supported yet.
    pub allowed_entity_aliases: Vec<String>,
    /// Created tokens do not get the `default` policy.
    pub token_no_default_policy: bool,
    /// Use limit of created tokens (0 = unlimited).
    pub token_num_uses: u64,
    /// CIDR blocks created tokens may be used from (empty = anywhere).
    pub token_bound_cidrs: Vec<String>,
}

impl Default for TokenRole {
    fn default() -> Self {
        Self {
            name: String::new(),
            allowed_policies: Vec::new(),
            disallowed_policies: Vec::new(),
            allowed_policies_glob: Vec::new(),
            disallowed_policies_glob: Vec::new(),
            orphan: false,
            renewable: true,
            period: 0,
            explicit_max_ttl: 0,
            path_suffix: String::new(),
            token_type: "default-service".to_owned(),
            allowed_entity_aliases: Vec::new(),
            token_no_default_policy: false,
            token_num_uses: 0,
            token_bound_cidrs: Vec::new(),
        }
    }
}

/// Checks a role's token type: `service`, `batch`, `default-service`, `default-batch` (or
/// `default` / empty for `default-service`); anything else is invalid.
pub(crate) fn check_token_type(t: &str) -> Result<(), LogicalError> {
    match t {
        "" | "service" | "default" | "default-service" | "batch" | "default-batch" => Ok(()),
        other => Err(LogicalError::invalid(format!(
            "invalid 'token_type' value {other:?}"
        ))),
    }
}

/// A role that always issues batch tokens must be able to: orphan, not renewable, not
/// periodic, no explicit max TTL (checked in this order).
fn check_batch_role(r: &TokenRole) -> Result<(), LogicalError> {
    if r.token_type != "batch" {
        return Ok(());
    }
    let why = if !r.orphan {
        "non-orphan tokens"
    } else if r.renewable {
        "renewable tokens"
    } else if r.period > 0 {
        "periodic tokens"
    } else if r.explicit_max_ttl > 0 {
        "tokens with an explicit max TTL"
    } else {
        return Ok(());
    };
    Err(LogicalError::invalid(format!(
        "'token_type' cannot be 'batch' when role is set to generate {why}"
    )))
}

impl TokenRole {
    /// Applies the fields present in a role write; absent fields keep their value. The result
    /// is checked as a whole (a `batch` role must be orphan, not renewable, not periodic).
    pub fn apply_update(&mut self, data: &Map<String, Value>) -> Result<(), LogicalError> {
        if let Some(p) = get_str_list(data, "allowed_policies")? {
            self.allowed_policies = sanitize(&p, false);
        }
        if let Some(p) = get_str_list(data, "disallowed_policies")? {
            self.disallowed_policies = sanitize(&p, false);
        }
        if let Some(p) = get_str_list(data, "allowed_policies_glob")? {
            self.allowed_policies_glob = sanitize_globs(&p);
        }
        if let Some(p) = get_str_list(data, "disallowed_policies_glob")? {
            self.disallowed_policies_glob = sanitize_globs(&p);
        }
        if let Some(b) = get_bool(data, "orphan")? {
            self.orphan = b;
        }
        if let Some(b) = get_bool(data, "renewable")? {
            self.renewable = b;
        }
        // The `token_` names win over the legacy ones when both are given.
        for field in ["period", "token_period"] {
            if let Some(d) = get_duration(data, field)? {
                self.period = d;
            }
        }
        for field in ["explicit_max_ttl", "token_explicit_max_ttl"] {
            if let Some(d) = get_duration(data, field)? {
                self.explicit_max_ttl = d;
            }
        }
        if let Some(s) = get_str(data, "path_suffix")? {
            if s.contains("..") {
                return Err(LogicalError::invalid("path_suffix cannot contain '..'"));
            }
            self.path_suffix = s.trim_matches('/').to_owned();
        }
        if let Some(t) = get_str(data, "token_type")? {
            check_token_type(&t)?;
            self.token_type = if t.is_empty() || t == "default" {
                "default-service".to_owned()
            } else {
                t
            };
        }
        if let Some(c) = get_str_list(data, "token_bound_cidrs")? {
            self.token_bound_cidrs = tresor_sdk::cidr::parse_blocks(&c)
                .map_err(|e| crate::TokenError::invalid(e.to_string()))?;
        }
        if let Some(a) = get_str_list(data, "allowed_entity_aliases")? {
            self.allowed_entity_aliases = a;
        }
        if let Some(b) = get_bool(data, "token_no_default_policy")? {
            self.token_no_default_policy = b;
        }
        if let Some(n) = get_u64(data, "token_num_uses")? {
            self.token_num_uses = n;
        }
        check_batch_role(self)
    }

    /// The role as the read endpoint renders it.
    pub fn to_data(&self) -> Map<String, Value> {
        let v = json!({
            "name": self.name,
            "allowed_policies": self.allowed_policies,
            "disallowed_policies": self.disallowed_policies,
            "allowed_policies_glob": self.allowed_policies_glob,
            "disallowed_policies_glob": self.disallowed_policies_glob,
            "orphan": self.orphan,
            "renewable": self.renewable,
            "period": self.period,
            "token_period": self.period,
            "explicit_max_ttl": self.explicit_max_ttl,
            "token_explicit_max_ttl": self.explicit_max_ttl,
            "path_suffix": self.path_suffix,
            "token_type": self.token_type,
            "allowed_entity_aliases": self.allowed_entity_aliases,
            "token_no_default_policy": self.token_no_default_policy,
            "token_num_uses": self.token_num_uses,
            "token_bound_cidrs": self.token_bound_cidrs,
        });
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn update_merges_and_prefers_token_names() {
        let mut r = TokenRole::default();
        r.apply_update(&m(
            json!({"allowed_policies": "b,a", "period": "1h", "token_period": 60}),
        ))
        .unwrap();
        assert_eq!(r.allowed_policies, vec!["a", "b"]);
        assert_eq!(r.period, 60);
        assert!(r.renewable);
        r.apply_update(&m(json!({"renewable": false}))).unwrap();
        assert_eq!(r.allowed_policies, vec!["a", "b"], "absent fields are kept");
        assert!(!r.renewable);
    }

    #[test]
    fn batch_roles_must_be_orphan_non_renewable_and_aperiodic() {
        let refused = |body: Value, why: &str| {
            let mut r = TokenRole::default();
            match r.apply_update(&m(body)) {
                Err(LogicalError::InvalidRequest(msg)) => assert!(msg.contains(why), "{msg}"),
                other => panic!("expected a refusal naming {why}, got {other:?}"),
            }
        };
        refused(json!({"token_type": "batch"}), "non-orphan");
        refused(json!({"token_type": "batch", "orphan": true}), "renewable");
        refused(
            json!({"token_type": "batch", "orphan": true, "renewable": false, "period": 60}),
            "periodic",
        );
        refused(
            json!({"token_type": "batch", "orphan": true, "renewable": false, "token_explicit_max_ttl": 60}),
            "explicit max TTL",
        );
        let mut r = TokenRole::default();
        r.apply_update(&m(
            json!({"token_type": "batch", "orphan": true, "renewable": false}),
        ))
        .unwrap();
        assert_eq!(r.token_type, "batch");
        // default-batch roles keep every option: the request may still ask for service.
        let mut d = TokenRole::default();
        d.apply_update(&m(json!({"token_type": "default-batch", "period": 60})))
            .unwrap();
        assert_eq!(d.token_type, "default-batch");
    }

    #[test]
    fn bound_cidrs_are_checked_and_kept() {
        let mut r = TokenRole::default();
        assert!(
            r.apply_update(&m(json!({"token_bound_cidrs": "nope"})))
                .is_err()
        );
        r.apply_update(&m(json!({"token_bound_cidrs": "10.0.0.0/8, 127.0.0.1"})))
            .unwrap();
        assert_eq!(r.token_bound_cidrs, vec!["10.0.0.0/8", "127.0.0.1/32"]);
        assert_eq!(
            r.to_data()["token_bound_cidrs"],
            json!(["10.0.0.0/8", "127.0.0.1/32"])
        );
        r.apply_update(&m(json!({"token_bound_cidrs": []})))
            .unwrap();
        assert!(r.token_bound_cidrs.is_empty());
    }

    #[test]
    fn bad_types_are_refused() {
        let mut r = TokenRole::default();
        assert!(r.apply_update(&m(json!({"token_type": "weird"}))).is_err());
        r.apply_update(&m(json!({"token_type": "service"})))
            .unwrap();
        assert_eq!(r.token_type, "service");
        assert!(r.apply_update(&m(json!({"path_suffix": "../x"}))).is_err());
    }
}
