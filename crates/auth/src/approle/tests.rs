#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use serde_json::{Value, json};
use tresor_sdk::{LogicalBackend, Operation, Request};
use tresor_storage::{InMemBackend, View};

use super::*;

fn req(view: &View, op: Operation, path: &str, body: Value) -> Request {
    let data = match body {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let mut r = Request::new(op, path, view.clone()).with_data(data);
    r.remote_addr = "127.0.0.1".parse().ok();
    r
}

async fn call(
    b: &AppRole,
    view: &View,
    op: Operation,
    path: &str,
    body: Value,
) -> Result<Option<Response>, LogicalError> {
    b.handle(&req(view, op, path, body)).await
}

fn data(r: Result<Option<Response>, LogicalError>) -> Map<String, Value> {
    r.unwrap().unwrap().data.unwrap()
}

#[tokio::test]
async fn role_secret_id_login_and_destroy() {
    let view = View::new(Arc::new(InMemBackend::new()), "a/");
    let b = AppRole::new();
    call(
        &b,
        &view,
        Operation::Create,
        "role/Web",
        json!({"token_policies": ["web"], "token_ttl": "1m"}),
    )
    .await
    .unwrap();
    call(
        &b,
        &view,
        Operation::Update,
        "role/web/role-id",
        json!({"role_id": "rid"}),
    )
    .await
    .unwrap();
    assert_eq!(
        data(call(&b, &view, Operation::Read, "role/web/role-id", json!({})).await)["role_id"],
        "rid"
    );
    let sid = data(
        call(
            &b,
            &view,
            Operation::Update,
            "role/web/secret-id",
            json!({"metadata": "{\"team\":\"a\"}", "cidr_list": "127.0.0.1/32"}),
        )
        .await,
    );
    let secret = sid["secret_id"].as_str().unwrap().to_owned();
    let accessor = sid["secret_id_accessor"].as_str().unwrap().to_owned();
    let listed = data(call(&b, &view, Operation::List, "role/web/secret-id/", json!({})).await);
    assert_eq!(listed["keys"], json!([accessor]));
    let by_acc = data(
        call(
            &b,
            &view,
            Operation::Update,
            "role/web/secret-id-accessor/lookup",
            json!({"secret_id_accessor": accessor}),
        )
        .await,
    );
    assert_eq!(by_acc["cidr_list"], json!(["127.0.0.1/32"]));
    assert_eq!(by_acc["metadata"]["team"], "a");

    let login = call(
        &b,
        &view,
        Operation::Update,
        "login",
        json!({"role_id": "rid", "secret_id": secret}),
    )
    .await
    .unwrap()
    .unwrap()
    .login
    .unwrap();
    assert_eq!(login.policies, vec!["web"]);
    assert_eq!(login.ttl, 60);
    assert_eq!(login.metadata["role_name"], "web");
    assert_eq!(login.metadata["team"], "a");
    assert_eq!(login.alias.name, "rid");

    // Wrong secret, wrong role id: one answer.
    for body in [
        json!({"role_id": "rid", "secret_id": "nope"}),
        json!({"role_id": "x", "secret_id": secret}),
    ] {
        let e = call(&b, &view, Operation::Update, "login", body)
            .await
            .err()
            .unwrap();
        assert_eq!(e.to_string(), INVALID_CREDENTIALS);
    }
    // From another address: refused by the secret id's CIDRs.
    let mut far = req(
        &view,
        Operation::Update,
        "login",
        json!({"role_id": "rid", "secret_id": secret}),
    );
    far.remote_addr = "10.9.9.9".parse().ok();
    assert!(
        b.handle(&far)
            .await
            .err()
            .unwrap()
            .to_string()
            .contains("unauthorized")
    );

    call(
        &b,
        &view,
        Operation::Update,
        "role/web/secret-id/destroy",
        json!({"secret_id": secret}),
    )
    .await
    .unwrap();
    assert!(
        call(
            &b,
            &view,
            Operation::Update,
            "login",
            json!({"role_id": "rid", "secret_id": secret})
        )
        .await
        .is_err()
    );
    assert!(
        call(&b, &view, Operation::List, "role/web/secret-id/", json!({}))
            .await
            .unwrap()
            .is_none()
    );

    // Field endpoints and deletion.
    call(
        &b,
        &view,
        Operation::Update,
        "role/web/secret-id-num-uses",
        json!({"secret_id_num_uses": 4}),
    )
    .await
    .unwrap();
    assert_eq!(
        data(
            call(
                &b,
                &view,
                Operation::Read,
                "role/web/secret-id-num-uses",
                json!({})
            )
            .await
        )["secret_id_num_uses"],
        4
    );
    assert_eq!(
        data(call(&b, &view, Operation::List, "role/", json!({})).await)["keys"],
        json!(["web"])
    );
    call(&b, &view, Operation::Delete, "role/web", json!({}))
        .await
        .unwrap();
    assert!(
        call(&b, &view, Operation::Read, "role/web", json!({}))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        call(
            &b,
            &view,
            Operation::Update,
            "login",
            json!({"role_id": "rid", "secret_id": "x"})
        )
        .await
        .is_err()
    );
}

#[tokio::test]
async fn a_use_limited_secret_id_serves_exactly_its_uses_under_concurrency() {
    let view = View::new(Arc::new(InMemBackend::new()), "a/");
    let b = Arc::new(AppRole::new());
    call(
        &b,
        &view,
        Operation::Create,
        "role/r",
        json!({"role_id": "rid"}),
    )
    .await
    .unwrap();
    let secret = data(
        call(
            &b,
            &view,
            Operation::Update,
            "role/r/custom-secret-id",
            json!({"secret_id": "s", "num_uses": 3}),
        )
        .await,
    )["secret_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(secret, "s");
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let (b, view) = (b.clone(), view.clone());
        tasks.push(tokio::spawn(async move {
            b.handle(&req(
                &view,
                Operation::Update,
                "login",
                json!({"role_id": "rid", "secret_id": "s"}),
            ))
            .await
            .is_ok()
        }));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap() {
            ok += 1;
        }
    }
    assert_eq!(ok, 3, "exactly num_uses logins succeed");
}

#[tokio::test]
async fn tidy_removes_dangling_accessors() {
    let view = View::new(Arc::new(InMemBackend::new()), "a/");
    let b = AppRole::new();
    call(&b, &view, Operation::Create, "role/r", json!({}))
        .await
        .unwrap();
    call(&b, &view, Operation::Update, "role/r/secret-id", json!({}))
        .await
        .unwrap();
    view.put("accessor/dangling", b"{}".to_vec()).await.unwrap();
    let r = call(&b, &view, Operation::Update, "tidy/secret-id", json!({}))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.status, ResponseStatus::Accepted);
    let left = view.list("accessor/").await.unwrap();
    assert_eq!(
        left.len(),
        1,
        "the live accessor stays, the dangling one goes: {left:?}"
    );
}

#[tokio::test]
async fn renewal_is_refused_once_the_role_is_gone() {
    let view = View::new(Arc::new(InMemBackend::new()), "a/");
    let b = AppRole::new();
    call(&b, &view, Operation::Create, "role/r", json!({}))
        .await
        .unwrap();
    let mut renew = req(&view, Operation::Renew, "login", json!({}));
    renew.auth.metadata.insert("role_name".into(), "r".into());
    assert!(b.handle(&renew).await.unwrap().is_none());
    call(&b, &view, Operation::Delete, "role/r", json!({}))
        .await
        .unwrap();
    let e = b.handle(&renew).await.err().unwrap();
    assert!(
        e.to_string().contains("does not exist during renewal"),
        "{e}"
    );
}
