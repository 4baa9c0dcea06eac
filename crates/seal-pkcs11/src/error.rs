//! Errors of the pkcs11 seal, how PKCS#11 return codes are classified, and how both become a
//! [`SealError`] at the `Seal` boundary.

use cryptoki::error::{Error as CryptokiError, RvError};
use tresor_seal::SealError;

use crate::SEAL_TYPE;

/// Something the pkcs11 seal could not do. Converted to [`SealError`] by
/// [`Pkcs11Error::into_seal_error`]; messages never contain the PIN.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum Pkcs11Error {
    /// The stanza (or a VAULT_HSM_* variable) is invalid. The reason starts with "pkcs11: ".
    #[error("{0}")]
    Config(&'static str),
    /// The PKCS#11 module could not be loaded or initialized.
    #[error("cannot load PKCS#11 library {lib}: {reason}")]
    Library {
        /// The configured path.
        lib: String,
        /// What the loader or C_Initialize said.
        reason: String,
    },
    /// No slot holds the configured token.
    #[error("{0}")]
    TokenNotFound(String),
    /// The token refused the PIN (wrong, locked, expired). Not retried: retrying a wrong PIN
    /// can lock the token. The reason starts with "pkcs11: ".
    #[error("{0}")]
    Login(&'static str),
    /// The configured key is not on the token and may not be generated.
    #[error("no AES key with {key} on token {token:?}; set generate_key = \"true\" to create it")]
    KeyNotFound {
        /// How the key was looked for (label and/or id).
        key: String,
        /// The token's label.
        token: String,
    },
    /// More than one key matches the configured label / id.
    #[error("{count} AES keys match {key} on token {token:?}; set key_id to pick one")]
    AmbiguousKey {
        /// How the key was looked for.
        key: String,
        /// The token's label.
        token: String,
        /// How many matched.
        count: usize,
    },
    /// A wrapped key names a key this token does not hold (or a key id in a foreign format).
    #[error("unknown key id {0:?}")]
    UnknownKey(String),
    /// The wrapped key is too short to hold an IV and a tag.
    #[error("wrapped key is malformed")]
    MalformedBlob,
    /// A PKCS#11 call failed.
    #[error("{function} failed: {code}")]
    Hsm {
        /// The PKCS#11 function, e.g. "C_Decrypt".
        function: &'static str,
        /// The return code's name, e.g. "CKR_DEVICE_REMOVED", or the wrapper's message.
        code: String,
        /// What kind of failure the code denotes.
        class: RvClass,
    },
}

/// What a PKCS#11 return code means for the seal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RvClass {
    /// The session, token or device is gone or unusable: reopen the session and retry later.
    SessionLost,
    /// The input did not decrypt or authenticate (or the token's generic failure, which some
    /// tokens, SoftHSM among them, return for a failed GCM tag check).
    BadData,
    /// Anything else.
    Other,
}

impl Pkcs11Error {
    /// A closure turning a cryptoki error from `function` into [`Pkcs11Error::Hsm`].
    pub(crate) fn hsm(function: &'static str) -> impl Fn(CryptokiError) -> Pkcs11Error {
        move |err| match err {
            CryptokiError::Pkcs11(rv, _) => Pkcs11Error::Hsm {
                function,
                code: rv_name(rv),
                class: classify(rv),
            },
            other => Pkcs11Error::Hsm {
                function,
                code: other.to_string(),
                class: RvClass::Other,
            },
        }
    }

    /// Whether the session must be dropped and reopened on the next call.
    pub(crate) fn session_lost(&self) -> bool {
        matches!(
            self,
            Pkcs11Error::Hsm {
                class: RvClass::SessionLost,
                ..
            }
        )
    }

    /// The [`SealError`] for this failure during `op`.
    pub(crate) fn into_seal_error(self, op: Op) -> SealError {
        match self {
            Pkcs11Error::Config(reason) | Pkcs11Error::Login(reason) => SealError::InvalidConfig {
                kind: "seal",
                reason,
            },
            Pkcs11Error::UnknownKey(key_id) => SealError::UnknownKeyId {
                seal_type: SEAL_TYPE,
                key_id,
            },
            Pkcs11Error::MalformedBlob => SealError::Decrypt {
                seal_type: SEAL_TYPE,
            },
            Pkcs11Error::Hsm {
                class: RvClass::BadData,
                ..
            } if op == Op::Unwrap => SealError::Decrypt {
                seal_type: SEAL_TYPE,
            },
            Pkcs11Error::Hsm {
                class: RvClass::Other | RvClass::BadData,
                ..
            } if op == Op::Wrap => SealError::Encrypt {
                seal_type: SEAL_TYPE,
                reason: self.to_string(),
            },
            other => SealError::Unavailable {
                seal_type: SEAL_TYPE,
                reason: other.to_string(),
            },
        }
    }
}

/// The seal operation an error happened in; decides which [`SealError`] it becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// Opening the session, logging in, finding the key, health checks.
    Connect,
    /// `Seal::wrap`.
    Wrap,
    /// `Seal::unwrap`.
    Unwrap,
}

/// Classifies a return code.
pub(crate) fn classify(rv: RvError) -> RvClass {
    use RvError as R;
    match rv {
        R::DeviceRemoved
        | R::DeviceError
        | R::DeviceMemory
        | R::SessionClosed
        | R::SessionHandleInvalid
        | R::SessionCount
        | R::TokenNotPresent
        | R::TokenNotRecognized
        | R::UserNotLoggedIn
        | R::CryptokiNotInitialized
        | R::KeyHandleInvalid
        | R::ObjectHandleInvalid => RvClass::SessionLost,
        R::EncryptedDataInvalid
        | R::EncryptedDataLenRange
        | R::DataInvalid
        | R::DataLenRange
        | R::GeneralError
        | R::FunctionFailed => RvClass::BadData,
        _ => RvClass::Other,
    }
}

/// The `CKR_` name of a return code: cryptoki's variant name in upper snake case
/// (`DeviceRemoved` → `CKR_DEVICE_REMOVED`); vendor and unknown codes in hex.
pub(crate) fn rv_name(rv: RvError) -> String {
    match rv {
        RvError::VendorDefined(code) => format!("CKR_VENDOR_DEFINED({code:#x})"),
        RvError::UnknownErrorCode(code) => format!("CKR_UNKNOWN({code:#x})"),
        other => {
            let camel = format!("{other:?}");
            let mut name = String::from("CKR_");
            for (i, c) in camel.chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    name.push('_');
                }
                name.push(c.to_ascii_uppercase());
            }
            name
        }
    }
}

/// The message for a refused login, or `None` when the code is not about the PIN.
pub(crate) fn login_refusal(rv: RvError) -> Option<&'static str> {
    Some(match rv {
        RvError::PinIncorrect => "pkcs11: login failed: CKR_PIN_INCORRECT (the pin is wrong)",
        RvError::PinInvalid => "pkcs11: login failed: CKR_PIN_INVALID",
        RvError::PinLenRange => "pkcs11: login failed: CKR_PIN_LEN_RANGE (pin too short or long)",
        RvError::PinLocked => "pkcs11: login failed: CKR_PIN_LOCKED (the user pin is locked)",
        RvError::PinExpired => "pkcs11: login failed: CKR_PIN_EXPIRED",
        RvError::UserPinNotInitialized => {
            "pkcs11: login failed: CKR_USER_PIN_NOT_INITIALIZED (initialize the token's user pin)"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use cryptoki::context::Function;

    use super::*;

    #[test]
    fn return_codes_are_named_as_in_the_standard() {
        assert_eq!(rv_name(RvError::DeviceRemoved), "CKR_DEVICE_REMOVED");
        assert_eq!(
            rv_name(RvError::SessionHandleInvalid),
            "CKR_SESSION_HANDLE_INVALID"
        );
        assert_eq!(rv_name(RvError::PinIncorrect), "CKR_PIN_INCORRECT");
        assert_eq!(
            rv_name(RvError::VendorDefined(0x8000_0001)),
            "CKR_VENDOR_DEFINED(0x80000001)"
        );
    }

    #[test]
    fn session_problems_are_retriable_and_name_the_seal() {
        let err = Pkcs11Error::hsm("C_Encrypt")(CryptokiError::Pkcs11(
            RvError::DeviceRemoved,
            Function::Encrypt,
        ));
        assert!(err.session_lost());
        match err.into_seal_error(Op::Wrap) {
            e @ SealError::Unavailable { .. } => {
                let text = e.to_string();
                assert!(text.contains("pkcs11"), "{text}");
                assert!(text.contains("C_Encrypt"), "{text}");
                assert!(text.contains("CKR_DEVICE_REMOVED"), "{text}");
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }

    #[test]
    fn failed_decryption_is_an_authentication_failure() {
        let err = Pkcs11Error::hsm("C_Decrypt")(CryptokiError::Pkcs11(
            RvError::EncryptedDataInvalid,
            Function::Decrypt,
        ));
        assert!(!err.session_lost());
        assert_eq!(
            err.into_seal_error(Op::Unwrap),
            SealError::Decrypt {
                seal_type: SEAL_TYPE
            }
        );
    }

    #[test]
    fn other_wrap_failures_carry_the_code() {
        let err = Pkcs11Error::hsm("C_Encrypt")(CryptokiError::Pkcs11(
            RvError::MechanismInvalid,
            Function::Encrypt,
        ));
        let text = err.into_seal_error(Op::Wrap).to_string();
        assert!(text.contains("pkcs11 seal: failed to wrap"), "{text}");
        assert!(text.contains("CKR_MECHANISM_INVALID"), "{text}");
    }

    #[test]
    fn pin_refusals_are_configuration_errors() {
        let reason = login_refusal(RvError::PinIncorrect).unwrap();
        let text = Pkcs11Error::Login(reason)
            .into_seal_error(Op::Connect)
            .to_string();
        assert!(text.contains("pkcs11"), "{text}");
        assert!(text.contains("CKR_PIN_INCORRECT"), "{text}");
        assert!(login_refusal(RvError::DeviceRemoved).is_none());
    }

    #[test]
    fn classification() {
        assert_eq!(classify(RvError::TokenNotPresent), RvClass::SessionLost);
        assert_eq!(classify(RvError::SessionClosed), RvClass::SessionLost);
        assert_eq!(classify(RvError::EncryptedDataLenRange), RvClass::BadData);
        assert_eq!(classify(RvError::MechanismInvalid), RvClass::Other);
    }
}
