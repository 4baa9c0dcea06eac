//! Handlers of `config/<name>` writes and deletes, `reset/<name>` and `rotate-root/<name>`.

use tresor_sdk::{Request, Response};

use crate::connection::ConnectionConfig;
use crate::error::DbError;
use crate::statements::DEFAULT_ROTATE;
use crate::{Database, password, pg, pool, store};

impl Database {
    /// `config/<name>` write: merge, check, verify the connection when asked, store, and
    /// drop the old pool.
    pub(crate) async fn write_config(
        &self,
        req: &Request,
        name: &str,
    ) -> Result<Option<Response>, DbError> {
        let mut cfg: ConnectionConfig = store::get(&req.storage, store::CONFIG, name)
            .await?
            .unwrap_or_default();
        cfg.apply(&req.data)?;
        if cfg.verify_connection {
            let (client_config, tls) = cfg.client_config()?;
            let (client, driver) = pool::connect(&client_config, tls.connector()?.as_ref())
                .await
                .map_err(|e| match e {
                    DbError::Postgres(pe) => DbError::Verify(pe),
                    other => other,
                })?;
            let check = client
                .simple_query("SELECT 1")
                .await
                .map_err(DbError::Verify);
            drop(client);
            driver.abort();
            check?;
        }
        store::put(&req.storage, store::CONFIG, name, &cfg).await?;
        self.drop_pool(name);
        Ok(None)
    }

    /// `config/<name>` delete.
    pub(crate) async fn delete_config(
        &self,
        req: &Request,
        name: &str,
    ) -> Result<Option<Response>, DbError> {
        store::delete(&req.storage, store::CONFIG, name).await?;
        self.drop_pool(name);
        Ok(None)
    }

    /// `reset/<name>`: close the connections, reopened from the stored config on next use.
    pub(crate) async fn reset(
        &self,
        req: &Request,
        name: &str,
    ) -> Result<Option<Response>, DbError> {
        self.load_config(&req.storage, name).await?;
        self.drop_pool(name);
        Ok(None)
    }

    /// `rotate-root/<name>`: a new random password for the root user, set in PostgreSQL and
    /// stored in one step (the statements' transaction commits only after the new password is
    /// stored; if the commit then fails, the old config is put back).
    pub(crate) async fn rotate_root(
        &self,
        req: &Request,
        name: &str,
    ) -> Result<Option<Response>, DbError> {
        let _serial = self.rotation.lock().await;
        let old = self.load_config(&req.storage, name).await?;
        if old.username.is_empty() {
            return Err(DbError::invalid(
                "unable to rotate root credentials: no username in configuration",
            ));
        }
        if !crate::statements::check_substitutable(&old.username) {
            return Err(DbError::invalid(
                "unable to rotate root credentials: the username has quotes, backslashes or \
                 control characters",
            ));
        }
        let new_password = password::generate();
        let statements = if old.root_rotation_statements.is_empty() {
            vec![DEFAULT_ROTATE.to_owned()]
        } else {
            old.root_rotation_statements.clone()
        };
        let mut new = old.clone();
        new.password = new_password.to_string();
        let value =
            zeroize::Zeroizing::new(old.password_authentication.statement_value(&new_password));
        let pool = self.pool(name, &old)?;
        {
            let mut conn = pool.get().await?;
            let tx = conn.transaction().await?;
            pg::execute_all(
                &tx,
                &statements,
                &[
                    ("name", &old.username),
                    ("username", &old.username),
                    ("password", &value),
                ],
            )
            .await?;
            store::put(&req.storage, store::CONFIG, name, &new).await?;
            if let Err(e) = tx.commit().await {
                // The password did not change: keep the one that still works.
                store::put(&req.storage, store::CONFIG, name, &old).await?;
                return Err(e.into());
            }
        }
        drop(pool);
        self.drop_pool(name);
        Ok(None)
    }
}
