//! AppRole secret ids: what is stored for each, the rules of a new one against its role, how a
//! login consumes one (expiry, CIDRs, use count) and how a lookup shows it. Pure: the backend
//! does the I/O under its lock.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tresor_sdk::LogicalError;
use tresor_sdk::cidr;
use tresor_sdk::fields::{get_duration, get_i64, get_str_list};

use super::role::Role;

/// Longest custom secret id accepted, bytes.
pub const MAX_SECRET_ID_LEN: usize = 4096;
/// Most metadata entries one secret id may carry.
pub const MAX_METADATA: usize = 64;

/// A stored secret id (under a salted hash of its value; the value itself is never stored).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SecretIdEntry {
    /// The accessor (a handle that can look the secret id up and destroy it).
    pub secret_id_accessor: String,
    /// Uses left (0 = unlimited).
    pub secret_id_num_uses: u64,
    /// Life from creation, seconds (0 = unlimited).
    pub secret_id_ttl: u64,
    /// Creation time, unix seconds.
    pub creation_time: i64,
    /// Expiry time, unix seconds (0 = never).
    pub expiration_time: i64,
    /// Last change, unix seconds.
    pub last_updated_time: i64,
    /// Metadata given at creation (added to the login token's metadata).
    pub metadata: BTreeMap<String, String>,
    /// CIDR blocks logins with this secret id must come from.
    pub cidr_list: Vec<String>,
    /// CIDR blocks the tokens of its logins are bound to.
    pub token_bound_cidrs: Vec<String>,
}

/// The `metadata` of a secret-id creation: a JSON object of strings, or such an object written
/// as a string (what clients send).
pub fn parse_metadata(data: &Map<String, Value>) -> Result<BTreeMap<String, String>, LogicalError> {
    let object = match data.get("metadata") {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::String(s)) if s.trim().is_empty() => return Ok(BTreeMap::new()),
        Some(Value::String(s)) => serde_json::from_str::<Value>(s)
            .map_err(|e| LogicalError::invalid(format!("failed to parse metadata: {e}")))?,
        Some(v) => v.clone(),
    };
    let Value::Object(m) = object else {
        return Err(LogicalError::invalid(
            "failed to parse metadata: expected a JSON object",
        ));
    };
    if m.len() > MAX_METADATA {
        return Err(LogicalError::invalid(format!(
            "too many metadata entries (at most {MAX_METADATA})"
        )));
    }
    m.into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k, s)),
            Value::Number(n) => Ok((k, n.to_string())),
            Value::Bool(b) => Ok((k, b.to_string())),
            _ => Err(LogicalError::invalid(format!(
                "failed to parse metadata: value of {k:?} is not a string"
            ))),
        })
        .collect()
}

/// Builds the entry of a new secret id for `role` from a creation request at `now`: its
/// metadata, CIDRs (inside the role's), use count and TTL (never more than the role's).
pub fn new_entry(
    role: &Role,
    data: &Map<String, Value>,
    accessor: String,
    now: i64,
) -> Result<SecretIdEntry, LogicalError> {
    let metadata = parse_metadata(data)?;
    let cidr_list = match get_str_list(data, "cidr_list")? {
        Some(l) => cidr::parse_blocks(&l)?,
        None => Vec::new(),
    };
    if !role.secret_id_bound_cidrs.is_empty()
        && !cidr::is_subset(&cidr_list, &role.secret_id_bound_cidrs)
    {
        return Err(LogicalError::invalid(
            "failed to verify the CIDR restrictions set on the secret ID: cidr_list must be a subset of the role's secret_id_bound_cidrs",
        ));
    }
    let token_bound_cidrs = match get_str_list(data, "token_bound_cidrs")? {
        Some(l) => cidr::parse_blocks(&l)?,
        None => Vec::new(),
    };
    if !role.token.token_bound_cidrs.is_empty()
        && !cidr::is_subset(&token_bound_cidrs, &role.token.token_bound_cidrs)
    {
        return Err(LogicalError::invalid(
            "failed to verify the CIDR restrictions set on the secret ID: token_bound_cidrs must be a subset of the role's token_bound_cidrs",
        ));
    }
    let num_uses = match get_i64(data, "num_uses")? {
        None => role.secret_id_num_uses,
        Some(n) if n < 0 => return Err(LogicalError::invalid("num_uses cannot be negative")),
        Some(n) => {
            let n = n as u64;
            if role.secret_id_num_uses > 0 && (n == 0 || n > role.secret_id_num_uses) {
                return Err(LogicalError::invalid(
                    "num_uses cannot be higher than the role's secret_id_num_uses",
                ));
            }
            n
        }
    };
    let ttl = match get_duration(data, "ttl")? {
        None | Some(0) => role.secret_id_ttl,
        Some(t) => {
            if role.secret_id_ttl > 0 && t > role.secret_id_ttl {
                return Err(LogicalError::invalid(
                    "ttl cannot be longer than the role's secret_id_ttl",
                ));
            }
            t
        }
    };
    let expiration_time = if ttl > 0 {
        now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX))
    } else {
        0
    };
    Ok(SecretIdEntry {
        secret_id_accessor: accessor,
        secret_id_num_uses: num_uses,
        secret_id_ttl: ttl,
        creation_time: now,
        expiration_time,
        last_updated_time: now,
        metadata,
        cidr_list,
        token_bound_cidrs,
    })
}

/// What a login does to the secret id it presents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Consume {
    /// Refused, with the reason the client gets; `delete` when the entry is dead (expired).
    Refuse {
        /// The error message.
        reason: String,
        /// Whether the entry should be removed.
        delete: bool,
    },
    /// Accepted; the entry to store back (one use fewer), or `None` when that was its last
    /// use and it is to be deleted.
    Accept(Option<SecretIdEntry>),
}

/// The login message for a bad role id or secret id (one answer for both).
pub const INVALID_CREDENTIALS: &str = "invalid role or secret ID";

/// Decides a login with `entry` from `remote` at `now`. The caller holds the backend's lock
/// from reading the entry to storing the outcome, so a use-limited secret id is never used
/// more often than allowed.
pub fn consume(entry: &SecretIdEntry, remote: Option<IpAddr>, now: i64) -> Consume {
    if entry.expiration_time > 0 && entry.expiration_time <= now {
        return Consume::Refuse {
            reason: INVALID_CREDENTIALS.into(),
            delete: true,
        };
    }
    if !cidr::allows(&entry.cidr_list, remote) {
        return Consume::Refuse {
            reason: format!(
                "source address {:?} unauthorized through CIDR restrictions on the secret ID",
                remote.map(|a| a.to_string()).unwrap_or_default()
            ),
            delete: false,
        };
    }
    match entry.secret_id_num_uses {
        0 => Consume::Accept(Some(entry.clone())),
        1 => Consume::Accept(None),
        n => Consume::Accept(Some(SecretIdEntry {
            secret_id_num_uses: n - 1,
            last_updated_time: now,
            ..entry.clone()
        })),
    }
}

fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// The data of a secret-id lookup (by value or by accessor).
pub fn lookup_data(e: &SecretIdEntry) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("secret_id_accessor".into(), json!(e.secret_id_accessor));
    m.insert("secret_id_num_uses".into(), json!(e.secret_id_num_uses));
    m.insert("secret_id_ttl".into(), json!(e.secret_id_ttl));
    m.insert("creation_time".into(), json!(rfc3339(e.creation_time)));
    m.insert(
        "expiration_time".into(),
        json!(if e.expiration_time > 0 {
            rfc3339(e.expiration_time)
        } else {
            "0001-01-01T00:00:00Z".to_owned()
        }),
    );
    m.insert(
        "last_updated_time".into(),
        json!(rfc3339(e.last_updated_time)),
    );
    m.insert("metadata".into(), json!(e.metadata));
    m.insert("cidr_list".into(), json!(e.cidr_list));
    m.insert("token_bound_cidrs".into(), json!(e.token_bound_cidrs));
    m
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

    fn role() -> Role {
        Role {
            secret_id_num_uses: 2,
            secret_id_ttl: 600,
            secret_id_bound_cidrs: vec!["127.0.0.0/8".into()],
            ..Role::default()
        }
    }

    #[test]
    fn metadata_as_string_or_object() {
        let m = parse_metadata(&obj(json!({"metadata": "{\"a\":\"val1\",\"B\":\"two\"}"})))
            .expect("string form");
        assert_eq!(m["a"], "val1");
        assert_eq!(m["B"], "two");
        assert_eq!(
            parse_metadata(&obj(json!({"metadata": {"x": 1}}))).expect("object")["x"],
            "1"
        );
        assert!(parse_metadata(&obj(json!({"metadata": "bad"}))).is_err());
        assert!(parse_metadata(&obj(json!({"metadata": "[1]"}))).is_err());
    }

    #[test]
    fn new_secret_ids_inherit_and_stay_within_the_role() {
        let e = new_entry(
            &role(),
            &obj(json!({"cidr_list": ["127.0.0.1/32"]})),
            "acc".into(),
            1000,
        )
        .expect("valid");
        assert_eq!((e.secret_id_num_uses, e.secret_id_ttl), (2, 600));
        assert_eq!(e.expiration_time, 1600);
        assert!(
            new_entry(
                &role(),
                &obj(json!({"cidr_list": ["10.0.0.1"]})),
                "a".into(),
                0
            )
            .is_err()
        );
        assert!(new_entry(&role(), &obj(json!({"num_uses": 3})), "a".into(), 0).is_err());
        assert!(new_entry(&role(), &obj(json!({"ttl": "1h"})), "a".into(), 0).is_err());
        let e = new_entry(
            &role(),
            &obj(json!({"num_uses": 1, "ttl": 60})),
            "a".into(),
            0,
        )
        .expect("within the role");
        assert_eq!((e.secret_id_num_uses, e.expiration_time), (1, 60));
    }

    #[test]
    fn uses_are_counted_down_to_deletion() {
        let ip = "127.0.0.1".parse().ok();
        let mut e = SecretIdEntry {
            secret_id_num_uses: 2,
            ..SecretIdEntry::default()
        };
        match consume(&e, ip, 10) {
            Consume::Accept(Some(next)) => {
                assert_eq!(next.secret_id_num_uses, 1);
                e = next;
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            consume(&e, ip, 11),
            Consume::Accept(None),
            "last use deletes"
        );
        let unlimited = SecretIdEntry::default();
        assert_eq!(
            consume(&unlimited, ip, 10),
            Consume::Accept(Some(unlimited.clone()))
        );
    }

    #[test]
    fn expired_and_foreign_logins_are_refused() {
        let expired = SecretIdEntry {
            expiration_time: 100,
            ..SecretIdEntry::default()
        };
        assert!(matches!(
            consume(&expired, None, 100),
            Consume::Refuse { delete: true, .. }
        ));
        let bound = SecretIdEntry {
            cidr_list: vec!["127.0.0.1/32".into()],
            ..SecretIdEntry::default()
        };
        assert!(matches!(
            consume(&bound, "10.0.0.1".parse().ok(), 0),
            Consume::Refuse { delete: false, .. }
        ));
        assert!(matches!(
            consume(&bound, "127.0.0.1".parse().ok(), 0),
            Consume::Accept(_)
        ));
    }

    #[test]
    fn lookups_show_vault_fields() {
        let e = SecretIdEntry {
            secret_id_accessor: "acc".into(),
            cidr_list: vec!["127.0.0.1/32".into()],
            ..SecretIdEntry::default()
        };
        let d = lookup_data(&e);
        assert_eq!(d["secret_id_accessor"], "acc");
        assert_eq!(d["cidr_list"][0], "127.0.0.1/32");
        assert_eq!(d["secret_id_num_uses"], 0);
        assert_eq!(d["expiration_time"], "0001-01-01T00:00:00Z");
    }
}
