//! The `approle` auth method: machines log in with a role id and a secret id.
//!
//! Paths (relative to the mount):
//! - `role/` LIST; `role/:name` read, write (every [`Role`] field and the common `token_*`
//!   fields), delete (with its secret ids);
//! - `role/:name/role-id` read, write;
//! - `role/:name/secret-id` write (generate), LIST (accessors);
//!   `role/:name/custom-secret-id` write;
//! - `role/:name/secret-id/lookup`, `role/:name/secret-id/destroy` (by value),
//!   `role/:name/secret-id-accessor/lookup`, `role/:name/secret-id-accessor/destroy`;
//! - `role/:name/<field>` read, write, delete for the fields of [`role::FIELD_ENDPOINTS`];
//! - `login` write (`role_id`, `secret_id`), served without a token; a renewal of its token
//!   ([`Operation::Renew`]) is refused once the role is gone;
//! - `tidy/secret-id` write: removes expired secret ids and dangling accessors.
//!
//! Storage (the mount's view): `salt` (32 random bytes), `role/<name>`, `role_id/<h(role id)>`
//! (the role name), `secret_id/<h(role name)>/<h(secret id)>` ([`SecretIdEntry`]),
//! `accessor/<h(accessor)>` (role name and secret-id hash), where `h` is a salted SHA-256:
//! no role id, secret id or accessor is a storage key in clear, and secret ids are not stored
//! at all.
//!
//! A login with a use-limited secret id reads, decrements and stores (or deletes) the entry
//! under the backend's lock, so concurrent logins never use it more often than allowed.

pub mod role;
pub mod secret_id;
#[cfg(test)]
mod tests;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::{Mutex, OnceCell};
use tresor_sdk::fields::get_str;
use tresor_sdk::{
    LogicalBackend, LogicalError, Operation, Request, Response, ResponseStatus, cidr,
};
use tresor_storage::{Backend, Op, View};

use crate::store::{check_name, encode, get_json, put_json};
pub use role::Role;
pub use secret_id::{Consume, INVALID_CREDENTIALS, SecretIdEntry};

const SALT_KEY: &str = "salt";
const SALT_LEN: usize = 32;

/// Where an accessor points.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct AccessorEntry {
    role: String,
    secret_hash: String,
}

/// The role-id index record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct RoleIdEntry {
    name: String,
}

/// The AppRole backend of one mount.
pub struct AppRole {
    salt: OnceCell<Vec<u8>>,
    /// Serializes every change (roles, secret ids, use counts).
    lock: Mutex<()>,
}

impl Default for AppRole {
    fn default() -> Self {
        Self::new()
    }
}

fn is_write(op: Operation) -> bool {
    matches!(op, Operation::Create | Operation::Update)
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn role_key(name: &str) -> String {
    format!("role/{name}")
}

impl AppRole {
    /// A backend with nothing loaded yet.
    pub fn new() -> Self {
        Self {
            salt: OnceCell::new(),
            lock: Mutex::new(()),
        }
    }

    async fn h(&self, view: &View, domain: &str, value: &str) -> Result<String, LogicalError> {
        let salt = self
            .salt
            .get_or_try_init(|| async {
                if let Some(s) = view.get(SALT_KEY).await? {
                    return Ok::<_, LogicalError>(s);
                }
                let mut s = vec![0u8; SALT_LEN];
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut s);
                view.put(SALT_KEY, s.clone()).await?;
                Ok(s)
            })
            .await?;
        let mut d = Sha256::new();
        d.update(salt);
        d.update(domain.as_bytes());
        d.update([0u8]);
        d.update(value.as_bytes());
        Ok(hex::encode(d.finalize()))
    }

    async fn role_id_key(&self, view: &View, role_id: &str) -> Result<String, LogicalError> {
        Ok(format!(
            "role_id/{}",
            self.h(view, "role_id", role_id).await?
        ))
    }

    async fn secret_dir(&self, view: &View, role: &str) -> Result<String, LogicalError> {
        Ok(format!("secret_id/{}/", self.h(view, "role", role).await?))
    }

    async fn accessor_key(&self, view: &View, accessor: &str) -> Result<String, LogicalError> {
        Ok(format!(
            "accessor/{}",
            self.h(view, "accessor", accessor).await?
        ))
    }

    async fn load_role(&self, view: &View, name: &str) -> Result<Option<Role>, LogicalError> {
        get_json(view, &role_key(name)).await
    }

    async fn must_role(&self, view: &View, name: &str) -> Result<Role, LogicalError> {
        self.load_role(view, name)
            .await?
            .ok_or_else(|| LogicalError::invalid(format!("role {name:?} does not exist")))
    }

    async fn write_role(
        &self,
        req: &Request,
        name: &str,
    ) -> Result<Option<Response>, LogicalError> {
        let view = &req.storage;
        let _g = self.lock.lock().await;
        let existing = self.load_role(view, name).await?;
        let creating = existing.is_none();
        let mut role = existing.unwrap_or_else(|| Role {
            name: name.to_owned(),
            ..Role::default()
        });
        role.update(&req.data, creating)?;
        let old_id = role.role_id.clone();
        if let Some(id) = get_str(&req.data, "role_id")?.filter(|s| !s.is_empty()) {
            role.role_id = id;
        }
        if role.role_id.is_empty() {
            role.role_id = uuid::Uuid::new_v4().to_string();
        }
        self.store_role(view, &role, &old_id).await?;
        Ok(None)
    }

    /// Writes `role` and its role-id index (moving the index when the id changed from
    /// `old_id`); refuses a role id another role holds.
    async fn store_role(&self, view: &View, role: &Role, old_id: &str) -> Result<(), LogicalError> {
        let new_key = self.role_id_key(view, &role.role_id).await?;
        if let Some(holder) = get_json::<RoleIdEntry>(view, &new_key).await?
            && holder.name != role.name
        {
            return Err(LogicalError::invalid("role_id already in use"));
        }
        let mut ops = vec![
            Op::Put {
                key: role_key(&role.name),
                value: encode(role)?,
            },
            Op::Put {
                key: new_key.clone(),
                value: encode(&RoleIdEntry {
                    name: role.name.clone(),
                })?,
            },
        ];
        if !old_id.is_empty() && old_id != role.role_id {
            let old_key = self.role_id_key(view, old_id).await?;
            ops.insert(0, Op::Delete { key: old_key });
        }
        Ok(view.apply(ops).await?)
    }

    async fn delete_role(&self, view: &View, name: &str) -> Result<Option<Response>, LogicalError> {
        let _g = self.lock.lock().await;
        let Some(role) = self.load_role(view, name).await? else {
            return Ok(None);
        };
        let dir = self.secret_dir(view, name).await?;
        let mut ops = Vec::new();
        for hash in view.list(&dir).await? {
            let key = format!("{dir}{hash}");
            if let Some(e) = get_json::<SecretIdEntry>(view, &key).await? {
                ops.push(Op::Delete {
                    key: self.accessor_key(view, &e.secret_id_accessor).await?,
                });
            }
            ops.push(Op::Delete { key });
        }
        ops.push(Op::Delete {
            key: self.role_id_key(view, &role.role_id).await?,
        });
        ops.push(Op::Delete {
            key: role_key(name),
        });
        for chunk in ops.chunks(256) {
            view.apply(chunk.to_vec()).await?;
        }
        Ok(None)
    }

    async fn set_role_id(
        &self,
        req: &Request,
        name: &str,
    ) -> Result<Option<Response>, LogicalError> {
        let view = &req.storage;
        let id = get_str(&req.data, "role_id")?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| LogicalError::invalid("missing role_id"))?;
        let _g = self.lock.lock().await;
        let mut role = self.must_role(view, name).await?;
        let old = std::mem::replace(&mut role.role_id, id);
        self.store_role(view, &role, &old).await?;
        Ok(None)
    }

    async fn create_secret_id(
        &self,
        req: &Request,
        name: &str,
        custom: Option<String>,
    ) -> Result<Option<Response>, LogicalError> {
        let view = &req.storage;
        let _g = self.lock.lock().await;
        let role = self.must_role(view, name).await?;
        if !role.bind_secret_id {
            return Err(LogicalError::invalid(
                "bind_secret_id is not set on the role",
            ));
        }
        let secret = match custom {
            Some(s) => s,
            None => uuid::Uuid::new_v4().to_string(),
        };
        let accessor = uuid::Uuid::new_v4().to_string();
        let entry = secret_id::new_entry(&role, &req.data, accessor.clone(), now())?;
        let secret_hash = self.h(view, "secret_id", &secret).await?;
        let key = format!("{}{secret_hash}", self.secret_dir(view, name).await?);
        if view.get(&key).await?.is_some() {
            return Err(LogicalError::invalid("SecretID is already registered"));
        }
        view.apply(vec![
            Op::Put {
                key,
                value: encode(&entry)?,
            },
            Op::Put {
                key: self.accessor_key(view, &accessor).await?,
                value: encode(&AccessorEntry {
                    role: name.to_owned(),
                    secret_hash,
                })?,
            },
        ])
        .await?;
        Ok(Some(Response::json(json!({
            "secret_id": secret,
            "secret_id_accessor": accessor,
            "secret_id_ttl": entry.secret_id_ttl,
            "secret_id_num_uses": entry.secret_id_num_uses,
        }))))
    }

    async fn list_secret_ids(
        &self,
        view: &View,
        name: &str,
    ) -> Result<Option<Response>, LogicalError> {
        self.must_role(view, name).await?;
        let dir = self.secret_dir(view, name).await?;
        let mut keys = Vec::new();
        for hash in view.list(&dir).await? {
            if let Some(e) = get_json::<SecretIdEntry>(view, &format!("{dir}{hash}")).await? {
                keys.push(e.secret_id_accessor);
            }
        }
        if keys.is_empty() {
            return Ok(None);
        }
        keys.sort();
        Ok(Some(Response::json(json!({ "keys": keys }))))
    }

    /// The storage key of the secret id named by `secret_id` (by value) or, failing that,
    /// `secret_id_accessor`, for role `name`.
    async fn secret_key(
        &self,
        view: &View,
        name: &str,
        by_accessor: bool,
        data: &Map<String, Value>,
    ) -> Result<Option<(String, Option<String>)>, LogicalError> {
        let dir = self.secret_dir(view, name).await?;
        if by_accessor {
            let accessor = get_str(data, "secret_id_accessor")?
                .filter(|s| !s.is_empty())
                .ok_or_else(|| LogicalError::invalid("missing secret_id_accessor"))?;
            let acc_key = self.accessor_key(view, &accessor).await?;
            let Some(acc) = get_json::<AccessorEntry>(view, &acc_key).await? else {
                return Ok(None);
            };
            if acc.role != name {
                return Ok(None);
            }
            return Ok(Some((format!("{dir}{}", acc.secret_hash), Some(acc_key))));
        }
        let secret = get_str(data, "secret_id")?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| LogicalError::invalid("missing secret_id"))?;
        let hash = self.h(view, "secret_id", &secret).await?;
        Ok(Some((format!("{dir}{hash}"), None)))
    }

    async fn lookup_secret_id(
        &self,
        req: &Request,
        name: &str,
        by_accessor: bool,
    ) -> Result<Option<Response>, LogicalError> {
        let view = &req.storage;
        self.must_role(view, name).await?;
        let found = match self.secret_key(view, name, by_accessor, &req.data).await? {
            Some((key, _)) => get_json::<SecretIdEntry>(view, &key).await?,
            None => None,
        };
        match found {
            Some(e) => Ok(Some(Response::data(secret_id::lookup_data(&e)))),
            None if by_accessor => Err(LogicalError::invalid(
                "failed to find accessor entry for secret_id_accessor",
            )),
            None => Ok(None),
        }
    }

    async fn destroy_secret_id(
        &self,
        req: &Request,
        name: &str,
        by_accessor: bool,
    ) -> Result<Option<Response>, LogicalError> {
        let view = &req.storage;
        let _g = self.lock.lock().await;
        self.must_role(view, name).await?;
        let Some((key, _)) = self.secret_key(view, name, by_accessor, &req.data).await? else {
            return if by_accessor {
                Err(LogicalError::invalid(
                    "failed to find accessor entry for secret_id_accessor",
                ))
            } else {
                Ok(None)
            };
        };
        if let Some(e) = get_json::<SecretIdEntry>(view, &key).await? {
            view.apply(vec![
                Op::Delete {
                    key: self.accessor_key(view, &e.secret_id_accessor).await?,
                },
                Op::Delete { key },
            ])
            .await?;
        }
        Ok(None)
    }

    async fn login(&self, req: &Request) -> Result<Option<Response>, LogicalError> {
        let view = &req.storage;
        let role_id = get_str(&req.data, "role_id")?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| LogicalError::invalid("missing role_id"))?;
        let invalid = || LogicalError::invalid(INVALID_CREDENTIALS);
        let index = get_json::<RoleIdEntry>(view, &self.role_id_key(view, &role_id).await?)
            .await?
            .ok_or_else(invalid)?;
        let role = self
            .load_role(view, &index.name)
            .await?
            .ok_or_else(invalid)?;
        if !cidr::allows(&role.secret_id_bound_cidrs, req.remote_addr) {
            return Err(LogicalError::invalid(format!(
                "source address {:?} unauthorized by CIDR restrictions on the role",
                req.remote_addr.map(|a| a.to_string()).unwrap_or_default()
            )));
        }
        let mut entry = None;
        if role.bind_secret_id {
            let secret = get_str(&req.data, "secret_id")?
                .filter(|s| !s.is_empty())
                .ok_or_else(|| LogicalError::invalid("missing secret_id"))?;
            entry = Some(self.use_secret_id(req, &role.name, &secret).await?);
        }
        let mut login = role.token.login();
        login.metadata.insert("role_name".into(), role.name.clone());
        if let Some(e) = entry {
            for (k, v) in e.metadata {
                login.metadata.entry(k).or_insert(v);
            }
            if !e.token_bound_cidrs.is_empty() {
                login.bound_cidrs = e.token_bound_cidrs;
            }
        }
        login.alias.name = role.role_id.clone();
        login.alias.metadata = login.metadata.clone();
        Ok(Some(Response::login(login)))
    }

    /// Consumes one use of `secret` for role `name` (see [`secret_id::consume`]).
    async fn use_secret_id(
        &self,
        req: &Request,
        name: &str,
        secret: &str,
    ) -> Result<SecretIdEntry, LogicalError> {
        let view = &req.storage;
        let key = format!(
            "{}{}",
            self.secret_dir(view, name).await?,
            self.h(view, "secret_id", secret).await?
        );
        // Most secret ids are not use-limited: a live one changes nothing and needs no lock.
        let peek = get_json::<SecretIdEntry>(view, &key)
            .await?
            .ok_or_else(|| LogicalError::invalid(INVALID_CREDENTIALS))?;
        if peek.secret_id_num_uses == 0
            && let Consume::Accept(_) = secret_id::consume(&peek, req.remote_addr, now())
        {
            return Ok(peek);
        }
        let _g = self.lock.lock().await;
        let entry = get_json::<SecretIdEntry>(view, &key)
            .await?
            .ok_or_else(|| LogicalError::invalid(INVALID_CREDENTIALS))?;
        let acc_key = self.accessor_key(view, &entry.secret_id_accessor).await?;
        match secret_id::consume(&entry, req.remote_addr, now()) {
            Consume::Refuse { reason, delete } => {
                if delete {
                    view.apply(vec![Op::Delete { key: acc_key }, Op::Delete { key }])
                        .await?;
                }
                Err(LogicalError::invalid(reason))
            }
            Consume::Accept(None) => {
                view.apply(vec![Op::Delete { key: acc_key }, Op::Delete { key }])
                    .await?;
                Ok(entry)
            }
            Consume::Accept(Some(next)) => {
                if next != entry {
                    put_json(view, &key, &next).await?;
                }
                Ok(next)
            }
        }
    }

    async fn tidy(&self, view: &View) -> Result<Option<Response>, LogicalError> {
        let _g = self.lock.lock().await;
        let at = now();
        let mut live_accessors = std::collections::BTreeSet::new();
        let mut ops = Vec::new();
        for role_dir in view.list("secret_id/").await? {
            let dir = format!("secret_id/{role_dir}");
            for hash in view.list(&dir).await? {
                let key = format!("{dir}{hash}");
                let Some(e) = get_json::<SecretIdEntry>(view, &key).await? else {
                    continue;
                };
                let acc_key = self.accessor_key(view, &e.secret_id_accessor).await?;
                if e.expiration_time > 0 && e.expiration_time <= at {
                    ops.push(Op::Delete { key: acc_key });
                    ops.push(Op::Delete { key });
                } else {
                    live_accessors.insert(acc_key);
                }
            }
        }
        for name in view.list("accessor/").await? {
            let key = format!("accessor/{name}");
            if !live_accessors.contains(&key)
                && !ops
                    .iter()
                    .any(|o| matches!(o, Op::Delete { key: k } if *k == key))
            {
                ops.push(Op::Delete { key });
            }
        }
        for chunk in ops.chunks(256) {
            view.apply(chunk.to_vec()).await?;
        }
        Ok(Some(Response {
            status: ResponseStatus::Accepted,
            warnings: vec![
                "Tidy operation successfully started. Any information from the operation will be printed to Tresor's server logs."
                    .into(),
            ],
            ..Response::default()
        }))
    }

    async fn role_path(
        &self,
        req: &Request,
        name: &str,
        rest: &[&str],
    ) -> Result<Option<Response>, LogicalError> {
        let view = &req.storage;
        let op = req.operation;
        match rest {
            [] => match op {
                Operation::Read => Ok(self
                    .load_role(view, name)
                    .await?
                    .map(|r| Response::data(r.to_data()))),
                Operation::Delete => self.delete_role(view, name).await,
                o if is_write(o) => self.write_role(req, name).await,
                _ => Err(LogicalError::UnsupportedOperation),
            },
            ["role-id"] => match op {
                Operation::Read => Ok(self
                    .load_role(view, name)
                    .await?
                    .map(|r| Response::json(json!({ "role_id": r.role_id })))),
                o if is_write(o) => self.set_role_id(req, name).await,
                _ => Err(LogicalError::UnsupportedOperation),
            },
            ["secret-id"] | ["secret-id", ""] => match op {
                Operation::List => self.list_secret_ids(view, name).await,
                o if is_write(o) => self.create_secret_id(req, name, None).await,
                _ => Err(LogicalError::UnsupportedOperation),
            },
            ["custom-secret-id"] if is_write(op) => {
                let secret = get_str(&req.data, "secret_id")?
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| LogicalError::invalid("missing secret_id"))?;
                if secret.len() > secret_id::MAX_SECRET_ID_LEN {
                    return Err(LogicalError::invalid("secret_id is too long"));
                }
                self.create_secret_id(req, name, Some(secret)).await
            }
            ["secret-id", "lookup"] if is_write(op) => {
                self.lookup_secret_id(req, name, false).await
            }
            ["secret-id", "destroy"] if is_write(op) || op == Operation::Delete => {
                self.destroy_secret_id(req, name, false).await
            }
            ["secret-id-accessor", "lookup"] if is_write(op) => {
                self.lookup_secret_id(req, name, true).await
            }
            ["secret-id-accessor", "destroy"] if is_write(op) || op == Operation::Delete => {
                self.destroy_secret_id(req, name, true).await
            }
            [segment] => {
                let Some(field) = role::field_of(segment) else {
                    return Err(LogicalError::UnsupportedPath);
                };
                match op {
                    Operation::Read => Ok(self
                        .load_role(view, name)
                        .await?
                        .map(|r| Response::data(r.field_data(field)))),
                    o if is_write(o) => {
                        let _g = self.lock.lock().await;
                        let mut role = self.must_role(view, name).await?;
                        role.set_field(field, &req.data)?;
                        put_json(view, &role_key(name), &role).await?;
                        Ok(None)
                    }
                    Operation::Delete => {
                        let _g = self.lock.lock().await;
                        let mut role = self.must_role(view, name).await?;
                        role.reset_field(field)?;
                        put_json(view, &role_key(name), &role).await?;
                        Ok(None)
                    }
                    _ => Err(LogicalError::UnsupportedOperation),
                }
            }
            _ => Err(LogicalError::UnsupportedPath),
        }
    }
}

#[async_trait]
impl LogicalBackend for AppRole {
    async fn handle(&self, req: &Request) -> Result<Option<Response>, LogicalError> {
        let op = req.operation;
        let parts: Vec<&str> = req.path.split('/').collect();
        match parts.as_slice() {
            ["login"] if is_write(op) => self.login(req).await,
            ["login"] if op == Operation::Renew => {
                let name = req
                    .auth
                    .metadata
                    .get("role_name")
                    .cloned()
                    .unwrap_or_default();
                match self.load_role(&req.storage, &name).await? {
                    Some(_) => Ok(None),
                    None => Err(LogicalError::invalid(format!(
                        "role {name:?} does not exist during renewal"
                    ))),
                }
            }
            ["tidy", "secret-id"] if is_write(op) => self.tidy(&req.storage).await,
            ["role", ""] | ["role"] if op == Operation::List => {
                let mut keys = req.storage.list("role/").await?;
                keys.sort();
                if keys.is_empty() {
                    return Ok(None);
                }
                Ok(Some(Response::json(json!({ "keys": keys }))))
            }
            ["role", name, rest @ ..] => {
                let name = name.to_lowercase();
                check_name(&name, "role_name")?;
                self.role_path(req, &name, rest).await
            }
            ["login"] | ["tidy", "secret-id"] => Err(LogicalError::UnsupportedOperation),
            _ => Err(LogicalError::UnsupportedPath),
        }
    }

    async fn exists(&self, req: &Request) -> Result<Option<bool>, LogicalError> {
        match req.path.split('/').collect::<Vec<_>>().as_slice() {
            ["role", name] if !name.is_empty() => Ok(Some(
                req.storage
                    .get(&role_key(&name.to_lowercase()))
                    .await?
                    .is_some(),
            )),
            _ => Ok(None),
        }
    }

    fn unauthenticated_paths(&self) -> Vec<String> {
        vec!["login".into()]
    }
}
