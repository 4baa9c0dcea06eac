//! The HTTP side: one request to `/v1/<path>` with the token header, decoded into JSON.

use std::time::Duration;

use reqwest::{Certificate, Identity, Method};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::error::CliError;
use crate::settings::Settings;

/// A decoded server answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    /// HTTP status.
    pub(crate) status: u16,
    /// The JSON body (`None` for an empty body such as 204).
    pub(crate) body: Option<Value>,
}

/// A connection to one server with one token.
#[derive(Clone)]
pub(crate) struct Client {
    http: reqwest::Client,
    address: String,
    token: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("address", &self.address)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Whether `address` points at the local machine (then proxies are never used, as in Go).
pub(crate) fn is_loopback(address: &str) -> bool {
    let rest = address.split_once("://").map_or(address, |(_, r)| r);
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = if let Some(v6) = host.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    host == "localhost" || host == "::1" || host.starts_with("127.")
}

/// The certificates of the operating system's trust store (`SSL_CERT_FILE` and
/// `SSL_CERT_DIR` override its location). Unreadable or unusable entries are skipped.
fn os_trust_store() -> Vec<Certificate> {
    rustls_native_certs::load_native_certs()
        .certs
        .iter()
        .filter_map(|der| Certificate::from_der(der).ok())
        .collect()
}

fn read_file(path: &std::path::Path, what: &str) -> Result<Vec<u8>, CliError> {
    std::fs::read(path)
        .map_err(|e| CliError::io(format!("Error reading {what} {}", path.display()), e))
}

impl Client {
    /// Builds a client for these settings (TLS roots, client identity, proxy choice).
    pub(crate) fn new(s: &Settings) -> Result<Self, CliError> {
        let tls_err = |e: reqwest::Error| CliError::Failed(format!("Error configuring TLS: {e}"));
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(Duration::from_secs(60));
        // Reqwest's built-in roots are a copy of the web PKI's, not the machine's: trust the OS
        // trust store instead (Vault's default), or only the CA file when one is named.
        b = b.tls_built_in_root_certs(false);
        if s.ca_cert.is_none() {
            for c in os_trust_store() {
                b = b.add_root_certificate(c);
            }
        }
        if let Some(ca) = &s.ca_cert {
            let pem = read_file(ca, "CA certificate")?;
            let certs = Certificate::from_pem_bundle(&pem).map_err(tls_err)?;
            if certs.is_empty() {
                return Err(CliError::Failed(format!(
                    "Error configuring TLS: no certificates in {}",
                    ca.display()
                )));
            }
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        match (&s.client_cert, &s.client_key) {
            (Some(cert), Some(key)) => {
                let mut pem = read_file(cert, "client certificate")?;
                pem.push(b'\n');
                pem.extend(read_file(key, "client key")?);
                let pem = Zeroizing::new(pem);
                b = b.identity(Identity::from_pem(&pem).map_err(tls_err)?);
            }
            (None, None) => {}
            _ => {
                return Err(CliError::Usage(
                    "both a client certificate and a client key are needed".into(),
                ));
            }
        }
        if s.skip_verify {
            b = b.danger_accept_invalid_certs(true);
        }
        if is_loopback(&s.address) {
            b = b.no_proxy();
        }
        Ok(Self {
            http: b.build().map_err(tls_err)?,
            address: s.address.clone(),
            token: s.token.clone(),
        })
    }

    /// The same connection with another token.
    pub(crate) fn with_token(&self, token: &str) -> Self {
        Self {
            token: Some(Zeroizing::new(token.to_owned())),
            ..self.clone()
        }
    }

    /// The same connection without a token (logins).
    pub(crate) fn without_token(&self) -> Self {
        Self {
            token: None,
            ..self.clone()
        }
    }

    /// The server address.
    pub(crate) fn address(&self) -> &str {
        &self.address
    }

    /// The full URL of an API path.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}/v1/{}", self.address, path.trim_start_matches('/'))
    }

    /// A request to `url` with the token, bounded by [`TRANSFER_TIMEOUT`] instead of the
    /// client's usual limit (snapshot transfers may be large).
    pub(crate) fn transfer(&self, method: Method, url: &str) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .request(method, url)
            .header("X-Vault-Request", "true")
            .timeout(TRANSFER_TIMEOUT);
        if let Some(t) = &self.token {
            req = req.header("X-Vault-Token", t.as_str());
        }
        req
    }

    /// Sends a request and returns the reply whatever its status (only transport failures are
    /// errors).
    pub(crate) async fn send_raw(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        content_type: Option<&str>,
    ) -> Result<(Reply, String), CliError> {
        let url = format!("{}/v1/{}", self.address, path.trim_start_matches('/'));
        let transport = |source| CliError::Transport {
            context: String::new(),
            method: method.to_owned(),
            url: url.clone(),
            source,
        };
        let m = Method::from_bytes(method.as_bytes())
            .map_err(|_| CliError::Failed(format!("invalid HTTP method {method}")))?;
        let mut req = self.http.request(m, &url).header("X-Vault-Request", "true");
        if !query.is_empty() {
            req = req.query(query);
        }
        if let Some(t) = &self.token {
            req = req.header("X-Vault-Token", t.as_str());
        }
        if let Some(b) = body {
            req = req
                .header("Content-Type", content_type.unwrap_or("application/json"))
                .body(b.to_string());
        }
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(transport)?;
        let body = if text.trim().is_empty() {
            None
        } else {
            serde_json::from_str(&text).ok()
        };
        Ok((Reply { status, body }, url))
    }

    /// Sends a request; any status of 400 or more becomes a [`CliError::Status`].
    pub(crate) async fn send(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Reply, CliError> {
        self.send_typed(method, path, query, body, None).await
    }

    /// [`Client::send`] with an explicit body content type.
    pub(crate) async fn send_typed(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        content_type: Option<&str>,
    ) -> Result<Reply, CliError> {
        let (reply, url) = self
            .send_raw(method, path, query, body, content_type)
            .await?;
        if reply.status >= 400 {
            return Err(status_error(method, url, &reply));
        }
        Ok(reply)
    }

    /// GET returning the body.
    pub(crate) async fn get(&self, path: &str) -> Result<Option<Value>, CliError> {
        Ok(self.send("GET", path, &[], None).await?.body)
    }

    /// PUT with a JSON body, returning the body.
    pub(crate) async fn put(&self, path: &str, body: &Value) -> Result<Option<Value>, CliError> {
        Ok(self.send("PUT", path, &[], Some(body)).await?.body)
    }

    /// POST with a JSON body, returning the body.
    pub(crate) async fn post(&self, path: &str, body: &Value) -> Result<Option<Value>, CliError> {
        Ok(self.send("POST", path, &[], Some(body)).await?.body)
    }

    /// DELETE, returning the body.
    pub(crate) async fn delete(&self, path: &str) -> Result<Option<Value>, CliError> {
        Ok(self.send("DELETE", path, &[], None).await?.body)
    }

    /// A read with Vault's client semantics: 404 means "nothing there" unless the body still
    /// carries data or warnings (e.g. a deleted KV v2 version).
    pub(crate) async fn read(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Option<Value>, CliError> {
        let (reply, url) = self.send_raw("GET", path, query, None, None).await?;
        if reply.status == 404 {
            let keep = reply.body.as_ref().is_some_and(|b| {
                b.get("data").is_some_and(|d| d.is_object())
                    || b.get("warnings")
                        .and_then(Value::as_array)
                        .is_some_and(|w| !w.is_empty())
            });
            return Ok(if keep { reply.body } else { None });
        }
        if reply.status >= 400 {
            return Err(status_error("GET", url, &reply));
        }
        Ok(reply.body)
    }

    /// A list (`GET ?list=true`, as Vault's Go client sends it); 404 means nothing there.
    pub(crate) async fn list(&self, path: &str) -> Result<Option<Value>, CliError> {
        let (reply, url) = self
            .send_raw("GET", path, &[("list", "true".to_owned())], None, None)
            .await?;
        match reply.status {
            404 => Ok(None),
            s if s >= 400 => Err(status_error("GET", url, &reply)),
            _ => Ok(reply.body),
        }
    }
}

/// Longest a snapshot transfer may take.
pub(crate) const TRANSFER_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// The error for an error status answered to a transfer (`text` is the body).
pub(crate) fn transfer_error(method: &str, url: String, status: u16, text: &str) -> CliError {
    let reply = Reply {
        status,
        body: serde_json::from_str(text).ok(),
    };
    status_error(method, url, &reply)
}

fn status_error(method: &str, url: String, reply: &Reply) -> CliError {
    let errors = reply
        .body
        .as_ref()
        .and_then(|b| b.get("errors"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    CliError::Status {
        context: String::new(),
        method: method.to_owned(),
        url,
        code: reply.status,
        errors,
        raw: reply
            .body
            .as_ref()
            .map(Value::to_string)
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_detection() {
        assert!(is_loopback("http://127.0.0.1:8200"));
        assert!(is_loopback("https://localhost:8200/"));
        assert!(is_loopback("http://[::1]:8200"));
        assert!(!is_loopback("https://vault.example.com:8200"));
        assert!(!is_loopback("http://10.0.0.1"));
    }
}
