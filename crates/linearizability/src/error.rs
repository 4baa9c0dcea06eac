//! Errors of the linearizability crate.

/// What can go wrong when pairing a recorded history or parsing a fault schedule.
///
/// A history that is well formed but not linearizable is not an error: it is reported as
/// [`crate::CheckResult::NotLinearizable`].
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinError {
    /// A process invoked an operation while its previous one had not completed.
    #[error(
        "process {process} invoked a new operation at event {index} while one is still pending"
    )]
    DoubleInvoke {
        /// The offending process.
        process: u64,
        /// Position of the second invocation in the history.
        index: usize,
    },
    /// A completion (ok/fail/info) arrived for a process with no pending invocation.
    #[error("process {process} completed an operation at event {index} it never invoked")]
    CompletionWithoutInvoke {
        /// The offending process.
        process: u64,
        /// Position of the completion in the history.
        index: usize,
    },
    /// The completion names a different key than the invocation it completes.
    #[error(
        "process {process} invoked an operation on {invoked:?} but completed one on {completed:?}"
    )]
    KeyMismatch {
        /// The offending process.
        process: u64,
        /// Key of the invocation.
        invoked: String,
        /// Key of the completion.
        completed: String,
    },
    /// A fault schedule string could not be parsed.
    #[error("invalid fault schedule: {0}")]
    ScheduleParse(String),
}
