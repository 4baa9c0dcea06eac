//! The common `token_*` fields every auth method's role (or user) takes, read and shown the
//! same way for all of them: `token_policies`, `token_ttl`, `token_max_ttl`, `token_period`,
//! `token_explicit_max_ttl`, `token_num_uses`, `token_no_default_policy`, `token_bound_cidrs`,
//! `token_type`. Older names (`policies`, `ttl`, `max_ttl`, `period`, `bound_cidrs`) are read
//! as aliases where a method accepted them before ([`Legacy`]); a `token_` name given in the
//! same request wins. Pure.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::fields::{get_bool, get_duration, get_i64, get_str, get_str_list};
use crate::login::LoginAuth;
use crate::{LogicalError, cidr};

/// The token types a role may ask for.
pub const TOKEN_TYPES: &[&str] = &[
    "default",
    "service",
    "batch",
    "default-service",
    "default-batch",
];

/// Longest list of policies one role may hold (hostile input is bounded).
pub const MAX_POLICIES: usize = 1024;

/// Which legacy field names a method reads as aliases of the `token_` fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Legacy {
    /// `policies` for `token_policies`.
    pub policies: bool,
    /// `ttl` and `max_ttl` for `token_ttl` and `token_max_ttl`.
    pub ttls: bool,
    /// `period` for `token_period`.
    pub period: bool,
    /// `bound_cidrs` for `token_bound_cidrs`.
    pub bound_cidrs: bool,
}

impl Legacy {
    /// The aliases userpass reads: `policies`, `ttl`, `max_ttl`, `bound_cidrs`.
    pub const USERPASS: Legacy = Legacy {
        policies: true,
        ttls: true,
        period: false,
        bound_cidrs: true,
    };
    /// The aliases AppRole reads: `policies`, `period`.
    pub const APPROLE: Legacy = Legacy {
        policies: true,
        ttls: false,
        period: true,
        bound_cidrs: false,
    };
}

/// The token settings of a role or user. Durations are seconds (0 = not set).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenFields {
    /// Policies of issued tokens.
    pub token_policies: Vec<String>,
    /// TTL of issued tokens.
    pub token_ttl: u64,
    /// Longest life of issued tokens through renewals.
    pub token_max_ttl: u64,
    /// Period of issued tokens (periodic tokens).
    pub token_period: u64,
    /// Hard cap of issued tokens' life.
    pub token_explicit_max_ttl: u64,
    /// Uses of issued tokens (0 = unlimited).
    pub token_num_uses: u64,
    /// Leave the `default` policy out.
    pub token_no_default_policy: bool,
    /// CIDR blocks issued tokens may be used from.
    pub token_bound_cidrs: Vec<String>,
    /// Token type (one of [`TOKEN_TYPES`]).
    pub token_type: String,
}

impl Default for TokenFields {
    fn default() -> Self {
        Self {
            token_policies: Vec::new(),
            token_ttl: 0,
            token_max_ttl: 0,
            token_period: 0,
            token_explicit_max_ttl: 0,
            token_num_uses: 0,
            token_no_default_policy: false,
            token_bound_cidrs: Vec::new(),
            token_type: "default".to_owned(),
        }
    }
}

/// The `token_` field, or its legacy alias when the method reads one and the `token_` field is
/// absent.
fn pick<'a>(data: &Map<String, Value>, name: &'a str, alias: Option<&'a str>) -> &'a str {
    match alias {
        Some(a) if !data.contains_key(name) && data.contains_key(a) => a,
        _ => name,
    }
}

fn policy_list(items: Vec<String>) -> Result<Vec<String>, LogicalError> {
    if items.len() > MAX_POLICIES {
        return Err(LogicalError::invalid(format!(
            "too many policies (at most {MAX_POLICIES})"
        )));
    }
    let mut out: Vec<String> = items.into_iter().map(|p| p.to_lowercase()).collect();
    out.sort();
    out.dedup();
    Ok(out)
}

impl TokenFields {
    /// Applies the fields present in `data` (absent fields keep their value: create and update
    /// alike), then checks the result.
    pub fn update(
        &mut self,
        data: &Map<String, Value>,
        legacy: Legacy,
    ) -> Result<(), LogicalError> {
        let alias = |on: bool, a: &'static str| on.then_some(a);
        let f = pick(data, "token_policies", alias(legacy.policies, "policies"));
        if let Some(p) = get_str_list(data, f)? {
            self.token_policies = policy_list(p)?;
        }
        let f = pick(data, "token_ttl", alias(legacy.ttls, "ttl"));
        if let Some(v) = get_duration(data, f)? {
            self.token_ttl = v;
        }
        let f = pick(data, "token_max_ttl", alias(legacy.ttls, "max_ttl"));
        if let Some(v) = get_duration(data, f)? {
            self.token_max_ttl = v;
        }
        let f = pick(data, "token_period", alias(legacy.period, "period"));
        if let Some(v) = get_duration(data, f)? {
            self.token_period = v;
        }
        if let Some(v) = get_duration(data, "token_explicit_max_ttl")? {
            self.token_explicit_max_ttl = v;
        }
        if let Some(n) = get_i64(data, "token_num_uses")? {
            self.token_num_uses = u64::try_from(n)
                .map_err(|_| LogicalError::invalid("token_num_uses cannot be negative"))?;
        }
        if let Some(b) = get_bool(data, "token_no_default_policy")? {
            self.token_no_default_policy = b;
        }
        let f = pick(
            data,
            "token_bound_cidrs",
            alias(legacy.bound_cidrs, "bound_cidrs"),
        );
        if let Some(blocks) = get_str_list(data, f)? {
            self.token_bound_cidrs = cidr::parse_blocks(&blocks)?;
        }
        if let Some(t) = get_str(data, "token_type")? {
            self.token_type = if t.is_empty() { "default".into() } else { t };
        }
        self.check()
    }

    /// Checks the settings as a whole.
    pub fn check(&self) -> Result<(), LogicalError> {
        if !TOKEN_TYPES.contains(&self.token_type.as_str()) {
            return Err(LogicalError::invalid(format!(
                "unsupported token_type {:?}",
                self.token_type
            )));
        }
        if self.token_max_ttl > 0 && self.token_ttl > self.token_max_ttl {
            return Err(LogicalError::invalid(
                "\"token_ttl\" value must be less than \"token_max_ttl\" value",
            ));
        }
        if self.token_type.ends_with("batch") && self.token_period > 0 {
            return Err(LogicalError::invalid(
                "'token_type' cannot be 'batch' or 'default_batch' when set to generate periodic tokens",
            ));
        }
        if self.token_type.ends_with("batch") && self.token_num_uses > 0 {
            return Err(LogicalError::invalid(
                "'token_type' cannot be 'batch' or 'default_batch' when set to generate tokens with limited use count",
            ));
        }
        Ok(())
    }

    /// Writes the fields into a read response (durations in seconds), with the legacy mirrors
    /// the method shows.
    pub fn write_into(&self, out: &mut Map<String, Value>, legacy: Legacy) {
        let mut put = |k: &str, v: Value| {
            out.insert(k.to_owned(), v);
        };
        put("token_policies", json!(self.token_policies));
        put("token_ttl", json!(self.token_ttl));
        put("token_max_ttl", json!(self.token_max_ttl));
        put("token_period", json!(self.token_period));
        put("token_explicit_max_ttl", json!(self.token_explicit_max_ttl));
        put("token_num_uses", json!(self.token_num_uses));
        put(
            "token_no_default_policy",
            json!(self.token_no_default_policy),
        );
        put("token_bound_cidrs", json!(self.token_bound_cidrs));
        put("token_type", json!(self.token_type));
        if legacy.policies {
            put("policies", json!(self.token_policies));
        }
        if legacy.ttls {
            put("ttl", json!(self.token_ttl));
            put("max_ttl", json!(self.token_max_ttl));
        }
        if legacy.period {
            put("period", json!(self.token_period));
        }
        if legacy.bound_cidrs {
            put("bound_cidrs", json!(self.token_bound_cidrs));
        }
    }

    /// The login result these settings give, before the method adds its metadata, display
    /// name and alias. Tokens are renewable unless periodic settings say otherwise.
    pub fn login(&self) -> LoginAuth {
        LoginAuth {
            policies: self.token_policies.clone(),
            metadata: BTreeMap::new(),
            display_name: String::new(),
            ttl: self.token_ttl,
            max_ttl: self.token_max_ttl,
            period: self.token_period,
            explicit_max_ttl: self.token_explicit_max_ttl,
            num_uses: self.token_num_uses,
            bound_cidrs: self.token_bound_cidrs.clone(),
            renewable: true,
            no_default_policy: self.token_no_default_policy,
            token_type: self.token_type.clone(),
            ..LoginAuth::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn token_fields_parse_leniently() {
        let mut f = TokenFields::default();
        f.update(
            &obj(json!({
                "token_policies": "b,A, a",
                "token_ttl": "1h",
                "token_max_ttl": 7200,
                "token_num_uses": "3",
                "token_no_default_policy": "true",
                "token_bound_cidrs": ["10.0.0.1"],
                "token_type": "service",
            })),
            Legacy::USERPASS,
        )
        .expect("valid");
        assert_eq!(f.token_policies, vec!["a", "b"]);
        assert_eq!(
            (f.token_ttl, f.token_max_ttl, f.token_num_uses),
            (3600, 7200, 3)
        );
        assert!(f.token_no_default_policy);
        assert_eq!(f.token_bound_cidrs, vec!["10.0.0.1/32"]);
        assert_eq!(f.token_type, "service");
        // An update leaves absent fields alone.
        f.update(&obj(json!({"token_ttl": 60})), Legacy::USERPASS)
            .expect("valid");
        assert_eq!((f.token_ttl, f.token_max_ttl), (60, 7200));
    }

    #[test]
    fn legacy_aliases_only_where_the_method_reads_them() {
        let mut f = TokenFields::default();
        f.update(
            &obj(json!({"policies": ["p"], "bound_cidrs": "127.0.0.1/8", "period": 30})),
            Legacy::USERPASS,
        )
        .expect("valid");
        assert_eq!(f.token_policies, vec!["p"]);
        assert_eq!(f.token_bound_cidrs, vec!["127.0.0.1/8"]);
        assert_eq!(f.token_period, 0, "userpass has no legacy period");
        let mut g = TokenFields::default();
        g.update(&obj(json!({"period": "30s"})), Legacy::APPROLE)
            .expect("valid");
        assert_eq!(g.token_period, 30);
        // The token_ name wins over its alias.
        let mut h = TokenFields::default();
        h.update(
            &obj(json!({"policies": ["old"], "token_policies": ["new"]})),
            Legacy::APPROLE,
        )
        .expect("valid");
        assert_eq!(h.token_policies, vec!["new"]);
        let mut out = Map::new();
        h.write_into(&mut out, Legacy::APPROLE);
        assert_eq!(out["policies"], json!(["new"]));
        assert_eq!(out["period"], json!(0));
        assert!(!out.contains_key("bound_cidrs"));
    }

    #[test]
    fn bad_settings_are_refused() {
        let bad = |v: Value| TokenFields::default().update(&obj(v), Legacy::USERPASS);
        assert!(
            bad(json!({"token_type": "bad_token"}))
                .err()
                .is_some_and(|e| e.to_string().contains("unsupported token_type"))
        );
        assert!(bad(json!({"token_ttl": 100, "token_max_ttl": 10})).is_err());
        assert!(bad(json!({"token_num_uses": -1})).is_err());
        assert!(bad(json!({"token_bound_cidrs": ["300.0.0.1"]})).is_err());
        assert!(bad(json!({"token_type": "batch", "token_period": 5})).is_err());
        assert!(bad(json!({"token_ttl": "forever"})).is_err());
    }

    #[test]
    fn login_carries_the_settings() {
        let f = TokenFields {
            token_policies: vec!["p".into()],
            token_ttl: 10,
            token_max_ttl: 20,
            token_period: 0,
            token_explicit_max_ttl: 30,
            token_num_uses: 2,
            token_no_default_policy: true,
            token_bound_cidrs: vec!["10.0.0.0/8".into()],
            token_type: "service".into(),
        };
        let l = f.login();
        assert_eq!(l.policies, vec!["p"]);
        assert_eq!(
            (l.ttl, l.max_ttl, l.explicit_max_ttl, l.num_uses),
            (10, 20, 30, 2)
        );
        assert!(l.renewable && l.no_default_policy);
        assert_eq!(l.bound_cidrs, vec!["10.0.0.0/8"]);
    }
}
