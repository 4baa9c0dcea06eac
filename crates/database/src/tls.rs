//! TLS to PostgreSQL with rustls (ring), as libpq's `sslmode` asks for it:
//!
//! | `sslmode` | TLS | certificate check |
//! |---|---|---|
//! | `disable` | never | — |
//! | `allow`, `prefer` (the default) | if the server offers it | none |
//! | `require` | always | none, or as `verify-ca` when `sslrootcert` is given |
//! | `verify-ca` | always | chain to `sslrootcert` (or the system's roots) |
//! | `verify-full` | always | chain and host name |
//!
//! `sslmode` and `sslrootcert` (a PEM file on the server's disk, at most 1 MiB) are taken out
//! of the connection string here; client certificates (`sslcert`, `sslkey`) are refused.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::DbError;

/// Largest `sslrootcert` file read.
const MAX_ROOT_CERT_FILE: u64 = 1024 * 1024;

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    /// No TLS.
    Disable,
    /// TLS when offered, unverified (`allow` is read as `prefer`).
    #[default]
    Prefer,
    /// TLS, unverified unless a root certificate is given.
    Require,
    /// TLS with a verified chain.
    VerifyCa,
    /// TLS with a verified chain and host name.
    VerifyFull,
}

/// The TLS parameters of a connection string.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsParams {
    /// The mode.
    pub mode: SslMode,
    /// `sslrootcert`: a PEM file of trusted roots.
    pub root_cert: Option<String>,
}

fn parse_mode(v: &str) -> Result<SslMode, DbError> {
    Ok(match v {
        "disable" => SslMode::Disable,
        "allow" | "prefer" => SslMode::Prefer,
        "require" => SslMode::Require,
        "verify-ca" => SslMode::VerifyCa,
        "verify-full" => SslMode::VerifyFull,
        other => return Err(DbError::invalid(format!("invalid sslmode {other:?}"))),
    })
}

/// Takes `sslmode` and `sslrootcert` out of a connection string (URL or key/value form);
/// returns what is left for the PostgreSQL client and the TLS parameters.
pub fn split_params(conn: &str) -> Result<(String, TlsParams), DbError> {
    let mut params = TlsParams::default();
    let mut take = |key: &str, value: &str| -> Result<bool, DbError> {
        match key {
            "sslmode" => {
                params.mode = parse_mode(value)?;
                Ok(true)
            }
            "sslrootcert" => {
                params.root_cert = Some(value.to_owned());
                Ok(true)
            }
            "sslcert" | "sslkey" | "sslpassword" => Err(DbError::invalid(
                "client certificates (sslcert, sslkey) are not supported",
            )),
            _ => Ok(false),
        }
    };
    let url_form = conn.starts_with("postgres://") || conn.starts_with("postgresql://");
    if url_form {
        let Some((base, query)) = conn.split_once('?') else {
            return Ok((conn.to_owned(), params));
        };
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if !take(k, &percent_decode(v))? {
                kept.push(pair);
            }
        }
        let rest = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return Ok((rest, params));
    }
    let mut kept = Vec::new();
    for token in conn.split_whitespace() {
        if let Some((k, v)) = token.split_once('=')
            && take(k, v.trim_matches('\''))?
        {
            continue;
        }
        kept.push(token);
    }
    Ok((kept.join(" "), params))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(h) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(h, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl TlsParams {
    /// The client's `sslmode` for these parameters.
    pub fn client_mode(&self) -> tokio_postgres::config::SslMode {
        match self.mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            _ => tokio_postgres::config::SslMode::Require,
        }
    }

    /// The TLS connector (`None` for `disable`); reads `sslrootcert` if given.
    pub fn connector(&self) -> Result<Option<MakeRustlsConnect>, DbError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier: Arc<dyn ServerCertVerifier> = match (self.mode, &self.root_cert) {
            (SslMode::Disable, _) => return Ok(None),
            (SslMode::Prefer, _) | (SslMode::Require, None) => Arc::new(NoVerification {
                provider: provider.clone(),
            }),
            (SslMode::Require | SslMode::VerifyCa, _) => Arc::new(NoHostnameCheck {
                inner: self.webpki(&provider)?,
            }),
            (SslMode::VerifyFull, _) => self.webpki(&provider)?,
        };
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| DbError::Internal(format!("TLS setup: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(Some(MakeRustlsConnect::new(config)))
    }

    fn webpki(&self, provider: &Arc<CryptoProvider>) -> Result<Arc<WebPkiServerVerifier>, DbError> {
        let mut roots = RootCertStore::empty();
        match &self.root_cert {
            Some(path) => {
                for cert in read_pem_certs(path)? {
                    roots
                        .add(cert)
                        .map_err(|e| DbError::invalid(format!("sslrootcert {path:?}: {e}")))?;
                }
            }
            None => {
                roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            }
        }
        if roots.is_empty() {
            return Err(DbError::invalid(
                "no trusted root certificate for sslmode verification",
            ));
        }
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| DbError::invalid(format!("TLS roots: {e}")))
    }
}

fn read_pem_certs(path: &str) -> Result<Vec<CertificateDer<'static>>, DbError> {
    use std::io::Read as _;
    let bad = |e: std::io::Error| DbError::invalid(format!("sslrootcert {path:?}: {e}"));
    let file = std::fs::File::open(path).map_err(bad)?;
    let mut text = Vec::new();
    file.take(MAX_ROOT_CERT_FILE + 1)
        .read_to_end(&mut text)
        .map_err(bad)?;
    if text.len() as u64 > MAX_ROOT_CERT_FILE {
        return Err(DbError::invalid(format!(
            "sslrootcert {path:?}: larger than 1 MiB"
        )));
    }
    let certs = rustls_pemfile::certs(&mut text.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(bad)?;
    if certs.is_empty() {
        return Err(DbError::invalid(format!(
            "sslrootcert {path:?}: no certificate"
        )));
    }
    Ok(certs)
}

/// `verify-ca`: the chain must verify, the name need not match.
#[derive(Debug)]
struct NoHostnameCheck {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for NoHostnameCheck {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
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

/// `prefer`/`require` without roots: encryption without authentication of the server, as
/// libpq does in these modes (the handshake's signatures are still checked).
#[derive(Debug)]
struct NoVerification {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn takes_tls_params_out() {
        let (rest, p) = split_params(
            "postgresql://u:p@h:5432/db?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&connect_timeout=5",
        )
        .unwrap();
        assert_eq!(rest, "postgresql://u:p@h:5432/db?connect_timeout=5");
        assert_eq!(p.mode, SslMode::VerifyFull);
        assert_eq!(p.root_cert.as_deref(), Some("/etc/ca.pem"));
        let (rest, p) = split_params("postgresql://h/db?sslmode=disable").unwrap();
        assert_eq!(
            (rest.as_str(), p.mode),
            ("postgresql://h/db", SslMode::Disable)
        );
        let (rest, p) = split_params("host=h sslmode=require dbname=x").unwrap();
        assert_eq!(
            (rest.as_str(), p.mode),
            ("host=h dbname=x", SslMode::Require)
        );
        let (_, p) = split_params("postgresql://h/db").unwrap();
        assert_eq!(p, TlsParams::default());
        assert!(split_params("postgresql://h/db?sslmode=bogus").is_err());
        assert!(split_params("postgresql://h/db?sslcert=/x").is_err());
    }

    #[test]
    fn connectors_per_mode() {
        let p = |mode| TlsParams {
            mode,
            root_cert: None,
        };
        assert!(p(SslMode::Disable).connector().unwrap().is_none());
        assert!(p(SslMode::Prefer).connector().unwrap().is_some());
        assert!(p(SslMode::Require).connector().unwrap().is_some());
        let missing = TlsParams {
            mode: SslMode::VerifyFull,
            root_cert: Some("/nonexistent/ca.pem".into()),
        };
        assert!(matches!(missing.connector(), Err(DbError::Invalid(_))));
    }
}
