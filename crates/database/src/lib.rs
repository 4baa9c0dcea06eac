//! The database secrets engine for PostgreSQL, with Vault's paths, fields and JSON.
//!
//! Endpoints (relative to the mount):
//! - `config/<name>` (write, read, delete; `config/` LIST): a connection — `plugin_name`
//!   (only `postgresql-database-plugin`), `connection_url` with `{{username}}`/`{{password}}`,
//!   root `username`/`password` (never read back), `allowed_roles`, `verify_connection`
//!   (default true: a write connects first and fails with 400 when it cannot),
//!   `root_rotation_statements`, `password_authentication` (`password` or `scram-sha-256`:
//!   passwords then reach PostgreSQL only as SCRAM verifiers), `username_template`,
//!   `max_open_connections`, `max_idle_connections`, `max_connection_lifetime`;
//!   `reset/<name>` closes its connections; `rotate-root/<name>` gives the root user a new
//!   random password that only the engine knows.
//! - `roles/<name>` (CRUD, LIST): dynamic roles; `creds/<name>` (read) creates a user in one
//!   transaction and answers `{username, password}` with a [`Secret`] that the core turns into
//!   a lease; [`Operation::Renew`] and [`Operation::Revoke`] requests carrying that secret
//!   extend and drop the user.
//! - `static-roles/<name>` (CRUD, LIST), `static-creds/<name>` (read), `rotate-role/<name>`:
//!   existing users whose password the engine owns, rotated every `rotation_period` by
//!   [`LogicalBackend::periodic`].
//!
//! [`Secret::internal`] of a credential holds `username`, `role`, `db_name`,
//! `revocation_statements` (the role's, kept so that a deleted role can still be revoked),
//! `issued_at` (unix seconds) and `max_ttl` (effective seconds); renewals keep it unchanged.
//!
//! Connections live in the backend instance (a small bounded pool per configuration, see
//! [`pool`]); they close when the backend is dropped (the mount disabled). TLS follows libpq's
//! `sslmode` with rustls ([`tls`]).
//!
//! Source layout: [`route`] (paths), [`connection`] and [`roles`] (stored objects, pure),
//! [`template`] (username templates, pure), [`statements`] (splitting and substitution,
//! pure), [`password`], [`pool`], [`tls`], `pg` (statements run in PostgreSQL), and the handlers in
//! `config_ops`, `dynamic` and `static_ops`.

mod config_ops;
pub mod connection;
mod dynamic;
mod error;
pub mod password;
mod pg;
pub mod pool;
pub mod roles;
pub mod route;
pub mod statements;
mod static_ops;
mod store;
pub mod template;
pub mod tls;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tresor_sdk::{LogicalBackend, LogicalError, MountInfo, Operation, Request, Response, Secret};
use tresor_storage::View;

pub use error::DbError;

use connection::ConnectionConfig;
use pool::Pool;
use route::Route;

/// A pool with the fingerprint of the config it was built from.
type PoolEntry = ([u8; 32], Arc<Pool>);

/// The database secrets engine (one per mount).
pub struct Database {
    /// Pools by connection name, with the fingerprint of the config they were built from.
    pools: Mutex<HashMap<String, PoolEntry>>,
    /// Serialises password rotations (root and static) of this mount.
    rotation: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database").finish_non_exhaustive()
    }
}

impl Default for Database {
    fn default() -> Self {
        Self::new()
    }
}

impl Database {
    /// A backend with no open connection.
    pub fn new() -> Self {
        Self {
            pools: Mutex::new(HashMap::new()),
            rotation: tokio::sync::Mutex::new(()),
        }
    }

    /// The pool for connection `name` as configured by `cfg` (rebuilt when the config changed).
    fn pool(&self, name: &str, cfg: &ConnectionConfig) -> Result<Arc<Pool>, DbError> {
        let fp = cfg.pool_fingerprint();
        let mut pools = self
            .pools
            .lock()
            .map_err(|_| DbError::Internal("connection pool table poisoned".into()))?;
        if let Some((f, p)) = pools.get(name)
            && *f == fp
        {
            return Ok(p.clone());
        }
        let (client_config, tls) = cfg.client_config()?;
        let pool = Arc::new(Pool::new(client_config, tls.connector()?, cfg.limits()));
        pools.insert(name.to_owned(), (fp, pool.clone()));
        Ok(pool)
    }

    /// Closes the (idle) connections of `name`; busy ones close when given back.
    fn drop_pool(&self, name: &str) {
        if let Ok(mut pools) = self.pools.lock() {
            pools.remove(name);
        }
    }

    /// The number of idle connections kept for connection `name` (for tests).
    pub fn idle_connections(&self, name: &str) -> usize {
        self.pools
            .lock()
            .ok()
            .and_then(|p| p.get(name).map(|(_, p)| p.idle_count()))
            .unwrap_or(0)
    }

    /// Loads `config/<name>`, a 400 when it is missing.
    async fn load_config(&self, view: &View, name: &str) -> Result<ConnectionConfig, DbError> {
        store::get(view, store::CONFIG, name)
            .await?
            .ok_or_else(|| DbError::invalid(format!("unknown database connection {name:?}")))
    }

    async fn dispatch(&self, req: &Request) -> Result<Option<Response>, DbError> {
        use Operation::{Create, Delete, List, Read, Renew, Revoke, Update};
        match req.operation {
            Renew => return self.renew(req).await.map(Some),
            Revoke => return self.revoke(req).await.map(|()| None),
            _ => {}
        }
        let route = route::parse(&req.path).ok_or(DbError::UnsupportedPath)?;
        match (route, req.operation) {
            (Route::ConfigList, List) => list(req, store::CONFIG).await,
            (Route::Config(n), Create | Update) => self.write_config(req, n).await,
            (Route::Config(n), Read) => read_config(req, n).await,
            (Route::Config(n), Delete) => self.delete_config(req, n).await,
            (Route::Reset(n), Create | Update) => self.reset(req, n).await,
            (Route::RotateRoot(n), Create | Update) => self.rotate_root(req, n).await,
            (Route::RoleList, List) => list(req, store::ROLE).await,
            (Route::Role(n), Create | Update) => dynamic::write_role(req, n).await,
            (Route::Role(n), Read) => dynamic::read_role(req, n).await,
            (Route::Role(n), Delete) => dynamic::delete_role(req, n).await,
            (Route::Creds(n), Read) => self.creds(req, n).await.map(Some),
            (Route::StaticRoleList, List) => list(req, store::STATIC_ROLE).await,
            (Route::StaticRole(n), Create | Update) => self.write_static_role(req, n).await,
            (Route::StaticRole(n), Read) => static_ops::read_static_role(req, n).await,
            (Route::StaticRole(n), Delete) => static_ops::delete_static_role(req, n).await,
            (Route::StaticCreds(n), Read) => static_ops::static_creds(req, n).await,
            (Route::RotateRole(n), Create | Update) => self.rotate_role(req, n).await,
            _ => Err(DbError::UnsupportedOperation),
        }
    }
}

async fn list(req: &Request, prefix: &str) -> Result<Option<Response>, DbError> {
    let keys = store::list(&req.storage, prefix).await?;
    if keys.is_empty() {
        return Ok(None);
    }
    Ok(Some(Response::json(serde_json::json!({ "keys": keys }))))
}

async fn read_config(req: &Request, name: &str) -> Result<Option<Response>, DbError> {
    let cfg: Option<ConnectionConfig> = store::get(&req.storage, store::CONFIG, name).await?;
    Ok(cfg.map(|c| Response::json(c.to_read_json())))
}

#[async_trait]
impl LogicalBackend for Database {
    async fn handle(&self, req: &Request) -> Result<Option<Response>, LogicalError> {
        self.dispatch(req).await.map_err(LogicalError::from)
    }

    async fn exists(&self, req: &Request) -> Result<Option<bool>, LogicalError> {
        // Writes to configs and roles need `create` when the object is new, as in Vault.
        let (prefix, name) = match route::parse(&req.path) {
            Some(Route::Config(n)) => (store::CONFIG, n),
            Some(Route::Role(n)) => (store::ROLE, n),
            Some(Route::StaticRole(n)) => (store::STATIC_ROLE, n),
            _ => return Ok(None),
        };
        let found = tresor_storage::Backend::get(&req.storage, &format!("{prefix}{name}"))
            .await?
            .is_some();
        Ok(Some(found))
    }

    fn root_paths(&self) -> Vec<String> {
        // Vault's: the root credential's rotation needs sudo.
        vec!["rotate-root/*".to_owned()]
    }

    async fn periodic(&self, storage: &View, _mount: &MountInfo) -> Result<(), LogicalError> {
        self.rotate_due_static_roles(storage)
            .await
            .map_err(LogicalError::from)
    }
}

/// A fresh lease secret (the core fills `lease_id`).
fn lease(ttl: u64, max_ttl: u64, internal: serde_json::Map<String, serde_json::Value>) -> Secret {
    Secret {
        lease_id: String::new(),
        ttl,
        max_ttl,
        renewable: true,
        internal,
    }
}
