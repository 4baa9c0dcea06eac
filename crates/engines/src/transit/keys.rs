//! Key management: `keys/`, `keys/<name>`, `keys/<name>/config`, `keys/<name>/rotate` and
//! `export/<type>/<name>[/<version>]`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};
use tresor_sdk::{LogicalError, Request, Response, fields};

use super::cipher::KeyType;
use super::policy::{ConfigChange, CreateOptions, Policy, check_auto_rotate};
use super::store::Store;
use super::{Transit, check_name};
use crate::kv::keys_response;

/// The key type a create (or upserting encrypt) asks for; `aes256-gcm96` when absent.
/// Derived and convergent keys are refused.
pub(super) fn requested_type(data: &Map<String, Value>) -> Result<KeyType, LogicalError> {
    if fields::get_bool(data, "derived")?.unwrap_or(false) {
        return Err(LogicalError::invalid(
            "derived keys are not supported by this server; create the key with derived=false",
        ));
    }
    if fields::get_bool(data, "convergent_encryption")?.unwrap_or(false) {
        return Err(LogicalError::invalid(
            "convergent encryption is not supported by this server (it requires derived keys)",
        ));
    }
    match fields::get_str(data, "type")?.filter(|t| !t.is_empty()) {
        None => Ok(KeyType::Aes256Gcm96),
        Some(t) => KeyType::parse(&t).ok_or_else(|| {
            LogicalError::invalid(format!(
                "unknown key type {t:?}; supported: aes256-gcm96, aes128-gcm96"
            ))
        }),
    }
}

/// The settings of a create request.
pub(super) fn create_options(data: &Map<String, Value>) -> Result<CreateOptions, LogicalError> {
    let auto_rotate_period = fields::get_duration(data, "auto_rotate_period")?.unwrap_or(0);
    check_auto_rotate(auto_rotate_period)?;
    Ok(CreateOptions {
        exportable: fields::get_bool(data, "exportable")?.unwrap_or(false),
        allow_plaintext_backup: fields::get_bool(data, "allow_plaintext_backup")?.unwrap_or(false),
        auto_rotate_period,
    })
}

fn config_change(data: &Map<String, Value>) -> Result<ConfigChange, LogicalError> {
    Ok(ConfigChange {
        min_decryption_version: fields::get_i64(data, "min_decryption_version")?,
        min_encryption_version: fields::get_i64(data, "min_encryption_version")?,
        deletion_allowed: fields::get_bool(data, "deletion_allowed")?,
        exportable: fields::get_bool(data, "exportable")?,
        allow_plaintext_backup: fields::get_bool(data, "allow_plaintext_backup")?,
        auto_rotate_period: fields::get_duration(data, "auto_rotate_period")?,
    })
}

fn info_response(policy: &Policy, warnings: Vec<String>) -> Option<Response> {
    let mut resp = Response::data(policy.info());
    resp.warnings = warnings;
    Some(resp)
}

/// `LIST keys/`.
pub(super) async fn list(req: &Request) -> Result<Option<Response>, LogicalError> {
    Ok(keys_response(Store::new(&req.storage).names().await?))
}

/// `GET keys/<name>`: 404 when the key does not exist.
pub(super) async fn read(req: &Request, name: &str) -> Result<Option<Response>, LogicalError> {
    if !super::route::valid_name(name) {
        return Ok(None);
    }
    let policy = Store::new(&req.storage).load(name).await?;
    Ok(policy.and_then(|p| info_response(&p, Vec::new())))
}

/// `GET export/<type>/<name>[/<version>]`: the raw key material of an exportable key.
pub(super) async fn export(
    req: &Request,
    kind: &str,
    name: &str,
    version: Option<&str>,
) -> Result<Option<Response>, LogicalError> {
    if kind != "encryption-key" {
        return Err(LogicalError::invalid(format!(
            "unsupported export type {kind:?}; supported: encryption-key"
        )));
    }
    check_name(name)?;
    let Some(policy) = Store::new(&req.storage).load(name).await? else {
        return Ok(None);
    };
    if !policy.exportable {
        return Err(LogicalError::invalid("key is not exportable"));
    }
    let versions: Vec<u64> = match version.map(str::trim) {
        None | Some("") => policy.keys.keys().copied().collect(),
        Some("latest") => vec![policy.latest_version],
        Some(v) => {
            let v: u64 = v
                .parse()
                .map_err(|_| LogicalError::invalid(format!("invalid key version {v:?}")))?;
            if !policy.keys.contains_key(&v) {
                return Err(LogicalError::invalid(format!("key version {v} not found")));
            }
            vec![v]
        }
    };
    let keys: Map<String, Value> = versions
        .iter()
        .filter_map(|v| {
            policy
                .keys
                .get(v)
                .map(|k| (v.to_string(), json!(STANDARD.encode(k.key.as_slice()))))
        })
        .collect();
    Ok(Some(Response::json(json!({
        "name": policy.name,
        "type": policy.key_type.as_str(),
        "keys": keys,
    }))))
}

impl Transit {
    /// `POST keys/<name>`: creates the key; an existing key is left as it is (with a warning).
    pub(super) async fn create_key(
        &self,
        req: &Request,
        name: &str,
    ) -> Result<Option<Response>, LogicalError> {
        check_name(name)?;
        let key_type = requested_type(&req.data)?;
        let opts = create_options(&req.data)?;
        let store = Store::new(&req.storage);
        let _guard = self.locks.lock(name).await;
        if let Some(existing) = store.load(name).await? {
            return Ok(info_response(
                &existing,
                vec![format!(
                    "key {name:?} already exists; its settings were not changed"
                )],
            ));
        }
        let policy = Policy::new(name, key_type, self.now(), &opts);
        store.save(&policy).await?;
        Ok(info_response(&policy, Vec::new()))
    }

    /// `DELETE keys/<name>`: only when the key's `deletion_allowed` is set.
    pub(super) async fn delete_key(
        &self,
        req: &Request,
        name: &str,
    ) -> Result<Option<Response>, LogicalError> {
        check_name(name)?;
        let store = Store::new(&req.storage);
        let _guard = self.locks.lock(name).await;
        let policy = store.load(name).await?.ok_or_else(|| {
            LogicalError::invalid(format!("could not delete key {name:?}: not found"))
        })?;
        if !policy.deletion_allowed {
            return Err(LogicalError::invalid(
                "deletion is not allowed for this key: set deletion_allowed with keys/<name>/config first",
            ));
        }
        store.delete(name).await?;
        Ok(None)
    }

    /// `POST keys/<name>/config`.
    pub(super) async fn configure_key(
        &self,
        req: &Request,
        name: &str,
    ) -> Result<Option<Response>, LogicalError> {
        check_name(name)?;
        let change = config_change(&req.data)?;
        let store = Store::new(&req.storage);
        let _guard = self.locks.lock(name).await;
        let mut policy = store.load(name).await?.ok_or_else(|| {
            LogicalError::invalid(format!("no existing key named {name:?} could be found"))
        })?;
        let warnings = policy.apply_config(&change)?;
        store.save(&policy).await?;
        Ok(info_response(&policy, warnings))
    }

    /// `POST keys/<name>/rotate`: adds a new latest version.
    pub(super) async fn rotate_key(
        &self,
        req: &Request,
        name: &str,
    ) -> Result<Option<Response>, LogicalError> {
        check_name(name)?;
        let store = Store::new(&req.storage);
        let _guard = self.locks.lock(name).await;
        let mut policy = store.require(name).await?;
        policy.rotate(self.now());
        store.save(&policy).await?;
        Ok(info_response(&policy, Vec::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn create_fields() {
        assert_eq!(requested_type(&Map::new()).unwrap(), KeyType::Aes256Gcm96);
        assert_eq!(
            requested_type(&obj(json!({"type": "aes128-gcm96"}))).unwrap(),
            KeyType::Aes128Gcm96
        );
        let err = requested_type(&obj(json!({"type": "rsa-4096"})))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown key type"), "{err}");
        let err = requested_type(&obj(json!({"derived": true})))
            .unwrap_err()
            .to_string();
        assert!(err.contains("derived"), "{err}");
        assert!(requested_type(&obj(json!({"convergent_encryption": "true"}))).is_err());
        assert!(requested_type(&obj(json!({"derived": false}))).is_ok());
        let o = create_options(&obj(
            json!({"exportable": "true", "auto_rotate_period": "24h"}),
        ))
        .unwrap();
        assert!(o.exportable && !o.allow_plaintext_backup);
        assert_eq!(o.auto_rotate_period, 86400);
        assert!(create_options(&obj(json!({"auto_rotate_period": "10m"}))).is_err());
    }

    #[test]
    fn config_fields_parse_leniently() {
        let c = config_change(&obj(
            json!({"min_decryption_version": "2", "deletion_allowed": true}),
        ))
        .unwrap();
        assert_eq!(c.min_decryption_version, Some(2));
        assert_eq!(c.deletion_allowed, Some(true));
        assert_eq!(c.min_encryption_version, None);
        assert!(config_change(&obj(json!({"min_decryption_version": "x"}))).is_err());
    }
}
