//! [`ClusterClient`]: pooled mutual-TLS HTTP/2 connections to peers' cluster ports.
//!
//! Each peer address has its own slot holding at most one HTTP/2 connection, which carries
//! any number of concurrent requests. Slots are independent: connecting to a dead peer holds
//! only that peer's slot, for at most the connect timeout, and never delays calls to others.
//! A connection that fails or times out is dropped and the next call dials again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::Request;
use hyper::client::conn::http2;
use hyper::header::CONTENT_TYPE;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::ClientConfig;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tracing::debug;

use crate::addr::PeerAddr;
use crate::protocol::{STATUS_RECONNECT, path_for, remote_error};
use crate::{ALPN_CLUSTER_V1, ClientOptions, ClusterError, ClusterIdentity};

/// The client TLS configuration in force, with a generation bumped on every swap so pooled
/// connections made with an older identity are replaced.
struct TlsState {
    config: Arc<ClientConfig>,
    generation: u64,
}

/// One live HTTP/2 connection to a peer.
#[derive(Clone)]
struct Pooled {
    sender: http2::SendRequest<Full<Bytes>>,
    generation: u64,
    id: u64,
}

/// The connection slot of one peer address.
#[derive(Default)]
struct PeerSlot {
    conn: tokio::sync::Mutex<Option<Pooled>>,
}

/// Sends requests to peers' cluster ports over mutual TLS. Cheap to share (`Arc`); safe to
/// use from many tasks at once.
pub struct ClusterClient {
    tls: RwLock<TlsState>,
    peers: Mutex<HashMap<String, Arc<PeerSlot>>>,
    options: ClientOptions,
    next_id: AtomicU64,
}

impl std::fmt::Debug for ClusterClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterClient")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl ClusterClient {
    /// A client presenting `identity`'s node certificate and trusting only its CA.
    pub fn new(identity: &ClusterIdentity, options: ClientOptions) -> Result<Self, ClusterError> {
        Ok(Self {
            tls: RwLock::new(TlsState {
                config: identity.client_config()?,
                generation: 0,
            }),
            peers: Mutex::new(HashMap::new()),
            options,
            next_id: AtomicU64::new(0),
        })
    }

    /// The options in force.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// Replaces the certificates (rotation). Pooled connections are dropped; every later call
    /// dials with the new identity. Requests already in flight finish on their connection.
    pub fn set_identity(&self, identity: &ClusterIdentity) -> Result<(), ClusterError> {
        let config = identity.client_config()?;
        {
            // Both locks only guard plain data; a poisoned lock still holds valid state.
            let mut tls = self.tls.write().unwrap_or_else(|e| e.into_inner());
            tls.config = config;
            tls.generation += 1;
        }
        self.peers.lock().unwrap_or_else(|e| e.into_inner()).clear();
        Ok(())
    }

    fn current_tls(&self) -> (Arc<ClientConfig>, u64) {
        let tls = self.tls.read().unwrap_or_else(|e| e.into_inner());
        (tls.config.clone(), tls.generation)
    }

    fn slot(&self, key: &str) -> Arc<PeerSlot> {
        self.peers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key.to_owned())
            .or_default()
            .clone()
    }

    /// Sends `body` to route `route` (e.g. `raft/vote`) of the peer at `cluster_addr`
    /// (`https://host:port`) and returns the reply body. Non-2xx replies are
    /// [`ClusterError::Remote`]. A pooled connection the peer retired because it rotated its
    /// identity is replaced and the request sent once more on a new connection.
    pub async fn call(
        &self,
        cluster_addr: &str,
        route: &str,
        body: Bytes,
    ) -> Result<Bytes, ClusterError> {
        self.call_within(cluster_addr, route, body, self.options.request_timeout)
            .await
    }

    /// [`call`](Self::call) with its own bound on the request instead of the client's
    /// request timeout (a snapshot's last chunk is answered after the whole install).
    pub async fn call_within(
        &self,
        cluster_addr: &str,
        route: &str,
        body: Bytes,
        timeout: Duration,
    ) -> Result<Bytes, ClusterError> {
        let addr = PeerAddr::parse(cluster_addr)?;
        let slot = self.slot(&addr.authority());
        let mut attempt = 0;
        loop {
            attempt += 1;
            let conn = self.connection(&slot, &addr).await?;
            let result = self
                .exchange(conn.clone(), &addr, route, body.clone(), timeout)
                .await;
            let stale = matches!(&result, Err(ClusterError::Remote { status, .. })
                if *status == STATUS_RECONNECT.as_u16());
            if let Err(e) = &result
                && (stale || !matches!(e, ClusterError::Remote { .. }))
            {
                // The connection is retired, dead or wedged: dial afresh.
                Self::evict(&slot, conn.id).await;
            }
            if stale && attempt < 2 {
                continue;
            }
            return result;
        }
    }

    /// One request on `conn`, bounded by `timeout`.
    async fn exchange(
        &self,
        mut conn: Pooled,
        addr: &PeerAddr,
        route: &str,
        body: Bytes,
        timeout: Duration,
    ) -> Result<Bytes, ClusterError> {
        let uri = format!("https://{}{}", addr.authority(), path_for(route));
        let req = Request::post(uri)
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(Full::new(body))
            .map_err(|e| ClusterError::Protocol(format!("building request: {e}")))?;
        let limit = self.options.max_body_bytes;
        let exchange = async {
            conn.sender
                .ready()
                .await
                .map_err(|e| ClusterError::Protocol(format!("connection not usable: {e}")))?;
            let resp = conn
                .sender
                .send_request(req)
                .await
                .map_err(|e| ClusterError::Protocol(e.to_string()))?;
            let status = resp.status();
            let body = Limited::new(resp.into_body(), limit)
                .collect()
                .await
                .map_err(|e| {
                    if e.downcast_ref::<LengthLimitError>().is_some() {
                        ClusterError::BodyTooLarge { limit }
                    } else {
                        ClusterError::Protocol(format!("reading reply: {e}"))
                    }
                })?
                .to_bytes();
            if status.is_success() {
                Ok(body)
            } else {
                Err(remote_error(status, &body))
            }
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(ClusterError::Timeout(format!(
                "{route} to {} after {timeout:?}",
                addr.authority(),
            ))),
        }
    }

    /// The pooled connection of `slot`, dialling one if there is none, it is closed, or it was
    /// made with an older identity.
    async fn connection(&self, slot: &PeerSlot, addr: &PeerAddr) -> Result<Pooled, ClusterError> {
        let mut guard = slot.conn.lock().await;
        let (config, generation) = self.current_tls();
        if let Some(pooled) = guard.as_ref()
            && pooled.generation == generation
            && !pooled.sender.is_closed()
        {
            return Ok(pooled.clone());
        }
        *guard = None;
        let dial = self.dial(addr, config, generation);
        let pooled = tokio::time::timeout(self.options.connect_timeout, dial)
            .await
            .map_err(|_| ClusterError::Connect {
                addr: addr.authority(),
                reason: format!("timed out after {:?}", self.options.connect_timeout),
            })??;
        *guard = Some(pooled.clone());
        Ok(pooled)
    }

    async fn dial(
        &self,
        addr: &PeerAddr,
        config: Arc<ClientConfig>,
        generation: u64,
    ) -> Result<Pooled, ClusterError> {
        let failed = |reason: String| ClusterError::Connect {
            addr: addr.authority(),
            reason,
        };
        let server_name = addr.server_name()?;
        let tcp = TcpStream::connect((addr.host.as_str(), addr.port))
            .await
            .map_err(|e| failed(format!("tcp: {e}")))?;
        tcp.set_nodelay(true)?;
        let tls = TlsConnector::from(config)
            .connect(server_name, tcp)
            .await
            .map_err(|e| failed(format!("tls: {e}")))?;
        if tls.get_ref().1.alpn_protocol() != Some(ALPN_CLUSTER_V1) {
            return Err(failed(
                "peer did not negotiate ALPN tresor-cluster/1".into(),
            ));
        }
        let mut builder = http2::Builder::new(TokioExecutor::new());
        builder.timer(TokioTimer::new());
        if let Some(interval) = self.options.keep_alive_interval {
            builder
                .keep_alive_interval(interval)
                .keep_alive_timeout(interval)
                .keep_alive_while_idle(true);
        }
        let (sender, connection) = builder
            .handshake(TokioIo::new(tls))
            .await
            .map_err(|e| failed(format!("http/2: {e}")))?;
        let peer = addr.authority();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                debug!(%peer, error = %e, "cluster client connection ended");
            }
        });
        Ok(Pooled {
            sender,
            generation,
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
        })
    }

    async fn evict(slot: &PeerSlot, id: u64) {
        let mut guard = slot.conn.lock().await;
        if guard.as_ref().is_some_and(|p| p.id == id) {
            *guard = None;
        }
    }
}
