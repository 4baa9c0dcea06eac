//! Logical requests, responses and the backend trait.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::{Map, Value};
use tresor_storage::{StorageError, View};

/// What a request asks a backend to do (the HTTP method mapped as Vault does).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    /// GET.
    Read,
    /// PUT/POST on a path that does not exist yet (decided by [`LogicalBackend::exists`]).
    Create,
    /// PUT/POST on an existing path (or one with no existence check).
    Update,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
    /// LIST, or GET with `?list=true`.
    List,
    /// Renewal of a lease this backend issued (sent by the expiration manager, never by a
    /// client; the request's `secret` names the lease). An auth backend gets it, at its login
    /// path with `auth` describing the token and `data` holding the login's
    /// [`LoginAuth::internal`](crate::LoginAuth::internal), when a token its login issued is renewed: an
    /// error refuses the renewal (the user or role is gone, its policies changed); `Ok` lets
    /// it go on.
    Renew,
    /// Revocation of a lease this backend issued (sent by the expiration manager).
    Revoke,
}

impl Operation {
    /// The ACL capability this operation needs.
    pub fn capability(self) -> &'static str {
        match self {
            Operation::Read => "read",
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Patch => "patch",
            Operation::Delete => "delete",
            Operation::List => "list",
            // Lease operations come from the expiration manager, which acts on a lease the
            // caller was already allowed to obtain; as ACL capabilities they are updates.
            Operation::Renew | Operation::Revoke => "update",
        }
    }
}

/// Facts about the mount a request was routed to.
#[derive(Clone, Debug, Default)]
pub struct MountInfo {
    /// The mount path with trailing slash, e.g. `secret/`.
    pub path: String,
    /// The backend type, e.g. `kv`.
    pub kind: String,
    /// The mount's unique id (its storage lives under this).
    pub uuid: String,
    /// The mount's accessor, e.g. `kv_1a2b3c4d`.
    pub accessor: String,
    /// Mount options, e.g. `version = "2"` for KV.
    pub options: BTreeMap<String, String>,
    /// Effective default lease TTL in seconds (mount tune or system default).
    pub default_lease_ttl: u64,
    /// Effective maximum lease TTL in seconds (mount tune or system default).
    pub max_lease_ttl: u64,
}

/// The caller, as the core authenticated it.
#[derive(Clone, Debug, Default)]
pub struct Auth {
    /// The client token (empty for unauthenticated requests).
    pub client_token: String,
    /// The token's accessor.
    pub accessor: String,
    /// Policies attached to the token.
    pub policies: Vec<String>,
    /// Display name of the token.
    pub display_name: String,
    /// Whether the caller holds the root policy.
    pub is_root: bool,
    /// The token's metadata (a login's `username`, `role_name`, ...).
    pub metadata: BTreeMap<String, String>,
}

/// A request routed to a backend.
#[derive(Clone, Debug)]
pub struct Request {
    /// The operation.
    pub operation: Operation,
    /// The path relative to the mount (no leading slash; may be empty).
    pub path: String,
    /// The request body (JSON object) or, for reads and lists, the query parameters.
    pub data: Map<String, Value>,
    /// The mount's private storage.
    pub storage: View,
    /// The mount the request was routed to.
    pub mount: MountInfo,
    /// The authenticated caller (empty on an unauthenticated path).
    pub auth: Auth,
    /// The lease being renewed or revoked ([`Operation::Renew`], [`Operation::Revoke`]).
    pub secret: Option<Secret>,
    /// Whether the caller holds `sudo` on this path (root paths require it; elsewhere a
    /// backend may let it lift limits, as the token store lets it create orphans).
    pub sudo: bool,
    /// The client's address, when the http layer knows it (CIDR bindings are checked
    /// against it).
    pub remote_addr: Option<std::net::IpAddr>,
}

impl Request {
    /// A request with empty data and auth (handy for tests and internal calls).
    pub fn new(operation: Operation, path: impl Into<String>, storage: View) -> Self {
        Self {
            operation,
            path: path.into(),
            data: Map::new(),
            storage,
            mount: MountInfo::default(),
            auth: Auth::default(),
            secret: None,
            sudo: false,
            remote_addr: None,
        }
    }

    /// Sets the body.
    pub fn with_data(mut self, data: Map<String, Value>) -> Self {
        self.data = data;
        self
    }
}

/// A token issued by an auth backend, returned in the response's `auth` block.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct AuthResponse {
    /// The new token.
    pub client_token: String,
    /// Its accessor.
    pub accessor: String,
    /// All policies (token + identity).
    pub policies: Vec<String>,
    /// The token's own policies.
    pub token_policies: Vec<String>,
    /// Metadata attached to the token.
    pub metadata: Option<BTreeMap<String, String>>,
    /// TTL in seconds.
    pub lease_duration: u64,
    /// Whether the token can be renewed.
    pub renewable: bool,
    /// The identity entity of the login (empty for tokens made by the token store).
    pub entity_id: String,
    /// `service` or `batch`.
    pub token_type: String,
    /// Whether the token has no parent.
    pub orphan: bool,
    /// Remaining uses (0 = unlimited).
    pub num_uses: u64,
    /// Always `null` (no login asks for MFA): a unit, which serializes as `null`.
    pub mfa_requirement: (),
    /// The token's display name: recorded in audit entries, not part of the JSON `auth`
    /// block.
    #[serde(skip)]
    pub display_name: String,
}

/// A lease-bearing secret in a response (dynamic credentials): the core registers a lease
/// for it, and hands it back to the backend on renew and revoke.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Secret {
    /// The lease id, filled in by the core's lease stage.
    pub lease_id: String,
    /// Time to live, seconds (0: the mount's default).
    pub ttl: u64,
    /// Longest the lease may live through renewals, seconds (0: the mount's maximum).
    pub max_ttl: u64,
    /// Whether the lease can be renewed.
    pub renewable: bool,
    /// What the backend needs to renew or revoke it (never returned to the client).
    pub internal: Map<String, Value>,
}

/// The kind of a response that carries a body. Backends say what happened; only the http
/// layer knows status codes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ResponseStatus {
    /// Served (200; 204 for an empty answer to anything but a read).
    #[default]
    Ok,
    /// Accepted, the work goes on (202, a tidy).
    Accepted,
    /// Nothing there, with a body that says why (404).
    NotFound,
    /// The request failed as a whole, with a body that says why (400, a batch whose items
    /// failed).
    InvalidRequest,
    /// An internal failure, with a body that says why (500, a batch item that failed inside).
    Internal,
    /// A status code the client chose for this answer in its request (transit's
    /// `partial_failure_response_code`).
    ClientChosen(u16),
}

impl ResponseStatus {
    /// Whether the answer reports success (and so is worth wrapping).
    pub fn is_success(self) -> bool {
        match self {
            ResponseStatus::Ok | ResponseStatus::Accepted => true,
            ResponseStatus::ClientChosen(c) => (200..300).contains(&c),
            _ => false,
        }
    }
}

/// A backend's answer.
#[derive(Clone, Debug, Default)]
pub struct Response {
    /// The `data` object of Vault's envelope.
    pub data: Option<Map<String, Value>>,
    /// Warnings to pass back to the client.
    pub warnings: Vec<String>,
    /// Token issued by this request (auth backends).
    pub auth: Option<AuthResponse>,
    /// `lease_duration` of the envelope (a TTL hint for KV v1 reads), in seconds.
    pub lease_duration: u64,
    /// `renewable` of the envelope.
    pub renewable: bool,
    /// What kind of answer this is (a body can come with a "not found", as Vault answers a
    /// deleted KV v2 version); the http layer picks the status code.
    pub status: ResponseStatus,
    /// A secret that gets a lease (dynamic credentials); boxed, as most responses have none.
    pub secret: Option<Box<Secret>>,
    /// A login's result (auth backends): the core's login stage mints the token and fills
    /// [`Response::auth`] from it.
    pub login: Option<Box<crate::LoginAuth>>,
}

impl Response {
    /// A response carrying `data`.
    pub fn data(data: Map<String, Value>) -> Self {
        Self {
            data: Some(data),
            ..Self::default()
        }
    }

    /// A response carrying the JSON object `value` (anything else becomes an empty object).
    pub fn json(value: Value) -> Self {
        match value {
            Value::Object(m) => Self::data(m),
            _ => Self::data(Map::new()),
        }
    }

    /// A successful login asking for the token `login` describes.
    pub fn login(login: crate::LoginAuth) -> Self {
        Self {
            login: Some(Box::new(login)),
            ..Self::default()
        }
    }

    /// Adds a warning.
    pub fn with_warning(mut self, w: impl Into<String>) -> Self {
        self.warnings.push(w.into());
        self
    }
}

/// Errors a backend returns. The http layer maps them to status codes:
/// `InvalidRequest` 400, `PermissionDenied` 403, `UnsupportedPath` 404,
/// `UnsupportedOperation` 405, `Storage` per its kind, `Internal` 500.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogicalError {
    /// The request is malformed or not allowed in the current state (HTTP 400).
    #[error("{0}")]
    InvalidRequest(String),
    /// The caller may not do this (HTTP 403).
    #[error("permission denied")]
    PermissionDenied,
    /// No handler for this path (HTTP 404).
    #[error("unsupported path")]
    UnsupportedPath,
    /// The path exists but not for this operation (HTTP 405).
    #[error("unsupported operation")]
    UnsupportedOperation,
    /// Storage failed underneath.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A bug or unexpected state (HTTP 500).
    #[error("internal error: {0}")]
    Internal(String),
}

impl LogicalError {
    /// Shorthand for [`LogicalError::InvalidRequest`].
    pub fn invalid(msg: impl Into<String>) -> Self {
        LogicalError::InvalidRequest(msg.into())
    }
}

/// A secrets engine or auth backend mounted in the core.
#[async_trait]
pub trait LogicalBackend: Send + Sync + 'static {
    /// Handles one request. `Ok(None)` means "nothing here": 404 for reads and lists,
    /// 204 for writes and deletes.
    async fn handle(&self, req: &Request) -> Result<Option<Response>, LogicalError>;

    /// Whether the object at `req.path` exists, so the core can ask for the `create` or the
    /// `update` capability on PUT/POST. `Ok(None)` (the default) means the path has no
    /// existence check and the operation is treated as an update.
    async fn exists(&self, _req: &Request) -> Result<Option<bool>, LogicalError> {
        Ok(None)
    }

    /// Path patterns (relative to the mount, `*` suffix glob) that need `sudo`.
    fn root_paths(&self) -> Vec<String> {
        Vec::new()
    }

    /// Path patterns (relative to the mount, `*` suffix glob) served without a token, such as
    /// a login. The core skips authentication and the ACL there.
    fn unauthenticated_paths(&self) -> Vec<String> {
        Vec::new()
    }

    /// Whether a standby node may answer a read or list of `path` (relative to the mount)
    /// itself, from its replicated storage: the handler writes nothing for it, creates no
    /// lease and has no effect outside storage. The default (`false`) sends every request of
    /// the mount to the active node. A handler that writes anyway fails on the standby's
    /// read-only storage and the request is forwarded, but after its request entry was
    /// audited on the standby, so declare only paths that never write.
    fn standby_readable(&self, _path: &str) -> bool {
        false
    }

    /// Runs once when the backend is mounted (fresh) or loaded at unseal.
    async fn setup(&self, _storage: &View, _mount: &MountInfo) -> Result<(), LogicalError> {
        Ok(())
    }

    /// Periodic housekeeping, called by the core on the active node only, from a supervised
    /// task, every few seconds (the database engine rotates static-role passwords whose
    /// `rotation_period` has passed). Must return promptly, bounded in time; an error is
    /// logged by the caller and the next tick tries again. The default does nothing.
    async fn periodic(&self, _storage: &View, _mount: &MountInfo) -> Result<(), LogicalError> {
        Ok(())
    }
}
