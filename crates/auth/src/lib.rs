//! Auth methods for Tresor, mounted through `sys/auth`: [`userpass`], [`approle`], [`jwt`]
//! (also mounted as type `oidc`) and [`kubernetes`].
//!
//! A login handler never mints a token: it answers a [`Response`](tresor_sdk::Response) whose
//! `login` ([`LoginAuth`](tresor_sdk::LoginAuth)) says who logged in and what the token may do
//! (built from the shared [`TokenFields`](tresor_sdk::token_fields::TokenFields)); the core's
//! login stage mints the token, clamps its TTLs and fills the response's `auth` block.
//!
//! Source layout: [`kdf`] (the Argon2id password hash of userpass), [`store`] (JSON records and
//! name rules), [`glob`] (the `*` globs of bound lists), [`remote`] (bounded HTTP calls to
//! JWKS, OIDC discovery and TokenReview endpoints), [`userpass`], [`approle`], [`jwt`],
//! [`kubernetes`].

pub mod approle;
pub mod glob;
pub mod jwt;
pub mod kdf;
pub mod kubernetes;
pub mod remote;
pub mod store;
pub mod userpass;

use std::sync::Arc;

use tresor_sdk::{BackendKind, BackendRegistry, LogicalBackend};

/// Registers this crate's auth methods (`userpass`, `approle`, `jwt`, `oidc`, `kubernetes`).
pub fn register(registry: &mut BackendRegistry) {
    registry.register(
        BackendKind::Auth,
        "userpass",
        Arc::new(|_| Ok(userpass::Userpass::with_defaults())),
    );
    registry.register(
        BackendKind::Auth,
        "approle",
        Arc::new(|_| Ok(Arc::new(approle::AppRole::new()) as Arc<dyn LogicalBackend>)),
    );
    for kind in ["jwt", "oidc"] {
        registry.register(
            BackendKind::Auth,
            kind,
            Arc::new(|_| Ok(Arc::new(jwt::Jwt::new()) as Arc<dyn LogicalBackend>)),
        );
    }
    registry.register(
        BackendKind::Auth,
        "kubernetes",
        Arc::new(|_| Ok(Arc::new(kubernetes::Kubernetes::new()) as Arc<dyn LogicalBackend>)),
    );
}
