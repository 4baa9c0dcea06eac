//! The one error type of the CLI and its mapping to exit codes.

use std::fmt::Write as _;

/// Everything that can make a command fail. Each variant knows its exit code
/// ([`CliError::exit_code`]) and renders the message printed to stderr.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// Bad flags or arguments (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The top-level command (or a subcommand of a group) does not exist (exit 127, as Vault).
    #[error("unknown command {0:?}")]
    UnknownCommand(String),
    /// The server answered with an error status (exit 1).
    #[error("{}", render_status(context, method, url, *code, errors, raw))]
    Status {
        /// What the command was doing, e.g. `Error reading secret/foo`.
        context: String,
        /// HTTP method sent.
        method: String,
        /// Full URL requested.
        url: String,
        /// HTTP status code.
        code: u16,
        /// The `errors` array of the body.
        errors: Vec<String>,
        /// The raw body when it carried no `errors`.
        raw: String,
    },
    /// The request could not be sent or its answer not read (exit 1).
    #[error("{}{method} {url}: {}", prefix(context), chain(source))]
    Transport {
        /// What the command was doing.
        context: String,
        /// HTTP method sent.
        method: String,
        /// Full URL requested.
        url: String,
        /// The underlying client error.
        #[source]
        source: reqwest::Error,
    },
    /// A read found nothing (exit 2, as Vault's `read`/`kv get`).
    #[error("No value found at {0}")]
    NotFound(String),
    /// A local file or stdin could not be read or written (exit 1).
    #[error("{context}: {source}")]
    Io {
        /// What was being read or written.
        context: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Any other failure with a message (exit 1).
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) | CliError::NotFound(_) => 2,
            CliError::UnknownCommand(_) => 127,
            _ => 1,
        }
    }

    /// Sets the "what were we doing" prefix on API and transport errors.
    pub fn context(mut self, what: impl Into<String>) -> Self {
        match &mut self {
            CliError::Status { context, .. } | CliError::Transport { context, .. } => {
                *context = what.into();
            }
            _ => {}
        }
        self
    }

    /// The HTTP status code, when the server answered with an error.
    pub fn status_code(&self) -> Option<u16> {
        match self {
            CliError::Status { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Shorthand for an [`CliError::Io`].
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        CliError::Io {
            context: context.into(),
            source,
        }
    }
}

fn prefix(context: &str) -> String {
    if context.is_empty() {
        String::new()
    } else {
        format!("{context}: ")
    }
}

fn chain(err: &dyn std::error::Error) -> String {
    let mut s = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let _ = write!(s, ": {e}");
        cur = e.source();
    }
    s
}

fn render_status(
    context: &str,
    method: &str,
    url: &str,
    code: u16,
    errors: &[String],
    raw: &str,
) -> String {
    let mut s = prefix(context);
    let _ = write!(
        s,
        "Error making API request.\n\nURL: {method} {url}\nCode: {code}."
    );
    if errors.is_empty() {
        let _ = write!(s, " Raw Message:\n\n{raw}");
    } else {
        s.push_str(" Errors:\n");
        for e in errors {
            let _ = write!(s, "\n* {e}");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_error_renders_like_vault() {
        let e = CliError::Status {
            context: String::new(),
            method: "GET".into(),
            url: "http://x/v1/secret/foo".into(),
            code: 403,
            errors: vec!["permission denied".into()],
            raw: String::new(),
        }
        .context("Error reading secret/foo");
        assert_eq!(
            e.to_string(),
            "Error reading secret/foo: Error making API request.\n\nURL: GET http://x/v1/secret/foo\nCode: 403. Errors:\n\n* permission denied"
        );
        assert_eq!(e.exit_code(), 1);
        assert_eq!(e.status_code(), Some(403));
        assert_eq!(CliError::Usage("x".into()).exit_code(), 2);
        assert_eq!(CliError::UnknownCommand("x".into()).exit_code(), 127);
    }
}
