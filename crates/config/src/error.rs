//! The one error type of this crate.

use std::fmt;

/// Why a configuration could not be read, parsed or accepted.
///
/// Every variant names the file (a path, or the source name given to
/// [`parse_str`](crate::parse_str)); variants about a setting also name its dotted key, e.g.
/// `listener.tcp.tls_min_version` or `storage.consul`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A file or directory could not be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The path that failed.
        file: String,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A path held no `*.hcl` or `*.json` file.
    #[error("{file}: no *.hcl or *.json configuration files found")]
    NoFiles {
        /// The directory (or path) that was given.
        file: String,
    },
    /// The text is not valid HCL or JSON.
    #[error("{file}{}: {reason}", Location(*line, *column))]
    Parse {
        /// The file or source name.
        file: String,
        /// One-based line of the error (0 when unknown).
        line: usize,
        /// One-based column of the error (0 when unknown).
        column: usize,
        /// What the parser said.
        reason: String,
    },
    /// A setting has a value that is malformed or contradicts another setting.
    #[error("{file}: {key}: {reason}")]
    Invalid {
        /// The file that set the value.
        file: String,
        /// The dotted key of the setting.
        key: String,
        /// What is wrong and, where possible, what to write instead.
        reason: String,
    },
    /// A setting is valid for Vault but Tresor does not support it.
    #[error("{file}: {key}: {reason}")]
    Unsupported {
        /// The file that set the value.
        file: String,
        /// The dotted key of the setting.
        key: String,
        /// What is not supported and what Tresor offers instead.
        reason: String,
    },
}

impl ConfigError {
    /// Builds [`ConfigError::Invalid`].
    pub(crate) fn invalid(file: &str, key: &str, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            file: file.to_owned(),
            key: key.to_owned(),
            reason: reason.into(),
        }
    }

    /// Builds [`ConfigError::Unsupported`].
    pub(crate) fn unsupported(file: &str, key: &str, reason: impl Into<String>) -> Self {
        ConfigError::Unsupported {
            file: file.to_owned(),
            key: key.to_owned(),
            reason: reason.into(),
        }
    }

    /// The dotted key the error is about, if it is about one setting.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } | ConfigError::Unsupported { key, .. } => Some(key),
            _ => None,
        }
    }

    /// The file (or source name) the error is about.
    pub fn file(&self) -> &str {
        match self {
            ConfigError::Read { file, .. }
            | ConfigError::NoFiles { file }
            | ConfigError::Parse { file, .. }
            | ConfigError::Invalid { file, .. }
            | ConfigError::Unsupported { file, .. } => file,
        }
    }
}

/// Formats `:line:column`, or nothing when the location is unknown.
struct Location(usize, usize);

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            Ok(())
        } else {
            write!(f, ":{}:{}", self.0, self.1)
        }
    }
}
