//! The one error type of the policy crate.

/// What can go wrong while parsing, naming or evaluating a policy.
///
/// Parse-time variants describe bad policy text (HTTP 400 at the API). The parameter variants
/// are produced by [`crate::Acl::check_parameters`] and mean "permission denied" (HTTP 403);
/// [`PolicyError::is_permission_denied`] tells the two kinds apart so the http layer does not
/// have to enumerate variants.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The text is neither valid HCL nor valid JSON.
    #[error("failed to parse policy: {0}")]
    Syntax(String),
    /// The text nests deeper than [`crate::MAX_POLICY_DEPTH`] (refused before parsing, so that
    /// hostile text cannot exhaust the parser's stack).
    #[error("policy nests deeper than the maximum depth of {limit} (line {line}, column {column})")]
    TooDeep {
        /// The depth limit.
        limit: usize,
        /// One-based line where the limit was exceeded.
        line: usize,
        /// One-based column where the limit was exceeded.
        column: usize,
    },
    /// The text parsed but does not have the shape of a policy (unknown key, wrong type, ...).
    #[error("invalid policy: {0}")]
    Structure(String),
    /// A path pattern is not acceptable.
    #[error("path {pattern:?}: {reason}")]
    InvalidPattern {
        /// The pattern as written.
        pattern: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A `capabilities` entry is not one of the known capabilities.
    #[error("path {path:?}: invalid capability {capability:?}")]
    UnknownCapability {
        /// The path block holding the bad entry.
        path: String,
        /// The entry that is not a capability.
        capability: String,
    },
    /// The legacy `policy = "..."` shorthand has a value other than deny/read/write/sudo.
    #[error("path {path:?}: invalid policy {value:?}")]
    InvalidLegacyPolicy {
        /// The path block holding the bad value.
        path: String,
        /// The value given.
        value: String,
    },
    /// `min_wrapping_ttl`/`max_wrapping_ttl` is not a duration or they contradict each other.
    #[error("path {path:?}: {reason}")]
    InvalidWrappingTtl {
        /// The path block holding the bad value.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A policy name is not acceptable for the requested operation.
    #[error("{reason}")]
    InvalidName {
        /// The name given.
        name: String,
        /// Why it was refused (the message Vault users expect, e.g. `cannot update "root" policy`).
        reason: String,
    },
    /// The matched rule requires a parameter the request does not carry.
    #[error("permission denied: missing required parameter {parameter:?}")]
    MissingRequiredParameter {
        /// The parameter that is required.
        parameter: String,
    },
    /// The request carries a parameter (or a value of it) the matched rule denies.
    #[error("permission denied: parameter {parameter:?} is denied")]
    ParameterDenied {
        /// The denied parameter (`*` when all parameters are denied).
        parameter: String,
    },
    /// The request carries a parameter (or a value of it) the matched rule does not allow.
    #[error("permission denied: parameter {parameter:?} is not allowed")]
    ParameterNotAllowed {
        /// The parameter that is not allowed.
        parameter: String,
    },
    /// No rule grants anything on the path (or the matched rule is `deny`).
    #[error("permission denied")]
    NoMatchingRule,
}

impl PolicyError {
    /// Whether the error is an authorisation refusal (403) rather than bad input (400).
    pub fn is_permission_denied(&self) -> bool {
        matches!(
            self,
            PolicyError::MissingRequiredParameter { .. }
                | PolicyError::ParameterDenied { .. }
                | PolicyError::ParameterNotAllowed { .. }
                | PolicyError::NoMatchingRule
        )
    }
}
