//! The key/value secrets engine, versions 1 and 2.

mod v1;
mod v2;

pub use v1::KvV1;
pub use v2::KvV2;

use serde_json::{Map, Value, json};
use tresor_sdk::{LogicalError, Response};
use tresor_storage::StorageError;

/// Turns a list path into a storage prefix: empty stays empty, anything else ends with `/`.
pub(crate) fn list_prefix(path: &str) -> String {
    if path.is_empty() || path.ends_with('/') {
        path.to_owned()
    } else {
        format!("{path}/")
    }
}

/// The `{"keys": [...]}` answer of a LIST, or `None` (404) when there is nothing.
pub(crate) fn keys_response(keys: Vec<String>) -> Option<Response> {
    if keys.is_empty() {
        None
    } else {
        Some(Response::json(json!({ "keys": keys })))
    }
}

/// Decodes a stored JSON object, reporting corruption against `key`.
pub(crate) fn decode_object(key: &str, bytes: &[u8]) -> Result<Map<String, Value>, LogicalError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(corrupt(key, "not a JSON object".to_owned())),
        Err(e) => Err(corrupt(key, e.to_string())),
    }
}

/// A [`StorageError::Corrupt`] wrapped as a logical error.
pub(crate) fn corrupt(key: &str, reason: String) -> LogicalError {
    LogicalError::Storage(StorageError::Corrupt {
        key: key.to_owned(),
        reason,
    })
}

/// Encodes a value for storage.
pub(crate) fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, LogicalError> {
    serde_json::to_vec(value).map_err(|e| LogicalError::Internal(format!("encoding: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_prefix_normalises() {
        assert_eq!(list_prefix(""), "");
        assert_eq!(list_prefix("a"), "a/");
        assert_eq!(list_prefix("a/b/"), "a/b/");
        // Paths are canonical (never a leading `/`); nothing is trimmed.
        assert_eq!(list_prefix("a/b"), "a/b/");
    }

    #[test]
    fn empty_listing_is_not_found() {
        assert!(keys_response(vec![]).is_none());
        let r = keys_response(vec!["a".into()]).unwrap();
        assert_eq!(r.data.unwrap()["keys"], json!(["a"]));
    }

    #[test]
    fn decode_rejects_non_objects() {
        assert!(decode_object("k", b"[1]").is_err());
        assert!(decode_object("k", b"{").is_err());
        assert_eq!(decode_object("k", br#"{"a":1}"#).unwrap()["a"], json!(1));
    }
}
