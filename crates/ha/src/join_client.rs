//! The joining node's HTTP client for the leader's API port: fetches the seal challenge and
//! sends the answer (`sys/storage/raft/bootstrap/{challenge,answer}`).

use std::time::Duration;

use serde_json::{Value, json};
use tresor_core::{CoreError, JoinChallenge, JoinParams};
use tresor_raft::NodeInfo;

/// Talks to one leader on behalf of this node.
#[derive(Clone, Debug)]
pub struct JoinClient {
    http: reqwest::Client,
    leader: String,
    me: NodeInfo,
    non_voter: bool,
}

fn bad(e: impl std::fmt::Display) -> CoreError {
    CoreError::invalid(e.to_string())
}

impl JoinClient {
    /// A client for `params.leader_api_addr` with its TLS settings.
    pub fn new(params: &JoinParams, me: NodeInfo) -> Result<Self, CoreError> {
        let mut b = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(3));
        // The leader's CA when given (only it), else the OS trust store, as Vault does; never
        // reqwest's built-in copy of the web PKI roots.
        b = b.tls_built_in_root_certs(false);
        match params.leader_ca_cert.as_deref().filter(|c| !c.is_empty()) {
            Some(ca) => {
                let certs = reqwest::Certificate::from_pem_bundle(ca.as_bytes())
                    .map_err(|e| bad(format!("leader_ca_cert: {e}")))?;
                if certs.is_empty() {
                    return Err(bad("leader_ca_cert: no certificate in the PEM text"));
                }
                for cert in certs {
                    b = b.add_root_certificate(cert);
                }
            }
            None => {
                for cert in os_trust_store() {
                    b = b.add_root_certificate(cert);
                }
            }
        }
        if let (Some(cert), Some(key)) = (&params.leader_client_cert, &params.leader_client_key) {
            let pem = zeroize::Zeroizing::new(format!("{cert}\n{key}"));
            let id = reqwest::Identity::from_pem(pem.as_bytes())
                .map_err(|e| bad(format!("leader client certificate: {e}")))?;
            b = b.identity(id);
        }
        let mut leader = params.leader_api_addr.trim_end_matches('/').to_owned();
        if let Some(name) = params
            .leader_tls_servername
            .as_deref()
            .filter(|n| !n.is_empty())
        {
            let (url, addrs) = servername_target(&leader, name)?;
            b = b.resolve_to_addrs(name, &addrs);
            leader = url;
        }
        let http = b.build().map_err(bad)?;
        Ok(Self {
            http,
            leader,
            me,
            non_voter: params.non_voter,
        })
    }

    /// The leader's API address.
    pub(crate) fn leader(&self) -> &str {
        &self.leader
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value, CoreError> {
        let url = format!("{}/v1/{path}", self.leader);
        let unreachable = |e: reqwest::Error| {
            CoreError::invalid(format!(
                "cannot reach {}: {}",
                self.leader,
                describe_request_error(&e)
            ))
        };
        let resp = self
            .http
            .post(&url)
            .json(&body)
            .send()
            .await
            .map_err(unreachable)?;
        let status = resp.status();
        let text = resp.text().await.map_err(unreachable)?;
        if !status.is_success() {
            return Err(CoreError::invalid(format!(
                "leader {} answered {status}: {text}",
                self.leader
            )));
        }
        serde_json::from_str(&text).map_err(bad)
    }

    /// Asks the leader for a seal challenge.
    pub(crate) async fn challenge(&self) -> Result<JoinChallenge, CoreError> {
        let v = self
            .post(
                "sys/storage/raft/bootstrap/challenge",
                json!({ "server_id": self.me.node_id }),
            )
            .await?;
        serde_json::from_value(v).map_err(bad)
    }

    /// Sends the decrypted challenge; returns the sealed node identity.
    pub(crate) async fn answer(&self, answer: &str) -> Result<String, CoreError> {
        let v = self
            .post(
                "sys/storage/raft/bootstrap/answer",
                json!({
                    "server_id": self.me.node_id,
                    "answer": answer,
                    "cluster_addr": self.me.cluster_addr,
                    "api_addr": self.me.api_addr,
                    "non_voter": self.non_voter,
                }),
            )
            .await?;
        v.get("identity")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| CoreError::Internal("leader sent no node identity".into()))
    }
}

/// The certificates of the operating system's trust store (`SSL_CERT_FILE` and
/// `SSL_CERT_DIR` override its location). Unreadable or unusable entries are logged and
/// skipped.
fn os_trust_store() -> Vec<reqwest::Certificate> {
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        tracing::warn!(error = %e, "reading the OS trust store");
    }
    found
        .certs
        .iter()
        .filter_map(|der| reqwest::Certificate::from_der(der).ok())
        .collect()
}

/// Why a request to a leader failed, for the log: what kind of failure (timeout, TLS
/// certificate, connection) and then every cause in the error's source chain.
fn describe_request_error(e: &reqwest::Error) -> String {
    let mut causes: Vec<String> = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        let text = err.to_string();
        // Wrappers often repeat their inner error's text; keep each cause once.
        if !causes.iter().any(|c| c.contains(&text)) {
            causes.push(text);
        }
        next = err.source();
    }
    let chain = causes.join(": ");
    let lower = chain.to_ascii_lowercase();
    let kind = if e.is_timeout() || lower.contains("timed out") {
        "timed out"
    } else if lower.contains("certificate") || lower.contains("tls") {
        "TLS handshake failed"
    } else if lower.contains("connection refused") {
        "connection refused"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    format!("{kind}: {chain}")
}

/// `leader_tls_servername`: the leader is still reached at the address of `leader_api_addr`,
/// but TLS checks its certificate against `name` (and sends it as SNI). Returns the URL to
/// use (host replaced by `name`) and the socket addresses `name` must resolve to.
fn servername_target(
    leader: &str,
    name: &str,
) -> Result<(String, Vec<std::net::SocketAddr>), CoreError> {
    use std::net::ToSocketAddrs as _;
    let mut url =
        reqwest::Url::parse(leader).map_err(|e| bad(format!("leader_api_addr {leader:?}: {e}")))?;
    let host = url
        .host_str()
        .ok_or_else(|| bad(format!("leader_api_addr {leader:?} has no host")))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = url
        .port_or_known_default()
        .ok_or_else(|| bad(format!("leader_api_addr {leader:?} has no port")))?;
    let addrs: Vec<std::net::SocketAddr> = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => vec![std::net::SocketAddr::new(ip, port)],
        Err(_) => (host.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| bad(format!("resolving {host}: {e}")))?
            .collect(),
    };
    url.set_host(Some(name))
        .map_err(|e| bad(format!("leader_tls_servername {name:?}: {e}")))?;
    Ok((url.as_str().trim_end_matches('/').to_owned(), addrs))
}

/// Where a `retry_join` block finds its leaders: a fixed `leader_api_addr`, or cloud
/// discovery (`auto_join`) re-run on the retry schedule.
#[derive(Debug)]
pub enum JoinTarget {
    /// One known leader address.
    Fixed(JoinClient),
    /// Discovered addresses (`auto_join = "provider=aws ..."`).
    Auto(AutoJoin),
}

/// Cloud discovery for one `retry_join` block.
#[derive(Debug)]
pub struct AutoJoin {
    /// The go-discover style query.
    pub query: String,
    /// `auto_join_scheme` (default https).
    pub scheme: Option<String>,
    /// `auto_join_port` (default 8200).
    pub port: Option<u16>,
    /// TLS and voter settings shared by every discovered leader.
    pub params: JoinParams,
    /// The last discovery's clients and when it ran (discovery is rate limited).
    cached: tokio::sync::Mutex<Option<(std::time::Instant, Vec<JoinClient>)>>,
}

/// Discovery runs at most this often (cloud APIs throttle; the join retry runs every second).
const DISCOVERY_INTERVAL: Duration = Duration::from_secs(10);

impl AutoJoin {
    /// Discovery for `query` with the block's settings.
    pub fn new(
        query: String,
        scheme: Option<String>,
        port: Option<u16>,
        params: JoinParams,
    ) -> Self {
        Self {
            query,
            scheme,
            port,
            params,
            cached: tokio::sync::Mutex::new(None),
        }
    }
}

impl AutoJoin {
    /// One join client per discovered address, skipping this node's own API address.
    fn clients_for(&self, addrs: &[std::net::IpAddr], me: &NodeInfo) -> Vec<JoinClient> {
        let own = me.api_addr.trim_end_matches('/');
        let urls = tresor_discover::join_urls(addrs, self.scheme.as_deref(), self.port);
        let mut clients = Vec::new();
        for url in urls {
            if url.trim_end_matches('/') == own {
                continue;
            }
            let params = JoinParams {
                leader_api_addr: url,
                ..self.params.clone()
            };
            match JoinClient::new(&params, me.clone()) {
                Ok(c) => clients.push(c),
                Err(e) => tracing::warn!(error = %e, "auto_join: unusable address"),
            }
        }
        clients
    }
}

impl JoinTarget {
    /// The leaders to try this round. Discovery failures are logged and yield none (the
    /// caller retries); this node's own API address is skipped.
    pub(crate) async fn clients(&self, me: &NodeInfo) -> Vec<JoinClient> {
        match self {
            JoinTarget::Fixed(c) => vec![c.clone()],
            JoinTarget::Auto(auto) => {
                let mut cached = auto.cached.lock().await;
                if let Some((at, clients)) = cached.as_ref()
                    && at.elapsed() < DISCOVERY_INTERVAL
                {
                    return clients.clone();
                }
                let clients = match tresor_discover::discover(&auto.query).await {
                    Ok(addrs) => auto.clients_for(&addrs, me),
                    Err(e) => {
                        tracing::warn!(error = %e, "auto_join discovery failed; will retry");
                        Vec::new()
                    }
                };
                tracing::info!(found = clients.len(), "auto_join discovery ran");
                *cached = Some((std::time::Instant::now(), clients.clone()));
                clients
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> NodeInfo {
        NodeInfo {
            node_id: "n2".into(),
            api_addr: "http://127.0.0.1:1".into(),
            cluster_addr: "https://127.0.0.1:2".into(),
        }
    }

    #[tokio::test]
    async fn a_refused_connection_is_named_with_the_address() {
        // A port that was just free: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let params = JoinParams {
            leader_api_addr: format!("http://127.0.0.1:{port}"),
            ..JoinParams::default()
        };
        let err = JoinClient::new(&params, me())
            .unwrap()
            .challenge()
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
        assert!(err.contains("connection refused"), "{err}");
        assert!(!err.contains("not active"), "{err}");
    }

    #[tokio::test]
    async fn an_untrusted_certificate_is_named_as_the_cause() {
        // A TLS listener whose self-signed certificate is in no trust store given here.
        let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
        let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (c, k) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        std::fs::write(&c, cert.cert.pem()).unwrap();
        std::fs::write(&k, cert.key_pair.serialize_pem()).unwrap();
        let tls = tresor_http::load_server_config(&c, &k, false, None, false).unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let _ = acceptor.accept(sock).await;
            }
        });
        let params = JoinParams {
            leader_api_addr: format!("https://{addr}"),
            leader_ca_cert: Some(other.cert.pem()),
            ..JoinParams::default()
        };
        let err = JoinClient::new(&params, me())
            .unwrap()
            .challenge()
            .await
            .unwrap_err()
            .to_string();
        server.abort();
        assert!(err.contains("TLS handshake failed"), "{err}");
        assert!(err.contains("certificate"), "{err}");
        assert!(err.contains(&addr.to_string()), "{err}");
    }

    #[test]
    fn servername_keeps_the_address_and_changes_the_name() {
        let (url, addrs) = servername_target("https://127.0.0.2:8210", "vault-1.internal").unwrap();
        assert_eq!(url, "https://vault-1.internal:8210");
        assert_eq!(addrs, vec!["127.0.0.2:8210".parse().unwrap()]);
        let (url, addrs) = servername_target("https://[::1]:8200/", "n1").unwrap();
        assert_eq!(url, "https://n1:8200");
        assert_eq!(addrs, vec!["[::1]:8200".parse().unwrap()]);
        let (_, addrs) = servername_target("https://localhost", "n1").unwrap();
        assert!(
            addrs
                .iter()
                .all(|a| a.port() == 443 && a.ip().is_loopback())
        );
        assert!(servername_target("not a url", "n1").is_err());
        assert!(servername_target("https://127.0.0.1:1", "bad name!").is_err());
    }
}
