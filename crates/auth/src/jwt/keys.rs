//! Public keys that verify JWT signatures: PEM public keys (`jwt_validation_pubkeys`,
//! Kubernetes `pem_keys`: SubjectPublicKeyInfo or PKCS#1 RSA), and JSON Web Keys from a JWKS
//! document. RSA (RS*/PS*), ECDSA P-256/P-384 (ES256/ES384) and Ed25519 (EdDSA) keys; the
//! signature check itself is `ring`'s. Pure; every length is bounded by its input.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::Value;

use super::token::Alg;

/// Most keys one PEM list or JWKS document may hold.
pub const MAX_KEYS: usize = 100;

/// Why a key could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not a PEM block of a public key.
    #[error("not a PEM public key: {0}")]
    Pem(String),
    /// The DER inside is not a public key this server knows.
    #[error("unsupported or malformed public key: {0}")]
    Der(String),
    /// A JWKS document that is not one.
    #[error("invalid JWKS: {0}")]
    Jwks(String),
}

/// The kind of a key and its material.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyMaterial {
    /// RSA modulus and exponent, big-endian without leading zeros.
    Rsa {
        /// Modulus.
        n: Vec<u8>,
        /// Public exponent.
        e: Vec<u8>,
    },
    /// An uncompressed P-256 point (`04 || x || y`).
    P256(Vec<u8>),
    /// An uncompressed P-384 point.
    P384(Vec<u8>),
    /// A raw Ed25519 public key.
    Ed25519(Vec<u8>),
}

/// A verification key, with the key id and algorithm a JWK may pin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    /// `kid` of a JWK (none for PEM keys).
    pub kid: Option<String>,
    /// `alg` of a JWK, when it pins one.
    pub alg: Option<Alg>,
    /// The key.
    pub material: KeyMaterial,
}

impl PublicKey {
    /// Whether this key verifies `signature` of `message` under `alg`. A key of another kind,
    /// or pinned to another algorithm, verifies nothing.
    pub fn verify(&self, alg: Alg, message: &[u8], sig: &[u8]) -> bool {
        if self.alg.is_some_and(|a| a != alg) {
            return false;
        }
        match (&self.material, alg) {
            (KeyMaterial::Rsa { n, e }, _) => {
                let params: &signature::RsaParameters = match alg {
                    Alg::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                    Alg::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                    Alg::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                    Alg::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
                    Alg::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
                    Alg::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
                    _ => return false,
                };
                RsaPublicKeyComponents { n, e }
                    .verify(params, message, sig)
                    .is_ok()
            }
            (KeyMaterial::P256(p), Alg::ES256) => {
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, p)
                    .verify(message, sig)
                    .is_ok()
            }
            (KeyMaterial::P384(p), Alg::ES384) => {
                UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, p)
                    .verify(message, sig)
                    .is_ok()
            }
            (KeyMaterial::Ed25519(k), Alg::EdDSA) => UnparsedPublicKey::new(&signature::ED25519, k)
                .verify(message, sig)
                .is_ok(),
            _ => false,
        }
    }
}

// --- DER ---------------------------------------------------------------------------------

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OID: u8 = 0x06;

const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// Reads one DER element of tag `tag` from the front of `input`: its contents and the rest.
fn element(input: &[u8], tag: u8) -> Result<(&[u8], &[u8]), KeyError> {
    let bad = |m: &str| KeyError::Der(m.to_owned());
    let (&t, rest) = input.split_first().ok_or_else(|| bad("truncated"))?;
    if t != tag {
        return Err(bad("unexpected element"));
    }
    let (&l, rest) = rest.split_first().ok_or_else(|| bad("truncated"))?;
    let (len, rest) = if l < 0x80 {
        (usize::from(l), rest)
    } else {
        let n = usize::from(l & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err(bad("bad length"));
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return Err(bad("truncated"));
    }
    Ok(rest.split_at(len))
}

/// An unsigned big-endian integer without leading zero bytes.
fn unsigned(bytes: &[u8]) -> Vec<u8> {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes[first..].to_vec()
}

/// A PKCS#1 `RSAPublicKey`.
fn rsa_public_key(der: &[u8]) -> Result<KeyMaterial, KeyError> {
    let (seq, _) = element(der, SEQUENCE)?;
    let (n, rest) = element(seq, INTEGER)?;
    let (e, _) = element(rest, INTEGER)?;
    Ok(KeyMaterial::Rsa {
        n: unsigned(n),
        e: unsigned(e),
    })
}

/// A `SubjectPublicKeyInfo` of an RSA, EC (P-256/P-384) or Ed25519 key.
pub fn spki(der: &[u8]) -> Result<KeyMaterial, KeyError> {
    let (seq, _) = element(der, SEQUENCE)?;
    let (alg_id, rest) = element(seq, SEQUENCE)?;
    let (bits, _) = element(rest, BIT_STRING)?;
    let key = match bits.split_first() {
        Some((0, key)) => key,
        _ => return Err(KeyError::Der("bad bit string".into())),
    };
    let (oid, params) = element(alg_id, OID)?;
    match oid {
        OID_RSA => rsa_public_key(key),
        OID_EC => {
            let (curve, _) = element(params, OID)?;
            match curve {
                OID_P256 => Ok(KeyMaterial::P256(key.to_vec())),
                OID_P384 => Ok(KeyMaterial::P384(key.to_vec())),
                _ => Err(KeyError::Der("unsupported elliptic curve".into())),
            }
        }
        OID_ED25519 => Ok(KeyMaterial::Ed25519(key.to_vec())),
        _ => Err(KeyError::Der("unsupported key algorithm".into())),
    }
}

// --- PEM ---------------------------------------------------------------------------------

/// The `(label, DER)` blocks of a PEM text.
fn pem_blocks(text: &str) -> Result<Vec<(String, Vec<u8>)>, KeyError> {
    let mut out = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines().map(str::trim) {
        if let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            current = Some((label.to_owned(), String::new()));
        } else if line.starts_with("-----END ") {
            let (label, body) = current
                .take()
                .ok_or_else(|| KeyError::Pem("END without BEGIN".into()))?;
            let der = STANDARD
                .decode(body.as_bytes())
                .map_err(|_| KeyError::Pem("body is not base64".into()))?;
            out.push((label, der));
            if out.len() > MAX_KEYS {
                return Err(KeyError::Pem(format!("more than {MAX_KEYS} blocks")));
            }
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
        }
    }
    if current.is_some() {
        return Err(KeyError::Pem("BEGIN without END".into()));
    }
    Ok(out)
}

/// Every public key of a PEM text (`PUBLIC KEY` or `RSA PUBLIC KEY` blocks); an empty result
/// or any other block is an error.
pub fn from_pem(text: &str) -> Result<Vec<PublicKey>, KeyError> {
    let blocks = pem_blocks(text)?;
    if blocks.is_empty() {
        return Err(KeyError::Pem("no PEM block".into()));
    }
    blocks
        .into_iter()
        .map(|(label, der)| {
            let material = match label.as_str() {
                "PUBLIC KEY" => spki(&der)?,
                "RSA PUBLIC KEY" => rsa_public_key(&der)?,
                other => return Err(KeyError::Pem(format!("unsupported block {other:?}"))),
            };
            Ok(PublicKey {
                kid: None,
                alg: None,
                material,
            })
        })
        .collect()
}

// --- JWK ---------------------------------------------------------------------------------

fn b64url(jwk: &serde_json::Map<String, Value>, field: &str) -> Option<Vec<u8>> {
    jwk.get(field)
        .and_then(Value::as_str)
        .and_then(|s| URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok())
}

/// One JWK; `None` when it is not a signature key of a supported kind (skipped, as other
/// servers skip them).
fn jwk(jwk: &serde_json::Map<String, Value>) -> Option<PublicKey> {
    if jwk
        .get("use")
        .and_then(Value::as_str)
        .is_some_and(|u| u != "sig")
    {
        return None;
    }
    let alg = match jwk.get("alg").and_then(Value::as_str) {
        Some(name) => Some(Alg::from_name(name)?),
        None => None,
    };
    let material = match jwk.get("kty").and_then(Value::as_str)? {
        "RSA" => KeyMaterial::Rsa {
            n: unsigned(&b64url(jwk, "n")?),
            e: unsigned(&b64url(jwk, "e")?),
        },
        "EC" => {
            let (x, y) = (b64url(jwk, "x")?, b64url(jwk, "y")?);
            let (size, p256) = match jwk.get("crv").and_then(Value::as_str)? {
                "P-256" => (32, true),
                "P-384" => (48, false),
                _ => return None,
            };
            if x.len() != size || y.len() != size {
                return None;
            }
            let mut point = Vec::with_capacity(1 + 2 * size);
            point.push(4);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            if p256 {
                KeyMaterial::P256(point)
            } else {
                KeyMaterial::P384(point)
            }
        }
        "OKP" if jwk.get("crv").and_then(Value::as_str) == Some("Ed25519") => {
            KeyMaterial::Ed25519(b64url(jwk, "x")?)
        }
        _ => return None,
    };
    Some(PublicKey {
        kid: jwk.get("kid").and_then(Value::as_str).map(str::to_owned),
        alg,
        material,
    })
}

/// The usable keys of a JWKS document (`{"keys": [...]}`); at most [`MAX_KEYS`] are read.
pub fn from_jwks(doc: &Value) -> Result<Vec<PublicKey>, KeyError> {
    let keys = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| KeyError::Jwks("no \"keys\" array".into()))?;
    Ok(keys
        .iter()
        .take(MAX_KEYS)
        .filter_map(Value::as_object)
        .filter_map(jwk)
        .collect())
}

/// Whether any of `keys` (those with the token's `kid`, when it names one and a key has
/// one) verifies the signature.
pub fn verify_any(keys: &[PublicKey], kid: Option<&str>, alg: Alg, msg: &[u8], sig: &[u8]) -> bool {
    keys.iter()
        .filter(|k| match (kid, k.kid.as_deref()) {
            (Some(want), Some(have)) => want == have,
            _ => true,
        })
        .any(|k| k.verify(alg, msg, sig))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};
    use serde_json::json;

    fn p256() -> EcdsaKeyPair {
        let rng = SystemRandom::new();
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).expect("keygen");
        EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).expect("load")
    }

    /// The SubjectPublicKeyInfo PEM of a P-256 public point (DER written by hand).
    fn p256_pem(point: &[u8]) -> String {
        let mut alg = vec![OID, OID_EC.len() as u8];
        alg.extend_from_slice(OID_EC);
        alg.extend_from_slice(&[OID, OID_P256.len() as u8]);
        alg.extend_from_slice(OID_P256);
        let mut inner = vec![SEQUENCE, alg.len() as u8];
        inner.extend_from_slice(&alg);
        inner.extend_from_slice(&[BIT_STRING, (point.len() + 1) as u8, 0]);
        inner.extend_from_slice(point);
        let mut der = vec![SEQUENCE, inner.len() as u8];
        der.extend_from_slice(&inner);
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            STANDARD.encode(der)
        )
    }

    #[test]
    fn pem_and_jwk_ec_keys_verify_and_refuse() {
        let kp = p256();
        let rng = SystemRandom::new();
        let sig = kp.sign(&rng, b"msg").expect("sign");
        let keys = from_pem(&p256_pem(kp.public_key().as_ref())).expect("pem");
        assert!(verify_any(&keys, None, Alg::ES256, b"msg", sig.as_ref()));
        assert!(!verify_any(&keys, None, Alg::ES256, b"other", sig.as_ref()));
        assert!(!verify_any(&keys, None, Alg::RS256, b"msg", sig.as_ref()));
        assert!(!verify_any(&keys, None, Alg::ES384, b"msg", sig.as_ref()));
        let point = kp.public_key().as_ref();
        let doc = json!({"keys": [
            {"kty": "EC", "crv": "P-256", "kid": "a", "use": "enc",
             "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..])},
            {"kty": "EC", "crv": "P-256", "kid": "b", "alg": "ES256",
             "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..])},
            {"kty": "oct", "k": "AAAA"},
            {"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"},
        ]});
        let keys = from_jwks(&doc).expect("jwks");
        assert_eq!(
            keys.len(),
            1,
            "encryption, symmetric and P-521 keys are skipped"
        );
        assert!(verify_any(
            &keys,
            Some("b"),
            Alg::ES256,
            b"msg",
            sig.as_ref()
        ));
        assert!(!verify_any(
            &keys,
            Some("zz"),
            Alg::ES256,
            b"msg",
            sig.as_ref()
        ));
    }

    #[test]
    fn ed25519_keys() {
        let rng = SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).expect("keygen");
        let kp = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("load");
        let sig = kp.sign(b"m");
        let doc = json!({"keys": [{"kty": "OKP", "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(kp.public_key().as_ref())}]});
        let keys = from_jwks(&doc).expect("jwks");
        assert!(verify_any(&keys, None, Alg::EdDSA, b"m", sig.as_ref()));
        assert!(!verify_any(&keys, None, Alg::EdDSA, b"n", sig.as_ref()));
    }

    #[test]
    fn bad_pem_and_der_are_errors_not_panics() {
        assert!(from_pem("").is_err());
        assert!(from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n").is_err());
        assert!(from_pem("-----BEGIN PUBLIC KEY-----\n!!\n-----END PUBLIC KEY-----").is_err());
        assert!(from_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----").is_err());
        for der in [
            &[][..],
            &[0x30],
            &[0x30, 0x85, 1, 1, 1, 1, 1],
            &[0x30, 0x82, 0xff, 0xff],
        ] {
            assert!(spki(der).is_err());
        }
        assert!(from_jwks(&json!({"nokeys": 1})).is_err());
    }
}
