//! The contract between Tresor's core and the backends mounted in it.
//!
//! The core's router resolves a request path to a mount, strips the mount prefix and hands the
//! backend a [`Request`] whose `storage` is the mount's own view of the barrier. The backend
//! answers with a [`Response`] (or `None` for "nothing here": 404 on read, 204 on write) or a
//! [`LogicalError`]. Status codes and the JSON envelope are the http layer's business.

pub mod audit;
pub mod cidr;
pub mod duration;
pub mod fields;
mod logical;
pub mod login;
pub mod nesting;
pub mod path;
pub mod registry;
pub mod token_fields;

pub use logical::{
    Auth, AuthResponse, LogicalBackend, LogicalError, MountInfo, Operation, Request, Response,
    ResponseStatus, Secret,
};
pub use login::{LoginAlias, LoginAuth};
pub use path::{CanonicalPath, Verdict};
pub use registry::{BackendFactory, BackendKind, BackendRegistry};
