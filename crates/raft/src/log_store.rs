//! The Raft log, vote and commit index in `raft.redb` (openraft `RaftLogStorage`).
//!
//! Layout: table `logs` maps the log index (`u64`) to the JSON-encoded entry; table `meta`
//! holds `vote`, `committed` and `last_purged` (JSON). Every append, truncation and vote is one
//! redb write transaction committed with [`Durability::Immediate`] (fsync) before openraft is
//! told it is on disk; the commit index and purges use [`Durability::Eventual`] because losing
//! them in a crash is harmless (the commit index is recomputed, purged entries reappear).

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::Arc;

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{
    Entry, ErrorSubject, ErrorVerb, LogId, LogState, OptionalSend, RaftLogReader,
    StorageError as OrStorageError, Vote,
};
use redb::{Database, Durability, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::blocking::run_blocking;
use crate::error::sto_err;
use crate::{NodeId, RaftError, TypeConfig};

const LOGS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("logs");
const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("meta");
const KEY_VOTE: &str = "vote";
const KEY_COMMITTED: &str = "committed";
const KEY_LAST_PURGED: &str = "last_purged";

type OrResult<T> = Result<T, OrStorageError<NodeId>>;

/// Handle on `raft.redb`; cheap to clone (the log reader is a clone).
#[derive(Clone)]
pub(crate) struct LogStore {
    db: Arc<Database>,
}

impl LogStore {
    /// Opens or creates the log database at `path`.
    pub(crate) fn open(path: &Path) -> Result<Self, RaftError> {
        let db = Database::create(path)?;
        let txn = db.begin_write()?;
        txn.open_table(LOGS)?;
        txn.open_table(META)?;
        txn.commit()?;
        Ok(Self { db: Arc::new(db) })
    }

    /// How many entries the log table holds (compaction checks and metrics).
    pub(crate) async fn entry_count(&self) -> Result<u64, RaftError> {
        let db = self.db.clone();
        run_blocking(move || {
            let txn = db.begin_read()?;
            Ok(txn.open_table(LOGS)?.len()?)
        })
        .await
    }

    async fn read_meta<T>(&self, key: &'static str) -> Result<Option<T>, RaftError>
    where
        T: DeserializeOwned + Send + 'static,
    {
        let db = self.db.clone();
        run_blocking(move || read_meta_sync(&db, key)).await
    }

    async fn write_meta<T>(
        &self,
        key: &'static str,
        value: &T,
        durability: Durability,
    ) -> Result<(), RaftError>
    where
        T: Serialize,
    {
        let bytes = encode(value)?;
        let db = self.db.clone();
        run_blocking(move || {
            let mut txn = db.begin_write()?;
            txn.set_durability(durability);
            txn.open_table(META)?.insert(key, bytes.as_slice())?;
            txn.commit()?;
            Ok(())
        })
        .await
    }
}

fn read_meta_sync<T: DeserializeOwned>(db: &Database, key: &str) -> Result<Option<T>, RaftError> {
    let txn = db.begin_read()?;
    let table = txn.open_table(META)?;
    match table.get(key)? {
        Some(v) => Ok(Some(decode(v.value())?)),
        None => Ok(None),
    }
}

pub(crate) fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, RaftError> {
    serde_json::to_vec(v).map_err(|e| RaftError::Corrupt(format!("encode: {e}")))
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, RaftError> {
    serde_json::from_slice(bytes).map_err(|e| RaftError::Corrupt(format!("decode: {e}")))
}

fn logs_err(verb: ErrorVerb) -> impl FnOnce(RaftError) -> OrStorageError<NodeId> {
    move |e| sto_err(verb, ErrorSubject::Logs, e)
}

fn to_owned_bounds<RB: RangeBounds<u64>>(range: &RB) -> (Bound<u64>, Bound<u64>) {
    (range.start_bound().cloned(), range.end_bound().cloned())
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> OrResult<Vec<Entry<TypeConfig>>> {
        let bounds = to_owned_bounds(&range);
        let db = self.db.clone();
        run_blocking(move || {
            let txn = db.begin_read()?;
            let table = txn.open_table(LOGS)?;
            let mut out = Vec::new();
            for item in table.range::<u64>(bounds)? {
                let (_, v) = item?;
                out.push(decode::<Entry<TypeConfig>>(v.value())?);
            }
            Ok(out)
        })
        .await
        .map_err(logs_err(ErrorVerb::Read))
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> OrResult<LogState<TypeConfig>> {
        let db = self.db.clone();
        run_blocking(move || {
            let last_purged: Option<LogId<NodeId>> = read_meta_sync(&db, KEY_LAST_PURGED)?;
            let txn = db.begin_read()?;
            let table = txn.open_table(LOGS)?;
            let last = match table.last()? {
                Some((_, v)) => Some(decode::<Entry<TypeConfig>>(v.value())?.log_id),
                None => last_purged,
            };
            Ok(LogState {
                last_purged_log_id: last_purged,
                last_log_id: last,
            })
        })
        .await
        .map_err(logs_err(ErrorVerb::Read))
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> OrResult<()> {
        self.write_meta(KEY_VOTE, vote, Durability::Immediate)
            .await
            .map_err(|e| sto_err(ErrorVerb::Write, ErrorSubject::Vote, e))
    }

    async fn read_vote(&mut self) -> OrResult<Option<Vote<NodeId>>> {
        self.read_meta(KEY_VOTE)
            .await
            .map_err(|e| sto_err(ErrorVerb::Read, ErrorSubject::Vote, e))
    }

    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> OrResult<()> {
        self.write_meta(KEY_COMMITTED, &committed, Durability::Eventual)
            .await
            .map_err(|e| sto_err(ErrorVerb::Write, ErrorSubject::Store, e))
    }

    async fn read_committed(&mut self) -> OrResult<Option<LogId<NodeId>>> {
        let v: Option<Option<LogId<NodeId>>> = self
            .read_meta(KEY_COMMITTED)
            .await
            .map_err(|e| sto_err(ErrorVerb::Read, ErrorSubject::Store, e))?;
        Ok(v.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> OrResult<()>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut encoded = Vec::new();
        for entry in entries {
            let bytes = encode(&entry).map_err(logs_err(ErrorVerb::Write))?;
            encoded.push((entry.log_id.index, bytes));
        }
        let db = self.db.clone();
        let res = run_blocking(move || {
            let mut txn = db.begin_write()?;
            txn.set_durability(Durability::Immediate);
            {
                let mut table = txn.open_table(LOGS)?;
                for (index, bytes) in &encoded {
                    table.insert(*index, bytes.as_slice())?;
                }
            }
            txn.commit()?;
            Ok(())
        })
        .await;
        match res {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(logs_err(ErrorVerb::Write)(e))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> OrResult<()> {
        let db = self.db.clone();
        run_blocking(move || {
            let mut txn = db.begin_write()?;
            txn.set_durability(Durability::Immediate);
            txn.open_table(LOGS)?
                .retain_in::<u64, _>(log_id.index.., |_, _| false)?;
            txn.commit()?;
            Ok(())
        })
        .await
        .map_err(logs_err(ErrorVerb::Delete))
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> OrResult<()> {
        let bytes = encode(&log_id).map_err(logs_err(ErrorVerb::Delete))?;
        let db = self.db.clone();
        run_blocking(move || {
            let mut txn = db.begin_write()?;
            txn.set_durability(Durability::Eventual);
            txn.open_table(META)?
                .insert(KEY_LAST_PURGED, bytes.as_slice())?;
            txn.open_table(LOGS)?
                .retain_in::<u64, _>(..=log_id.index, |_, _| false)?;
            txn.commit()?;
            Ok(())
        })
        .await
        .map_err(logs_err(ErrorVerb::Delete))
    }
}
