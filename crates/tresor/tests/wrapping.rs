//! Response wrapping over HTTP against the real binary: `X-Vault-Wrap-TTL`, the wrapped
//! envelope, and `sys/wrapping/{lookup,unwrap,rewrap,wrap}`.

#![allow(clippy::unwrap_used)]

use tresor_testkit::process;

use process::{Server, body};
use serde_json::{Value, json};

#[test]
fn wrapped_token_create_unwrap_and_single_use() {
    let mut s = Server::start();
    s.init_unseal(1, 1);

    let r = s
        .req("POST", "auth/token/create")
        .header("X-Vault-Wrap-TTL", "15m")
        .json(&json!({"period": "30m"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let env = body(r);
    assert_eq!(env["auth"], Value::Null);
    assert_eq!(env["data"], Value::Null);
    let info = &env["wrap_info"];
    assert_eq!(info["ttl"], 900);
    assert_eq!(info["creation_path"], "auth/token/create");
    let wtoken = info["token"].as_str().unwrap().to_owned();
    let wrapped_accessor = info["wrapped_accessor"].as_str().unwrap().to_owned();
    assert!(!info["accessor"].as_str().unwrap().is_empty());

    // Lookup needs no client token.
    let look = s
        .http
        .post(s.url("sys/wrapping/lookup"))
        .json(&json!({ "token": wtoken }))
        .send()
        .unwrap();
    assert_eq!(look.status(), 200);
    let look = body(look);
    assert_eq!(look["data"]["creation_ttl"], 900);
    assert_eq!(look["data"]["creation_path"], "auth/token/create");

    // Third-party unwrap with the root token.
    let r = s.post("sys/wrapping/unwrap", json!({ "token": wtoken }));
    assert_eq!(r.status(), 200);
    let un = body(r);
    let client = un["auth"]["client_token"].as_str().unwrap().to_owned();
    assert_eq!(un["auth"]["lease_duration"], 1800);
    assert_eq!(un["auth"]["accessor"], wrapped_accessor.as_str());
    let lookup = body(s.post("auth/token/lookup", json!({ "token": client })));
    assert_eq!(lookup["data"]["id"], client.as_str());
    assert_eq!(lookup["data"]["period"], 1800);

    // Second unwrap: 400 with Vault's message.
    let r = s.post("sys/wrapping/unwrap", json!({ "token": wtoken }));
    assert_eq!(r.status(), 400);
    assert_eq!(
        body(r)["errors"][0],
        "wrapping token is not valid or does not exist"
    );
}

#[test]
fn wrap_rewrap_and_self_unwrap() {
    let mut s = Server::start();
    s.init_unseal(1, 1);

    // sys/wrapping/wrap without the header is refused.
    let r = s.post("sys/wrapping/wrap", json!({"a": "b"}));
    assert_eq!(r.status(), 400);
    // A malformed header too.
    let r = s
        .req("POST", "sys/wrapping/wrap")
        .header("X-Vault-Wrap-TTL", "soon")
        .json(&json!({"a": "b"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);

    let r = s
        .req("POST", "sys/wrapping/wrap")
        .header("X-Vault-Wrap-TTL", "60")
        .json(&json!({"a": "b", "n": 1}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let first = body(r)["wrap_info"]["token"].as_str().unwrap().to_owned();

    let r = s.post("sys/wrapping/rewrap", json!({ "token": first }));
    assert_eq!(r.status(), 200);
    let env = body(r);
    assert_eq!(env["wrap_info"]["ttl"], 60);
    assert_eq!(env["wrap_info"]["creation_path"], "sys/wrapping/wrap");
    let second = env["wrap_info"]["token"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    assert_eq!(
        s.post("sys/wrapping/unwrap", json!({ "token": first }))
            .status(),
        400
    );

    // The wrapping token unwraps itself, as X-Vault-Token with an empty body.
    let r = s
        .http
        .post(s.url("sys/wrapping/unwrap"))
        .header("X-Vault-Token", &second)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let env = body(r);
    assert_eq!(env["data"], json!({"a": "b", "n": 1}));
    let r = s
        .http
        .post(s.url("sys/wrapping/unwrap"))
        .header("X-Vault-Token", &second)
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
}
