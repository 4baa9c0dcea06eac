//! Batched leadership confirmation for linearizable reads.
//!
//! A leader may have been deposed without knowing it yet (paused, partitioned, restarted into
//! its old term). Before it answers from its state machine it must confirm, with a round of
//! heartbeats acknowledged by a quorum that started *after* the request arrived, that it still
//! leads. One round per request would cost a heartbeat round trip each; [`ReadBarrier`] lets
//! every request that arrived before a round started share that round, so under load a round
//! covers a whole batch.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

/// Coalesces leadership confirmations. Requests take a ticket on arrival; a round records the
/// highest ticket issued when it starts and, on completion, covers every ticket up to it.
#[derive(Debug, Default)]
pub struct ReadBarrier {
    /// Tickets handed out so far (the last one issued).
    issued: AtomicU64,
    /// Highest ticket covered by a successful round.
    confirmed: AtomicU64,
    /// Highest ticket covered by a failed round.
    failed: AtomicU64,
    /// One round at a time.
    round: tokio::sync::Mutex<()>,
}

impl ReadBarrier {
    /// A barrier with no rounds run.
    pub fn new() -> Self {
        Self::default()
    }

    /// Waits until a confirmation round that started after this call has succeeded, running
    /// `round` when no such round is in flight. A failed round fails every request it covered
    /// (they all arrived before it started) with that round's error.
    pub async fn confirm<F, Fut, E>(&self, round: F) -> Result<(), E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: From<BarrierFailed>,
    {
        let ticket = self.issued.fetch_add(1, Ordering::AcqRel) + 1;
        let _turn = self.round.lock().await;
        if self.confirmed.load(Ordering::Acquire) >= ticket {
            return Ok(());
        }
        if self.failed.load(Ordering::Acquire) >= ticket {
            return Err(BarrierFailed.into());
        }
        let covers = self.issued.load(Ordering::Acquire);
        match round().await {
            Ok(()) => {
                self.confirmed.fetch_max(covers, Ordering::AcqRel);
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
}
