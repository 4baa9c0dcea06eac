//! The registry of backend types: how the core creates the backend of a mount without
//! depending on any engine crate. The binary fills it; the core only looks names up.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::{LogicalBackend, LogicalError};

/// Creates a backend of one type from a mount's options.
pub type BackendFactory = Arc<
    dyn Fn(&BTreeMap<String, String>) -> Result<Arc<dyn LogicalBackend>, LogicalError>
        + Send
        + Sync,
>;

/// Secret-engine and auth-method types by name.
#[derive(Clone, Default)]
pub struct BackendRegistry {
    secrets: BTreeMap<String, BackendFactory>,
    auth: BTreeMap<String, BackendFactory>,
}

/// Which table of the registry a type is looked up in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    /// A secrets engine (`sys/mounts`).
    Secret,
    /// An auth method (`sys/auth`).
    Auth,
}

impl BackendRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a backend type (a later registration of the same name replaces it).
    pub fn register(
        &mut self,
        kind: BackendKind,
        name: impl Into<String>,
        factory: BackendFactory,
    ) -> &mut Self {
        self.table_mut(kind).insert(name.into(), factory);
        self
    }

    /// Whether `name` is a registered type.
    pub fn knows(&self, kind: BackendKind, name: &str) -> bool {
        self.table(kind).contains_key(name)
    }

    /// Creates a backend of type `name`; an unknown type is an invalid request, worded as
    /// Vault words it.
    pub fn create(
        &self,
        kind: BackendKind,
        name: &str,
        options: &BTreeMap<String, String>,
    ) -> Result<Arc<dyn LogicalBackend>, LogicalError> {
        let factory = self.table(kind).get(name).ok_or_else(|| {
            LogicalError::invalid(match kind {
                BackendKind::Secret => format!("plugin not found in the catalog: {name}"),
                BackendKind::Auth => format!("unknown auth method type: {name}"),
            })
        })?;
        factory(options)
    }

    /// The registered type names.
    pub fn names(&self, kind: BackendKind) -> impl Iterator<Item = &str> {
        self.table(kind).keys().map(String::as_str)
    }

    fn table(&self, kind: BackendKind) -> &BTreeMap<String, BackendFactory> {
        match kind {
            BackendKind::Secret => &self.secrets,
            BackendKind::Auth => &self.auth,
        }
    }

    fn table_mut(&mut self, kind: BackendKind) -> &mut BTreeMap<String, BackendFactory> {
        match kind {
            BackendKind::Secret => &mut self.secrets,
            BackendKind::Auth => &mut self.auth,
        }
    }
}

impl fmt::Debug for BackendRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackendRegistry")
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .field("auth", &self.auth.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Request, Response};

    struct Nothing;

    #[async_trait::async_trait]
    impl LogicalBackend for Nothing {
        async fn handle(&self, _req: &Request) -> Result<Option<Response>, LogicalError> {
            Ok(None)
        }
    }

    #[test]
    fn lookup_by_kind_and_name() {
        let mut reg = BackendRegistry::new();
        reg.register(
            BackendKind::Secret,
            "nothing",
            Arc::new(|_| Ok(Arc::new(Nothing) as Arc<dyn LogicalBackend>)),
        );
        assert!(reg.knows(BackendKind::Secret, "nothing"));
        assert!(!reg.knows(BackendKind::Auth, "nothing"));
        assert!(
            reg.create(BackendKind::Secret, "nothing", &BTreeMap::new())
                .is_ok()
        );
        let err = reg
            .create(BackendKind::Auth, "nothing", &BTreeMap::new())
            .err()
            .map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("unknown auth method type: nothing"));
    }
}
