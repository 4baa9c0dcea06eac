//! KV version 1: one unversioned JSON object per path.
//!
//! Storage layout in the mount view: the secret at `a/b` is stored at key `a/b` as the JSON
//! object that was written, so `LIST` maps directly onto storage listing.

use async_trait::async_trait;
use serde_json::{Map, Value};
use tresor_sdk::{LogicalBackend, LogicalError, Operation, Request, Response, fields};
use tresor_storage::Backend;

use super::{decode_object, encode, keys_response, list_prefix};

/// Lease duration reported when the mount gives none: Vault's system default of 768h.
const FALLBACK_LEASE_SECS: u64 = 32 * 24 * 3600;

/// The unversioned KV engine (Vault's `kv` version 1).
///
/// - `GET <path>`: the object as written; the envelope's `lease_duration` is the secret's own
///   `ttl` (or legacy `lease`) field if it has one, else the mount's default lease TTL;
///   never renewable.
/// - `PUT/POST <path>`: replaces the object (204). An empty body is refused.
/// - `DELETE <path>`: removes it (204).
/// - `LIST <prefix>/`: immediate children, folders with a trailing `/` (404 when none).
#[derive(Debug, Default)]
pub struct KvV1 {
    _private: (),
}

impl KvV1 {
    /// A KV v1 backend.
    pub fn new() -> Self {
        Self::default()
    }
}

/// The secret's own TTL hint in seconds (`ttl`, else `lease`), if present and valid.
fn ttl_hint(data: &Map<String, Value>) -> Result<Option<u64>, LogicalError> {
    match fields::get_duration(data, "ttl")? {
        Some(t) => Ok(Some(t)),
        None => fields::get_duration(data, "lease"),
    }
}

fn key_of(path: &str) -> Result<&str, LogicalError> {
    let p = path;
    if p.is_empty() {
        return Err(LogicalError::invalid("missing path"));
    }
    if p.ends_with('/') {
        return Err(LogicalError::invalid("path must not end with a slash"));
    }
    Ok(p)
}

#[async_trait]
impl LogicalBackend for KvV1 {
    /// Reads and lists only read storage.
    fn standby_readable(&self, _path: &str) -> bool {
        true
    }

    async fn handle(&self, req: &Request) -> Result<Option<Response>, LogicalError> {
        match req.operation {
            Operation::List => {
                let keys = req.storage.list(&list_prefix(&req.path)).await?;
                Ok(keys_response(keys))
            }
            Operation::Read => {
                let p = req.path.as_str();
                if p.is_empty() || p.ends_with('/') {
                    return Ok(None);
                }
                let Some(bytes) = req.storage.get(p).await? else {
                    return Ok(None);
                };
                let data = decode_object(p, &bytes)?;
                let default = match req.mount.default_lease_ttl {
                    0 => FALLBACK_LEASE_SECS,
                    n => n,
                };
                // A stored ttl that no longer parses must not make the secret unreadable.
                let lease = ttl_hint(&data).ok().flatten().unwrap_or(default);
                let mut resp = Response::data(data);
                resp.lease_duration = lease;
                resp.renewable = false;
                Ok(Some(resp))
            }
            Operation::Create | Operation::Update => {
                let key = key_of(&req.path)?;
                if req.data.is_empty() {
                    return Err(LogicalError::invalid("missing data fields"));
                }
                ttl_hint(&req.data).map_err(|e| {
                    LogicalError::invalid(format!("failed to parse ttl for entry: {e}"))
                })?;
                req.storage.put(key, encode(&req.data)?).await?;
                Ok(None)
            }
            Operation::Delete => {
                // A directory holds no value of its own: deleting it deletes nothing.
                if !req.path.is_empty() && !req.path.ends_with('/') {
                    req.storage.delete(&req.path).await?;
                }
                Ok(None)
            }
            Operation::Patch | Operation::Renew | Operation::Revoke => {
                Err(LogicalError::UnsupportedOperation)
            }
        }
    }

    async fn exists(&self, req: &Request) -> Result<Option<bool>, LogicalError> {
        let p = req.path.as_str();
        if p.is_empty() || p.ends_with('/') {
            return Ok(Some(false));
        }
        Ok(Some(req.storage.get(p).await?.is_some()))
    }
}
