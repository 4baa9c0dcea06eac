//! The storage layout of a database mount: `config/<name>` (connections),
//! `role/<name>` (dynamic roles), `static-role/<name>` (static roles, with their current
//! password), each a JSON document in the mount's view.

use serde::Serialize;
use serde::de::DeserializeOwned;
use tresor_storage::{Backend, View};

use crate::error::DbError;

/// Prefix of connection configurations.
pub(crate) const CONFIG: &str = "config/";
/// Prefix of dynamic roles.
pub(crate) const ROLE: &str = "role/";
/// Prefix of static roles.
pub(crate) const STATIC_ROLE: &str = "static-role/";

/// Reads `prefix + name`.
pub(crate) async fn get<T: DeserializeOwned>(
    view: &View,
    prefix: &str,
    name: &str,
) -> Result<Option<T>, DbError> {
    let key = format!("{prefix}{name}");
    match view.get(&key).await? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| DbError::Corrupt { key, source }),
    }
}

/// Writes `prefix + name`.
pub(crate) async fn put<T: Serialize>(
    view: &View,
    prefix: &str,
    name: &str,
    value: &T,
) -> Result<(), DbError> {
    let bytes = serde_json::to_vec(value).map_err(|e| DbError::Internal(e.to_string()))?;
    view.put(&format!("{prefix}{name}"), bytes).await?;
    Ok(())
}

/// Deletes `prefix + name` (missing is fine).
pub(crate) async fn delete(view: &View, prefix: &str, name: &str) -> Result<(), DbError> {
    view.delete(&format!("{prefix}{name}")).await?;
    Ok(())
}

/// The names stored under `prefix`.
pub(crate) async fn list(view: &View, prefix: &str) -> Result<Vec<String>, DbError> {
    Ok(view
        .list(prefix)
        .await?
        .into_iter()
        .filter(|k| !k.ends_with('/'))
        .collect())
}
