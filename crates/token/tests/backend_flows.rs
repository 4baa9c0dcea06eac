//! End-to-end flows through the `auth/token/` backend over an in-memory store.
#![allow(clippy::unwrap_used)] // test helpers may unwrap, like the tests themselves

use std::sync::Arc;

use serde_json::{Value, json};
use tresor_sdk::{LogicalBackend, LogicalError, Operation, Request, Response};
use tresor_storage::{Backend, InMemBackend, View};
use tresor_token::{AccessorEntry, ManualClock, TokenBackend, TokenEntry, TokenStore, TtlLimits};

const START: u64 = 1_700_000_000;

struct Env {
    backend: TokenBackend,
    store: Arc<TokenStore>,
    clock: Arc<ManualClock>,
    inner: Arc<InMemBackend>,
    view: View,
    root: TokenEntry,
}

async fn env() -> Env {
    let inner = Arc::new(InMemBackend::new());
    let view = View::new(inner.clone(), "sys/token/");
    let clock = Arc::new(ManualClock::new(START));
    let store = Arc::new(TokenStore::with_clock(
        view.clone(),
        TtlLimits {
            default_lease_ttl: 3600,
            max_lease_ttl: 86400,
        },
        clock.clone(),
    ));
    let root = store.create_root(None).await.unwrap();
    Env {
        backend: TokenBackend::new(store.clone()),
        store,
        clock,
        inner,
        view,
        root,
    }
}

impl Env {
    async fn call(
        &self,
        op: Operation,
        path: &str,
        data: Value,
        caller: &TokenEntry,
    ) -> Result<Option<Response>, LogicalError> {
        let mut req = Request::new(op, path, self.view.clone());
        req.data = data.as_object().cloned().unwrap_or_default();
        req.auth = caller.auth();
        self.backend.handle(&req).await
    }

    async fn ok(&self, op: Operation, path: &str, data: Value, caller: &TokenEntry) -> Response {
        self.call(op, path, data, caller)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .unwrap_or_else(|| panic!("{path}: no response"))
    }

    /// Creates a token as `caller` and returns its stored entry.
    async fn create(&self, path: &str, data: Value, caller: &TokenEntry) -> TokenEntry {
        let resp = self.ok(Operation::Update, path, data, caller).await;
        let auth = resp.auth.expect("auth block");
        self.store
            .lookup(&auth.client_token)
            .await
            .unwrap()
            .unwrap()
    }

    async fn alive(&self, token: &str) -> bool {
        self.store.lookup(token).await.unwrap().is_some()
    }
}

#[tokio::test]
async fn root_token_shape() {
    let env = env().await;
    assert_eq!(env.root.id.len(), 28);
    assert!(env.root.id.starts_with("hvs."));
    assert!(env.root.is_root());
    assert_eq!(env.root.expire_time, None);
    assert_eq!(env.root.display_name, "root");
    assert_eq!(env.root.path, "auth/token/root");
    let fixed = env.store.create_root(Some("dev-root")).await.unwrap();
    assert_eq!(fixed.id, "dev-root");
    assert!(env.alive("dev-root").await);
    // Same id twice is refused.
    assert!(env.store.create_root(Some("dev-root")).await.is_err());
}

#[tokio::test]
async fn create_lookup_renew_revoke() {
    let env = env().await;
    let resp = env
        .ok(
            Operation::Update,
            "create",
            json!({"ttl": "1h", "renewable": true, "display_name": "token", "num_uses": 0}),
            &env.root,
        )
        .await;
    assert!(resp.data.is_none());
    let auth = resp.auth.unwrap();
    assert_eq!(auth.lease_duration, 3600);
    assert_eq!(auth.policies, vec!["root"]);
    assert_eq!(auth.token_type, "service");
    assert!(!auth.orphan);
    assert_eq!(auth.client_token.len(), 28);
    assert_ne!(auth.client_token, env.root.id);

    let look = env
        .ok(
            Operation::Update,
            "lookup",
            json!({"token": auth.client_token}),
            &env.root,
        )
        .await
        .data
        .unwrap();
    assert_eq!(look["id"], auth.client_token.as_str());
    assert_eq!(look["accessor"], auth.accessor.as_str());
    assert_eq!(look["display_name"], "token-token");
    assert_eq!(look["path"], "auth/token/create");
    assert_eq!(look["ttl"], 3600);
    assert_eq!(look["creation_ttl"], 3600);
    assert_eq!(look["type"], "service");
    assert_eq!(look["orphan"], false);
    assert!(look["expire_time"].is_string());

    // GET form of lookup reads the token from the query.
    let look_get = env
        .ok(
            Operation::Read,
            "lookup",
            json!({"token": auth.client_token}),
            &env.root,
        )
        .await
        .data
        .unwrap();
    assert_eq!(look_get["id"], auth.client_token.as_str());

    env.clock.advance(1000);
    let renew = env
        .ok(
            Operation::Update,
            "renew",
            json!({"token": auth.client_token}),
            &env.root,
        )
        .await
        .auth
        .unwrap();
    assert_eq!(renew.client_token, auth.client_token);
    assert_eq!(renew.lease_duration, 3600);
    let entry = env.store.lookup(&auth.client_token).await.unwrap().unwrap();
    assert_eq!(entry.expire_time, Some(START + 1000 + 3600));
    assert_eq!(entry.last_renewal_time, Some(START + 1000));

    let revoked = env
        .call(
            Operation::Update,
            "revoke",
            json!({"token": auth.client_token}),
            &env.root,
        )
        .await
        .unwrap();
    assert!(revoked.is_none(), "revoke answers 204");
    let err = env
        .call(
            Operation::Update,
            "lookup",
            json!({"token": auth.client_token}),
            &env.root,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, LogicalError::PermissionDenied));
}

#[tokio::test]
async fn self_endpoints() {
    let env = env().await;
    let tok = env
        .create("create", json!({"policies": ["a"], "ttl": "1h"}), &env.root)
        .await;
    assert_eq!(tok.policies, vec!["a", "default"]);
    let look = env
        .ok(Operation::Read, "lookup-self", json!({}), &tok)
        .await
        .data
        .unwrap();
    assert_eq!(look["id"], tok.id.as_str());
    let renew = env
        .ok(
            Operation::Update,
            "renew-self",
            json!({"increment": "10m"}),
            &tok,
        )
        .await
        .auth
        .unwrap();
    assert_eq!(renew.lease_duration, 600);
    assert_eq!(renew.client_token, tok.id);
    assert!(
        env.call(Operation::Update, "revoke-self", json!({}), &tok)
            .await
            .unwrap()
            .is_none()
    );
    assert!(!env.alive(&tok.id).await);
    let err = env
        .call(Operation::Read, "lookup-self", json!({}), &tok)
        .await
        .unwrap_err();
    assert!(matches!(err, LogicalError::PermissionDenied));
}

#[tokio::test]
async fn children_are_revoked_with_parent_but_orphans_survive() {
    let env = env().await;
    let parent = env
        .create("create", json!({"policies": "a,b"}), &env.root)
        .await;
    let child = env
        .create("create", json!({"policies": ["a"]}), &parent)
        .await;
    let grandchild = env.create("create", json!({}), &child).await;
    let orphan = env
        .create("create-orphan", json!({"policies": ["b"]}), &parent)
        .await;
    assert!(!child.orphan);
    assert!(orphan.orphan);
    assert_eq!(orphan.path, "auth/token/create-orphan");
    assert_eq!(
        grandchild.policies,
        vec!["a", "default"],
        "inherits caller's policies"
    );

    env.store.revoke(&parent.id).await.unwrap();
    assert!(!env.alive(&parent.id).await);
    assert!(!env.alive(&child.id).await);
    assert!(!env.alive(&grandchild.id).await);
    assert!(env.alive(&orphan.id).await);
    // Nothing of the revoked tree is left behind in storage.
    assert_eq!(env.store.tidy().await.unwrap(), 0);
}

#[tokio::test]
async fn revoke_orphan_keeps_children_as_orphans() {
    let env = env().await;
    assert!(
        env.backend
            .root_paths()
            .iter()
            .any(|p| p.starts_with("revoke-orphan"))
    );
    let parent = env
        .create("create", json!({"policies": ["a"]}), &env.root)
        .await;
    let child = env.create("create", json!({}), &parent).await;
    let resp = env
        .call(
            Operation::Update,
            "revoke-orphan",
            json!({"token": parent.id}),
            &env.root,
        )
        .await
        .unwrap();
    assert!(resp.is_none());
    assert!(!env.alive(&parent.id).await);
    let child_now = env.store.lookup(&child.id).await.unwrap().unwrap();
    assert!(child_now.orphan);
    assert_eq!(child_now.parent, None);
    let look = env
        .ok(
            Operation::Update,
            "lookup",
            json!({"token": child.id}),
            &env.root,
        )
        .await
        .data
        .unwrap();
    assert_eq!(look["orphan"], true);
}

#[tokio::test]
async fn accessor_endpoints() {
    let env = env().await;
    let tok = env.create("create", json!({"ttl": "1h"}), &env.root).await;
    let look = env
        .ok(
            Operation::Update,
            "lookup-accessor",
            json!({"accessor": tok.accessor}),
            &env.root,
        )
        .await
        .data
        .unwrap();
    assert_eq!(look["accessor"], tok.accessor.as_str());
    assert_eq!(look["id"], "", "no token id by accessor");

    let list = env
        .ok(Operation::List, "accessors", json!({}), &env.root)
        .await
        .data
        .unwrap();
    let keys: Vec<&str> = list["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(keys.contains(&tok.accessor.as_str()));
    assert!(keys.contains(&env.root.accessor.as_str()));

    env.clock.advance(100);
    let renewed = env
        .ok(
            Operation::Update,
            "renew-accessor",
            json!({"accessor": tok.accessor, "increment": 120}),
            &env.root,
        )
        .await
        .auth
        .unwrap();
    assert_eq!(renewed.lease_duration, 120);
    assert_eq!(
        renewed.client_token, "",
        "renew by accessor hides the token"
    );

    assert!(
        env.call(
            Operation::Update,
            "revoke-accessor",
            json!({"accessor": tok.accessor}),
            &env.root,
        )
        .await
        .unwrap()
        .is_none()
    );
    for path in ["lookup-accessor", "revoke-accessor"] {
        let err = env
            .call(
                Operation::Update,
                path,
                json!({"accessor": tok.accessor}),
                &env.root,
            )
            .await
            .unwrap_err();
        assert!(matches!(err, LogicalError::InvalidRequest(_)), "{path}");
    }
    let err = env
        .call(
            Operation::Update,
            "lookup",
            json!({"token": tok.id}),
            &env.root,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, LogicalError::PermissionDenied));
}

#[tokio::test]
async fn num_uses_are_consumed_then_token_is_revoked() {
    let env = env().await;
    let tok = env
        .create("create", json!({"num_uses": 2}), &env.root)
        .await;
    let first = env.store.authorize(&tok.id).await.unwrap().unwrap();
    assert_eq!(first.num_uses, 1);
    let second = env.store.authorize(&tok.id).await.unwrap().unwrap();
    assert_eq!(second.num_uses, 0);
    assert!(env.store.authorize(&tok.id).await.unwrap().is_none());
    assert!(!env.alive(&tok.id).await);
    // Unlimited tokens are never used up.
    for _ in 0..5 {
        assert!(env.store.authorize(&env.root.id).await.unwrap().is_some());
    }
}

#[tokio::test]
async fn use_limited_tokens_cannot_create_tokens() {
    let env = env().await;
    env.call(
        Operation::Update,
        "roles/orphans",
        json!({"orphan": true}),
        &env.root,
    )
    .await
    .unwrap();
    let tok = env
        .create("create", json!({"num_uses": 3}), &env.root)
        .await;
    for path in ["create", "create-orphan", "create/orphans"] {
        let err = env
            .call(Operation::Update, path, json!({}), &tok)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, LogicalError::InvalidRequest(m)
                if m == "restricted use token cannot generate child tokens"),
            "{path}: {err:?}"
        );
    }
    // A caller whose token is gone (e.g. its last use was this very request) has no parent.
    env.store.revoke(&tok.id).await.unwrap();
    let err = env
        .call(Operation::Update, "create-orphan", json!({}), &tok)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LogicalError::InvalidRequest(m)
            if m == "parent token lookup failed: no parent found"),
        "{err:?}"
    );
    // Unlimited tokens create children, which then also may.
    let free = env.create("create", json!({}), &env.root).await;
    let kid = env.create("create", json!({}), &free).await;
    env.create("create", json!({}), &kid).await;
}

#[tokio::test]
async fn children_of_a_revoked_or_expired_parent_are_refused() {
    let env = env().await;
    let parent = env.create("create", json!({"ttl": 60}), &env.root).await;
    let child = env.create("create", json!({"ttl": "1h"}), &parent).await;
    env.clock.advance(60);
    // The parent expired; nobody touched either token, yet both are refused at once.
    assert!(env.store.authorize(&child.id).await.unwrap().is_none());
    let err = env
        .call(Operation::Update, "lookup-self", json!({}), &child)
        .await
        .unwrap_err();
    assert!(matches!(err, LogicalError::PermissionDenied));
    // The expiry sweep removes both.
    let sweep = env.store.expire_due(100).await.unwrap();
    assert_eq!(sweep.expired, 1);
    assert!(!env.alive(&parent.id).await && !env.alive(&child.id).await);

    let parent = env.create("create", json!({}), &env.root).await;
    let child = env.create("create", json!({}), &parent).await;
    env.call(
        Operation::Update,
        "revoke-accessor",
        json!({"accessor": parent.accessor}),
        &env.root,
    )
    .await
    .unwrap();
    assert!(env.store.authorize(&child.id).await.unwrap().is_none());
    let err = env
        .call(Operation::Update, "create", json!({}), &child)
        .await
        .unwrap_err();
    assert!(matches!(err, LogicalError::InvalidRequest(_)), "{err:?}");
}

#[tokio::test]
async fn concurrent_uses_never_exceed_the_limit() {
    let env = env().await;
    let tok = env
        .create("create", json!({"num_uses": 5}), &env.root)
        .await;
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let store = env.store.clone();
        let id = tok.id.clone();
        tasks.push(tokio::spawn(async move { store.authorize(&id).await }));
    }
    let mut granted = 0;
    for t in tasks {
        if t.await.unwrap().unwrap().is_some() {
            granted += 1;
        }
    }
    assert_eq!(granted, 5);
}

#[tokio::test]
async fn expiry_is_lazy_and_tidy_cleans_up() {
    let env = env().await;
    let short = env.create("create", json!({"ttl": 60}), &env.root).await;
    let kid = env.create("create", json!({"ttl": "1h"}), &short).await;
    let other = env.create("create", json!({"ttl": 600}), &env.root).await;
    env.clock.advance(61);
    assert!(env.store.authorize(&other.id).await.unwrap().is_some());
    // Not yet touched: still stored, but tidy revokes it and its child.
    let removed = env.store.tidy().await.unwrap();
    assert_eq!(removed, 2);
    assert!(!env.alive(&short.id).await);
    assert!(!env.alive(&kid.id).await);
    env.clock.advance(600);
    assert!(env.store.lookup(&other.id).await.unwrap().is_none());
    assert!(
        env.store
            .lookup_accessor(&other.accessor)
            .await
            .unwrap()
            .is_none()
    );
    let err = env
        .call(
            Operation::Update,
            "renew",
            json!({"token": other.id}),
            &env.root,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, LogicalError::PermissionDenied));
}

#[tokio::test]
async fn ttl_rules_explicit_max_period_and_non_renewable() {
    let env = env().await;
    let capped = env
        .ok(
            Operation::Update,
            "create",
            json!({"ttl": "30m", "explicit_max_ttl": "5m"}),
            &env.root,
        )
        .await
        .auth
        .unwrap();
    assert_eq!(capped.lease_duration, 300);

    let default_ttl = env
        .create("create", json!({"policies": ["a"]}), &env.root)
        .await;
    assert_eq!(default_ttl.ttl, 3600, "default lease ttl applies");

    let periodic = env
        .create("create", json!({"period": "30m"}), &env.root)
        .await;
    assert_eq!(periodic.ttl, 1800);
    let look = env
        .ok(
            Operation::Update,
            "lookup",
            json!({"token": periodic.id}),
            &env.root,
        )
        .await
        .data
        .unwrap();
    assert_eq!(look["period"], 1800);
    // Renewed every 1700 s, a periodic token outlives the system max (86400 s).
    for _ in 0..60 {
        env.clock.advance(1700);
        let renewed = env.store.renew(&periodic.id, 5).await.unwrap();
        assert_eq!(renewed.ttl, 1800, "periodic renewal resets to the period");
    }
    // A plain token cannot: its renewals are capped by what is left of the max.
    let plain = env.create("create", json!({"ttl": "1h"}), &env.root).await;
    env.clock.advance(86_000);
    let renewed = env.store.renew(&plain.id, 3600);
    assert!(renewed.await.is_err(), "expired after 1h without renewal");
    let plain = env.create("create", json!({"ttl": "1h"}), &env.root).await;
    for _ in 0..24 {
        env.clock.advance(3500);
        env.store.renew(&plain.id, 3600).await.unwrap();
    }
    // Age 84000: only 2400 s are left of the 86400 s maximum.
    assert_eq!(env.store.renew(&plain.id, 3600).await.unwrap().ttl, 2400);

    let fixed = env
        .create("create", json!({"ttl": 600, "renewable": false}), &env.root)
        .await;
    let err = env
        .call(
            Operation::Update,
            "renew",
            json!({"token": fixed.id}),
            &env.root,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, LogicalError::InvalidRequest(m) if m.contains("not renewable")));

    // Root tokens renew as a no-op.
    let r = env
        .ok(Operation::Update, "renew-self", json!({}), &env.root)
        .await
        .auth
        .unwrap();
    assert_eq!(r.lease_duration, 0);
}

#[tokio::test]
async fn non_root_callers_only_grant_their_own_policies() {
    let env = env().await;
    let limited = env
        .create("create", json!({"policies": ["a", "b"]}), &env.root)
        .await;
    let ok = env
        .create("create", json!({"policies": ["b"]}), &limited)
        .await;
    assert_eq!(ok.policies, vec!["b", "default"]);
    for data in [
        json!({"policies": ["c"]}),
        json!({"policies": ["root"]}),
        json!({"no_parent": true}),
        json!({"period": "1h"}),
        json!({"id": "chosen"}),
        json!({"type": "batch"}),
    ] {
        let err = env
            .call(Operation::Update, "create", data.clone(), &limited)
            .await
            .unwrap_err();
        assert!(matches!(err, LogicalError::InvalidRequest(_)), "{data}");
    }
    // Root may pick the id.
    let chosen = env
        .create("create", json!({"id": "chosen"}), &env.root)
        .await;
    assert_eq!(chosen.id, "chosen");
}

#[tokio::test]
async fn roles_crud_and_role_based_creation() {
    let env = env().await;
    assert!(
        env.call(Operation::List, "roles", json!({}), &env.root)
            .await
            .unwrap()
            .is_none(),
        "no roles lists as 404"
    );
    let wrote = env
        .call(
            Operation::Create,
            "roles/testrole",
            json!({"allowed_policies": ["testpolicy"], "orphan": false, "renewable": true}),
            &env.root,
        )
        .await
        .unwrap();
    assert!(wrote.is_none(), "role write answers 204");
    let list = env
        .ok(Operation::List, "roles", json!({}), &env.root)
        .await
        .data
        .unwrap();
    assert_eq!(list["keys"], json!(["testrole"]));
    let read = env
        .ok(Operation::Read, "roles/testrole", json!({}), &env.root)
        .await
        .data
        .unwrap();
    assert_eq!(read["allowed_policies"], json!(["testpolicy"]));

    let resp = env
        .ok(
            Operation::Update,
            "create/testrole",
            json!({"ttl": "1h"}),
            &env.root,
        )
        .await
        .auth
        .unwrap();
    assert_eq!(resp.policies, vec!["default", "testpolicy"]);
    let entry = env.store.lookup(&resp.client_token).await.unwrap().unwrap();
    assert_eq!(entry.path, "auth/token/create/testrole");
    assert_eq!(entry.role.as_deref(), Some("testrole"));

    // A non-root caller may use an orphan, periodic role it could not use directly.
    env.call(
        Operation::Update,
        "roles/svc",
        json!({"allowed_policies": "x", "orphan": true, "token_period": "2h", "path_suffix": "v1"}),
        &env.root,
    )
    .await
    .unwrap();
    let plain = env
        .create("create", json!({"policies": ["z"]}), &env.root)
        .await;
    let via_role = env.create("create/svc", json!({}), &plain).await;
    assert!(via_role.orphan);
    assert_eq!(via_role.period, 7200);
    assert_eq!(via_role.policies, vec!["default", "x"]);
    assert_eq!(via_role.path, "auth/token/create/svc/v1");
    let outside = env
        .call(
            Operation::Update,
            "create/svc",
            json!({"policies": ["y"]}),
            &plain,
        )
        .await
        .unwrap_err();
    assert!(matches!(outside, LogicalError::InvalidRequest(_)));

    let unknown = env
        .call(Operation::Update, "create/nope", json!({}), &env.root)
        .await
        .unwrap_err();
    assert!(matches!(unknown, LogicalError::InvalidRequest(_)));

    for name in ["testrole", "svc"] {
        env.call(
            Operation::Delete,
            &format!("roles/{name}"),
            json!({}),
            &env.root,
        )
        .await
        .unwrap();
    }
    assert!(
        env.call(Operation::List, "roles", json!({}), &env.root)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn storage_never_keys_by_plain_token_id() {
    let env = env().await;
    let tok = env.create("create", json!({}), &env.root).await;
    let dump = env.inner.dump();
    assert!(dump.contains_key("sys/token/salt"));
    for key in dump.keys() {
        assert!(key.starts_with("sys/token/"));
        assert!(
            !key.contains(&tok.id) && !key.contains(&env.root.id),
            "{key}"
        );
        assert!(!key.contains(&tok.accessor), "{key}");
    }
    // A second store over the same view reuses the salt and finds the tokens.
    let again = TokenStore::new(env.view.clone(), TtlLimits::default());
    assert!(again.lookup(&tok.id).await.unwrap().is_some());
}

#[tokio::test]
async fn tidy_removes_dangling_indexes() {
    let env = env().await;
    let stray = AccessorEntry {
        accessor: "stray".into(),
        token_hash: "0".repeat(64),
    };
    env.view
        .put("accessor/deadbeef", serde_json::to_vec(&stray).unwrap())
        .await
        .unwrap();
    env.view
        .put(
            &format!("parent/{}/{}", "1".repeat(64), "2".repeat(64)),
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(env.store.tidy().await.unwrap(), 2);
    assert!(env.view.get("accessor/deadbeef").await.unwrap().is_none());
    assert!(env.view.list("parent/").await.unwrap().is_empty());
    assert!(env.alive(&env.root.id).await);
    let tidy = env
        .ok(Operation::Update, "tidy", json!({}), &env.root)
        .await;
    assert_eq!(tidy.status, tresor_sdk::ResponseStatus::Accepted);
}

#[tokio::test]
async fn unknown_paths_and_operations() {
    let env = env().await;
    assert!(matches!(
        env.call(Operation::Read, "nope", json!({}), &env.root)
            .await,
        Err(LogicalError::UnsupportedPath)
    ));
    assert!(matches!(
        env.call(Operation::Delete, "create", json!({}), &env.root)
            .await,
        Err(LogicalError::UnsupportedOperation)
    ));
    let missing = env
        .call(Operation::Update, "lookup", json!({}), &env.root)
        .await
        .unwrap_err();
    assert!(matches!(missing, LogicalError::InvalidRequest(_)));
}
