//! The signing and MAC endpoints: `sign/<name>[/<hash_algorithm>]`,
//! `verify/<name>[/<hash_algorithm>]` (signatures, or HMACs with the `hmac` field) and
//! `hmac/<name>[/<algorithm>]`, each with `batch_input`.
//!
//! Signatures and HMACs are `vault:v<N>:<base64>`; with `marshaling_algorithm=jws` the
//! signature is unpadded URL-safe base64 (and, for ECDSA, r || s instead of ASN.1).

use serde_json::{Map, Value, json};
use tresor_sdk::{LogicalError, Request, Response, fields};

use super::asym::{SaltLength, SignParams};
use super::batch::{self, ItemOutcome};
use super::check_name;
use super::ciphertext;
use super::hashalg::{DIGEST_NAMES, HashAlg};
use super::policy::Policy;
use super::store::Store;
use super::{Transit, cipher::KeyType};

fn invalid(msg: impl Into<String>) -> LogicalError {
    LogicalError::invalid(msg)
}

/// The hash named in the path, else `hash_algorithm`, else `algorithm`, else `sha2-256`.
fn hash_name(data: &Map<String, Value>, path_alg: &str) -> Result<String, LogicalError> {
    if !path_alg.is_empty() {
        return Ok(path_alg.to_owned());
    }
    for field in ["hash_algorithm", "algorithm"] {
        if let Some(v) = fields::get_str(data, field)?.filter(|v| !v.is_empty()) {
            return Ok(v);
        }
    }
    Ok("sha2-256".to_owned())
}

/// The signing options of a request (shared by its batch items).
pub(crate) fn sign_params(
    data: &Map<String, Value>,
    path_alg: &str,
) -> Result<SignParams, LogicalError> {
    let name = hash_name(data, path_alg)?;
    let hash = if name == "none" {
        None
    } else {
        Some(HashAlg::parse(&name).ok_or_else(|| {
            invalid(format!(
                "unsupported hash algorithm {name:?}: use sha1, {DIGEST_NAMES} or none"
            ))
        })?)
    };
    let pss = match fields::get_str(data, "signature_algorithm")?.as_deref() {
        None | Some("") | Some("pss") => true,
        Some("pkcs1v15") => false,
        Some(other) => {
            return Err(invalid(format!(
                "unsupported signature algorithm {other:?}: use pss or pkcs1v15"
            )));
        }
    };
    let jws = match fields::get_str(data, "marshaling_algorithm")?.as_deref() {
        None | Some("") | Some("asn1") => false,
        Some("jws") => true,
        Some(other) => {
            return Err(invalid(format!(
                "unsupported marshaling algorithm {other:?}: use asn1 or jws"
            )));
        }
    };
    let salt = match fields::get_str(data, "salt_length")? {
        None => SaltLength::Auto,
        Some(s) => SaltLength::parse(&s)?,
    };
    Ok(SignParams {
        hash,
        prehashed: fields::get_bool(data, "prehashed")?.unwrap_or(false),
        pss,
        salt,
        jws,
    })
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn required_input(item: &Map<String, Value>) -> Result<zeroize::Zeroizing<Vec<u8>>, LogicalError> {
    batch::b64_field(item, "input")?.ok_or_else(|| invalid("missing input"))
}

/// Signs one item (`input`, `context`, `key_version`).
fn sign_item(
    policy: &Policy,
    p: &SignParams,
    item: &Map<String, Value>,
) -> Result<Map<String, Value>, LogicalError> {
    let input = required_input(item)?;
    let context = batch::context(item)?;
    let context = context.as_deref().map(Vec::as_slice);
    let (sig, version) = policy.sign(&input, p, batch::key_version(item)?, context)?;
    let text = if p.jws {
        ciphertext::format_url(version, &sig)
    } else {
        ciphertext::format(version, &sig)
    };
    let mut out = object(json!({ "signature": text, "key_version": version }));
    if policy.derived && policy.key_type == KeyType::Ed25519 {
        // The public key of a derived key depends on the context: return it with the
        // signature, as the key read cannot show it.
        if let Some(pk) = policy.public_key_for(version, context)? {
            out.insert("public_key".to_owned(), json!(pk));
        }
    }
    Ok(out)
}

/// Verifies one item: a `signature` or an `hmac` over `input`.
fn verify_item(
    policy: &Policy,
    p: &SignParams,
    item: &Map<String, Value>,
) -> Result<Map<String, Value>, LogicalError> {
    let input = required_input(item)?;
    let signature = fields::get_str(item, "signature")?.filter(|s| !s.is_empty());
    let hmac = fields::get_str(item, "hmac")?.filter(|s| !s.is_empty());
    let valid = match (signature, hmac) {
        (Some(_), Some(_)) => {
            return Err(invalid("provide one of signature or hmac, not both"));
        }
        (None, None) => return Err(invalid("neither a signature nor an hmac was provided")),
        (None, Some(mac)) => {
            let alg = p.hash.ok_or_else(|| {
                invalid(format!(
                    "hash_algorithm \"none\" cannot verify an hmac: use sha1 or one of {DIGEST_NAMES}"
                ))
            })?;
            policy.verify_hmac(alg, &input, &mac)?
        }
        (Some(sig), None) => {
            let parsed = if p.jws {
                ciphertext::parse_url_as(&sig, "signature")
            } else {
                ciphertext::parse_as(&sig, "signature")
            }
            .map_err(invalid)?;
            let context = batch::context(item)?;
            policy.verify(
                &input,
                parsed.version,
                &parsed.blob,
                p,
                context.as_deref().map(Vec::as_slice),
            )?
        }
    };
    Ok(object(json!({ "valid": valid })))
}

/// HMACs one item (`input`, `key_version`).
fn hmac_item(
    policy: &Policy,
    alg: HashAlg,
    item: &Map<String, Value>,
) -> Result<Map<String, Value>, LogicalError> {
    let input = required_input(item)?;
    let (mac, _) = policy.hmac(alg, &input, batch::key_version(item)?)?;
    Ok(object(json!({ "hmac": mac })))
}

/// `POST verify/<name>[/<hash_algorithm>]`.
pub(super) async fn verify(
    req: &Request,
    name: &str,
    path_alg: &str,
) -> Result<Option<Response>, LogicalError> {
    check_name(name)?;
    let p = sign_params(&req.data, path_alg)?;
    let (items, is_batch) = batch::items(&req.data)?;
    let policy = Store::new(&req.storage)
        .load(name)
        .await?
        .ok_or_else(|| invalid("key not found"))?;
    let outcomes: Vec<ItemOutcome> = items
        .iter()
        .map(|item| (batch::reference(item), verify_item(&policy, &p, item)))
        .collect();
    batch::respond(outcomes, is_batch, &req.data)
}

/// The HMAC algorithm of an `hmac` request: the path's, else `algorithm`, else `sha2-256`.
/// SHA-1 is accepted here (HMAC-SHA1 is still sound), as OpenBao does.
fn hmac_alg(data: &Map<String, Value>, path_alg: &str) -> Result<HashAlg, LogicalError> {
    let name = if path_alg.is_empty() {
        fields::get_str(data, "algorithm")?
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| "sha2-256".to_owned())
    } else {
        path_alg.to_owned()
    };
    HashAlg::parse(&name).ok_or_else(|| {
        invalid(format!(
            "unsupported algorithm {name:?}: use sha1 or one of {DIGEST_NAMES}"
        ))
    })
}

impl Transit {
    /// `POST sign/<name>[/<hash_algorithm>]`.
    pub(super) async fn sign(
        &self,
        req: &Request,
        name: &str,
        path_alg: &str,
    ) -> Result<Option<Response>, LogicalError> {
        check_name(name)?;
        let p = sign_params(&req.data, path_alg)?;
        let (items, is_batch) = batch::items(&req.data)?;
        let policy = self.key_for_encryption(req, name, false).await?;
        let is_rsa = matches!(
            policy.key_type,
            KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096
        );
        let run = move || -> Vec<ItemOutcome> {
            items
                .iter()
                .map(|item| (batch::reference(item), sign_item(&policy, &p, item)))
                .collect()
        };
        // RSA private-key operations take milliseconds each: keep them off the runtime.
        let outcomes = if is_rsa {
            tokio::task::spawn_blocking(run)
                .await
                .map_err(|e| LogicalError::Internal(format!("signing task: {e}")))?
        } else {
            run()
        };
        batch::respond(outcomes, is_batch, &req.data)
    }

    /// `POST hmac/<name>[/<algorithm>]`.
    pub(super) async fn hmac(
        &self,
        req: &Request,
        name: &str,
        path_alg: &str,
    ) -> Result<Option<Response>, LogicalError> {
        check_name(name)?;
        let alg = hmac_alg(&req.data, path_alg)?;
        let (items, is_batch) = batch::items(&req.data)?;
        let policy = self.key_for_encryption(req, name, false).await?;
        let outcomes: Vec<ItemOutcome> = items
            .iter()
            .map(|item| (batch::reference(item), hmac_item(&policy, alg, item)))
            .collect();
        batch::respond(outcomes, is_batch, &req.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transit::policy::CreateOptions;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    fn msg(r: Result<impl std::fmt::Debug, LogicalError>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn params_from_fields_and_path() {
        let p = sign_params(&Map::new(), "").unwrap();
        assert_eq!(p, SignParams::default());
        let p = sign_params(
            &obj(
                json!({"hash_algorithm": "sha2-512", "signature_algorithm": "pkcs1v15",
                "marshaling_algorithm": "jws", "salt_length": "hash", "prehashed": true}),
            ),
            "",
        )
        .unwrap();
        assert_eq!(p.hash, Some(HashAlg::Sha2_512));
        assert!(!p.pss && p.jws && p.prehashed);
        assert_eq!(p.salt, SaltLength::Hash);
        // The path wins over the field.
        let p = sign_params(&obj(json!({"hash_algorithm": "sha2-512"})), "sha3-256").unwrap();
        assert_eq!(p.hash, Some(HashAlg::Sha3_256));
        assert_eq!(sign_params(&Map::new(), "none").unwrap().hash, None);
        assert_eq!(
            sign_params(&obj(json!({"salt_length": 20})), "")
                .unwrap()
                .salt,
            SaltLength::Fixed(20)
        );
        for (data, want) in [
            (
                json!({"hash_algorithm": "meow2-256"}),
                "unsupported hash algorithm",
            ),
            (
                json!({"signature_algorithm": "pre-shared kitty cats"}),
                "signature algorithm",
            ),
            (
                json!({"marshaling_algorithm": "xml"}),
                "marshaling algorithm",
            ),
            (json!({"salt_length": "foobar"}), "invalid salt_length"),
            (json!({"salt_length": "-2"}), "invalid salt_length"),
            (json!({"salt_length": -5}), "invalid salt_length"),
            (json!({"prehashed": "maybe"}), "prehashed"),
        ] {
            let err = msg(sign_params(&obj(data.clone()), ""));
            assert!(err.contains(want), "{data}: {err}");
        }
    }

    #[test]
    fn sign_verify_items_round_trip() {
        let mut policy = Policy::new("k", KeyType::Ed25519, 0, &CreateOptions::default());
        let p = sign_params(&obj(json!({"salt_length": "-1"})), "").unwrap();
        let input = json!("aGFzaCB0aGlzIGlzaA==");
        let signed = sign_item(&policy, &p, &obj(json!({"input": input}))).unwrap();
        let sig = signed["signature"].as_str().unwrap().to_owned();
        assert!(sig.starts_with("vault:v1:"));
        assert_eq!(signed["key_version"], 1);
        let check = |policy: &Policy, sig: &str, input: &Value| {
            verify_item(policy, &p, &obj(json!({"input": input, "signature": sig})))
        };
        assert_eq!(check(&policy, &sig, &input).unwrap()["valid"], true);
        assert_eq!(
            check(&policy, &sig, &json!("b3RoZXI=")).unwrap()["valid"],
            false
        );
        // Malformed signatures and inputs are refused with a reason, never a panic.
        assert!(msg(check(&policy, "vault:v1:!!!", &input)).contains("base64"));
        assert!(msg(check(&policy, "nope", &input)).contains("invalid signature"));
        assert!(msg(check(&policy, "vault:v9:AAAA", &input)).contains("does not exist"));
        assert!(msg(check(&policy, &sig, &json!("%%%"))).contains("base64"));
        assert_eq!(
            check(&policy, "vault:v1:AAAA", &input).unwrap()["valid"],
            false
        );
        assert!(msg(sign_item(&policy, &p, &Map::new())).contains("missing input"));
        // After a rotation and a minimum bump the old signature is refused as too old.
        policy.rotate(1);
        policy
            .apply_config(&crate::transit::policy::ConfigChange {
                min_decryption_version: Some(2),
                ..Default::default()
            })
            .unwrap();
        assert!(msg(check(&policy, &sig, &input)).contains("too old"));
        // Symmetric keys do not sign.
        let aes = Policy::new("a", KeyType::Aes256Gcm96, 0, &CreateOptions::default());
        assert!(
            msg(sign_item(&aes, &p, &obj(json!({"input": input})))).contains("does not support")
        );
    }

    #[test]
    fn jws_ecdsa_signatures_are_url_safe() {
        let policy = Policy::new("k", KeyType::EcdsaP256, 0, &CreateOptions::default());
        let p = sign_params(&obj(json!({"marshaling_algorithm": "jws"})), "").unwrap();
        let item = obj(json!({"input": "aGk="}));
        let sig = sign_item(&policy, &p, &item).unwrap()["signature"]
            .as_str()
            .unwrap()
            .to_owned();
        let body = sig.trim_start_matches("vault:v1:");
        assert!(!body.contains(['+', '/', '=']), "{sig}");
        assert_eq!(body.len(), 86); // 64 bytes, unpadded
        let ok = verify_item(
            &policy,
            &p,
            &obj(json!({"input": "aGk=", "signature": sig})),
        )
        .unwrap();
        assert_eq!(ok["valid"], true);
    }

    #[test]
    fn hmac_items_and_verification() {
        let mut policy = Policy::new("k", KeyType::Aes256Gcm96, 0, &CreateOptions::default());
        let item = obj(json!({"input": "aGk="}));
        let out = hmac_item(&policy, HashAlg::Sha2_256, &item).unwrap();
        let mac = out["hmac"].as_str().unwrap().to_owned();
        assert!(mac.starts_with("vault:v1:"));
        let p = sign_params(&Map::new(), "").unwrap();
        let v = |policy: &Policy, p: &SignParams, mac: &str, input: &str| {
            verify_item(policy, p, &obj(json!({"input": input, "hmac": mac})))
        };
        assert_eq!(v(&policy, &p, &mac, "aGk=").unwrap()["valid"], true);
        assert_eq!(v(&policy, &p, &mac, "aGo=").unwrap()["valid"], false);
        let p512 = sign_params(&Map::new(), "sha2-512").unwrap();
        assert_eq!(v(&policy, &p512, &mac, "aGk=").unwrap()["valid"], false);
        // Rotation: the old HMAC still verifies, a new one uses version 2 and differs.
        policy.rotate(1);
        assert_eq!(v(&policy, &p, &mac, "aGk=").unwrap()["valid"], true);
        let mac2 = hmac_item(&policy, HashAlg::Sha2_256, &item).unwrap();
        assert!(mac2["hmac"].as_str().unwrap().starts_with("vault:v2:"));
        assert_ne!(mac2["hmac"].as_str().unwrap()[9..], mac[9..]);
        // Both or neither of signature and hmac is refused.
        let both = obj(json!({"input": "aGk=", "hmac": mac, "signature": mac}));
        assert!(msg(verify_item(&policy, &p, &both)).contains("not both"));
        assert!(msg(verify_item(&policy, &p, &item)).contains("neither"));
        assert_eq!(hmac_alg(&Map::new(), "").unwrap(), HashAlg::Sha2_256);
        assert_eq!(
            hmac_alg(&obj(json!({"algorithm": "sha3-512"})), "").unwrap(),
            HashAlg::Sha3_512
        );
        assert!(msg(hmac_alg(&Map::new(), "meow2-256")).contains("unsupported algorithm"));
        assert_eq!(hmac_alg(&Map::new(), "sha1").unwrap(), HashAlg::Sha1);
        assert!(hmac_alg(&Map::new(), "none").is_err());
    }
}
