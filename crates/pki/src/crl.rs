//! The certificate revocation list: every revoked serial, signed by the CA.

use rcgen::{CertificateRevocationListParams, KeyIdMethod, RevokedCertParams, SerialNumber};

use crate::ca::{Signer, to_time};
use crate::error::PkiError;

/// How long a CRL is current (Vault's default `expiry` of 72h).
pub(crate) const CRL_LIFETIME_SECS: i64 = 72 * 3600;

/// A CRL numbered `number`, issued at `now`, listing `revoked` (serial, revocation time).
pub(crate) fn build(
    signer: &Signer,
    number: u64,
    now: i64,
    revoked: &[(Vec<u8>, i64)],
) -> Result<Vec<u8>, PkiError> {
    let params = CertificateRevocationListParams {
        this_update: to_time(now),
        next_update: to_time(now + CRL_LIFETIME_SECS),
        crl_number: SerialNumber::from(number),
        issuing_distribution_point: None,
        revoked_certs: revoked
            .iter()
            .map(|(serial, at)| RevokedCertParams {
                serial_number: SerialNumber::from_slice(serial),
                revocation_time: to_time(*at),
                reason_code: None,
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method: KeyIdMethod::Sha256,
    };
    let crl = params.signed_by(&signer.issuer, &signer.key)?;
    Ok(crl.der().to_vec())
}
