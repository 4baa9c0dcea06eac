//! The expiration manager with an in-memory barrier, a manual clock and a backend whose
//! revocations can be made to fail.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, json};
use tresor_expiration::{
    ExpirationError, ExpirationManager, LeaseBackend, LeaseEntry, LeaseStore, Renewed, RetryPolicy,
    TtlBounds,
};
use tresor_sdk::Secret;
use tresor_storage::{InMemBackend, View};
use tresor_token::ManualClock;

const BOUNDS: TtlBounds = TtlBounds {
    default_ttl: 3600,
    max_ttl: 7200,
};

/// Revokes by remembering the revoked users; fails while `down` is set.
#[derive(Default)]
struct FakeDb {
    down: AtomicBool,
    revoked: Mutex<BTreeSet<String>>,
}

#[async_trait]
impl LeaseBackend for FakeDb {
    async fn revoke(&self, lease: &LeaseEntry) -> Result<(), String> {
        if self.down.load(Ordering::SeqCst) {
            return Err("connection refused".into());
        }
        let user = lease.internal["username"].as_str().unwrap().to_owned();
        self.revoked.lock().unwrap().insert(user);
        Ok(())
    }

    async fn renew(&self, _lease: &LeaseEntry, _increment: u64) -> Result<Renewed, String> {
        if self.down.load(Ordering::SeqCst) {
            return Err("connection refused".into());
        }
        Ok(Renewed::default())
    }

    fn bounds(&self, _mount_accessor: &str) -> Option<TtlBounds> {
        Some(BOUNDS)
    }
}

fn secret(user: &str, ttl: u64) -> Secret {
    let mut internal = Map::new();
    internal.insert("username".into(), json!(user));
    Secret {
        lease_id: String::new(),
        ttl,
        max_ttl: 0,
        renewable: true,
        internal,
    }
}

struct Fixture {
    storage: Arc<InMemBackend>,
    clock: Arc<ManualClock>,
    db: Arc<FakeDb>,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            storage: Arc::new(InMemBackend::new()),
            clock: Arc::new(ManualClock::new(1_000_000)),
            db: Arc::new(FakeDb::default()),
        }
    }

    /// A manager on the fixture's storage (a new one is what a new active node builds).
    fn manager(&self) -> ExpirationManager {
        ExpirationManager::new(
            LeaseStore::new(View::new(self.storage.clone(), "sys/expire/")),
            self.db.clone(),
            self.clock.clone(),
            RetryPolicy {
                base: Duration::from_secs(10),
                cap: Duration::from_secs(60),
                max_attempts: 3,
            },
        )
    }

    fn revoked(&self) -> BTreeSet<String> {
        self.db.revoked.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn leases_are_issued_looked_up_renewed_within_max_and_revoked() {
    let f = Fixture::new();
    let m = f.manager();
    let e = m
        .register(
            "db/creds/app",
            "db/",
            "database_1",
            &secret("u1", 0),
            BOUNDS,
        )
        .await
        .unwrap();
    assert!(e.lease_id.starts_with("db/creds/app/"));
    assert_eq!(e.expire_time - e.issue_time, 3600);
    assert_eq!(m.count(), 1);
    let looked = m.lookup(&e.lease_id).await.unwrap();
    assert_eq!(looked.lookup_json(m.now())["ttl"], 3600);

    f.clock.advance(3000);
    let (renewed, warning) = m.renew(&e.lease_id, 3000).await.unwrap();
    assert_eq!(renewed.expire_time, 1_006_000);
    assert!(warning.is_none());
    assert_eq!(renewed.last_renewal_time, Some(1_003_000));
    // Past the max (7200 s from issue) the TTL is cut, with a warning.
    f.clock.advance(2000);
    let (capped, warning) = m.renew(&e.lease_id, 3600).await.unwrap();
    assert_eq!(capped.expire_time, 1_007_200);
    assert!(warning.unwrap().contains("capped"));

    m.revoke(&e.lease_id).await.unwrap();
    assert_eq!(f.revoked(), BTreeSet::from(["u1".to_owned()]));
    assert!(matches!(
        m.lookup(&e.lease_id).await,
        Err(ExpirationError::NotFound)
    ));
    assert_eq!(m.count(), 0);
}

#[tokio::test]
async fn expired_leases_are_revoked_by_the_sweep_and_a_new_manager_takes_over() {
    let f = Fixture::new();
    let old = f.manager();
    for (user, ttl) in [("short", 60), ("long", 3600)] {
        old.register(
            "db/creds/app",
            "db/",
            "database_1",
            &secret(user, ttl),
            BOUNDS,
        )
        .await
        .unwrap();
    }
    // The active node dies; a new one loads the leases and revokes at expiry.
    drop(old);
    let m = f.manager();
    assert_eq!(m.load().await.unwrap(), 2);
    assert_eq!(m.sweep(100).await.unwrap(), 0);
    f.clock.advance(61);
    assert_eq!(m.sweep(100).await.unwrap(), 1);
    assert_eq!(f.revoked(), BTreeSet::from(["short".to_owned()]));
    assert_eq!(m.count(), 1);
}

#[tokio::test]
async fn failed_revocations_retry_with_backoff_then_become_irrevocable_never_dropped() {
    let f = Fixture::new();
    let m = f.manager();
    let e = m
        .register(
            "db/creds/app",
            "db/",
            "database_1",
            &secret("u", 10),
            BOUNDS,
        )
        .await
        .unwrap();
    f.db.down.store(true, Ordering::SeqCst);
    f.clock.advance(10);
    m.sweep(100).await.unwrap();
    let after1 = m.lookup(&e.lease_id).await.unwrap();
    assert_eq!(after1.revoke_attempts, 1);
    assert_eq!(after1.next_attempt, f.clock_now() + 10);
    assert_eq!(after1.revoke_error.as_deref(), Some("connection refused"));
    // Not retried before its time.
    f.clock.advance(5);
    m.sweep(100).await.unwrap();
    assert_eq!(m.lookup(&e.lease_id).await.unwrap().revoke_attempts, 1);
    // The database comes back before the attempts run out: revoked.
    f.db.down.store(false, Ordering::SeqCst);
    f.clock.advance(5);
    m.sweep(100).await.unwrap();
    assert!(matches!(
        m.lookup(&e.lease_id).await,
        Err(ExpirationError::NotFound)
    ));
    assert_eq!(f.revoked(), BTreeSet::from(["u".to_owned()]));

    // A database that stays down: three attempts, then irrevocable, kept and listed.
    let e = m
        .register(
            "db/creds/app",
            "db/",
            "database_1",
            &secret("v", 10),
            BOUNDS,
        )
        .await
        .unwrap();
    f.db.down.store(true, Ordering::SeqCst);
    for _ in 0..10 {
        f.clock.advance(60);
        m.sweep(100).await.unwrap();
    }
    let stuck = m.lookup(&e.lease_id).await.unwrap();
    assert!(stuck.irrevocable);
    assert_eq!(stuck.revoke_attempts, 3);
    assert_eq!(m.irrevocable_count(), 1);
    assert_eq!(m.irrevocable().await.unwrap()[0].lease_id, e.lease_id);
    // A new active node keeps it irrevocable (not retried, not dropped).
    let m2 = f.manager();
    m2.load().await.unwrap();
    assert_eq!(m2.irrevocable_count(), 1);
    // An operator's revoke works once the database is back.
    f.db.down.store(false, Ordering::SeqCst);
    m2.revoke(&e.lease_id).await.unwrap();
    assert_eq!(m2.count(), 0);
}

impl Fixture {
    fn clock_now(&self) -> u64 {
        use tresor_token::Clock;
        self.clock.now()
    }
}

#[tokio::test]
async fn revoke_prefix_takes_a_subtree_and_force_deletes_despite_the_backend() {
    let f = Fixture::new();
    let m = f.manager();
    for (path, user) in [
        ("db/creds/app", "a1"),
        ("db/creds/app", "a2"),
        ("db/creds/other", "o1"),
    ] {
        m.register(path, "db/", "database_1", &secret(user, 0), BOUNDS)
            .await
            .unwrap();
    }
    assert_eq!(m.list("db/creds/").await.unwrap(), vec!["app/", "other/"]);
    assert_eq!(m.revoke_prefix("db/creds/app/", false).await.unwrap(), 2);
    assert_eq!(
        f.revoked(),
        BTreeSet::from(["a1".to_owned(), "a2".to_owned()])
    );
    f.db.down.store(true, Ordering::SeqCst);
    assert!(matches!(
        m.revoke_prefix("db/", false).await,
        Err(ExpirationError::Backend { .. })
    ));
    assert_eq!(m.count(), 1);
    assert_eq!(m.revoke_prefix("db/", true).await.unwrap(), 1);
    assert_eq!(m.count(), 0);
}

#[tokio::test]
async fn renewing_a_non_renewable_or_expired_lease_is_refused() {
    let f = Fixture::new();
    let m = f.manager();
    let mut s = secret("n", 60);
    s.renewable = false;
    let e = m
        .register("db/creds/app", "db/", "d", &s, BOUNDS)
        .await
        .unwrap();
    assert!(matches!(
        m.renew(&e.lease_id, 10).await,
        Err(ExpirationError::Invalid(_))
    ));
    let e = m
        .register("db/creds/app", "db/", "d", &secret("x", 60), BOUNDS)
        .await
        .unwrap();
    f.clock.advance(61);
    assert!(matches!(
        m.renew(&e.lease_id, 10).await,
        Err(ExpirationError::NotFound)
    ));
}
