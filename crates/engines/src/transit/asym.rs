//! Signing keys: generation, signatures, verification and the key encodings shown to clients.
//!
//! Pure logic over the stored key material of one version:
//! - Ed25519: the 32-byte seed;
//! - ECDSA (P-256, P-384, P-521): the secret scalar, big-endian;
//! - RSA: the private key as PKCS#1 DER.
//!
//! Symmetric types get random bytes of their key length. Every error a request can cause is
//! an [`LogicalError::InvalidRequest`]; nothing here panics on hostile bytes.

use aes_gcm::aead::OsRng;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::Signer as _;
use p256::elliptic_curve::pkcs8::{EncodePublicKey, LineEnding};
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Pkcs1v15Sign, Pss, RsaPrivateKey, RsaPublicKey};
use sha1::Sha1;
use sha2::{Sha224, Sha256, Sha384, Sha512};
use sha3::{Sha3_224, Sha3_256, Sha3_384, Sha3_512};
use tresor_sdk::LogicalError;
use zeroize::Zeroizing;

use super::cipher::{KeyType, random_secret};
use super::hashalg::HashAlg;

/// How an RSA-PSS salt length was asked for (`salt_length`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SaltLength {
    /// `auto` or `0`: as long as possible when signing, detected when verifying.
    Auto,
    /// `hash` or `-1`: the digest's length.
    Hash,
    /// A fixed number of bytes.
    Fixed(usize),
}

impl SaltLength {
    /// Parses `salt_length` as Vault does: `auto`, `hash`, or an integer of at least -1
    /// (`0` means `auto`, `-1` means `hash`).
    pub(crate) fn parse(text: &str) -> Result<Self, LogicalError> {
        match text.trim() {
            "" | "auto" => Ok(SaltLength::Auto),
            "hash" => Ok(SaltLength::Hash),
            other => match other.parse::<i64>() {
                Ok(0) => Ok(SaltLength::Auto),
                Ok(-1) => Ok(SaltLength::Hash),
                Ok(n) if n > 0 => usize::try_from(n)
                    .map(SaltLength::Fixed)
                    .map_err(|_| bad_salt(other)),
                _ => Err(bad_salt(other)),
            },
        }
    }
}

fn bad_salt(text: &str) -> LogicalError {
    LogicalError::invalid(format!(
        "invalid salt_length {text:?}: use \"auto\", \"hash\", or an integer of at least -1"
    ))
}

/// How a signature is made and read, from the request's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SignParams {
    /// The digest applied to the input; `None` for `hash_algorithm=none`.
    pub(crate) hash: Option<HashAlg>,
    /// Whether the input already is the digest.
    pub(crate) prehashed: bool,
    /// RSA: PSS (`true`, the default) or PKCS#1 v1.5.
    pub(crate) pss: bool,
    /// RSA-PSS salt length.
    pub(crate) salt: SaltLength,
    /// ECDSA: `jws` (r || s) instead of ASN.1 DER.
    pub(crate) jws: bool,
}

impl Default for SignParams {
    fn default() -> Self {
        Self {
            hash: Some(HashAlg::Sha2_256),
            prehashed: false,
            pss: true,
            salt: SaltLength::Auto,
            jws: false,
        }
    }
}

fn invalid(msg: impl Into<String>) -> LogicalError {
    LogicalError::invalid(msg)
}

fn internal(msg: impl Into<String>) -> LogicalError {
    LogicalError::Internal(msg.into())
}

fn rsa_bits(t: KeyType) -> Option<usize> {
    match t {
        KeyType::Rsa2048 => Some(2048),
        KeyType::Rsa3072 => Some(3072),
        KeyType::Rsa4096 => Some(4096),
        _ => None,
    }
}

/// Fresh key material of type `t`.
pub(crate) fn generate(t: KeyType) -> Result<Zeroizing<Vec<u8>>, LogicalError> {
    let bytes = match t {
        KeyType::EcdsaP256 => {
            Zeroizing::new(p256::SecretKey::random(&mut OsRng).to_bytes().to_vec())
        }
        KeyType::EcdsaP384 => {
            Zeroizing::new(p384::SecretKey::random(&mut OsRng).to_bytes().to_vec())
        }
        KeyType::EcdsaP521 => {
            Zeroizing::new(p521::SecretKey::random(&mut OsRng).to_bytes().to_vec())
        }
        KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => {
            let bits = rsa_bits(t).unwrap_or(2048);
            let key = RsaPrivateKey::new(&mut OsRng, bits)
                .map_err(|e| internal(format!("generating an RSA key: {e}")))?;
            let der = key
                .to_pkcs1_der()
                .map_err(|e| internal(format!("encoding an RSA key: {e}")))?;
            Zeroizing::new(der.as_bytes().to_vec())
        }
        // Symmetric keys and the Ed25519 seed are uniform random bytes.
        _ => random_secret(t.key_len()),
    };
    Ok(bytes)
}

/// The digest to sign for `input`, or `input` itself when it is prehashed or no hash is used.
fn message_digest(input: &[u8], p: &SignParams) -> Vec<u8> {
    match p.hash {
        Some(h) if !p.prehashed => h.digest(input),
        _ => input.to_vec(),
    }
}

fn ed25519_key(key: &[u8]) -> Result<ed25519_dalek::SigningKey, LogicalError> {
    let seed: [u8; 32] = key
        .try_into()
        .map_err(|_| internal("stored ed25519 key has the wrong length"))?;
    Ok(ed25519_dalek::SigningKey::from_bytes(&seed))
}

fn rsa_key(key: &[u8]) -> Result<RsaPrivateKey, LogicalError> {
    RsaPrivateKey::from_pkcs1_der(key).map_err(|e| internal(format!("stored RSA key: {e}")))
}

/// ECDSA operations for one curve crate (the three share one API).
macro_rules! ecdsa_curve {
    ($name:ident, $krate:ident) => {
        mod $name {
            use super::*;
            use $krate::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
            use $krate::ecdsa::{Signature, SigningKey, VerifyingKey};

            /// A digest shorter than the field is the same number left-padded with zeros
            /// (how Go reads it); the library wants at least half the field's length.
            fn field_digest(digest: &[u8]) -> Vec<u8> {
                let len = $krate::FieldBytes::default().len();
                let mut out = vec![0u8; len.saturating_sub(digest.len())];
                out.extend_from_slice(digest);
                out
            }

            fn signing_key(key: &[u8]) -> Result<SigningKey, LogicalError> {
                SigningKey::from_slice(key).map_err(|_| internal("stored ECDSA key is invalid"))
            }

            pub(super) fn sign(
                key: &[u8],
                digest: &[u8],
                jws: bool,
            ) -> Result<Vec<u8>, LogicalError> {
                let sig: Signature = signing_key(key)?
                    .sign_prehash(&field_digest(digest))
                    .map_err(|_| invalid("the digest cannot be signed with this curve"))?;
                Ok(if jws {
                    sig.to_bytes().to_vec()
                } else {
                    sig.to_der().as_bytes().to_vec()
                })
            }

            pub(super) fn verify(
                key: &[u8],
                digest: &[u8],
                sig: &[u8],
                jws: bool,
            ) -> Result<bool, LogicalError> {
                let verifier = VerifyingKey::from(&signing_key(key)?);
                let parsed = if jws {
                    Signature::from_slice(sig)
                } else {
                    Signature::from_der(sig)
                };
                let Ok(parsed) = parsed else {
                    return Ok(false);
                };
                Ok(verifier
                    .verify_prehash(&field_digest(digest), &parsed)
                    .is_ok())
            }

            pub(super) fn public_pem(key: &[u8]) -> Result<String, LogicalError> {
                let secret = $krate::SecretKey::from_slice(key)
                    .map_err(|_| internal("stored ECDSA key is invalid"))?;
                secret
                    .public_key()
                    .to_public_key_pem(LineEnding::LF)
                    .map_err(|e| internal(format!("encoding a public key: {e}")))
            }

            pub(super) fn private_pem(key: &[u8]) -> Result<Zeroizing<String>, LogicalError> {
                let secret = $krate::SecretKey::from_slice(key)
                    .map_err(|_| internal("stored ECDSA key is invalid"))?;
                secret
                    .to_sec1_pem(LineEnding::LF)
                    .map_err(|e| internal(format!("encoding a private key: {e}")))
            }
        }
    };
}

ecdsa_curve!(ec_p256, p256);
ecdsa_curve!(ec_p384, p384);
ecdsa_curve!(ec_p521, p521);

/// The PSS scheme for `hash` with `salt` bytes of salt.
fn pss(hash: HashAlg, salt: usize) -> Pss {
    match hash {
        HashAlg::Sha1 => Pss::new_with_salt::<Sha1>(salt),
        HashAlg::Sha2_224 => Pss::new_with_salt::<Sha224>(salt),
        HashAlg::Sha2_256 => Pss::new_with_salt::<Sha256>(salt),
        HashAlg::Sha2_384 => Pss::new_with_salt::<Sha384>(salt),
        HashAlg::Sha2_512 => Pss::new_with_salt::<Sha512>(salt),
        HashAlg::Sha3_224 => Pss::new_with_salt::<Sha3_224>(salt),
        HashAlg::Sha3_256 => Pss::new_with_salt::<Sha3_256>(salt),
        HashAlg::Sha3_384 => Pss::new_with_salt::<Sha3_384>(salt),
        HashAlg::Sha3_512 => Pss::new_with_salt::<Sha3_512>(salt),
    }
}

/// The PKCS#1 v1.5 scheme for `hash` (`None`: the digest is signed without a DigestInfo).
fn pkcs1v15(hash: Option<HashAlg>) -> Pkcs1v15Sign {
    match hash {
        None => Pkcs1v15Sign::new_unprefixed(),
        Some(HashAlg::Sha1) => Pkcs1v15Sign::new::<Sha1>(),
        Some(HashAlg::Sha2_224) => Pkcs1v15Sign::new::<Sha224>(),
        Some(HashAlg::Sha2_256) => Pkcs1v15Sign::new::<Sha256>(),
        Some(HashAlg::Sha2_384) => Pkcs1v15Sign::new::<Sha384>(),
        Some(HashAlg::Sha2_512) => Pkcs1v15Sign::new::<Sha512>(),
        Some(HashAlg::Sha3_224) => Pkcs1v15Sign::new::<Sha3_224>(),
        Some(HashAlg::Sha3_256) => Pkcs1v15Sign::new::<Sha3_256>(),
        Some(HashAlg::Sha3_384) => Pkcs1v15Sign::new::<Sha3_384>(),
        Some(HashAlg::Sha3_512) => Pkcs1v15Sign::new::<Sha3_512>(),
    }
}

/// The encoded-message length of a PSS signature under a modulus of `mod_bits` bits.
fn pss_em_len(mod_bits: usize) -> usize {
    mod_bits.saturating_sub(1).div_ceil(8)
}

/// The largest salt a PSS signature under `public` with `hash` can carry.
fn max_salt(public: &RsaPublicKey, hash: HashAlg) -> usize {
    pss_em_len(public.n().bits()).saturating_sub(hash.output_len() + 2)
}

/// MGF1 over `hash`: `len` bytes of mask from `seed`.
fn mgf1(hash: HashAlg, seed: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + hash.output_len());
    let mut counter: u32 = 0;
    while out.len() < len {
        let mut block = seed.to_vec();
        block.extend_from_slice(&counter.to_be_bytes());
        out.extend_from_slice(&hash.digest(&block));
        counter = counter.wrapping_add(1);
    }
    out.truncate(len);
    out
}

/// The salt length a PSS signature was made with, read from the signature itself (what
/// `salt_length=auto` means when verifying); `None` if it is no PSS encoding at all. The
/// signature is then checked by the library with that length.
fn pss_salt_len(public: &RsaPublicKey, hash: HashAlg, sig: &[u8]) -> Option<usize> {
    let k = public.size();
    if sig.len() != k {
        return None;
    }
    let s = BigUint::from_bytes_be(sig);
    if &s >= public.n() {
        return None;
    }
    let m = s.modpow(public.e(), public.n()).to_bytes_be();
    if m.len() > k {
        return None;
    }
    let mut full = vec![0u8; k - m.len()];
    full.extend_from_slice(&m);
    let em_bits = public.n().bits().saturating_sub(1);
    let em_len = pss_em_len(public.n().bits());
    let h_len = hash.output_len();
    if em_len < h_len + 2 || em_len > k {
        return None;
    }
    let em = &full[k - em_len..];
    if em[em_len - 1] != 0xbc {
        return None;
    }
    let (masked_db, rest) = em.split_at(em_len - h_len - 1);
    let h = &rest[..h_len];
    let mask = mgf1(hash, h, masked_db.len());
    let mut db: Vec<u8> = masked_db.iter().zip(&mask).map(|(a, b)| a ^ b).collect();
    if let Some(first) = db.first_mut() {
        *first &= 0xffu8
            .checked_shr((8 * em_len - em_bits) as u32)
            .unwrap_or(0);
    }
    let pos = db.iter().position(|b| *b != 0)?;
    (db[pos] == 1).then(|| db.len() - pos - 1)
}

fn rsa_sign(key: &[u8], digest: &[u8], p: &SignParams) -> Result<Vec<u8>, LogicalError> {
    let private = rsa_key(key)?;
    let result = if p.pss {
        let hash = p.hash.ok_or_else(|| {
            invalid("hash_algorithm \"none\" requires signature_algorithm pkcs1v15")
        })?;
        let max = max_salt(&private.to_public_key(), hash);
        let salt = match p.salt {
            SaltLength::Auto => max,
            SaltLength::Hash => hash.output_len(),
            SaltLength::Fixed(n) if n <= max => n,
            SaltLength::Fixed(n) => {
                return Err(invalid(format!(
                    "salt length {n} is too long for this key and hash: at most {max}"
                )));
            }
        };
        private.sign_with_rng(&mut OsRng, pss(hash, salt), digest)
    } else {
        private.sign_with_rng(&mut OsRng, pkcs1v15(p.hash), digest)
    };
    result.map_err(|e| invalid(format!("signing failed: {e}")))
}

fn rsa_verify(key: &[u8], digest: &[u8], sig: &[u8], p: &SignParams) -> Result<bool, LogicalError> {
    let public = rsa_key(key)?.to_public_key();
    if !p.pss {
        return Ok(public.verify(pkcs1v15(p.hash), digest, sig).is_ok());
    }
    let hash = p
        .hash
        .ok_or_else(|| invalid("hash_algorithm \"none\" requires signature_algorithm pkcs1v15"))?;
    let salt = match p.salt {
        SaltLength::Auto => match pss_salt_len(&public, hash, sig) {
            Some(n) => n,
            None => return Ok(false),
        },
        SaltLength::Hash => hash.output_len(),
        // No signature under this key can carry a longer salt.
        SaltLength::Fixed(n) if n > max_salt(&public, hash) => return Ok(false),
        SaltLength::Fixed(n) => n,
    };
    Ok(public.verify(pss(hash, salt), digest, sig).is_ok())
}

/// A prehashed input for RSA must be a digest of the named hash (ECDSA, like Go, takes any
/// length: a short one is a smaller number, a long one is truncated).
fn check_digest_len(t: KeyType, digest: &[u8], p: &SignParams) -> Result<(), LogicalError> {
    if rsa_bits(t).is_none() {
        return Ok(());
    }
    check_rsa_digest_len(digest, p)
}

/// `hash_algorithm=none` signs the input as it is: only RSA PKCS#1 v1.5 can do that.
fn check_hash_none(t: KeyType, p: &SignParams) -> Result<(), LogicalError> {
    let raw_pkcs1 = rsa_bits(t).is_some() && !p.pss && p.prehashed;
    if p.hash.is_none() && !raw_pkcs1 {
        return Err(invalid(
            "hash_algorithm \"none\" needs an RSA key, prehashed=true and signature_algorithm pkcs1v15",
        ));
    }
    Ok(())
}

fn check_rsa_digest_len(digest: &[u8], p: &SignParams) -> Result<(), LogicalError> {
    if let Some(h) = p.hash
        && p.prehashed
        && digest.len() != h.output_len()
    {
        return Err(invalid(format!(
            "a prehashed input must be a digest of {} bytes for this hash_algorithm",
            h.output_len()
        )));
    }
    Ok(())
}

/// Signs `input` with the key material `key` of type `t`.
pub(crate) fn sign(
    t: KeyType,
    key: &[u8],
    input: &[u8],
    p: &SignParams,
) -> Result<Vec<u8>, LogicalError> {
    if t == KeyType::Ed25519 {
        if p.prehashed {
            return Err(invalid("prehashed input is not supported for ed25519 keys"));
        }
        return Ok(ed25519_key(key)?.sign(input).to_bytes().to_vec());
    }
    check_hash_none(t, p)?;
    check_digest_len(t, input, p)?;
    let digest = message_digest(input, p);
    match t {
        KeyType::EcdsaP256 => ec_p256::sign(key, &digest, p.jws),
        KeyType::EcdsaP384 => ec_p384::sign(key, &digest, p.jws),
        KeyType::EcdsaP521 => ec_p521::sign(key, &digest, p.jws),
        KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => rsa_sign(key, &digest, p),
        _ => Err(invalid(format!(
            "key type {} does not support signing",
            t.as_str()
        ))),
    }
}

/// Whether `sig` is a valid signature of `input` under the key material `key` of type `t`.
/// A malformed signature is simply not valid.
pub(crate) fn verify(
    t: KeyType,
    key: &[u8],
    input: &[u8],
    sig: &[u8],
    p: &SignParams,
) -> Result<bool, LogicalError> {
    if t == KeyType::Ed25519 {
        if p.prehashed {
            return Err(invalid("prehashed input is not supported for ed25519 keys"));
        }
        let Ok(parsed) = ed25519_dalek::Signature::from_slice(sig) else {
            return Ok(false);
        };
        return Ok(ed25519_key(key)?
            .verifying_key()
            .verify_strict(input, &parsed)
            .is_ok());
    }
    check_hash_none(t, p)?;
    check_digest_len(t, input, p)?;
    let digest = message_digest(input, p);
    match t {
        KeyType::EcdsaP256 => ec_p256::verify(key, &digest, sig, p.jws),
        KeyType::EcdsaP384 => ec_p384::verify(key, &digest, sig, p.jws),
        KeyType::EcdsaP521 => ec_p521::verify(key, &digest, sig, p.jws),
        KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => rsa_verify(key, &digest, sig, p),
        _ => Err(invalid(format!(
            "key type {} does not support verification",
            t.as_str()
        ))),
    }
}

/// The public key of a signing key as Vault shows it: base64 of the 32 raw bytes for Ed25519,
/// a PEM `PUBLIC KEY` (SubjectPublicKeyInfo) for ECDSA and RSA. `None` for symmetric types.
pub(crate) fn public_key(t: KeyType, key: &[u8]) -> Result<Option<String>, LogicalError> {
    let text = match t {
        KeyType::Ed25519 => STANDARD.encode(ed25519_key(key)?.verifying_key().as_bytes()),
        KeyType::EcdsaP256 => ec_p256::public_pem(key)?,
        KeyType::EcdsaP384 => ec_p384::public_pem(key)?,
        KeyType::EcdsaP521 => ec_p521::public_pem(key)?,
        KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => rsa_key(key)?
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| internal(format!("encoding a public key: {e}")))?,
        _ => return Ok(None),
    };
    Ok(Some(text))
}

/// The private signing key for `export/signing-key`: base64 of seed || public key for
/// Ed25519, a PEM `EC PRIVATE KEY` (SEC1) for ECDSA, a PEM `RSA PRIVATE KEY` (PKCS#1) for RSA.
pub(crate) fn private_key(t: KeyType, key: &[u8]) -> Result<Zeroizing<String>, LogicalError> {
    match t {
        KeyType::Ed25519 => {
            let pair = Zeroizing::new(ed25519_key(key)?.to_keypair_bytes());
            Ok(Zeroizing::new(STANDARD.encode(pair.as_slice())))
        }
        KeyType::EcdsaP256 => ec_p256::private_pem(key),
        KeyType::EcdsaP384 => ec_p384::private_pem(key),
        KeyType::EcdsaP521 => ec_p521::private_pem(key),
        KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => rsa_key(key)?
            .to_pkcs1_pem(LineEnding::LF)
            .map_err(|e| internal(format!("encoding a private key: {e}"))),
        _ => Err(invalid(format!(
            "key type {} has no signing key",
            t.as_str()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(hash: Option<HashAlg>) -> SignParams {
        SignParams {
            hash,
            ..SignParams::default()
        }
    }

    #[test]
    fn salt_length_parsing() {
        assert_eq!(SaltLength::parse("auto").unwrap(), SaltLength::Auto);
        assert_eq!(SaltLength::parse("").unwrap(), SaltLength::Auto);
        assert_eq!(SaltLength::parse("0").unwrap(), SaltLength::Auto);
        assert_eq!(SaltLength::parse("hash").unwrap(), SaltLength::Hash);
        assert_eq!(SaltLength::parse("-1").unwrap(), SaltLength::Hash);
        assert_eq!(SaltLength::parse("1").unwrap(), SaltLength::Fixed(1));
        assert_eq!(SaltLength::parse("222").unwrap(), SaltLength::Fixed(222));
        for bad in [
            "foobar",
            "-2",
            "-100",
            "1.5",
            "99999999999999999999999",
            "Auto",
        ] {
            let err = SaltLength::parse(bad).unwrap_err().to_string();
            assert!(err.contains("invalid salt_length"), "{bad}: {err}");
        }
    }

    #[test]
    fn ed25519_round_trip_and_tamper() {
        let key = generate(KeyType::Ed25519).unwrap();
        let p = SignParams::default();
        let sig = sign(KeyType::Ed25519, &key, b"msg", &p).unwrap();
        assert_eq!(sig.len(), 64);
        assert!(verify(KeyType::Ed25519, &key, b"msg", &sig, &p).unwrap());
        assert!(!verify(KeyType::Ed25519, &key, b"msh", &sig, &p).unwrap());
        assert!(!verify(KeyType::Ed25519, &key, b"msg", &sig[..63], &p).unwrap());
        assert!(!verify(KeyType::Ed25519, &key, b"msg", b"", &p).unwrap());
        let other = generate(KeyType::Ed25519).unwrap();
        assert!(!verify(KeyType::Ed25519, &other, b"msg", &sig, &p).unwrap());
        let pk = public_key(KeyType::Ed25519, &key).unwrap().unwrap();
        assert_eq!(STANDARD.decode(pk).unwrap().len(), 32);
        let sk = private_key(KeyType::Ed25519, &key).unwrap();
        assert_eq!(STANDARD.decode(sk.as_bytes()).unwrap().len(), 64);
        let pre = SignParams {
            prehashed: true,
            ..p
        };
        assert!(sign(KeyType::Ed25519, &key, b"msg", &pre).is_err());
    }

    #[test]
    fn ecdsa_round_trips_in_both_marshalings() {
        for t in [KeyType::EcdsaP256, KeyType::EcdsaP384, KeyType::EcdsaP521] {
            let key = generate(t).unwrap();
            for jws in [false, true] {
                for hash in [HashAlg::Sha2_256, HashAlg::Sha2_512, HashAlg::Sha3_384] {
                    let p = SignParams {
                        jws,
                        ..params(Some(hash))
                    };
                    let sig = sign(t, &key, b"data", &p).unwrap();
                    assert!(
                        verify(t, &key, b"data", &sig, &p).unwrap(),
                        "{t:?} {hash:?}"
                    );
                    assert!(!verify(t, &key, b"date", &sig, &p).unwrap());
                    // The other marshaling does not read this signature.
                    let q = SignParams { jws: !jws, ..p };
                    assert!(!verify(t, &key, b"data", &sig, &q).unwrap());
                    // The same digest given prehashed verifies too.
                    let pre = SignParams {
                        prehashed: true,
                        ..p
                    };
                    assert!(verify(t, &key, &hash.digest(b"data"), &sig, &pre).unwrap());
                }
            }
            let pem = public_key(t, &key).unwrap().unwrap();
            assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{pem}");
            let sk = private_key(t, &key).unwrap();
            assert!(sk.starts_with("-----BEGIN EC PRIVATE KEY-----"));
            assert!(!verify(t, &key, b"data", b"\x30\x02garbage", &SignParams::default()).unwrap());
            assert!(sign(t, &key, b"x", &params(None)).is_err());
        }
        // ECDSA takes a prehashed input of any length, as Go does; RSA wants the digest's.
        let key = generate(KeyType::EcdsaP256).unwrap();
        let pre = SignParams {
            prehashed: true,
            ..SignParams::default()
        };
        let sig = sign(KeyType::EcdsaP256, &key, b"short", &pre).unwrap();
        assert!(verify(KeyType::EcdsaP256, &key, b"short", &sig, &pre).unwrap());
        assert!(!verify(KeyType::EcdsaP256, &key, b"shorT", &sig, &pre).unwrap());
    }

    #[test]
    fn rsa_pss_salt_lengths_and_pkcs1v15() {
        let t = KeyType::Rsa2048;
        let key = generate(t).unwrap();
        let max = 256 - 32 - 2;
        for (sign_salt, verify_salts) in [
            (
                SaltLength::Auto,
                vec![SaltLength::Auto, SaltLength::Fixed(max)],
            ),
            (
                SaltLength::Hash,
                vec![SaltLength::Auto, SaltLength::Hash, SaltLength::Fixed(32)],
            ),
            (
                SaltLength::Fixed(1),
                vec![SaltLength::Auto, SaltLength::Fixed(1)],
            ),
            (
                SaltLength::Fixed(0),
                vec![SaltLength::Auto, SaltLength::Fixed(0)],
            ),
        ] {
            let p = SignParams {
                salt: sign_salt,
                ..SignParams::default()
            };
            let sig = sign(t, &key, b"payload", &p).unwrap();
            assert_eq!(sig.len(), 256);
            for vs in verify_salts {
                let q = SignParams { salt: vs, ..p };
                assert!(
                    verify(t, &key, b"payload", &sig, &q).unwrap(),
                    "{sign_salt:?} {vs:?}"
                );
                assert!(!verify(t, &key, b"payloaf", &sig, &q).unwrap());
            }
            for bad in [5, max + 1, usize::MAX / 2] {
                let wrong = SignParams {
                    salt: SaltLength::Fixed(bad),
                    ..p
                };
                assert!(!verify(t, &key, b"payload", &sig, &wrong).unwrap());
            }
        }
        let too_long = SignParams {
            salt: SaltLength::Fixed(max + 1),
            ..SignParams::default()
        };
        assert!(sign(t, &key, b"x", &too_long).is_err());
        for hash in [Some(HashAlg::Sha2_256), Some(HashAlg::Sha1), None] {
            let p = SignParams {
                pss: false,
                prehashed: hash.is_none(),
                ..params(hash)
            };
            let input = if hash.is_none() {
                Sha256Digest::of(b"m")
            } else {
                b"m".to_vec()
            };
            let sig = sign(t, &key, &input, &p).unwrap();
            assert!(verify(t, &key, &input, &sig, &p).unwrap());
            let pss = SignParams { pss: true, ..p };
            if hash.is_some() {
                assert!(!verify(t, &key, &input, &sig, &pss).unwrap());
            }
        }
        // hash_algorithm=none without prehashed is refused.
        let raw = SignParams {
            pss: false,
            ..params(None)
        };
        assert!(sign(t, &key, b"m", &raw).is_err());
        assert!(!verify(t, &key, b"m", b"short", &SignParams::default()).unwrap());
        assert!(!verify(t, &key, b"m", &[0xffu8; 256], &SignParams::default()).unwrap());
        assert!(
            public_key(t, &key)
                .unwrap()
                .unwrap()
                .starts_with("-----BEGIN PUBLIC KEY-----")
        );
        assert!(
            private_key(t, &key)
                .unwrap()
                .starts_with("-----BEGIN RSA PRIVATE KEY-----")
        );
    }

    /// SHA-256 helper for the unprefixed PKCS#1 v1.5 case.
    struct Sha256Digest;
    impl Sha256Digest {
        fn of(input: &[u8]) -> Vec<u8> {
            HashAlg::Sha2_256.digest(input)
        }
    }

    #[test]
    fn symmetric_types_do_not_sign() {
        let key = generate(KeyType::Aes256Gcm96).unwrap();
        assert_eq!(key.len(), 32);
        assert!(sign(KeyType::Aes256Gcm96, &key, b"x", &SignParams::default()).is_err());
        assert!(public_key(KeyType::Aes256Gcm96, &key).unwrap().is_none());
        assert!(private_key(KeyType::Aes256Gcm96, &key).is_err());
    }
}
