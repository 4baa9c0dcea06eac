//! `metadata/<path>`: key metadata, whole-key deletion and listing.

use serde_json::{Map, Value};
use tresor_sdk::{LogicalError, Request, Response, fields};
use tresor_storage::Op;

use super::data::require_key;
use super::model::KeyMeta;
use super::store::{Store, meta_key, version_key};
use super::{KvV2, body, not_found_with, render, route};
use crate::kv::{keys_response, list_prefix};

/// The settable metadata fields of a write or patch.
struct MetaUpdate {
    max_versions: Option<u64>,
    cas_required: Option<bool>,
    delete_version_after: Option<u64>,
}

impl MetaUpdate {
    fn parse(data: &Map<String, Value>) -> Result<Self, LogicalError> {
        Ok(Self {
            max_versions: fields::get_u64(data, "max_versions")?,
            cas_required: fields::get_bool(data, "cas_required")?,
            delete_version_after: fields::get_duration(data, "delete_version_after")?,
        })
    }

    fn apply(self, meta: &mut KeyMeta) {
        if let Some(v) = self.max_versions {
            meta.max_versions = v;
        }
        if let Some(v) = self.cas_required {
            meta.cas_required = v;
        }
        if let Some(v) = self.delete_version_after {
            meta.delete_version_after = v;
        }
    }
}

impl KvV2 {
    /// `GET metadata/<path>`.
    pub(super) async fn read_metadata(
        &self,
        req: &Request,
        path: &str,
    ) -> Result<Option<Response>, LogicalError> {
        if !route::is_key(path) {
            return Ok(None);
        }
        let meta = Store::new(&req.storage).meta(path).await?;
        Ok(meta.map(|m| Response::data(render::metadata(&m))))
    }

    /// `POST/PUT metadata/<path>`: sets the given fields, creating the key if needed;
    /// `custom_metadata` replaces the whole map.
    pub(super) async fn write_metadata(
        &self,
        req: &Request,
        path: &str,
    ) -> Result<Option<Response>, LogicalError> {
        require_key(path)?;
        let update = MetaUpdate::parse(&req.data)?;
        let custom = fields::get_str_map(&req.data, "custom_metadata")?;
        if let Some(c) = &custom {
            body::validate_custom(c)?;
        }
        let _guard = self.locks.lock(path).await;
        let store = Store::new(&req.storage);
        let now = self.now();
        let mut meta = store.meta(path).await?.unwrap_or_else(|| KeyMeta::new(now));
        update.apply(&mut meta);
        if custom.is_some() {
            meta.custom_metadata = custom;
        }
        meta.updated_ns = now;
        store.put_meta(path, &meta).await?;
        Ok(None)
    }

    /// `PATCH metadata/<path>`: like a write, but `custom_metadata` is merged (`null` values
    /// remove keys) and the key must exist.
    pub(super) async fn patch_metadata(
        &self,
        req: &Request,
        path: &str,
    ) -> Result<Option<Response>, LogicalError> {
        require_key(path)?;
        let update = MetaUpdate::parse(&req.data)?;
        let _guard = self.locks.lock(path).await;
        let store = Store::new(&req.storage);
        let Some(mut meta) = store.meta(path).await? else {
            return Ok(not_found_with(None));
        };
        if let Some(patch) = req.data.get("custom_metadata") {
            let merged = body::patch_custom(meta.custom_metadata.take(), patch)?;
            if let Some(c) = &merged {
                body::validate_custom(c)?;
            }
            meta.custom_metadata = merged;
        }
        update.apply(&mut meta);
        meta.updated_ns = self.now();
        store.put_meta(path, &meta).await?;
        Ok(None)
    }

    /// `DELETE metadata/<path>`: removes the key, its metadata and every version.
    pub(super) async fn delete_metadata(
        &self,
        req: &Request,
        path: &str,
    ) -> Result<Option<Response>, LogicalError> {
        // A directory (or nothing) holds no key: deleting it deletes nothing, as Vault.
        if !route::is_key(path) {
            return Ok(None);
        }
        let _guard = self.locks.lock(path).await;
        let store = Store::new(&req.storage);
        let Some(meta) = store.meta(path).await? else {
            return Ok(None);
        };
        let mut ops: Vec<Op> = meta
            .versions
            .keys()
            .map(|v| Op::Delete {
                key: version_key(path, *v),
            })
            .collect();
        ops.push(Op::Delete {
            key: meta_key(path),
        });
        store.apply(ops).await?;
        Ok(None)
    }

    /// `LIST metadata/<prefix>/`: keys and folders below the prefix.
    pub(super) async fn list_metadata(
        &self,
        req: &Request,
        path: &str,
    ) -> Result<Option<Response>, LogicalError> {
        let keys = Store::new(&req.storage)
            .list_meta(&list_prefix(path))
            .await?;
        Ok(keys_response(keys))
    }
}
