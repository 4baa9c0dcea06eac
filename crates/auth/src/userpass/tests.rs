#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use serde_json::{Value, json};
use tresor_sdk::{LogicalBackend, LogicalError, Operation, Request};
use tresor_storage::{InMemBackend, View};

use super::*;

fn req(view: &View, op: Operation, path: &str, body: Value) -> Request {
    let data = match body {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    Request::new(op, path, view.clone()).with_data(data)
}

#[tokio::test]
async fn users_crud_login_and_wrong_password() {
    let view = View::new(Arc::new(InMemBackend::new()), "u/");
    let b = Userpass::new(KdfParams::TEST_ONLY_CHEAP);
    let create = req(
        &view,
        Operation::Create,
        "users/Alice",
        json!({"password": "pw", "policies": "dev,ops", "ttl": "1h", "token_bound_cidrs": "10.0.0.0/8"}),
    );
    assert!(b.handle(&create).await.unwrap().is_none());
    let read = b
        .handle(&req(&view, Operation::Read, "users/alice", json!({})))
        .await
        .unwrap()
        .unwrap()
        .data
        .unwrap();
    assert_eq!(read["token_policies"], json!(["dev", "ops"]));
    assert_eq!(read["policies"], json!(["dev", "ops"]));
    assert_eq!(read["token_ttl"], 3600);
    assert_eq!(read["token_bound_cidrs"], json!(["10.0.0.0/8"]));
    assert!(!read.contains_key("password_hash"), "the hash never leaves");

    let ok = b
        .handle(&req(
            &view,
            Operation::Update,
            "login/ALICE",
            json!({"password": "pw"}),
        ))
        .await
        .unwrap()
        .unwrap();
    let login = ok.login.unwrap();
    assert_eq!(login.display_name, "alice");
    assert_eq!(login.alias.name, "alice");
    assert_eq!(login.metadata["username"], "alice");
    assert_eq!(login.policies, vec!["dev", "ops"]);
    assert_eq!(login.ttl, 3600);
    assert_eq!(login.bound_cidrs, vec!["10.0.0.0/8"]);

    for (user, pw) in [("alice", "nope"), ("bob", "pw")] {
        let err = b
            .handle(&req(
                &view,
                Operation::Update,
                &format!("login/{user}"),
                json!({"password": pw}),
            ))
            .await
            .err()
            .unwrap();
        assert!(
            matches!(err, LogicalError::InvalidRequest(ref m) if m == INVALID_LOGIN),
            "{err}"
        );
    }

    // Password change: the old one stops working.
    b.handle(&req(
        &view,
        Operation::Update,
        "users/alice/password",
        json!({"password": "new"}),
    ))
    .await
    .unwrap();
    assert!(
        b.handle(&req(
            &view,
            Operation::Update,
            "login/alice",
            json!({"password": "pw"})
        ))
        .await
        .is_err()
    );
    assert!(
        b.handle(&req(
            &view,
            Operation::Update,
            "login/alice",
            json!({"password": "new"})
        ))
        .await
        .is_ok()
    );

    b.handle(&req(
        &view,
        Operation::Update,
        "users/alice/policies",
        json!({"token_policies": ["x"]}),
    ))
    .await
    .unwrap();
    let list = b
        .handle(&req(&view, Operation::List, "users/", json!({})))
        .await
        .unwrap()
        .unwrap()
        .data
        .unwrap();
    assert_eq!(list["keys"], json!(["alice"]));
    b.handle(&req(&view, Operation::Delete, "users/alice", json!({})))
        .await
        .unwrap();
    assert!(
        b.handle(&req(&view, Operation::Read, "users/alice", json!({})))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_new_user_needs_a_password() {
    let view = View::new(Arc::new(InMemBackend::new()), "u/");
    let b = Userpass::new(KdfParams::TEST_ONLY_CHEAP);
    let err = b
        .handle(&req(
            &view,
            Operation::Create,
            "users/x",
            json!({"policies": "a"}),
        ))
        .await
        .err()
        .unwrap();
    assert_eq!(err.to_string(), "missing password");
    assert_eq!(b.unauthenticated_paths(), vec!["login/*"]);
}
