#![allow(clippy::unwrap_used)]
//! The `tls_*` options against a TLS server that answers every request with a canned transit
//! encrypt response: which CA is trusted, the name the certificate is checked against, client
//! certificates, and skipping verification.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tresor_config::SealStanza;
use tresor_seal::SealError;
use tresor_seal_transit::TransitSeal;

const HANG_GUARD: Duration = Duration::from_secs(60);

/// A CA, and a certificate and key it issued, written as PEM files.
struct Pki {
    dir: tempfile::TempDir,
    ca: rcgen::Certificate,
    ca_key: KeyPair,
}

impl Pki {
    fn new() -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = params.self_signed(&ca_key).unwrap();
        let pki = Pki {
            dir: tempfile::tempdir().unwrap(),
            ca,
            ca_key,
        };
        std::fs::write(pki.path("ca.pem"), pki.ca.pem()).unwrap();
        pki
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Issues a certificate for `names`; writes `<stem>.pem` and `<stem>-key.pem`.
    fn issue(
        &self,
        stem: &str,
        names: &[&str],
    ) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .unwrap();
        let cert = params.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        std::fs::write(self.path(&format!("{stem}.pem")), cert.pem()).unwrap();
        std::fs::write(self.path(&format!("{stem}-key.pem")), key.serialize_pem()).unwrap();
        (
            cert.der().clone(),
            PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
    }
}

/// Serves the canned response over TLS on a loopback port; its address.
async fn serve(pki: &Pki, require_client_cert: bool) -> (String, tokio::task::JoinHandle<()>) {
    let (cert, key) = pki.issue("server", &["transit.test"]);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = if require_client_cert {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(pki.ca.der().clone()).unwrap();
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let config = builder.with_single_cert(vec![cert], key).unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("https://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = vec![0u8; 8192];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let body = r#"{"data":{"ciphertext":"vault:v1:AAECAwQ=","key_version":1}}"#;
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n{body}",
                    body.len()
                );
                tls.write_all(response.as_bytes()).await.ok();
                tls.shutdown().await.ok();
            });
        }
    });
    (address, task)
}

async fn seal(address: &str, tls: &[(&str, &Path)], extra: &[(&str, &str)]) -> TransitSeal {
    let mut stanza = SealStanza::new("transit");
    for (k, v) in [
        ("address", address),
        ("token", "t"),
        ("key_name", "k"),
        ("disable_renewal", "true"),
    ]
    .iter()
    .chain(extra)
    {
        stanza.params.insert((*k).to_owned(), (*v).to_owned());
    }
    for (k, path) in tls {
        stanza
            .params
            .insert((*k).to_owned(), path.display().to_string());
    }
    TransitSeal::from_stanza_with_env(&stanza, &|_| None)
        .await
        .unwrap()
}

async fn health(seal: &TransitSeal) -> Result<(), SealError> {
    tokio::time::timeout(HANG_GUARD, seal.health_check())
        .await
        .expect("bounded by the seal's timeouts")
}

#[tokio::test]
async fn the_configured_ca_and_server_name_are_what_is_trusted() {
    let pki = Pki::new();
    let (address, server) = serve(&pki, false).await;
    let ca = pki.path("ca.pem");

    // The certificate names transit.test, not 127.0.0.1: verified under tls_server_name.
    let good = seal(
        &address,
        &[("tls_ca_cert", &ca)],
        &[("tls_server_name", "transit.test")],
    )
    .await;
    health(&good).await.unwrap();

    // The address's own host does not match the certificate.
    let no_name = seal(&address, &[("tls_ca_cert", &ca)], &[]).await;
    let err = health(&no_name).await.unwrap_err();
    assert!(
        err.is_unavailable() && err.to_string().contains("transit"),
        "{err}"
    );

    // Another name is refused too.
    let wrong_name = seal(
        &address,
        &[("tls_ca_cert", &ca)],
        &[("tls_server_name", "other.test")],
    )
    .await;
    assert!(health(&wrong_name).await.is_err());

    // Without the CA, the public roots do not vouch for this certificate.
    let public_roots = seal(&address, &[], &[("tls_server_name", "transit.test")]).await;
    assert!(health(&public_roots).await.is_err());

    // tls_skip_verify accepts it anyway.
    let skip = seal(&address, &[], &[("tls_skip_verify", "true")]).await;
    health(&skip).await.unwrap();
    server.abort();
}

#[tokio::test]
async fn a_client_certificate_is_presented_when_configured() {
    let pki = Pki::new();
    let (address, server) = serve(&pki, true).await;
    pki.issue("client", &["tresor-node"]);
    let ca = pki.path("ca.pem");
    let name = [("tls_server_name", "transit.test")];

    let without = seal(&address, &[("tls_ca_cert", &ca)], &name).await;
    assert!(health(&without).await.is_err());

    let with = seal(
        &address,
        &[
            ("tls_ca_cert", &ca),
            ("tls_client_cert", &pki.path("client.pem")),
            ("tls_client_key", &pki.path("client-key.pem")),
        ],
        &name,
    )
    .await;
    health(&with).await.unwrap();
    server.abort();
}

#[tokio::test]
async fn unreadable_tls_files_fail_at_configuration() {
    let pki = Pki::new();
    let missing = pki.path("missing.pem");
    let mut stanza = SealStanza::new("transit");
    for (k, v) in [
        ("address", "https://127.0.0.1:1"),
        ("token", "t"),
        ("key_name", "k"),
        ("tls_ca_cert", missing.to_str().unwrap()),
    ] {
        stanza.params.insert(k.to_owned(), v.to_owned());
    }
    let err = TransitSeal::from_stanza_with_env(&stanza, &|_| None)
        .await
        .unwrap_err();
    assert!(matches!(err, SealError::InvalidConfig { .. }), "{err:?}");
    assert!(err.to_string().contains("transit"), "{err}");
}
