//! [`TransitSeal`]: the root key wrapped by another cluster's transit engine.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use tresor_config::SealStanza;
use tresor_seal::{Seal, SealError, WrappedKey};
use zeroize::Zeroizing;

use crate::ciphertext::{ciphertext_version, key_id, parse_key_id};
use crate::client::TransitClient;
use crate::renewal::{self, RenewalTask};
use crate::settings::invalid;
use crate::{SEAL_TYPE, Timeouts, TransitError, TransitSettings};

/// The `transit` seal. Shared as `Arc<dyn Seal>`; holds no key material between calls.
///
/// A wrapped key's ciphertext is the transit ciphertext string (`vault:v<N>:...`, as bytes)
/// and its key id is `<key_name>:v<N>`, the transit key version that encrypted it. The transit
/// engine keeps old versions (down to its `min_decryption_version`), so keys wrapped before a
/// rotation of the transit key still unwrap. Keys recorded under another transit key name are
/// refused with [`SealError::UnknownKeyId`] without asking the server.
///
/// Unless `disable_renewal` is set, a background task renews the token at about half its TTL
/// for as long as the seal lives (see the `renewal` module); dropping the seal stops it.
pub struct TransitSeal {
    client: Arc<TransitClient>,
    renewal: Option<RenewalTask>,
}

impl fmt::Debug for TransitSeal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransitSeal")
            .field("address", &self.client.address())
            .field("mount_path", &self.client.mount_path())
            .field("key_name", &self.client.key_name())
            .field("renews_token", &self.renewal.is_some())
            .finish_non_exhaustive()
    }
}

impl TransitSeal {
    /// A seal for a `seal "transit"` stanza, with Vault's environment variables read from the
    /// process environment (see [`TransitSettings::from_stanza`]). Does not wait for the
    /// server, so it succeeds while the server is unreachable; only configuration errors
    /// (including unreadable TLS files) fail. Must run inside a Tokio runtime, which hosts the
    /// token renewal task.
    pub async fn from_stanza(stanza: &SealStanza) -> Result<TransitSeal, SealError> {
        Self::from_stanza_with_env(stanza, &|name| std::env::var(name).ok()).await
    }

    /// Like [`from_stanza`](Self::from_stanza), with environment variables looked up by `env`.
    pub async fn from_stanza_with_env(
        stanza: &SealStanza,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<TransitSeal, SealError> {
        let settings = TransitSettings::from_stanza(stanza, env)?;
        Self::new(&settings).map_err(|e| {
            tracing::error!(seal = SEAL_TYPE, error = %e, "cannot set up the transit seal");
            invalid("transit seal: the TLS options cannot be used (see the log for why)")
        })
    }

    /// A seal for resolved settings with the default [`Timeouts`]. Starts the token renewal
    /// task unless `disable_renewal` is set (or no Tokio runtime is running, which is logged).
    /// Fails only if the TLS options cannot be applied.
    pub fn new(settings: &TransitSettings) -> Result<TransitSeal, TransitError> {
        Self::with_timeouts(settings, Timeouts::default())
    }

    /// Like [`new`](Self::new), with other time limits for calls to the server.
    pub fn with_timeouts(
        settings: &TransitSettings,
        timeouts: Timeouts,
    ) -> Result<TransitSeal, TransitError> {
        let client = Arc::new(TransitClient::new(settings, timeouts)?);
        let renewal = if settings.disable_renewal {
            None
        } else if tokio::runtime::Handle::try_current().is_ok() {
            Some(renewal::spawn(client.clone()))
        } else {
            tracing::warn!(
                seal = SEAL_TYPE,
                "no async runtime: the transit seal token will not be renewed"
            );
            None
        };
        Ok(TransitSeal { client, renewal })
    }

    /// The transit server's address.
    pub fn address(&self) -> &str {
        self.client.address()
    }

    /// The transit engine's mount path, without slashes at either end.
    pub fn mount_path(&self) -> &str {
        self.client.mount_path()
    }

    /// The transit key's name.
    pub fn key_name(&self) -> &str {
        self.client.key_name()
    }

    /// Whether a background task renews the token.
    pub fn renews_token(&self) -> bool {
        self.renewal.is_some()
    }

    /// Checks that the server answers and lets this seal encrypt with its key (an encrypt of
    /// a small constant), for seal-health reporting. `Unavailable` means retry later;
    /// `Encrypt` means the server refused (permission denied, no such key or mount), with the
    /// server's message.
    pub async fn health_check(&self) -> Result<(), SealError> {
        let ciphertext = self
            .client
            .encrypt(b"tresor health check")
            .await
            .map_err(TransitError::into_wrap_error)?;
        match ciphertext_version(&ciphertext) {
            Some(_) => Ok(()),
            None => Err(malformed_response()),
        }
    }
}

fn malformed_response() -> SealError {
    SealError::Encrypt {
        seal_type: SEAL_TYPE,
        reason: "the transit server returned a malformed ciphertext".into(),
    }
}

#[async_trait]
impl Seal for TransitSeal {
    fn seal_type(&self) -> &'static str {
        SEAL_TYPE
    }

    fn is_auto(&self) -> bool {
        true
    }

    async fn wrap(&self, plaintext: &[u8]) -> Result<WrappedKey, SealError> {
        let ciphertext = self
            .client
            .encrypt(plaintext)
            .await
            .map_err(TransitError::into_wrap_error)?;
        let version = ciphertext_version(&ciphertext).ok_or_else(malformed_response)?;
        Ok(WrappedKey {
            seal_type: SEAL_TYPE.to_owned(),
            key_id: key_id(self.client.key_name(), version),
            ciphertext: ciphertext.into_bytes(),
        })
    }

    async fn unwrap(&self, wrapped: &WrappedKey) -> Result<Zeroizing<Vec<u8>>, SealError> {
        if wrapped.seal_type != SEAL_TYPE {
            return Err(SealError::WrongSealType {
                seal_type: SEAL_TYPE,
                found: wrapped.seal_type.clone(),
            });
        }
        let decrypt_error = || SealError::Decrypt {
            seal_type: SEAL_TYPE,
        };
        let (name, version) = parse_key_id(&wrapped.key_id).ok_or_else(decrypt_error)?;
        if name != self.client.key_name() {
            return Err(SealError::UnknownKeyId {
                seal_type: SEAL_TYPE,
                key_id: wrapped.key_id.clone(),
            });
        }
        let text = std::str::from_utf8(&wrapped.ciphertext).map_err(|_| decrypt_error())?;
        if ciphertext_version(text) != Some(version) {
            return Err(decrypt_error());
        }
        self.client
            .decrypt(text)
            .await
            .map_err(|e| e.into_unwrap_error(&wrapped.key_id))
    }
}

#[cfg(test)]
mod tests {
    use tresor_config::SealStanza;

    use super::*;

    fn settings(disable_renewal: bool) -> TransitSettings {
        let mut s = SealStanza::new("transit");
        for (k, v) in [
            // Nothing listens on port 9 (discard) of loopback in the test environment; these
            // tests never reach the network anyway.
            ("address", "http://127.0.0.1:9"),
            ("token", "t"),
            ("key_name", "unseal"),
        ] {
            s.params.insert(k.into(), v.into());
        }
        s.params
            .insert("disable_renewal".into(), disable_renewal.to_string());
        TransitSettings::from_stanza(&s, &|_| None).unwrap()
    }

    fn wrapped(key_id: &str, ciphertext: &str) -> WrappedKey {
        WrappedKey {
            seal_type: SEAL_TYPE.into(),
            key_id: key_id.into(),
            ciphertext: ciphertext.as_bytes().to_vec(),
        }
    }

    #[tokio::test]
    async fn refuses_locally_what_cannot_be_ours() {
        let seal = TransitSeal::new(&settings(true)).unwrap();
        assert!(!seal.renews_token());
        assert_eq!(seal.key_name(), "unseal");
        assert_eq!(seal.mount_path(), "transit");

        let mut other_type = wrapped("unseal:v1", "vault:v1:AAAA");
        other_type.seal_type = "awskms".into();
        assert!(matches!(
            seal.unwrap(&other_type).await,
            Err(SealError::WrongSealType { .. })
        ));
        assert_eq!(
            seal.unwrap(&wrapped("other:v1", "vault:v1:AAAA"))
                .await
                .unwrap_err(),
            SealError::UnknownKeyId {
                seal_type: "transit",
                key_id: "other:v1".into()
            }
        );
        for (id, text) in [
            ("unseal", "vault:v1:AAAA"),
            ("unseal:v2", "vault:v1:AAAA"),
            ("unseal:v1", "wault:v1:AAAA"),
            ("unseal:v1", ""),
        ] {
            assert_eq!(
                seal.unwrap(&wrapped(id, text)).await.unwrap_err(),
                SealError::Decrypt {
                    seal_type: "transit"
                },
                "{id} {text}"
            );
        }
        let mut not_utf8 = wrapped("unseal:v1", "");
        not_utf8.ciphertext = vec![0xff, 0xfe];
        assert!(seal.unwrap(&not_utf8).await.is_err());
    }

    #[tokio::test]
    async fn renewal_runs_unless_disabled() {
        let seal = TransitSeal::new(&settings(false)).unwrap();
        assert!(seal.renews_token());
        let shown = format!("{seal:?}");
        assert!(
            shown.contains("unseal") && !shown.contains("\"t\""),
            "{shown}"
        );
    }

    #[test]
    fn no_runtime_means_no_renewal() {
        let seal = TransitSeal::new(&settings(false)).unwrap();
        assert!(!seal.renews_token());
    }
}
