//! Token roles: named presets that let callers create tokens with settings they could not ask
//! for directly (orphans, periods, policies outside their own).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tresor_sdk::LogicalError;
use tresor_sdk::fields::{get_bool, get_duration, get_str, get_str_list, get_u64};

use crate::policies::sanitize;

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
    /// Token type the role issues (`default-service` or `service`).
    pub token_type: String,
    /// Stored for API compatibility; entity aliases are not supported yet.
    pub allowed_entity_aliases: Vec<String>,
    /// Created tokens do not get the `default` policy.
    pub token_no_default_policy: bool,
    /// Use limit of created tokens (0 = unlimited).
    pub token_num_uses: u64,
}

impl Default for TokenRole {
    fn default() -> Self {
        Self {
            name: String::new(),
            allowed_policies: Vec::new(),
            disallowed_policies: Vec::new(),
            orphan: false,
            renewable: true,
            period: 0,
            explicit_max_ttl: 0,
            path_suffix: String::new(),
            token_type: "default-service".to_owned(),
            allowed_entity_aliases: Vec::new(),
            token_no_default_policy: false,
            token_num_uses: 0,
        }
    }
}

/// Checks a requested token type: service types pass, batch types are refused (not
/// implemented yet), anything else is invalid.
pub(crate) fn check_token_type(t: &str) -> Result<(), LogicalError> {
    match t {
        "" | "service" | "default" | "default-service" => Ok(()),
        "batch" | "default-batch" => Err(LogicalError::invalid(
            "batch tokens are not supported by this server yet",
        )),
        other => Err(LogicalError::invalid(format!(
            "invalid 'token_type' value {other:?}"
        ))),
    }
}

impl TokenRole {
    /// Applies the fields present in a role write; absent fields keep their value.
    pub fn apply_update(&mut self, data: &Map<String, Value>) -> Result<(), LogicalError> {
        if let Some(p) = get_str_list(data, "allowed_policies")? {
            self.allowed_policies = sanitize(&p, false);
        }
        if let Some(p) = get_str_list(data, "disallowed_policies")? {
            self.disallowed_policies = sanitize(&p, false);
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
        if let Some(a) = get_str_list(data, "allowed_entity_aliases")? {
            self.allowed_entity_aliases = a;
        }
        if let Some(b) = get_bool(data, "token_no_default_policy")? {
            self.token_no_default_policy = b;
        }
        if let Some(n) = get_u64(data, "token_num_uses")? {
            self.token_num_uses = n;
        }
        Ok(())
    }

    /// The role as the read endpoint renders it.
    pub fn to_data(&self) -> Map<String, Value> {
        let v = json!({
            "name": self.name,
            "allowed_policies": self.allowed_policies,
            "disallowed_policies": self.disallowed_policies,
            "allowed_policies_glob": [],
            "disallowed_policies_glob": [],
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
            "token_bound_cidrs": [],
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
    fn batch_and_bad_types_are_refused() {
        let mut r = TokenRole::default();
        assert!(r.apply_update(&m(json!({"token_type": "batch"}))).is_err());
        assert!(r.apply_update(&m(json!({"token_type": "weird"}))).is_err());
        r.apply_update(&m(json!({"token_type": "service"})))
            .unwrap();
        assert_eq!(r.token_type, "service");
        assert!(r.apply_update(&m(json!({"path_suffix": "../x"}))).is_err());
    }
}
