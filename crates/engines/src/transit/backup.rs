//! `backup/<name>` and `restore[/<name>]`.
//!
//! The backup is Tresor's own format, not Vault's: base64 of a JSON object
//! `{"tresor_transit_backup": 1, "policy": <the stored key with every version>}`. It
//! round-trips between Tresor servers only. It holds the key material in the clear, so a key
//! must be both `exportable` and `allow_plaintext_backup` to be backed up.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tresor_sdk::{LogicalError, Request, Response, fields};
use zeroize::Zeroizing;

use super::policy::Policy;
use super::store::Store;
use super::{Transit, check_name};

/// Version of the backup format.
const FORMAT_VERSION: u32 = 1;
/// The largest backup `restore` reads (base64 text), far above any real key ring.
const MAX_BACKUP_LEN: usize = 16 * 1024 * 1024;

#[derive(Serialize, Deserialize)]
struct Backup {
    tresor_transit_backup: u32,
    policy: Policy,
}

/// The backup text of `policy`, if its settings allow one.
pub(crate) fn encode(policy: &Policy) -> Result<Zeroizing<String>, LogicalError> {
    // Vault answers these with a 500 and hvac's tests expect exactly that.
    if !policy.exportable {
        return Err(LogicalError::Internal(
            "exporting is disallowed on the policy".to_owned(),
        ));
    }
    if !policy.allow_plaintext_backup {
        return Err(LogicalError::Internal(
            "plaintext backup is disallowed on the policy".to_owned(),
        ));
    }
    let backup = Backup {
        tresor_transit_backup: FORMAT_VERSION,
        policy: policy.clone(),
    };
    let bytes = Zeroizing::new(
        serde_json::to_vec(&backup)
            .map_err(|e| LogicalError::Internal(format!("encoding backup: {e}")))?,
    );
    Ok(Zeroizing::new(STANDARD.encode(bytes.as_slice())))
}

/// The key held in a backup text, checked for consistency, renamed to `name` when given.
pub(crate) fn decode(text: &str, name: Option<&str>) -> Result<Policy, LogicalError> {
    let bad = |why: &str| LogicalError::invalid(format!("invalid backup: {why}"));
    if text.len() > MAX_BACKUP_LEN {
        return Err(bad("too large"));
    }
    let mut bytes = Zeroizing::new(Vec::new());
    STANDARD
        .decode_vec(text.trim(), &mut bytes)
        .map_err(|_| bad("not base64"))?;
    let backup: Backup =
        serde_json::from_slice(&bytes).map_err(|_| bad("not a Tresor transit key backup"))?;
    if backup.tresor_transit_backup != FORMAT_VERSION {
        return Err(bad("unknown backup format version"));
    }
    let mut policy = backup.policy;
    if let Some(n) = name {
        policy.name = n.to_owned();
    }
    check_name(&policy.name)?;
    policy.validate()?;
    Ok(policy)
}

/// `GET backup/<name>`.
pub(super) async fn backup(req: &Request, name: &str) -> Result<Option<Response>, LogicalError> {
    check_name(name)?;
    let policy = Store::new(&req.storage).require(name).await?;
    let text = encode(&policy)?;
    Ok(Some(Response::data(
        match json!({ "backup": text.as_str() }) {
            serde_json::Value::Object(m) => m,
            _ => serde_json::Map::new(),
        },
    )))
}

impl Transit {
    /// `POST restore[/<name>]`: `backup` and `force` (replace an existing key).
    pub(super) async fn restore(
        &self,
        req: &Request,
        name: Option<&str>,
    ) -> Result<Option<Response>, LogicalError> {
        if let Some(n) = name {
            check_name(n)?;
        }
        let text = fields::get_str(&req.data, "backup")?
            .filter(|b| !b.is_empty())
            .ok_or_else(|| LogicalError::invalid("missing backup to restore"))?;
        let text = Zeroizing::new(text);
        let force = fields::get_bool(&req.data, "force")?.unwrap_or(false);
        let policy = decode(&text, name)?;
        let store = Store::new(&req.storage);
        let _guard = self.locks.lock(&policy.name).await;
        if !force && store.load(&policy.name).await?.is_some() {
            // Vault answers this with a 500 and hvac's tests expect exactly that.
            return Err(LogicalError::Internal(format!(
                "key {:?} already exists",
                policy.name
            )));
        }
        store.save(&policy).await?;
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transit::cipher::KeyType;
    use crate::transit::policy::CreateOptions;

    fn backed_up(t: KeyType) -> Policy {
        let opts = CreateOptions {
            exportable: true,
            allow_plaintext_backup: true,
            ..CreateOptions::default()
        };
        Policy::new("k", t, 5, &opts)
    }

    #[test]
    fn round_trip_keeps_every_version_and_setting() {
        let mut p = backed_up(KeyType::Aes256Gcm96);
        p.rotate(6);
        p.rotate(7);
        p.min_decryption_version = 2;
        p.min_encryption_version = 3;
        p.trim(2).unwrap();
        let (c, _) = p.encrypt(b"x", b"", None, None).unwrap();
        let text = encode(&p).unwrap();
        let back = decode(&text, None).unwrap();
        assert_eq!(back.name, "k");
        assert_eq!(back.latest_version, 3);
        assert_eq!(back.min_available_version, 2);
        assert_eq!(back.keys.len(), 2);
        assert_eq!(back.decrypt(&c, b"", None).unwrap().0.as_slice(), b"x");
        let renamed = decode(&text, Some("other")).unwrap();
        assert_eq!(renamed.name, "other");
        assert!(decode(&text, Some("bad name")).is_err());
        let ed = backed_up(KeyType::Ed25519);
        let back = decode(&encode(&ed).unwrap(), None).unwrap();
        assert_eq!(back.keys[&1].key.as_slice(), ed.keys[&1].key.as_slice());
    }

    #[test]
    fn backup_needs_both_settings() {
        let mut p = Policy::new("k", KeyType::Aes256Gcm96, 0, &CreateOptions::default());
        let err = encode(&p).unwrap_err().to_string();
        assert!(err.contains("exporting is disallowed"), "{err}");
        p.allow_plaintext_backup = true;
        assert!(encode(&p).is_err());
        p.allow_plaintext_backup = false;
        p.exportable = true;
        let err = encode(&p).unwrap_err().to_string();
        assert!(err.contains("plaintext backup is disallowed"), "{err}");
        p.allow_plaintext_backup = true;
        assert!(encode(&p).is_ok());
    }

    #[test]
    fn hostile_backups_are_refused() {
        let b64 = |v: serde_json::Value| STANDARD.encode(v.to_string());
        let good = backed_up(KeyType::Aes128Gcm96);
        let mut json: serde_json::Value =
            serde_json::from_slice(&STANDARD.decode(encode(&good).unwrap().as_str()).unwrap())
                .unwrap();
        let cases: Vec<(String, &str)> = vec![
            ("%%%".to_owned(), "not base64"),
            (STANDARD.encode("{"), "not a Tresor"),
            (b64(json!({"policy": {}})), "not a Tresor"),
            (
                b64(json!({"tresor_transit_backup": 9, "policy": json["policy"]})),
                "format version",
            ),
            ("A".repeat(MAX_BACKUP_LEN + 1), "too large"),
        ];
        for (text, want) in cases {
            let err = decode(&text, None).unwrap_err().to_string();
            assert!(err.contains(want), "{want}: {err}");
        }
        // Inconsistent contents: a missing version, a wrong key length, bad minimums.
        json["policy"]["latest_version"] = json!(2);
        assert!(
            decode(&b64(json.clone()), None)
                .unwrap_err()
                .to_string()
                .contains("contiguous")
        );
        json["policy"]["latest_version"] = json!(1);
        json["policy"]["min_decryption_version"] = json!(4);
        assert!(decode(&b64(json.clone()), None).is_err());
        json["policy"]["min_decryption_version"] = json!(1);
        json["policy"]["keys"]["1"]["key"] = json!("AAAA");
        assert!(
            decode(&b64(json.clone()), None)
                .unwrap_err()
                .to_string()
                .contains("not a valid")
        );
    }
}
