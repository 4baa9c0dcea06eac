//! Key management: `keys/`, `keys/<name>`, `keys/<name>/config`, `keys/<name>/rotate`,
//! `keys/<name>/trim` and `export/<type>/<name>[/<version>]`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};
use tresor_sdk::{LogicalError, Request, Response, fields};

use super::asym;
use super::cipher::{ALL_TYPES, KeyType};
use super::policy::{ConfigChange, CreateOptions, Policy, check_auto_rotate};
use super::store::Store;
use super::{Transit, check_name, generate_key};
use crate::kv::keys_response;

/// The key type a create (or upserting encrypt) asks for; `aes256-gcm96` when absent.
pub(super) fn requested_type(data: &Map<String, Value>) -> Result<KeyType, LogicalError> {
    match fields::get_str(data, "type")?.filter(|t| !t.is_empty()) {
        None => Ok(KeyType::Aes256Gcm96),
        Some(t) => KeyType::parse(&t).ok_or_else(|| {
            let names: Vec<&str> = ALL_TYPES.iter().map(|t| t.as_str()).collect();
            LogicalError::invalid(format!(
                "unknown key type {t:?}; supported: {}",
                names.join(", ")
            ))
        }),
    }
}

/// The settings of a create request for a key of type `key_type`.
pub(super) fn create_options(
    data: &Map<String, Value>,
    key_type: KeyType,
) -> Result<CreateOptions, LogicalError> {
    let auto_rotate_period = fields::get_duration(data, "auto_rotate_period")?.unwrap_or(0);
    check_auto_rotate(auto_rotate_period)?;
    let derived = fields::get_bool(data, "derived")?.unwrap_or(false);
    let convergent_encryption = fields::get_bool(data, "convergent_encryption")?.unwrap_or(false);
    if convergent_encryption && !derived {
        return Err(LogicalError::invalid(
            "convergent_encryption needs derived=true: the nonce comes from the context",
        ));
    }
    if derived && !key_type.derives() {
        return Err(LogicalError::invalid(format!(
            "keys of type {} cannot be derived",
            key_type.as_str()
        )));
    }
    if convergent_encryption && !key_type.is_aead() {
        return Err(LogicalError::invalid(format!(
            "convergent encryption is not supported for keys of type {}",
            key_type.as_str()
        )));
    }
    Ok(CreateOptions {
        exportable: fields::get_bool(data, "exportable")?.unwrap_or(false),
        allow_plaintext_backup: fields::get_bool(data, "allow_plaintext_backup")?.unwrap_or(false),
        auto_rotate_period,
        derived,
        convergent_encryption,
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

/// What `export/<type>/...` exports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ExportKind {
    Encryption,
    Signing,
    Hmac,
    Public,
}

impl ExportKind {
    fn parse(kind: &str) -> Result<Self, LogicalError> {
        Ok(match kind {
            "encryption-key" => ExportKind::Encryption,
            "signing-key" => ExportKind::Signing,
            "hmac-key" => ExportKind::Hmac,
            "public-key" => ExportKind::Public,
            other => {
                return Err(LogicalError::invalid(format!(
                    "invalid export type {other:?}: use encryption-key, signing-key, hmac-key or public-key"
                )));
            }
        })
    }
}

/// The versions an export names: every one from `min_decryption_version` on, `latest`, or
/// one number (not below `min_decryption_version`).
fn export_versions(policy: &Policy, version: Option<&str>) -> Result<Vec<u64>, LogicalError> {
    Ok(match version.map(str::trim) {
        None | Some("") => policy
            .keys
            .range(policy.min_decryption_version..)
            .map(|(v, _)| *v)
            .collect(),
        Some("latest") => vec![policy.latest_version],
        Some(v) => {
            let v: u64 = v
                .parse()
                .map_err(|_| LogicalError::invalid(format!("invalid key version {v:?}")))?;
            if v < policy.min_decryption_version {
                return Err(LogicalError::invalid(format!(
                    "key version {v} is below min_decryption_version {} and cannot be exported",
                    policy.min_decryption_version
                )));
            }
            if !policy.keys.contains_key(&v) {
                return Err(LogicalError::invalid(format!("key version {v} not found")));
            }
            vec![v]
        }
    })
}

/// `GET export/<type>/<name>[/<version>]`: key material of an exportable key (a public key
/// needs no `exportable`).
pub(super) async fn export(
    req: &Request,
    kind: &str,
    name: &str,
    version: Option<&str>,
) -> Result<Option<Response>, LogicalError> {
    let kind = ExportKind::parse(kind)?;
    check_name(name)?;
    let Some(policy) = Store::new(&req.storage).load(name).await? else {
        return Ok(None);
    };
    if kind != ExportKind::Public && !policy.exportable {
        return Err(LogicalError::invalid(
            "this key is not exportable: set exportable with keys/<name>/config",
        ));
    }
    let t = policy.key_type;
    match kind {
        ExportKind::Encryption if !t.is_aead() => {
            return Err(LogicalError::invalid(format!(
                "encryption-key export is not supported for keys of type {}",
                t.as_str()
            )));
        }
        ExportKind::Signing | ExportKind::Public if !t.signs() => {
            return Err(LogicalError::invalid(format!(
                "{} export is not supported for keys of type {}",
                if kind == ExportKind::Signing {
                    "signing-key"
                } else {
                    "public-key"
                },
                t.as_str()
            )));
        }
        ExportKind::Signing | ExportKind::Public if policy.derived => {
            return Err(LogicalError::invalid(
                "signing and public keys of derived keys depend on the context and cannot be exported",
            ));
        }
        _ => {}
    }
    let mut keys = Map::new();
    for v in export_versions(&policy, version)? {
        let Some(entry) = policy.keys.get(&v) else {
            continue;
        };
        let text = match kind {
            ExportKind::Encryption => STANDARD.encode(entry.key.as_slice()),
            ExportKind::Hmac => STANDARD.encode(policy.hmac_key(entry).as_slice()),
            ExportKind::Signing => asym::private_key(t, &entry.key)?.to_string(),
            ExportKind::Public => asym::public_key(t, &entry.key)?.unwrap_or_default(),
        };
        keys.insert(v.to_string(), json!(text));
    }
    Ok(Some(Response::json(json!({
        "name": policy.name,
        "type": t.as_str(),
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
        let opts = create_options(&req.data, key_type)?;
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
        let material = generate_key(key_type).await?;
        let policy = Policy::with_material(name, key_type, self.now(), &opts, material);
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
        let material = generate_key(policy.key_type).await?;
        policy.rotate_with(self.now(), material);
        store.save(&policy).await?;
        Ok(info_response(&policy, Vec::new()))
    }

    /// `POST keys/<name>/trim`: deletes the versions below `min_available_version`.
    pub(super) async fn trim_key(
        &self,
        req: &Request,
        name: &str,
    ) -> Result<Option<Response>, LogicalError> {
        check_name(name)?;
        let min = fields::get_i64(&req.data, "min_available_version")?
            .ok_or_else(|| LogicalError::invalid("missing min_available_version"))?;
        let store = Store::new(&req.storage);
        let _guard = self.locks.lock(name).await;
        let mut policy = store.require(name).await?;
        policy.trim(min)?;
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
        assert_eq!(
            requested_type(&obj(json!({"type": "rsa-4096"}))).unwrap(),
            KeyType::Rsa4096
        );
        let err = requested_type(&obj(json!({"type": "rsa-1024"})))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown key type"), "{err}");
        let aes = KeyType::Aes256Gcm96;
        let o = create_options(
            &obj(json!({"exportable": "true", "auto_rotate_period": "24h"})),
            aes,
        )
        .unwrap();
        assert!(o.exportable && !o.allow_plaintext_backup && !o.derived);
        assert_eq!(o.auto_rotate_period, 86400);
        assert!(create_options(&obj(json!({"auto_rotate_period": "10m"})), aes).is_err());
        // Derivation and convergence.
        let d = create_options(
            &obj(json!({"derived": true, "convergent_encryption": "true"})),
            aes,
        )
        .unwrap();
        assert!(d.derived && d.convergent_encryption);
        let err = create_options(&obj(json!({"convergent_encryption": true})), aes)
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs derived=true"), "{err}");
        assert!(create_options(&obj(json!({"derived": true})), KeyType::Ed25519).is_ok());
        assert!(create_options(&obj(json!({"derived": true})), KeyType::EcdsaP256).is_err());
        assert!(
            create_options(
                &obj(json!({"derived": true, "convergent_encryption": true})),
                KeyType::Ed25519
            )
            .is_err()
        );
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
