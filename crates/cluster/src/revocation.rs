//! [`RevokedCerts`]: node certificates the cluster port refuses although the cluster CA
//! signed them (nodes removed from the cluster), checked on both ends of every handshake.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};
use sha2::{Digest, Sha256};

/// The SHA-256 fingerprint of a DER certificate, lowercase hex.
pub fn cert_fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// A shared, updatable set of revoked certificate fingerprints ([`cert_fingerprint`]), each
/// with the node id it was issued to (for logs). Clones share the set: the verifiers built
/// from an identity holding it see every later [`replace`](Self::replace) at their next
/// handshake.
#[derive(Clone, Default)]
pub struct RevokedCerts(Arc<RwLock<HashMap<String, String>>>);

impl std::fmt::Debug for RevokedCerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevokedCerts")
            .field("len", &self.len())
            .finish()
    }
}

impl RevokedCerts {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the set with `entries` (fingerprint → node id); returns whether it changed.
    pub fn replace(&self, entries: HashMap<String, String>) -> bool {
        let mut set = self.0.write().unwrap_or_else(|e| e.into_inner());
        if *set == entries {
            return false;
        }
        *set = entries;
        true
    }

    /// The node id of `der` if that certificate is revoked.
    pub fn revoked_node(&self, der: &[u8]) -> Option<String> {
        let set = self.0.read().unwrap_or_else(|e| e.into_inner());
        if set.is_empty() {
            return None;
        }
        set.get(&cert_fingerprint(der)).cloned()
    }

    /// How many certificates are revoked.
    pub fn len(&self) -> usize {
        self.0.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no certificate is revoked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Refuses `end_entity` if it is revoked (`side` names the peer's role, for the log).
    fn check(&self, end_entity: &CertificateDer<'_>, side: &str) -> Result<(), rustls::Error> {
        match self.revoked_node(end_entity.as_ref()) {
            None => Ok(()),
            Some(node) => {
                tracing::warn!(
                    node = %node,
                    side,
                    "refused a revoked cluster certificate (the node was removed from the cluster)"
                );
                Err(rustls::Error::InvalidCertificate(CertificateError::Revoked))
            }
        }
    }
}

/// The server's check of client certificates: the CA's, then revocation.
#[derive(Debug)]
pub(crate) struct RevocationClientVerifier {
    pub(crate) inner: Arc<dyn ClientCertVerifier>,
    pub(crate) revoked: RevokedCerts,
}

impl ClientCertVerifier for RevocationClientVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        self.revoked.check(end_entity, "client")?;
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The client's check of server certificates: the CA's and the host name, then revocation.
#[derive(Debug)]
pub(crate) struct RevocationServerVerifier {
    pub(crate) inner: Arc<dyn ServerCertVerifier>,
    pub(crate) revoked: RevokedCerts,
}

impl ServerCertVerifier for RevocationServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        self.revoked.check(end_entity, "server")?;
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
