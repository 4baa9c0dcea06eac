//! The HTTP side: building the client and sending one [`OpRequest`].

use reqwest::header::{CONTENT_TYPE, HeaderValue};
use reqwest::{Client, redirect};

use crate::config::BenchConfig;
use crate::error::BenchError;
use crate::stats::ErrorKind;
use crate::target::is_loopback_url;
use crate::workload::{Method, OpRequest};

/// Redirects followed per request (Vault standbys may redirect to the active node).
const MAX_REDIRECTS: usize = 5;

/// Everything a worker needs to send requests; cheap to clone (the pool is shared).
#[derive(Clone, Debug)]
pub struct Sender {
    client: Client,
    token: Option<HeaderValue>,
}

impl Sender {
    /// Builds one keep-alive client whose pool keeps an idle connection per worker.
    /// `ca_pem` is the content of `--ca-cert`, read by the caller.
    pub fn new(config: &BenchConfig, ca_pem: Option<&[u8]>) -> Result<Self, BenchError> {
        let allow_remote = config.allow_non_loopback;
        let policy = redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if allow_remote || is_loopback_url(attempt.url()) {
                attempt.follow()
            } else {
                // Hand the 3xx back as the answer: it is counted as an HTTP error.
                attempt.stop()
            }
        });
        let mut builder = Client::builder()
            .pool_max_idle_per_host(config.concurrency)
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .tcp_nodelay(true)
            .no_proxy()
            .redirect(policy)
            .user_agent(concat!("tresor-bench/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = ca_pem {
            let path = config
                .ca_cert
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let certs =
                reqwest::Certificate::from_pem_bundle(pem).map_err(|e| BenchError::CaCert {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            if certs.is_empty() {
                return Err(BenchError::CaCert {
                    path,
                    reason: "no PEM certificate in file".to_owned(),
                });
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        if config.insecure {
            builder = builder.danger_accept_invalid_certs(true);
        }
        let client = builder
            .build()
            .map_err(|e| BenchError::Client(e.to_string()))?;
        let token = match &config.token {
            Some(t) => {
                let mut value = HeaderValue::from_str(t.expose())
                    .map_err(|_| BenchError::invalid("token", "not a valid header value"))?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        Ok(Self { client, token })
    }

    /// Sends `op` to the target at `base` and reads the whole answer (so the connection goes
    /// back to the pool). Any 2xx is a success.
    pub async fn send(&self, base: &str, op: &OpRequest) -> Result<(), ErrorKind> {
        let url = format!("{base}{}", op.path);
        let mut request = match op.method {
            Method::Get => self.client.get(url),
            Method::Put => self.client.put(url),
            Method::Post => self.client.post(url),
        };
        if let Some(token) = &self.token {
            request = request.header("X-Vault-Token", token.clone());
        }
        if let Some(body) = &op.body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        let response = request.send().await.map_err(classify)?;
        let status = response.status();
        let body = response.bytes().await;
        if !status.is_success() {
            return Err(ErrorKind::Status(status.as_u16()));
        }
        body.map(drop).map_err(classify)
    }
}

fn classify(e: reqwest::Error) -> ErrorKind {
    if e.is_timeout() {
        ErrorKind::Timeout
    } else if e.is_connect() {
        ErrorKind::Connect
    } else {
        ErrorKind::Transport
    }
}
