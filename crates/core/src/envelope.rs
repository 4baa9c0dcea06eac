//! Vault's JSON response envelope. The http layer sends it to clients; response wrapping
//! stores it so that an unwrap returns exactly what the original request would have.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use tresor_sdk::{AuthResponse, Response};

use crate::error::CoreError;
use crate::wrapping::WrapInfo;

/// The envelope around a backend response (`request_id`, `lease_id`, `renewable`,
/// `lease_duration`, `data`, `wrap_info`, `warnings`, `auth`, `mount_type`).
pub fn envelope(resp: &Response, request_id: &str) -> Value {
    json!({
        "request_id": request_id,
        "lease_id": resp.secret.as_ref().map_or("", |s| s.lease_id.as_str()),
        "renewable": resp.renewable,
        "lease_duration": resp.lease_duration,
        "data": resp.data,
        "wrap_info": null,
        "warnings": if resp.warnings.is_empty() { Value::Null } else { json!(resp.warnings) },
        "auth": resp.auth,
        "mount_type": "",
    })
}

/// The envelope of a wrapped response: everything empty except `wrap_info`.
pub fn wrapped_envelope(info: &WrapInfo) -> Value {
    json!({
        "request_id": "",
        "lease_id": "",
        "renewable": false,
        "lease_duration": 0,
        "data": null,
        "wrap_info": info,
        "warnings": null,
        "auth": null,
        "mount_type": "",
    })
}

fn str_of(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn strings_of(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn auth_of(v: &Value) -> AuthResponse {
    let metadata = v.get("metadata").and_then(Value::as_object).map(|m| {
        m.iter()
            .filter_map(|(k, x)| x.as_str().map(|s| (k.clone(), s.to_owned())))
            .collect::<BTreeMap<_, _>>()
    });
    AuthResponse {
        client_token: str_of(v, "client_token"),
        accessor: str_of(v, "accessor"),
        policies: strings_of(v, "policies"),
        token_policies: strings_of(v, "token_policies"),
        metadata,
        lease_duration: v.get("lease_duration").and_then(Value::as_u64).unwrap_or(0),
        renewable: v.get("renewable").and_then(Value::as_bool).unwrap_or(false),
        entity_id: str_of(v, "entity_id"),
        token_type: str_of(v, "token_type"),
        orphan: v.get("orphan").and_then(Value::as_bool).unwrap_or(false),
        num_uses: v.get("num_uses").and_then(Value::as_u64).unwrap_or(0),
        mfa_requirement: (),
        display_name: String::new(),
    }
}

/// Decodes an envelope made by [`envelope`] back into a [`Response`] (for callers of
/// [`Core::handle`](crate::Core::handle), which speaks responses rather than JSON).
pub(crate) fn response_from_envelope(text: &str) -> Result<Response, CoreError> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| CoreError::Internal(format!("stored wrapped response: {e}")))?;
    Ok(Response {
        data: v.get("data").and_then(Value::as_object).cloned(),
        warnings: strings_of(&v, "warnings"),
        auth: v.get("auth").filter(|a| a.is_object()).map(auth_of),
        lease_duration: v.get("lease_duration").and_then(Value::as_u64).unwrap_or(0),
        renewable: v.get("renewable").and_then(Value::as_bool).unwrap_or(false),
        status: Default::default(),
        secret: v
            .get("lease_id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .map(|id| {
                Box::new(tresor_sdk::Secret {
                    lease_id: id.to_owned(),
                    ttl: v.get("lease_duration").and_then(Value::as_u64).unwrap_or(0),
                    renewable: v.get("renewable").and_then(Value::as_bool).unwrap_or(false),
                    ..tresor_sdk::Secret::default()
                })
            }),
        login: None,
    })
}

/// A response holding `info` as its data (how [`Core::handle`](crate::Core::handle) reports a
/// rewrap, which has no envelope of its own there).
pub(crate) fn wrap_info_response(info: &WrapInfo) -> Response {
    let mut data = Map::new();
    data.insert("wrap_info".into(), json!(info));
    Response::data(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trips_through_json() {
        let mut data = Map::new();
        data.insert("k".into(), json!("v"));
        let resp = Response {
            data: Some(data),
            warnings: vec!["careful".into()],
            auth: Some(AuthResponse {
                client_token: "hvs.x".into(),
                accessor: "acc".into(),
                policies: vec!["default".into(), "p".into()],
                token_policies: vec!["default".into(), "p".into()],
                metadata: Some(BTreeMap::from([("a".into(), "b".into())])),
                lease_duration: 1800,
                renewable: true,
                entity_id: String::new(),
                token_type: "service".into(),
                orphan: false,
                num_uses: 3,
                mfa_requirement: (),
                display_name: String::new(),
            }),
            lease_duration: 60,
            renewable: true,
            status: Default::default(),
            secret: None,
            login: None,
        };
        let v = envelope(&resp, "rid");
        assert_eq!(v["request_id"], "rid");
        assert_eq!(v["wrap_info"], Value::Null);
        let back = response_from_envelope(&v.to_string()).unwrap();
        assert_eq!(back.data, resp.data);
        assert_eq!(back.auth, resp.auth);
        assert_eq!(back.warnings, resp.warnings);
        assert_eq!(back.lease_duration, 60);
        assert!(back.renewable);
    }

    #[test]
    fn empty_envelope_fields_stay_empty() {
        let v = envelope(&Response::default(), "r");
        assert_eq!(v["warnings"], Value::Null);
        assert_eq!(v["auth"], Value::Null);
        let back = response_from_envelope(&v.to_string()).unwrap();
        assert!(back.data.is_none() && back.auth.is_none() && back.warnings.is_empty());
        assert!(response_from_envelope("not json").is_err());
    }

    #[test]
    fn wrapped_envelope_carries_only_wrap_info() {
        let info = WrapInfo {
            token: "hvs.t".into(),
            accessor: "a".into(),
            ttl: 900,
            creation_time: "2024-01-01T00:00:00Z".into(),
            creation_path: "auth/token/create".into(),
            wrapped_accessor: None,
        };
        let v = wrapped_envelope(&info);
        assert_eq!(v["wrap_info"]["ttl"], 900);
        assert_eq!(v["wrap_info"]["token"], "hvs.t");
        assert!(v["wrap_info"].get("wrapped_accessor").is_none());
        assert_eq!(v["data"], Value::Null);
        assert_eq!(v["auth"], Value::Null);
        assert_eq!(
            wrap_info_response(&info).data.unwrap()["wrap_info"]["accessor"],
            "a"
        );
    }
}
