//! The HTTP client for the transit server: encrypt, decrypt, and the token's own lookup and
//! renewal, with bounded timeouts and every failure classified as a [`TransitError`].

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use crate::error::server_message;
use crate::tls::client_config;
use crate::{TransitError, TransitSettings};

/// Longest wait for a TCP (and TLS) connection to the transit server.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest a single call to the transit server may take, connection included: an outage is
/// reported as [`SealError::Unavailable`](tresor_seal::SealError::Unavailable) within this.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The time limits of calls to the transit server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Connection establishment.
    pub connect: Duration,
    /// A whole request.
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: CONNECT_TIMEOUT,
            request: REQUEST_TIMEOUT,
        }
    }
}

/// A token's lifetime as the server reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TokenInfo {
    /// Time left before the token expires; zero for tokens that never expire.
    pub(crate) ttl: Duration,
    /// Whether the token may be renewed.
    pub(crate) renewable: bool,
}

/// Talks to one transit key of one server with one token.
pub(crate) struct TransitClient {
    http: reqwest::Client,
    address: String,
    token: Zeroizing<String>,
    namespace: Option<String>,
    mount_path: String,
    key_name: String,
}

impl TransitClient {
    /// A client for `settings`. Reads the TLS files; does not contact the server.
    pub(crate) fn new(
        settings: &TransitSettings,
        timeouts: Timeouts,
    ) -> Result<TransitClient, TransitError> {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(timeouts.connect)
            .timeout(timeouts.request)
            .redirect(reqwest::redirect::Policy::none());
        // TLS settings or an https address: the configured CA, or the OS trust store (never
        // reqwest's built-in web PKI roots).
        if settings.tls.is_customized() || !settings.address.starts_with("http://") {
            builder = builder.use_preconfigured_tls(client_config(&settings.tls)?);
        }
        if is_loopback(&settings.address) {
            builder = builder.no_proxy();
        }
        let http = builder
            .build()
            .map_err(|e| TransitError::Tls(format!("cannot build the HTTP client: {e}")))?;
        Ok(TransitClient {
            http,
            address: settings.address.clone(),
            token: settings.token.clone(),
            namespace: settings.namespace.clone(),
            mount_path: settings.mount_path.clone(),
            key_name: settings.key_name.clone(),
        })
    }

    pub(crate) fn address(&self) -> &str {
        &self.address
    }

    pub(crate) fn mount_path(&self) -> &str {
        &self.mount_path
    }

    pub(crate) fn key_name(&self) -> &str {
        &self.key_name
    }

    /// Encrypts `plaintext` under the transit key; the `vault:v<N>:...` ciphertext.
    pub(crate) async fn encrypt(&self, plaintext: &[u8]) -> Result<String, TransitError> {
        #[derive(Deserialize)]
        struct Encrypted {
            ciphertext: String,
        }
        // Built by hand so our copies of the encoded key are zeroized (base64 needs no JSON
        // escaping); the copy handed to the HTTP client is beyond our reach.
        let body = Zeroizing::new(format!(
            "{{\"plaintext\":\"{}\"}}",
            Zeroizing::new(STANDARD.encode(plaintext)).as_str()
        ));
        let path = format!("{}/encrypt/{}", self.mount_path, self.key_name);
        let out: Encrypted = self
            .call(Method::POST, &path, Some(body.as_bytes().to_vec()), "data")
            .await?;
        Ok(out.ciphertext)
    }

    /// Decrypts a `vault:v<N>:...` ciphertext with the transit key.
    pub(crate) async fn decrypt(
        &self,
        ciphertext: &str,
    ) -> Result<Zeroizing<Vec<u8>>, TransitError> {
        #[derive(Deserialize)]
        struct Decrypted {
            plaintext: Zeroizing<String>,
        }
        let body = serde_json::to_vec(&serde_json::json!({ "ciphertext": ciphertext }))
            .map_err(|e| TransitError::Protocol(e.to_string()))?;
        let path = format!("{}/decrypt/{}", self.mount_path, self.key_name);
        let out: Decrypted = self.call(Method::POST, &path, Some(body), "data").await?;
        STANDARD
            .decode(out.plaintext.as_bytes())
            .map(Zeroizing::new)
            .map_err(|_| TransitError::Protocol("the plaintext is not base64".into()))
    }

    /// The token's remaining TTL and renewability (`auth/token/lookup-self`).
    pub(crate) async fn lookup_self(&self) -> Result<TokenInfo, TransitError> {
        #[derive(Deserialize)]
        struct Lookup {
            #[serde(default)]
            ttl: u64,
            #[serde(default)]
            renewable: bool,
        }
        let out: Lookup = self
            .call(Method::GET, "auth/token/lookup-self", None, "data")
            .await?;
        Ok(TokenInfo {
            ttl: Duration::from_secs(out.ttl),
            renewable: out.renewable,
        })
    }

    /// Renews the token by its own increment (`auth/token/renew-self`); its new lifetime.
    pub(crate) async fn renew_self(&self) -> Result<TokenInfo, TransitError> {
        #[derive(Deserialize)]
        struct Renewed {
            #[serde(default)]
            lease_duration: u64,
            #[serde(default)]
            renewable: bool,
        }
        let out: Renewed = self
            .call(
                Method::POST,
                "auth/token/renew-self",
                Some(b"{}".to_vec()),
                "auth",
            )
            .await?;
        Ok(TokenInfo {
            ttl: Duration::from_secs(out.lease_duration),
            renewable: out.renewable,
        })
    }

    /// One call to `/v1/<path>`; the response's `section` (`data` or `auth`) on success.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        section: &str,
    ) -> Result<T, TransitError> {
        let url = format!("{}/v1/{path}", self.address);
        let mut request = self
            .http
            .request(method, &url)
            .header("X-Vault-Token", self.token.as_str())
            .header("X-Vault-Request", "true");
        if let Some(ns) = &self.namespace {
            request = request.header("X-Vault-Namespace", ns);
        }
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let response = request.send().await.map_err(transport_error)?;
        let status = response.status();
        let bytes = Zeroizing::new(response.bytes().await.map_err(transport_error)?.to_vec());
        if !status.is_success() {
            return Err(TransitError::from_status(
                status.as_u16(),
                server_message(&bytes),
            ));
        }
        parse_section(&bytes, section, status)
    }
}

/// The `section` object of a success body, deserialized.
fn parse_section<T: DeserializeOwned>(
    body: &[u8],
    section: &str,
    status: StatusCode,
) -> Result<T, TransitError> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|_| {
        TransitError::Protocol(format!("HTTP {status}: the body is not a JSON object"))
    })?;
    match value.get(section) {
        Some(v) if v.is_object() => T::deserialize(v).map_err(|e| {
            TransitError::Protocol(format!("HTTP {status}: unexpected {section} fields: {e}"))
        }),
        _ => Err(TransitError::Protocol(format!(
            "HTTP {status}: the response has no {section}"
        ))),
    }
}

/// A transport failure (refused connection, timeout, reset, TLS handshake): an outage. The
/// message includes the error's causes; it never holds the token (headers are not shown).
fn transport_error(err: reqwest::Error) -> TransitError {
    let mut message = if err.is_timeout() {
        format!("timed out: {err}")
    } else {
        err.to_string()
    };
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    TransitError::Unavailable(message)
}

/// Whether the address names this host, so no proxy applies.
fn is_loopback(address: &str) -> bool {
    let rest = address.split_once("://").map_or(address, |(_, rest)| rest);
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_addresses() {
        assert!(is_loopback("http://127.0.0.1:8200"));
        assert!(is_loopback("http://localhost:8200/"));
        assert!(is_loopback("https://[::1]:8200"));
        assert!(is_loopback("http://127.0.0.1"));
        assert!(!is_loopback("https://vault.example:8200"));
        assert!(!is_loopback("https://10.0.0.1:8200"));
    }

    #[test]
    fn success_bodies() {
        #[derive(Deserialize, Debug)]
        struct Encrypted {
            ciphertext: String,
        }
        let body = br#"{"data":{"ciphertext":"vault:v1:AAAA","key_version":1},"auth":null}"#;
        let got: Encrypted = parse_section(body, "data", StatusCode::OK).unwrap();
        assert_eq!(got.ciphertext, "vault:v1:AAAA");
        let err = parse_section::<Encrypted>(body, "auth", StatusCode::OK).unwrap_err();
        assert!(
            matches!(err, TransitError::Protocol(ref m) if m.contains("no auth")),
            "{err}"
        );
        let err =
            parse_section::<Encrypted>(br#"{"data":{"x":1}}"#, "data", StatusCode::OK).unwrap_err();
        assert!(err.to_string().contains("ciphertext"), "{err}");
        let err = parse_section::<Encrypted>(b"<html>", "data", StatusCode::OK).unwrap_err();
        assert!(!err.is_retriable());
    }
}
