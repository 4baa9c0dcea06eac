//! A JWT/OIDC role: what a token must show to log in through it, and the token it gets.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tresor_sdk::LogicalError;
use tresor_sdk::fields::{get_bool, get_str, get_str_list};
use tresor_sdk::token_fields::{Legacy, TokenFields};

use super::claims::{self, DEFAULT_CLAIM_LEEWAY, DEFAULT_CLOCK_SKEW_LEEWAY, Leeways};

/// The legacy names JWT roles read (`policies`, `ttl`, `max_ttl`, `period`, `bound_cidrs`).
pub const LEGACY: Legacy = Legacy {
    policies: true,
    ttls: true,
    period: true,
    bound_cidrs: true,
};

/// Most entries of a role's lists and maps (hostile input is bounded).
pub const MAX_ENTRIES: usize = 256;

/// A stored role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct JwtRole {
    /// `jwt` or `oidc` (the default, as Vault's; only `jwt` roles log in here).
    pub role_type: String,
    /// Audiences one of which the token's `aud` must hold.
    pub bound_audiences: Vec<String>,
    /// The `sub` the token must have.
    pub bound_subject: String,
    /// Claims the token must have, with their accepted values (a string or a list).
    pub bound_claims: Map<String, Value>,
    /// `string` or `glob`.
    pub bound_claims_type: String,
    /// Claim → metadata key of the token and alias.
    pub claim_mappings: BTreeMap<String, String>,
    /// The claim naming the user (the alias name, the display name).
    pub user_claim: String,
    /// Whether `user_claim` is a JSON pointer.
    pub user_claim_json_pointer: bool,
    /// The claim listing the user's groups.
    pub groups_claim: String,
    /// Seconds of clock skew allowed (0 = 60, negative = none).
    pub clock_skew_leeway: i64,
    /// Life of a token without `exp` (0 = 150, negative = none).
    pub expiration_leeway: i64,
    /// Start of a token without `nbf`/`iat` before its `exp` (0 = 150, negative = none).
    pub not_before_leeway: i64,
    /// OIDC redirect URIs (kept and shown; the browser flow is not served).
    pub allowed_redirect_uris: Vec<String>,
    /// OIDC scopes (kept and shown).
    pub oidc_scopes: Vec<String>,
    /// Accepted and shown; nothing is logged verbosely.
    pub verbose_oidc_logging: bool,
    /// The token settings.
    #[serde(flatten)]
    pub token: TokenFields,
}

impl Default for JwtRole {
    fn default() -> Self {
        Self {
            role_type: "oidc".into(),
            bound_audiences: Vec::new(),
            bound_subject: String::new(),
            bound_claims: Map::new(),
            bound_claims_type: "string".into(),
            claim_mappings: BTreeMap::new(),
            user_claim: String::new(),
            user_claim_json_pointer: false,
            groups_claim: String::new(),
            clock_skew_leeway: DEFAULT_CLOCK_SKEW_LEEWAY,
            expiration_leeway: DEFAULT_CLAIM_LEEWAY,
            not_before_leeway: DEFAULT_CLAIM_LEEWAY,
            allowed_redirect_uris: Vec::new(),
            oidc_scopes: Vec::new(),
            verbose_oidc_logging: false,
            token: TokenFields::default(),
        }
    }
}

fn bounded(list: Vec<String>, field: &str) -> Result<Vec<String>, LogicalError> {
    if list.len() > MAX_ENTRIES {
        return Err(LogicalError::invalid(format!(
            "too many values in {field} (at most {MAX_ENTRIES})"
        )));
    }
    Ok(list.into_iter().filter(|s| !s.is_empty()).collect())
}

/// A leeway field: seconds as a number or a duration string, negative allowed.
fn leeway(data: &Map<String, Value>, field: &str) -> Result<Option<i64>, LogicalError> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| LogicalError::invalid(format!("invalid {field}"))),
        Some(Value::String(s)) => {
            let s = s.trim();
            if let Some(rest) = s.strip_prefix('-') {
                let v = tresor_sdk::duration::parse_secs(rest)
                    .map_err(|_| LogicalError::invalid(format!("invalid {field}")))?;
                Ok(Some(-(i64::try_from(v).unwrap_or(i64::MAX))))
            } else {
                let v = tresor_sdk::duration::parse_secs(s)
                    .map_err(|_| LogicalError::invalid(format!("invalid {field}")))?;
                Ok(Some(i64::try_from(v).unwrap_or(i64::MAX)))
            }
        }
        Some(_) => Err(LogicalError::invalid(format!("invalid {field}"))),
    }
}

fn string_map(
    data: &Map<String, Value>,
    field: &str,
) -> Result<Option<Map<String, Value>>, LogicalError> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) if m.len() <= MAX_ENTRIES => Ok(Some(m.clone())),
        Some(Value::String(s)) if s.is_empty() => Ok(Some(Map::new())),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(m)) if m.len() <= MAX_ENTRIES => Ok(Some(m)),
            _ => Err(LogicalError::invalid(format!(
                "{field} must be a JSON object"
            ))),
        },
        Some(_) => Err(LogicalError::invalid(format!(
            "{field} must be a map of at most {MAX_ENTRIES} entries"
        ))),
    }
}

impl JwtRole {
    /// Applies the fields present in `data`, then checks the role as a whole.
    pub fn update(&mut self, data: &Map<String, Value>) -> Result<(), LogicalError> {
        if let Some(t) = get_str(data, "role_type")? {
            self.role_type = match t.as_str() {
                "" => "oidc".into(),
                "jwt" | "oidc" => t,
                _ => return Err(LogicalError::invalid(format!("invalid 'role_type': {t}"))),
            };
        }
        if let Some(v) = get_str_list(data, "bound_audiences")? {
            self.bound_audiences = bounded(v, "bound_audiences")?;
        }
        if let Some(v) = get_str(data, "bound_subject")? {
            self.bound_subject = v;
        }
        if let Some(m) = string_map(data, "bound_claims")? {
            for (k, v) in &m {
                if claims::bound_values(v).is_none() {
                    return Err(LogicalError::invalid(format!(
                        "bound claim {k:?} must be a string or a list of strings"
                    )));
                }
            }
            self.bound_claims = m;
        }
        if let Some(t) = get_str(data, "bound_claims_type")? {
            self.bound_claims_type = match t.as_str() {
                "" | "string" => "string".into(),
                "glob" => t,
                _ => {
                    return Err(LogicalError::invalid(format!(
                        "invalid 'bound_claims_type': {t}"
                    )));
                }
            };
        }
        if let Some(m) = string_map(data, "claim_mappings")? {
            let mut out = BTreeMap::new();
            for (claim, key) in m {
                let Value::String(key) = key else {
                    return Err(LogicalError::invalid(
                        "claim_mappings values must be strings",
                    ));
                };
                if key == "role" {
                    return Err(LogicalError::invalid(
                        "metadata key \"role\" is reserved and may not be a mapping destination",
                    ));
                }
                if out.values().any(|k| *k == key) {
                    return Err(LogicalError::invalid(format!(
                        "multiple keys are mapped to metadata key {key:?}"
                    )));
                }
                out.insert(claim, key);
            }
            self.claim_mappings = out;
        }
        if let Some(v) = get_str(data, "user_claim")? {
            self.user_claim = v;
        }
        if let Some(v) = get_bool(data, "user_claim_json_pointer")? {
            self.user_claim_json_pointer = v;
        }
        if let Some(v) = get_str(data, "groups_claim")? {
            self.groups_claim = v;
        }
        if let Some(v) = leeway(data, "clock_skew_leeway")? {
            self.clock_skew_leeway = v;
        }
        if let Some(v) = leeway(data, "expiration_leeway")? {
            self.expiration_leeway = v;
        }
        if let Some(v) = leeway(data, "not_before_leeway")? {
            self.not_before_leeway = v;
        }
        if let Some(v) = get_str_list(data, "allowed_redirect_uris")? {
            self.allowed_redirect_uris = bounded(v, "allowed_redirect_uris")?;
        }
        if let Some(v) = get_str_list(data, "oidc_scopes")? {
            self.oidc_scopes = bounded(v, "oidc_scopes")?;
        }
        if let Some(v) = get_bool(data, "verbose_oidc_logging")? {
            self.verbose_oidc_logging = v;
        }
        self.token.update(data, LEGACY)?;
        self.check()
    }

    /// The rules of a role as a whole.
    pub fn check(&self) -> Result<(), LogicalError> {
        if self.user_claim.is_empty() {
            return Err(LogicalError::invalid(
                "a user claim must be defined on the role",
            ));
        }
        if self.role_type == "jwt"
            && self.bound_audiences.is_empty()
            && self.bound_subject.is_empty()
            && self.bound_claims.is_empty()
            && self.token.token_bound_cidrs.is_empty()
        {
            return Err(LogicalError::invalid(
                "must have at least one bound constraint when creating/updating a role",
            ));
        }
        if self.role_type == "oidc" && self.allowed_redirect_uris.is_empty() {
            return Err(LogicalError::invalid(
                "'allowed_redirect_uris' must be set if 'role_type' is 'oidc' or unspecified.",
            ));
        }
        Ok(())
    }

    /// The leeways of the time checks.
    pub fn leeways(&self) -> Leeways {
        Leeways {
            clock_skew: self.clock_skew_leeway,
            expiration: self.expiration_leeway,
            not_before: self.not_before_leeway,
        }
    }

    /// The role as a read shows it.
    pub fn to_data(&self) -> Map<String, Value> {
        let mut m = Map::new();
        let mut put = |k: &str, v: Value| {
            m.insert(k.to_owned(), v);
        };
        put("role_type", json!(self.role_type));
        put("bound_audiences", json!(self.bound_audiences));
        put("bound_subject", json!(self.bound_subject));
        put("bound_claims", Value::Object(self.bound_claims.clone()));
        put("bound_claims_type", json!(self.bound_claims_type));
        put("claim_mappings", json!(self.claim_mappings));
        put("user_claim", json!(self.user_claim));
        put(
            "user_claim_json_pointer",
            json!(self.user_claim_json_pointer),
        );
        put("groups_claim", json!(self.groups_claim));
        put("clock_skew_leeway", json!(self.clock_skew_leeway));
        put("expiration_leeway", json!(self.expiration_leeway));
        put("not_before_leeway", json!(self.not_before_leeway));
        put("allowed_redirect_uris", json!(self.allowed_redirect_uris));
        put("oidc_scopes", json!(self.oidc_scopes));
        put("verbose_oidc_logging", json!(self.verbose_oidc_logging));
        self.token.write_into(&mut m, LEGACY);
        m
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

    fn make(v: Value) -> Result<JwtRole, LogicalError> {
        let mut r = JwtRole::default();
        r.update(&obj(v)).map(|()| r)
    }

    #[test]
    fn jwt_roles_need_a_user_claim_and_a_binding() {
        assert!(
            make(json!({"role_type": "jwt", "bound_subject": "s"}))
                .unwrap_err()
                .to_string()
                .contains("user claim")
        );
        assert!(
            make(json!({"role_type": "jwt", "user_claim": "sub"}))
                .unwrap_err()
                .to_string()
                .contains("at least one bound constraint")
        );
        for binding in [
            json!({"bound_audiences": "a"}),
            json!({"bound_subject": "s"}),
            json!({"bound_claims": {"g": ["a"]}}),
            json!({"token_bound_cidrs": "10.0.0.0/8"}),
        ] {
            let mut data = obj(binding);
            data.insert("role_type".into(), json!("jwt"));
            data.insert("user_claim".into(), json!("sub"));
            assert!(make(Value::Object(data)).is_ok());
        }
        assert!(
            make(json!({"user_claim": "sub"}))
                .unwrap_err()
                .to_string()
                .contains("allowed_redirect_uris"),
            "oidc is the default role_type"
        );
    }

    #[test]
    fn fields_parse_and_show() {
        let r = make(json!({
            "role_type": "jwt", "user_claim": "email", "bound_audiences": ["a", "b"],
            "bound_claims": "{\"groups\": [\"x\"]}", "bound_claims_type": "glob",
            "claim_mappings": {"email": "mail"}, "expiration_leeway": "-1",
            "clock_skew_leeway": "2m", "token_policies": "p", "token_ttl": "1h",
        }))
        .expect("valid");
        assert_eq!(r.bound_claims["groups"], json!(["x"]));
        assert_eq!(
            (
                r.clock_skew_leeway,
                r.expiration_leeway,
                r.not_before_leeway
            ),
            (120, -1, 150)
        );
        let d = r.to_data();
        assert_eq!(d["claim_mappings"], json!({"email": "mail"}));
        assert_eq!(d["token_ttl"], json!(3600));
        assert_eq!(d["policies"], json!(["p"]));
        assert!(
            make(
                json!({"role_type": "jwt", "user_claim": "s", "bound_subject": "x",
            "claim_mappings": {"a": "role"}})
            )
            .is_err()
        );
        assert!(
            make(
                json!({"role_type": "jwt", "user_claim": "s", "bound_subject": "x",
            "claim_mappings": {"a": "k", "b": "k"}})
            )
            .is_err()
        );
        assert!(
            make(json!({"role_type": "jwt", "user_claim": "s", "bound_claims": {"a": {"b": 1}}}))
                .is_err()
        );
        assert!(make(json!({"role_type": "saml", "user_claim": "s"})).is_err());
        assert!(
            make(
                json!({"role_type": "jwt", "user_claim": "s", "bound_subject": "x",
            "bound_claims_type": "regex"})
            )
            .is_err()
        );
    }
}
