//! `data/<path>` and `subkeys/<path>`: reading, writing, patching and soft-deleting versions.

use serde_json::{Map, Value, json};
use tresor_sdk::{LogicalError, Request, Response};
use tresor_storage::Op;

use super::model::{Config, KeyMeta};
use super::store::{Store, version_key};
use super::{KvV2, body, json_ops, not_found_with, render, route};

/// Refuses writes to an empty or folder path.
pub(super) fn require_key(path: &str) -> Result<(), LogicalError> {
    if route::is_key(path) {
        Ok(())
    } else {
        Err(LogicalError::invalid("invalid path: must name a key"))
    }
}

/// What a read found for the requested version.
enum Lookup {
    /// No such key or version: plain 404.
    Missing,
    /// Deleted or destroyed: 404 with the version's metadata.
    Gone(Map<String, Value>),
    /// Readable: the version's metadata and data.
    Live(Map<String, Value>, Map<String, Value>),
}

impl KvV2 {
    async fn lookup(&self, req: &Request, path: &str) -> Result<Lookup, LogicalError> {
        if !route::is_key(path) {
            return Ok(Lookup::Missing);
        }
        let wanted = body::version_param(&req.data)?;
        let store = Store::new(&req.storage);
        let Some(meta) = store.meta(path).await? else {
            return Ok(Lookup::Missing);
        };
        let number = if wanted == 0 {
            meta.current_version
        } else {
            wanted
        };
        let Some(vm) = meta.versions.get(&number) else {
            return Ok(Lookup::Missing);
        };
        let vjson = render::version(&meta, number, vm);
        if !vm.is_live(self.now()) {
            return Ok(Lookup::Gone(vjson));
        }
        match store.version_data(path, number).await? {
            Some(data) => Ok(Lookup::Live(vjson, data)),
            None => Err(LogicalError::Internal(format!(
                "data of version {number} is missing"
            ))),
        }
    }

    /// `GET data/<path>?version=N`.
    pub(super) async fn read_data(
        &self,
        req: &Request,
        path: &str,
    ) -> Result<Option<Response>, LogicalError> {
        Ok(match self.lookup(req, path).await? {
            Lookup::Missing => None,
            Lookup::Gone(meta) => {
                not_found_with(Some(object(json!({ "data": null, "metadata": meta }))))
            }
            Lookup::Live(meta, data) => {
                Some(Response::json(json!({ "data": data, "metadata": meta })))
            }
        })
    }

    /// `GET subkeys/<path>?version=N&depth=D`.
    pub(super) async fn read_subkeys(
        &self,
        req: &Request,
        path: &str,
    ) -> Result<Option<Response>, LogicalError> {
        let depth = tresor_sdk::fields::get_u64(&req.data, "depth")?.unwrap_or(0);
        Ok(match self.lookup(req, path).await? {
            Lookup::Missing => None,
            Lookup::Gone(meta) => {
                not_found_with(Some(object(json!({ "subkeys": null, "metadata": meta }))))
            }
            Lookup::Live(meta, data) => Some(Response::json(json!({
                "subkeys": json_ops::subkeys(&data, depth),
                "metadata": meta,
            }))),
        })
    }

    /// `POST/PUT data/<path>`: writes a new version.
    pub(super) async fn write_data(
        &self,
        req: &Request,
        path: &str,
    ) -> Result<Option<Response>, LogicalError> {
        require_key(path)?;
        let data = body::data_object(&req.data)?;
        let cas = body::cas_option(&req.data)?;
        let _guard = self.locks.lock(path).await;
        let store = Store::new(&req.storage);
        let config = store.config().await?;
        let now = self.now();
        let meta = store.meta(path).await?.unwrap_or_else(|| KeyMeta::new(now));
        meta.check_cas(&config, cas)?;
        self.commit(&store, path, meta, &config, data, now).await
    }

    /// `PATCH data/<path>`: merge-patches the current version into a new one.
    pub(super) async fn patch_data(
        &self,
        req: &Request,
        path: &str,
    ) -> Result<Option<Response>, LogicalError> {
        require_key(path)?;
        let patch = body::data_object(&req.data)?;
        let cas = body::cas_option(&req.data)?;
        let _guard = self.locks.lock(path).await;
        let store = Store::new(&req.storage);
        let config = store.config().await?;
        let now = self.now();
        let Some(meta) = store.meta(path).await? else {
            return Ok(not_found_with(None));
        };
        let current = meta.current_version;
        let live = meta.versions.get(&current).is_some_and(|v| v.is_live(now));
        if !live {
            return Ok(not_found_with(None));
        }
        meta.check_cas(&config, cas)?;
        let Some(old) = store.version_data(path, current).await? else {
            return Ok(not_found_with(None));
        };
        let mut merged = Value::Object(old);
        json_ops::merge_patch(&mut merged, &Value::Object(patch));
        self.commit(&store, path, meta, &config, object(merged), now)
            .await
    }

    /// Records and stores a new version in one batch, pruning old ones.
    async fn commit(
        &self,
        store: &Store<'_>,
        path: &str,
        mut meta: KeyMeta,
        config: &Config,
        data: Map<String, Value>,
        now: i64,
    ) -> Result<Option<Response>, LogicalError> {
        let (number, pruned) = meta.add_version(config, now);
        let mut ops = vec![Op::Put {
            key: version_key(path, number),
            value: crate::kv::encode(&data)?,
        }];
        ops.extend(pruned.into_iter().map(|v| Op::Delete {
            key: version_key(path, v),
        }));
        ops.push(Store::put_meta_op(path, &meta)?);
        store.apply(ops).await?;
        let vjson = meta
            .versions
            .get(&number)
            .map(|vm| render::version(&meta, number, vm))
            .unwrap_or_default();
        Ok(Some(Response::data(vjson)))
    }

    /// `DELETE data/<path>`: soft-deletes the current version.
    pub(super) async fn delete_latest(
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
        let Some(mut meta) = store.meta(path).await? else {
            return Ok(None);
        };
        if meta.delete_latest(self.now()) {
            store.put_meta(path, &meta).await?;
        }
        Ok(None)
    }
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}
