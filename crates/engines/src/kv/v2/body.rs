//! Parsing KV v2 request bodies and query parameters, with Vault-like messages.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use tresor_sdk::{LogicalError, fields};

/// Custom metadata limits, as Vault documents them.
const MAX_CUSTOM_KEYS: usize = 64;
const MAX_CUSTOM_KEY_LEN: usize = 128;
const MAX_CUSTOM_VALUE_LEN: usize = 512;

/// The `data` object of a write or patch.
pub(crate) fn data_object(body: &Map<String, Value>) -> Result<Map<String, Value>, LogicalError> {
    match body.get("data") {
        None | Some(Value::Null) => Err(LogicalError::invalid("no data provided")),
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(_) => Err(LogicalError::invalid(
            "error parsing field \"data\": expected a map",
        )),
    }
}

/// `options.cas` of a write or patch, if given. A negative value (which can never be a
/// version) is kept as `u64::MAX`, so it fails the check-and-set comparison the way Vault's
/// does instead of being refused as malformed.
pub(crate) fn cas_option(body: &Map<String, Value>) -> Result<Option<u64>, LogicalError> {
    match body.get("options") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(opts)) => {
            Ok(fields::get_i64(opts, "cas")?.map(|c| u64::try_from(c).unwrap_or(u64::MAX)))
        }
        Some(_) => Err(LogicalError::invalid(
            "error parsing field \"options\": expected a map",
        )),
    }
}

/// A version number parameter (`version` on reads); 0 or absent means "current".
pub(crate) fn version_param(data: &Map<String, Value>) -> Result<u64, LogicalError> {
    Ok(fields::get_u64(data, "version")?.unwrap_or(0))
}

/// The `versions` list of delete/undelete/destroy; must be non-empty.
pub(crate) fn versions_list(body: &Map<String, Value>) -> Result<Vec<u64>, LogicalError> {
    let raw = fields::get_str_list(body, "versions")?.unwrap_or_default();
    if raw.is_empty() {
        return Err(LogicalError::invalid("no versions provided"));
    }
    raw.iter()
        .map(|s| {
            s.parse::<u64>()
                .map_err(|_| LogicalError::invalid(format!("invalid version number {s:?}")))
        })
        .collect()
}

/// Checks custom metadata against Vault's limits.
pub(crate) fn validate_custom(m: &BTreeMap<String, String>) -> Result<(), LogicalError> {
    let mut problems = Vec::new();
    if m.len() > MAX_CUSTOM_KEYS {
        problems.push(format!(
            "payload must contain at most {MAX_CUSTOM_KEYS} keys, provided {}",
            m.len()
        ));
    }
    for (k, v) in m {
        if k.is_empty() {
            problems.push("keys must not be empty".to_owned());
        }
        if k.len() > MAX_CUSTOM_KEY_LEN {
            problems.push(format!(
                "length of key {k:?} is {} but max is {MAX_CUSTOM_KEY_LEN}",
                k.len()
            ));
        }
        if v.len() > MAX_CUSTOM_VALUE_LEN {
            problems.push(format!(
                "length of value for key {k:?} is {} but max is {MAX_CUSTOM_VALUE_LEN}",
                v.len()
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(LogicalError::invalid(format!(
            "custom_metadata validation failed: {}",
            problems.join("; ")
        )))
    }
}

/// Applies a `custom_metadata` merge patch (`null` removes a key) to `current`.
pub(crate) fn patch_custom(
    current: Option<BTreeMap<String, String>>,
    patch: &Value,
) -> Result<Option<BTreeMap<String, String>>, LogicalError> {
    let bad = || LogicalError::invalid("error parsing field \"custom_metadata\": expected a map");
    let p = match patch {
        Value::Null => return Ok(None),
        Value::Object(p) => p,
        _ => return Err(bad()),
    };
    let mut out = current.unwrap_or_default();
    for (k, v) in p {
        match v {
            Value::Null => {
                out.remove(k);
            }
            Value::String(s) => {
                out.insert(k.clone(), s.clone());
            }
            Value::Number(n) => {
                out.insert(k.clone(), n.to_string());
            }
            Value::Bool(b) => {
                out.insert(k.clone(), b.to_string());
            }
            _ => return Err(bad()),
        }
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn data_and_cas() {
        assert_eq!(
            data_object(&m(json!({}))).unwrap_err().to_string(),
            "no data provided"
        );
        assert!(data_object(&m(json!({"data": "x"}))).is_err());
        assert_eq!(data_object(&m(json!({"data": {"a": 1}}))).unwrap()["a"], 1);
        assert_eq!(
            cas_option(&m(json!({"options": {"cas": 3}}))).unwrap(),
            Some(3)
        );
        assert_eq!(cas_option(&m(json!({"options": {}}))).unwrap(), None);
        assert_eq!(
            cas_option(&m(json!({"options": {"cas": -1}}))).unwrap(),
            Some(u64::MAX),
            "a negative cas never matches"
        );
        assert!(cas_option(&m(json!({"options": {"cas": "x"}}))).is_err());
    }

    #[test]
    fn versions() {
        assert_eq!(
            versions_list(&m(json!({"versions": [1, "3"]}))).unwrap(),
            vec![1, 3]
        );
        assert_eq!(
            versions_list(&m(json!({"versions": "2,4"}))).unwrap(),
            vec![2, 4]
        );
        for body in [
            json!({}),
            json!({"versions": []}),
            json!({"versions": null}),
        ] {
            assert_eq!(
                versions_list(&m(body)).unwrap_err().to_string(),
                "no versions provided"
            );
        }
        assert!(versions_list(&m(json!({"versions": ["x"]}))).is_err());
        assert_eq!(version_param(&m(json!({"version": "2"}))).unwrap(), 2);
        assert!(version_param(&m(json!({"version": "two"}))).is_err());
    }

    #[test]
    fn custom_metadata_rules() {
        let ok = BTreeMap::from([("a".to_owned(), "b".to_owned())]);
        assert!(validate_custom(&ok).is_ok());
        let long = BTreeMap::from([("a".to_owned(), "x".repeat(513))]);
        assert!(validate_custom(&long).is_err());
        let many: BTreeMap<_, _> = (0..65).map(|i| (i.to_string(), String::new())).collect();
        assert!(validate_custom(&many).is_err());
        let patched = patch_custom(Some(ok), &json!({"a": null, "c": "d", "n": 1})).unwrap();
        assert_eq!(
            patched,
            Some(BTreeMap::from([
                ("c".to_owned(), "d".to_owned()),
                ("n".to_owned(), "1".to_owned())
            ]))
        );
        assert!(patch_custom(None, &json!([1])).is_err());
    }
}
