//! Token endpoints: create, lookup, renew, revoke, accessors, tidy.

use serde_json::{Map, Value, json};
use tresor_sdk::fields::{get_duration, get_str};
use tresor_sdk::{LogicalError, Request, Response};

use super::TokenBackend;
use super::render::{auth_block, lookup_data};
use crate::create::{Caller, CreateParams, Endpoint, plan};
use crate::entry::TokenEntry;

fn required(req: &Request, field: &str) -> Result<String, LogicalError> {
    get_str(&req.data, field)?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| LogicalError::invalid(format!("missing {field}")))
}

fn caller_token(req: &Request) -> Result<&str, LogicalError> {
    match req.auth.client_token.as_str() {
        "" => Err(LogicalError::PermissionDenied),
        t => Ok(t),
    }
}

fn auth_response(e: &TokenEntry, ttl: u64, warnings: Vec<String>) -> Response {
    Response {
        auth: Some(auth_block(e, ttl)),
        warnings,
        ..Response::default()
    }
}

fn invalid_accessor() -> LogicalError {
    LogicalError::invalid("invalid accessor")
}

impl TokenBackend {
    pub(super) async fn create(
        &self,
        req: &Request,
        role_name: Option<&str>,
        orphan_endpoint: bool,
    ) -> Result<Option<Response>, LogicalError> {
        // Every create endpoint, orphan or not: the caller must be a usable token without a
        // use limit.
        let creator = self.store.creator(caller_token(req)?).await?;
        let params = CreateParams::parse(&req.data)?;
        let role = match role_name {
            Some(name) => Some(
                self.store
                    .role(name)
                    .await?
                    .ok_or_else(|| LogicalError::invalid(format!("unknown role {name}")))?,
            ),
            None => None,
        };
        let endpoint = match (&role, orphan_endpoint) {
            (Some(r), _) => Endpoint::Role(r),
            (None, true) => Endpoint::CreateOrphan,
            (None, false) => Endpoint::Create,
        };
        let caller = Caller {
            policies: &req.auth.policies,
            is_root: req.auth.is_root,
            // Vault lets sudo on the create path stand in for root here (not for root tokens).
            sudo: req.auth.is_root || req.sudo,
        };
        let plan = plan(
            &params,
            caller,
            endpoint,
            self.store.limits(),
            self.store.now(),
        )?;
        let mut plan = plan;
        // A token bound to addresses cannot make tokens that escape the binding.
        if plan.entry.bound_cidrs.is_empty() {
            plan.entry.bound_cidrs = creator.bound_cidrs;
        }
        let parent = match req.auth.client_token.as_str() {
            t if plan.attach_parent && !t.is_empty() => Some(t),
            _ => None,
        };
        let entry = self.store.create(plan.entry, parent).await?;
        Ok(Some(auth_response(&entry, entry.ttl, plan.warnings)))
    }

    pub(super) async fn lookup(&self, req: &Request) -> Result<Option<Response>, LogicalError> {
        let token = required(req, "token")?;
        let entry = self
            .store
            .lookup(&token)
            .await?
            .ok_or(LogicalError::PermissionDenied)?;
        Ok(Some(Response::data(lookup_data(
            &entry,
            self.store.now(),
            true,
        ))))
    }

    pub(super) async fn lookup_self(
        &self,
        req: &Request,
    ) -> Result<Option<Response>, LogicalError> {
        let entry = self
            .store
            .lookup(caller_token(req)?)
            .await?
            .ok_or(LogicalError::PermissionDenied)?;
        Ok(Some(Response::data(lookup_data(
            &entry,
            self.store.now(),
            true,
        ))))
    }

    pub(super) async fn lookup_accessor(
        &self,
        req: &Request,
    ) -> Result<Option<Response>, LogicalError> {
        let accessor = required(req, "accessor")?;
        let entry = self
            .store
            .lookup_accessor(&accessor)
            .await?
            .ok_or_else(invalid_accessor)?;
        Ok(Some(Response::data(lookup_data(
            &entry,
            self.store.now(),
            false,
        ))))
    }

    pub(super) async fn renew(&self, req: &Request) -> Result<Option<Response>, LogicalError> {
        let token = required(req, "token")?;
        let increment = get_duration(&req.data, "increment")?.unwrap_or(0);
        let entry = self.store.renew(&token, increment).await?;
        Ok(Some(auth_response(&entry, entry.ttl, Vec::new())))
    }

    pub(super) async fn renew_self(&self, req: &Request) -> Result<Option<Response>, LogicalError> {
        let increment = get_duration(&req.data, "increment")?.unwrap_or(0);
        let entry = self.store.renew(caller_token(req)?, increment).await?;
        Ok(Some(auth_response(&entry, entry.ttl, Vec::new())))
    }

    pub(super) async fn renew_accessor(
        &self,
        req: &Request,
    ) -> Result<Option<Response>, LogicalError> {
        let accessor = required(req, "accessor")?;
        let increment = get_duration(&req.data, "increment")?.unwrap_or(0);
        let mut entry = self.store.renew_accessor(&accessor, increment).await?;
        // Renewing by accessor must not hand out the token itself.
        entry.id.clear();
        Ok(Some(auth_response(&entry, entry.ttl, Vec::new())))
    }

    pub(super) async fn revoke(&self, req: &Request) -> Result<Option<Response>, LogicalError> {
        self.store.revoke(&required(req, "token")?).await?;
        Ok(None)
    }

    pub(super) async fn revoke_self(
        &self,
        req: &Request,
    ) -> Result<Option<Response>, LogicalError> {
        self.store.revoke(caller_token(req)?).await?;
        Ok(None)
    }

    pub(super) async fn revoke_accessor(
        &self,
        req: &Request,
    ) -> Result<Option<Response>, LogicalError> {
        let accessor = required(req, "accessor")?;
        if self.store.revoke_accessor(&accessor).await? {
            Ok(None)
        } else {
            Err(invalid_accessor())
        }
    }

    pub(super) async fn revoke_orphan(
        &self,
        req: &Request,
    ) -> Result<Option<Response>, LogicalError> {
        self.store.revoke_orphan(&required(req, "token")?).await?;
        Ok(None)
    }

    pub(super) async fn list_accessors(&self) -> Result<Option<Response>, LogicalError> {
        let keys = self.store.list_accessors().await?;
        if keys.is_empty() {
            return Ok(None);
        }
        Ok(Some(Response::json(json!({ "keys": keys }))))
    }

    pub(super) async fn tidy(&self) -> Result<Option<Response>, LogicalError> {
        let removed = self.store.tidy().await?;
        let mut data = Map::new();
        data.insert("removed".to_owned(), Value::from(removed));
        Ok(Some(
            Response {
                data: Some(data),
                status: tresor_sdk::ResponseStatus::Accepted,
                ..Response::default()
            }
            .with_warning("Tidy operation completed."),
        ))
    }
}
