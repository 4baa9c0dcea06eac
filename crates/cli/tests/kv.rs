//! `kv` against a fake server: version detection and path rewriting, output formats.

use crate::common;

use common::{FakeEnv, FakeServer, cli, envelope, probe};
use serde_json::{Value, json};

fn v2_secret() -> Value {
    envelope(json!({
        "data": {"password": "hunter2", "user": "bob"},
        "metadata": {"created_time": "2024-01-01T00:00:00Z", "custom_metadata": null,
            "deletion_time": "", "destroyed": false, "version": 3}
    }))
}

/// `secret/` is KV v2, `kv/` is KV v1, anything else 404.
async fn server() -> FakeServer {
    FakeServer::start(|s| {
        let p = s.path.as_str();
        match (s.method.as_str(), p) {
            (_, p) if p.starts_with("/v1/sys/internal/ui/mounts/secret") => (200, Some(probe("secret/", "2"))),
            (_, p) if p.starts_with("/v1/sys/internal/ui/mounts/kv") => (200, Some(probe("kv/", "1"))),
            (_, p) if p.starts_with("/v1/sys/internal/ui/mounts/") => (404, Some(json!({"errors":[]}))),
            ("GET", "/v1/secret/data/foo") => (200, Some(v2_secret())),
            ("GET", "/v1/secret/metadata/dir") | ("GET", "/v1/secret/metadata/dir/") => {
                (200, Some(envelope(json!({"keys": ["a", "b/"]}))))
            }
            ("GET", "/v1/secret/metadata/foo") => (200, Some(envelope(json!({
                "current_version": 2, "max_versions": 0, "cas_required": false,
                "versions": {"1": {"created_time": "t1", "destroyed": false, "deletion_time": ""},
                             "2": {"created_time": "t2", "destroyed": false, "deletion_time": ""}}})))),
            ("POST", "/v1/secret/data/foo") | ("PATCH", "/v1/secret/data/foo") => (200, Some(envelope(json!({
                "created_time": "2024-01-01T00:00:00Z", "custom_metadata": null,
                "deletion_time": "", "destroyed": false, "version": 4})))),
            ("GET", "/v1/kv/foo") => (200, Some(json!({"request_id":"r","lease_id":"","renewable":false,
                "lease_duration":2764800,"data":{"a":"b"},"warnings":null}))),
            ("GET", _) => (404, Some(json!({"errors": []}))),
            ("DELETE", _) | ("PUT", _) | ("POST", _) => (204, None),
            _ => (405, Some(json!({"errors": []}))),
        }
    })
    .await
}

#[tokio::test]
async fn put_v2_with_mount_flag_rewrites_to_data_path() {
    let srv = server().await;
    let env = FakeEnv::new(&srv.addr).with("VAULT_TOKEN", "tok-1");
    let o = cli(
        &env,
        &["kv", "put", "-mount=secret", "foo", "user=bob", "n=1"],
    )
    .await;
    assert_eq!(o.code, 0, "{}", o.err);
    let seen = srv.seen();
    assert_eq!(seen[0].path, "/v1/sys/internal/ui/mounts/secret");
    let put = srv.last();
    assert_eq!(put.method, "POST");
    assert_eq!(put.path, "/v1/secret/data/foo");
    assert_eq!(put.token.as_deref(), Some("tok-1"));
    assert_eq!(put.body, Some(json!({"data": {"user": "bob", "n": "1"}})));
    assert!(o.out.contains("Secret Path"), "{}", o.out);
    assert!(o.out.contains("secret/data/foo"));
    assert!(o.out.contains("version            4"), "{}", o.out);
}

#[tokio::test]
async fn put_v2_full_path_with_cas_double_dash_and_separate_value() {
    let srv = server().await;
    let env = FakeEnv::new(&srv.addr);
    let o = cli(&env, &["kv", "put", "--cas", "2", "secret/foo", "a=b"]).await;
    assert_eq!(o.code, 0, "{}", o.err);
    assert_eq!(srv.seen()[0].path, "/v1/sys/internal/ui/mounts/secret/foo");
    let put = srv.last();
    assert_eq!(put.path, "/v1/secret/data/foo");
    assert_eq!(
        put.body,
        Some(json!({"data": {"a": "b"}, "options": {"cas": 2}}))
    );
    assert_eq!(put.token, None);
}

#[tokio::test]
async fn put_v1_writes_plain_path_and_reads_files_and_stdin() {
    let srv = server().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cert.pem");
    std::fs::write(&file, "FILEDATA").unwrap();
    let env = FakeEnv::new(&srv.addr).stdin("from-stdin");
    let at = format!("cert=@{}", file.display());
    let o = cli(&env, &["kv", "put", "kv/foo", &at, "s=-", "plain=x"]).await;
    assert_eq!(o.code, 0, "{}", o.err);
    let put = srv.last();
    assert_eq!(put.method, "PUT");
    assert_eq!(put.path, "/v1/kv/foo");
    assert_eq!(
        put.body,
        Some(json!({"cert": "FILEDATA", "s": "from-stdin", "plain": "x"}))
    );
    assert_eq!(o.out, "Success! Data written to: kv/foo\n");
}

#[tokio::test]
async fn get_v2_table_json_and_field() {
    let srv = server().await;
    let env = FakeEnv::new(&srv.addr);
    let o = cli(&env, &["kv", "get", "secret/foo"]).await;
    assert_eq!(o.code, 0, "{}", o.err);
    let (meta_at, data_at) = (
        o.out.find(" Metadata ").unwrap(),
        o.out.find(" Data ").unwrap(),
    );
    assert!(o.out.starts_with("=="), "{}", o.out);
    assert!(meta_at < data_at);
    assert!(o.out.contains("password    hunter2"), "{}", o.out);
    assert!(o.out.contains("deletion_time      n/a"), "{}", o.out);

    let o = cli(&env, &["kv", "get", "-field=password", "secret/foo"]).await;
    assert_eq!((o.code, o.out.as_str()), (0, "hunter2"));
    let o = cli(&env, &["kv", "get", "-field=version", "secret/foo"]).await;
    assert_eq!(o.out, "3");
    let o = cli(&env, &["kv", "get", "-field=nope", "secret/foo"]).await;
    assert_eq!(o.code, 1);
    assert!(o.err.contains("nope"));

    let o = cli(&env, &["kv", "get", "-format=json", "secret/foo"]).await;
    let v: Value = serde_json::from_str(&o.out).unwrap();
    assert_eq!(v["data"]["data"]["user"], "bob");
    let env = env.with("VAULT_FORMAT", "json");
    let o = cli(&env, &["kv", "get", "-mount=secret", "foo"]).await;
    let v: Value = serde_json::from_str(&o.out).unwrap();
    assert_eq!(v["data"]["metadata"]["version"], 3);
}

#[tokio::test]
async fn get_version_query_and_not_found_exit_2() {
    let srv = server().await;
    let env = FakeEnv::new(&srv.addr);
    let o = cli(&env, &["kv", "get", "-version=2", "secret/missing"]).await;
    assert_eq!(o.code, 2);
    assert_eq!(o.err, "No value found at secret/data/missing\n");
    let last = srv.last();
    assert_eq!(last.path, "/v1/secret/data/missing");
    assert_eq!(last.query, "version=2");
}

#[tokio::test]
async fn get_v1_shows_refresh_interval() {
    let srv = server().await;
    let env = FakeEnv::new(&srv.addr);
    let o = cli(&env, &["kv", "get", "kv/foo"]).await;
    assert_eq!(o.code, 0, "{}", o.err);
    assert_eq!(
        o.out,
        "Key                 Value\n---                 -----\nrefresh_interval    768h\na                   b\n"
    );
}

#[tokio::test]
async fn list_uses_metadata_and_list_query() {
    let srv = server().await;
    let env = FakeEnv::new(&srv.addr);
    let o = cli(&env, &["kv", "list", "secret/dir"]).await;
    assert_eq!(o.code, 0, "{}", o.err);
    let l = srv.last();
    assert_eq!(
        (l.method.as_str(), l.path.as_str(), l.query.as_str()),
        ("GET", "/v1/secret/metadata/dir", "list=true")
    );
    assert_eq!(o.out, "Keys\n----\na\nb/\n");
    let o = cli(
        &env,
        &["kv", "list", "-format=json", "-mount=secret", "dir/"],
    )
    .await;
    assert_eq!(
        serde_json::from_str::<Value>(&o.out).unwrap(),
        json!(["a", "b/"])
    );
    let o = cli(&env, &["kv", "list", "secret/empty"]).await;
    assert_eq!(o.code, 2);
}

#[tokio::test]
async fn delete_undelete_destroy_and_patch() {
    let srv = server().await;
    let env = FakeEnv::new(&srv.addr);
    let o = cli(&env, &["kv", "delete", "secret/foo"]).await;
    assert_eq!(o.code, 0);
    assert_eq!(
        (srv.last().method.as_str(), srv.last().path.as_str()),
        ("DELETE", "/v1/secret/data/foo")
    );
    assert_eq!(
        o.out,
        "Success! Data deleted (if it existed) at: secret/data/foo\n"
    );

    let o = cli(&env, &["kv", "delete", "-versions=1,2", "secret/foo"]).await;
    assert_eq!(o.code, 0);
    let l = srv.last();
    assert_eq!(
        (l.method.as_str(), l.path.as_str()),
        ("POST", "/v1/secret/delete/foo")
    );
    assert_eq!(l.body, Some(json!({"versions": [1, 2]})));

    let o = cli(&env, &["kv", "undelete", "-versions=3", "secret/foo"]).await;
    assert_eq!(o.code, 0);
    assert_eq!(srv.last().path, "/v1/secret/undelete/foo");
    let o = cli(&env, &["kv", "destroy", "-versions", "4", "secret/foo"]).await;
    assert_eq!(o.code, 0);
    let l = srv.last();
    assert_eq!(
        (l.method.as_str(), l.path.as_str()),
        ("PUT", "/v1/secret/destroy/foo")
    );
    assert_eq!(l.body, Some(json!({"versions": [4]})));
    let before = srv.seen().len();
    let o = cli(&env, &["kv", "destroy", "secret/foo"]).await;
    assert_eq!(o.code, 2);
    assert!(
        srv.seen()[before..]
            .iter()
            .all(|s| s.path.contains("ui/mounts"))
    );

    let o = cli(&env, &["kv", "patch", "secret/foo", "a=c"]).await;
    assert_eq!(o.code, 0, "{}", o.err);
    let l = srv.last();
    assert_eq!(
        (l.method.as_str(), l.path.as_str()),
        ("PATCH", "/v1/secret/data/foo")
    );
    assert_eq!(
        l.content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    let o = cli(&env, &["kv", "patch", "kv/foo", "a=c"]).await;
    assert_eq!(o.code, 2);

    let o = cli(&env, &["kv", "delete", "kv/foo"]).await;
    assert_eq!(o.code, 0);
    assert_eq!(srv.last().path, "/v1/kv/foo");
}

#[tokio::test]
async fn metadata_commands() {
    let srv = server().await;
    let env = FakeEnv::new(&srv.addr);
    let o = cli(&env, &["kv", "metadata", "get", "secret/foo"]).await;
    assert_eq!(o.code, 0, "{}", o.err);
    assert!(o.out.contains("secret/metadata/foo"));
    let (v1, v2) = (
        o.out.find("Version 1").unwrap(),
        o.out.find("Version 2").unwrap(),
    );
    assert!(v1 < v2);
    assert!(o.out.contains("current_version    2"), "{}", o.out);

    let o = cli(
        &env,
        &[
            "kv",
            "metadata",
            "put",
            "-max-versions=5",
            "-cas-required=true",
            "-delete-version-after=1h",
            "-custom-metadata=team=a",
            "-mount=secret",
            "foo",
        ],
    )
    .await;
    assert_eq!(o.code, 0, "{}", o.err);
    let l = srv.last();
    assert_eq!(
        (l.method.as_str(), l.path.as_str()),
        ("POST", "/v1/secret/metadata/foo")
    );
    assert_eq!(
        l.body,
        Some(json!({"max_versions": 5, "cas_required": true,
        "delete_version_after": "1h", "custom_metadata": {"team": "a"}}))
    );

    let o = cli(&env, &["kv", "metadata", "delete", "secret/foo"]).await;
    assert_eq!(o.code, 0);
    assert_eq!(
        (srv.last().method.as_str(), srv.last().path.as_str()),
        ("DELETE", "/v1/secret/metadata/foo")
    );
    let o = cli(&env, &["kv", "metadata", "get", "kv/foo"]).await;
    assert_eq!(o.code, 1);
}

#[tokio::test]
async fn flags_after_positionals_are_not_flags() {
    let srv = server().await;
    let env = FakeEnv::new(&srv.addr);
    let o = cli(&env, &["kv", "get", "foo", "-mount=secret"]).await;
    assert_eq!(o.code, 2);
    assert!(o.err.contains("-mount=secret"), "{}", o.err);
    assert!(srv.seen().is_empty());
    // For put, a late flag is taken as data and rejected as not K=V... unless it has '='.
    let o = cli(&env, &["kv", "put", "secret/foo", "a=b", "-cas"]).await;
    assert_eq!(o.code, 2);
}

#[tokio::test]
async fn probe_permission_denied_is_an_error() {
    let srv = FakeServer::start(|_| (403, Some(json!({"errors": ["permission denied"]})))).await;
    let env = FakeEnv::new(&srv.addr);
    let o = cli(&env, &["kv", "get", "secret/foo"]).await;
    assert_eq!(o.code, 1);
    assert!(
        o.err.contains("Code: 403. Errors:\n\n* permission denied"),
        "{}",
        o.err
    );
    assert_eq!(srv.seen().len(), 1);
}
