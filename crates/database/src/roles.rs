//! Dynamic roles (`roles/<name>`) and static roles (`static-roles/<name>`): what is stored,
//! how a write updates it, and the JSON of a read (pure logic).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tresor_sdk::fields;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::connection::statement_list;
use crate::error::DbError;
use crate::route::valid_name;

fn inv(e: tresor_sdk::LogicalError) -> DbError {
    DbError::invalid(e.to_string())
}

/// A dynamic role: statements creating a user per credential request.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DynamicRole {
    /// The connection (`config/<db_name>`).
    pub db_name: String,
    /// Statements creating the user (`{{name}}`, `{{password}}`, `{{expiration}}`).
    pub creation_statements: Vec<String>,
    /// Statements dropping it (empty: the default revocation).
    pub revocation_statements: Vec<String>,
    /// Statements undoing a failed creation (run best-effort).
    pub rollback_statements: Vec<String>,
    /// Statements extending it (empty: `ALTER ROLE ... VALID UNTIL`).
    pub renew_statements: Vec<String>,
    /// Lease TTL, seconds (0: the mount's default).
    pub default_ttl: u64,
    /// Longest lease, seconds (0: the mount's maximum).
    pub max_ttl: u64,
}

impl DynamicRole {
    /// Applies a write on top of `self` (an existing role or the defaults).
    pub fn apply(&mut self, data: &Map<String, Value>, creating: bool) -> Result<(), DbError> {
        if let Some(d) = fields::get_str(data, "db_name").map_err(inv)? {
            self.db_name = d;
        }
        if self.db_name.is_empty() || (creating && !valid_name(&self.db_name)) {
            return Err(DbError::invalid("empty or invalid database name"));
        }
        for (field, slot) in [
            ("creation_statements", &mut self.creation_statements),
            ("revocation_statements", &mut self.revocation_statements),
            ("rollback_statements", &mut self.rollback_statements),
            ("renew_statements", &mut self.renew_statements),
        ] {
            if let Some(list) = statement_list(data, field)? {
                *slot = list;
            }
        }
        if self.creation_statements.is_empty() {
            return Err(DbError::invalid("creation_statements cannot be empty"));
        }
        if let Some(t) = fields::get_duration(data, "default_ttl").map_err(inv)? {
            self.default_ttl = t;
        }
        if let Some(t) = fields::get_duration(data, "max_ttl").map_err(inv)? {
            self.max_ttl = t;
        }
        if self.max_ttl > 0 && self.default_ttl > self.max_ttl {
            return Err(DbError::invalid("ttl cannot be greater than max_ttl"));
        }
        Ok(())
    }

    /// The JSON of a read.
    pub fn to_read_json(&self) -> Value {
        json!({
            "db_name": self.db_name,
            "creation_statements": self.creation_statements,
            "revocation_statements": self.revocation_statements,
            "rollback_statements": self.rollback_statements,
            "renew_statements": self.renew_statements,
            "default_ttl": self.default_ttl,
            "max_ttl": self.max_ttl,
            "credential_type": "password",
        })
    }
}

/// A static role: one existing PostgreSQL user whose password the engine owns and rotates.
/// The current password is wiped from memory on drop.
#[derive(Clone, Default, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct StaticRole {
    /// The connection (`config/<db_name>`).
    pub db_name: String,
    /// The PostgreSQL user (fixed once created).
    pub username: String,
    /// Seconds between automatic rotations.
    pub rotation_period: u64,
    /// Statements setting the password (empty: `ALTER ROLE ... WITH PASSWORD`).
    pub rotation_statements: Vec<String>,
    /// The current password (set by the last rotation).
    pub password: String,
    /// Unix seconds of the last rotation (0: never).
    pub last_vault_rotation: i64,
    /// Nanoseconds part of the last rotation, for the RFC 3339 timestamp.
    pub last_vault_rotation_nanos: u32,
}

impl std::fmt::Debug for StaticRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticRole")
            .field("db_name", &self.db_name)
            .field("username", &self.username)
            .field("rotation_period", &self.rotation_period)
            .finish_non_exhaustive()
    }
}

/// Shortest rotation period Vault accepts.
pub const MIN_ROTATION_PERIOD: u64 = 5;

impl StaticRole {
    /// Applies a write on top of `self`; the username cannot change once set.
    pub fn apply(&mut self, data: &Map<String, Value>, creating: bool) -> Result<(), DbError> {
        if let Some(d) = fields::get_str(data, "db_name").map_err(inv)? {
            self.db_name = d;
        }
        if self.db_name.is_empty() || !valid_name(&self.db_name) {
            return Err(DbError::invalid("empty or invalid database name"));
        }
        if let Some(u) = fields::get_str(data, "username").map_err(inv)? {
            if !creating && u != self.username {
                return Err(DbError::invalid("cannot update static account username"));
            }
            self.username = u;
        }
        if self.username.is_empty() {
            return Err(DbError::invalid(
                "username is a required field to create a static account",
            ));
        }
        if self.username.len() > 63 || !crate::statements::check_substitutable(&self.username) {
            return Err(DbError::invalid(
                "username must be at most 63 bytes, without quotes, backslashes or control characters",
            ));
        }
        if let Some(p) = fields::get_duration(data, "rotation_period").map_err(inv)? {
            self.rotation_period = p;
        }
        if self.rotation_period < MIN_ROTATION_PERIOD {
            return Err(DbError::invalid(format!(
                "rotation_period must be {MIN_ROTATION_PERIOD} seconds or more"
            )));
        }
        if let Some(list) = statement_list(data, "rotation_statements")? {
            self.rotation_statements = list;
        }
        Ok(())
    }

    /// When the last rotation happened, RFC 3339.
    pub fn last_rotation_text(&self) -> String {
        time::OffsetDateTime::from_unix_timestamp(self.last_vault_rotation)
            .map(|t| {
                t.replace_nanosecond(self.last_vault_rotation_nanos)
                    .unwrap_or(t)
            })
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default()
    }

    /// Seconds until the next rotation at `now` (unix seconds).
    pub fn ttl_at(&self, now: i64) -> u64 {
        let next = self
            .last_vault_rotation
            .saturating_add(self.rotation_period as i64);
        next.saturating_sub(now).max(0) as u64
    }

    /// The JSON of a read (no password).
    pub fn to_read_json(&self, now: i64) -> Value {
        json!({
            "db_name": self.db_name,
            "username": self.username,
            "rotation_period": self.rotation_period,
            "rotation_statements": self.rotation_statements,
            "last_vault_rotation": self.last_rotation_text(),
            "ttl": self.ttl_at(now),
            "credential_type": "password",
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn dynamic_role_fields() {
        let mut r = DynamicRole::default();
        r.apply(
            &obj(json!({"db_name": "pg", "creation_statements": "CREATE ROLE \"{{name}}\"; GRANT x TO \"{{name}}\"", "default_ttl": "1h", "max_ttl": 7200})),
            true,
        )
        .unwrap();
        assert_eq!(r.creation_statements.len(), 1);
        assert_eq!((r.default_ttl, r.max_ttl), (3600, 7200));
        let mut bad = DynamicRole::default();
        assert!(bad.apply(&obj(json!({"db_name": "pg"})), true).is_err());
        let mut bad = r.clone();
        assert!(
            bad.apply(&obj(json!({"default_ttl": "3h"})), false)
                .is_err()
        );
    }

    #[test]
    fn static_role_fields() {
        let mut r = StaticRole::default();
        r.apply(
            &obj(json!({"db_name": "pg", "username": "app", "rotation_period": "1h"})),
            true,
        )
        .unwrap();
        assert!(r.apply(&obj(json!({"username": "other"})), false).is_err());
        let mut short = StaticRole::default();
        assert!(
            short
                .apply(
                    &obj(json!({"db_name": "pg", "username": "a", "rotation_period": 1})),
                    true
                )
                .is_err()
        );
        let mut quoted = StaticRole::default();
        assert!(
            quoted
                .apply(
                    &obj(json!({"db_name": "pg", "username": "a\"b", "rotation_period": 60})),
                    true
                )
                .is_err()
        );
        r.last_vault_rotation = 1000;
        assert_eq!(r.ttl_at(1600), 3000);
        assert_eq!(r.ttl_at(10_000), 0);
        assert!(!r.to_read_json(0).to_string().contains("password\":"));
    }
}
