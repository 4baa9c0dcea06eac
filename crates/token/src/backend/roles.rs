//! Role endpoints: `roles/:name` CRUD and LIST `roles`.

use serde_json::json;
use tresor_sdk::{LogicalError, Operation, Request, Response};

use super::TokenBackend;
use crate::ids::valid_role_name;
use crate::role::TokenRole;

impl TokenBackend {
    pub(super) async fn list_roles(&self) -> Result<Option<Response>, LogicalError> {
        let keys = self.store.list_roles().await?;
        if keys.is_empty() {
            return Ok(None);
        }
        Ok(Some(Response::json(json!({ "keys": keys }))))
    }

    pub(super) async fn role_op(
        &self,
        req: &Request,
        name: &str,
    ) -> Result<Option<Response>, LogicalError> {
        if !valid_role_name(name) {
            return Err(LogicalError::invalid(format!("invalid role name {name:?}")));
        }
        match req.operation {
            Operation::Read => Ok(self
                .store
                .role(name)
                .await?
                .map(|r| Response::data(r.to_data()))),
            Operation::Create | Operation::Update => {
                let mut role = self.store.role(name).await?.unwrap_or_else(|| TokenRole {
                    name: name.to_owned(),
                    ..TokenRole::default()
                });
                role.apply_update(&req.data)?;
                self.store.put_role(&role).await?;
                Ok(None)
            }
            Operation::Delete => {
                self.store.delete_role(name).await?;
                Ok(None)
            }
            _ => Err(LogicalError::UnsupportedOperation),
        }
    }
}
