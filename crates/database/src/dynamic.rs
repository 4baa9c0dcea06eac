//! Dynamic roles: `roles/<name>` CRUD, `creds/<name>`, and the renewal and revocation of the
//! credentials' leases.

use serde_json::{Map, Value, json};
use tresor_sdk::{Request, Response, fields};

use crate::error::DbError;
use crate::roles::DynamicRole;
use crate::statements::{DEFAULT_RENEW, check_substitutable};
use crate::template::TemplateInput;
use crate::{Database, lease, password, pg, store};

/// Vault's system default and maximum lease TTL, used when the mount reports none.
const SYSTEM_TTL: u64 = 768 * 3600;
/// Longest PostgreSQL identifier.
const MAX_PG_IDENT: usize = 63;

pub(crate) async fn write_role(req: &Request, name: &str) -> Result<Option<Response>, DbError> {
    let existing: Option<DynamicRole> = store::get(&req.storage, store::ROLE, name).await?;
    let creating = existing.is_none();
    let mut role = existing.unwrap_or_default();
    role.apply(&req.data, creating)?;
    store::put(&req.storage, store::ROLE, name, &role).await?;
    Ok(None)
}

pub(crate) async fn read_role(req: &Request, name: &str) -> Result<Option<Response>, DbError> {
    let role: Option<DynamicRole> = store::get(&req.storage, store::ROLE, name).await?;
    Ok(role.map(|r| Response::json(r.to_read_json())))
}

pub(crate) async fn delete_role(req: &Request, name: &str) -> Result<Option<Response>, DbError> {
    store::delete(&req.storage, store::ROLE, name).await?;
    Ok(None)
}

/// PostgreSQL's `VALID UNTIL` text for unix second `t`.
fn expiration_text(t: i64) -> String {
    let fmt =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]+0000");
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(&fmt).ok())
        .unwrap_or_else(|| "infinity".to_owned())
}

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

fn or_default(v: u64, mount: u64) -> u64 {
    match (v, mount) {
        (0, 0) => SYSTEM_TTL,
        (0, m) => m,
        (v, _) => v,
    }
}

fn internal_str<'a>(internal: &'a Map<String, Value>, key: &str) -> Result<&'a str, DbError> {
    internal
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| DbError::Internal(format!("secret is missing internal field {key:?}")))
}

impl Database {
    /// `creds/<name>`: a new user, created in one transaction, with a lease.
    pub(crate) async fn creds(&self, req: &Request, name: &str) -> Result<Response, DbError> {
        let role: DynamicRole = store::get(&req.storage, store::ROLE, name)
            .await?
            .ok_or_else(|| DbError::invalid(format!("unknown role: {name}")))?;
        let cfg = self.load_config(&req.storage, &role.db_name).await?;
        if !cfg.allows(name) {
            return Err(DbError::invalid(format!("{name:?} is not an allowed role")));
        }
        let max_ttl = or_default(role.max_ttl, req.mount.max_lease_ttl);
        let ttl = or_default(role.default_ttl, req.mount.default_lease_ttl).min(max_ttl);
        let now = now();
        let username = cfg.template()?.render(&TemplateInput {
            display_name: &req.auth.display_name,
            role_name: name,
            now,
        })?;
        if username.len() > MAX_PG_IDENT || !check_substitutable(&username) {
            return Err(DbError::invalid(format!(
                "the username template gave an unusable PostgreSQL user name {username:?}: at \
                 most {MAX_PG_IDENT} bytes, without quotes, backslashes or control characters"
            )));
        }
        let password = password::generate();
        let value = zeroize::Zeroizing::new(cfg.password_authentication.statement_value(&password));
        let expiration = expiration_text(now.unix_timestamp().saturating_add(ttl as i64));
        let values = [
            ("name", username.as_str()),
            ("username", username.as_str()),
            ("password", value.as_str()),
            ("expiration", expiration.as_str()),
        ];
        let pool = self.pool(&role.db_name, &cfg)?;
        let mut conn = pool.get().await?;
        if let Err(e) = pg::run_in_transaction(&mut conn, &role.creation_statements, &values).await
        {
            if !role.rollback_statements.is_empty()
                && let Err(rb) =
                    pg::run_in_transaction(&mut conn, &role.rollback_statements, &values).await
            {
                tracing::warn!(role = name, error = %rb, "database rollback statements failed");
            }
            return Err(e);
        }
        drop(conn);
        let mut internal = Map::new();
        internal.insert("username".into(), json!(username));
        internal.insert("role".into(), json!(name));
        internal.insert("db_name".into(), json!(role.db_name));
        internal.insert(
            "revocation_statements".into(),
            json!(role.revocation_statements),
        );
        internal.insert("issued_at".into(), json!(now.unix_timestamp()));
        internal.insert("max_ttl".into(), json!(max_ttl));
        let mut resp = Response::json(json!({
            "username": username,
            "password": password.as_str(),
        }));
        resp.lease_duration = ttl;
        resp.renewable = true;
        resp.secret = Some(Box::new(lease(ttl, role.max_ttl, internal)));
        Ok(resp)
    }

    /// [`tresor_sdk::Operation::Renew`]: moves the user's expiry to now + the increment (or
    /// the role's TTL), never past its issue time + max TTL.
    pub(crate) async fn renew(&self, req: &Request) -> Result<Response, DbError> {
        let secret = req
            .secret
            .as_ref()
            .ok_or_else(|| DbError::invalid("renewal without a secret"))?;
        let internal = &secret.internal;
        let username = internal_str(internal, "username")?;
        let db_name = internal_str(internal, "db_name")?;
        let role_name = internal_str(internal, "role")?;
        let role: Option<DynamicRole> = store::get(&req.storage, store::ROLE, role_name).await?;
        let cfg = self.load_config(&req.storage, db_name).await?;
        let increment = fields::get_duration(&req.data, "increment")
            .map_err(|e| DbError::invalid(e.to_string()))?
            .filter(|i| *i > 0);
        let role_ttl = role.as_ref().map_or(0, |r| r.default_ttl);
        let mut ttl =
            increment.unwrap_or_else(|| or_default(role_ttl, req.mount.default_lease_ttl));
        let now = now().unix_timestamp();
        let issued_at = internal
            .get("issued_at")
            .and_then(Value::as_i64)
            .unwrap_or(now);
        let max_ttl = internal
            .get("max_ttl")
            .and_then(Value::as_u64)
            .unwrap_or_else(|| or_default(0, req.mount.max_lease_ttl));
        let limit = issued_at.saturating_add(max_ttl as i64);
        ttl = ttl.min(limit.saturating_sub(now).max(0) as u64);
        if ttl == 0 {
            return Err(DbError::invalid(
                "lease has reached its max TTL and cannot be renewed",
            ));
        }
        let expiration = expiration_text(now.saturating_add(ttl as i64));
        let statements = match role.as_ref().map(|r| &r.renew_statements) {
            Some(s) if !s.is_empty() => s.clone(),
            _ => vec![DEFAULT_RENEW.to_owned()],
        };
        let pool = self.pool(db_name, &cfg)?;
        let mut conn = pool.get().await?;
        pg::run_in_transaction(
            &mut conn,
            &statements,
            &[
                ("name", username),
                ("username", username),
                ("expiration", &expiration),
            ],
        )
        .await?;
        let mut renewed = lease(ttl, secret.max_ttl, internal.clone());
        renewed.lease_id = secret.lease_id.clone();
        Ok(Response {
            lease_duration: ttl,
            renewable: true,
            secret: Some(Box::new(renewed)),
            ..Response::default()
        })
    }

    /// [`tresor_sdk::Operation::Revoke`]: drops the user. An unreachable database is an error
    /// (the expiration manager retries); a user that is already gone is revoked.
    pub(crate) async fn revoke(&self, req: &Request) -> Result<(), DbError> {
        let secret = req
            .secret
            .as_ref()
            .ok_or_else(|| DbError::invalid("revocation without a secret"))?;
        let internal = &secret.internal;
        let username = internal_str(internal, "username")?;
        let db_name = internal_str(internal, "db_name")?;
        let role: Option<DynamicRole> = match internal.get("role").and_then(Value::as_str) {
            Some(r) if !r.is_empty() => store::get(&req.storage, store::ROLE, r).await?,
            _ => None,
        };
        let statements: Vec<String> = match role {
            Some(r) => r.revocation_statements,
            None => internal
                .get("revocation_statements")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
        };
        let cfg = self.load_config(&req.storage, db_name).await?;
        let pool = self.pool(db_name, &cfg)?;
        let mut conn = pool.get().await?;
        if statements.is_empty() {
            return pg::default_revoke(&mut conn, username).await;
        }
        if !pg::role_exists(&conn, username).await? {
            return Ok(());
        }
        pg::run_in_transaction(
            &mut conn,
            &statements,
            &[("name", username), ("username", username)],
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiration_format() {
        assert_eq!(expiration_text(0), "1970-01-01 00:00:00+0000");
        assert_eq!(expiration_text(1_709_622_489), "2024-03-05 07:08:09+0000");
    }

    #[test]
    fn ttl_defaults() {
        assert_eq!(or_default(0, 0), SYSTEM_TTL);
        assert_eq!(or_default(0, 60), 60);
        assert_eq!(or_default(30, 60), 30);
    }
}
