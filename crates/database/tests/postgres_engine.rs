//! The database engine against a real PostgreSQL (started by `tresor_testkit::postgres`):
//! connection config, dynamic credentials that log in and expire as leased, renewal,
//! revocation (also while the database is down), root rotation, static roles and SCRAM mode.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use tokio_postgres::{Client, NoTls};
use tresor_database::Database;
use tresor_sdk::{
    Auth, LogicalBackend, LogicalError, MountInfo, Operation, Request, Response, Secret,
};
use tresor_storage::{InMemBackend, View};
use tresor_testkit::postgres::{Postgres, SUPERUSER};

/// The engine's root user (not the harness's superuser, so rotating it leaves the harness's
/// own connection working).
const ROOT: &str = "tresorroot";
const ROOT_PW: &str = "initial-root-pw";

const CREATE: &str = r#"CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'; GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}";"#;

struct Env {
    pg: Postgres,
    db: Arc<Database>,
    view: View,
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

async fn connect(pg: &Postgres, user: &str, pw: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(&pg.url(user, pw), NoTls).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

async fn admin(pg: &Postgres) -> Client {
    connect(pg, SUPERUSER, pg.password()).await.unwrap()
}

impl Env {
    /// A PostgreSQL with a superuser `tresorroot`, and a fresh engine.
    async fn start() -> Env {
        let pg = tokio::task::block_in_place(Postgres::start);
        admin(&pg)
            .await
            .batch_execute(&format!(
                "CREATE ROLE {ROOT} WITH SUPERUSER LOGIN PASSWORD '{ROOT_PW}'; \
                 CREATE TABLE public.things (id int); INSERT INTO public.things VALUES (1);"
            ))
            .await
            .unwrap();
        Env {
            pg,
            db: Arc::new(Database::new()),
            view: View::new(Arc::new(InMemBackend::new()), "logical/db/"),
        }
    }

    fn request(&self, op: Operation, path: &str, data: Value) -> Request {
        let mut r = Request::new(op, path, self.view.clone()).with_data(obj(data));
        r.mount = MountInfo {
            path: "database/".into(),
            kind: "database".into(),
            default_lease_ttl: 3600,
            max_lease_ttl: 86400,
            ..MountInfo::default()
        };
        r.auth = Auth {
            display_name: "token".into(),
            ..Auth::default()
        };
        r
    }

    async fn call(
        &self,
        op: Operation,
        path: &str,
        data: Value,
    ) -> Result<Option<Response>, LogicalError> {
        self.db.handle(&self.request(op, path, data)).await
    }

    async fn write(&self, path: &str, data: Value) -> Result<Option<Response>, LogicalError> {
        self.call(Operation::Update, path, data).await
    }

    async fn read(&self, path: &str) -> Map<String, Value> {
        self.call(Operation::Read, path, json!({}))
            .await
            .unwrap()
            .unwrap()
            .data
            .unwrap()
    }

    async fn configure(&self, extra: Value) {
        let mut data = obj(json!({
            "plugin_name": "postgresql-database-plugin",
            "connection_url": format!("postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{}/postgres?sslmode=disable", self.pg.port()),
            "username": ROOT,
            "password": ROOT_PW,
            "allowed_roles": "*",
        }));
        data.extend(obj(extra));
        self.write("config/pg", Value::Object(data)).await.unwrap();
    }

    async fn creds(&self, role: &str) -> (String, String, Secret) {
        let resp = self
            .call(Operation::Read, &format!("creds/{role}"), json!({}))
            .await
            .unwrap()
            .unwrap();
        let data = resp.data.unwrap();
        (
            data["username"].as_str().unwrap().to_owned(),
            data["password"].as_str().unwrap().to_owned(),
            *resp.secret.unwrap(),
        )
    }

    async fn lease_op(
        &self,
        op: Operation,
        secret: &Secret,
        data: Value,
    ) -> Result<Option<Response>, LogicalError> {
        let mut r = self.request(op, "creds/ro", data);
        r.secret = Some(secret.clone());
        self.db.handle(&r).await
    }

    async fn role_exists(&self, name: &str) -> bool {
        admin(&self.pg)
            .await
            .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&name])
            .await
            .unwrap()
            .is_some()
    }
}

async fn valid_until(pg: &Postgres, user: &str) -> i64 {
    admin(pg)
        .await
        .query_one(
            "SELECT extract(epoch FROM rolvaliduntil)::bigint FROM pg_roles WHERE rolname = $1",
            &[&user],
        )
        .await
        .unwrap()
        .get::<_, i64>(0)
}

/// `n` credentials requested at once: their usernames and lease secrets.
async fn concurrent_creds(env: &Env, n: usize) -> Vec<(String, Secret)> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let db = env.db.clone();
        let req = env.request(Operation::Read, "creds/ro", json!({}));
        set.spawn(async move { db.handle(&req).await });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        let resp = r.unwrap().unwrap().unwrap();
        let user = resp.data.unwrap()["username"].as_str().unwrap().to_owned();
        out.push((user, *resp.secret.unwrap()));
    }
    out
}

/// Revokes `secrets` at once, as a prefix revocation would.
async fn concurrent_revoke(env: &Env, secrets: Vec<Secret>) {
    let mut set = tokio::task::JoinSet::new();
    for secret in secrets {
        let db = env.db.clone();
        let mut req = env.request(Operation::Revoke, "creds/ro", json!({}));
        req.secret = Some(secret);
        set.spawn(async move { db.handle(&req).await });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap().unwrap();
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_verifies_hides_password_and_refuses_other_plugins() {
    let env = Env::start().await;
    // verify_connection (default true) with a wrong password: 400, nothing stored.
    let err = env
        .write(
            "config/pg",
            json!({"plugin_name": "postgresql-database-plugin",
                   "connection_url": env.pg.url(ROOT, "wrong"), "allowed_roles": "*"}),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, LogicalError::InvalidRequest(ref m)
            if m.contains("verifying") && m.contains("password authentication failed")),
        "{err}"
    );
    assert!(
        env.call(Operation::Read, "config/pg", json!({}))
            .await
            .unwrap()
            .is_none()
    );
    // Without verification the same config is stored.
    env.write(
        "config/later",
        json!({"plugin_name": "postgresql-database-plugin",
               "connection_url": env.pg.url(ROOT, "wrong"), "verify_connection": false}),
    )
    .await
    .unwrap();
    let err = env
        .write(
            "config/my",
            json!({"plugin_name": "mysql-database-plugin", "connection_url": "x"}),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, LogicalError::InvalidRequest(_)), "{err}");
    env.configure(json!({})).await;
    let read = env.read("config/pg").await;
    assert_eq!(read["plugin_name"], "postgresql-database-plugin");
    assert_eq!(read["connection_details"]["username"], ROOT);
    assert!(
        !Value::Object(read.clone()).to_string().contains(ROOT_PW),
        "{read:?}"
    );
    assert_eq!(read["verify_connection"], true);
    let list = env
        .call(Operation::List, "config/", json!({}))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(list.data.unwrap()["keys"], json!(["later", "pg"]));
    // An unknown template function is refused at config time.
    let err = env
        .write(
            "config/pg",
            json!({"username_template": "{{ nosuch .RoleName }}"}),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, LogicalError::InvalidRequest(ref m) if m.contains("nosuch")),
        "{err}"
    );
    env.write("config/pg", json!({})).await.unwrap(); // merge: the stored config still verifies
    env.call(Operation::Delete, "config/later", json!({}))
        .await
        .unwrap();
    env.write("reset/pg", json!({})).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creds_log_in_expire_as_leased_renew_and_revoke() {
    let env = Env::start().await;
    env.configure(json!({})).await;
    env.write(
        "roles/ro",
        json!({"db_name": "pg", "creation_statements": [CREATE], "default_ttl": "1h", "max_ttl": "24h"}),
    )
    .await
    .unwrap();
    assert_eq!(env.read("roles/ro").await["default_ttl"], 3600);
    // allowed_roles is enforced
    env.write("config/pg", json!({"allowed_roles": "other"}))
        .await
        .unwrap();
    assert!(
        env.call(Operation::Read, "creds/ro", json!({}))
            .await
            .is_err()
    );
    env.write("config/pg", json!({"allowed_roles": ["ro"]}))
        .await
        .unwrap();

    let before = now();
    let (user, pw, secret) = env.creds("ro").await;
    let after = now();
    assert!(user.starts_with("v-token-ro-"), "{user}");
    assert!(user.len() <= 63);
    assert!(pw.len() >= 20);
    assert_eq!(
        (secret.ttl, secret.max_ttl, secret.renewable),
        (3600, 86400, true)
    );
    assert_eq!(secret.internal["username"], user.as_str());
    assert_eq!(secret.internal["role"], "ro");
    assert_eq!(secret.internal["db_name"], "pg");

    let client = connect(&env.pg, &user, &pw)
        .await
        .expect("the new user logs in");
    let n: i32 = client
        .query_one("SELECT id FROM things", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
    drop(client);
    let until = valid_until(&env.pg, &user).await;
    assert!(
        (before + 3600..=after + 3600).contains(&until),
        "{before} {until} {after}"
    );

    // Renew with an increment moves VALID UNTIL.
    let before = now();
    let renewed = env
        .lease_op(Operation::Renew, &secret, json!({"increment": 7200}))
        .await
        .unwrap()
        .unwrap();
    let after = now();
    let s = renewed.secret.unwrap();
    assert_eq!(s.ttl, 7200);
    assert_eq!(s.internal, secret.internal);
    let until = valid_until(&env.pg, &user).await;
    assert!(
        (before + 7200..=after + 7200).contains(&until),
        "{before} {until} {after}"
    );

    // Revoke drops it: no login, no role; revoking again succeeds.
    env.lease_op(Operation::Revoke, &secret, json!({}))
        .await
        .unwrap();
    assert!(!env.role_exists(&user).await);
    assert!(connect(&env.pg, &user, &pw).await.is_err());
    env.lease_op(Operation::Revoke, &secret, json!({}))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_fails_while_the_database_is_down_and_succeeds_when_back() {
    let mut env = Env::start().await;
    env.configure(json!({})).await;
    env.write(
        "roles/ro",
        json!({"db_name": "pg", "creation_statements": CREATE}),
    )
    .await
    .unwrap();
    let (user, _pw, secret) = env.creds("ro").await;
    // The role is deleted before its lease is revoked: its revocation still works.
    env.call(Operation::Delete, "roles/ro", json!({}))
        .await
        .unwrap();

    tokio::task::block_in_place(|| env.pg.stop());
    let err = env
        .lease_op(Operation::Revoke, &secret, json!({}))
        .await
        .unwrap_err();
    assert!(matches!(err, LogicalError::Internal(_)), "{err}");
    tokio::task::block_in_place(|| env.pg.start_again());
    // The pool may still hold a connection that died with the server: within a few tries the
    // revocation goes through, as the expiration manager's retries would.
    let mut last = None;
    for _ in 0..3 {
        match env.lease_op(Operation::Revoke, &secret, json!({})).await {
            Ok(_) => {
                last = None;
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    assert!(last.is_none(), "{last:?}");
    assert!(!env.role_exists(&user).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_root_changes_the_root_password() {
    let env = Env::start().await;
    env.configure(json!({"max_open_connections": 2})).await;
    env.write(
        "roles/ro",
        json!({"db_name": "pg", "creation_statements": CREATE}),
    )
    .await
    .unwrap();
    env.creds("ro").await;
    env.write("rotate-root/pg", json!({})).await.unwrap();
    assert!(
        connect(&env.pg, ROOT, ROOT_PW).await.is_err(),
        "the old root password still works"
    );
    // The engine still creates credentials with the new one, which only it knows.
    let (user, pw, _) = env.creds("ro").await;
    connect(&env.pg, &user, &pw).await.unwrap();
    assert!(
        !Value::Object(env.read("config/pg").await)
            .to_string()
            .contains(ROOT_PW)
    );
    // And rotates again.
    env.write("rotate-root/pg", json!({})).await.unwrap();
    env.creds("ro").await;
    assert!(env.db.root_paths().contains(&"rotate-root/*".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_roles_rotate_on_demand_and_when_due() {
    let env = Env::start().await;
    env.configure(json!({})).await;
    admin(&env.pg)
        .await
        .batch_execute("CREATE ROLE app WITH LOGIN PASSWORD 'app-initial'")
        .await
        .unwrap();
    env.write(
        "static-roles/app",
        json!({"db_name": "pg", "username": "app", "rotation_period": "1h"}),
    )
    .await
    .unwrap();
    // Creation rotates at once: the engine owns the password.
    assert!(connect(&env.pg, "app", "app-initial").await.is_err());
    let c1 = env.read("static-creds/app").await;
    assert_eq!(c1["username"], "app");
    assert_eq!(c1["rotation_period"], 3600);
    assert!(c1["ttl"].as_u64().unwrap() <= 3600 && c1["ttl"].as_u64().unwrap() > 3500);
    assert!(!c1["last_vault_rotation"].as_str().unwrap().is_empty());
    let pw1 = c1["password"].as_str().unwrap().to_owned();
    connect(&env.pg, "app", &pw1).await.unwrap();
    let role = env.read("static-roles/app").await;
    assert!(role.get("password").is_none());

    env.write("rotate-role/app", json!({})).await.unwrap();
    let pw2 = env.read("static-creds/app").await["password"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(pw1, pw2);
    assert!(connect(&env.pg, "app", &pw1).await.is_err());
    connect(&env.pg, "app", &pw2).await.unwrap();

    // Not due: the periodic hook leaves it alone.
    env.db
        .periodic(&env.view, &MountInfo::default())
        .await
        .unwrap();
    assert_eq!(env.read("static-creds/app").await["password"], pw2.as_str());
    // Due (shortest period): the periodic hook rotates it once the period has passed.
    env.write("static-roles/app", json!({"rotation_period": 5}))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let pw3 = loop {
        env.db
            .periodic(&env.view, &MountInfo::default())
            .await
            .unwrap();
        let pw = env.read("static-creds/app").await["password"]
            .as_str()
            .unwrap()
            .to_owned();
        if pw != pw2 {
            break pw;
        }
        assert!(Instant::now() < deadline, "no rotation within 30s");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(connect(&env.pg, "app", &pw2).await.is_err());
    connect(&env.pg, "app", &pw3).await.unwrap();
    // The username is fixed.
    assert!(
        env.write("static-roles/app", json!({"username": "other"}))
            .await
            .is_err()
    );
    let list = env
        .call(Operation::List, "static-roles/", json!({}))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(list.data.unwrap()["keys"], json!(["app"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_mode_sends_only_verifiers_and_templates_apply() {
    let env = Env::start().await;
    env.configure(json!({
        "password_authentication": "scram-sha-256",
        "username_template": "{{ printf \"app_%s_%s\" .RoleName (random 6) | lowercase }}",
    }))
    .await;
    admin(&env.pg)
        .await
        .batch_execute("CREATE TABLE public.seen (p text); GRANT ALL ON public.seen TO PUBLIC;")
        .await
        .unwrap();
    let create = format!("{CREATE} INSERT INTO public.seen VALUES ('{{{{password}}}}');");
    env.write(
        "roles/Scram",
        json!({"db_name": "pg", "creation_statements": create}),
    )
    .await
    .unwrap();
    let (user, pw, _) = env.creds("Scram").await;
    assert!(
        user.starts_with("app_scram_") && user.len() == "app_scram_".len() + 6,
        "{user}"
    );
    connect(&env.pg, &user, &pw)
        .await
        .expect("SCRAM-created user logs in");
    let seen: String = admin(&env.pg)
        .await
        .query_one("SELECT p FROM public.seen", &[])
        .await
        .unwrap()
        .get(0);
    assert!(seen.starts_with("SCRAM-SHA-256$4096:"), "{seen}");
    assert!(!seen.contains(&pw));
    // Root rotation in SCRAM mode too.
    env.write("rotate-root/pg", json!({})).await.unwrap();
    assert!(connect(&env.pg, ROOT, ROOT_PW).await.is_err());
    env.creds("Scram").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_is_bounded_and_connections_close_when_the_backend_is_dropped() {
    let env = Env::start().await;
    env.configure(json!({"max_open_connections": 2})).await;
    env.write(
        "roles/ro",
        json!({"db_name": "pg", "creation_statements": CREATE}),
    )
    .await
    .unwrap();
    // Ten concurrent requests (their GRANTs race on the same tables) share at most two
    // connections, and so do their concurrent revocations.
    let issued = concurrent_creds(&env, 10).await;
    let users: std::collections::BTreeSet<String> = issued.iter().map(|(u, _)| u.clone()).collect();
    assert_eq!(users.len(), 10);
    let idle = env.db.idle_connections("pg");
    assert!((1..=2).contains(&idle), "{idle} idle connections");
    concurrent_revoke(&env, issued.into_iter().map(|(_, s)| s).collect()).await;
    for user in &users {
        assert!(
            !env.role_exists(user).await,
            "{user} survived its revocation"
        );
    }
    env.creds("ro").await;
    let count = |pg: &Postgres| {
        let url = pg.url(SUPERUSER, pg.password());
        async move {
            let (c, conn) = tokio_postgres::connect(&url, NoTls).await.unwrap();
            tokio::spawn(async move {
                let _ = conn.await;
            });
            c.query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'tresor-database'",
                &[],
            )
            .await
            .unwrap()
            .get::<_, i64>(0)
        }
    };
    let open = count(&env.pg).await;
    assert!((1..=2).contains(&open), "{open} engine connections open");
    let Env { pg, db, .. } = env;
    drop(db);
    let deadline = Instant::now() + Duration::from_secs(20);
    while count(&pg).await > 0 {
        assert!(
            Instant::now() < deadline,
            "connections still open after the backend was dropped"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
