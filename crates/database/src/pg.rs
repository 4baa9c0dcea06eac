//! What the engine does inside PostgreSQL: runs statement lists in one transaction, checks
//! whether a role exists, and the default revocation (revoke what the role was granted, then
//! drop it).

use tokio_postgres::{Client, Transaction};

use crate::error::DbError;
use crate::statements::{self, quote_ident};

/// Runs every statement of `list` (split on `;`, then each `{{key}}` substituted) in one
/// transaction: all of them apply or none.
pub(crate) async fn run_in_transaction(
    client: &mut Client,
    list: &[String],
    values: &[(&str, &str)],
) -> Result<(), DbError> {
    let tx = client.transaction().await?;
    execute_all(&tx, list, values).await?;
    tx.commit().await?;
    Ok(())
}

/// Runs every statement of `list` (split, then substituted) inside `tx`.
pub(crate) async fn execute_all(
    tx: &Transaction<'_>,
    list: &[String],
    values: &[(&str, &str)],
) -> Result<(), DbError> {
    for stmt in statements::split_all(list) {
        let sql = zeroize::Zeroizing::new(statements::substitute(&stmt, values));
        tx.batch_execute(&sql).await?;
    }
    Ok(())
}

/// Whether a role named `name` exists.
pub(crate) async fn role_exists(client: &Client, name: &str) -> Result<bool, DbError> {
    let row = client
        .query_opt(
            "SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1",
            &[&name],
        )
        .await?;
    Ok(row.is_some())
}

/// The default revocation of a dynamic user, in one transaction: revoke its privileges on
/// every table, sequence and function of each schema it holds grants in (and `public`), its
/// usage of those schemas, its privileges on the current database, then drop the role. A role
/// that no longer exists is already revoked.
pub(crate) async fn default_revoke(client: &mut Client, name: &str) -> Result<(), DbError> {
    if !role_exists(client, name).await? {
        return Ok(());
    }
    let tx = client.transaction().await?;
    let mut schemas: Vec<String> = tx
        .query(
            "SELECT DISTINCT table_schema::text FROM information_schema.role_table_grants \
             WHERE grantee = $1",
            &[&name],
        )
        .await?
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect();
    if !schemas.iter().any(|s| s == "public") {
        schemas.push("public".to_owned());
    }
    let user = quote_ident(name);
    for schema in &schemas {
        let s = quote_ident(schema);
        tx.batch_execute(&format!(
            "REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA {s} FROM {user}; \
             REVOKE ALL PRIVILEGES ON ALL SEQUENCES IN SCHEMA {s} FROM {user}; \
             REVOKE ALL PRIVILEGES ON ALL FUNCTIONS IN SCHEMA {s} FROM {user}; \
             REVOKE USAGE ON SCHEMA {s} FROM {user};"
        ))
        .await?;
    }
    let db: String = tx
        .query_one("SELECT current_database()::text", &[])
        .await?
        .get(0);
    tx.batch_execute(&format!(
        "REVOKE ALL PRIVILEGES ON DATABASE {} FROM {user}; DROP ROLE IF EXISTS {user};",
        quote_ident(&db)
    ))
    .await?;
    tx.commit().await?;
    Ok(())
}
