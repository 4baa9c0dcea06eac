//! Decoding key shares as operators submit them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::CeremonyError;

/// Shortest share accepted: a 16-byte key (the shortest barrier key Vault ever used).
pub const MIN_SHARE_LEN: usize = 16;
/// Longest share accepted: a 32-byte key plus the one-byte x-coordinate.
pub const MAX_SHARE_LEN: usize = 32 + tresor_crypto::shamir::SHARE_OVERHEAD;

/// Decodes a share given as hex (tried first) or standard base64. A hex decoding of
/// impossible length falls back to base64, since some base64 strings are valid hex too.
pub fn decode_key_share(s: &str) -> Result<Vec<u8>, CeremonyError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(CeremonyError::EmptyShare);
    }
    let acceptable = |len: usize| (MIN_SHARE_LEN..=MAX_SHARE_LEN).contains(&len);
    if let Ok(bytes) = hex::decode(s)
        && acceptable(bytes.len())
    {
        return Ok(bytes);
    }
    let bytes = STANDARD
        .decode(s)
        .map_err(|_| CeremonyError::InvalidEncoding)?;
    if !acceptable(bytes.len()) {
        return Err(CeremonyError::ShareLength {
            min: MIN_SHARE_LEN,
            max: MAX_SHARE_LEN,
            got: bytes.len(),
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_base64_decode_to_the_same_share() {
        let share: Vec<u8> = (100..133).collect();
        assert_eq!(decode_key_share(&hex::encode(&share)).unwrap(), share);
        assert_eq!(decode_key_share(&hex::encode_upper(&share)).unwrap(), share);
        assert_eq!(decode_key_share(&STANDARD.encode(&share)).unwrap(), share);
        assert_eq!(
            decode_key_share(&format!(" {}\n", hex::encode(&share))).unwrap(),
            share
        );
    }

    #[test]
    fn hex_looking_base64_falls_back() {
        // 24 base64 characters that are all valid hex: as hex they give 12 bytes (too short),
        // as base64 they give 18 bytes.
        let s = "deadbeefdeadbeefdeadbeef";
        assert_eq!(decode_key_share(s).unwrap(), STANDARD.decode(s).unwrap());
    }

    #[test]
    fn garbage_and_wrong_lengths_are_refused() {
        let err = decode_key_share("not a key!").unwrap_err();
        assert_eq!(
            err.to_string(),
            "'key' must be a valid hex or base64 string"
        );
        assert!(matches!(
            decode_key_share(&STANDARD.encode([1u8; 8])),
            Err(CeremonyError::ShareLength { got: 8, .. })
        ));
        assert!(matches!(
            decode_key_share(&STANDARD.encode([1u8; 40])),
            Err(CeremonyError::ShareLength { got: 40, .. })
        ));
        assert_eq!(decode_key_share(""), Err(CeremonyError::EmptyShare));
    }
}
