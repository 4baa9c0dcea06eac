//! What the engine does inside PostgreSQL: runs statement lists in one transaction, checks
//! whether a role exists, and the default revocation (revoke what the role was granted, then
//! drop it).

use tokio_postgres::{Client, Transaction};

use crate::error::DbError;
use crate::statements::{self, quote_ident};

/// How many times a transaction that lost a race is tried again.
const RETRIES: u32 = 6;

/// Whether `e` is a race with a concurrent transaction that a retry resolves: a serialization
/// failure, a deadlock, or PostgreSQL's "tuple concurrently updated" (concurrent `GRANT`s or
/// `REVOKE`s on the same object, as simultaneous credential requests of one role make).
fn is_transient(e: &DbError) -> bool {
    use tokio_postgres::error::SqlState;
    let DbError::Postgres(pe) = e else {
        return false;
    };
    match pe.as_db_error() {
        Some(db) => {
            *db.code() == SqlState::T_R_SERIALIZATION_FAILURE
                || *db.code() == SqlState::T_R_DEADLOCK_DETECTED
                || (*db.code() == SqlState::INTERNAL_ERROR
                    && db.message().contains("concurrently updated"))
        }
        None => false,
    }
}

/// Waits a little before retry `attempt` (1, 2, ...): 5 ms doubling, with jitter.
async fn backoff(attempt: u32) {
    use rand::Rng;
    let base = 5u64 << attempt.min(6);
    let jitter = rand::rngs::OsRng.gen_range(0..=base);
    tokio::time::sleep(std::time::Duration::from_millis(base + jitter)).await;
}

/// Runs every statement of `list` (split on `;`, then each `{{key}}` substituted) in one
/// transaction: all of them apply or none. A transaction that lost a race with a concurrent
/// one is tried again (a few times, with backoff).
pub(crate) async fn run_in_transaction(
    client: &mut Client,
    list: &[String],
    values: &[(&str, &str)],
) -> Result<(), DbError> {
    let mut attempt = 0;
    loop {
        match run_once(client, list, values).await {
            Err(e) if attempt < RETRIES && is_transient(&e) => {
                attempt += 1;
                backoff(attempt).await;
            }
            other => return other,
        }
    }
}

async fn run_once(
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
/// that no longer exists is already revoked. Retried like [`run_in_transaction`].
pub(crate) async fn default_revoke(client: &mut Client, name: &str) -> Result<(), DbError> {
    let mut attempt = 0;
    loop {
        match default_revoke_once(client, name).await {
            Err(e) if attempt < RETRIES && is_transient(&e) => {
                attempt += 1;
                backoff(attempt).await;
            }
            other => return other,
        }
    }
}

async fn default_revoke_once(client: &mut Client, name: &str) -> Result<(), DbError> {
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
