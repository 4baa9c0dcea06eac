//! Serving the router on a TCP listener, plain or TLS, with the listener's limits: time limits
//! per connection (see [`Timeouts`]), a TLS handshake limit, at most `max_connections` open
//! connections, Vault's response headers, and handler panics answered with a 500.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::connection::{Activity, ConnService, Timeouts, TrackedIo, Verdict};
use crate::response_headers::ResponseHeaders;

/// TLS settings of a listener.
#[derive(Clone)]
pub struct TlsOptions {
    /// The rustls server configuration.
    pub config: Arc<rustls::ServerConfig>,
}

/// A listener to serve.
#[derive(Clone)]
pub struct ListenerOptions {
    /// Bound socket address.
    pub addr: SocketAddr,
    /// TLS, or plain HTTP when `None`.
    pub tls: Option<TlsOptions>,
}

/// Default of [`ServeOptions::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;

/// How a listener serves its connections.
#[derive(Clone)]
pub struct ServeOptions {
    /// TLS, or plain HTTP when `None`.
    pub tls: Option<TlsOptions>,
    /// Per-connection time limits.
    pub timeouts: Timeouts,
    /// Most connections open at once (at least 1). Beyond it, new connections are not
    /// accepted (they wait in the kernel's accept queue) until one closes.
    pub max_connections: usize,
    /// Headers added to every response.
    pub response_headers: ResponseHeaders,
}

impl Default for ServeOptions {
    /// Plain HTTP with Vault's default time limits, [`DEFAULT_MAX_CONNECTIONS`], and only
    /// `Cache-Control: no-store` added.
    fn default() -> Self {
        ServeOptions {
            tls: None,
            timeouts: Timeouts::default(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            response_headers: ResponseHeaders::new(),
        }
    }
}

/// The router with the layers every listener adds: handler panics become 500, and the
/// response headers are set on every answer (the 500 included).
pub fn harden(router: Router, headers: Arc<ResponseHeaders>) -> Router {
    crate::panic_guard::catch_panics(router).layer(axum::middleware::from_fn_with_state(
        headers,
        crate::response_headers::add_headers,
    ))
}

/// Serves `router` on an already-bound `listener` until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    options: ServeOptions,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let router = harden(router, Arc::new(options.response_headers));
    let acceptor = options.tls.map(|t| TlsAcceptor::from(t.config));
    let timeouts = options.timeouts;
    let permits = Arc::new(Semaphore::new(options.max_connections.max(1)));
    loop {
        // Wait for a free slot before accepting, so that excess connections stay in the
        // kernel's bounded accept queue instead of in memory here.
        let permit = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return Ok(()),
            },
        };
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let addrs = crate::client_addr::ClientAddr {
            remote: Some(peer),
            forwarded_from: None,
            local: stream.local_addr().ok(),
        };
        let router = router.clone();
        let acceptor = acceptor.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match acceptor {
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(timeouts.tls_handshake, acceptor.accept(stream));
                    let tls = tokio::select! {
                        _ = shutdown.cancelled() => return,
                        r = handshake => r,
                    };
                    match tls {
                        Ok(Ok(tls)) => {
                            serve_connection(tls, addrs, router, timeouts, shutdown).await
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
                None => serve_connection(stream, addrs, router, timeouts, shutdown).await,
            }
        });
    }
}

/// Serves one connection until it ends, a limit closes it, or `shutdown` is cancelled.
async fn serve_connection<S>(
    io: S,
    addrs: crate::client_addr::ClientAddr,
    router: Router,
    timeouts: Timeouts,
    shutdown: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let peer = addrs.remote.map(|a| a.to_string()).unwrap_or_default();
    let activity = Activity::new(timeouts);
    let service = ConnService::new(router, activity.clone(), addrs.clone());
    let builder = Builder::new(TokioExecutor::new());
    let conn =
        builder.serve_connection(TokioIo::new(TrackedIo::new(io, activity.clone())), service);
    tokio::pin!(conn);
    loop {
        let wake = match activity.judge() {
            Verdict::Wait(at) => at,
            Verdict::Close(reason) => {
                tracing::debug!(%peer, reason, "closing connection");
                activity.closing();
                conn.as_mut().graceful_shutdown();
                continue;
            }
            Verdict::Abort(reason) => {
                tracing::debug!(%peer, reason, "dropping connection");
                return;
            }
        };
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            _ = shutdown.cancelled() => return,
            _ = activity.changed() => {}
            _ = sleep_until(wake) => {}
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
