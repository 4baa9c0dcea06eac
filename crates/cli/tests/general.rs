//! Global behaviour (env precedence, token file, errors, exit codes) and the token, login,
//! policy, secrets and generic commands.

use crate::common;

use common::{FakeEnv, FakeServer, cli, envelope};
use serde_json::{Value, json};

async fn server() -> FakeServer {
    FakeServer::start(|s| {
        let denied = (403, Some(json!({"errors": ["permission denied"]})));
        match (s.method.as_str(), s.path.as_str()) {
            ("GET", "/v1/auth/token/lookup-self") => match s.token.as_deref() {
                Some("good") => (200, Some(envelope(json!({"accessor":"acc1","ttl":3600,
                    "policies":["default","dev"],"renewable":true,"id":"good"})))),
                _ => denied,
            },
            ("POST", p) if p.starts_with("/v1/auth/token/create") || p.starts_with("/v1/auth/token/renew") => {
                (200, Some(json!({"request_id":"r","lease_id":"","renewable":false,"lease_duration":0,
                    "data":null,"warnings":null,"auth":{"client_token":"s.new","accessor":"acc2",
                    "policies":["default","web"],"token_policies":["default","web"],"metadata":{"app":"x"},
                    "lease_duration":2764800,"renewable":true}})))
            }
            ("POST", p) if p.starts_with("/v1/auth/") && p.contains("/login") => {
                (200, Some(json!({"request_id":"r","lease_id":"","renewable":false,"lease_duration":0,
                    "data":null,"warnings":null,"auth":{"client_token":"hvs.login","accessor":"acc3",
                    "policies":["default","web"],"token_policies":["default","web"],
                    "metadata":{"username":"alice"},"lease_duration":600,"renewable":true}})))
            }
            ("GET", "/v1/sys/auth") => (200, Some(envelope(json!({
                "token/": {"type":"token","accessor":"auth_token_1","description":"token based credentials",
                    "config":{"default_lease_ttl":0,"max_lease_ttl":0},"uuid":"u3"},
                "userpass/": {"type":"userpass","accessor":"auth_userpass_2","description":"",
                    "config":{"default_lease_ttl":0,"max_lease_ttl":0},"uuid":"u4"}})))),
            ("GET", "/v1/sys/policies/acl/dev") => (200, Some(envelope(json!({"name":"dev",
                "policy":"path \"secret/*\" {\n  capabilities = [\"read\"]\n}\n"})))),
            ("GET", "/v1/sys/policies/acl") => (200, Some(envelope(json!({"keys":["default","dev","root"]})))),
            ("GET", "/v1/sys/mounts") => (200, Some(envelope(json!({
                "secret/": {"type":"kv","accessor":"kv_1","description":"","options":{"version":"2"},
                    "config":{"default_lease_ttl":0,"max_lease_ttl":0},"local":false,"seal_wrap":false,"uuid":"u1"},
                "sys/": {"type":"system","accessor":"system_1","description":"system endpoints",
                    "config":{"default_lease_ttl":0,"max_lease_ttl":0},"uuid":"u2"}})))),
            ("POST", "/v1/sys/remount") => (200, Some(json!({"migration_id":"mig-1"}))),
            ("GET", "/v1/forbidden") => denied,
            ("GET", "/v1/sys/thing") => (200, Some(envelope(json!({"a": 1, "b": [1, 2]})))),
            ("PUT", "/v1/transit/encrypt/k") => (200, Some(envelope(json!({"ciphertext": "vault:v1:xx"})))),
            ("GET", _) => (404, Some(json!({"errors": []}))),
            _ => (204, None),
        }
    })
    .await
}

#[tokio::test]
async fn env_precedence_for_address_and_token() {
    let srv = server().await;
    // BAO_ADDR is the fallback when VAULT_ADDR is unset.
    let env = FakeEnv::new(&srv.addr)
        .without("VAULT_ADDR")
        .with("BAO_ADDR", &srv.addr)
        .with("BAO_TOKEN", "bao-tok");
    assert_eq!(cli(&env, &["read", "sys/thing"]).await.code, 0);
    assert_eq!(srv.last().token.as_deref(), Some("bao-tok"));
    // VAULT_* beats BAO_*; the -address flag beats VAULT_ADDR.
    let env = FakeEnv::new("http://127.0.0.1:1")
        .with("BAO_ADDR", "http://127.0.0.1:2")
        .with("VAULT_TOKEN", "v-tok")
        .with("BAO_TOKEN", "bao-tok");
    let addr_flag = format!("-address={}", srv.addr);
    assert_eq!(cli(&env, &["read", &addr_flag, "sys/thing"]).await.code, 0);
    assert_eq!(srv.last().token.as_deref(), Some("v-tok"));
    assert_eq!(cli(&env, &["read", "sys/thing"]).await.code, 1);
    // Without env tokens the token file is used.
    let env = FakeEnv::new(&srv.addr);
    std::fs::write(env.token_file(), "file-tok\n").unwrap();
    assert_eq!(
        cli(&env, &["read", "--address", &srv.addr, "sys/thing"])
            .await
            .code,
        0
    );
    assert_eq!(srv.last().token.as_deref(), Some("file-tok"));
    let env = env.with("VAULT_TOKEN", "env-tok");
    cli(&env, &["read", "sys/thing"]).await;
    assert_eq!(srv.last().token.as_deref(), Some("env-tok"));
}

#[tokio::test]
async fn api_errors_and_exit_codes() {
    let srv = server().await;
    let env = FakeEnv::new(&srv.addr);
    let o = cli(&env, &["read", "forbidden"]).await;
    assert_eq!(o.code, 1);
    assert_eq!(
        o.err,
        format!(
            "Error reading forbidden: Error making API request.\n\nURL: GET {}/v1/forbidden\nCode: 403. Errors:\n\n* permission denied\n",
            srv.addr
        )
    );
    let o = cli(&env, &["read", "missing"]).await;
    assert_eq!((o.code, o.err.as_str()), (2, "No value found at missing\n"));
    let o = cli(&env, &["frobnicate"]).await;
    assert_eq!(o.code, 127);
    assert!(o.err.contains("Usage: vault <command>"));
    assert_eq!(cli(&env, &[]).await.code, 127);
    assert_eq!(cli(&env, &["-h"]).await.code, 0);
    assert_eq!(cli(&env, &["kv", "bogus"]).await.code, 127);
    let o = cli(&env, &["kv", "get", "-h"]).await;
    assert_eq!(o.code, 0);
    assert!(o.out.contains("Usage: vault kv"));
    let o = cli(&env, &["read", "-nope", "x"]).await;
    assert_eq!(o.code, 2);
    assert!(o.err.contains("flag provided but not defined: -nope"));
    assert_eq!(cli(&env, &["read", "-format=yaml", "x"]).await.code, 2);
    let o = cli(&env, &["version"]).await;
    assert!(o.out.starts_with("Tresor v"));
    assert!(srv.seen().iter().all(|s| s.path != "/v1/x"));
}

#[tokio::test]
async fn generic_read_write_list_delete() {
    let srv = server().await;
    let env = FakeEnv::new(&srv.addr);
    let o = cli(&env, &["read", "sys/thing"]).await;
    assert_eq!(
        o.out,
        "Key    Value\n---    -----\na      1\nb      [1 2]\n"
    );
    let o = cli(&env, &["read", "-field=a", "sys/thing"]).await;
    assert_eq!(o.out, "1");
    let o = cli(&env, &["write", "secret/x", "a=b"]).await;
    assert_eq!(
        (o.code, o.out.as_str()),
        (0, "Success! Data written to: secret/x\n")
    );
    assert_eq!(
        (srv.last().method.as_str(), srv.last().body.clone()),
        ("PUT", Some(json!({"a": "b"})))
    );
    let o = cli(
        &env,
        &[
            "write",
            "-field=ciphertext",
            "transit/encrypt/k",
            "plaintext=aGk=",
        ],
    )
    .await;
    assert_eq!(o.out, "vault:v1:xx");
    let before = srv.seen().len();
    assert_eq!(cli(&env, &["write", "sys/rotate"]).await.code, 2);
    assert_eq!(srv.seen().len(), before);
    assert_eq!(cli(&env, &["write", "-force", "sys/rotate"]).await.code, 0);
    assert_eq!(srv.last().body, Some(json!({})));
    let env2 = FakeEnv::new(&srv.addr).stdin("{\"k\": \"v\", \"n\": 2}");
    cli(&env2, &["write", "secret/y", "-"]).await;
    assert_eq!(srv.last().body, Some(json!({"k": "v", "n": 2})));
    let o = cli(&env, &["list", "sys/policies/acl"]).await;
    assert_eq!(o.out, "Keys\n----\ndefault\ndev\nroot\n");
    assert_eq!(srv.last().query, "list=true");
    let o = cli(&env, &["delete", "secret/x"]).await;
    assert_eq!(
        o.out,
        "Success! Data deleted (if it existed) at: secret/x\n"
    );
    assert_eq!(srv.last().method, "DELETE");
}

#[tokio::test]
async fn login_stores_token_file_only_after_verification() {
    let srv = server().await;
    let env = FakeEnv::new(&srv.addr);
    let o = cli(&env, &["login", "bad"]).await;
    assert_eq!(o.code, 1);
    assert!(!env.token_file().exists());
    let o = cli(&env, &["login", "good"]).await;
    assert_eq!(o.code, 0, "{}", o.err);
    assert_eq!(srv.last().path, "/v1/auth/token/lookup-self");
    assert_eq!(srv.last().token.as_deref(), Some("good"));
    assert_eq!(std::fs::read_to_string(env.token_file()).unwrap(), "good");
    assert!(o.out.contains("token_accessor       acc1"), "{}", o.out);
    assert!(o.out.contains(r#"["default" "dev"]"#), "{}", o.out);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(env.token_file())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Later commands pick it up.
    cli(&env, &["read", "sys/thing"]).await;
    assert_eq!(srv.last().token.as_deref(), Some("good"));
    // Token from stdin, -method other than token rejected.
    let env2 = FakeEnv::new(&srv.addr).stdin("good\n");
    assert_eq!(cli(&env2, &["login", "-no-store"]).await.code, 0);
    assert!(!env2.token_file().exists());
    assert_eq!(
        cli(&env2, &["login", "-method=userpass", "x"]).await.code,
        2
    );
}

#[tokio::test]
async fn token_commands() {
    let srv = server().await;
    let env = FakeEnv::new(&srv.addr).with("VAULT_TOKEN", "root");
    let o = cli(
        &env,
        &[
            "token",
            "create",
            "-policy=web",
            "-policy",
            "db,ops",
            "-ttl=1h",
            "-explicit-max-ttl=2h",
            "-period=30m",
            "-use-limit=3",
            "-orphan",
            "-display-name=ci",
            "-metadata=app=x",
            "-metadata",
            "team=y",
            "-renewable=false",
            "-id=custom",
            "-no-default-policy",
        ],
    )
    .await;
    assert_eq!(o.code, 0, "{}", o.err);
    let l = srv.last();
    assert_eq!(l.path, "/v1/auth/token/create");
    assert_eq!(
        l.body,
        Some(
            json!({"policies":["web","db","ops"],"ttl":"1h","explicit_max_ttl":"2h",
        "period":"30m","num_uses":3,"no_parent":true,"display_name":"ci","meta":{"app":"x","team":"y"},
        "renewable":false,"id":"custom","no_default_policy":true})
        )
    );
    assert!(o.out.contains("token                s.new"), "{}", o.out);
    assert!(o.out.contains("token_duration       768h"), "{}", o.out);
    assert!(o.out.contains("token_meta_app       x"), "{}", o.out);
    let o = cli(&env, &["token", "create", "-field=token"]).await;
    assert_eq!(o.out, "s.new");
    let o = cli(&env, &["token", "create", "-format=json"]).await;
    let v: Value = serde_json::from_str(&o.out).unwrap();
    assert_eq!(v["auth"]["client_token"], "s.new");
    assert_eq!(cli(&env, &["token", "create", "-ttl=soon"]).await.code, 2);

    cli(&env, &["token", "lookup"]).await;
    assert_eq!(srv.last().path, "/v1/auth/token/lookup-self");
    cli(&env, &["token", "lookup", "s.other"]).await;
    assert_eq!(
        (srv.last().path.as_str(), srv.last().body.clone()),
        ("/v1/auth/token/lookup", Some(json!({"token":"s.other"})))
    );
    cli(&env, &["token", "lookup", "-accessor", "acc9"]).await;
    assert_eq!(
        (srv.last().path.as_str(), srv.last().body.clone()),
        (
            "/v1/auth/token/lookup-accessor",
            Some(json!({"accessor":"acc9"}))
        )
    );
    cli(&env, &["token", "renew", "-increment=1h"]).await;
    assert_eq!(
        (srv.last().path.as_str(), srv.last().body.clone()),
        ("/v1/auth/token/renew-self", Some(json!({"increment":"1h"})))
    );
    cli(&env, &["token", "renew", "s.x"]).await;
    assert_eq!(
        (srv.last().path.as_str(), srv.last().body.clone()),
        ("/v1/auth/token/renew", Some(json!({"token":"s.x"})))
    );
    let o = cli(&env, &["token", "revoke", "-mode=orphan", "s.x"]).await;
    assert_eq!(
        (o.code, o.out.as_str()),
        (0, "Success! Revoked token (if it existed)\n")
    );
    assert_eq!(srv.last().path, "/v1/auth/token/revoke-orphan");
    cli(&env, &["token", "revoke", "-self"]).await;
    assert_eq!(srv.last().path, "/v1/auth/token/revoke-self");
    cli(&env, &["token", "revoke", "-accessor", "acc9"]).await;
    assert_eq!(
        (srv.last().path.as_str(), srv.last().body.clone()),
        (
            "/v1/auth/token/revoke-accessor",
            Some(json!({"accessor":"acc9"}))
        )
    );
    cli(&env, &["token", "revoke", "s.y"]).await;
    assert_eq!(srv.last().path, "/v1/auth/token/revoke");
    assert_eq!(cli(&env, &["token", "revoke"]).await.code, 2);
}

#[tokio::test]
async fn policy_commands() {
    let srv = server().await;
    let env = FakeEnv::new(&srv.addr);
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("p.hcl");
    std::fs::write(&f, "path \"a/*\" {\ncapabilities=[\"read\",\"list\"]\n}\n").unwrap();
    let o = cli(&env, &["policy", "write", "Dev", f.to_str().unwrap()]).await;
    assert_eq!(
        (o.code, o.out.as_str()),
        (0, "Success! Uploaded policy: dev\n")
    );
    let l = srv.last();
    assert_eq!(
        (l.method.as_str(), l.path.as_str()),
        ("PUT", "/v1/sys/policies/acl/dev")
    );
    assert_eq!(
        l.body.unwrap()["policy"],
        std::fs::read_to_string(&f).unwrap()
    );
    let env2 = FakeEnv::new(&srv.addr).stdin("path \"x\" { capabilities = [\"deny\"] }");
    cli(&env2, &["policy", "write", "p2", "-"]).await;
    assert_eq!(
        srv.last().body.unwrap()["policy"],
        "path \"x\" { capabilities = [\"deny\"] }"
    );
    let o = cli(&env, &["policy", "read", "dev"]).await;
    assert_eq!(
        o.out,
        "path \"secret/*\" {\n  capabilities = [\"read\"]\n}\n"
    );
    assert_eq!(cli(&env, &["policy", "read", "nope"]).await.code, 2);
    let o = cli(&env, &["policy", "list"]).await;
    assert_eq!(o.out, "default\ndev\nroot\n");
    let o = cli(&env, &["policy", "delete", "dev"]).await;
    assert_eq!(o.out, "Success! Deleted policy: dev\n");
    assert_eq!(srv.last().method, "DELETE");
    let before = srv.seen().len();
    let o = cli(&env, &["policy", "fmt", f.to_str().unwrap()]).await;
    assert_eq!(o.code, 0, "{}", o.err);
    assert_eq!(srv.seen().len(), before);
    assert_eq!(
        std::fs::read_to_string(&f).unwrap(),
        "path \"a/*\" {\n  capabilities = [\"read\", \"list\"]\n}\n"
    );
    std::fs::write(&f, "path {").unwrap();
    assert_eq!(
        cli(&env, &["policy", "fmt", f.to_str().unwrap()])
            .await
            .code,
        1
    );
}

#[tokio::test]
async fn secrets_commands() {
    let srv = server().await;
    let env = FakeEnv::new(&srv.addr);
    let o = cli(
        &env,
        &[
            "secrets",
            "enable",
            "-path=kv2",
            "-description=team kv",
            "-default-lease-ttl=1h",
            "-options=foo=bar",
            "kv-v2",
        ],
    )
    .await;
    assert_eq!(
        (o.code, o.out.as_str()),
        (0, "Success! Enabled the kv secrets engine at: kv2/\n")
    );
    let l = srv.last();
    assert_eq!(
        (l.method.as_str(), l.path.as_str()),
        ("POST", "/v1/sys/mounts/kv2")
    );
    assert_eq!(
        l.body,
        Some(
            json!({"type":"kv","description":"team kv","config":{"default_lease_ttl":"1h"},
        "options":{"foo":"bar","version":"2"}})
        )
    );
    cli(&env, &["secrets", "enable", "-version=2", "kv"]).await;
    assert_eq!(srv.last().path, "/v1/sys/mounts/kv");
    assert_eq!(srv.last().body.unwrap()["options"], json!({"version": "2"}));
    let o = cli(&env, &["secrets", "list"]).await;
    assert_eq!(
        o.out,
        "Path       Type      Accessor    Description\n\
                       ----       ----      --------    -----------\n\
                       secret/    kv        kv_1        n/a\n\
                       sys/       system    system_1    system endpoints\n"
    );
    let o = cli(&env, &["secrets", "list", "-detailed"]).await;
    assert!(
        o.out.contains("Default TTL") && o.out.contains("map[version:2]"),
        "{}",
        o.out
    );
    cli(&env, &["secrets", "tune", "-max-lease-ttl=2h", "secret"]).await;
    assert_eq!(
        (srv.last().path.as_str(), srv.last().body.clone()),
        (
            "/v1/sys/mounts/secret/tune",
            Some(json!({"max_lease_ttl":"2h"}))
        )
    );
    let o = cli(&env, &["secrets", "move", "secret", "kv-old"]).await;
    assert!(o.out.contains("mig-1"));
    assert_eq!(
        srv.last().body,
        Some(json!({"from":"secret/","to":"kv-old/"}))
    );
    let o = cli(&env, &["secrets", "disable", "kv2"]).await;
    assert_eq!(
        o.out,
        "Success! Disabled the secrets engine (if it existed) at: kv2/\n"
    );
    assert_eq!(
        (srv.last().method.as_str(), srv.last().path.as_str()),
        ("DELETE", "/v1/sys/mounts/kv2")
    );
}

#[tokio::test]
async fn tls_settings_errors_are_reported() {
    let env = FakeEnv::new("https://127.0.0.1:1").with("VAULT_CACERT", "/nonexistent/ca.pem");
    let o = cli(&env, &["status"]).await;
    assert_eq!(o.code, 1);
    assert!(o.err.contains("/nonexistent/ca.pem"), "{}", o.err);
    let env = FakeEnv::new("https://127.0.0.1:1").with("VAULT_CLIENT_CERT", "/x.pem");
    assert_eq!(cli(&env, &["status"]).await.code, 2);
}

#[tokio::test]
async fn login_through_auth_methods_and_auth_commands() {
    let srv = server().await;
    // A login never sends the environment's token.
    let env = FakeEnv::new(&srv.addr).with("VAULT_TOKEN", "root");
    let o = cli(
        &env,
        &[
            "login",
            "-method=userpass",
            "-path=people",
            "username=alice",
            "password=pw",
        ],
    )
    .await;
    assert_eq!(o.code, 0, "{}", o.err);
    let seen = srv.last();
    assert_eq!(seen.path, "/v1/auth/people/login/alice");
    assert_eq!(seen.token, None);
    assert_eq!(seen.body.unwrap(), json!({"password": "pw"}));
    assert_eq!(
        std::fs::read_to_string(env.token_file()).unwrap(),
        "hvs.login"
    );
    assert!(o.out.contains("token_meta_username"), "{}", o.out);

    // No password and no terminal: refused, nothing sent.
    let before = srv.seen().len();
    let o = cli(&env, &["login", "-method=userpass", "username=alice"]).await;
    assert_eq!(o.code, 2, "{}", o.err);
    assert_eq!(srv.seen().len(), before);

    let env2 = FakeEnv::new(&srv.addr);
    let o = cli(
        &env2,
        &[
            "login",
            "-method=approle",
            "-no-store",
            "-token-only",
            "role_id=r",
            "secret_id=s",
        ],
    )
    .await;
    assert_eq!(o.code, 0, "{}", o.err);
    assert_eq!(o.out.trim(), "hvs.login");
    assert_eq!(srv.last().path, "/v1/auth/approle/login");
    assert_eq!(
        srv.last().body.unwrap(),
        json!({"role_id": "r", "secret_id": "s"})
    );
    assert!(!env2.token_file().exists());

    let o = cli(&env, &["auth", "enable", "-path=people", "userpass"]).await;
    assert_eq!(o.code, 0, "{}", o.err);
    assert_eq!(srv.last().path, "/v1/sys/auth/people");
    assert_eq!(srv.last().body.unwrap()["type"], "userpass");
    assert!(
        o.out.contains("Enabled userpass auth method at: people/"),
        "{}",
        o.out
    );
    let o = cli(&env, &["auth", "list"]).await;
    assert!(
        o.out.contains("userpass/") && o.out.contains("auth_userpass_2"),
        "{}",
        o.out
    );
    let o = cli(&env, &["auth", "tune", "-max-lease-ttl=1h", "people"]).await;
    assert_eq!(o.code, 0, "{}", o.err);
    assert_eq!(srv.last().path, "/v1/sys/auth/people/tune");
    let o = cli(&env, &["auth", "disable", "people"]).await;
    assert_eq!(o.code, 0, "{}", o.err);
    assert_eq!(
        (srv.last().method.as_str(), srv.last().path.as_str()),
        ("DELETE", "/v1/sys/auth/people")
    );
}
