//! The wrapped (sealed) form of a key.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::SealError;

/// A key encrypted by a seal, as stored in plaintext storage. JSON:
/// `{"seal_type":"shamir","key_id":"...","ciphertext":"<base64 std>"}`.
///
/// `key_id` names the seal key that wrapped it, so a seal whose key has since been rotated
/// (a KMS key version, a new Shamir key-encryption key) can still pick the right key, or say
/// clearly that it no longer has it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedKey {
    /// The seal type that produced this ("shamir", "awskms", "test", ...).
    pub seal_type: String,
    /// Identifies the seal key used.
    pub key_id: String,
    /// The seal-specific ciphertext.
    #[serde(serialize_with = "to_base64", deserialize_with = "from_base64")]
    pub ciphertext: Vec<u8>,
}

impl WrappedKey {
    /// The JSON form.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing strings and bytes into a Vec cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses the JSON form.
    pub fn from_json(bytes: &[u8]) -> Result<Self, SealError> {
        serde_json::from_slice(bytes).map_err(|e| SealError::Malformed(e.to_string()))
    }

    /// The stored form of the copies of one key wrapped by a [`SealSet`](crate::SealSet): a
    /// JSON array of wrapped keys.
    pub fn list_to_json(keys: &[WrappedKey]) -> Vec<u8> {
        serde_json::to_vec(keys).unwrap_or_default()
    }

    /// Parses a stored wrapped key in either form: the single object written by the Shamir
    /// seal, or the array written for a seal set. An empty array is refused.
    pub fn list_from_json(bytes: &[u8]) -> Result<Vec<WrappedKey>, SealError> {
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        let keys = if first == Some(&b'[') {
            serde_json::from_slice::<Vec<WrappedKey>>(bytes)
                .map_err(|e| SealError::Malformed(e.to_string()))?
        } else {
            vec![Self::from_json(bytes)?]
        };
        if keys.is_empty() {
            return Err(SealError::Malformed("no wrapped key in the list".into()));
        }
        Ok(keys)
    }
}

fn to_base64<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&STANDARD.encode(bytes))
}

fn from_base64<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let text = String::deserialize(d)?;
    STANDARD.decode(text).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_uses_base64() {
        let w = WrappedKey {
            seal_type: "shamir".into(),
            key_id: "abc".into(),
            ciphertext: vec![0, 1, 2, 255],
        };
        let json = w.to_json();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["ciphertext"], "AAEC/w==");
        assert_eq!(v["seal_type"], "shamir");
        assert_eq!(v["key_id"], "abc");
        assert_eq!(WrappedKey::from_json(&json).unwrap(), w);
    }

    #[test]
    fn list_form_reads_both_shapes() {
        let w = WrappedKey {
            seal_type: "shamir".into(),
            key_id: "abc".into(),
            ciphertext: vec![9, 8],
        };
        assert_eq!(
            WrappedKey::list_from_json(&w.to_json()).unwrap(),
            vec![w.clone()]
        );
        let two = vec![
            w.clone(),
            WrappedKey {
                seal_type: "test".into(),
                ..w.clone()
            },
        ];
        let json = WrappedKey::list_to_json(&two);
        assert_eq!(json.first(), Some(&b'['));
        assert_eq!(WrappedKey::list_from_json(&json).unwrap(), two);
        assert!(WrappedKey::list_from_json(b" []").is_err());
        assert!(WrappedKey::list_from_json(b"[{}]").is_err());
    }

    #[test]
    fn malformed_json_is_an_error() {
        assert!(matches!(
            WrappedKey::from_json(b"{\"seal_type\":\"x\"}"),
            Err(SealError::Malformed(_))
        ));
        assert!(matches!(
            WrappedKey::from_json(br#"{"seal_type":"x","key_id":"k","ciphertext":"!!"}"#),
            Err(SealError::Malformed(_))
        ));
    }
}
