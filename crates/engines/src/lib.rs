//! Secrets engines for Tresor.
//!
//! The core mounts an engine by asking [`new_backend`] for a [`LogicalBackend`] of a given
//! type and then routes every request below the mount to its
//! [`handle`](LogicalBackend::handle), with paths relative to the mount and the mount's own
//! storage view.
//!
//! Source layout:
//! - [`kv`]: the key/value engine, [`KvV1`] (unversioned, Vault's `kv` version 1) and
//!   [`KvV2`] (versioned, Vault's `kv` version 2 / `kv-v2`).
//! - [`transit`]: the transit engine, [`Transit`] (encryption, signing and HMAC as a service
//!   with named, versioned keys; Vault's `transit`).
//! - [`clock`]: time source and Vault's timestamp format, shared by the engines.

pub mod clock;
mod error;
pub mod kv;
mod locks;
pub mod transit;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use error::EngineError;
pub use kv::{KvV1, KvV2};
pub use transit::Transit;
use tresor_sdk::LogicalBackend;

/// Builds the backend for a secrets engine of type `kind` with the mount's `options`.
///
/// - `kind == "kv"`: `options["version"]` `"1"` (the default, also when empty) gives [`KvV1`],
///   `"2"` gives [`KvV2`]; any other version is an error.
/// - `kind == "kv-v2"`: [`KvV2`] whatever the options say.
/// - `kind == "transit"`: [`Transit`] (options are ignored).
/// - anything else: [`EngineError::UnknownType`].
pub fn new_backend(
    kind: &str,
    options: &BTreeMap<String, String>,
) -> Result<Arc<dyn LogicalBackend>, EngineError> {
    match kind {
        "kv" => match options.get("version").map(|v| v.trim()) {
            None | Some("") | Some("1") => Ok(Arc::new(KvV1::new())),
            Some("2") => Ok(Arc::new(KvV2::new())),
            Some(other) => Err(EngineError::InvalidKvVersion(other.to_owned())),
        },
        "kv-v2" => Ok(Arc::new(KvV2::new())),
        "transit" => Ok(Arc::new(Transit::new())),
        other => Err(EngineError::UnknownType(other.to_owned())),
    }
}

/// Whether [`new_backend`] knows the engine type `kind`.
pub fn is_known_type(kind: &str) -> bool {
    matches!(kind, "kv" | "kv-v2" | "transit")
}

/// Registers every engine of this crate (`kv`, its old name `generic`, `kv-v2`, `transit`) and
/// the database engine of `tresor-database` (`database`) and the PKI engine of `tresor-pki`
/// (`pki`) as secrets-engine types.
pub fn register(registry: &mut tresor_sdk::BackendRegistry) {
    registry.register(
        tresor_sdk::BackendKind::Secret,
        "database",
        Arc::new(|_| Ok(Arc::new(tresor_database::Database::new()) as Arc<dyn LogicalBackend>)),
    );
    for name in ["kv", "kv-v2", "transit"] {
        registry.register(
            tresor_sdk::BackendKind::Secret,
            name,
            Arc::new(move |options| {
                new_backend(name, options)
                    .map_err(|e| tresor_sdk::LogicalError::invalid(e.to_string()))
            }),
        );
    }
    tresor_pki::register(registry);
    registry.register(
        tresor_sdk::BackendKind::Secret,
        "generic",
        Arc::new(|options| {
            new_backend("kv", options).map_err(|e| tresor_sdk::LogicalError::invalid(e.to_string()))
        }),
    );
}

/// A registry holding this crate's engines (what a server and the tests mount).
pub fn registry() -> tresor_sdk::BackendRegistry {
    let mut registry = tresor_sdk::BackendRegistry::new();
    register(&mut registry);
    registry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_offers_the_database_engine() {
        let reg = registry();
        assert!(reg.knows(tresor_sdk::BackendKind::Secret, "database"));
        assert!(
            reg.create(
                tresor_sdk::BackendKind::Secret,
                "database",
                &BTreeMap::new()
            )
            .is_ok()
        );
    }
}
