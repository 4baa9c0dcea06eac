//! A minimal identity store: one entity per login alias, where an alias is a (mount accessor,
//! alias name) pair (a userpass user, an AppRole role id). Logins through the same alias get
//! the same `entity_id`, across logins and restarts (both records live in the barrier).
//!
//! Layout in its view (`sys/identity/`):
//! - `alias/<sha256(mount accessor NUL name)>`: the [`Alias`] as JSON;
//! - `entity/<entity id>`: the [`Entity`] as JSON.
//!
//! Not there yet: the `identity/` API, groups, merging, entity policies.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tresor_storage::{Backend, Op, View};

use crate::error::CoreError;

/// An identity alias: a name inside one auth mount, pointing at its entity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Alias {
    /// The alias id.
    pub(crate) id: String,
    /// The alias name (user name, role id, ...).
    pub(crate) name: String,
    /// The accessor of the auth mount the alias belongs to.
    pub(crate) mount_accessor: String,
    /// The entity the alias belongs to.
    pub(crate) entity_id: String,
}

/// An identity entity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entity {
    /// The entity id.
    pub(crate) id: String,
    /// Its name (`entity_<first 8 hex of the id>`, as Vault names entities it makes).
    pub(crate) name: String,
    /// The ids of its aliases.
    pub(crate) aliases: Vec<String>,
    /// Creation time, unix seconds.
    pub(crate) creation_time: i64,
}

/// The identity store of the active node.
pub(crate) struct Identity {
    view: View,
    /// Serializes the creation of entities, so that two first logins through one alias make
    /// one entity.
    create: tokio::sync::Mutex<()>,
}

fn alias_key(mount_accessor: &str, name: &str) -> String {
    let mut h = Sha256::new();
    h.update(mount_accessor.as_bytes());
    h.update([0u8]);
    h.update(name.as_bytes());
    format!("alias/{}", hex::encode(h.finalize()))
}

fn corrupt(key: &str, e: serde_json::Error) -> CoreError {
    CoreError::Internal(format!("corrupt identity record {key}: {e}"))
}

impl Identity {
    /// The store over `view`.
    pub(crate) fn new(view: View) -> Self {
        Self {
            view,
            create: tokio::sync::Mutex::new(()),
        }
    }

    async fn alias(&self, key: &str) -> Result<Option<Alias>, CoreError> {
        match self.view.get(key).await? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| corrupt(key, e)),
            None => Ok(None),
        }
    }

    /// The entity id of the alias `name` in the mount `mount_accessor`, made (with its entity)
    /// on first use.
    pub(crate) async fn entity_for(
        &self,
        mount_accessor: &str,
        name: &str,
    ) -> Result<String, CoreError> {
        let key = alias_key(mount_accessor, name);
        if let Some(a) = self.alias(&key).await? {
            return Ok(a.entity_id);
        }
        let _guard = self.create.lock().await;
        if let Some(a) = self.alias(&key).await? {
            return Ok(a.entity_id);
        }
        let entity_id = uuid::Uuid::new_v4().to_string();
        let alias = Alias {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.to_owned(),
            mount_accessor: mount_accessor.to_owned(),
            entity_id: entity_id.clone(),
        };
        let entity = Entity {
            id: entity_id.clone(),
            name: format!("entity_{}", entity_id.get(..8).unwrap_or_default()),
            aliases: vec![alias.id.clone()],
            creation_time: time::OffsetDateTime::now_utc().unix_timestamp(),
        };
        // Entity and alias are written in one batch: never an alias without its entity.
        self.view
            .apply(vec![
                Op::Put {
                    key: format!("entity/{entity_id}"),
                    value: serde_json::to_vec(&entity)?,
                },
                Op::Put {
                    key,
                    value: serde_json::to_vec(&alias)?,
                },
            ])
            .await?;
        Ok(entity_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_keys_separate_mounts_and_names() {
        assert_ne!(alias_key("a", "bc"), alias_key("ab", "c"));
        assert_eq!(alias_key("m", "n"), alias_key("m", "n"));
        assert!(alias_key("m", "../../x").starts_with("alias/"));
    }
}
