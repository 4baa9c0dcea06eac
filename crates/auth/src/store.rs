//! JSON records in a mount's storage view, and the name rules of path segments.

use serde::Serialize;
use serde::de::DeserializeOwned;
use tresor_sdk::LogicalError;
use tresor_storage::{Backend, View};

/// Longest name (user, role) accepted in a path segment.
pub const MAX_NAME_LEN: usize = 512;

/// Reads the record at `key`.
pub async fn get_json<T: DeserializeOwned>(
    view: &View,
    key: &str,
) -> Result<Option<T>, LogicalError> {
    match view.get(key).await? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| LogicalError::Internal(format!("corrupt record {key}: {e}"))),
    }
}

/// Encodes a record.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, LogicalError> {
    serde_json::to_vec(value).map_err(|e| LogicalError::Internal(format!("encode: {e}")))
}

/// Writes the record at `key`.
pub async fn put_json<T: Serialize>(view: &View, key: &str, value: &T) -> Result<(), LogicalError> {
    Ok(view.put(key, encode(value)?).await?)
}

/// Checks a name taken from a path segment: not empty, bounded, no `/`, not `.` or `..`.
pub fn check_name(name: &str, what: &str) -> Result<(), LogicalError> {
    if name.is_empty() {
        return Err(LogicalError::invalid(format!("missing {what}")));
    }
    if name.len() > MAX_NAME_LEN || name.contains('/') || name == "." || name == ".." {
        return Err(LogicalError::invalid(format!("invalid {what} {name:?}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name("alice", "username").is_ok());
        assert!(check_name("", "username").is_err());
        assert!(check_name("..", "username").is_err());
        assert!(check_name("a/b", "username").is_err());
        assert!(check_name(&"x".repeat(MAX_NAME_LEN + 1), "username").is_err());
    }
}
