//! HTTP calls an auth method makes to a server it trusts (a JWKS or OIDC discovery endpoint,
//! the Kubernetes TokenReview API): a client that trusts the configured CA (or the operating
//! system's store), answers within [`TIMEOUT`], follows no redirect, and reads at most
//! [`MAX_BODY`] bytes of JSON.

use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;
use serde_json::Value;

/// Time allowed for a whole request.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Largest answer read.
pub const MAX_BODY: usize = 1024 * 1024;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The CA PEM holds no usable certificate, or the client cannot be built.
    #[error("{0}")]
    Tls(String),
    /// The call failed (connect, timeout, TLS).
    #[error("request to {url} failed: {cause}")]
    Call {
        /// Where.
        url: String,
        /// What went wrong.
        cause: String,
    },
    /// A status outside 2xx.
    #[error("{url} answered {status}")]
    Status {
        /// Where.
        url: String,
        /// The status code.
        status: u16,
        /// The start of the body, for the error message.
        body: String,
    },
    /// Too long, or not JSON.
    #[error("{url} answered {what}")]
    Body {
        /// Where.
        url: String,
        /// What was wrong with it.
        what: String,
    },
}

/// The certificates of a PEM text.
pub fn parse_ca(pem: &str) -> Result<RootCertStore, RemoteError> {
    let mut roots = RootCertStore::empty();
    let mut reader = std::io::Cursor::new(pem.as_bytes());
    for cert in rustls_pemfile::certs(&mut reader) {
        let cert = cert.map_err(|e| RemoteError::Tls(format!("invalid CA PEM: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| RemoteError::Tls(format!("invalid CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(RemoteError::Tls("the CA PEM holds no certificate".into()));
    }
    Ok(roots)
}

/// A client for `url`: TLS trusting `ca_pem` (or the OS store when empty) for `https`.
pub fn client(url: &str, ca_pem: &str) -> Result<reqwest::Client, RemoteError> {
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none());
    if url.starts_with("https://") || !ca_pem.trim().is_empty() {
        let roots = if ca_pem.trim().is_empty() {
            let mut roots = RootCertStore::empty();
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            roots
        } else {
            parse_ca(ca_pem)?
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| RemoteError::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        b = b.use_preconfigured_tls(config);
    }
    if is_loopback(url) {
        b = b.no_proxy();
    }
    b.build()
        .map_err(|e| RemoteError::Tls(format!("cannot build the HTTP client: {e}")))
}

fn is_loopback(url: &str) -> bool {
    let rest = url.split("://").nth(1).unwrap_or(url);
    ["127.", "localhost", "[::1]"]
        .iter()
        .any(|p| rest.starts_with(p))
}

/// Sends `req` and reads its JSON answer, bounded.
pub async fn json(url: &str, req: reqwest::RequestBuilder) -> Result<Value, RemoteError> {
    let call = |e: reqwest::Error| RemoteError::Call {
        url: url.to_owned(),
        cause: e.to_string(),
    };
    let mut resp = req.send().await.map_err(call)?;
    let status = resp.status();
    if resp.content_length().is_some_and(|l| l > MAX_BODY as u64) {
        return Err(RemoteError::Body {
            url: url.to_owned(),
            what: format!("more than {MAX_BODY} bytes"),
        });
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(call)? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(RemoteError::Body {
                url: url.to_owned(),
                what: format!("more than {MAX_BODY} bytes"),
            });
        }
        body.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        return Err(RemoteError::Status {
            url: url.to_owned(),
            status: status.as_u16(),
            body: text,
        });
    }
    serde_json::from_slice(&body).map_err(|_| RemoteError::Body {
        url: url.to_owned(),
        what: "no JSON".into(),
    })
}

/// GETs `url` as JSON.
pub async fn get_json(url: &str, ca_pem: &str) -> Result<Value, RemoteError> {
    let c = client(url, ca_pem)?;
    json(url, c.get(url).header("accept", "application/json")).await
}
