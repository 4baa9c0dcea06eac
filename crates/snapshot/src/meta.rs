//! `meta.json`: the snapshot's metadata with hashicorp-raft's field names.

use serde::{Deserialize, Serialize};

/// The metadata of a snapshot, as Vault's archives carry it in `meta.json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMeta {
    /// Format version of the metadata (1).
    #[serde(rename = "Version")]
    pub version: u32,
    /// Unique id of the snapshot (`<term>-<index>-<millis>`).
    #[serde(rename = "ID")]
    pub id: String,
    /// Index of the last Raft entry the snapshot covers.
    #[serde(rename = "Index")]
    pub index: u64,
    /// Term of that entry.
    #[serde(rename = "Term")]
    pub term: u64,
    /// Legacy peer list of hashicorp-raft (always empty here).
    #[serde(rename = "Peers", default)]
    pub peers: Option<String>,
    /// The cluster membership at the snapshot.
    #[serde(rename = "Configuration", default)]
    pub configuration: Configuration,
    /// Index of the entry that set that membership.
    #[serde(rename = "ConfigurationIndex", default)]
    pub configuration_index: u64,
    /// Length of `state.bin` in bytes.
    #[serde(rename = "Size")]
    pub size: u64,
}

/// A cluster configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Configuration {
    /// The members.
    #[serde(rename = "Servers", default)]
    pub servers: Vec<ConfigServer>,
}

/// One member of a configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigServer {
    /// 0 for a voter, 1 for a non-voter (hashicorp-raft's suffrage).
    #[serde(rename = "Suffrage")]
    pub suffrage: u8,
    /// The node id.
    #[serde(rename = "ID")]
    pub id: String,
    /// Its cluster address.
    #[serde(rename = "Address")]
    pub address: String,
}
