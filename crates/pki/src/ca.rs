//! The mount's root CA: building its self-signed certificate, and the signer that issues
//! certificates and CRLs under it.
//!
//! `rcgen` signs "by" a [`Certificate`] value, of which it only uses the subject name, the key
//! identifier method and the key usages. The stored CA certificate is not parsed back: the
//! signer is rebuilt from the same parameters, which gives the same subject name and key
//! identifier, so what it signs chains to the stored certificate.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair,
    KeyUsagePurpose, SerialNumber,
};
use time::OffsetDateTime;

use crate::error::PkiError;
use crate::keys::PrivateKey;
use crate::store::CaBundle;
use crate::urls::Urls;

/// Unix seconds as a time (clamped into what certificates can express).
pub(crate) fn to_time(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs.clamp(0, 253_402_300_799))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The subject/issuer name `CN=<common_name>`.
pub(crate) fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}

/// Parameters of the root certificate (also those of the signer rebuilt from it).
fn root_params(
    common_name: &str,
    serial: &[u8],
    not_before: i64,
    not_after: i64,
) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = name(common_name);
    p.serial_number = Some(SerialNumber::from_slice(serial));
    p.not_before = to_time(not_before);
    p.not_after = to_time(not_after);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
    ];
    p
}

/// A self-signed root over `key`, valid from `not_before` to `not_after`, with `urls`.
pub(crate) fn build_root(
    key: &PrivateKey,
    common_name: &str,
    serial: Vec<u8>,
    not_before: i64,
    not_after: i64,
    urls: &Urls,
) -> Result<CaBundle, PkiError> {
    let mut params = root_params(common_name, &serial, not_before, not_after);
    params.crl_distribution_points = urls.crl_points();
    params.custom_extensions.extend(urls.aia_extension());
    let cert = params.self_signed(&key.key_pair()?)?;
    Ok(CaBundle {
        key: key.spec,
        key_pkcs8: STANDARD.encode(&*key.pkcs8),
        certificate: cert.pem(),
        common_name: common_name.to_owned(),
        serial,
        not_before,
        not_after,
    })
}

/// The CA's private key.
pub(crate) fn private_key(ca: &CaBundle) -> Result<PrivateKey, PkiError> {
    let der = STANDARD
        .decode(&ca.key_pkcs8)
        .map_err(|e| PkiError::Corrupt {
            path: "ca/bundle".to_owned(),
            reason: e.to_string(),
        })?;
    Ok(PrivateKey::from_pkcs8(ca.key, der))
}

/// What signs under the CA: the issuer as `rcgen` wants it and the CA's key.
pub(crate) struct Signer {
    /// The issuer (rebuilt, see the module docs).
    pub(crate) issuer: Certificate,
    /// The CA's key.
    pub(crate) key: KeyPair,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").finish_non_exhaustive()
    }
}

/// The signer of `ca`.
pub(crate) fn signer(ca: &CaBundle) -> Result<Signer, PkiError> {
    let key = private_key(ca)?.key_pair()?;
    let issuer =
        root_params(&ca.common_name, &ca.serial, ca.not_before, ca.not_after).self_signed(&key)?;
    Ok(Signer { issuer, key })
}
