//! [`ClusterServer`]: accepts mutual-TLS HTTP/2 connections on the cluster port and dispatches
//! each request to a [`ClusterHandler`].

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::ServerConfig;
use rustls::pki_types::CertificateDer;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::protocol::{STATUS_RECONNECT, route_of, status_for};
use crate::{
    ALPN_CLUSTER_V1, ClusterError, ClusterHandler, ClusterIdentity, ClusterRequest, ServerOptions,
};

/// Pause after a failed `accept` (for example out of file descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The server side of the cluster port. Create it with [`new`](Self::new), run
/// [`serve`](Self::serve) on a bound listener, and swap certificates at any time with
/// [`set_identity`](Self::set_identity) (new connections use the new identity).
pub struct ClusterServer {
    tls: RwLock<Arc<ServerConfig>>,
    /// Bumped on every identity swap; open connections then close gracefully so that peers
    /// reconnect under the new certificates and trust.
    rotations: watch::Sender<u64>,
    handler: Arc<dyn ClusterHandler>,
    options: ServerOptions,
}

impl std::fmt::Debug for ClusterServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterServer")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl ClusterServer {
    /// A server presenting `identity`'s node certificate, accepting only clients whose
    /// certificate chains to `identity`'s CA, and serving requests with `handler`.
    pub fn new(
        identity: &ClusterIdentity,
        handler: Arc<dyn ClusterHandler>,
        options: ServerOptions,
    ) -> Result<Arc<Self>, ClusterError> {
        Ok(Arc::new(Self {
            tls: RwLock::new(identity.server_config()?),
            rotations: watch::Sender::new(0),
            handler,
            options,
        }))
    }

    /// Replaces the certificates and trusted CA (rotation). Connections accepted from now on
    /// use them; established connections are closed gracefully (HTTP/2 GOAWAY: requests in
    /// flight finish), so a peer no longer trusted cannot keep talking on an old connection.
    pub fn set_identity(&self, identity: &ClusterIdentity) -> Result<(), ClusterError> {
        let config = identity.server_config()?;
        // The lock only guards a pointer swap; a poisoned lock still holds a valid config.
        *self.tls.write().unwrap_or_else(|e| e.into_inner()) = config;
        self.rotations.send_modify(|g| *g += 1);
        Ok(())
    }

    fn current_tls(&self) -> Arc<ServerConfig> {
        self.tls.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Accepts connections on `listener` until `shutdown` is cancelled, then stops accepting,
    /// asks open connections to finish (HTTP/2 GOAWAY) and waits up to
    /// [`ServerOptions::shutdown_grace`] before dropping them.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<(), ClusterError> {
        let local = listener.local_addr()?;
        info!(%local, "cluster port listening");
        let permits = Arc::new(Semaphore::new(self.options.max_connections.max(1)));
        let mut connections = JoinSet::new();
        loop {
            let permit = tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => continue,
                permit = permits.clone().acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let accepted = tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            let (tcp, peer) = match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    warn!(%local, error = %e, "cluster port accept failed");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                    }
                }
            };
            // Generation first, then config: a rotation in between only makes this connection
            // look stale (its peer reconnects), never lets an old config look current.
            let generation = *self.rotations.borrow();
            let acceptor = TlsAcceptor::from(self.current_tls());
            let this = self.clone();
            let shutdown = shutdown.clone();
            connections.spawn(async move {
                let _permit = permit;
                this.serve_connection(acceptor, generation, tcp, peer, shutdown)
                    .await;
            });
        }
        drop(listener);
        let drained = tokio::time::timeout(self.options.shutdown_grace, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            debug!(%local, "cluster connections still open after grace period; dropping them");
        }
        connections.shutdown().await;
        info!(%local, "cluster port closed");
        Ok(())
    }

    async fn serve_connection(
        self: Arc<Self>,
        acceptor: TlsAcceptor,
        generation: u64,
        tcp: TcpStream,
        peer: SocketAddr,
        shutdown: CancellationToken,
    ) {
        let mut rotations = self.rotations.subscribe();
        if *rotations.borrow_and_update() != generation {
            // Rotated since this connection was accepted: let the peer dial again.
            return;
        }
        if let Err(e) = tcp.set_nodelay(true) {
            debug!(%peer, error = %e, "set_nodelay failed");
        }
        let tls = match tokio::time::timeout(self.options.handshake_timeout, acceptor.accept(tcp))
            .await
        {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                debug!(%peer, error = %e, "cluster TLS handshake refused");
                return;
            }
            Err(_) => {
                debug!(%peer, "cluster TLS handshake timed out");
                return;
            }
        };
        let (_, session) = tls.get_ref();
        if session.alpn_protocol() != Some(ALPN_CLUSTER_V1) {
            debug!(%peer, "cluster client did not negotiate ALPN tresor-cluster/1");
            return;
        }
        let certs: Arc<Vec<CertificateDer<'static>>> = Arc::new(
            session
                .peer_certificates()
                .map(<[_]>::to_vec)
                .unwrap_or_default(),
        );
        if certs.is_empty() {
            // The verifier requires a certificate; this is a second line of defence.
            debug!(%peer, "cluster client presented no certificate");
            return;
        }
        let this = self.clone();
        let service = service_fn(move |req: Request<Incoming>| {
            let this = this.clone();
            let certs = certs.clone();
            async move {
                if *this.rotations.borrow() != generation {
                    // Accepted under an identity that was since replaced: the peer must
                    // re-authenticate before anything more is served.
                    return Ok::<_, Infallible>(reply(
                        STATUS_RECONNECT,
                        Bytes::from_static(b"cluster identity rotated; reconnect"),
                    ));
                }
                Ok(this.respond(req, peer, certs).await)
            }
        });
        let mut builder = http2::Builder::new(TokioExecutor::new());
        builder
            .timer(TokioTimer::new())
            .max_concurrent_streams(self.options.max_concurrent_streams);
        let conn = builder.serve_connection(TokioIo::new(tls), service);
        tokio::pin!(conn);
        tokio::select! {
            res = conn.as_mut() => {
                if let Err(e) = res {
                    debug!(%peer, error = %e, "cluster connection ended with error");
                }
                return;
            }
            _ = shutdown.cancelled() => {}
            _ = rotations.changed() => {
                debug!(%peer, "cluster identity rotated; closing connection");
            }
        }
        conn.as_mut().graceful_shutdown();
        if let Err(e) = conn.as_mut().await {
            debug!(%peer, error = %e, "cluster connection ended with error while closing");
        }
    }

    async fn respond(
        &self,
        req: Request<Incoming>,
        peer_addr: SocketAddr,
        peer_certificates: Arc<Vec<CertificateDer<'static>>>,
    ) -> Response<Full<Bytes>> {
        if req.method() != Method::POST {
            return reply(
                StatusCode::METHOD_NOT_ALLOWED,
                Bytes::from_static(b"POST only"),
            );
        }
        let Some(route) = route_of(req.uri().path()).map(str::to_owned) else {
            let err = ClusterError::NotFound(req.uri().path().to_owned());
            return error_reply(&err);
        };
        let limit = self.options.max_body_bytes;
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > limit as u64) {
            return error_reply(&ClusterError::BodyTooLarge { limit });
        }
        let work = async {
            let body = Limited::new(req.into_body(), limit)
                .collect()
                .await
                .map_err(|e| {
                    if e.downcast_ref::<LengthLimitError>().is_some() {
                        ClusterError::BodyTooLarge { limit }
                    } else {
                        ClusterError::Protocol(format!("reading request body: {e}"))
                    }
                })?
                .to_bytes();
            self.handler
                .handle(ClusterRequest {
                    route: route.clone(),
                    body,
                    peer_addr,
                    peer_certificates,
                })
                .await
        };
        let time_limit = self
            .handler
            .time_limit(&route)
            .unwrap_or(self.options.request_timeout);
        let result = match tokio::time::timeout(time_limit, work).await {
            Ok(result) => result,
            Err(_) => Err(ClusterError::Timeout(format!("serving {route}"))),
        };
        match result {
            Ok(body) => reply(StatusCode::OK, body),
            Err(e) => {
                debug!(%peer_addr, %route, error = %e, "cluster request failed");
                error_reply(&e)
            }
        }
    }
}

fn reply(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(if status.is_success() {
            "application/octet-stream"
        } else {
            "text/plain; charset=utf-8"
        }),
    );
    resp
}

fn error_reply(err: &ClusterError) -> Response<Full<Bytes>> {
    reply(status_for(err), Bytes::from(err.to_string()))
}
