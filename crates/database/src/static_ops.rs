//! Static roles: `static-roles/<name>` CRUD, `static-creds/<name>`, `rotate-role/<name>`, and
//! the automatic rotation run from [`LogicalBackend::periodic`](tresor_sdk::LogicalBackend).

use serde_json::json;
use tresor_sdk::{Request, Response};
use tresor_storage::View;

use crate::error::DbError;
use crate::roles::StaticRole;
use crate::statements::DEFAULT_ROTATE;
use crate::{Database, password, pg, store};

/// Most static roles rotated in one periodic tick (the rest wait for the next).
const MAX_ROTATIONS_PER_TICK: usize = 64;
/// No new rotation starts in a tick once this much time has gone (an unreachable database
/// costs a connect timeout per role), so a tick stays bounded.
const TICK_BUDGET: std::time::Duration = std::time::Duration::from_secs(20);

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

pub(crate) async fn read_static_role(
    req: &Request,
    name: &str,
) -> Result<Option<Response>, DbError> {
    let role: Option<StaticRole> = store::get(&req.storage, store::STATIC_ROLE, name).await?;
    let now = now().unix_timestamp();
    Ok(role.map(|r| Response::json(r.to_read_json(now))))
}

pub(crate) async fn delete_static_role(
    req: &Request,
    name: &str,
) -> Result<Option<Response>, DbError> {
    store::delete(&req.storage, store::STATIC_ROLE, name).await?;
    Ok(None)
}

pub(crate) async fn static_creds(req: &Request, name: &str) -> Result<Option<Response>, DbError> {
    let role: Option<StaticRole> = store::get(&req.storage, store::STATIC_ROLE, name).await?;
    let Some(role) = role else {
        return Err(DbError::invalid(format!("unknown role: {name}")));
    };
    let now = now().unix_timestamp();
    Ok(Some(Response::json(json!({
        "username": role.username,
        "password": role.password,
        "last_vault_rotation": role.last_rotation_text(),
        "rotation_period": role.rotation_period,
        "ttl": role.ttl_at(now),
    }))))
}

impl Database {
    /// `static-roles/<name>` write: a new role gets its password rotated at once (the engine
    /// owns it from then on).
    pub(crate) async fn write_static_role(
        &self,
        req: &Request,
        name: &str,
    ) -> Result<Option<Response>, DbError> {
        let _serial = self.rotation.lock().await;
        let existing: Option<StaticRole> =
            store::get(&req.storage, store::STATIC_ROLE, name).await?;
        let creating = existing.is_none();
        let mut role = existing.unwrap_or_default();
        role.apply(&req.data, creating)?;
        let cfg = self.load_config(&req.storage, &role.db_name).await?;
        if !cfg.allows(name) {
            return Err(DbError::invalid(format!("{name:?} is not an allowed role")));
        }
        if creating {
            self.rotate_static(&req.storage, name, &mut role).await?;
        } else {
            store::put(&req.storage, store::STATIC_ROLE, name, &role).await?;
        }
        Ok(None)
    }

    /// `rotate-role/<name>`: rotate now.
    pub(crate) async fn rotate_role(
        &self,
        req: &Request,
        name: &str,
    ) -> Result<Option<Response>, DbError> {
        let _serial = self.rotation.lock().await;
        let mut role: StaticRole = store::get(&req.storage, store::STATIC_ROLE, name)
            .await?
            .ok_or_else(|| DbError::invalid(format!("unknown role: {name}")))?;
        self.rotate_static(&req.storage, name, &mut role).await?;
        Ok(None)
    }

    /// Sets a new password for the static role in PostgreSQL and stores it; the statements'
    /// transaction commits only once the password is stored (if the commit fails, the old
    /// role is put back). The caller holds the rotation lock.
    async fn rotate_static(
        &self,
        view: &View,
        name: &str,
        role: &mut StaticRole,
    ) -> Result<(), DbError> {
        let cfg = self.load_config(view, &role.db_name).await?;
        let old = role.clone();
        let new_password = password::generate();
        let value =
            zeroize::Zeroizing::new(cfg.password_authentication.statement_value(&new_password));
        let statements = if role.rotation_statements.is_empty() {
            vec![DEFAULT_ROTATE.to_owned()]
        } else {
            role.rotation_statements.clone()
        };
        let when = now();
        role.password = new_password.to_string();
        role.last_vault_rotation = when.unix_timestamp();
        role.last_vault_rotation_nanos = when.nanosecond();
        let pool = self.pool(&role.db_name, &cfg)?;
        let mut conn = pool.get().await?;
        let tx = conn.transaction().await?;
        pg::execute_all(
            &tx,
            &statements,
            &[
                ("name", &role.username),
                ("username", &role.username),
                ("password", &value),
            ],
        )
        .await?;
        store::put(view, store::STATIC_ROLE, name, role).await?;
        if let Err(e) = tx.commit().await {
            store::put(view, store::STATIC_ROLE, name, &old).await?;
            return Err(e.into());
        }
        Ok(())
    }

    /// Rotates every static role whose `rotation_period` has passed since its last rotation
    /// (at most [`MAX_ROTATIONS_PER_TICK`] per call, none started after [`TICK_BUDGET`], so
    /// one call ends within about that plus one connect timeout). A role that fails is logged and tried
    /// again on the next call; the first failure is returned after the others were tried.
    pub async fn rotate_due_static_roles(&self, view: &View) -> Result<(), DbError> {
        let names = store::list(view, store::STATIC_ROLE).await?;
        let mut first_error = None;
        let mut rotated = 0;
        let started = std::time::Instant::now();
        for name in names {
            if rotated >= MAX_ROTATIONS_PER_TICK || started.elapsed() > TICK_BUDGET {
                break;
            }
            let _serial = self.rotation.lock().await;
            let role: Option<StaticRole> = store::get(view, store::STATIC_ROLE, &name).await?;
            let Some(mut role) = role else { continue };
            if role.ttl_at(now().unix_timestamp()) > 0 {
                continue;
            }
            rotated += 1;
            if let Err(e) = self.rotate_static(view, &name, &mut role).await {
                tracing::warn!(role = %name, error = %e, "static role rotation failed");
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}
