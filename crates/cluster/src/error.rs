//! The one error type of the cluster port.

/// What can go wrong on the cluster port. Non-exhaustive: callers should treat unknown variants
/// as transport failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// A certificate or key could not be generated, parsed or signed.
    #[error("cluster certificate error: {0}")]
    Certificate(String),
    /// The identity lacks what the operation needs (node certificate, CA key).
    #[error("incomplete cluster identity: {0}")]
    IncompleteIdentity(&'static str),
    /// A rustls configuration could not be built, or a TLS handshake failed.
    #[error("cluster TLS error: {0}")]
    Tls(String),
    /// A cluster address could not be parsed.
    #[error("invalid cluster address {addr:?}: {reason}")]
    InvalidAddress {
        /// The address as given.
        addr: String,
        /// Why it was refused.
        reason: String,
    },
    /// The peer could not be reached (DNS, TCP connect, TLS handshake, HTTP/2 setup).
    #[error("cannot connect to {addr}: {reason}")]
    Connect {
        /// The peer's cluster address.
        addr: String,
        /// What failed.
        reason: String,
    },
    /// An operation did not finish in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The HTTP/2 exchange failed after the connection was up (reset, closed, bad framing).
    #[error("cluster protocol error: {0}")]
    Protocol(String),
    /// The peer answered with an error status.
    #[error("peer answered {status}: {message}")]
    Remote {
        /// The HTTP status code.
        status: u16,
        /// The (truncated) error text the peer sent.
        message: String,
    },
    /// A request or reply body exceeded the size limit.
    #[error("body larger than {limit} bytes")]
    BodyTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// No handler serves this request path.
    #[error("no cluster route for {0:?}")]
    NotFound(String),
    /// The request was malformed (undecodable payload).
    #[error("bad cluster request: {0}")]
    BadRequest(String),
    /// The handler cannot serve right now (for example its Raft node is stopped).
    #[error("cluster handler unavailable: {0}")]
    Unavailable(String),
    /// The handler failed.
    #[error("cluster handler failed: {0}")]
    Handler(String),
    /// A socket operation failed.
    #[error("cluster I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl From<rcgen::Error> for ClusterError {
    fn from(e: rcgen::Error) -> Self {
        ClusterError::Certificate(e.to_string())
    }
}

impl From<rustls::Error> for ClusterError {
    fn from(e: rustls::Error) -> Self {
        ClusterError::Tls(e.to_string())
    }
}
