//! The stored form of a lease.

use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// Characters of the random part of a lease id.
const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// Length of the random part of a lease id.
const ID_RANDOM_LEN: usize = 24;

/// A new lease id for a secret issued at `path` (the full request path, mount included):
/// `<path>/<24 random alphanumerics>`, as Vault's lease ids look.
pub fn new_lease_id(path: &str) -> String {
    let mut rng = rand::thread_rng();
    let tail: String = (0..ID_RANDOM_LEN)
        .map(|_| ID_ALPHABET[rng.gen_range(0..ID_ALPHABET.len())] as char)
        .collect();
    format!("{}/{tail}", path.trim_end_matches('/'))
}

/// One lease, as stored. Times are unix seconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeaseEntry {
    /// The lease id (`database/creds/app/Xy…`).
    pub lease_id: String,
    /// The request path that issued the secret, mount included (`database/creds/app`).
    pub path: String,
    /// The mount point the secret came from (`database/`).
    pub mount_point: String,
    /// The accessor of that mount.
    pub mount_accessor: String,
    /// When the lease was issued.
    pub issue_time: u64,
    /// When it expires (is revoked).
    pub expire_time: u64,
    /// When it was last renewed.
    #[serde(default)]
    pub last_renewal_time: Option<u64>,
    /// Renewals cannot take it past this time.
    pub max_expire_time: u64,
    /// Whether it may be renewed.
    pub renewable: bool,
    /// What the backend needs to renew or revoke the secret (never shown to clients).
    #[serde(default)]
    pub internal: Map<String, Value>,
    /// Failed revocation attempts so far.
    #[serde(default)]
    pub revoke_attempts: u32,
    /// When the next revocation attempt is due after a failure (0: at expiry).
    #[serde(default)]
    pub next_attempt: u64,
    /// Set when the revocation failed too often: the lease stays until an operator acts.
    #[serde(default)]
    pub irrevocable: bool,
    /// The last revocation error.
    #[serde(default)]
    pub revoke_error: Option<String>,
}

impl LeaseEntry {
    /// When the sweep should look at this lease next (`None` once irrevocable).
    pub fn due(&self) -> Option<u64> {
        if self.irrevocable {
            None
        } else if self.next_attempt > 0 {
            Some(self.next_attempt)
        } else {
            Some(self.expire_time)
        }
    }

    /// Seconds left at `now`.
    pub fn ttl_at(&self, now: u64) -> u64 {
        self.expire_time.saturating_sub(now)
    }

    /// The `data` of `sys/leases/lookup`, Vault's field names.
    pub fn lookup_json(&self, now: u64) -> Value {
        json!({
            "id": self.lease_id,
            "issue_time": rfc3339(self.issue_time),
            "expire_time": rfc3339(self.expire_time),
            "last_renewal": self.last_renewal_time.map(rfc3339),
            "renewable": self.renewable,
            "ttl": self.ttl_at(now),
        })
    }
}

/// A unix time as RFC 3339 (UTC).
pub(crate) fn rfc3339(secs: u64) -> String {
    let t = i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_ids_extend_the_path_with_a_random_tail() {
        let a = new_lease_id("database/creds/app");
        let b = new_lease_id("database/creds/app/");
        let tail = a.strip_prefix("database/creds/app/").expect("prefix");
        assert_eq!(tail.len(), ID_RANDOM_LEN);
        assert!(tail.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert!(b.starts_with("database/creds/app/") && !b.contains("//"));
        assert_ne!(a, new_lease_id("database/creds/app"));
    }

    #[test]
    fn lookup_has_vaults_fields() {
        let e = LeaseEntry {
            lease_id: "db/creds/r/abc".into(),
            path: "db/creds/r".into(),
            mount_point: "db/".into(),
            mount_accessor: "database_1".into(),
            issue_time: 0,
            expire_time: 3600,
            last_renewal_time: None,
            max_expire_time: 7200,
            renewable: true,
            internal: Map::new(),
            revoke_attempts: 0,
            next_attempt: 0,
            irrevocable: false,
            revoke_error: None,
        };
        let v = e.lookup_json(600);
        assert_eq!(v["id"], "db/creds/r/abc");
        assert_eq!(v["issue_time"], "1970-01-01T00:00:00Z");
        assert_eq!(v["expire_time"], "1970-01-01T01:00:00Z");
        assert_eq!(v["last_renewal"], Value::Null);
        assert_eq!(v["ttl"], 3000);
        assert_eq!(e.due(), Some(3600));
    }
}
