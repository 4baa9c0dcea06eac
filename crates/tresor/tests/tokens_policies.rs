//! Tokens and ACL policies end to end: creation limits, revocation trees, denial JSON, and the
//! seed's admin policy behaving as its comments say.

#![allow(clippy::unwrap_used)]

use tresor_testkit::process;

use process::{Server, body};
use serde_json::{Value, json};

fn create_token(s: &Server, body_json: Value) -> (String, String) {
    let r = s.post("auth/token/create", body_json);
    assert_eq!(
        r.status(),
        200,
        "token create: {}",
        r.text().unwrap_or_default()
    );
    let v = body(r);
    (
        v["auth"]["client_token"].as_str().unwrap().to_owned(),
        v["auth"]["accessor"].as_str().unwrap().to_owned(),
    )
}

fn with_token(
    s: &Server,
    token: &str,
    method: &str,
    path: &str,
    b: Option<Value>,
) -> reqwest::blocking::Response {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut r = s
        .http
        .request(m, s.url(path))
        .header("X-Vault-Token", token);
    if let Some(b) = b {
        r = r.json(&b);
    }
    r.send().unwrap()
}

#[test]
fn tokens_lifecycle() {
    let mut s = Server::start();
    s.init_unseal(1, 1);
    let self_lookup = body(s.get("auth/token/lookup-self"));
    assert_eq!(self_lookup["data"]["policies"], json!(["root"]));

    let maker = "path \"auth/token/create\" { capabilities = [\"create\", \"update\"] }";
    assert_eq!(
        s.put("sys/policies/acl/maker", json!({ "policy": maker }))
            .status(),
        204
    );
    let (parent, parent_acc) = create_token(
        &s,
        json!({"policies": ["maker"], "ttl": "1h", "display_name": "app"}),
    );
    let look = body(with_token(
        &s,
        &parent,
        "GET",
        "auth/token/lookup-self",
        None,
    ));
    assert_eq!(look["data"]["policies"], json!(["default", "maker"]));
    let ttl = look["data"]["ttl"].as_u64().unwrap();
    assert!(ttl > 3500 && ttl <= 3600, "ttl {ttl}");

    // A child of a non-root token may not gain policies its parent lacks.
    let r = with_token(
        &s,
        &parent,
        "POST",
        "auth/token/create",
        Some(json!({"policies": ["admin"]})),
    );
    assert_eq!(r.status(), 400);
    let child = body(with_token(
        &s,
        &parent,
        "POST",
        "auth/token/create",
        Some(json!({"policies": ["default"]})),
    ));
    let child = child["auth"]["client_token"].as_str().unwrap().to_owned();
    let (orphan, _) = create_token(&s, json!({"policies": ["default"], "no_parent": true}));

    // Lookup by accessor has no id; renew; revoke by accessor revokes the children too.
    let la = body(s.post(
        "auth/token/lookup-accessor",
        json!({"accessor": parent_acc}),
    ));
    assert_eq!(la["data"]["id"], "");
    let renewed = body(s.post(
        "auth/token/renew",
        json!({"token": parent, "increment": "30m"}),
    ));
    assert!(renewed["auth"]["lease_duration"].as_u64().unwrap() <= 1800);
    assert_eq!(
        s.post(
            "auth/token/revoke-accessor",
            json!({"accessor": parent_acc})
        )
        .status(),
        204
    );
    assert_eq!(
        with_token(&s, &parent, "GET", "auth/token/lookup-self", None).status(),
        403
    );
    assert_eq!(
        with_token(&s, &child, "GET", "auth/token/lookup-self", None).status(),
        403
    );
    assert_eq!(
        with_token(&s, &orphan, "GET", "auth/token/lookup-self", None).status(),
        200
    );

    // num_uses: the token works exactly that many times.
    let (limited, _) = create_token(&s, json!({"policies": ["default"], "num_uses": 2}));
    assert_eq!(
        with_token(
            &s,
            &limited,
            "POST",
            "sys/capabilities-self",
            Some(json!({"path": "x"}))
        )
        .status(),
        200
    );
    assert_eq!(
        with_token(
            &s,
            &limited,
            "POST",
            "sys/capabilities-self",
            Some(json!({"path": "x"}))
        )
        .status(),
        200
    );
    assert_eq!(
        with_token(
            &s,
            &limited,
            "POST",
            "sys/capabilities-self",
            Some(json!({"path": "x"}))
        )
        .status(),
        403
    );

    // TTL capped by the system max (32 days by default).
    let (capped, _) = create_token(&s, json!({"ttl": "100000h"}));
    let look = body(s.post("auth/token/lookup", json!({"token": capped})));
    assert!(look["data"]["ttl"].as_u64().unwrap() <= 2764800);

    // revoke-self.
    assert_eq!(
        with_token(
            &s,
            &orphan,
            "POST",
            "auth/token/revoke-self",
            Some(json!({}))
        )
        .status(),
        204
    );
    assert_eq!(
        with_token(&s, &orphan, "GET", "auth/token/lookup-self", None).status(),
        403
    );
}

#[test]
fn policies_enforced_and_seed_admin_policy() {
    let mut s = Server::start();
    s.init_unseal(1, 1);
    s.post("sys/mounts/secret", json!({"type": "kv-v2"}));
    s.post("secret/data/app", json!({"data": {"k": "v"}}));

    let seed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/reference/seed-configs/seed002-policy-vault-admin.hcl"
    ))
    .expect("the seed policy is readable in place");
    assert_eq!(
        s.put("sys/policies/acl/vault-admin", json!({"policy": seed}))
            .status(),
        204
    );
    let read = body(s.get("sys/policies/acl/vault-admin"));
    assert_eq!(
        read["data"]["policy"],
        seed.as_str(),
        "policy text is returned verbatim"
    );
    assert!(
        body(s.list("sys/policies/acl"))["data"]["keys"]
            .as_array()
            .unwrap()
            .contains(&json!("vault-admin"))
    );
    assert_eq!(
        s.put(
            "sys/policies/acl/broken",
            json!({"policy": "path \"x\" { capabilities = [\"fly\"] }"})
        )
        .status(),
        400
    );

    let (admin, _) = create_token(&s, json!({"policies": ["vault-admin"]}));
    // "Manage secrets engines": enable, tune and list mounts.
    assert_eq!(
        with_token(
            &s,
            &admin,
            "POST",
            "sys/mounts/team",
            Some(json!({"type": "kv"}))
        )
        .status(),
        204
    );
    assert_eq!(
        with_token(&s, &admin, "GET", "sys/mounts", None).status(),
        200
    );
    // "Manage policies".
    assert_eq!(
        with_token(
            &s,
            &admin,
            "PUT",
            "sys/policies/acl/app",
            Some(json!({"policy": "path \"secret/data/app\" { capabilities = [\"read\"] }"}))
        )
        .status(),
        204
    );
    // "DENY direct access to application secrets".
    let denied = with_token(&s, &admin, "GET", "secret/data/app", None);
    assert_eq!(denied.status(), 403);
    assert_eq!(body(denied), json!({"errors": ["permission denied"]}));
    assert_eq!(
        with_token(
            &s,
            &admin,
            "POST",
            "secret/data/app",
            Some(json!({"data": {}}))
        )
        .status(),
        403
    );
    // Not granted: token creation with other policies, key rotation (needs sudo on sys/rotate).
    assert_eq!(
        with_token(&s, &admin, "POST", "sys/rotate", Some(json!({}))).status(),
        403
    );
    // Seal needs sudo on sys/seal: refused.
    assert_eq!(
        with_token(&s, &admin, "PUT", "sys/seal", Some(json!({}))).status(),
        403
    );
    let caps = body(with_token(
        &s,
        &admin,
        "POST",
        "sys/capabilities-self",
        Some(json!({"paths": ["secret/data/app", "sys/mounts/x"]})),
    ));
    assert_eq!(caps["data"]["secret/data/app"], json!(["deny"]));
    assert_eq!(
        caps["data"]["sys/mounts/x"],
        json!(["create", "delete", "list", "read", "update"])
    );

    // An app token with the narrow policy can read but not write.
    let (app, _) = create_token(&s, json!({"policies": ["app"]}));
    assert_eq!(
        body(with_token(&s, &app, "GET", "secret/data/app", None))["data"]["data"]["k"],
        "v"
    );
    assert_eq!(
        with_token(
            &s,
            &app,
            "POST",
            "secret/data/app",
            Some(json!({"data": {"k": "x"}}))
        )
        .status(),
        403
    );

    // Legacy endpoint and built-ins.
    let legacy = body(s.get("sys/policy"));
    let names = legacy["data"]["policies"].as_array().unwrap();
    assert!(names.contains(&json!("default")) && names.contains(&json!("root")));
    assert_eq!(s.delete("sys/policy/default").status(), 400);
    assert_eq!(
        s.put(
            "sys/policy/root",
            json!({"policy": "path \"x\" {capabilities=[\"read\"]}"})
        )
        .status(),
        400
    );
    assert_eq!(s.delete("sys/policies/acl/app").status(), 204);
    assert_eq!(s.get("sys/policies/acl/app").status(), 404);
    // The deleted policy no longer grants anything.
    assert_eq!(
        with_token(&s, &app, "GET", "secret/data/app", None).status(),
        403
    );
}
