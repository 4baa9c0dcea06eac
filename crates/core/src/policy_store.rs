//! ACL policies stored in the barrier, parsed once and cached.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use tresor_policy::{Acl, Policy};
use tresor_storage::{Backend, View};

use crate::error::CoreError;

/// Name of the built-in policy of response-wrapping tokens (never stored, never assignable).
pub(crate) const RESPONSE_WRAPPING_POLICY: &str = tresor_token::RESPONSE_WRAPPING_POLICY;

/// What a response-wrapping token may do when it is itself the client token: unwrap.
const RESPONSE_WRAPPING_RULES: &str = r#"
path "sys/wrapping/unwrap" {
  capabilities = ["update"]
}
"#;

/// Names that cannot be written or deleted through the API.
fn is_reserved(name: &str) -> bool {
    name == "root" || name == RESPONSE_WRAPPING_POLICY
}

/// Policies by name under `sys/policy/` in the barrier.
pub(crate) struct PolicyStore {
    view: View,
    cache: RwLock<HashMap<String, Arc<Policy>>>,
}

impl PolicyStore {
    pub(crate) fn new(view: View) -> Self {
        Self {
            view,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// Writes the built-in `default` policy if it is missing.
    pub(crate) async fn ensure_default(&self) -> Result<(), CoreError> {
        if self.view.get("default").await?.is_none() {
            self.view
                .put("default", tresor_policy::DEFAULT_POLICY.as_bytes().to_vec())
                .await?;
        }
        Ok(())
    }

    /// The policy called `name`, if any (`response-wrapping` is built in).
    pub(crate) async fn get(&self, name: &str) -> Result<Option<Arc<Policy>>, CoreError> {
        if let Some(p) = self.cache.read().ok().and_then(|c| c.get(name).cloned()) {
            return Ok(Some(p));
        }
        if name == RESPONSE_WRAPPING_POLICY {
            let policy = Arc::new(
                Policy::parse(name, RESPONSE_WRAPPING_RULES)
                    .map_err(|e| CoreError::Internal(format!("built-in policy {name}: {e}")))?,
            );
            if let Ok(mut c) = self.cache.write() {
                c.insert(name.to_owned(), policy.clone());
            }
            return Ok(Some(policy));
        }
        let Some(bytes) = self.view.get(name).await? else {
            return Ok(None);
        };
        let text = String::from_utf8(bytes)
            .map_err(|_| CoreError::Internal(format!("policy {name} is not UTF-8")))?;
        let policy = Arc::new(
            Policy::parse(name, &text)
                .map_err(|e| CoreError::Internal(format!("stored policy {name}: {e}")))?,
        );
        if let Ok(mut c) = self.cache.write() {
            c.insert(name.to_owned(), policy.clone());
        }
        Ok(Some(policy))
    }

    /// Parses and stores a policy.
    pub(crate) async fn put(&self, name: &str, text: &str) -> Result<(), CoreError> {
        if is_reserved(name) {
            return Err(CoreError::invalid(format!("cannot update {name:?} policy")));
        }
        tresor_policy::validate_name(name).map_err(|e| CoreError::invalid(e.to_string()))?;
        let policy = Policy::parse(name, text)
            .map_err(|e| CoreError::invalid(format!("failed to parse policy: {e}")))?;
        self.view.put(name, text.as_bytes().to_vec()).await?;
        if let Ok(mut c) = self.cache.write() {
            c.insert(name.to_owned(), Arc::new(policy));
        }
        Ok(())
    }

    /// Deletes a policy (`root` and `default` cannot be deleted).
    pub(crate) async fn delete(&self, name: &str) -> Result<(), CoreError> {
        if is_reserved(name) || name == "default" {
            return Err(CoreError::invalid(format!("cannot delete {name:?} policy")));
        }
        // No stored policy has such a name (writes refuse it); deleting `root/` must not
        // look like a success.
        if name.contains('/') {
            return Err(CoreError::invalid(format!(
                "policy name {name:?} contains invalid characters"
            )));
        }
        self.view.delete(name).await?;
        if let Ok(mut c) = self.cache.write() {
            c.remove(name);
        }
        Ok(())
    }

    /// Stored policy names, sorted (`root` is included, as Vault lists it).
    pub(crate) async fn list(&self) -> Result<Vec<String>, CoreError> {
        let mut names: Vec<String> = self
            .view
            .list("")
            .await?
            .into_iter()
            .filter(|n| !n.ends_with('/'))
            .collect();
        names.push("root".into());
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// The ACL for a set of policy names (unknown names are skipped, as Vault does).
    pub(crate) async fn acl(&self, names: &[String]) -> Result<Acl, CoreError> {
        if names.iter().any(|n| n == "root") {
            return Ok(Acl::root());
        }
        let mut policies = Vec::with_capacity(names.len());
        for name in names {
            if let Some(p) = self.get(name).await? {
                policies.push((*p).clone());
            }
        }
        Ok(Acl::new(&policies))
    }

    /// Drops the cache (after a standby takes over, or a restore).
    #[allow(dead_code)]
    pub(crate) fn invalidate(&self) {
        if let Ok(mut c) = self.cache.write() {
            c.clear();
        }
    }
}
