//! The certificate revocation list: every revoked serial, signed by the CA.

use rcgen::{CertificateRevocationListParams, KeyIdMethod, RevokedCertParams, SerialNumber};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tresor_sdk::{duration, fields};

use crate::ca::{Signer, to_time};
use crate::error::PkiError;

/// How long a CRL is current by default (Vault's default `expiry` of 72h).
const DEFAULT_EXPIRY_SECS: u64 = 72 * 3600;

/// `config/crl`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CrlConfig {
    /// How long a CRL is current, seconds.
    pub(crate) expiry: u64,
    /// CRLs list nothing.
    pub(crate) disable: bool,
}

impl Default for CrlConfig {
    fn default() -> Self {
        Self {
            expiry: DEFAULT_EXPIRY_SECS,
            disable: false,
        }
    }
}

impl CrlConfig {
    /// Applies a write: `expiry` (at least 1s, at most ten years) and `disable`; asking for
    /// what is not offered (`auto_rebuild`, `enable_delta`, unified CRLs) is refused.
    pub(crate) fn update(mut self, data: &Map<String, Value>) -> Result<Self, PkiError> {
        let invalid = |e: tresor_sdk::LogicalError| PkiError::Invalid(e.to_string());
        if let Some(e) = fields::get_duration(data, "expiry").map_err(invalid)? {
            if e == 0 || e > 10 * 365 * 86400 {
                return Err(PkiError::Invalid(
                    "expiry must be between 1s and 87600h".into(),
                ));
            }
            self.expiry = e;
        }
        if let Some(d) = fields::get_bool(data, "disable").map_err(invalid)? {
            self.disable = d;
        }
        for unsupported in [
            "auto_rebuild",
            "enable_delta",
            "unified_crl",
            "cross_cluster_revocation",
        ] {
            if fields::get_bool(data, unsupported).map_err(invalid)? == Some(true) {
                return Err(PkiError::Invalid(format!(
                    "{unsupported} is not supported yet"
                )));
            }
        }
        Ok(self)
    }

    /// The read answer.
    pub(crate) fn to_json(self) -> Value {
        json!({
            "expiry": duration::format_secs(self.expiry),
            "disable": self.disable,
            "ocsp_disable": true,
            "auto_rebuild": false,
            "enable_delta": false,
        })
    }
}

/// A CRL numbered `number`, issued at `now`, current for `lifetime` seconds, listing
/// `revoked` (serial, revocation time).
pub(crate) fn build(
    signer: &Signer,
    number: u64,
    now: i64,
    lifetime: u64,
    revoked: &[(Vec<u8>, i64)],
) -> Result<Vec<u8>, PkiError> {
    let lifetime = i64::try_from(lifetime).unwrap_or(i64::MAX).max(1);
    let params = CertificateRevocationListParams {
        this_update: to_time(now),
        next_update: to_time(now.saturating_add(lifetime)),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn config_writes() {
        let c = CrlConfig::default()
            .update(&obj(json!({"expiry": "24h", "disable": true})))
            .ok();
        assert_eq!(
            c,
            Some(CrlConfig {
                expiry: 86400,
                disable: true
            })
        );
        assert_eq!(
            c.map(|c| c.to_json()["expiry"].clone()),
            Some(json!("24h0m0s"))
        );
        for bad in [
            json!({"expiry": "0s"}),
            json!({"expiry": "100000h"}),
            json!({"auto_rebuild": true}),
        ] {
            assert!(
                CrlConfig::default().update(&obj(bad.clone())).is_err(),
                "{bad}"
            );
        }
    }
}
