//! Where the PKI engine keeps its state in the mount's storage view (encrypted at rest by
//! the barrier):
//!
//! - `ca/bundle`: the CA ([`CaBundle`]: its key, certificate and the facts needed to sign);
//! - `config/urls`: [`Urls`]; `config/crl`: [`crate::crl::CrlConfig`];
//! - `role/<name>`: [`Role`];
//! - `certs/<serial with ->`: every issued certificate (unless the role says `no_store`) and
//!   the CA's own ([`CertEntry`]);
//! - `revoked/<serial with ->`: revocations ([`Revoked`]);
//! - `crl/current`: the last signed CRL ([`StoredCrl`]).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tresor_storage::{Backend, View};

use crate::error::PkiError;
use crate::keys::KeySpec;
use crate::role::Role;
use crate::urls::Urls;

/// The CA of a mount.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct CaBundle {
    /// The key's type and size.
    pub(crate) key: KeySpec,
    /// The private key, PKCS #8 DER, base64.
    pub(crate) key_pkcs8: String,
    /// The CA certificate, PEM.
    pub(crate) certificate: String,
    /// Its common name.
    pub(crate) common_name: String,
    /// Its serial.
    pub(crate) serial: Vec<u8>,
    /// Validity start, Unix seconds.
    pub(crate) not_before: i64,
    /// Validity end, Unix seconds.
    pub(crate) not_after: i64,
}

impl std::fmt::Debug for CaBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaBundle")
            .field("common_name", &self.common_name)
            .finish_non_exhaustive()
    }
}

/// An issued certificate.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct CertEntry {
    /// PEM.
    pub(crate) certificate: String,
    /// Validity end, Unix seconds.
    pub(crate) not_after: i64,
}

/// A revocation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Revoked {
    /// When, Unix seconds.
    pub(crate) revocation_time: i64,
    /// The certificate's validity end (0 when the certificate was not stored).
    pub(crate) not_after: i64,
}

/// The last CRL signed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct StoredCrl {
    /// Its number.
    pub(crate) number: u64,
    /// Its `nextUpdate`, Unix seconds.
    pub(crate) next_update: i64,
    /// The CRL, DER, base64.
    pub(crate) der: String,
}

/// Typed access to one mount's view.
pub(crate) struct Store<'a> {
    view: &'a View,
}

impl<'a> Store<'a> {
    /// The store over a mount's view.
    pub(crate) fn new(view: &'a View) -> Self {
        Self { view }
    }

    async fn load<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>, PkiError> {
        let Some(bytes) = self.view.get(path).await? else {
            return Ok(None);
        };
        let bytes = zeroize::Zeroizing::new(bytes);
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| PkiError::Corrupt {
                path: path.to_owned(),
                reason: e.to_string(),
            })
    }

    async fn save<T: Serialize>(&self, path: &str, value: &T) -> Result<(), PkiError> {
        let bytes = serde_json::to_vec(value).map_err(|e| PkiError::Corrupt {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        self.view.put(path, bytes).await?;
        Ok(())
    }

    /// The CA, if one was generated.
    pub(crate) async fn ca(&self) -> Result<Option<CaBundle>, PkiError> {
        self.load("ca/bundle").await
    }

    /// The CA, or [`PkiError::NoCa`].
    pub(crate) async fn require_ca(&self) -> Result<CaBundle, PkiError> {
        self.ca().await?.ok_or(PkiError::NoCa)
    }

    /// Stores the CA.
    pub(crate) async fn save_ca(&self, ca: &CaBundle) -> Result<(), PkiError> {
        self.save("ca/bundle", ca).await
    }

    /// Removes the CA and its CRL.
    pub(crate) async fn delete_ca(&self) -> Result<(), PkiError> {
        self.view.delete("ca/bundle").await?;
        self.view.delete("crl/current").await?;
        Ok(())
    }

    /// The URL configuration (empty when never written).
    pub(crate) async fn urls(&self) -> Result<Urls, PkiError> {
        Ok(self.load("config/urls").await?.unwrap_or_default())
    }

    /// Stores the URL configuration.
    pub(crate) async fn save_urls(&self, urls: &Urls) -> Result<(), PkiError> {
        self.save("config/urls", urls).await
    }

    /// The CRL configuration (defaults when never written).
    pub(crate) async fn crl_config(&self) -> Result<crate::crl::CrlConfig, PkiError> {
        Ok(self.load("config/crl").await?.unwrap_or_default())
    }

    /// Stores the CRL configuration.
    pub(crate) async fn save_crl_config(&self, c: &crate::crl::CrlConfig) -> Result<(), PkiError> {
        self.save("config/crl", c).await
    }

    /// The role `name`.
    pub(crate) async fn role(&self, name: &str) -> Result<Option<Role>, PkiError> {
        self.load(&format!("role/{name}")).await
    }

    /// Stores the role `name`.
    pub(crate) async fn save_role(&self, name: &str, role: &Role) -> Result<(), PkiError> {
        self.save(&format!("role/{name}"), role).await
    }

    /// Removes the role `name`.
    pub(crate) async fn delete_role(&self, name: &str) -> Result<(), PkiError> {
        Ok(self.view.delete(&format!("role/{name}")).await?)
    }

    /// Role names.
    pub(crate) async fn roles(&self) -> Result<Vec<String>, PkiError> {
        Ok(self.view.list("role/").await?)
    }

    /// The certificate with serial storage key `key` (`1f-0a-...`).
    pub(crate) async fn cert(&self, key: &str) -> Result<Option<CertEntry>, PkiError> {
        self.load(&format!("certs/{key}")).await
    }

    /// Stores a certificate.
    pub(crate) async fn save_cert(&self, key: &str, cert: &CertEntry) -> Result<(), PkiError> {
        self.save(&format!("certs/{key}"), cert).await
    }

    /// Removes a certificate.
    pub(crate) async fn delete_cert(&self, key: &str) -> Result<(), PkiError> {
        Ok(self.view.delete(&format!("certs/{key}")).await?)
    }

    /// Storage keys of the stored certificates.
    pub(crate) async fn cert_keys(&self) -> Result<Vec<String>, PkiError> {
        Ok(self.view.list("certs/").await?)
    }

    /// The revocation of serial storage key `key`.
    pub(crate) async fn revoked(&self, key: &str) -> Result<Option<Revoked>, PkiError> {
        self.load(&format!("revoked/{key}")).await
    }

    /// Records a revocation.
    pub(crate) async fn save_revoked(&self, key: &str, r: &Revoked) -> Result<(), PkiError> {
        self.save(&format!("revoked/{key}"), r).await
    }

    /// Forgets a revocation.
    pub(crate) async fn delete_revoked(&self, key: &str) -> Result<(), PkiError> {
        Ok(self.view.delete(&format!("revoked/{key}")).await?)
    }

    /// Storage keys of the revoked serials.
    pub(crate) async fn revoked_keys(&self) -> Result<Vec<String>, PkiError> {
        Ok(self.view.list("revoked/").await?)
    }

    /// The last CRL.
    pub(crate) async fn crl(&self) -> Result<Option<StoredCrl>, PkiError> {
        self.load("crl/current").await
    }

    /// Stores the CRL.
    pub(crate) async fn save_crl(&self, crl: &StoredCrl) -> Result<(), PkiError> {
        self.save("crl/current", crl).await
    }
}
