//! The `auth/token/` backend: the HTTP face of the [`TokenStore`].

mod handlers;
mod render;
mod roles;

use std::sync::Arc;

use async_trait::async_trait;
use tresor_sdk::{LogicalBackend, LogicalError, Operation, Request, Response};

use crate::store::TokenStore;

/// Serves requests under the `auth/token/` mount (`req.path` relative to it).
#[derive(Debug, Clone)]
pub struct TokenBackend {
    store: Arc<TokenStore>,
}

impl TokenBackend {
    /// A backend over `store`.
    pub fn new(store: Arc<TokenStore>) -> Self {
        Self { store }
    }

    /// The store this backend serves.
    pub fn store(&self) -> &Arc<TokenStore> {
        &self.store
    }
}

/// The segments of the mount-relative path, served as the ACL saw it: only a LIST's
/// directory marker (its trailing `/`) is not a segment of its own.
fn segments(req: &Request) -> Vec<&str> {
    let path = match req.operation {
        Operation::List => req.path.strip_suffix('/').unwrap_or(&req.path),
        _ => req.path.as_str(),
    };
    path.split('/').collect()
}

fn is_write(op: Operation) -> bool {
    matches!(op, Operation::Create | Operation::Update)
}

#[async_trait]
impl LogicalBackend for TokenBackend {
    /// Lookups (GET), accessor and role reads only read the store.
    fn standby_readable(&self, _path: &str) -> bool {
        true
    }

    async fn handle(&self, req: &Request) -> Result<Option<Response>, LogicalError> {
        let op = req.operation;
        let segments = segments(req);
        match segments.as_slice() {
            ["create"] if is_write(op) => self.create(req, None, false).await,
            ["create-orphan"] if is_write(op) => self.create(req, None, true).await,
            ["create", role] if is_write(op) => self.create(req, Some(role), false).await,
            ["lookup"] if is_write(op) || op == Operation::Read => self.lookup(req).await,
            ["lookup-self"] if is_write(op) || op == Operation::Read => self.lookup_self(req).await,
            ["lookup-accessor"] if is_write(op) => self.lookup_accessor(req).await,
            ["renew"] if is_write(op) => self.renew(req).await,
            ["renew-self"] if is_write(op) => self.renew_self(req).await,
            ["renew-accessor"] if is_write(op) => self.renew_accessor(req).await,
            ["revoke"] if is_write(op) => self.revoke(req).await,
            ["revoke-self"] if is_write(op) => self.revoke_self(req).await,
            ["revoke-accessor"] if is_write(op) => self.revoke_accessor(req).await,
            ["revoke-orphan"] if is_write(op) => self.revoke_orphan(req).await,
            ["accessors"] if op == Operation::List => self.list_accessors().await,
            ["tidy"] if is_write(op) => self.tidy().await,
            ["roles"] if op == Operation::List => self.list_roles().await,
            ["roles", name] => self.role_op(req, name).await,
            [
                "create" | "create-orphan" | "lookup" | "lookup-self" | "lookup-accessor" | "renew"
                | "renew-self" | "renew-accessor" | "revoke" | "revoke-self" | "revoke-accessor"
                | "revoke-orphan" | "accessors" | "tidy" | "roles",
            ]
            | ["create", _] => Err(LogicalError::UnsupportedOperation),
            _ => Err(LogicalError::UnsupportedPath),
        }
    }

    async fn exists(&self, req: &Request) -> Result<Option<bool>, LogicalError> {
        match segments(req).as_slice() {
            ["roles", name] => Ok(Some(self.store.role(name).await?.is_some())),
            _ => Ok(None),
        }
    }

    fn root_paths(&self) -> Vec<String> {
        ["revoke-orphan*", "accessors*"]
            .into_iter()
            .map(str::to_owned)
            .collect()
    }
}
