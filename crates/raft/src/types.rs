//! The openraft type configuration: node identity, the replicated command and its response.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tresor_storage::Op;

/// The numeric Raft node id openraft works with, derived from the Vault-style string id by
/// [`node_id_of`].
pub type NodeId = u64;

openraft::declare_raft_types!(
    /// Tresor's openraft type configuration.
    pub TypeConfig:
        D = Command,
        R = CommandResult,
        NodeId = NodeId,
        Node = NodeInfo,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = crate::snapshot_data::SnapshotData,
        AsyncRuntime = openraft::TokioRuntime,
);

/// Maps a Vault-style string node id (`vault-1`) to openraft's numeric id: the first eight
/// bytes of the SHA-256 of the string, big-endian. Deterministic on every node.
pub fn node_id_of(name: &str) -> NodeId {
    let digest = Sha256::digest(name.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// What the cluster knows about one node (openraft's `Node` type).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// The Vault-style string id, e.g. `vault-1`.
    pub node_id: String,
    /// Where clients reach this node's HTTP API.
    pub api_addr: String,
    /// Where peers reach this node's cluster (Raft RPC) listener.
    pub cluster_addr: String,
}

impl fmt::Display for NodeInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.node_id, self.cluster_addr)
    }
}

/// One replicated change of the key/value state machine, as stored in the log.
///
/// Values are opaque bytes (ciphertext); they are base64 in the serialized form so the JSON
/// encoding of log entries and RPCs stays compact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum WireOp {
    /// Set a key.
    Put {
        /// The key.
        key: String,
        /// The value.
        #[serde(with = "b64")]
        value: Vec<u8>,
    },
    /// Remove a key.
    Delete {
        /// The key.
        key: String,
    },
}

impl From<Op> for WireOp {
    fn from(op: Op) -> Self {
        match op {
            Op::Put { key, value } => WireOp::Put { key, value },
            Op::Delete { key } => WireOp::Delete { key },
        }
    }
}

/// The application payload of a Raft entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// A group commit: several callers' atomic op lists, applied in order, each in full.
    Batch(Vec<Vec<WireOp>>),
    /// One piece of a snapshot being restored: every node appends `data` to its staging
    /// file for restore `id` (the key/value table is not touched). `seq` counts from 0; a
    /// chunk that does not continue the staged restore is ignored.
    RestoreChunk {
        /// The restore this chunk belongs to.
        id: String,
        /// Its position (0, 1, 2, ...).
        seq: u64,
        /// A piece of `state.bin`.
        #[serde(with = "b64")]
        data: Vec<u8>,
    },
    /// Ends a restore: every node verifies its staged `state.bin` (chunk count, length,
    /// SHA-256, structure) and, if it checks out, replaces the whole key/value table with it
    /// in one write transaction; either way the staging is dropped.
    RestoreCommit {
        /// The restore to commit.
        id: String,
        /// Number of chunks.
        chunks: u64,
        /// Total length of `state.bin`.
        len: u64,
        /// Its SHA-256, lowercase hex.
        sha256: String,
    },
}

/// What applying one entry produced.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandResult {
    /// How many op lists the entry carried (0 for blank and membership entries).
    pub applied_batches: usize,
    /// For a [`Command::RestoreCommit`]: why the restore was refused (nothing changed), or
    /// `None` when it was applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_error: Option<String>,
    /// For a [`Command::RestoreCommit`] that was applied: the number of keys restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_keys: Option<u64>,
}

mod b64 {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        STANDARD
            .decode(s.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_id_is_deterministic_and_distinct() {
        assert_eq!(node_id_of("vault-1"), node_id_of("vault-1"));
        assert_ne!(node_id_of("vault-1"), node_id_of("vault-2"));
        let digest = Sha256::digest(b"vault-1");
        assert_eq!(node_id_of("vault-1").to_be_bytes(), digest[..8]);
    }

    #[test]
    fn command_round_trips_binary_values() {
        let cmd = Command::Batch(vec![vec![
            WireOp::Put {
                key: "a".into(),
                value: vec![0, 255, 7],
            },
            WireOp::Delete { key: "b".into() },
        ]]);
        let json = serde_json::to_string(&cmd).unwrap();
        assert!(json.contains("AP8H"), "values are base64: {json}");
        let back: Command = serde_json::from_str(&json).unwrap();
        assert_eq!(back, cmd);
    }
}
