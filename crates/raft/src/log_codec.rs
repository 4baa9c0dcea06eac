//! The binary encoding of log entries in segment files: `postcard` (varints, no field names)
//! of a mirror of openraft's `Entry<TypeConfig>` whose values are raw bytes.
//!
//! The mirror exists because [`Command`]'s serde form is made for JSON (ops are internally
//! tagged, values are base64 strings), which a non-self-describing format cannot read back and
//! which would keep values a third larger. Membership, log ids and votes are openraft's own
//! serde forms. The variant order below is the on-disk format: only append new variants.

use openraft::{Entry, EntryPayload, LogId, Membership};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use crate::{Command, NodeId, NodeInfo, RaftError, TypeConfig, WireOp};

/// Bytes serialized as one byte string (not a sequence of numbers).
struct Bytes<'a>(&'a [u8]);

impl Serialize for Bytes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

/// The owned counterpart of [`Bytes`].
struct ByteBuf(Vec<u8>);

impl<'de> Deserialize<'de> for ByteBuf {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ByteBuf;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<ByteBuf, E> {
                Ok(ByteBuf(v.to_vec()))
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<ByteBuf, E> {
                Ok(ByteBuf(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ByteBuf, A::Error> {
                let mut out = Vec::new();
                while let Some(b) = seq.next_element::<u8>()? {
                    out.push(b);
                }
                Ok(ByteBuf(out))
            }
        }
        d.deserialize_byte_buf(V)
    }
}

#[derive(Serialize)]
enum OpRef<'a> {
    Put { key: &'a str, value: Bytes<'a> },
    Delete { key: &'a str },
}

#[derive(Deserialize)]
enum OpOwned {
    Put { key: String, value: ByteBuf },
    Delete { key: String },
}

/// One op list, serialized without building a vector of references.
struct OpsRef<'a>(&'a [WireOp]);

impl Serialize for OpsRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|op| match op {
            WireOp::Put { key, value } => OpRef::Put {
                key,
                value: Bytes(value),
            },
            WireOp::Delete { key } => OpRef::Delete { key },
        }))
    }
}

struct BatchRef<'a>(&'a [Vec<WireOp>]);

impl Serialize for BatchRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|ops| OpsRef(ops)))
    }
}

#[derive(Serialize)]
enum CommandRef<'a> {
    Batch(BatchRef<'a>),
    RestoreChunk {
        id: &'a str,
        seq: u64,
        data: Bytes<'a>,
    },
    RestoreCommit {
        id: &'a str,
        chunks: u64,
        len: u64,
        sha256: &'a str,
    },
}

#[derive(Deserialize)]
enum CommandOwned {
    Batch(Vec<Vec<OpOwned>>),
    RestoreChunk {
        id: String,
        seq: u64,
        data: ByteBuf,
    },
    RestoreCommit {
        id: String,
        chunks: u64,
        len: u64,
        sha256: String,
    },
}

#[derive(Serialize)]
enum PayloadRef<'a> {
    Blank,
    Normal(CommandRef<'a>),
    Membership(&'a Membership<NodeId, NodeInfo>),
}

#[derive(Deserialize)]
enum PayloadOwned {
    Blank,
    Normal(CommandOwned),
    Membership(Membership<NodeId, NodeInfo>),
}

#[derive(Serialize)]
struct EntryRef<'a> {
    log_id: &'a LogId<NodeId>,
    payload: PayloadRef<'a>,
}

#[derive(Deserialize)]
struct EntryOwned {
    log_id: LogId<NodeId>,
    payload: PayloadOwned,
}

fn command_ref(c: &Command) -> CommandRef<'_> {
    match c {
        Command::Batch(batch) => CommandRef::Batch(BatchRef(batch)),
        Command::RestoreChunk { id, seq, data } => CommandRef::RestoreChunk {
            id,
            seq: *seq,
            data: Bytes(data),
        },
        Command::RestoreCommit {
            id,
            chunks,
            len,
            sha256,
        } => CommandRef::RestoreCommit {
            id,
            chunks: *chunks,
            len: *len,
            sha256,
        },
    }
}

fn command_owned(c: CommandOwned) -> Command {
    match c {
        CommandOwned::Batch(batch) => Command::Batch(
            batch
                .into_iter()
                .map(|ops| {
                    ops.into_iter()
                        .map(|op| match op {
                            OpOwned::Put { key, value } => WireOp::Put {
                                key,
                                value: value.0,
                            },
                            OpOwned::Delete { key } => WireOp::Delete { key },
                        })
                        .collect()
                })
                .collect(),
        ),
        CommandOwned::RestoreChunk { id, seq, data } => Command::RestoreChunk {
            id,
            seq,
            data: data.0,
        },
        CommandOwned::RestoreCommit {
            id,
            chunks,
            len,
            sha256,
        } => Command::RestoreCommit {
            id,
            chunks,
            len,
            sha256,
        },
    }
}

/// Appends the binary form of `entry` to `out`.
pub(crate) fn encode_entry_into(
    entry: &Entry<TypeConfig>,
    out: &mut Vec<u8>,
) -> Result<(), RaftError> {
    let payload = match &entry.payload {
        EntryPayload::Blank => PayloadRef::Blank,
        EntryPayload::Normal(c) => PayloadRef::Normal(command_ref(c)),
        EntryPayload::Membership(m) => PayloadRef::Membership(m),
    };
    let value = EntryRef {
        log_id: &entry.log_id,
        payload,
    };
    let taken = std::mem::take(out);
    *out = postcard::to_extend(&value, taken)
        .map_err(|e| RaftError::Corrupt(format!("encode log entry: {e}")))?;
    Ok(())
}

/// Reads an entry written by [`encode_entry_into`].
pub(crate) fn decode_entry(bytes: &[u8]) -> Result<Entry<TypeConfig>, RaftError> {
    let e: EntryOwned = postcard::from_bytes(bytes)
        .map_err(|e| RaftError::Corrupt(format!("decode log entry: {e}")))?;
    let payload = match e.payload {
        PayloadOwned::Blank => EntryPayload::Blank,
        PayloadOwned::Normal(c) => EntryPayload::Normal(command_owned(c)),
        PayloadOwned::Membership(m) => EntryPayload::Membership(m),
    };
    Ok(Entry {
        log_id: e.log_id,
        payload,
    })
}

/// The binary form of a small value (vote, log id, the meta record).
pub(crate) fn encode_value<T: Serialize>(v: &T) -> Result<Vec<u8>, RaftError> {
    postcard::to_allocvec(v).map_err(|e| RaftError::Corrupt(format!("encode: {e}")))
}

/// Reads a value written by [`encode_value`].
pub(crate) fn decode_value<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, RaftError> {
    postcard::from_bytes(bytes).map_err(|e| RaftError::Corrupt(format!("decode: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::CommittedLeaderId;
    use std::collections::{BTreeMap, BTreeSet};

    fn roundtrip(entry: Entry<TypeConfig>) {
        let mut out = vec![7];
        encode_entry_into(&entry, &mut out).unwrap();
        assert_eq!(out[0], 7, "appends after what is there");
        let back = decode_entry(&out[1..]).unwrap();
        assert_eq!(back.log_id, entry.log_id);
        assert_eq!(
            serde_json::to_value(&back.payload).unwrap(),
            serde_json::to_value(&entry.payload).unwrap()
        );
    }

    #[test]
    fn every_payload_round_trips_and_values_are_raw_bytes() {
        let log_id = LogId::new(CommittedLeaderId::new(3, 9), 42);
        let value = vec![0xABu8; 4000];
        let cmd = Command::Batch(vec![
            vec![
                WireOp::Put {
                    key: "secret/a".into(),
                    value: value.clone(),
                },
                WireOp::Delete { key: "b".into() },
            ],
            vec![],
        ]);
        let entry = Entry::<TypeConfig> {
            log_id,
            payload: EntryPayload::Normal(cmd.clone()),
        };
        let mut bin = Vec::new();
        encode_entry_into(&entry, &mut bin).unwrap();
        let json = serde_json::to_vec(&entry).unwrap();
        assert!(
            bin.len() < value.len() + 64,
            "binary is {} bytes",
            bin.len()
        );
        assert!(
            json.len() > value.len() * 4 / 3,
            "json is {} bytes",
            json.len()
        );
        roundtrip(entry);
        roundtrip(Entry {
            log_id,
            payload: EntryPayload::Blank,
        });
        roundtrip(Entry {
            log_id,
            payload: EntryPayload::Normal(Command::RestoreChunk {
                id: "r1".into(),
                seq: 3,
                data: vec![1, 2, 3],
            }),
        });
        roundtrip(Entry {
            log_id,
            payload: EntryPayload::Normal(Command::RestoreCommit {
                id: "r1".into(),
                chunks: 4,
                len: 10,
                sha256: "ab".into(),
            }),
        });
        let nodes: BTreeMap<NodeId, NodeInfo> = [(
            1,
            NodeInfo {
                node_id: "vault-1".into(),
                api_addr: "http://a".into(),
                cluster_addr: "b".into(),
            },
        )]
        .into();
        let m = Membership::new(vec![BTreeSet::from([1])], nodes);
        roundtrip(Entry {
            log_id,
            payload: EntryPayload::Membership(m),
        });
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [&[][..], &[0xFF; 3][..], &[1, 2, 3, 4, 5, 6, 7, 8, 9][..]] {
            assert!(decode_entry(bytes).is_err());
        }
    }
}
