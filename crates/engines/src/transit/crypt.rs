//! The cryptographic endpoints: `encrypt/<name>`, `decrypt/<name>`, `rewrap/<name>` and
//! `datakey/<plaintext|wrapped>/<name>`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};
use tresor_sdk::{LogicalError, Operation, Request, Response, fields};

use super::batch::{self, ItemOutcome};
use super::cipher::random_secret;
use super::keys::{create_options, requested_type};
use super::policy::Policy;
use super::store::Store;
use super::{Transit, check_name, generate_key};

/// Encrypts one item (`plaintext`, `key_version`, `associated_data`).
fn encrypt_item(
    policy: &Policy,
    item: &Map<String, Value>,
) -> Result<Map<String, Value>, LogicalError> {
    batch::refuse_nonce(item)?;
    let plaintext = batch::b64_field(item, "plaintext")?
        .ok_or_else(|| LogicalError::invalid("missing plaintext to encrypt"))?;
    let aad = batch::associated_data(item)?;
    let context = batch::context(item)?;
    let (ciphertext, version) = policy.encrypt(
        &plaintext,
        &aad,
        batch::key_version(item)?,
        context.as_deref().map(Vec::as_slice),
    )?;
    Ok(object(
        json!({ "ciphertext": ciphertext, "key_version": version }),
    ))
}

/// Decrypts one item (`ciphertext`, `associated_data`).
fn decrypt_item(
    policy: &Policy,
    item: &Map<String, Value>,
) -> Result<Map<String, Value>, LogicalError> {
    batch::refuse_nonce(item)?;
    let text = required_ciphertext(item, "missing ciphertext to decrypt")?;
    let aad = batch::associated_data(item)?;
    let context = batch::context(item)?;
    let (plaintext, _) = policy.decrypt(&text, &aad, context.as_deref().map(Vec::as_slice))?;
    Ok(object(
        json!({ "plaintext": STANDARD.encode(plaintext.as_slice()) }),
    ))
}

/// Re-encrypts one item under `key_version` (or the latest version).
fn rewrap_item(
    policy: &Policy,
    item: &Map<String, Value>,
) -> Result<Map<String, Value>, LogicalError> {
    batch::refuse_nonce(item)?;
    let text = required_ciphertext(item, "missing ciphertext to rewrap")?;
    let aad = batch::associated_data(item)?;
    let context = batch::context(item)?;
    let context = context.as_deref().map(Vec::as_slice);
    let (plaintext, _) = policy.decrypt(&text, &aad, context)?;
    let (ciphertext, version) =
        policy.encrypt(&plaintext, &aad, batch::key_version(item)?, context)?;
    Ok(object(
        json!({ "ciphertext": ciphertext, "key_version": version }),
    ))
}

fn required_ciphertext(item: &Map<String, Value>, missing: &str) -> Result<String, LogicalError> {
    fields::get_str(item, "ciphertext")?
        .filter(|c| !c.is_empty())
        .ok_or_else(|| LogicalError::invalid(missing))
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Handles one item against a key.
type ItemFn = fn(&Policy, &Map<String, Value>) -> Result<Map<String, Value>, LogicalError>;

fn run(policy: &Policy, items: &[Map<String, Value>], f: ItemFn) -> Vec<ItemOutcome> {
    items
        .iter()
        .map(|item| (batch::reference(item), f(policy, item)))
        .collect()
}

/// `POST decrypt/<name>`.
pub(super) async fn decrypt(req: &Request, name: &str) -> Result<Option<Response>, LogicalError> {
    check_name(name)?;
    let (items, is_batch) = batch::items(&req.data)?;
    let policy = Store::new(&req.storage).require(name).await?;
    batch::respond(run(&policy, &items, decrypt_item), is_batch, &req.data)
}

/// The number of bytes of a data key for `bits`.
fn datakey_len(bits: Option<u64>) -> Result<usize, LogicalError> {
    match bits.unwrap_or(256) {
        128 => Ok(16),
        256 => Ok(32),
        512 => Ok(64),
        other => Err(LogicalError::invalid(format!(
            "invalid bits value {other}: use 128, 256 or 512"
        ))),
    }
}

impl Transit {
    /// Loads the key for an operation that encrypts. A missing key is created when `upsert` is
    /// set (with the request's `type` and create options), else refused; a key whose automatic
    /// rotation period has elapsed is rotated first.
    pub(super) async fn key_for_encryption(
        &self,
        req: &Request,
        name: &str,
        upsert: bool,
    ) -> Result<Policy, LogicalError> {
        let store = Store::new(&req.storage);
        let found = store.load(name).await?;
        if let Some(p) = &found {
            if !p.rotation_due(self.now()) {
                return Ok(p.clone());
            }
        } else if !upsert {
            return Err(LogicalError::invalid("encryption key not found"));
        }
        let _guard = self.locks.lock(name).await;
        let now = self.now();
        let policy = match store.load(name).await? {
            Some(mut p) if p.rotation_due(now) => {
                let material = generate_key(p.key_type).await?;
                p.rotate_with(now, material);
                store.save(&p).await?;
                p
            }
            Some(p) => p,
            None if upsert => {
                let key_type = requested_type(&req.data)?;
                if !key_type.is_aead() {
                    return Err(LogicalError::invalid(format!(
                        "key type {} cannot encrypt, so encrypt cannot create it",
                        key_type.as_str()
                    )));
                }
                let opts = create_options(&req.data, key_type)?;
                let material = generate_key(key_type).await?;
                let p = Policy::with_material(name, key_type, now, &opts, material);
                store.save(&p).await?;
                p
            }
            None => return Err(LogicalError::invalid("encryption key not found")),
        };
        Ok(policy)
    }

    /// `POST encrypt/<name>`: creates the key first when the core routed the request as a
    /// create (the key did not exist and the caller holds the `create` capability).
    pub(super) async fn encrypt(
        &self,
        req: &Request,
        name: &str,
    ) -> Result<Option<Response>, LogicalError> {
        check_name(name)?;
        let (items, is_batch) = batch::items(&req.data)?;
        let upsert = req.operation == Operation::Create;
        let policy = self.key_for_encryption(req, name, upsert).await?;
        batch::respond(run(&policy, &items, encrypt_item), is_batch, &req.data)
    }

    /// `POST rewrap/<name>`.
    pub(super) async fn rewrap(
        &self,
        req: &Request,
        name: &str,
    ) -> Result<Option<Response>, LogicalError> {
        check_name(name)?;
        let (items, is_batch) = batch::items(&req.data)?;
        let policy = self.key_for_encryption(req, name, false).await?;
        batch::respond(run(&policy, &items, rewrap_item), is_batch, &req.data)
    }

    /// `POST datakey/<plaintext|wrapped>/<name>`: a fresh random key, returned encrypted under
    /// the named key and, for `plaintext`, also in the clear.
    pub(super) async fn datakey(
        &self,
        req: &Request,
        kind: &str,
        name: &str,
    ) -> Result<Option<Response>, LogicalError> {
        let with_plaintext = match kind {
            "plaintext" => true,
            "wrapped" => false,
            other => {
                return Err(LogicalError::invalid(format!(
                    "invalid data key type {other:?}: use plaintext or wrapped"
                )));
            }
        };
        check_name(name)?;
        batch::refuse_nonce(&req.data)?;
        let len = datakey_len(fields::get_u64(&req.data, "bits")?)?;
        let key_version = batch::key_version(&req.data)?;
        let context = batch::context(&req.data)?;
        let policy = self.key_for_encryption(req, name, false).await?;
        let secret = random_secret(len);
        let (ciphertext, version) = policy.encrypt(
            &secret,
            b"",
            key_version,
            context.as_deref().map(Vec::as_slice),
        )?;
        let mut data = object(json!({ "ciphertext": ciphertext, "key_version": version }));
        if with_plaintext {
            data.insert(
                "plaintext".to_owned(),
                json!(STANDARD.encode(secret.as_slice())),
            );
        }
        Ok(Some(Response::data(data)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transit::cipher::KeyType;
    use crate::transit::policy::CreateOptions;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn items_round_trip_through_encrypt_rewrap_decrypt() {
        let mut p = Policy::new("k", KeyType::Aes256Gcm96, 0, &CreateOptions::default());
        let enc = encrypt_item(
            &p,
            &obj(json!({"plaintext": "aGVsbG8=", "associated_data": "YWQ="})),
        )
        .unwrap();
        assert_eq!(enc["key_version"], 1);
        let c1 = enc["ciphertext"].as_str().unwrap().to_owned();
        p.rotate(1);
        let re = rewrap_item(
            &p,
            &obj(json!({"ciphertext": c1, "associated_data": "YWQ="})),
        )
        .unwrap();
        assert_eq!(re["key_version"], 2);
        let c2 = re["ciphertext"].as_str().unwrap();
        assert!(c2.starts_with("vault:v2:"));
        let dec = decrypt_item(
            &p,
            &obj(json!({"ciphertext": c2, "associated_data": "YWQ="})),
        )
        .unwrap();
        assert_eq!(dec["plaintext"], "aGVsbG8=");
        // Without the associated data the ciphertext does not authenticate.
        assert!(decrypt_item(&p, &obj(json!({"ciphertext": c2}))).is_err());
    }

    #[test]
    fn item_field_errors() {
        let p = Policy::new("k", KeyType::Aes256Gcm96, 0, &CreateOptions::default());
        let msg = |r: Result<Map<String, Value>, LogicalError>| r.unwrap_err().to_string();
        assert!(msg(encrypt_item(&p, &Map::new())).contains("missing plaintext"));
        assert!(msg(encrypt_item(&p, &obj(json!({"plaintext": "!!"})))).contains("base64"));
        assert!(msg(decrypt_item(&p, &Map::new())).contains("missing ciphertext"));
        assert!(msg(decrypt_item(&p, &obj(json!({"ciphertext": "v1:abc"})))).contains("no prefix"));
        assert!(
            msg(rewrap_item(&p, &obj(json!({"ciphertext": ""})))).contains("missing ciphertext")
        );
        // Empty plaintext is a valid message.
        let e = encrypt_item(&p, &obj(json!({"plaintext": ""}))).unwrap();
        let d = decrypt_item(&p, &obj(json!({"ciphertext": e["ciphertext"]}))).unwrap();
        assert_eq!(d["plaintext"], "");
    }

    #[test]
    fn datakey_sizes() {
        assert_eq!(datakey_len(None).unwrap(), 32);
        assert_eq!(datakey_len(Some(128)).unwrap(), 16);
        assert_eq!(datakey_len(Some(512)).unwrap(), 64);
        assert!(datakey_len(Some(64)).is_err());
    }
}
