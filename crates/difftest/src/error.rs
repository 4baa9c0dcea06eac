//! The crate's error type.

/// Errors of the differential harness.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// A socket or file operation failed.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The server closed a kept-alive connection before answering.
    #[error("connection closed before a response")]
    Closed,
    /// A response could not be parsed.
    #[error("HTTP: {0}")]
    Http(String),
    /// A server binary is missing or would not start.
    #[error("server: {0}")]
    Server(String),
    /// Setting up a case with the root token failed.
    #[error("setup on {server}: {what}")]
    Setup {
        /// Which server.
        server: String,
        /// What failed.
        what: String,
    },
}

impl DiffError {
    /// Whether a retry on a new connection may succeed.
    pub fn is_closed_connection(&self) -> bool {
        match self {
            DiffError::Closed => true,
            DiffError::Io(e) => matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::UnexpectedEof
            ),
            _ => false,
        }
    }
}
