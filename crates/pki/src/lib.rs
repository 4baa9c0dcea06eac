//! The PKI secrets engine (`pki`): a root CA per mount, roles, certificate issuance (with a
//! lease when the role asks), revocation and a signed CRL, with Vault's paths and JSON.
//!
//! Endpoints (relative to the mount):
//! - `root/generate/internal` and `root/generate/exported` (the latter answers the private
//!   key too); `DELETE root` removes the CA;
//! - `config/crl` (`expiry`, `disable`);
//! - `config/urls` (issuing certificates, CRL distribution points, OCSP servers, written into
//!   every certificate issued afterwards);
//! - `roles/` (LIST), `roles/<name>` (write, read, delete);
//! - `issue/<role>`: a fresh key and a certificate signed by the CA; with the role's
//!   `generate_lease` the answer carries a lease whose revocation revokes the certificate;
//! - `revoke`, `cert/<serial>`, `certs/` (LIST), `certs/revoked/` (LIST), `tidy`;
//! - `ca`, `ca/pem`, `cert/ca`, `ca_chain`, `crl`, `crl/pem`, `cert/crl` (unauthenticated),
//!   `crl/rotate`.
//!
//! Not offered yet: intermediate CAs (`intermediate/*`, `root/sign-intermediate`), signing
//! CSRs (`sign/*`, `sign-verbatim`), importing a CA (`config/ca`), multiple issuers and keys
//! (`issuer/*`, `key/*`), ACME, OCSP, delta CRLs, glob domains.
//!
//! `ca`, `ca/pem`, `ca_chain`, `crl` and `crl/pem` are bare answers (DER or PEM bodies, not
//! Vault's JSON envelope): the engine answers `http_content_type` and `http_raw_body` (base64)
//! in `data`, and the http layer sends those bytes as they are.
//!
//! Source layout: `route` (paths), `names` (which names a role allows, pure), `role`
//! (roles and TTL rules, pure), `keys` (key types, generation, formats), `ca` (root and
//! signer), `issue` (leaf requests and building), `crl`, `urls` (`config/urls` and the
//! extensions it adds), `serial`, `pem`, `store` (storage layout), `endpoints` (handlers).

mod ca;
mod crl;
mod endpoints;
mod error;
mod issue;
mod keys;
pub mod names;
mod pem;
#[cfg(test)]
mod props;
mod role;
mod route;
mod serial;
mod store;
mod urls;

use std::sync::Arc;

use async_trait::async_trait;
use tresor_sdk::{LogicalBackend, LogicalError, Request, Response};

pub use error::PkiError;

/// "Now" in Unix seconds.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The PKI engine.
///
/// All state (CA key, roles, certificates, revocations, the CRL) lives in the mount's storage
/// view, encrypted by the barrier. Changes to the CA, revocations and CRL rebuilds are
/// serialised by an in-process lock (only the active node writes).
pub struct Pki {
    clock: Clock,
    writes: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki").finish_non_exhaustive()
    }
}

impl Default for Pki {
    fn default() -> Self {
        Self::new()
    }
}

impl Pki {
    /// A PKI engine on the wall clock.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(|| {
            time::OffsetDateTime::now_utc().unix_timestamp()
        }))
    }

    /// A PKI engine reading "now" from `clock` (for tests of expiry and tidy).
    pub fn with_clock(clock: Clock) -> Self {
        Self {
            clock,
            writes: tokio::sync::Mutex::new(()),
        }
    }

    fn now(&self) -> i64 {
        (self.clock)()
    }
}

/// Registers the engine as the secrets-engine type `pki`.
pub fn register(registry: &mut tresor_sdk::BackendRegistry) {
    registry.register(
        tresor_sdk::BackendKind::Secret,
        "pki",
        Arc::new(|_options| Ok(Arc::new(Pki::new()) as Arc<dyn LogicalBackend>)),
    );
}

#[async_trait]
impl LogicalBackend for Pki {
    /// Reads of the CA, certificates, roles and settings; not the CRL, which a read may
    /// rebuild.
    fn standby_readable(&self, path: &str) -> bool {
        use route::Route;
        matches!(
            route::parse(path),
            Some(
                Route::Urls
                    | Route::CrlConfig
                    | Route::Roles
                    | Route::Role(_)
                    | Route::Ca(_)
                    | Route::CaChain(_)
                    | Route::Cert(_)
                    | Route::Certs
                    | Route::RevokedCerts
            )
        )
    }

    async fn handle(&self, req: &Request) -> Result<Option<Response>, LogicalError> {
        Ok(self.dispatch(req).await?)
    }

    async fn exists(&self, req: &Request) -> Result<Option<bool>, LogicalError> {
        Ok(Pki::exists(self, req).await?)
    }

    fn unauthenticated_paths(&self) -> Vec<String> {
        route::unauthenticated()
    }

    fn root_paths(&self) -> Vec<String> {
        vec!["root".to_owned(), "root/sign-self-issued".to_owned()]
    }
}
