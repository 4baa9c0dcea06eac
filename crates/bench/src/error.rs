//! The one error type of the load tool.

/// Why a benchmark could not be configured or started.
///
/// Failures of individual requests during the measured run are not errors of this kind: they
/// are counted by [`crate::stats::ErrorKind`] and judged against `--max-error-rate`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// A command-line value is malformed or out of range.
    #[error("invalid value for --{flag}: {reason}")]
    InvalidArg {
        /// The flag, without the leading dashes.
        flag: &'static str,
        /// What is wrong with the value.
        reason: String,
    },
    /// The run would be unbounded: neither `--duration` nor `--ops` was given.
    #[error("refusing to run unbounded: give --duration (at most 1h) or --ops")]
    Unbounded,
    /// A target's host is not a loopback address and `--allow-non-loopback` was not given.
    #[error(
        "refusing to target {addr}: host is not loopback (127.0.0.0/8, ::1, localhost); \
         pass --allow-non-loopback to benchmark a remote server"
    )]
    NonLoopback {
        /// The address as given.
        addr: String,
    },
    /// A Vault scenario was chosen but no token is known.
    #[error("no Vault token: pass --token or set VAULT_TOKEN")]
    MissingToken,
    /// The CA certificate file could not be read or parsed.
    #[error("cannot use CA certificate {path}: {reason}")]
    CaCert {
        /// The file given to `--ca-cert`.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build HTTP client: {0}")]
    Client(String),
    /// The scenario's target does not answer its probe (no transit engine, no login user or
    /// role yet).
    #[error("{scenario} is not available until {needs}: POST {url} answered {answer}")]
    TransitUnavailable {
        /// The scenario probed.
        scenario: &'static str,
        /// What it needs (`the transit engine exists`).
        needs: &'static str,
        /// The URL probed before the run.
        url: String,
        /// The status or transport error the probe got.
        answer: String,
    },
    /// Writing the key set that read scenarios need failed.
    #[error("preparing {key}: {answer} (after {attempts} attempts)")]
    Prepare {
        /// The key that could not be written.
        key: String,
        /// The status or transport error of the last attempt.
        answer: String,
        /// How many attempts were made.
        attempts: u32,
    },
    /// The run was interrupted before the measured phase began.
    #[error("interrupted before the measured phase")]
    Interrupted,
    /// A worker task failed (a bug: workers do not panic on request failures).
    #[error("worker task failed: {0}")]
    Worker(String),
}

impl BenchError {
    /// Shorthand for [`BenchError::InvalidArg`].
    pub(crate) fn invalid(flag: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidArg {
            flag,
            reason: reason.into(),
        }
    }

    /// The process exit code for this error: 2 for bad arguments, 1 for a run that could not
    /// start.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::InvalidArg { .. } | Self::Unbounded | Self::NonLoopback { .. } => 2,
            Self::MissingToken | Self::CaCert { .. } => 2,
            Self::Client(_)
            | Self::TransitUnavailable { .. }
            | Self::Prepare { .. }
            | Self::Interrupted
            | Self::Worker(_) => 1,
        }
    }
}
