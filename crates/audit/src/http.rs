//! The `http` device (OpenBao's): each entry `POST`ed as JSON to `uri`, with optional `headers`
//! (a JSON object of header name to a list of values) and `write_timeout` (default 2 s); any
//! answer but 2xx is a failed write.

use std::sync::Arc;

use async_trait::async_trait;
use tresor_sdk::audit::{AuditDevice, AuditDeviceConfig, AuditDeviceError, AuditFactory};

use crate::device::{Device, Sink};
use crate::entry::Formatter;
use crate::options::FormatOptions;
use crate::socket::DEFAULT_WRITE_TIMEOUT;

/// Entries posted to an HTTP endpoint.
#[derive(Debug)]
pub struct HttpSink {
    uri: reqwest::Url,
    headers: reqwest::header::HeaderMap,
    client: reqwest::Client,
}

#[async_trait]
impl Sink for HttpSink {
    async fn write(&self, line: &[u8]) -> Result<(), AuditDeviceError> {
        let resp = self
            .client
            .post(self.uri.clone())
            .headers(self.headers.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(line.to_vec())
            .send()
            .await
            .map_err(|e| AuditDeviceError::Other(format!("POST {}: {e}", self.uri)))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(AuditDeviceError::Other(format!(
                "POST {} answered {}",
                self.uri,
                resp.status()
            )))
        }
    }
}

fn parse_headers(text: &str) -> Result<reqwest::header::HeaderMap, AuditDeviceError> {
    let bad = |why: String| AuditDeviceError::config("headers", why);
    let map: std::collections::BTreeMap<String, Vec<String>> = serde_json::from_str(text)
        .map_err(|e| bad(format!("not a JSON object of lists of strings: {e}")))?;
    let mut out = reqwest::header::HeaderMap::new();
    for (name, values) in map {
        let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| bad(format!("{name:?}: {e}")))?;
        for v in values {
            let v = reqwest::header::HeaderValue::from_str(&v)
                .map_err(|e| bad(format!("{name}: {e}")))?;
            out.append(name.clone(), v);
        }
    }
    Ok(out)
}

/// Makes `http` devices.
#[derive(Debug, Default)]
pub struct HttpFactory;

impl AuditFactory for HttpFactory {
    fn kind(&self) -> &'static str {
        "http"
    }

    fn create(&self, config: AuditDeviceConfig) -> Result<Arc<dyn AuditDevice>, AuditDeviceError> {
        let opts = FormatOptions::parse(&config)?;
        let o = &config.options;
        let uri = o.get("uri").map_or("", String::as_str);
        let uri = reqwest::Url::parse(uri)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| {
                AuditDeviceError::config("uri", format!("{uri:?} is not an http(s) URL"))
            })?;
        let headers = match o.get("headers").map(|s| s.trim()) {
            None | Some("") => reqwest::header::HeaderMap::new(),
            Some(text) => parse_headers(text)?,
        };
        let timeout = crate::options::duration(o, "write_timeout", DEFAULT_WRITE_TIMEOUT)?;
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| AuditDeviceError::Other(format!("http client: {e}")))?;
        Ok(Arc::new(Device::new(
            Formatter::new(opts, &config.salt),
            Arc::new(HttpSink {
                uri,
                headers,
                client,
            }),
            timeout,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked() {
        let make = |pairs: &[(&str, &str)]| {
            HttpFactory.create(AuditDeviceConfig {
                options: pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
                ..Default::default()
            })
        };
        let err = |r: Result<Arc<dyn AuditDevice>, AuditDeviceError>| {
            r.err().expect("refused").to_string()
        };
        assert!(err(make(&[])).starts_with("uri:"));
        assert!(err(make(&[("uri", "ftp://x")])).starts_with("uri:"));
        assert!(err(make(&[("uri", "http://x"), ("headers", "[1]")])).starts_with("headers:"));
        assert!(
            make(&[
                ("uri", "http://127.0.0.1:1/a"),
                ("headers", r#"{"X-A":["1","2"]}"#)
            ])
            .is_ok()
        );
    }
}
