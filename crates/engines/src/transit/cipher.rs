//! Key types and the authenticated encryption behind them.
//!
//! Both supported types are AES-GCM with a random 96-bit nonce; a sealed blob is
//! `nonce (12 bytes) || ciphertext || tag (16 bytes)`, the layout Vault's transit uses.

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm::{AeadCore, Aes128Gcm, Aes256Gcm, Nonce};
use zeroize::Zeroizing;

/// Length of the nonce at the start of every blob.
const NONCE_LEN: usize = 12;
/// Length of the tag at the end of every blob.
const TAG_LEN: usize = 16;

/// A transit key type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum KeyType {
    /// AES-256-GCM, 96-bit nonce (the default).
    #[serde(rename = "aes256-gcm96")]
    Aes256Gcm96,
    /// AES-128-GCM, 96-bit nonce.
    #[serde(rename = "aes128-gcm96")]
    Aes128Gcm96,
}

/// Encryption or decryption failed; deliberately carries no detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SealError;

impl KeyType {
    /// The type named `name` (Vault's spelling), if supported.
    pub(crate) fn parse(name: &str) -> Option<Self> {
        match name {
            "aes256-gcm96" => Some(KeyType::Aes256Gcm96),
            "aes128-gcm96" => Some(KeyType::Aes128Gcm96),
            _ => None,
        }
    }

    /// Vault's name of the type.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            KeyType::Aes256Gcm96 => "aes256-gcm96",
            KeyType::Aes128Gcm96 => "aes128-gcm96",
        }
    }

    /// Length of the key material in bytes.
    pub(crate) fn key_len(self) -> usize {
        match self {
            KeyType::Aes256Gcm96 => 32,
            KeyType::Aes128Gcm96 => 16,
        }
    }

    /// Fresh key material from the operating system's random source.
    pub(crate) fn generate(self) -> Zeroizing<Vec<u8>> {
        random_secret(self.key_len())
    }

    /// Encrypts `plaintext` under `key`, authenticating `aad`.
    pub(crate) fn seal(
        self,
        key: &[u8],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, SealError> {
        match self {
            KeyType::Aes256Gcm96 => seal_with::<Aes256Gcm>(key, aad, plaintext),
            KeyType::Aes128Gcm96 => seal_with::<Aes128Gcm>(key, aad, plaintext),
        }
    }

    /// Decrypts a blob made by [`KeyType::seal`] with the same key and `aad`.
    pub(crate) fn open(
        self,
        key: &[u8],
        aad: &[u8],
        blob: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        match self {
            KeyType::Aes256Gcm96 => open_with::<Aes256Gcm>(key, aad, blob),
            KeyType::Aes128Gcm96 => open_with::<Aes128Gcm>(key, aad, blob),
        }
    }
}

/// `n` random bytes in a buffer that is wiped on drop.
pub(crate) fn random_secret(n: usize) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(vec![0u8; n]);
    OsRng.fill_bytes(out.as_mut_slice());
    out
}

fn seal_with<C: Aead + AeadCore + KeyInit>(
    key: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, SealError> {
    let cipher = C::new_from_slice(key).map_err(|_| SealError)?;
    let nonce = C::generate_nonce(&mut OsRng);
    let sealed = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| SealError)?;
    let mut out = Vec::with_capacity(nonce.len() + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

fn open_with<C: Aead + AeadCore + KeyInit>(
    key: &[u8],
    aad: &[u8],
    blob: &[u8],
) -> Result<Zeroizing<Vec<u8>>, SealError> {
    if blob.len() < NONCE_LEN + TAG_LEN {
        return Err(SealError);
    }
    let cipher = C::new_from_slice(key).map_err(|_| SealError)?;
    let (nonce, sealed) = blob.split_at(NONCE_LEN);
    cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad })
        .map(Zeroizing::new)
        .map_err(|_| SealError)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in [KeyType::Aes256Gcm96, KeyType::Aes128Gcm96] {
            assert_eq!(KeyType::parse(t.as_str()), Some(t));
            assert_eq!(t.generate().len(), t.key_len());
        }
        assert_eq!(KeyType::parse("chacha20-poly1305"), None);
        assert_eq!(KeyType::parse("rsa-2048"), None);
    }

    #[test]
    fn seal_open_and_tamper() {
        for t in [KeyType::Aes256Gcm96, KeyType::Aes128Gcm96] {
            let key = t.generate();
            let blob = t.seal(&key, b"ad", b"attack at dawn").unwrap();
            assert_eq!(blob.len(), 14 + NONCE_LEN + TAG_LEN);
            assert_eq!(
                t.open(&key, b"ad", &blob).unwrap().as_slice(),
                b"attack at dawn"
            );
            assert_eq!(t.open(&key, b"other", &blob), Err(SealError));
            assert_eq!(t.open(&t.generate(), b"ad", &blob), Err(SealError));
            let mut bad = blob.clone();
            bad[NONCE_LEN] ^= 1;
            assert_eq!(t.open(&key, b"ad", &bad), Err(SealError));
            assert_eq!(
                t.open(&key, b"ad", &blob[..NONCE_LEN + TAG_LEN - 1]),
                Err(SealError)
            );
            // Fresh nonce per message.
            assert_ne!(
                t.seal(&key, b"", b"x").unwrap(),
                t.seal(&key, b"", b"x").unwrap()
            );
        }
    }

    #[test]
    fn wrong_key_length_is_an_error_not_a_panic() {
        let t = KeyType::Aes256Gcm96;
        assert_eq!(t.seal(&[0u8; 16], b"", b"x"), Err(SealError));
        assert_eq!(t.open(&[0u8; 5], b"", &[0u8; 40]), Err(SealError));
    }
}
