//! The pkcs11 seal's stored formats, kept pure so they can be tested without an HSM.
//!
//! Ciphertext (`WrappedKey::ciphertext`): `IV (12 bytes) || AES-GCM ciphertext || tag (16
//! bytes)`, as `C_Encrypt` with `CKM_AES_GCM` returns it (tag appended), under the additional
//! authenticated data [`AAD`].
//!
//! Key id (`WrappedKey::key_id`): `<CKA_LABEL>#<CKA_ID in lower-case hex>`. The id part never
//! contains `#`, so the split is at the last `#`; either part may be empty (a key found by
//! `key_id` alone has no label recorded, a key created outside Tresor may have no `CKA_ID`).

use crate::error::Pkcs11Error;

/// GCM IV length: 96 bits, the length GCM is designed for.
pub(crate) const IV_LEN: usize = 12;
/// GCM tag length in bytes.
pub(crate) const TAG_LEN: usize = 16;
/// GCM tag length in bits, as `CK_GCM_PARAMS.ulTagBits` wants it.
pub(crate) const TAG_BITS: u64 = 128;
/// Additional authenticated data bound into every wrap.
pub(crate) const AAD: &[u8] = b"tresor/pkcs11-seal/v1";

/// Joins IV and sealed bytes (ciphertext with its tag) into the stored form.
pub(crate) fn encode(iv: &[u8; IV_LEN], sealed: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(IV_LEN + sealed.len());
    out.extend_from_slice(iv);
    out.extend_from_slice(sealed);
    out
}

/// Splits the stored form into IV and sealed bytes; refuses anything too short to hold an IV
/// and a tag.
pub(crate) fn decode(blob: &[u8]) -> Result<([u8; IV_LEN], &[u8]), Pkcs11Error> {
    if blob.len() < IV_LEN + TAG_LEN {
        return Err(Pkcs11Error::MalformedBlob);
    }
    let (iv, sealed) = blob.split_at(IV_LEN);
    let iv: [u8; IV_LEN] = iv.try_into().map_err(|_| Pkcs11Error::MalformedBlob)?;
    Ok((iv, sealed))
}

/// The identity of an HSM key as recorded in a wrapped key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct KeyName {
    /// `CKA_LABEL` (may be empty).
    pub(crate) label: String,
    /// `CKA_ID` (may be empty).
    pub(crate) id: Vec<u8>,
}

impl KeyName {
    /// The `key_id` string stored with wrapped keys.
    pub(crate) fn key_id(&self) -> String {
        format!("{}#{}", self.label, hex::encode(&self.id))
    }

    /// Parses a stored `key_id`; a string in any other format is an unknown key.
    pub(crate) fn parse(key_id: &str) -> Result<KeyName, Pkcs11Error> {
        let unknown = || Pkcs11Error::UnknownKey(key_id.to_owned());
        let (label, id) = key_id.rsplit_once('#').ok_or_else(unknown)?;
        let id = hex::decode(id).map_err(|_| unknown())?;
        if label.is_empty() && id.is_empty() {
            return Err(unknown());
        }
        Ok(KeyName {
            label: label.to_owned(),
            id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_round_trip() {
        let iv = [7u8; IV_LEN];
        let sealed = vec![1u8; 40];
        let blob = encode(&iv, &sealed);
        assert_eq!(blob.len(), IV_LEN + 40);
        let (iv2, sealed2) = decode(&blob).unwrap();
        assert_eq!(iv2, iv);
        assert_eq!(sealed2, &sealed[..]);
    }

    #[test]
    fn short_blobs_are_malformed() {
        assert!(decode(&[]).is_err());
        assert!(decode(&[0u8; IV_LEN + TAG_LEN - 1]).is_err());
        assert!(decode(&[0u8; IV_LEN + TAG_LEN]).is_ok());
    }

    #[test]
    fn key_id_round_trip() {
        for name in [
            KeyName {
                label: "root#wrap".into(),
                id: vec![0xde, 0xad],
            },
            KeyName {
                label: "only-label".into(),
                id: vec![],
            },
            KeyName {
                label: String::new(),
                id: vec![1, 2, 3],
            },
        ] {
            let text = name.key_id();
            assert_eq!(KeyName::parse(&text).unwrap(), name, "{text}");
        }
        assert_eq!(
            KeyName {
                label: "k".into(),
                id: vec![0xab]
            }
            .key_id(),
            "k#ab"
        );
    }

    #[test]
    fn foreign_key_ids_are_unknown() {
        for bad in ["", "#", "no-separator", "label#zz", "arn:aws:kms:key/1"] {
            assert!(
                matches!(KeyName::parse(bad), Err(Pkcs11Error::UnknownKey(k)) if k == bad),
                "{bad}"
            );
        }
    }
}
