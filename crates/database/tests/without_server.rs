//! The database engine's paths without a PostgreSQL server: routing, existence checks, role
//! validation, and errors (never silent success) when the database cannot be reached.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use serde_json::{Map, Value, json};
use tresor_database::Database;
use tresor_sdk::{LogicalBackend, LogicalError, Operation, Request, Response, Secret};
use tresor_storage::{InMemBackend, View};

fn view() -> View {
    View::new(Arc::new(InMemBackend::new()), "logical/db/")
}

fn request(view: &View, op: Operation, path: &str, data: Value) -> Request {
    Request::new(op, path, view.clone()).with_data(data.as_object().cloned().unwrap_or_default())
}

async fn call(
    db: &Database,
    view: &View,
    op: Operation,
    path: &str,
    data: Value,
) -> Result<Option<Response>, LogicalError> {
    db.handle(&request(view, op, path, data)).await
}

/// A port nothing listens on (bound, then released).
fn dead_port() -> u16 {
    tresor_testkit::ports::free_port()
}

async fn configure_unreachable(db: &Database, view: &View) {
    call(
        db,
        view,
        Operation::Update,
        "config/pg",
        json!({
            "plugin_name": "postgresql-database-plugin",
            "connection_url": format!("postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{}/postgres?sslmode=disable", dead_port()),
            "username": "root", "password": "pw", "allowed_roles": "*",
            "verify_connection": false,
        }),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn routing_and_existence() {
    let db = Database::new();
    let v = view();
    let err = call(&db, &v, Operation::Read, "nope/x", json!({}))
        .await
        .unwrap_err();
    assert!(matches!(err, LogicalError::UnsupportedPath));
    let err = call(&db, &v, Operation::Delete, "creds/x", json!({}))
        .await
        .unwrap_err();
    assert!(matches!(err, LogicalError::UnsupportedOperation));
    assert!(
        call(&db, &v, Operation::List, "roles/", json!({}))
            .await
            .unwrap()
            .is_none()
    );

    let exists = |path: &'static str| {
        let req = request(&v, Operation::Update, path, json!({}));
        let db = &db;
        async move { db.exists(&req).await.unwrap() }
    };
    assert_eq!(exists("config/pg").await, Some(false));
    assert_eq!(exists("creds/ro").await, None);
    configure_unreachable(&db, &v).await;
    assert_eq!(exists("config/pg").await, Some(true));

    // verify_connection on an unreachable database: 400.
    let err = call(
        &db,
        &v,
        Operation::Update,
        "config/pg",
        json!({"verify_connection": true}),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, LogicalError::InvalidRequest(_)), "{err}");
}

#[tokio::test]
async fn roles_are_validated_and_listed() {
    let db = Database::new();
    let v = view();
    let err = call(
        &db,
        &v,
        Operation::Update,
        "roles/ro",
        json!({"db_name": "pg"}),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, LogicalError::InvalidRequest(_)), "{err}");
    call(
        &db,
        &v,
        Operation::Update,
        "roles/ro",
        json!({"db_name": "pg", "creation_statements": "CREATE ROLE \"{{name}}\"", "default_ttl": 60, "max_ttl": "2m"}),
    )
    .await
    .unwrap();
    let read = call(&db, &v, Operation::Read, "roles/ro", json!({}))
        .await
        .unwrap()
        .unwrap();
    let data: Map<String, Value> = read.data.unwrap();
    assert_eq!(data["max_ttl"], 120);
    assert_eq!(
        data["creation_statements"],
        json!(["CREATE ROLE \"{{name}}\""])
    );
    let list = call(&db, &v, Operation::List, "roles/", json!({}))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(list.data.unwrap()["keys"], json!(["ro"]));
    // creds for a role whose connection does not exist: 400
    let err = call(&db, &v, Operation::Read, "creds/ro", json!({}))
        .await
        .unwrap_err();
    assert!(matches!(err, LogicalError::InvalidRequest(_)), "{err}");
    // static role without its connection: 400
    let err = call(
        &db,
        &v,
        Operation::Update,
        "static-roles/app",
        json!({"db_name": "pg", "username": "app", "rotation_period": 60}),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, LogicalError::InvalidRequest(_)), "{err}");
    call(&db, &v, Operation::Delete, "roles/ro", json!({}))
        .await
        .unwrap();
    assert!(
        call(&db, &v, Operation::Read, "roles/ro", json!({}))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn unreachable_database_is_an_error_for_creds_revoke_and_renew() {
    let db = Database::new();
    let v = view();
    configure_unreachable(&db, &v).await;
    call(
        &db,
        &v,
        Operation::Update,
        "roles/ro",
        json!({"db_name": "pg", "creation_statements": "CREATE ROLE \"{{name}}\""}),
    )
    .await
    .unwrap();
    let err = call(&db, &v, Operation::Read, "creds/ro", json!({}))
        .await
        .unwrap_err();
    assert!(matches!(err, LogicalError::Internal(_)), "{err}");

    let mut internal = Map::new();
    internal.insert("username".into(), json!("v-token-ro-x"));
    internal.insert("role".into(), json!("ro"));
    internal.insert("db_name".into(), json!("pg"));
    let secret = Secret {
        lease_id: "database/creds/ro/abc".into(),
        ttl: 60,
        max_ttl: 0,
        renewable: true,
        internal,
    };
    for op in [Operation::Revoke, Operation::Renew] {
        let mut req = request(&v, op, "creds/ro", json!({}));
        req.secret = Some(secret.clone());
        let err = db.handle(&req).await.unwrap_err();
        assert!(matches!(err, LogicalError::Internal(_)), "{op:?}: {err}");
    }
    // A lease operation without its secret is refused, not ignored.
    let req = request(&v, Operation::Revoke, "creds/ro", json!({}));
    assert!(db.handle(&req).await.is_err());
}
