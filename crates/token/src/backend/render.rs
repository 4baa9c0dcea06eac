//! How tokens appear in responses: the `auth` block of creations and renewals and the `data`
//! of lookups.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tresor_sdk::AuthResponse;

use crate::entry::TokenEntry;

fn rfc3339(secs: u64) -> Value {
    i64::try_from(secs)
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .map_or(Value::Null, Value::String)
}

/// The `auth` block for a token just created or renewed; `lease_duration` is `ttl`.
pub(crate) fn auth_block(e: &TokenEntry, ttl: u64) -> AuthResponse {
    AuthResponse {
        client_token: e.id.clone(),
        accessor: e.accessor.clone(),
        policies: e.policies.clone(),
        token_policies: e.policies.clone(),
        metadata: (!e.meta.is_empty()).then(|| e.meta.clone()),
        lease_duration: ttl,
        renewable: e.renewable,
        entity_id: e.entity_id.clone(),
        token_type: e.token_type.clone(),
        orphan: e.orphan,
        num_uses: e.num_uses,
    }
}

/// The `data` of a lookup at `now`. `with_id` is false for lookups by accessor.
pub(crate) fn lookup_data(e: &TokenEntry, now: u64, with_id: bool) -> Map<String, Value> {
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_owned(), v);
    };
    put("accessor", json!(e.accessor));
    put("creation_time", json!(e.creation_time));
    put("creation_ttl", json!(e.creation_ttl));
    put("display_name", json!(e.display_name));
    put("entity_id", json!(e.entity_id));
    put("expire_time", e.expire_time.map_or(Value::Null, rfc3339));
    put("explicit_max_ttl", json!(e.explicit_max_ttl));
    put("id", json!(if with_id { e.id.as_str() } else { "" }));
    put("issue_time", rfc3339(e.creation_time));
    put(
        "meta",
        if e.meta.is_empty() {
            Value::Null
        } else {
            json!(e.meta)
        },
    );
    put("num_uses", json!(e.num_uses));
    put("orphan", json!(e.orphan));
    put("path", json!(e.path));
    put("policies", json!(e.policies));
    put("renewable", json!(e.renewable));
    put("ttl", json!(e.remaining_ttl(now)));
    put("type", json!(e.token_type));
    if e.period > 0 {
        put("period", json!(e.period));
    }
    if let Some(r) = e.last_renewal_time {
        put("last_renewal_time", json!(r));
        put("last_renewal", rfc3339(r));
    }
    if let Some(role) = &e.role {
        put("role", json!(role));
    }
    if !e.bound_cidrs.is_empty() {
        put("bound_cidrs", json!(e.bound_cidrs));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_renders_times_and_hides_id_for_accessor() {
        let e = TokenEntry {
            id: "hvs.x".into(),
            accessor: "acc".into(),
            creation_time: 0,
            expire_time: Some(3600),
            period: 60,
            ..TokenEntry::default()
        };
        let d = lookup_data(&e, 600, false);
        assert_eq!(d["id"], "");
        assert_eq!(d["ttl"], 3000);
        assert_eq!(d["issue_time"], "1970-01-01T00:00:00Z");
        assert_eq!(d["expire_time"], "1970-01-01T01:00:00Z");
        assert_eq!(d["period"], 60);
        assert_eq!(d["meta"], Value::Null);
        assert_eq!(lookup_data(&e, 600, true)["id"], "hvs.x");
        let forever = TokenEntry::default();
        assert_eq!(lookup_data(&forever, 5, true)["expire_time"], Value::Null);
        assert!(!lookup_data(&forever, 5, true).contains_key("period"));
    }
}
