//! The rustls client configuration for the `tls_*` options: the trusted CA (or the operating
//! system's trust store), an optional client certificate, the name to verify the server's certificate
//! against, and, for tests only, no verification at all.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use zeroize::Zeroizing;

use crate::{TlsSettings, TransitError};

/// The client configuration for `tls`. Reads the PEM files it names; without a CA, trusts
/// the operating system's trust store.
pub(crate) fn client_config(tls: &TlsSettings) -> Result<ClientConfig, TransitError> {
    client_config_with(tls, os_trust_store)
}

/// [`client_config`] with the trust store's certificates from `os_roots` (read only when no CA
/// is configured).
fn client_config_with(
    tls: &TlsSettings,
    os_roots: impl FnOnce() -> Vec<CertificateDer<'static>>,
) -> Result<ClientConfig, TransitError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    match &tls.ca_cert {
        Some(path) => {
            let pem = read(path, "CA certificate")?;
            let certs = parse_certs(&pem, path)?;
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| tls_error(path, &format!("invalid CA certificate: {e}")))?;
            }
        }
        None => {
            let (added, ignored) = roots.add_parsable_certificates(os_roots());
            tracing::debug!(added, ignored, "transit seal trusts the OS trust store");
            if added == 0 {
                return Err(TransitError::Tls(
                    "the operating system's trust store holds no usable certificate; set \
                     tls_ca_cert to the CA of the transit server"
                        .into(),
                ));
            }
        }
    }
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| TransitError::Tls(format!("cannot build the certificate verifier: {e}")))?;
    let server_name = match &tls.server_name {
        Some(name) => Some(ServerName::try_from(name.clone()).map_err(|_| {
            TransitError::Tls(format!(
                "tls_server_name {name:?} is not a valid server name"
            ))
        })?),
        None => None,
    };
    let verifier = Arc::new(Verifier {
        webpki,
        server_name,
        skip_verify: tls.skip_verify,
    });

    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TransitError::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match (&tls.client_cert, &tls.client_key) {
        (Some(cert_path), Some(key_path)) => {
            let certs = parse_certs(&read(cert_path, "client certificate")?, cert_path)?;
            let key = parse_key(&read(key_path, "client key")?, key_path)?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| tls_error(key_path, &format!("unusable client key: {e}")))?
        }
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The certificates of the operating system's trust store (`SSL_CERT_FILE` and
/// `SSL_CERT_DIR` override its location, as for OpenSSL). Unreadable entries are logged and
/// skipped.
fn os_trust_store() -> Vec<CertificateDer<'static>> {
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        tracing::warn!(error = %e, "reading the OS trust store");
    }
    found.certs
}

fn read(path: &Path, what: &str) -> Result<Zeroizing<Vec<u8>>, TransitError> {
    std::fs::read(path)
        .map(Zeroizing::new)
        .map_err(|e| tls_error(path, &format!("cannot read the {what}: {e}")))
}

fn tls_error(path: &Path, reason: &str) -> TransitError {
    TransitError::Tls(format!("{}: {reason}", path.display()))
}

fn parse_certs(pem: &[u8], path: &Path) -> Result<Vec<CertificateDer<'static>>, TransitError> {
    let certs = rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_error(path, &format!("invalid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(tls_error(path, "no certificate in the file"));
    }
    Ok(certs)
}

fn parse_key(pem: &[u8], path: &Path) -> Result<PrivateKeyDer<'static>, TransitError> {
    rustls_pemfile::private_key(&mut &pem[..])
        .map_err(|e| tls_error(path, &format!("invalid PEM: {e}")))?
        .ok_or_else(|| tls_error(path, "no private key in the file"))
}

/// Web PKI verification against the configured roots, optionally under another server name,
/// or (skip_verify) none.
struct Verifier {
    webpki: Arc<WebPkiServerVerifier>,
    server_name: Option<ServerName<'static>>,
    skip_verify: bool,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("server_name", &self.server_name)
            .field("skip_verify", &self.skip_verify)
            .finish_non_exhaustive()
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.skip_verify {
            return Ok(ServerCertVerified::assertion());
        }
        let name = self.server_name.as_ref().unwrap_or(server_name);
        self.webpki
            .verify_server_cert(end_entity, intermediates, name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn defaults_use_the_os_trust_store() {
        let os = rcgen::generate_simple_self_signed(vec!["os.test".into()]).unwrap();
        let der = os.cert.der().clone();
        let config = client_config_with(&TlsSettings::default(), || vec![der]).unwrap();
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        assert!(!config.client_auth_cert_resolver.has_certs());
        // An empty store is refused with a hint, not left to fail every handshake.
        let err = client_config_with(&TlsSettings::default(), Vec::new).unwrap_err();
        assert!(err.to_string().contains("tls_ca_cert"), "{err}");
        // A configured CA replaces the store (which is then not read).
        let dir = tempfile::tempdir().unwrap();
        let ca = rcgen::generate_simple_self_signed(vec!["ca.test".into()]).unwrap();
        let tls = TlsSettings {
            ca_cert: Some(write(&dir, "ca.pem", &ca.cert.pem())),
            ..TlsSettings::default()
        };
        client_config_with(&tls, || panic!("the OS store must not be read")).unwrap();
    }

    #[test]
    fn ca_and_client_certificate_load() {
        let dir = tempfile::tempdir().unwrap();
        let ca = rcgen::generate_simple_self_signed(vec!["ca.test".into()]).unwrap();
        let client = rcgen::generate_simple_self_signed(vec!["client.test".into()]).unwrap();
        let tls = TlsSettings {
            ca_cert: Some(write(&dir, "ca.pem", &ca.cert.pem())),
            client_cert: Some(write(&dir, "client.pem", &client.cert.pem())),
            client_key: Some(write(
                &dir,
                "client-key.pem",
                &client.key_pair.serialize_pem(),
            )),
            server_name: Some("transit.test".into()),
            skip_verify: false,
        };
        let config = client_config(&tls).unwrap();
        assert!(config.client_auth_cert_resolver.has_certs());
    }

    #[test]
    fn unusable_files_are_reported_with_their_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let err = client_config(&TlsSettings {
            ca_cert: Some(missing.clone()),
            ..TlsSettings::default()
        })
        .unwrap_err();
        assert!(matches!(err, TransitError::Tls(_)));
        assert!(err.to_string().contains("missing.pem"), "{err}");

        let empty = write(&dir, "empty.pem", "not a pem\n");
        let err = client_config(&TlsSettings {
            ca_cert: Some(empty),
            ..TlsSettings::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("no certificate"), "{err}");

        let cert = rcgen::generate_simple_self_signed(vec!["c.test".into()]).unwrap();
        let err = client_config(&TlsSettings {
            client_cert: Some(write(&dir, "c.pem", &cert.cert.pem())),
            client_key: Some(write(&dir, "k.pem", &cert.cert.pem())),
            ..TlsSettings::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("no private key"), "{err}");

        let err = client_config(&TlsSettings {
            server_name: Some("not a name!".into()),
            ..TlsSettings::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("tls_server_name"), "{err}");
    }
}
