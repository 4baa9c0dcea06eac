//! Errors of the Raft store and their mapping onto [`StorageError`].

use tresor_storage::StorageError;

/// What can go wrong in the Raft store. Non-exhaustive: callers should treat unknown variants
/// as internal faults.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RaftError {
    /// The options are invalid.
    #[error("invalid raft configuration: {0}")]
    Config(String),
    /// A redb database or snapshot file could not be read or written.
    #[error("raft storage I/O error: {0}")]
    Io(String),
    /// Persisted data (log entry, snapshot, metadata) did not decode or failed its checksum.
    #[error("corrupt raft data: {0}")]
    Corrupt(String),
    /// This node is not the leader; the leader's string id if known.
    #[error("not the leader{}", leader.as_ref().map(|l| format!(" (leader: {l})")).unwrap_or_default())]
    NotLeader {
        /// The current leader's string node id, if known.
        leader: Option<String>,
    },
    /// The operation may succeed later (no leader yet, no quorum, timed out waiting).
    #[error("raft unavailable: {0}")]
    Unavailable(String),
    /// A write was proposed but its fate is unknown (leadership lost, node stopped).
    #[error("outcome unknown: {0}")]
    Unknown(String),
    /// The Raft node has stopped (shut down or fatal storage error).
    #[error("raft node stopped: {0}")]
    Stopped(String),
    /// A membership change or initialization was refused by openraft.
    #[error("membership change refused: {0}")]
    Membership(String),
    /// A node is not known to the cluster.
    #[error("unknown node: {0}")]
    UnknownNode(String),
    /// A snapshot archive is damaged or not a snapshot (nothing was changed).
    #[error("{0}")]
    InvalidSnapshot(String),
    /// A valid snapshot archive was refused (its sealed checksums do not open with this
    /// cluster's keys, or the cluster refused to commit it); nothing was changed.
    #[error("{0}")]
    SnapshotRefused(String),
    /// An RPC could not be delivered or its payload not decoded.
    #[error("raft rpc failed: {0}")]
    Rpc(String),
    /// A `peers.json` recovery file could not be applied.
    #[error("peers.json recovery file {path}: {reason}")]
    PeersJson {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl From<redb::Error> for RaftError {
    fn from(e: redb::Error) -> Self {
        RaftError::Io(e.to_string())
    }
}

macro_rules! redb_errors_are_io {
    ($($t:ty),*) => {$(
        impl From<$t> for RaftError {
            fn from(e: $t) -> Self {
                RaftError::Io(e.to_string())
            }
        }
    )*};
}

redb_errors_are_io!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    std::io::Error
);

impl From<RaftError> for StorageError {
    fn from(e: RaftError) -> Self {
        match e {
            RaftError::NotLeader { leader } => StorageError::NotLeader { leader },
            RaftError::Unavailable(m) | RaftError::Stopped(m) => StorageError::Unavailable(m),
            RaftError::Unknown(m) => StorageError::Unknown(m),
            RaftError::Corrupt(m) => StorageError::Corrupt {
                key: "<raft>".into(),
                reason: m,
            },
            other => StorageError::Io(other.to_string()),
        }
    }
}

/// Turns any displayable error into an openraft storage I/O error for `subject`.
pub(crate) fn sto_err(
    verb: openraft::ErrorVerb,
    subject: openraft::ErrorSubject<crate::NodeId>,
    e: impl std::fmt::Display,
) -> openraft::StorageError<crate::NodeId> {
    openraft::StorageIOError::new(subject, verb, openraft::AnyError::error(e)).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_to_storage_errors() {
        let leader = Some("vault-2".to_owned());
        assert_eq!(
            StorageError::from(RaftError::NotLeader {
                leader: leader.clone()
            }),
            StorageError::NotLeader { leader }
        );
        assert!(matches!(
            StorageError::from(RaftError::Stopped("x".into())),
            StorageError::Unavailable(_)
        ));
        assert!(matches!(
            StorageError::from(RaftError::Unknown("x".into())),
            StorageError::Unknown(_)
        ));
        assert!(matches!(
            StorageError::from(RaftError::Io("disk".into())),
            StorageError::Io(_)
        ));
    }
}
