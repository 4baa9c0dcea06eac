//! `delete/<path>`, `undelete/<path>`, `destroy/<path>`: version state changes in bulk.

use tresor_sdk::{LogicalError, Request, Response};
use tresor_storage::Op;

use super::data::require_key;
use super::model::KeyMeta;
use super::store::{Store, version_key};
use super::{KvV2, body};

/// Which bulk change to make.
#[derive(Clone, Copy)]
enum Change {
    Delete,
    Undelete,
    Destroy,
}

impl KvV2 {
    /// `POST delete/<path>` `{"versions": [...]}`.
    pub(super) async fn delete_versions(
        &self,
        req: &Request,
        path: &str,
    ) -> Result<Option<Response>, LogicalError> {
        self.change_versions(req, path, Change::Delete).await
    }

    /// `POST undelete/<path>` `{"versions": [...]}`.
    pub(super) async fn undelete_versions(
        &self,
        req: &Request,
        path: &str,
    ) -> Result<Option<Response>, LogicalError> {
        self.change_versions(req, path, Change::Undelete).await
    }

    /// `PUT/POST destroy/<path>` `{"versions": [...]}`.
    pub(super) async fn destroy_versions(
        &self,
        req: &Request,
        path: &str,
    ) -> Result<Option<Response>, LogicalError> {
        self.change_versions(req, path, Change::Destroy).await
    }

    async fn change_versions(
        &self,
        req: &Request,
        path: &str,
        change: Change,
    ) -> Result<Option<Response>, LogicalError> {
        require_key(path)?;
        let versions = body::versions_list(&req.data)?;
        let _guard = self.locks.lock(path).await;
        let store = Store::new(&req.storage);
        let Some(mut meta) = store.meta(path).await? else {
            return Ok(None);
        };
        let now = self.now();
        let ops = plan(&mut meta, path, &versions, change, now)?;
        if !ops.is_empty() {
            store.apply(ops).await?;
        }
        Ok(None)
    }
}

/// Applies `change` to `meta` and returns the storage batch (empty when nothing changed).
fn plan(
    meta: &mut KeyMeta,
    path: &str,
    versions: &[u64],
    change: Change,
    now: i64,
) -> Result<Vec<Op>, LogicalError> {
    let mut ops = Vec::new();
    let changed = match change {
        Change::Delete => meta.soft_delete(versions, now),
        Change::Undelete => meta.undelete(versions, now),
        Change::Destroy => {
            let gone = meta.destroy(versions, now);
            ops.extend(gone.iter().map(|v| Op::Delete {
                key: version_key(path, *v),
            }));
            !gone.is_empty()
        }
    };
    if changed {
        ops.push(Store::put_meta_op(path, meta)?);
    }
    Ok(ops)
}
