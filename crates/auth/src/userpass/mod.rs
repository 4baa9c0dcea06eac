//! The `userpass` auth method: users with a password and the common token settings.
//!
//! Paths (relative to the mount):
//! - `users/` LIST; `users/:username` read, create/update (`password` required on create, the
//!   `token_*` fields and the legacy `policies`, `ttl`, `max_ttl`, `bound_cidrs`), delete;
//! - `users/:username/password` update (`password`);
//! - `users/:username/policies` update (`token_policies` or `policies`);
//! - `login/:username` update (`password`), served without a token; a renewal of its token
//!   ([`Operation::Renew`]) is refused once the user is gone or its policies changed.
//!
//! User names are case-insensitive (stored lower-cased). Passwords are kept only as Argon2id
//! hashes ([`crate::kdf`]); hashing and verifying run on the blocking pool, at most as many
//! at once as the machine has cores (each takes the KDF's 19 MiB). A wrong password
//! and an unknown user get the same answer ("invalid username or password", 400) at the same
//! cost. Storage: `user/<username>` holds a [`User`] as JSON.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tresor_sdk::fields::get_str;
use tresor_sdk::token_fields::{Legacy, TokenFields};
use tresor_sdk::{LogicalBackend, LogicalError, Operation, Request, Response};
use tresor_storage::Backend;
use zeroize::Zeroizing;

use crate::kdf::{self, KdfParams, MAX_PASSWORD_BYTES};
use crate::store::{check_name, get_json, put_json};

/// The answer to a failed login, whatever failed.
pub const INVALID_LOGIN: &str = "invalid username or password";

const USER_PREFIX: &str = "user/";

/// A stored user.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The Argon2id PHC string of the password.
    pub password_hash: String,
    /// The token settings.
    #[serde(flatten)]
    pub token: TokenFields,
}

/// The userpass backend of one mount.
pub struct Userpass {
    params: KdfParams,
    /// Bounds the hashes computed at once (each takes the KDF's memory): logins beyond it
    /// wait their turn instead of exhausting memory.
    kdf_slots: tokio::sync::Semaphore,
    /// A hash of nothing anyone knows, verified when the user does not exist.
    dummy: OnceLock<String>,
}

impl Userpass {
    /// A backend hashing new passwords with `params`.
    pub fn new(params: KdfParams) -> Self {
        let slots = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
        Self {
            params,
            kdf_slots: tokio::sync::Semaphore::new(slots),
            dummy: OnceLock::new(),
        }
    }

    /// A backend with the default KDF parameters ([`KdfParams::DEFAULT`]).
    pub fn with_defaults() -> Arc<dyn LogicalBackend> {
        Arc::new(Self::new(KdfParams::DEFAULT))
    }

    async fn hash(&self, password: Zeroizing<String>) -> Result<String, LogicalError> {
        let params = self.params;
        let _slot = self
            .kdf_slots
            .acquire()
            .await
            .map_err(|_| LogicalError::Internal("password hashing is shut down".into()))?;
        tokio::task::spawn_blocking(move || kdf::hash(&password, params))
            .await
            .map_err(|e| LogicalError::Internal(format!("password hashing task: {e}")))?
            .map_err(|e| LogicalError::Internal(e.to_string()))
    }

    async fn verify(&self, password: Zeroizing<String>, stored: Option<String>) -> bool {
        let stored = match stored {
            Some(s) => s,
            None => match self.dummy.get() {
                Some(d) => d.clone(),
                None => {
                    let made = self
                        .hash(Zeroizing::new(uuid::Uuid::new_v4().to_string()))
                        .await;
                    match made {
                        Ok(d) => self.dummy.get_or_init(|| d).clone(),
                        Err(_) => return false,
                    }
                }
            },
        };
        let Ok(_slot) = self.kdf_slots.acquire().await else {
            return false;
        };
        tokio::task::spawn_blocking(move || kdf::verify(&password, &stored))
            .await
            .unwrap_or(false)
    }
}

fn user_key(name: &str) -> String {
    format!("{USER_PREFIX}{name}")
}

/// The password of a request body, bounded.
fn password_of(data: &Map<String, Value>) -> Result<Option<Zeroizing<String>>, LogicalError> {
    let Some(p) = get_str(data, "password")? else {
        return Ok(None);
    };
    if p.len() > MAX_PASSWORD_BYTES {
        return Err(LogicalError::invalid(format!(
            "password is longer than {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    Ok(Some(Zeroizing::new(p)))
}

fn user_data(u: &User) -> Map<String, Value> {
    let mut m = Map::new();
    u.token.write_into(&mut m, Legacy::USERPASS);
    m
}

fn is_write(op: Operation) -> bool {
    matches!(op, Operation::Create | Operation::Update)
}

impl Userpass {
    async fn load(&self, req: &Request, name: &str) -> Result<Option<User>, LogicalError> {
        get_json(&req.storage, &user_key(name)).await
    }

    async fn write_user(
        &self,
        req: &Request,
        name: &str,
    ) -> Result<Option<Response>, LogicalError> {
        let existing = self.load(req, name).await?;
        let password = password_of(&req.data)?.filter(|p| !p.is_empty());
        let mut user = match (existing, password.as_ref()) {
            (None, None) => return Err(LogicalError::invalid("missing password")),
            (Some(u), _) => u,
            (None, Some(_)) => User::default(),
        };
        user.token.update(&req.data, Legacy::USERPASS)?;
        if let Some(p) = password {
            user.password_hash = self.hash(p).await?;
        }
        put_json(&req.storage, &user_key(name), &user).await?;
        Ok(None)
    }

    async fn set_password(
        &self,
        req: &Request,
        name: &str,
    ) -> Result<Option<Response>, LogicalError> {
        let Some(mut user) = self.load(req, name).await? else {
            return Err(LogicalError::invalid("username does not exist"));
        };
        let password = password_of(&req.data)?
            .filter(|p| !p.is_empty())
            .ok_or_else(|| LogicalError::invalid("missing password"))?;
        user.password_hash = self.hash(password).await?;
        put_json(&req.storage, &user_key(name), &user).await?;
        Ok(None)
    }

    async fn set_policies(
        &self,
        req: &Request,
        name: &str,
    ) -> Result<Option<Response>, LogicalError> {
        let Some(mut user) = self.load(req, name).await? else {
            return Err(LogicalError::invalid("username does not exist"));
        };
        let mut only = Map::new();
        for k in ["token_policies", "policies"] {
            if let Some(v) = req.data.get(k) {
                only.insert(k.to_owned(), v.clone());
            }
        }
        user.token.update(&only, Legacy::USERPASS)?;
        put_json(&req.storage, &user_key(name), &user).await?;
        Ok(None)
    }

    /// The renewal of a token a login as `name` issued: refused when the user is gone or its
    /// policies are no longer the token's.
    async fn renew(&self, req: &Request, name: &str) -> Result<Option<Response>, LogicalError> {
        let user = self
            .load(req, name)
            .await?
            .ok_or_else(|| LogicalError::invalid("user no longer exists, not renewing"))?;
        let mut want = user.token.token_policies.clone();
        if !user.token.token_no_default_policy {
            want.push("default".into());
        }
        want.sort();
        want.dedup();
        let mut have = req.auth.policies.clone();
        have.sort();
        have.dedup();
        if want != have {
            return Err(LogicalError::invalid("policies have changed, not renewing"));
        }
        Ok(None)
    }

    async fn login(&self, req: &Request, name: &str) -> Result<Option<Response>, LogicalError> {
        let password = password_of(&req.data)?.unwrap_or_default();
        if password.is_empty() {
            return Err(LogicalError::invalid("missing password"));
        }
        let user = self.load(req, name).await?;
        let ok = self
            .verify(password, user.as_ref().map(|u| u.password_hash.clone()))
            .await;
        let user = match user {
            Some(u) if ok => u,
            _ => return Err(LogicalError::invalid(INVALID_LOGIN)),
        };
        let mut login = user.token.login();
        login.metadata.insert("username".into(), name.to_owned());
        login.display_name = name.to_owned();
        login.alias.name = name.to_owned();
        Ok(Some(Response::login(login)))
    }
}

#[async_trait]
impl LogicalBackend for Userpass {
    async fn handle(&self, req: &Request) -> Result<Option<Response>, LogicalError> {
        let op = req.operation;
        let parts: Vec<&str> = req.path.split('/').collect();
        match parts.as_slice() {
            ["users", ""] | ["users"] if op == Operation::List => {
                let mut keys = req.storage.list(USER_PREFIX).await?;
                keys.sort();
                Ok(Some(Response::json(json!({ "keys": keys }))))
            }
            ["users", name] => {
                let name = name.to_lowercase();
                check_name(&name, "username")?;
                match op {
                    Operation::Read => Ok(self
                        .load(req, &name)
                        .await?
                        .map(|u| Response::data(user_data(&u)))),
                    Operation::Delete => {
                        req.storage.delete(&user_key(&name)).await?;
                        Ok(None)
                    }
                    o if is_write(o) => self.write_user(req, &name).await,
                    _ => Err(LogicalError::UnsupportedOperation),
                }
            }
            ["users", name, "password"] if is_write(op) => {
                self.set_password(req, &name.to_lowercase()).await
            }
            ["users", name, "policies"] if is_write(op) => {
                self.set_policies(req, &name.to_lowercase()).await
            }
            ["login", name] if op == Operation::Renew => {
                self.renew(req, &name.to_lowercase()).await
            }
            ["login", name] if is_write(op) => {
                let name = name.to_lowercase();
                check_name(&name, "username")?;
                self.login(req, &name).await
            }
            ["users", _, "password" | "policies"] | ["login", _] => {
                Err(LogicalError::UnsupportedOperation)
            }
            _ => Err(LogicalError::UnsupportedPath),
        }
    }

    async fn exists(&self, req: &Request) -> Result<Option<bool>, LogicalError> {
        match req.path.split('/').collect::<Vec<_>>().as_slice() {
            ["users", name] if !name.is_empty() => Ok(Some(
                req.storage
                    .get(&user_key(&name.to_lowercase()))
                    .await?
                    .is_some(),
            )),
            _ => Ok(None),
        }
    }

    fn unauthenticated_paths(&self) -> Vec<String> {
        vec!["login/*".into()]
    }
}

#[cfg(test)]
mod tests;
