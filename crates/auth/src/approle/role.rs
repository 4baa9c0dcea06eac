//! An AppRole role: its secret-id rules and token settings, how a write updates it, how a
//! read shows it, and the single-field endpoints (`role/:name/policies`, `.../secret-id-ttl`,
//! ...). Pure.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tresor_sdk::LogicalError;
use tresor_sdk::cidr;
use tresor_sdk::fields::{get_bool, get_duration, get_i64, get_str_list};
use tresor_sdk::token_fields::{Legacy, TokenFields};

/// A stored role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Role {
    /// The role's name (lower-cased).
    pub name: String,
    /// The role id (the login's first credential; also the identity alias name).
    pub role_id: String,
    /// Whether a login needs a secret id.
    pub bind_secret_id: bool,
    /// CIDR blocks logins (and secret ids) are bound to.
    pub secret_id_bound_cidrs: Vec<String>,
    /// Uses of each new secret id (0 = unlimited).
    pub secret_id_num_uses: u64,
    /// Life of each new secret id, seconds (0 = unlimited).
    pub secret_id_ttl: u64,
    /// Secret ids stay on the node that made them (kept for reads; one node here).
    pub local_secret_ids: bool,
    /// The token settings.
    #[serde(flatten)]
    pub token: TokenFields,
}

impl Default for Role {
    fn default() -> Self {
        Self {
            name: String::new(),
            role_id: String::new(),
            bind_secret_id: true,
            secret_id_bound_cidrs: Vec::new(),
            secret_id_num_uses: 0,
            secret_id_ttl: 0,
            local_secret_ids: false,
            token: TokenFields::default(),
        }
    }
}

fn non_negative(data: &Map<String, Value>, field: &str) -> Result<Option<u64>, LogicalError> {
    match get_i64(data, field)? {
        None => Ok(None),
        Some(n) => u64::try_from(n)
            .map(Some)
            .map_err(|_| LogicalError::invalid(format!("{field} cannot be negative"))),
    }
}

impl Role {
    /// Applies a role write (`role/:name`): the fields present change, the others stay.
    /// `creating` allows `local_secret_ids`, which is fixed once the role exists.
    pub fn update(
        &mut self,
        data: &Map<String, Value>,
        creating: bool,
    ) -> Result<(), LogicalError> {
        if let Some(b) = get_bool(data, "bind_secret_id")? {
            self.bind_secret_id = b;
        }
        let cidr_field = if data.contains_key("secret_id_bound_cidrs") {
            "secret_id_bound_cidrs"
        } else {
            "bound_cidr_list"
        };
        if let Some(list) = get_str_list(data, cidr_field)? {
            self.secret_id_bound_cidrs = cidr::parse_blocks(&list)?;
        }
        if let Some(n) = non_negative(data, "secret_id_num_uses")? {
            self.secret_id_num_uses = n;
        }
        if let Some(t) = get_duration(data, "secret_id_ttl")? {
            self.secret_id_ttl = t;
        }
        if let Some(b) = get_bool(data, "local_secret_ids")?
            && creating
        {
            self.local_secret_ids = b;
        }
        self.token.update(data, Legacy::APPROLE)?;
        self.check()
    }

    /// A role needs at least one constraint on its logins.
    pub fn check(&self) -> Result<(), LogicalError> {
        if !self.bind_secret_id
            && self.secret_id_bound_cidrs.is_empty()
            && self.token.token_bound_cidrs.is_empty()
        {
            return Err(LogicalError::invalid(
                "at least one constraint should be enabled on the role",
            ));
        }
        Ok(())
    }

    /// The data of a role read.
    pub fn to_data(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("bind_secret_id".into(), json!(self.bind_secret_id));
        m.insert(
            "secret_id_bound_cidrs".into(),
            json!(self.secret_id_bound_cidrs),
        );
        m.insert("secret_id_num_uses".into(), json!(self.secret_id_num_uses));
        m.insert("secret_id_ttl".into(), json!(self.secret_id_ttl));
        m.insert("local_secret_ids".into(), json!(self.local_secret_ids));
        self.token.write_into(&mut m, Legacy::APPROLE);
        m
    }
}

/// The single-field endpoints under `role/:name/`: the path segment and the role field it
/// reads, writes and (on delete) resets.
pub const FIELD_ENDPOINTS: &[(&str, &str)] = &[
    ("policies", "token_policies"),
    ("bind-secret-id", "bind_secret_id"),
    ("secret-id-bound-cidrs", "secret_id_bound_cidrs"),
    ("secret-id-num-uses", "secret_id_num_uses"),
    ("secret-id-ttl", "secret_id_ttl"),
    ("token-bound-cidrs", "token_bound_cidrs"),
    ("token-num-uses", "token_num_uses"),
    ("token-ttl", "token_ttl"),
    ("token-max-ttl", "token_max_ttl"),
    ("period", "token_period"),
    ("local-secret-ids", "local_secret_ids"),
];

/// The role field a single-field endpoint serves.
pub fn field_of(segment: &str) -> Option<&'static str> {
    FIELD_ENDPOINTS
        .iter()
        .find(|(s, _)| *s == segment)
        .map(|(_, f)| *f)
}

impl Role {
    /// The read of one field (`role/:name/secret-id-ttl` → `{"secret_id_ttl": 600}`); the
    /// policies endpoint shows `policies` too, the period endpoint `period` too.
    pub fn field_data(&self, field: &str) -> Map<String, Value> {
        let all = self.to_data();
        let mut m = Map::new();
        if let Some(v) = all.get(field) {
            m.insert(field.to_owned(), v.clone());
        }
        match field {
            "token_policies" => {
                m.insert("policies".into(), json!(self.token.token_policies));
            }
            "token_period" => {
                m.insert("period".into(), json!(self.token.token_period));
            }
            _ => {}
        }
        m
    }

    /// A write of one field: only that field (or its legacy name) is read from `data`.
    pub fn set_field(
        &mut self,
        field: &str,
        data: &Map<String, Value>,
    ) -> Result<(), LogicalError> {
        if field == "local_secret_ids" {
            return Err(LogicalError::UnsupportedOperation);
        }
        let legacy = match field {
            "token_policies" => Some("policies"),
            "token_period" => Some("period"),
            _ => None,
        };
        let mut only = Map::new();
        for k in std::iter::once(field).chain(legacy) {
            if let Some(v) = data.get(k) {
                only.insert(k.to_owned(), v.clone());
            }
        }
        if only.is_empty() {
            return Err(LogicalError::invalid(format!("missing {field}")));
        }
        self.update(&only, false)
    }

    /// A delete of one field: back to its default.
    pub fn reset_field(&mut self, field: &str) -> Result<(), LogicalError> {
        let d = Role::default();
        match field {
            "token_policies" => self.token.token_policies.clear(),
            "bind_secret_id" => self.bind_secret_id = d.bind_secret_id,
            "secret_id_bound_cidrs" => self.secret_id_bound_cidrs.clear(),
            "secret_id_num_uses" => self.secret_id_num_uses = 0,
            "secret_id_ttl" => self.secret_id_ttl = 0,
            "token_bound_cidrs" => self.token.token_bound_cidrs.clear(),
            "token_num_uses" => self.token.token_num_uses = 0,
            "token_ttl" => self.token.token_ttl = 0,
            "token_max_ttl" => self.token.token_max_ttl = 0,
            "token_period" => self.token.token_period = 0,
            _ => return Err(LogicalError::UnsupportedOperation),
        }
        self.check()
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
    fn role_writes_and_reads() {
        let mut r = Role::default();
        r.update(
            &obj(json!({
                "token_policies": ["default"],
                "secret_id_ttl": "10m",
                "secret_id_num_uses": 3,
                "bound_cidr_list": "127.0.0.1/32",
                "period": 60,
            })),
            true,
        )
        .expect("valid");
        let d = r.to_data();
        assert_eq!(d["token_type"], "default");
        assert_eq!(d["secret_id_ttl"], 600);
        assert_eq!(d["secret_id_num_uses"], 3);
        assert_eq!(d["secret_id_bound_cidrs"], json!(["127.0.0.1/32"]));
        assert_eq!(d["bind_secret_id"], true);
        assert_eq!(d["period"], 60);
        assert_eq!(d["token_period"], 60);
        assert_eq!(d["policies"], json!(["default"]));
    }

    #[test]
    fn a_role_without_constraints_is_refused() {
        let mut r = Role::default();
        assert!(
            r.update(&obj(json!({"bind_secret_id": false})), true)
                .is_err()
        );
        let mut r = Role::default();
        r.update(
            &obj(json!({"bind_secret_id": false, "token_bound_cidrs": ["10.0.0.0/8"]})),
            true,
        )
        .expect("bound by CIDR");
    }

    #[test]
    fn single_field_endpoints() {
        let mut r = Role::default();
        assert_eq!(field_of("secret-id-num-uses"), Some("secret_id_num_uses"));
        assert_eq!(field_of("nope"), None);
        r.set_field("secret_id_num_uses", &obj(json!({"secret_id_num_uses": 5})))
            .expect("set");
        assert_eq!(r.field_data("secret_id_num_uses")["secret_id_num_uses"], 5);
        // Only the endpoint's own field is taken.
        r.set_field(
            "token_ttl",
            &obj(json!({"token_ttl": 30, "secret_id_num_uses": 9})),
        )
        .expect("set");
        assert_eq!((r.token.token_ttl, r.secret_id_num_uses), (30, 5));
        r.set_field("token_policies", &obj(json!({"policies": "a,b"})))
            .expect("set");
        assert_eq!(
            r.field_data("token_policies")["policies"],
            json!(["a", "b"])
        );
        r.reset_field("secret_id_num_uses").expect("reset");
        assert_eq!(r.secret_id_num_uses, 0);
        assert!(r.set_field("token_ttl", &obj(json!({}))).is_err());
    }
}
