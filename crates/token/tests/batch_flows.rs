//! Batch tokens through the `auth/token/` backend and the store over an in-memory storage and
//! a manual clock: creation rules, lookups, expiry at the TTL, the parent's lifetime, roles,
//! and that nothing is ever stored for them.
#![allow(clippy::unwrap_used)] // test helpers may unwrap, like the tests themselves

use std::sync::Arc;

use serde_json::{Value, json};
use tresor_crypto::Key32;
use tresor_sdk::{LogicalBackend, LogicalError, Operation, Request, Response};
use tresor_storage::{Backend, InMemBackend, View};
use tresor_token::{
    BatchKeys, FixedBatchKeys, ManualClock, TokenBackend, TokenEntry, TokenStore, TtlLimits,
};

const START: u64 = 1_700_000_000;

struct Env {
    backend: TokenBackend,
    store: Arc<TokenStore>,
    clock: Arc<ManualClock>,
    inner: Arc<InMemBackend>,
    view: View,
    root: TokenEntry,
}

async fn env_with(keys: Option<FixedBatchKeys>) -> Env {
    let inner = Arc::new(InMemBackend::new());
    let view = View::new(inner.clone(), "sys/token/");
    let clock = Arc::new(ManualClock::new(START));
    let mut store = TokenStore::with_clock(
        view.clone(),
        TtlLimits {
            default_lease_ttl: 3600,
            max_lease_ttl: 86400,
        },
        clock.clone(),
    );
    if let Some(k) = keys {
        store = store.with_batch_keys(Arc::new(k));
    }
    let store = Arc::new(store);
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

async fn env() -> Env {
    env_with(Some(FixedBatchKeys::generate())).await
}

impl Env {
    async fn call(
        &self,
        path: &str,
        data: Value,
        caller: &TokenEntry,
    ) -> Result<Option<Response>, LogicalError> {
        let mut req = Request::new(Operation::Update, path, self.view.clone());
        req.data = data.as_object().cloned().unwrap_or_default();
        req.auth = caller.auth();
        self.backend.handle(&req).await
    }

    async fn create(&self, path: &str, data: Value, caller: &TokenEntry) -> TokenEntry {
        let resp = self
            .call(path, data, caller)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .unwrap();
        let auth = resp.auth.unwrap();
        self.store
            .lookup(&auth.client_token)
            .await
            .unwrap()
            .unwrap()
    }

    async fn refused(&self, path: &str, data: Value, caller: &TokenEntry) -> String {
        match self.call(path, data, caller).await {
            Err(LogicalError::InvalidRequest(m)) => m,
            other => panic!("{path}: expected a 400, got {other:?}"),
        }
    }

    async fn alive(&self, token: &str) -> bool {
        self.store.authorize(token).await.unwrap().is_some()
    }

    /// Every stored key, to check that batch tokens write nothing.
    async fn stored(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut dirs = vec![String::new()];
        while let Some(d) = dirs.pop() {
            for k in self.inner.list(&d).await.unwrap() {
                if k.ends_with('/') {
                    dirs.push(format!("{d}{k}"));
                } else {
                    out.push(format!("{d}{k}"));
                }
            }
        }
        out.sort();
        out
    }

    /// A service token with policies `p1` and a 2h TTL, child of root.
    async fn service(&self) -> TokenEntry {
        self.create(
            "create",
            json!({"policies": ["p1"], "ttl": "2h"}),
            &self.root,
        )
        .await
    }
}

#[tokio::test]
async fn batch_token_shape_and_lookup() {
    let env = env().await;
    let before = env.stored().await;
    let resp = env
        .call(
            "create",
            json!({"type": "batch", "policies": ["p1"], "ttl": "1h", "meta": {"app": "web"},
                   "display_name": "ci", "renewable": true}),
            &env.root,
        )
        .await
        .unwrap()
        .unwrap();
    let auth = resp.auth.unwrap();
    assert!(
        auth.client_token.starts_with("hvb."),
        "{}",
        auth.client_token
    );
    assert_eq!(auth.accessor, "");
    assert_eq!(auth.token_type, "batch");
    assert!(!auth.renewable, "batch tokens are never renewable");
    assert!(!auth.orphan);
    assert_eq!(auth.lease_duration, 3600);
    assert_eq!(auth.policies, vec!["default", "p1"]);
    assert_eq!(env.stored().await, before, "a batch token writes nothing");

    let look = env
        .call("lookup", json!({"token": auth.client_token}), &env.root)
        .await
        .unwrap()
        .unwrap()
        .data
        .unwrap();
    assert_eq!(look["type"], "batch");
    assert_eq!(look["accessor"], "");
    assert_eq!(look["id"], auth.client_token.as_str());
    assert_eq!(look["display_name"], "token-ci");
    assert_eq!(look["meta"], json!({"app": "web"}));
    assert_eq!(look["path"], "auth/token/create");
    assert_eq!(look["ttl"], 3600);
    assert_eq!(look["renewable"], false);
    assert_eq!(look["num_uses"], 0);

    let me = env.store.lookup(&auth.client_token).await.unwrap().unwrap();
    let self_look = env
        .call("lookup-self", json!({}), &me)
        .await
        .unwrap()
        .unwrap()
        .data
        .unwrap();
    assert_eq!(self_look["type"], "batch");
    // Using it counts nothing and writes nothing.
    for _ in 0..3 {
        assert!(env.alive(&auth.client_token).await);
    }
    assert_eq!(env.stored().await, before);
}

#[tokio::test]
async fn creation_rules() {
    let env = env().await;
    for (body, msg) in [
        (
            json!({"type": "batch", "policies": ["p1"], "num_uses": 3}),
            "batch tokens cannot have \"num_uses\" set",
        ),
        (
            json!({"type": "batch", "policies": ["p1"], "period": "1h"}),
            "batch tokens cannot have \"period\" set",
        ),
        (
            json!({"type": "batch", "policies": ["p1"], "explicit_max_ttl": "1h"}),
            "batch tokens cannot have \"explicit_max_ttl\" set",
        ),
        // Inherits root's policies.
        (
            json!({"type": "batch"}),
            "batch tokens cannot be root tokens",
        ),
        (json!({"type": "weird"}), "invalid 'token_type' value"),
    ] {
        assert_eq!(env.refused("create", body, &env.root).await, msg);
    }
    // A requested id is ignored: the id is the sealed content.
    let b = env
        .create(
            "create",
            json!({"type": "batch", "policies": ["p1"], "id": "custom"}),
            &env.root,
        )
        .await;
    assert!(b.id.starts_with("hvb."));
    assert!(!env.alive("custom").await);
}

#[tokio::test]
async fn batch_tokens_create_nothing_renew_nothing_revoke_nothing() {
    let env = env().await;
    let b = env
        .create(
            "create",
            json!({"type": "batch", "policies": ["p1"]}),
            &env.root,
        )
        .await;
    for path in ["create", "create-orphan"] {
        for body in [json!({}), json!({"type": "batch"})] {
            assert_eq!(
                env.refused(path, body, &b).await,
                "batch tokens cannot create more tokens"
            );
        }
    }
    assert_eq!(
        env.refused("renew-self", json!({}), &b).await,
        "batch tokens cannot be renewed"
    );
    assert_eq!(
        env.refused("renew", json!({"token": b.id}), &env.root)
            .await,
        "batch tokens cannot be renewed"
    );
    for (path, caller) in [
        ("revoke-self", &b),
        ("revoke", &env.root),
        ("revoke-orphan", &env.root),
    ] {
        assert_eq!(
            env.refused(path, json!({"token": b.id}), caller).await,
            "batch tokens cannot be revoked",
            "{path}"
        );
    }
    assert!(env.alive(&b.id).await, "still usable after the refusals");
    // It has no accessor to act on.
    assert_eq!(
        env.refused("lookup-accessor", json!({"accessor": ""}), &env.root)
            .await,
        "missing accessor"
    );
    // The store's own entry points refuse a batch parent too.
    let child = TokenEntry {
        policies: vec!["p1".into()],
        ..TokenEntry::default()
    };
    assert!(env.store.create(child, Some(&b.id)).await.is_err());
}

#[tokio::test]
async fn expires_at_its_ttl_checked_on_use() {
    let env = env().await;
    let b = env
        .create(
            "create-orphan",
            json!({"type": "batch", "policies": ["p1"], "ttl": "10m"}),
            &env.root,
        )
        .await;
    assert!(b.orphan);
    env.clock.advance(599);
    assert!(env.alive(&b.id).await);
    env.clock.advance(1);
    assert!(!env.alive(&b.id).await);
    assert!(env.store.lookup(&b.id).await.unwrap().is_none());
    // An expired batch token, like an unknown token, is not an error to revoke.
    env.store.revoke(&b.id).await.unwrap();
}

#[tokio::test]
async fn tied_to_the_parent_unless_orphan() {
    let env = env().await;
    let parent = env.service().await;
    let child = env
        .create("create", json!({"type": "batch", "ttl": "1h"}), &parent)
        .await;
    let orphan = env
        .create(
            "create-orphan",
            json!({"type": "batch", "ttl": "1h"}),
            &parent,
        )
        .await;
    assert!(!child.orphan && orphan.orphan);
    assert_eq!(child.policies, vec!["default", "p1"]);
    assert!(env.alive(&child.id).await && env.alive(&orphan.id).await);
    // The batch TTL is not capped by the parent's: its parent's expiry ends it anyway.
    let long = env
        .create("create", json!({"type": "batch", "ttl": "5h"}), &parent)
        .await;
    assert_eq!(long.ttl, 5 * 3600);
    env.clock.advance(2 * 3600);
    assert!(!env.alive(&long.id).await, "the parent expired");
    assert!(!env.alive(&child.id).await);

    let parent = env.service().await;
    let child = env
        .create("create", json!({"type": "batch"}), &parent)
        .await;
    env.store.revoke(&parent.id).await.unwrap();
    assert!(
        !env.alive(&child.id).await,
        "a revoked parent takes it along"
    );

    // revoke-orphan of the parent also ends it (it cannot be re-parented: nothing stored).
    let parent = env.service().await;
    let child = env
        .create("create", json!({"type": "batch"}), &parent)
        .await;
    env.store.revoke_orphan(&parent.id).await.unwrap();
    assert!(!env.alive(&child.id).await);

    // A parent whose id is reused (custom ids) is not the parent it was issued under.
    let parent = env
        .create(
            "create",
            json!({"id": "reused", "policies": ["p1"]}),
            &env.root,
        )
        .await;
    let child = env
        .create("create", json!({"type": "batch"}), &parent)
        .await;
    env.store.revoke("reused").await.unwrap();
    env.create(
        "create",
        json!({"id": "reused", "policies": ["p1"]}),
        &env.root,
    )
    .await;
    assert!(!env.alive(&child.id).await);
}

#[tokio::test]
async fn roles_issue_batch_tokens() {
    let env = env().await;
    assert_eq!(
        env.refused("roles/b", json!({"token_type": "batch"}), &env.root)
            .await,
        "'token_type' cannot be 'batch' when role is set to generate non-orphan tokens"
    );
    env.call(
        "roles/b",
        json!({"token_type": "batch", "orphan": true, "renewable": false, "allowed_policies": "p1"}),
        &env.root,
    )
    .await
    .unwrap();
    env.call(
        "roles/db",
        json!({"token_type": "default-batch", "allowed_policies": "p1"}),
        &env.root,
    )
    .await
    .unwrap();
    env.call(
        "roles/ds",
        json!({"token_type": "default-service", "allowed_policies": "p1"}),
        &env.root,
    )
    .await
    .unwrap();
    env.call(
        "roles/s",
        json!({"token_type": "service", "allowed_policies": "p1"}),
        &env.root,
    )
    .await
    .unwrap();
    let parent = env.service().await;
    for (role, requested, want, orphan) in [
        ("b", None, "batch", true),
        ("b", Some("service"), "batch", true),
        ("db", None, "batch", false),
        ("db", Some("service"), "service", false),
        ("ds", None, "service", false),
        ("ds", Some("batch"), "batch", false),
        ("s", Some("batch"), "service", false),
    ] {
        let body = match requested {
            Some(t) => json!({"type": t}),
            None => json!({}),
        };
        let e = env.create(&format!("create/{role}"), body, &parent).await;
        assert_eq!(e.token_type, want, "role {role} asked {requested:?}");
        assert_eq!(e.orphan, orphan, "role {role}");
        assert_eq!(e.role.as_deref(), Some(role));
        assert_eq!(e.policies, vec!["default", "p1"]);
    }
    let read = env.call("roles/b", json!({}), &env.root).await.unwrap();
    assert!(read.is_none(), "a write answers nothing");
}

#[tokio::test]
async fn login_entry_point_mints_batch_tokens_through_create() {
    let env = env().await;
    let entry = TokenEntry {
        policies: vec!["default".into(), "dev".into()],
        display_name: "userpass-alice".into(),
        meta: [("username".to_owned(), "alice".to_owned())].into(),
        creation_time: START,
        ttl: 600,
        expire_time: Some(START + 600),
        path: "auth/userpass/login/alice".into(),
        token_type: "batch".into(),
        renewable: true,
        ..TokenEntry::default()
    };
    let minted = env.store.create(entry, None).await.unwrap();
    assert!(minted.id.starts_with("hvb.") && minted.orphan && !minted.renewable);
    let seen = env.store.authorize(&minted.id).await.unwrap().unwrap();
    assert_eq!(seen.display_name, "userpass-alice");
    assert_eq!(seen.path, "auth/userpass/login/alice");
    assert_eq!(seen.meta["username"], "alice");
    assert_eq!(seen.expire_time, Some(START + 600));
    let root_batch = TokenEntry {
        policies: vec!["root".into()],
        token_type: "batch".into(),
        ..TokenEntry::default()
    };
    assert!(env.store.create_batch(root_batch, None).await.is_err());
}

#[tokio::test]
async fn keys_decide_who_can_open() {
    let mut keys = FixedBatchKeys::generate();
    let env = env_with(Some(keys.clone())).await;
    let b = env
        .create(
            "create",
            json!({"type": "batch", "policies": ["p1"]}),
            &env.root,
        )
        .await;
    // Another node with the same keys (same salt and storage) opens it.
    let twin = TokenStore::with_clock(env.view.clone(), env.store.limits(), env.clock.clone())
        .with_batch_keys(Arc::new(keys.clone()));
    assert!(twin.authorize(&b.id).await.unwrap().is_some());
    // A rotation keeps it valid while its term is known; new tokens use the new term.
    keys.add(2, Key32::generate());
    let rotated = TokenStore::with_clock(env.view.clone(), env.store.limits(), env.clock.clone())
        .with_batch_keys(Arc::new(keys.clone()));
    assert!(rotated.authorize(&b.id).await.unwrap().is_some());
    assert_eq!(keys.active().unwrap().0, 2);
    // Other keys, or no keys, never open it.
    let stranger = TokenStore::with_clock(env.view.clone(), env.store.limits(), env.clock.clone())
        .with_batch_keys(Arc::new(FixedBatchKeys::generate()));
    assert!(stranger.authorize(&b.id).await.unwrap().is_none());
    let none = env_with(None).await;
    assert_eq!(
        none.refused(
            "create",
            json!({"type": "batch", "policies": ["p1"]}),
            &none.root
        )
        .await,
        "batch tokens are not available on this server"
    );
    assert!(none.store.authorize(&b.id).await.unwrap().is_none());
    // Tampered or garbage tokens are simply unknown.
    let mut bad = b.id.clone();
    bad.push('A');
    for t in [bad.as_str(), "hvb.", "hvb.%%%", &"hvb.A".repeat(5000)] {
        assert!(env.store.authorize(t).await.unwrap().is_none());
        assert!(env.store.lookup(t).await.unwrap().is_none());
        env.store.revoke(t).await.unwrap();
    }
}

#[tokio::test]
async fn bound_cidrs_from_roles_bind_tokens_and_their_children() {
    let env = env().await;
    env.call(
        "roles/net",
        json!({"allowed_policies": "p1", "token_bound_cidrs": "10.0.0.0/8,192.0.2.7/32"}),
        &env.root,
    )
    .await
    .unwrap();
    let inside = Some("10.1.2.3".parse().unwrap());
    let host = Some("192.0.2.7".parse().unwrap());
    let outside = Some("203.0.113.9".parse().unwrap());
    let t = env.create("create/net", json!({}), &env.root).await;
    assert_eq!(t.bound_cidrs, vec!["10.0.0.0/8", "192.0.2.7/32"]);
    for (addr, ok) in [
        (inside, true),
        (host, true),
        (outside, false),
        (None, false),
    ] {
        assert_eq!(
            env.store
                .authorize_from(&t.id, addr)
                .await
                .unwrap()
                .is_some(),
            ok,
            "{addr:?}"
        );
    }
    // Children (service and batch) inherit the binding.
    for body in [json!({}), json!({"type": "batch"})] {
        let child = env.create("create", body, &t).await;
        assert_eq!(child.bound_cidrs, t.bound_cidrs);
        assert!(
            env.store
                .authorize_from(&child.id, inside)
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            env.store
                .authorize_from(&child.id, outside)
                .await
                .unwrap()
                .is_none()
        );
    }
    // A refused use consumes nothing.
    env.call(
        "roles/net1",
        json!({"allowed_policies": "p1", "token_bound_cidrs": "10.0.0.0/8", "token_num_uses": 1}),
        &env.root,
    )
    .await
    .unwrap();
    let once = env.create("create/net1", json!({}), &env.root).await;
    assert!(
        env.store
            .authorize_from(&once.id, outside)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        env.store
            .authorize_from(&once.id, inside)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        env.store
            .authorize_from(&once.id, inside)
            .await
            .unwrap()
            .is_none()
    );
    let look = env
        .call("lookup", json!({"token": t.id}), &env.root)
        .await
        .unwrap()
        .unwrap()
        .data
        .unwrap();
    assert_eq!(look["bound_cidrs"], json!(["10.0.0.0/8", "192.0.2.7/32"]));
}
