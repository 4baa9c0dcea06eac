//! KV version 2: versioned secrets with metadata, check-and-set and soft deletion.
//!
//! Endpoints (relative to the mount): `config`, `data/<path>`, `delete/<path>`,
//! `undelete/<path>`, `destroy/<path>`, `metadata/<path>`, `subkeys/<path>`. See [`store`] for
//! the storage layout and [`model`] for the rules.

mod body;
mod config;
mod data;
mod json_ops;
mod metadata;
mod model;
mod render;
mod route;
mod store;
mod versions;

use async_trait::async_trait;
use serde_json::{Map, Value};
use tresor_sdk::{
    LogicalBackend, LogicalError, MountInfo, Operation, Request, Response, ResponseStatus,
};
use tresor_storage::View;

use crate::clock::{Clock, system_clock};
use crate::locks::KeyLocks;
use route::Route;
use store::Store;

/// The versioned KV engine (Vault's `kv` version 2, `kv-v2`).
///
/// Writes to one key are serialised by an in-process lock, so concurrent check-and-set
/// writers with the same `cas` see exactly one success.
pub struct KvV2 {
    locks: KeyLocks,
    clock: Clock,
}

impl std::fmt::Debug for KvV2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvV2").finish_non_exhaustive()
    }
}

impl Default for KvV2 {
    fn default() -> Self {
        Self::new()
    }
}

impl KvV2 {
    /// A KV v2 backend on the wall clock.
    pub fn new() -> Self {
        Self::with_clock(system_clock())
    }

    /// A KV v2 backend reading "now" from `clock` (nanoseconds since the epoch); for tests of
    /// time-dependent behaviour such as `delete_version_after`.
    pub fn with_clock(clock: Clock) -> Self {
        Self {
            locks: KeyLocks::new(),
            clock,
        }
    }

    fn now(&self) -> i64 {
        (self.clock)()
    }
}

/// A 404 that still carries a body (Vault answers deleted versions this way).
fn not_found_with(data: Option<Map<String, Value>>) -> Option<Response> {
    Some(Response {
        data,
        status: ResponseStatus::NotFound,
        ..Response::default()
    })
}

#[async_trait]
impl LogicalBackend for KvV2 {
    /// Every read and list (data, metadata, subkeys, config) only reads storage.
    fn standby_readable(&self, _path: &str) -> bool {
        true
    }

    async fn handle(&self, req: &Request) -> Result<Option<Response>, LogicalError> {
        use Operation::{Create, Delete, List, Patch, Read, Update};
        let Some(route) = route::parse(&req.path) else {
            // As Vault's KV v2 answers a path outside its API: a 404 with a hint.
            let mut resp = Response::default().with_warning(
                "invalid path for a versioned K/V secrets engine: use its data/, metadata/, \
                 delete/, undelete/, destroy/, subkeys/ or config endpoints",
            );
            resp.status = ResponseStatus::NotFound;
            return Ok(Some(resp));
        };
        match (route, req.operation) {
            (Route::Config, Read) => self.read_config(req).await,
            (Route::Config, Create | Update) => self.write_config(req).await,
            (Route::Data(p), Read) => self.read_data(req, p).await,
            (Route::Data(p), Create | Update) => self.write_data(req, p).await,
            (Route::Data(p), Patch) => self.patch_data(req, p).await,
            (Route::Data(p), Delete) => self.delete_latest(req, p).await,
            (Route::Delete(p), Create | Update) => self.delete_versions(req, p).await,
            (Route::Undelete(p), Create | Update) => self.undelete_versions(req, p).await,
            (Route::Destroy(p), Create | Update) => self.destroy_versions(req, p).await,
            (Route::Metadata(p), Read) => self.read_metadata(req, p).await,
            (Route::Metadata(p), Create | Update) => self.write_metadata(req, p).await,
            (Route::Metadata(p), Patch) => self.patch_metadata(req, p).await,
            (Route::Metadata(p), Delete) => self.delete_metadata(req, p).await,
            (Route::Metadata(p), List) => self.list_metadata(req, p).await,
            (Route::Subkeys(p), Read) => self.read_subkeys(req, p).await,
            _ => Err(LogicalError::UnsupportedOperation),
        }
    }

    async fn exists(&self, req: &Request) -> Result<Option<bool>, LogicalError> {
        match route::parse(&req.path) {
            Some(Route::Data(p) | Route::Metadata(p)) => {
                if !route::is_key(p) {
                    return Ok(Some(false));
                }
                Ok(Some(Store::new(&req.storage).meta(p).await?.is_some()))
            }
            _ => Ok(None),
        }
    }

    async fn setup(&self, storage: &View, _mount: &MountInfo) -> Result<(), LogicalError> {
        // Nothing is written: a missing config means the defaults, so setup also works on a
        // node that cannot write. A stored config that does not decode is reported now.
        Store::new(storage).config().await.map(|_| ())
    }
}
