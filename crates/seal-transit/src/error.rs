//! What went wrong talking to the transit server, classified by whether retrying can help, and
//! the mapping to [`SealError`] at the seal boundary.

use tresor_seal::SealError;

use crate::SEAL_TYPE;

/// A failed call to the transit server, classified. Every variant carries the server's error
/// messages or the transport error; none ever carries key material or the token.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransitError {
    /// The server could not be reached, timed out, is sealed, on standby without forwarding,
    /// rate-limiting or failing internally (HTTP 429, 412, 5xx). Retriable.
    #[error("transit server unavailable: {0}")]
    Unavailable(String),
    /// The token was refused (HTTP 401/403): invalid, expired, revoked or lacking the policy.
    #[error("transit server denied permission (HTTP {status}): {message}")]
    PermissionDenied {
        /// The HTTP status.
        status: u16,
        /// The server's error messages.
        message: String,
    },
    /// The transit key does not exist, or the key version the ciphertext names does not or
    /// may no longer decrypt (`min_decryption_version`).
    #[error("transit key not found: {0}")]
    KeyNotFound(String),
    /// The server could not decrypt the ciphertext: malformed, tampered with, or made by
    /// another key.
    #[error("transit server could not decrypt: {0}")]
    InvalidCiphertext(String),
    /// Any other refusal (no transit engine at the mount path, a bad request).
    #[error("transit server refused the request (HTTP {status}): {message}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The server's error messages.
        message: String,
    },
    /// A success response without the expected fields.
    #[error("unexpected response from the transit server: {0}")]
    Protocol(String),
    /// The TLS options could not be applied (unreadable or invalid PEM files).
    #[error("transit seal TLS configuration: {0}")]
    Tls(String),
}

impl TransitError {
    /// Classifies an error response from its HTTP status and the server's error messages.
    pub(crate) fn from_status(status: u16, message: String) -> Self {
        let lower = message.to_ascii_lowercase();
        match status {
            401 | 403 => TransitError::PermissionDenied { status, message },
            412 | 429 | 500..=599 => TransitError::Unavailable(format!("HTTP {status}: {message}")),
            400 if lower.contains("key not found")
                || lower.contains("key version")
                || lower.contains("disallowed by policy") =>
            {
                TransitError::KeyNotFound(message)
            }
            400 if lower.contains("ciphertext") || lower.contains("decrypt") => {
                TransitError::InvalidCiphertext(message)
            }
            _ => TransitError::Rejected { status, message },
        }
    }

    /// Whether retrying later may succeed without operator action.
    pub fn is_retriable(&self) -> bool {
        matches!(self, TransitError::Unavailable(_))
    }

    /// The error of a failed wrap (transit encrypt): `Unavailable` when retriable, else
    /// `Encrypt` carrying the server's message.
    pub(crate) fn into_wrap_error(self) -> SealError {
        match self {
            TransitError::Unavailable(reason) => SealError::Unavailable {
                seal_type: SEAL_TYPE,
                reason,
            },
            other => SealError::Encrypt {
                seal_type: SEAL_TYPE,
                reason: other.to_string(),
            },
        }
    }

    /// The error of a failed unwrap (transit decrypt) of a key recorded under `key_id`.
    ///
    /// `SealError` has no non-retriable unwrap variant carrying a reason, so the server's
    /// message is logged here and the variant says the rest: `Decrypt` for a ciphertext the
    /// server refused, `UnknownKeyId` for a missing transit key, and `InvalidConfig` (the
    /// token or mount path is wrong) for a denied or refused request.
    pub(crate) fn into_unwrap_error(self, key_id: &str) -> SealError {
        if let TransitError::Unavailable(reason) = self {
            return SealError::Unavailable {
                seal_type: SEAL_TYPE,
                reason,
            };
        }
        tracing::warn!(
            seal = SEAL_TYPE,
            %key_id,
            error = %self,
            "transit server refused to decrypt the root key"
        );
        match self {
            TransitError::KeyNotFound(_) => SealError::UnknownKeyId {
                seal_type: SEAL_TYPE,
                key_id: key_id.to_owned(),
            },
            TransitError::PermissionDenied { .. } => SealError::InvalidConfig {
                kind: "seal",
                reason: "transit seal: the transit server denied the token permission to \
                         decrypt (permission denied)",
            },
            TransitError::Rejected { .. } | TransitError::Tls(_) => SealError::InvalidConfig {
                kind: "seal",
                reason: "transit seal: the transit server refused the decrypt request \
                         (check address and mount_path; its message is in the log)",
            },
            _ => SealError::Decrypt {
                seal_type: SEAL_TYPE,
            },
        }
    }
}

/// The `errors` of a Vault-style error body, joined; the body itself (shortened) if it has
/// none.
pub(crate) fn server_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        #[serde(default)]
        errors: Vec<String>,
    }
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) if !b.errors.is_empty() => b.errors.join("; "),
        _ => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            if text.is_empty() {
                "no error message".to_owned()
            } else {
                text.chars().take(200).collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages_are_retriable() {
        for status in [412, 429, 500, 502, 503, 504] {
            let e = TransitError::from_status(status, "Vault is sealed".into());
            assert!(e.is_retriable(), "{status}");
            let wrap = e.clone().into_wrap_error();
            assert!(wrap.is_unavailable());
            assert!(wrap.to_string().contains("transit"));
            assert!(wrap.to_string().contains("Vault is sealed"), "{wrap}");
            assert!(e.into_unwrap_error("k:v1").is_unavailable());
        }
    }

    #[test]
    fn permission_denied_is_final_and_named() {
        let e = TransitError::from_status(403, "permission denied".into());
        assert!(matches!(
            e,
            TransitError::PermissionDenied { status: 403, .. }
        ));
        assert!(!e.is_retriable());
        let wrap = e.clone().into_wrap_error();
        assert!(!wrap.is_unavailable());
        let shown = wrap.to_string();
        assert!(
            shown.contains("transit") && shown.contains("permission denied"),
            "{shown}"
        );
        let unwrap = e.into_unwrap_error("k:v1");
        assert!(!unwrap.is_unavailable());
        let shown = unwrap.to_string();
        assert!(
            shown.contains("transit") && shown.contains("permission denied"),
            "{shown}"
        );
    }

    #[test]
    fn bad_requests_by_message() {
        for msg in [
            "ciphertext key version 1 is disallowed by policy (too old)",
            "ciphertext version is disallowed by policy (too old)",
            "key version 3 is no longer available",
        ] {
            let e = TransitError::from_status(400, msg.into());
            assert!(matches!(e, TransitError::KeyNotFound(_)), "{msg}");
        }
        let missing = TransitError::from_status(400, "encryption key not found".into());
        assert!(matches!(missing, TransitError::KeyNotFound(_)));
        assert_eq!(
            missing.into_unwrap_error("k:v2"),
            SealError::UnknownKeyId {
                seal_type: "transit",
                key_id: "k:v2".into()
            }
        );
        for msg in [
            "invalid ciphertext: no prefix",
            "decryption failed: message authentication failed",
            "cipher: message authentication failed; invalid ciphertext",
        ] {
            let e = TransitError::from_status(400, msg.into());
            assert!(matches!(e, TransitError::InvalidCiphertext(_)), "{msg}");
            assert_eq!(
                e.into_unwrap_error("k:v1"),
                SealError::Decrypt {
                    seal_type: "transit"
                }
            );
        }
        let other = TransitError::from_status(404, "no handler for route".into());
        assert!(matches!(other, TransitError::Rejected { status: 404, .. }));
        let wrap = other.clone().into_wrap_error().to_string();
        assert!(
            wrap.contains("404") && wrap.contains("no handler for route"),
            "{wrap}"
        );
        let unwrap = other.into_unwrap_error("k:v1");
        assert!(!unwrap.is_unavailable());
        assert!(unwrap.to_string().contains("transit"));
    }

    #[test]
    fn server_messages() {
        assert_eq!(
            server_message(br#"{"errors":["permission denied"]}"#),
            "permission denied"
        );
        assert_eq!(server_message(br#"{"errors":["a","b"]}"#), "a; b");
        assert_eq!(
            server_message(b"  <html>bad gateway</html> "),
            "<html>bad gateway</html>"
        );
        assert_eq!(server_message(b""), "no error message");
        assert_eq!(server_message(&[b'x'; 500]).len(), 200);
    }
}
