//! Role records.

use tresor_storage::Backend;

use super::{TokenStore, decode, encode};
use crate::error::TokenError;
use crate::role::TokenRole;

const ROLE_PREFIX: &str = "role/";

impl TokenStore {
    /// The role `name`, if stored.
    pub async fn role(&self, name: &str) -> Result<Option<TokenRole>, TokenError> {
        let key = format!("{ROLE_PREFIX}{name}");
        match self.view.get(&key).await? {
            Some(bytes) => decode(&key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Stores `role` under its name.
    pub async fn put_role(&self, role: &TokenRole) -> Result<(), TokenError> {
        self.view
            .put(&format!("{ROLE_PREFIX}{}", role.name), encode(role)?)
            .await?;
        Ok(())
    }

    /// Deletes the role `name` (missing is fine).
    pub async fn delete_role(&self, name: &str) -> Result<(), TokenError> {
        self.view.delete(&format!("{ROLE_PREFIX}{name}")).await?;
        Ok(())
    }

    /// The names of all roles, sorted.
    pub async fn list_roles(&self) -> Result<Vec<String>, TokenError> {
        Ok(self
            .view
            .list(ROLE_PREFIX)
            .await?
            .into_iter()
            .filter(|n| !n.ends_with('/'))
            .collect())
    }
}
