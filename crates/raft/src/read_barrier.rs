//! Batched leadership confirmation for linearizable reads.
//!
//! A leader may have been deposed without knowing it yet (paused, partitioned, restarted into
//! its old term). Before it answers from its state machine it must confirm, with a round of
//! heartbeats acknowledged by a quorum that started *after* the request arrived, that it still
//! leads. One round per request would cost a heartbeat round trip each; [`ReadBarrier`] lets
//! every request that arrived before a round started share that round, so under load a round
//! covers a whole batch.
//!
//! # Read lease
//!
//! A barrier built [`with_lease`](ReadBarrier::with_lease) also skips rounds altogether for a
//! while after one succeeds. The argument, in openraft 0.9's terms: a follower that accepts a
//! heartbeat from the leader refuses every vote request for `election_timeout_max` afterwards
//! (its leader lease). A round that started at `t` and was acknowledged by a quorum therefore
//! means no other leader can be elected before `t + election_timeout_max`: any new leader needs
//! a vote from a member of that quorum. Until `t + lease` (the lease is shorter than that
//! timeout, leaving a margin for clock-rate differences between hosts) this node's applied
//! state includes every write acknowledged to a client, so a request checked within the lease
//! can be linearized at the moment of that check. Everything after the check (a pause, a slow
//! handler) does not matter: the state it reads is a committed prefix that contained all writes
//! committed before the check. Two conditions keep the argument sound and are enforced
//! elsewhere: a restarted node refuses to vote for one `election_timeout_max` after it starts
//! (it forgot the lease it granted; see `RaftStore::handle_rpc`), and the lease lives only in
//! memory, so a restarted leader starts without one.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// Coalesces leadership confirmations. Requests take a ticket on arrival; a round records the
/// highest ticket issued when it starts and, on completion, covers every ticket up to it.
#[derive(Debug)]
pub struct ReadBarrier {
    /// Tickets handed out so far (the last one issued).
    issued: AtomicU64,
    /// Highest ticket covered by a successful round.
    confirmed: AtomicU64,
    /// Highest ticket covered by a failed round.
    failed: AtomicU64,
    /// One round at a time.
    round: tokio::sync::Mutex<()>,
    /// How long a successful round vouches for leadership, measured from its start; zero
    /// disables the lease.
    lease: Duration,
    /// When the lease ends: nanoseconds after `epoch` (0: no lease yet).
    lease_until: AtomicU64,
    /// Reference point of `lease_until`.
    epoch: Instant,
}

impl Default for ReadBarrier {
    fn default() -> Self {
        Self::with_lease(Duration::ZERO)
    }
}

impl ReadBarrier {
    /// A barrier with no rounds run and no lease: every request waits for a round.
    pub fn new() -> Self {
        Self::default()
    }

    /// A barrier whose successful rounds vouch for leadership for `lease` after they started
    /// (see the module documentation for why that is safe and how long it may be).
    pub fn with_lease(lease: Duration) -> Self {
        Self {
            issued: AtomicU64::new(0),
            confirmed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            round: tokio::sync::Mutex::new(()),
            lease,
            lease_until: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    /// Whether a lease is running now.
    pub fn lease_valid(&self) -> bool {
        let until = self.lease_until.load(Ordering::Acquire);
        until != 0 && self.nanos_since_epoch(Instant::now()) < until
    }

    /// Ends the current lease (for example when this node steps down or loses leadership).
    pub fn expire_lease(&self) {
        self.lease_until.store(0, Ordering::Release);
    }

    fn nanos_since_epoch(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    fn extend_lease(&self, round_started: Instant) {
        if self.lease.is_zero() {
            return;
        }
        let until = self.nanos_since_epoch(round_started + self.lease).max(1);
        self.lease_until.fetch_max(until, Ordering::AcqRel);
    }

    /// Returns at once while a lease runs. Otherwise waits until a confirmation round that
    /// started after this call has succeeded, running `round` when no such round is in flight.
    /// A failed round fails every request it covered (they all arrived before it started) with
    /// that round's error.
    pub async fn confirm<F, Fut, E>(&self, round: F) -> Result<(), E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: From<BarrierFailed>,
    {
        if self.lease_valid() {
            return Ok(());
        }
        let ticket = self.issued.fetch_add(1, Ordering::AcqRel) + 1;
        let _turn = self.round.lock().await;
        if self.confirmed.load(Ordering::Acquire) >= ticket {
            return Ok(());
        }
        if self.failed.load(Ordering::Acquire) >= ticket {
            return Err(BarrierFailed.into());
        }
        let covers = self.issued.load(Ordering::Acquire);
        let started = Instant::now();
        match round().await {
            Ok(()) => {
                self.confirmed.fetch_max(covers, Ordering::AcqRel);
                self.extend_lease(started);
                Ok(())
            }
            Err(e) => {
                self.failed.fetch_max(covers, Ordering::AcqRel);
                Err(e)
            }
        }
    }
}

/// The round covering this request failed (its error went to the request that ran it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("leadership could not be confirmed")]
pub struct BarrierFailed;

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    use super::*;

    #[derive(Debug, PartialEq)]
    enum E {
        Round,
        Covered,
    }
    impl From<BarrierFailed> for E {
        fn from(_: BarrierFailed) -> Self {
            E::Covered
        }
    }

    #[tokio::test]
    async fn sequential_requests_each_run_a_round() {
        let b = ReadBarrier::new();
        let rounds = AtomicUsize::new(0);
        for _ in 0..3 {
            b.confirm(|| async {
                rounds.fetch_add(1, Ordering::SeqCst);
                Ok::<_, E>(())
            })
            .await
            .unwrap();
        }
        assert_eq!(rounds.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn requests_waiting_behind_a_round_share_the_next_one() {
        let b = Arc::new(ReadBarrier::new());
        let rounds = Arc::new(AtomicUsize::new(0));
        let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
        // The first request holds a round open until released.
        let first = {
            let (b, rounds) = (b.clone(), rounds.clone());
            tokio::spawn(async move {
                b.confirm(|| async move {
                    rounds.fetch_add(1, Ordering::SeqCst);
                    let _ = release_rx.await;
                    Ok::<_, E>(())
                })
                .await
            })
        };
        while rounds.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        // These arrive while that round is in flight: it does not cover them.
        let mut later = Vec::new();
        for _ in 0..10 {
            let (b, rounds) = (b.clone(), rounds.clone());
            later.push(tokio::spawn(async move {
                b.confirm(|| async move {
                    rounds.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, E>(())
                })
                .await
            }));
        }
        while b.issued.load(Ordering::SeqCst) < 11 {
            tokio::task::yield_now().await;
        }
        let _ = release_tx.send(());
        first.await.unwrap().unwrap();
        for h in later {
            h.await.unwrap().unwrap();
        }
        // One round for the first request, exactly one more for the ten that waited.
        assert_eq!(rounds.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_round_fails_the_requests_it_covered_and_not_later_ones() {
        let b = Arc::new(ReadBarrier::new());
        let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
        let started = Arc::new(AtomicUsize::new(0));
        let first = {
            let (b, started) = (b.clone(), started.clone());
            tokio::spawn(async move {
                b.confirm(|| async move {
                    started.fetch_add(1, Ordering::SeqCst);
                    let _ = release_rx.await;
                    Ok::<_, E>(())
                })
                .await
            })
        };
        while started.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        let waiting: Vec<_> = (0..3)
            .map(|_| {
                let b = b.clone();
                tokio::spawn(async move { b.confirm(|| async { Err::<(), _>(E::Round) }).await })
            })
            .collect();
        while b.issued.load(Ordering::SeqCst) < 4 {
            tokio::task::yield_now().await;
        }
        let _ = release_tx.send(());
        first.await.unwrap().unwrap();
        let mut results = Vec::new();
        for h in waiting {
            results.push(h.await.unwrap());
        }
        // One ran the failing round, the two it covered fail without running another.
        assert_eq!(results.iter().filter(|r| **r == Err(E::Round)).count(), 1);
        assert_eq!(results.iter().filter(|r| **r == Err(E::Covered)).count(), 2);
        // A request arriving afterwards runs its own round.
        b.confirm(|| async { Ok::<_, E>(()) }).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_lease_covers_requests_until_it_ends_counted_from_the_round_start() {
        let b = ReadBarrier::with_lease(Duration::from_millis(100));
        let rounds = AtomicUsize::new(0);
        let run = |delay_ms: u64| {
            let rounds = &rounds;
            move || async move {
                rounds.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                Ok::<_, E>(())
            }
        };
        assert!(!b.lease_valid());
        // The round takes 30 ms: the lease runs until 100 ms after it started.
        b.confirm(run(30)).await.unwrap();
        assert_eq!(rounds.load(Ordering::SeqCst), 1);
        tokio::time::advance(Duration::from_millis(60)).await;
        b.confirm(run(0)).await.unwrap();
        assert_eq!(
            rounds.load(Ordering::SeqCst),
            1,
            "within the lease: no round"
        );
        tokio::time::advance(Duration::from_millis(11)).await;
        b.confirm(run(0)).await.unwrap();
        assert_eq!(rounds.load(Ordering::SeqCst), 2, "lease over: a new round");
        b.expire_lease();
        b.confirm(run(0)).await.unwrap();
        assert_eq!(
            rounds.load(Ordering::SeqCst),
            3,
            "expired by hand: a new round"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_round_grants_no_lease_and_no_lease_without_one() {
        let b = ReadBarrier::with_lease(Duration::from_millis(100));
        assert_eq!(
            b.confirm(|| async { Err::<(), _>(E::Round) }).await,
            Err(E::Round)
        );
        assert!(!b.lease_valid());
        let plain = ReadBarrier::new();
        plain.confirm(|| async { Ok::<_, E>(()) }).await.unwrap();
        assert!(!plain.lease_valid());
    }
}
