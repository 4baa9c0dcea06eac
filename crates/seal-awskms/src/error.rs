//! What went wrong talking to KMS, classified by whether retrying can help, and the mapping to
//! [`SealError`] at the seal boundary.

use tresor_seal::SealError;

use crate::SEAL_TYPE;

/// A failed KMS call, classified. Every variant carries KMS's reason (error code and message,
/// or the transport error); none ever carries key material or credentials.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AwsKmsError {
    /// KMS could not be reached, timed out, throttled or failed internally. Retriable.
    #[error("KMS unavailable: {0}")]
    Unavailable(String),
    /// KMS refused the request: access denied, key disabled or pending deletion, wrong key
    /// usage, bad credentials. Retrying will not help until an operator acts.
    #[error("KMS refused the request: {0}")]
    Rejected(String),
    /// The KMS key does not exist (or is not visible to these credentials).
    #[error("KMS key not found: {0}")]
    NotFound(String),
    /// KMS could not decrypt the data key: not a ciphertext of that key, or damaged.
    #[error("KMS could not decrypt the data key: {0}")]
    InvalidCiphertext(String),
}

/// Error codes KMS (or the AWS front end) returns for transient conditions.
const RETRIABLE_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "LimitExceededException",
    "KMSInternalException",
    "DependencyTimeoutException",
    "KeyUnavailableException",
    "CloudHsmClusterNotActiveException",
    "XksProxyUriUnreachableException",
    "XksProxyTimeoutException",
    "InternalFailure",
    "InternalError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// Error codes that mean the ciphertext, not the caller, is at fault.
const CIPHERTEXT_CODES: &[&str] = &["InvalidCiphertextException", "IncorrectKeyException"];

impl AwsKmsError {
    /// Classifies an error response of the KMS API from its error code and HTTP status.
    pub(crate) fn from_service(code: Option<&str>, status: u16, reason: String) -> Self {
        let code = code.unwrap_or_default();
        if RETRIABLE_CODES.contains(&code) || status == 429 || status >= 500 {
            AwsKmsError::Unavailable(reason)
        } else if CIPHERTEXT_CODES.contains(&code) {
            AwsKmsError::InvalidCiphertext(reason)
        } else if code == "NotFoundException" {
            AwsKmsError::NotFound(reason)
        } else {
            AwsKmsError::Rejected(reason)
        }
    }

    /// Whether retrying later may succeed without operator action.
    pub fn is_retriable(&self) -> bool {
        matches!(self, AwsKmsError::Unavailable(_))
    }

    /// The error of a failed wrap (KMS Encrypt, DescribeKey).
    pub(crate) fn into_wrap_error(self) -> SealError {
        match self {
            AwsKmsError::Unavailable(reason) => SealError::Unavailable {
                seal_type: SEAL_TYPE,
                reason,
            },
            other => SealError::Encrypt {
                seal_type: SEAL_TYPE,
                reason: other.to_string(),
            },
        }
    }

    /// The error of a failed unwrap of a key recorded under `key_id`.
    ///
    /// `SealError` has no non-retriable variant with a reason for unwrapping; a refusal (access
    /// denied, key disabled) is reported as `KeyUnavailable` and its reason logged here.
    pub(crate) fn into_unwrap_error(self, key_id: &str) -> SealError {
        match self {
            AwsKmsError::Unavailable(reason) => SealError::Unavailable {
                seal_type: SEAL_TYPE,
                reason,
            },
            AwsKmsError::InvalidCiphertext(_) => SealError::Decrypt {
                seal_type: SEAL_TYPE,
            },
            AwsKmsError::NotFound(_) => SealError::UnknownKeyId {
                seal_type: SEAL_TYPE,
                key_id: key_id.to_owned(),
            },
            AwsKmsError::Rejected(reason) => {
                tracing::warn!(seal = SEAL_TYPE, %key_id, %reason, "KMS refused to decrypt the root key");
                SealError::KeyUnavailable {
                    seal_type: SEAL_TYPE,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(code: &str, status: u16) -> AwsKmsError {
        AwsKmsError::from_service(Some(code), status, format!("{code}: message"))
    }

    #[test]
    fn transient_conditions_are_retriable() {
        for (code, status) in [
            ("ThrottlingException", 400),
            ("KMSInternalException", 500),
            ("DependencyTimeoutException", 503),
            ("KeyUnavailableException", 500),
            ("SomethingNew", 502),
            ("", 429),
        ] {
            let e = classify(code, status);
            assert!(e.is_retriable(), "{code} {status} -> {e:?}");
            assert!(matches!(
                e.into_wrap_error(),
                SealError::Unavailable {
                    seal_type: "awskms",
                    ..
                }
            ));
        }
    }

    #[test]
    fn refusals_are_not_retriable() {
        for code in [
            "AccessDeniedException",
            "DisabledException",
            "KMSInvalidStateException",
            "InvalidKeyUsageException",
            "UnrecognizedClientException",
        ] {
            let e = classify(code, 400);
            assert_eq!(e, AwsKmsError::Rejected(format!("{code}: message")));
            assert!(!e.is_retriable());
            let wrap = e.clone().into_wrap_error();
            assert!(matches!(wrap, SealError::Encrypt { .. }), "{wrap:?}");
            let shown = wrap.to_string();
            assert!(shown.contains("awskms") && shown.contains(code), "{shown}");
            assert_eq!(
                e.into_unwrap_error("arn:k"),
                SealError::KeyUnavailable {
                    seal_type: "awskms"
                }
            );
        }
    }

    #[test]
    fn ciphertext_and_missing_key_errors() {
        for code in CIPHERTEXT_CODES {
            assert_eq!(
                classify(code, 400).into_unwrap_error("arn:k"),
                SealError::Decrypt {
                    seal_type: "awskms"
                }
            );
        }
        let missing = classify("NotFoundException", 400);
        assert!(matches!(missing, AwsKmsError::NotFound(_)));
        assert_eq!(
            missing.into_unwrap_error("arn:k"),
            SealError::UnknownKeyId {
                seal_type: "awskms",
                key_id: "arn:k".into()
            }
        );
        // No code at all on a 4xx: a refusal, not an outage.
        assert!(matches!(
            AwsKmsError::from_service(None, 403, String::new()),
            AwsKmsError::Rejected(_)
        ));
    }
}
