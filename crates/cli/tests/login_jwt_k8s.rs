//! `login -method=jwt|oidc|kubernetes` and `auth enable jwt|oidc|kubernetes`: the generic
//! login path (`auth/<path>/login` with the K=V pairs, `@file` read) and the generic enable.

use crate::common;

use common::{FakeEnv, FakeServer, cli};
use serde_json::json;

async fn server() -> FakeServer {
    FakeServer::start(|s| match (s.method.as_str(), s.path.as_str()) {
        ("POST", p) if p.starts_with("/v1/auth/") && p.ends_with("/login") => (
            200,
            Some(
                json!({"request_id":"r","lease_id":"","renewable":false,"lease_duration":0,
                "data":null,"warnings":null,"auth":{"client_token":"hvs.k8s","accessor":"a",
                "policies":["default","webapp"],"token_policies":["default","webapp"],
                "metadata":{"role":"webapp","service_account_name":"webapp-sa"},
                "lease_duration":3600,"renewable":true}}),
            ),
        ),
        _ => (204, None),
    })
    .await
}

#[tokio::test]
async fn jwt_and_kubernetes_logins_post_role_and_jwt() {
    let srv = server().await;
    let env = FakeEnv::new(&srv.addr).with("VAULT_TOKEN", "root");
    let dir = tempfile::tempdir().unwrap();
    let jwt_file = dir.path().join("token");
    std::fs::write(&jwt_file, "eyJ.sa.jwt").unwrap();
    let at = format!("jwt=@{}", jwt_file.display());
    let o = cli(&env, &["login", "-method=kubernetes", "role=webapp", &at]).await;
    assert_eq!(o.code, 0, "{}", o.err);
    let seen = srv.last();
    assert_eq!(seen.path, "/v1/auth/kubernetes/login");
    assert_eq!(seen.token, None, "a login sends no token");
    assert_eq!(
        seen.body.unwrap(),
        json!({"role": "webapp", "jwt": "eyJ.sa.jwt"})
    );
    assert!(
        o.out.contains("token_meta_service_account_name"),
        "{}",
        o.out
    );
    assert_eq!(
        std::fs::read_to_string(env.token_file()).unwrap(),
        "hvs.k8s"
    );

    for (method, path) in [("jwt", "/v1/auth/jwt/login"), ("oidc", "/v1/auth/ci/login")] {
        let mut args = vec!["login", "-no-store", "-token-only"];
        let m = format!("-method={method}");
        args.push(&m);
        if method == "oidc" {
            args.push("-path=ci");
        }
        args.extend(["role=ci", "jwt=a.b.c"]);
        let o = cli(&env, &args).await;
        assert_eq!(o.code, 0, "{}", o.err);
        assert_eq!(o.out.trim(), "hvs.k8s");
        assert_eq!(srv.last().path, path);
        assert_eq!(
            srv.last().body.unwrap(),
            json!({"role": "ci", "jwt": "a.b.c"})
        );
    }

    for kind in ["jwt", "oidc", "kubernetes"] {
        let o = cli(&env, &["auth", "enable", kind]).await;
        assert_eq!(o.code, 0, "{}", o.err);
        assert_eq!(srv.last().path, format!("/v1/sys/auth/{kind}"));
        assert_eq!(srv.last().body.unwrap()["type"], kind);
    }
}
