//! TLS to a real PostgreSQL with `ssl=on` and a certificate for `db.test` issued by a test CA:
//! each `sslmode` checks what libpq's does.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use serde_json::{Value, json};
use tokio_postgres::NoTls;
use tresor_database::Database;
use tresor_sdk::{LogicalBackend, LogicalError, Operation, Request};
use tresor_storage::{InMemBackend, View};
use tresor_testkit::postgres::{Postgres, SUPERUSER};

fn new_ca() -> (rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    (params.self_signed(&key).unwrap(), key)
}

async fn write(db: &Database, view: &View, path: &str, data: Value) -> Result<(), LogicalError> {
    let req = Request::new(Operation::Update, path, view.clone())
        .with_data(data.as_object().cloned().unwrap());
    db.handle(&req).await.map(|_| ())
}

/// Whether every open engine connection uses TLS (and there is at least one).
async fn engine_connections_use_tls(pg: &Postgres) -> bool {
    let (c, conn) = tokio_postgres::connect(&pg.url(SUPERUSER, pg.password()), NoTls)
        .await
        .unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let row = c
        .query_one(
            "SELECT count(*), coalesce(bool_and(s.ssl), false) FROM pg_stat_ssl s \
             JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'tresor-database'",
            &[],
        )
        .await
        .unwrap();
    row.get::<_, i64>(0) > 0 && row.get::<_, bool>(1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmodes_verify_as_libpq_does() {
    let (ca, ca_key) = new_ca();
    let (other_ca, _) = new_ca();
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["db.test".to_owned()])
        .unwrap()
        .signed_by(&server_key, &ca, &ca_key)
        .unwrap();
    let pg = tokio::task::block_in_place(|| {
        Postgres::start_tls(&server.pem(), &server_key.serialize_pem())
    });
    let ca_file = pg.path("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let other_file = pg.path("other-ca.pem");
    std::fs::write(&other_file, other_ca.pem()).unwrap();
    let url = |query: String| {
        json!({
            "plugin_name": "postgresql-database-plugin",
            "connection_url": format!("postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{}/postgres?{query}", pg.port()),
            "username": SUPERUSER,
            "password": pg.password(),
            "allowed_roles": "*",
        })
    };
    let db = Database::new();
    let view = View::new(Arc::new(InMemBackend::new()), "logical/db/");

    // The chain verifies against the CA, the name (db.test) does not match 127.0.0.1.
    let ca_path = ca_file.display();
    let err = write(
        &db,
        &view,
        "config/full",
        url(format!("sslmode=verify-full&sslrootcert={ca_path}")),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, LogicalError::InvalidRequest(ref m) if m.contains("verifying")),
        "{err}"
    );
    write(
        &db,
        &view,
        "config/ca",
        url(format!("sslmode=verify-ca&sslrootcert={ca_path}")),
    )
    .await
    .unwrap();

    // Another CA: refused in verify-ca and in require with a root certificate.
    let other = other_file.display();
    for mode in ["verify-ca", "require"] {
        let err = write(
            &db,
            &view,
            "config/other",
            url(format!("sslmode={mode}&sslrootcert={other}")),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, LogicalError::InvalidRequest(_)),
            "{mode}: {err}"
        );
    }
    // require without roots: encrypted, unauthenticated, as libpq.
    write(&db, &view, "config/req", url("sslmode=require".into()))
        .await
        .unwrap();

    // The pool of a verify-ca connection runs over TLS.
    write(
        &db,
        &view,
        "roles/ro",
        json!({"db_name": "ca", "creation_statements": "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}'"}),
    )
    .await
    .unwrap();
    let resp = db
        .handle(&Request::new(Operation::Read, "creds/ro", view.clone()))
        .await
        .unwrap()
        .unwrap();
    assert!(resp.data.unwrap()["username"].as_str().is_some());
    assert!(engine_connections_use_tls(&pg).await);

    // sslmode=disable stays in clear.
    write(&db, &view, "config/ca", url("sslmode=disable".into()))
        .await
        .unwrap();
    db.handle(&Request::new(Operation::Read, "creds/ro", view.clone()))
        .await
        .unwrap();
    assert!(!engine_connections_use_tls(&pg).await);
}
