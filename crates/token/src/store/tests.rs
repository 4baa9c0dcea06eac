//! Token semantics of the store over in-memory storage with a manual clock: revoked and
//! expired ancestors, durable tree revocation, the expiry sweep, use-limited creators.

use std::sync::Arc;

use tresor_storage::{Backend, InMemBackend, View};

use super::*;
use crate::clock::ManualClock;
use crate::validity::MAX_DEPTH;

const START: u64 = 1_700_000_000;

struct Env {
    mem: Arc<InMemBackend>,
    view: View,
    clock: Arc<ManualClock>,
    store: TokenStore,
    root: TokenEntry,
}

async fn env() -> Env {
    let mem = Arc::new(InMemBackend::new());
    let view = View::new(mem.clone(), "sys/token/");
    let clock = Arc::new(ManualClock::new(START));
    let store = TokenStore::with_clock(
        view.clone(),
        TtlLimits {
            default_lease_ttl: 3600,
            max_lease_ttl: 7200,
        },
        clock.clone(),
    );
    let root = store.create_root(None).await.unwrap();
    Env {
        mem,
        view,
        clock,
        store,
        root,
    }
}

impl Env {
    /// A child of `parent` (an orphan when `None`) living `ttl` seconds (0 = forever).
    async fn token(&self, parent: Option<&TokenEntry>, ttl: u64, num_uses: u64) -> TokenEntry {
        let now = self.clock.now();
        let entry = TokenEntry {
            policies: vec!["default".into()],
            num_uses,
            creation_time: now,
            ttl,
            creation_ttl: ttl,
            expire_time: (ttl > 0).then_some(now + ttl),
            renewable: ttl > 0,
            ..TokenEntry::default()
        };
        self.store
            .create(entry, parent.map(|p| p.id.as_str()))
            .await
            .unwrap()
    }

    /// Whether the token's record is still in storage (whether or not it is usable).
    async fn stored(&self, t: &TokenEntry) -> bool {
        self.store.load_by_id(&t.id).await.unwrap().is_some()
    }

    async fn usable(&self, t: &TokenEntry) -> bool {
        self.store.authorize(&t.id).await.unwrap().is_some()
    }

    async fn hash(&self, t: &TokenEntry) -> String {
        self.store.hash_id(&t.id).await.unwrap()
    }

    /// Storage keys under the store's view with the given prefix.
    fn keys(&self, prefix: &str) -> Vec<String> {
        let full = format!("sys/token/{prefix}");
        self.mem
            .dump()
            .into_keys()
            .filter(|k| k.starts_with(&full))
            .collect()
    }
}

#[tokio::test]
async fn count_follows_creation_and_revocation() {
    let env = env().await;
    assert_eq!(env.store.count().await.unwrap(), 1, "the root token");
    let parent = env.token(Some(&env.root), 0, 0).await;
    let child = env.token(Some(&parent), 0, 0).await;
    env.token(None, 60, 0).await;
    assert_eq!(env.store.count().await.unwrap(), 4);
    env.store.revoke(&parent.id).await.unwrap();
    assert!(!env.stored(&child).await);
    assert_eq!(env.store.count().await.unwrap(), 2);
}

#[tokio::test]
async fn revoking_a_parent_makes_the_whole_subtree_unusable_and_removes_it() {
    let env = env().await;
    let parent = env.token(Some(&env.root), 0, 0).await;
    let child = env.token(Some(&parent), 0, 0).await;
    let grandchild = env.token(Some(&child), 0, 0).await;
    assert!(env.usable(&grandchild).await);
    env.store.revoke(&parent.id).await.unwrap();
    for t in [&parent, &child, &grandchild] {
        assert!(!env.usable(t).await);
        assert!(!env.stored(t).await);
        assert!(env.store.lookup(&t.id).await.unwrap().is_none());
    }
    assert!(env.keys("revoking/").is_empty(), "marker left behind");
    assert!(env.keys("parent/").is_empty(), "child index left behind");
    assert!(env.usable(&env.root).await);
}

#[tokio::test]
async fn a_child_left_behind_by_a_crash_is_refused_and_revoked() {
    let env = env().await;
    let parent = env.token(Some(&env.root), 0, 0).await;
    let child = env.token(Some(&parent), 0, 0).await;
    let grandchild = env.token(Some(&child), 0, 0).await;
    // A crash (or an older version) removed the parent's record but not its descendants.
    let parent_hash = env.hash(&parent).await;
    env.view.delete(&id_key(&parent_hash)).await.unwrap();
    assert!(
        !env.usable(&grandchild).await,
        "refused: an ancestor is gone"
    );
    assert!(!env.usable(&child).await, "refused: its parent is gone");
    // Each refusal revoked the refused token (with whatever is below it).
    assert!(!env.stored(&child).await);
    assert!(!env.stored(&grandchild).await);
}

#[tokio::test]
async fn an_interrupted_revocation_leaves_the_subtree_unusable_and_is_resumed() {
    let env = env().await;
    let parent = env.token(Some(&env.root), 0, 0).await;
    let child = env.token(Some(&parent), 0, 0).await;
    let grandchild = env.token(Some(&child), 0, 0).await;
    // The node stopped right after the first step of `revoke(parent)`.
    let parent_hash = env.hash(&parent).await;
    {
        let _guard = env.store.write.lock().await;
        env.store.mark_revoking_locked(&parent_hash).await.unwrap();
    }
    assert_eq!(env.keys("revoking/").len(), 1);
    let (_, marked) = env.store.load_by_id(&parent.id).await.unwrap().unwrap();
    assert_eq!(
        env.store.usable(&marked, START).await.unwrap(),
        Err(crate::validity::Unusable::Revoking)
    );
    // Descendants first: refusing them does not revoke anything (their ancestor's revocation
    // will), so they are still stored but unusable.
    for t in [&grandchild, &child] {
        assert!(!env.usable(t).await);
        assert!(env.store.lookup(&t.id).await.unwrap().is_none());
        assert!(env.stored(t).await);
    }
    assert!(matches!(
        env.store.renew(&child.id, 0).await,
        Err(TokenError::PermissionDenied)
    ));
    // Nobody may hang new tokens under the doomed subtree.
    let orphan_like = TokenEntry::default();
    assert!(matches!(
        env.store.create(orphan_like, Some(&grandchild.id)).await,
        Err(TokenError::PermissionDenied)
    ));
    // `revoke-orphan` cannot save the children once the tree revocation has begun.
    env.store.revoke_orphan(&parent.id).await.ok();
    assert!(!env.stored(&child).await);
    assert!(!env.stored(&grandchild).await);
    assert!(env.keys("revoking/").is_empty());
}

#[tokio::test]
async fn the_sweep_resumes_interrupted_revocations() {
    let env = env().await;
    let parent = env.token(Some(&env.root), 0, 0).await;
    let child = env.token(Some(&parent), 0, 0).await;
    let parent_hash = env.hash(&parent).await;
    {
        let _guard = env.store.write.lock().await;
        env.store.mark_revoking_locked(&parent_hash).await.unwrap();
    }
    let sweep = env.store.expire_due(100).await.unwrap();
    assert_eq!(sweep.resumed, 1);
    assert!(!env.stored(&parent).await);
    assert!(!env.stored(&child).await);
    assert!(env.keys("revoking/").is_empty());
    assert!(env.stored(&env.root).await);
}

#[tokio::test]
async fn an_expired_token_and_its_descendants_are_refused_at_once() {
    let env = env().await;
    let parent = env.token(Some(&env.root), 60, 0).await;
    let child = env.token(Some(&parent), 3600, 0).await;
    let sibling = env.token(Some(&env.root), 3600, 0).await;
    env.clock.advance(59);
    assert!(env.store.lookup(&child.id).await.unwrap().is_some());
    env.clock.advance(1);
    // The child has not expired itself, but its parent has: both are refused.
    assert!(env.store.lookup(&child.id).await.unwrap().is_none());
    assert!(!env.usable(&child).await);
    assert!(!env.usable(&parent).await);
    assert!(env.usable(&sibling).await);
}

#[tokio::test]
async fn the_sweep_revokes_expired_tokens_with_their_children() {
    let env = env().await;
    let parent = env.token(Some(&env.root), 60, 0).await;
    let child = env.token(Some(&parent), 3600, 0).await;
    let grandchild = env.token(Some(&child), 0, 0).await;
    let later = env.token(Some(&env.root), 600, 0).await;
    let wrapping = env.store.create_wrapping(30, "p", "{}").await.unwrap();
    assert_eq!(
        env.keys("expiry/").len(),
        4,
        "every expiring token is indexed"
    );

    // Nothing is due yet.
    assert_eq!(env.store.expire_due(100).await.unwrap(), Sweep::default());
    env.clock.advance(60);
    let sweep = env.store.expire_due(100).await.unwrap();
    assert_eq!(sweep.expired, 2, "{sweep:?}");
    assert!(!sweep.more);
    for t in [&parent, &child, &grandchild] {
        assert!(!env.stored(t).await, "{} left behind", t.display_name);
    }
    assert!(!env.stored(&wrapping).await);
    assert!(env.keys("wrap/").is_empty(), "wrapped response left behind");
    assert!(env.stored(&later).await);
    assert_eq!(env.keys("expiry/").len(), 1, "{:?}", env.keys("expiry/"));

    env.clock.advance(540);
    assert_eq!(env.store.expire_due(100).await.unwrap().expired, 1);
    assert!(!env.stored(&later).await);
    assert!(env.keys("expiry/").is_empty());
    assert!(
        env.keys("accessor/").len() == 1,
        "only root's accessor remains"
    );
}

#[tokio::test]
async fn renewal_moves_the_token_in_the_expiry_index() {
    let env = env().await;
    let tok = env.token(Some(&env.root), 60, 0).await;
    env.clock.advance(50);
    let renewed = env.store.renew(&tok.id, 600).await.unwrap();
    assert_eq!(renewed.expire_time, Some(START + 650));
    assert_eq!(env.keys("expiry/").len(), 1);
    env.clock.advance(20);
    // Past the original expiry: the sweep must not revoke the renewed token.
    assert_eq!(env.store.expire_due(100).await.unwrap(), Sweep::default());
    assert!(env.usable(&tok).await);
    env.clock.advance(600);
    assert_eq!(env.store.expire_due(100).await.unwrap().expired, 1);
    assert!(!env.stored(&tok).await);
}

#[tokio::test]
async fn the_sweep_drops_stale_index_entries_and_respects_its_budget() {
    let env = env().await;
    let mut toks = Vec::new();
    for _ in 0..5 {
        toks.push(env.token(Some(&env.root), 60, 0).await);
    }
    // An index entry for a token that no longer exists.
    env.view
        .put(&expiry_key(START + 10, &"f".repeat(64)), Vec::new())
        .await
        .unwrap();
    env.clock.advance(60);
    let first = env.store.expire_due(3).await.unwrap();
    assert!(first.more);
    assert_eq!(first.expired + first.stale, 3, "{first:?}");
    let second = env.store.expire_due(100).await.unwrap();
    assert!(!second.more);
    assert_eq!(first.expired + second.expired, 5);
    assert_eq!(first.stale + second.stale, 1);
    for t in &toks {
        assert!(!env.stored(t).await);
    }
    assert!(env.keys("expiry/").is_empty());
}

#[tokio::test]
async fn tidy_indexes_tokens_missing_from_the_expiry_index() {
    let env = env().await;
    let tok = env.token(Some(&env.root), 60, 0).await;
    // As if stored by a version without the index.
    for key in env.keys("expiry/") {
        env.mem.delete(&key).await.unwrap();
    }
    assert_eq!(env.store.tidy().await.unwrap(), 0);
    assert_eq!(env.keys("expiry/").len(), 1);
    env.clock.advance(60);
    assert_eq!(env.store.expire_due(100).await.unwrap().expired, 1);
    assert!(!env.stored(&tok).await);
}

#[tokio::test]
async fn use_limited_tokens_cannot_create_tokens() {
    let env = env().await;
    let limited = env.token(Some(&env.root), 0, 3).await;
    let restricted = |r: Result<TokenEntry, TokenError>| {
        matches!(r, Err(TokenError::InvalidRequest(m))
            if m == "restricted use token cannot generate child tokens")
    };
    assert!(restricted(env.store.creator(&limited.id).await));
    assert!(restricted(
        env.store
            .create(TokenEntry::default(), Some(&limited.id))
            .await
    ));
    // The refusal consumed no use.
    assert_eq!(
        env.store
            .lookup(&limited.id)
            .await
            .unwrap()
            .unwrap()
            .num_uses,
        3
    );
    assert!(env.store.creator(&env.root.id).await.is_ok());
    assert!(matches!(
        env.store.creator("hvs.unknown").await,
        Err(TokenError::InvalidRequest(m)) if m == "parent token lookup failed: no parent found"
    ));
}

#[tokio::test]
async fn token_trees_are_bounded_in_depth() {
    let env = env().await;
    // The root token is an orphan: the chain below it may hold MAX_DEPTH more tokens.
    let mut last = env.root.clone();
    for _ in 0..MAX_DEPTH {
        last = env.token(Some(&last), 0, 0).await;
    }
    assert!(env.usable(&last).await);
    assert!(matches!(
        env.store.create(TokenEntry::default(), Some(&last.id)).await,
        Err(TokenError::InvalidRequest(m)) if m.contains("too deep")
    ));
    // Revoking the top of the chain takes every level.
    env.store.revoke(&env.root.id).await.unwrap();
    assert!(!env.stored(&last).await);
    assert!(env.keys("id/").is_empty());
}

#[tokio::test]
async fn a_login_tokens_own_max_ttl_caps_renewals() {
    let clock = Arc::new(ManualClock::new(1_000));
    let store = TokenStore::with_clock(
        View::new(Arc::new(InMemBackend::new()), "t/"),
        TtlLimits {
            default_lease_ttl: 3600,
            max_lease_ttl: 86_400,
        },
        clock.clone(),
    );
    let entry = TokenEntry {
        policies: vec!["default".into()],
        creation_time: 1_000,
        ttl: 60,
        creation_ttl: 60,
        expire_time: Some(1_060),
        renewable: true,
        max_ttl: 100,
        ..TokenEntry::default()
    };
    let t = store.create(entry, None).await.expect("create");
    clock.advance(50);
    let renewed = store.renew(&t.id, 3600).await.expect("renew");
    assert_eq!(renewed.ttl, 50, "only 50 s left of the 100 s maximum");
}
