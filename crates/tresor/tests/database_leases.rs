//! Dynamic PostgreSQL credentials on a three-node cluster of real `tresor server` processes,
//! against a real PostgreSQL (`tresor_testkit::postgres`):
//! - `tresor lease revoke -prefix database/creds/<role>` drops every such PostgreSQL role;
//! - a lease outlives a `kill -9` of the active node, and the next active node revokes it at
//!   expiry; with PostgreSQL down at that moment the lease stays (retried) and is revoked
//!   once PostgreSQL is back.

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use tresor_testkit::cluster::Cluster;
use tresor_testkit::postgres::{Postgres, SUPERUSER};

const WAIT: Duration = Duration::from_secs(90);
/// Long enough for a failover to finish before the lease expires.
const TTL_SECS: u64 = 20;

const CREATE: &str =
    r#"CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"#;

/// `psql -Atc sql` as the superuser; its output, trimmed (`None` when it fails: server down).
fn psql(pg: &Postgres, sql: &str) -> Option<String> {
    let out = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &pg.port().to_string(),
            "-U",
            SUPERUSER,
        ])
        .args(["-d", "postgres", "-Atc", sql])
        .env("PGPASSWORD", pg.password())
        .env("PGCONNECT_TIMEOUT", "3")
        .output()
        .expect("run psql (apt package postgresql-client)");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Whether the PostgreSQL role `name` exists.
fn role_exists(pg: &Postgres, name: &str) -> bool {
    psql(
        pg,
        &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{name}'"),
    )
    .as_deref()
        == Some("1")
}

fn body(r: reqwest::blocking::Response) -> Value {
    r.json().unwrap_or(Value::Null)
}

/// Mounts the engine on node `i` with a role `app` issuing `TTL_SECS` credentials.
fn configure(c: &Cluster, i: usize, pg: &Postgres) {
    assert_eq!(
        c.post(i, "sys/mounts/database", json!({"type": "database"}))
            .status(),
        204
    );
    let r = c.post(
        i,
        "database/config/pg",
        json!({
            "plugin_name": "postgresql-database-plugin",
            "connection_url": format!("postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{}/postgres?sslmode=disable", pg.port()),
            "username": SUPERUSER,
            "password": pg.password(),
            "allowed_roles": "app",
        }),
    );
    assert!(r.status().is_success(), "{}", r.text().unwrap());
    let r = c.post(
        i,
        "database/roles/app",
        json!({"db_name": "pg", "default_ttl": format!("{TTL_SECS}s"), "max_ttl": "1h",
               "creation_statements": [CREATE]}),
    );
    assert!(r.status().is_success(), "{}", r.text().unwrap());
}

/// New credentials from node `i`: (lease id, PostgreSQL user name).
fn creds(c: &Cluster, i: usize) -> (String, String) {
    let r = c.get(i, "database/creds/app");
    assert_eq!(r.status(), 200);
    let v = body(r);
    (
        v["lease_id"].as_str().unwrap().to_owned(),
        v["data"]["username"].as_str().unwrap().to_owned(),
    )
}

fn lease_status(c: &Cluster, i: usize, lease: &str) -> u16 {
    c.put(i, "sys/leases/lookup", json!({ "lease_id": lease }))
        .status()
        .as_u16()
}

#[test]
fn leases_survive_a_leader_kill_and_revocation_waits_for_the_database() {
    let mut pg = Postgres::start();
    let mut c = Cluster::start(3);
    let leader = c.wait_leader(None, Duration::from_secs(30));
    configure(&c, leader, &pg);

    // Revocation by prefix drops every role of the PostgreSQL role's credentials.
    let users: Vec<String> = (0..3).map(|_| creds(&c, leader).1).collect();
    assert!(users.iter().all(|u| role_exists(&pg, u)));
    let out = c.cli(
        leader,
        &["lease", "revoke", "-prefix", "database/creds/app"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Success! Revoked any leases with prefix")
    );
    assert!(
        users.iter().all(|u| !role_exists(&pg, u)),
        "roles left after revoke -prefix"
    );

    // A lease issued by the active node, which then dies (kill -9) while PostgreSQL is down.
    let (lease, user) = creds(&c, leader);
    assert!(role_exists(&pg, &user));
    pg.stop();
    c.kill9(leader);
    let next = c.wait_leader(Some(leader), WAIT);
    assert_eq!(
        lease_status(&c, next, &lease),
        200,
        "the new active node must know the lease"
    );
    // At expiry the new active node tries to revoke it, fails, and keeps the lease to retry.
    c.wait_for("a failed revocation attempt", WAIT, |c| {
        c.nodes[next]
            .log()
            .contains("revocation failed; will retry")
            .then_some(())
    });
    assert_eq!(
        lease_status(&c, next, &lease),
        200,
        "a lease whose revocation failed must not vanish"
    );
    // PostgreSQL returns: the next attempt drops the role and the lease.
    pg.start_again();
    c.wait_for("the lease to be revoked", WAIT, |c| {
        (lease_status(c, next, &lease) == 400).then_some(())
    });
    assert!(
        !role_exists(&pg, &user),
        "the role must be dropped with its lease"
    );
}
