//! The crate's error type.

/// Why discovery failed. Messages never contain secret values (keys, tokens).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoverError {
    /// The query string is malformed or incomplete (missing `tag_key`, bad quoting, ...).
    #[error("auto_join: {0}")]
    InvalidSpec(String),
    /// The query names a provider this crate does not implement.
    #[error("auto_join: provider {0:?} is not supported; supported: {supported}", supported = crate::SUPPORTED_PROVIDERS.join(", "))]
    UnsupportedProvider(String),
    /// No credentials could be obtained (static ones in the query, or the AWS default chain).
    #[error("auto_join: aws credentials: {0}")]
    Credentials(String),
    /// The provider could not be reached, or did not answer in time.
    #[error("auto_join: {0}")]
    Unavailable(String),
    /// The provider answered with an error.
    #[error("auto_join: {service} returned HTTP {status}: {code}: {message}")]
    Api {
        /// Which API answered, e.g. `ec2`.
        service: &'static str,
        /// HTTP status of the answer.
        status: u16,
        /// The provider's error code, e.g. `UnauthorizedOperation`.
        code: String,
        /// The provider's error message.
        message: String,
    },
    /// The provider's answer could not be understood.
    #[error("auto_join: malformed {service} response: {reason}")]
    Malformed {
        /// Which API answered, e.g. `ec2`.
        service: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl DiscoverError {
    pub(crate) fn spec(reason: impl Into<String>) -> Self {
        DiscoverError::InvalidSpec(reason.into())
    }

    pub(crate) fn malformed(reason: impl Into<String>) -> Self {
        DiscoverError::Malformed {
            service: "ec2",
            reason: reason.into(),
        }
    }
}
