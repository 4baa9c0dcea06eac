//! `config`: the mount-wide settings.

use tresor_sdk::{LogicalError, Request, Response, fields};

use super::store::Store;
use super::{KvV2, render};

impl KvV2 {
    /// `GET config`.
    pub(super) async fn read_config(
        &self,
        req: &Request,
    ) -> Result<Option<Response>, LogicalError> {
        let config = Store::new(&req.storage).config().await?;
        Ok(Some(Response::data(render::config(&config))))
    }

    /// `POST config`: updates the fields given, leaves the others.
    pub(super) async fn write_config(
        &self,
        req: &Request,
    ) -> Result<Option<Response>, LogicalError> {
        let max_versions = fields::get_u64(&req.data, "max_versions")?;
        let cas_required = fields::get_bool(&req.data, "cas_required")?;
        let delete_after = fields::get_duration(&req.data, "delete_version_after")?;
        let _guard = self.locks.lock("\0config").await;
        let store = Store::new(&req.storage);
        let mut config = store.config().await?;
        if let Some(v) = max_versions {
            config.max_versions = v;
        }
        if let Some(v) = cas_required {
            config.cas_required = v;
        }
        if let Some(v) = delete_after {
            config.delete_version_after = v;
        }
        store.put_config(&config).await?;
        Ok(None)
    }
}
