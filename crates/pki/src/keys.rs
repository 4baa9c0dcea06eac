//! Key types, key generation and the private key formats handed to clients.
//!
//! Keys are kept as PKCS #8 DER (what the signer, `rcgen` on `ring`, loads). RSA keys are
//! generated with the `rsa` crate (ring cannot generate them), EC and Ed25519 keys by ring.
//! Clients get PKCS #1 (`RSA PRIVATE KEY`) or SEC 1 (`EC PRIVATE KEY`) by default, as Vault
//! answers, or PKCS #8 (`PRIVATE KEY`) with `private_key_format=pkcs8`.

use rcgen::{KeyPair, SignatureAlgorithm};
use zeroize::Zeroizing;

use crate::error::PkiError;

/// A key type with its size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum KeySpec {
    /// RSA with a modulus of this many bits (2048, 3072 or 4096), signing with SHA-256.
    Rsa(u32),
    /// ECDSA on P-256 (256) or P-384 (384).
    Ec(u32),
    /// Ed25519.
    Ed25519,
}

impl KeySpec {
    /// Reads `key_type` (`rsa`, `ec`, `ed25519`; empty means `rsa`) and `key_bits` (0 means
    /// the type's default: 2048 for RSA, 256 for EC).
    pub(crate) fn parse(key_type: &str, key_bits: u64) -> Result<Self, PkiError> {
        let bad_bits = |t: &str| {
            PkiError::Invalid(format!(
                "unsupported key_bits {key_bits} for key_type {t:?}"
            ))
        };
        match key_type {
            "" | "rsa" => match key_bits {
                0 | 2048 => Ok(KeySpec::Rsa(2048)),
                3072 => Ok(KeySpec::Rsa(3072)),
                4096 => Ok(KeySpec::Rsa(4096)),
                _ => Err(bad_bits("rsa")),
            },
            "ec" => match key_bits {
                0 | 256 => Ok(KeySpec::Ec(256)),
                384 => Ok(KeySpec::Ec(384)),
                _ => Err(bad_bits("ec")),
            },
            "ed25519" => match key_bits {
                0 | 256 => Ok(KeySpec::Ed25519),
                _ => Err(bad_bits("ed25519")),
            },
            other => Err(PkiError::Invalid(format!(
                "unsupported key_type {:?}: use rsa, ec or ed25519",
                other.chars().take(32).collect::<String>()
            ))),
        }
    }

    /// The type's name (`rsa`, `ec`, `ed25519`).
    pub(crate) fn type_name(self) -> &'static str {
        match self {
            KeySpec::Rsa(_) => "rsa",
            KeySpec::Ec(_) => "ec",
            KeySpec::Ed25519 => "ed25519",
        }
    }

    /// The key's size in bits (256 for Ed25519).
    pub(crate) fn bits(self) -> u32 {
        match self {
            KeySpec::Rsa(b) | KeySpec::Ec(b) => b,
            KeySpec::Ed25519 => 256,
        }
    }

    /// The signature algorithm certificates signed with this key use.
    fn algorithm(self) -> &'static SignatureAlgorithm {
        match self {
            KeySpec::Rsa(_) => &rcgen::PKCS_RSA_SHA256,
            KeySpec::Ec(384) => &rcgen::PKCS_ECDSA_P384_SHA384,
            KeySpec::Ec(_) => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeySpec::Ed25519 => &rcgen::PKCS_ED25519,
        }
    }
}

/// A private key: its spec and PKCS #8 DER.
pub(crate) struct PrivateKey {
    /// The key's type and size.
    pub(crate) spec: KeySpec,
    /// PKCS #8 DER.
    pub(crate) pkcs8: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateKey")
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

/// How a private key is written out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyFormat {
    /// PKCS #1 for RSA, SEC 1 for EC, PKCS #8 for Ed25519 (Vault's `der`/default).
    Native,
    /// PKCS #8 for every type.
    Pkcs8,
}

impl PrivateKey {
    /// A fresh key. RSA takes a while; call it off the async threads.
    pub(crate) fn generate(spec: KeySpec) -> Result<Self, PkiError> {
        let pkcs8 = match spec {
            KeySpec::Rsa(bits) => {
                use rsa::pkcs8::EncodePrivateKey;
                let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, bits as usize)
                    .map_err(|e| PkiError::Crypto(format!("RSA key generation: {e}")))?;
                let doc = key
                    .to_pkcs8_der()
                    .map_err(|e| PkiError::Crypto(format!("RSA key encoding: {e}")))?;
                Zeroizing::new(doc.as_bytes().to_vec())
            }
            _ => Zeroizing::new(KeyPair::generate_for(spec.algorithm())?.serialize_der()),
        };
        Ok(Self { spec, pkcs8 })
    }

    /// A stored key.
    pub(crate) fn from_pkcs8(spec: KeySpec, pkcs8: Vec<u8>) -> Self {
        Self {
            spec,
            pkcs8: Zeroizing::new(pkcs8),
        }
    }

    /// The signer over this key.
    pub(crate) fn key_pair(&self) -> Result<KeyPair, PkiError> {
        // The PEM entry point takes plain text, so no DER wrapper type is needed here.
        let pem = Zeroizing::new(crate::pem::encode("PRIVATE KEY", &self.pkcs8));
        Ok(KeyPair::from_pkcs8_pem_and_sign_algo(
            &pem,
            self.spec.algorithm(),
        )?)
    }

    /// The key as DER in `format`.
    pub(crate) fn to_der(&self, format: KeyFormat) -> Result<Zeroizing<Vec<u8>>, PkiError> {
        let enc = |e: &dyn std::fmt::Display| PkiError::Crypto(format!("key encoding: {e}"));
        match (format, self.spec) {
            (KeyFormat::Pkcs8, _) | (KeyFormat::Native, KeySpec::Ed25519) => Ok(self.pkcs8.clone()),
            (KeyFormat::Native, KeySpec::Rsa(_)) => {
                use rsa::pkcs1::EncodeRsaPrivateKey;
                use rsa::pkcs8::DecodePrivateKey;
                let key = rsa::RsaPrivateKey::from_pkcs8_der(&self.pkcs8).map_err(|e| enc(&e))?;
                let doc = key.to_pkcs1_der().map_err(|e| enc(&e))?;
                Ok(Zeroizing::new(doc.as_bytes().to_vec()))
            }
            (KeyFormat::Native, KeySpec::Ec(384)) => {
                use p384::pkcs8::DecodePrivateKey;
                let key = p384::SecretKey::from_pkcs8_der(&self.pkcs8).map_err(|e| enc(&e))?;
                Ok(Zeroizing::new(
                    key.to_sec1_der().map_err(|e| enc(&e))?.to_vec(),
                ))
            }
            (KeyFormat::Native, KeySpec::Ec(_)) => {
                use p256::pkcs8::DecodePrivateKey;
                let key = p256::SecretKey::from_pkcs8_der(&self.pkcs8).map_err(|e| enc(&e))?;
                Ok(Zeroizing::new(
                    key.to_sec1_der().map_err(|e| enc(&e))?.to_vec(),
                ))
            }
        }
    }

    /// The PEM label of the key in `format`.
    pub(crate) fn pem_label(&self, format: KeyFormat) -> &'static str {
        match (format, self.spec) {
            (KeyFormat::Native, KeySpec::Rsa(_)) => "RSA PRIVATE KEY",
            (KeyFormat::Native, KeySpec::Ec(_)) => "EC PRIVATE KEY",
            _ => "PRIVATE KEY",
        }
    }

    /// The key as PEM in `format`.
    pub(crate) fn to_pem(&self, format: KeyFormat) -> Result<Zeroizing<String>, PkiError> {
        let der = self.to_der(format)?;
        Ok(Zeroizing::new(crate::pem::encode(
            self.pem_label(format),
            &der,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_with_vault_defaults() {
        assert_eq!(KeySpec::parse("", 0).ok(), Some(KeySpec::Rsa(2048)));
        assert_eq!(KeySpec::parse("rsa", 4096).ok(), Some(KeySpec::Rsa(4096)));
        assert_eq!(KeySpec::parse("ec", 0).ok(), Some(KeySpec::Ec(256)));
        assert_eq!(KeySpec::parse("ec", 384).ok(), Some(KeySpec::Ec(384)));
        assert_eq!(KeySpec::parse("ed25519", 0).ok(), Some(KeySpec::Ed25519));
        assert!(KeySpec::parse("rsa", 1024).is_err());
        assert!(KeySpec::parse("ec", 521).is_err());
        assert!(KeySpec::parse("dsa", 0).is_err());
    }

    #[test]
    fn ec_and_ed25519_keys_load_and_export() {
        for spec in [KeySpec::Ec(256), KeySpec::Ec(384), KeySpec::Ed25519] {
            let key = PrivateKey::generate(spec).expect("generate");
            assert!(key.key_pair().is_ok(), "{spec:?}");
            let native = key.to_pem(KeyFormat::Native).expect("pem");
            assert!(
                native.contains(key.pem_label(KeyFormat::Native)),
                "{spec:?}"
            );
            let pkcs8 = key.to_pem(KeyFormat::Pkcs8).expect("pem");
            assert!(pkcs8.starts_with("-----BEGIN PRIVATE KEY-----"));
        }
    }

    #[test]
    fn rsa_keys_load_and_export_as_pkcs1() {
        let key = PrivateKey::generate(KeySpec::Rsa(2048)).expect("generate");
        assert!(key.key_pair().is_ok());
        let pem = key.to_pem(KeyFormat::Native).expect("pem");
        assert!(pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    }
}
