//! Key types and the authenticated encryption behind the symmetric ones.
//!
//! The AEAD types (AES-GCM and ChaCha20-Poly1305) use a 96-bit nonce; a sealed blob is
//! `nonce (12 bytes) || ciphertext || tag (16 bytes)`, the layout Vault's transit uses. The
//! other types sign (see [`super::asym`]).

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm::{AeadCore, Aes128Gcm, Aes256Gcm, Nonce};
use chacha20poly1305::ChaCha20Poly1305;
use zeroize::Zeroizing;

/// Length of the nonce at the start of every blob.
pub(crate) const NONCE_LEN: usize = 12;
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
    /// ChaCha20-Poly1305.
    #[serde(rename = "chacha20-poly1305")]
    Chacha20Poly1305,
    /// Ed25519 signatures.
    #[serde(rename = "ed25519")]
    Ed25519,
    /// ECDSA on NIST P-256.
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
    /// ECDSA on NIST P-384.
    #[serde(rename = "ecdsa-p384")]
    EcdsaP384,
    /// ECDSA on NIST P-521.
    #[serde(rename = "ecdsa-p521")]
    EcdsaP521,
    /// RSA, 2048-bit modulus.
    #[serde(rename = "rsa-2048")]
    Rsa2048,
    /// RSA, 3072-bit modulus.
    #[serde(rename = "rsa-3072")]
    Rsa3072,
    /// RSA, 4096-bit modulus.
    #[serde(rename = "rsa-4096")]
    Rsa4096,
}

/// Encryption or decryption failed; deliberately carries no detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SealError;

/// Every key type, in the order the docs list them.
pub(crate) const ALL_TYPES: [KeyType; 10] = [
    KeyType::Aes128Gcm96,
    KeyType::Aes256Gcm96,
    KeyType::Chacha20Poly1305,
    KeyType::Ed25519,
    KeyType::EcdsaP256,
    KeyType::EcdsaP384,
    KeyType::EcdsaP521,
    KeyType::Rsa2048,
    KeyType::Rsa3072,
    KeyType::Rsa4096,
];

impl KeyType {
    /// The type named `name` (Vault's spelling), if supported.
    pub(crate) fn parse(name: &str) -> Option<Self> {
        ALL_TYPES.into_iter().find(|t| t.as_str() == name)
    }

    /// Vault's name of the type.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            KeyType::Aes256Gcm96 => "aes256-gcm96",
            KeyType::Aes128Gcm96 => "aes128-gcm96",
            KeyType::Chacha20Poly1305 => "chacha20-poly1305",
            KeyType::Ed25519 => "ed25519",
            KeyType::EcdsaP256 => "ecdsa-p256",
            KeyType::EcdsaP384 => "ecdsa-p384",
            KeyType::EcdsaP521 => "ecdsa-p521",
            KeyType::Rsa2048 => "rsa-2048",
            KeyType::Rsa3072 => "rsa-3072",
            KeyType::Rsa4096 => "rsa-4096",
        }
    }

    /// Whether the type encrypts (the AEAD types).
    pub(crate) fn is_aead(self) -> bool {
        matches!(
            self,
            KeyType::Aes256Gcm96 | KeyType::Aes128Gcm96 | KeyType::Chacha20Poly1305
        )
    }

    /// Whether the type signs.
    pub(crate) fn signs(self) -> bool {
        !self.is_aead()
    }

    /// Whether keys of this type may be `derived` from a context.
    pub(crate) fn derives(self) -> bool {
        self.is_aead() || self == KeyType::Ed25519
    }

    /// Length of a symmetric key (or an Ed25519 seed) in bytes; 0 for the other types.
    pub(crate) fn key_len(self) -> usize {
        match self {
            KeyType::Aes128Gcm96 => 16,
            KeyType::Aes256Gcm96 | KeyType::Chacha20Poly1305 | KeyType::Ed25519 => 32,
            _ => 0,
        }
    }

    /// Encrypts `plaintext` under `key`, authenticating `aad`, with a random nonce unless
    /// `nonce` is given (convergent encryption).
    pub(crate) fn seal(
        self,
        key: &[u8],
        aad: &[u8],
        plaintext: &[u8],
        nonce: Option<&[u8; NONCE_LEN]>,
    ) -> Result<Vec<u8>, SealError> {
        match self {
            KeyType::Aes256Gcm96 => seal_with::<Aes256Gcm>(key, aad, plaintext, nonce),
            KeyType::Aes128Gcm96 => seal_with::<Aes128Gcm>(key, aad, plaintext, nonce),
            KeyType::Chacha20Poly1305 => seal_with::<ChaCha20Poly1305>(key, aad, plaintext, nonce),
            _ => Err(SealError),
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
            KeyType::Chacha20Poly1305 => open_with::<ChaCha20Poly1305>(key, aad, blob),
            _ => Err(SealError),
        }
    }
}

/// `n` random bytes in a buffer that is wiped on drop.
pub(crate) fn random_secret(n: usize) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(vec![0u8; n]);
    OsRng.fill_bytes(out.as_mut_slice());
    out
}

fn seal_with<C: Aead + AeadCore<NonceSize = aes_gcm::aead::consts::U12> + KeyInit>(
    key: &[u8],
    aad: &[u8],
    plaintext: &[u8],
    fixed: Option<&[u8; NONCE_LEN]>,
) -> Result<Vec<u8>, SealError> {
    let cipher = C::new_from_slice(key).map_err(|_| SealError)?;
    let nonce = match fixed {
        Some(n) => *Nonce::from_slice(n),
        None => C::generate_nonce(&mut OsRng),
    };
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

fn open_with<C: Aead + AeadCore<NonceSize = aes_gcm::aead::consts::U12> + KeyInit>(
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
        for t in ALL_TYPES {
            assert_eq!(KeyType::parse(t.as_str()), Some(t));
            assert_eq!(t.signs(), !t.is_aead());
        }
        assert_eq!(KeyType::parse("rsa-1024"), None);
        assert_eq!(KeyType::parse(""), None);
        assert!(KeyType::Ed25519.derives() && !KeyType::EcdsaP256.derives());
    }

    #[test]
    fn seal_open_and_tamper() {
        for t in [
            KeyType::Aes256Gcm96,
            KeyType::Aes128Gcm96,
            KeyType::Chacha20Poly1305,
        ] {
            let key = random_secret(t.key_len());
            let blob = t.seal(&key, b"ad", b"attack at dawn", None).unwrap();
            assert_eq!(blob.len(), 14 + NONCE_LEN + TAG_LEN);
            assert_eq!(
                t.open(&key, b"ad", &blob).unwrap().as_slice(),
                b"attack at dawn"
            );
            assert_eq!(t.open(&key, b"other", &blob), Err(SealError));
            assert_eq!(
                t.open(&random_secret(t.key_len()), b"ad", &blob),
                Err(SealError)
            );
            let mut bad = blob.clone();
            bad[NONCE_LEN] ^= 1;
            assert_eq!(t.open(&key, b"ad", &bad), Err(SealError));
            assert_eq!(
                t.open(&key, b"ad", &blob[..NONCE_LEN + TAG_LEN - 1]),
                Err(SealError)
            );
            // Fresh nonce per message.
            assert_ne!(
                t.seal(&key, b"", b"x", None).unwrap(),
                t.seal(&key, b"", b"x", None).unwrap()
            );
            // A fixed nonce (convergent encryption) gives the same blob every time.
            let n = [7u8; NONCE_LEN];
            let fixed = t.seal(&key, b"", b"x", Some(&n)).unwrap();
            assert_eq!(fixed, t.seal(&key, b"", b"x", Some(&n)).unwrap());
            assert_eq!(&fixed[..NONCE_LEN], &n);
            assert_eq!(t.open(&key, b"", &fixed).unwrap().as_slice(), b"x");
        }
    }

    #[test]
    fn wrong_key_length_is_an_error_not_a_panic() {
        let t = KeyType::Aes256Gcm96;
        assert_eq!(t.seal(&[0u8; 16], b"", b"x", None), Err(SealError));
        assert_eq!(t.open(&[0u8; 5], b"", &[0u8; 40]), Err(SealError));
        // Signing types do not encrypt.
        assert_eq!(
            KeyType::Ed25519.seal(&[0u8; 32], b"", b"x", None),
            Err(SealError)
        );
    }
}
