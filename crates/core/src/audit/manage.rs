//! Enabling, disabling and loading devices: the table in the barrier and the broker in memory
//! change together, under the mount-table lock.

use std::collections::BTreeMap;
use std::sync::Arc;

use rand::RngCore;
use tresor_sdk::audit::{AuditDevice, AuditDeviceConfig};
use tresor_storage::Backend;

use super::broker::Enabled;
use super::table::{
    AUDIT_TABLE_PATH, AUDITED_HEADERS_PATH, AuditTable, AuditTableEntry, HeaderConfig,
};
use crate::active::Active;
use crate::core::Core;
use crate::error::CoreError;

/// A JSON record of the barrier, its default when absent.
async fn read_json<T: serde::de::DeserializeOwned + Default>(
    b: &dyn Backend,
    key: &str,
) -> Result<T, CoreError> {
    Ok(crate::active::read_json(b, key).await?.unwrap_or_default())
}

/// Whether a device's options make it the fallback device (`fallback=true`, read as Go reads
/// booleans, as the device itself reads its options).
fn is_fallback(options: &BTreeMap<String, String>) -> bool {
    options
        .get("fallback")
        .and_then(|v| tresor_sdk::fields::parse_go_bool(v.trim()))
        .unwrap_or(false)
}

impl Core {
    /// The audit table as stored.
    pub(crate) async fn audit_table(&self) -> Result<AuditTable, CoreError> {
        let active = self.active()?;
        read_json(&*active.barrier, AUDIT_TABLE_PATH).await
    }

    fn make_device(&self, e: &AuditTableEntry) -> Result<Arc<dyn AuditDevice>, CoreError> {
        let factory = self.opts.audit_types.get(&e.kind).ok_or_else(|| {
            CoreError::invalid(format!("unknown audit backend type {:?}", e.kind))
        })?;
        let salt = hex::decode(&e.salt).map_err(|err| {
            CoreError::Internal(format!("corrupt salt of audit device {}: {err}", e.path))
        })?;
        factory
            .create(AuditDeviceConfig {
                path: e.path.clone(),
                kind: e.kind.clone(),
                options: e.options.clone(),
                salt,
                allow_prefix: self.opts.audit_settings.allow_prefix,
            })
            .map_err(|err| CoreError::invalid(format!("audit device {}: {err}", e.path)))
    }

    fn enabled_of(&self, e: &AuditTableEntry, device: Arc<dyn AuditDevice>) -> Enabled {
        self.audit.enabled(&e.path, device, is_fallback(&e.options))
    }

    /// Enables a device at `path` (with a trailing `/`): made first (bad options are refused
    /// and nothing is stored), then stored, then recording.
    pub(crate) async fn enable_audit(
        &self,
        path: &str,
        kind: &str,
        description: &str,
        options: BTreeMap<String, String>,
        local: bool,
        declared: bool,
    ) -> Result<(), CoreError> {
        let active = self.active()?;
        let _guard = active.table_lock.lock().await;
        let mut table: AuditTable = read_json(&*active.barrier, AUDIT_TABLE_PATH).await?;
        if let Some(existing) = table.conflicts(path) {
            return Err(CoreError::invalid(format!(
                "path already in use at {}",
                existing.path
            )));
        }
        if is_fallback(&options) && table.entries.iter().any(|e| is_fallback(&e.options)) {
            return Err(CoreError::invalid(
                "a fallback audit device is already enabled",
            ));
        }
        let mut salt = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut salt);
        let entry = AuditTableEntry {
            path: path.to_owned(),
            kind: kind.to_owned(),
            description: description.to_owned(),
            options,
            local,
            uuid: uuid::Uuid::new_v4().to_string(),
            salt: hex::encode(salt),
            declared,
        };
        let device = self.make_device(&entry)?;
        table.entries.push(entry.clone());
        active
            .barrier
            .put(AUDIT_TABLE_PATH, serde_json::to_vec(&table)?)
            .await?;
        self.audit.add(self.enabled_of(&entry, device));
        tracing::info!(path = %entry.path, kind = %entry.kind, "enabled audit device");
        Ok(())
    }

    /// Disables the device at `path`; disabling a path with no device succeeds (as Vault).
    pub(crate) async fn disable_audit(&self, path: &str) -> Result<(), CoreError> {
        let active = self.active()?;
        let _guard = active.table_lock.lock().await;
        let mut table: AuditTable = read_json(&*active.barrier, AUDIT_TABLE_PATH).await?;
        if table.entries.iter().any(|e| e.path == path && e.declared) {
            return Err(CoreError::invalid(format!(
                "audit device {path} is declared in the server configuration: remove its audit block instead"
            )));
        }
        let before = table.entries.len();
        table.entries.retain(|e| e.path != path);
        if table.entries.len() == before {
            return Ok(());
        }
        active
            .barrier
            .put(AUDIT_TABLE_PATH, serde_json::to_vec(&table)?)
            .await?;
        self.audit.remove(path);
        tracing::info!(%path, "disabled audit device");
        Ok(())
    }

    /// Makes every device of the stored table and hands them to the broker (activation). A
    /// device that cannot be made fails the activation, as in Vault: serving requests without
    /// a device the operator enabled would record less than they asked for.
    pub(crate) async fn load_audit(&self, barrier: &dyn Backend) -> Result<(), CoreError> {
        let stored: AuditTable = read_json(barrier, AUDIT_TABLE_PATH).await?;
        let (table, reports) =
            super::table::reconcile(&stored, &self.opts.audit_settings.declared, || {
                let mut salt = [0u8; 32];
                rand::thread_rng().fill_bytes(&mut salt);
                hex::encode(salt)
            });
        for r in &reports {
            tracing::warn!("{r}");
        }
        if table != stored {
            barrier
                .put(AUDIT_TABLE_PATH, serde_json::to_vec(&table)?)
                .await?;
            tracing::info!(
                declared = self.opts.audit_settings.declared.len(),
                "audit table updated from the configuration's audit blocks"
            );
        }
        let mut devices = Vec::with_capacity(table.entries.len());
        for e in &table.entries {
            let device = self.make_device(e).map_err(|err| {
                CoreError::Internal(format!("cannot set up audit device {}: {err}", e.path))
            })?;
            devices.push(self.enabled_of(e, device));
        }
        self.audit.replace(devices);
        Ok(())
    }

    /// Stops recording (seal, step-down): only the active node writes entries.
    pub(crate) fn unload_audit(&self) {
        self.audit.replace(Vec::new());
    }

    /// Reopens every audit device's file or connection (SIGHUP, after log rotation).
    pub async fn reopen_audit(&self) {
        self.audit.reopen().await;
    }

    /// The audit broker (the http layer records the raw endpoints through it).
    pub fn audit(&self) -> &super::AuditBroker {
        &self.audit
    }
}

impl Active {
    /// The keys of a mount's requests and responses that audit entries keep in clear
    /// (`audit_non_hmac_request_keys`, `audit_non_hmac_response_keys`).
    pub(crate) fn audit_keys(&self, mount_point: &str) -> (Vec<String>, Vec<String>) {
        let find = |table: &crate::mounts::MountTable, path: &str| {
            table
                .route(path)
                .map(|(e, _)| {
                    (
                        e.config.audit_non_hmac_request_keys.clone(),
                        e.config.audit_non_hmac_response_keys.clone(),
                    )
                })
                .unwrap_or_default()
        };
        match mount_point.strip_prefix("auth/") {
            Some(rest) => find(&self.auth_snapshot(), rest),
            None => find(&self.mounts_snapshot(), mount_point),
        }
    }

    /// The audited request headers.
    pub(crate) fn audited_headers(&self) -> HeaderConfig {
        self.audited_headers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Loads the audited request headers (activation).
    pub(crate) async fn load_audited_headers(
        barrier: &dyn Backend,
    ) -> Result<HeaderConfig, CoreError> {
        read_json(barrier, AUDITED_HEADERS_PATH).await
    }

    /// Changes the audited headers in the barrier and in memory.
    pub(crate) async fn update_audited_headers(
        &self,
        f: impl FnOnce(&mut HeaderConfig),
    ) -> Result<(), CoreError> {
        let _guard = self.table_lock.lock().await;
        let mut cfg: HeaderConfig = read_json(&*self.barrier, AUDITED_HEADERS_PATH).await?;
        f(&mut cfg);
        self.barrier
            .put(AUDITED_HEADERS_PATH, serde_json::to_vec(&cfg)?)
            .await?;
        *self
            .audited_headers
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = cfg;
        Ok(())
    }
}

/// The audit trail of a raw endpoint (seal, step-down, rekey, ...), which the http layer
/// serves itself.
#[derive(Debug)]
pub struct RawAudit(super::AuditTrail);

impl Core {
    /// Records a raw endpoint's request before it runs; `None` when no device is enabled.
    pub async fn audit_raw_request(
        &self,
        path: &str,
        operation: tresor_sdk::Operation,
        token: Option<&str>,
        meta: &super::RequestMeta,
    ) -> Result<Option<RawAudit>, CoreError> {
        if !self.audit.is_enabled() {
            return Ok(None);
        }
        let headers = self
            .active()
            .map(|a| a.audited_headers())
            .unwrap_or_default();
        let mut trail = super::AuditTrail::new(path, operation, token, None, None, meta, &headers);
        trail.mount("sys/", "system", "");
        self.audit.log(&trail.request_event(None)).await?;
        trail.request_logged = true;
        Ok(Some(RawAudit(trail)))
    }

    /// Records a raw endpoint's outcome (`error` when it failed) before it is returned.
    pub async fn audit_raw_response(
        &self,
        raw: Option<RawAudit>,
        error: Option<&str>,
    ) -> Result<(), CoreError> {
        let Some(RawAudit(trail)) = raw else {
            return Ok(());
        };
        let reply = crate::wrapping::Reply::Response(None);
        let outcome = match error {
            Some(e) => Err(e),
            None => Ok(&reply),
        };
        self.audit.log(&trail.response_event(outcome)).await?;
        Ok(())
    }
}
