//! Coalesced ReadIndex rounds of a standby.
//!
//! Before a standby answers a read itself it asks the active node for a read index: the
//! active node confirms it still leads (its own read barrier, see `tresor_raft::ReadBarrier`)
//! and answers its commit index, which covers every write acknowledged to a client before
//! the question arrived. One round per read would cost a cluster round trip each;
//! [`ReadIndexRounds`] lets every read that arrived before a round started share that round's
//! answer, so under load one round serves a whole batch. A round that started before a read
//! arrived never serves it: its index might predate a write the reader already saw.

use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// How many times a round yields to the runtime before it starts when reads are arriving.
const LINGER_YIELDS: usize = 2;

/// The answer of the last successful round and the failures, by ticket.
#[derive(Debug, Default)]
struct Outcomes {
    /// Highest ticket covered by a successful round, and that round's index.
    covered: u64,
    index: u64,
    /// Highest ticket covered by a failed round.
    failed: u64,
}

/// Shares ReadIndex rounds between the reads waiting for one.
#[derive(Debug, Default)]
pub(crate) struct ReadIndexRounds {
    /// Tickets handed out so far.
    issued: AtomicU64,
    outcomes: Mutex<Outcomes>,
    /// One round at a time.
    round: tokio::sync::Mutex<()>,
    /// How many tickets the last round covered.
    last_batch: AtomicU64,
}

/// The round that covered this read (run for another read) failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the read index round covering this read failed")]
pub(crate) struct RoundFailed;

impl ReadIndexRounds {
    /// Whether the last round covered more than one read (reads arrive faster than rounds).
    fn busy(&self) -> bool {
        self.last_batch.load(Ordering::Relaxed) > 1
    }

    fn outcome(&self, ticket: u64) -> Option<Result<u64, RoundFailed>> {
        let o = self.outcomes.lock().unwrap_or_else(|e| e.into_inner());
        if o.covered >= ticket {
            Some(Ok(o.index))
        } else if o.failed >= ticket {
            Some(Err(RoundFailed))
        } else {
            None
        }
    }

    /// A read index taken by a round that started after this call, running `round` when no
    /// such round is in flight. A failed round fails every read it covered with its error
    /// (theirs: [`RoundFailed`]).
    pub(crate) async fn index<F, Fut, E>(&self, round: F) -> Result<u64, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<u64, E>>,
        E: From<RoundFailed>,
    {
        let ticket = self.issued.fetch_add(1, Ordering::AcqRel) + 1;
        let _turn = self.round.lock().await;
        if let Some(done) = self.outcome(ticket) {
            return done.map_err(E::from);
        }
        // Under load, reads the runtime is already working on take their tickets if this
        // round lets them run first; the round then covers them too. Costs nothing when idle.
        if self.issued.load(Ordering::Acquire) > ticket || self.busy() {
            for _ in 0..LINGER_YIELDS {
                tokio::task::yield_now().await;
            }
        }
        let covers = self.issued.load(Ordering::Acquire);
        let result = round().await;
        let mut o = self.outcomes.lock().unwrap_or_else(|e| e.into_inner());
        let previous = o.covered.max(o.failed);
        self.last_batch
            .store(covers.saturating_sub(previous), Ordering::Relaxed);
        match &result {
            Ok(index) => {
                o.covered = o.covered.max(covers);
                o.index = o.index.max(*index);
            }
            Err(_) => o.failed = o.failed.max(covers),
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use super::*;

    #[derive(Debug, PartialEq)]
    enum E {
        Down,
        Covered,
    }

    impl From<RoundFailed> for E {
        fn from(_: RoundFailed) -> Self {
            E::Covered
        }
    }

    #[tokio::test]
    async fn reads_waiting_for_a_round_share_the_next_one() {
        let rounds = Arc::new(ReadIndexRounds::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(tokio::sync::Notify::new());
        // The first read starts a round that waits on the gate.
        let first = {
            let (rounds, runs, gate) = (rounds.clone(), runs.clone(), gate.clone());
            tokio::spawn(async move {
                rounds
                    .index(|| async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        gate.notified().await;
                        Ok::<_, E>(10)
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        // Reads arriving meanwhile are not covered by the round in flight.
        let mut later = Vec::new();
        for _ in 0..5 {
            let (rounds, runs) = (rounds.clone(), runs.clone());
            later.push(tokio::spawn(async move {
                rounds
                    .index(|| async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, E>(20)
                    })
                    .await
            }));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        gate.notify_one();
        assert_eq!(first.await.unwrap(), Ok(10));
        for h in later {
            assert_eq!(h.await.unwrap(), Ok(20), "a later round's index");
        }
        assert_eq!(
            runs.load(Ordering::SeqCst),
            2,
            "one round for the five late reads"
        );
    }

    #[tokio::test]
    async fn a_failed_round_fails_the_reads_it_covered_and_the_next_read_retries() {
        let rounds = Arc::new(ReadIndexRounds::default());
        let gate = Arc::new(tokio::sync::Notify::new());
        let first = {
            let (rounds, gate) = (rounds.clone(), gate.clone());
            tokio::spawn(async move {
                rounds
                    .index(|| async move {
                        gate.notified().await;
                        Ok::<_, E>(1)
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut waiting = Vec::new();
        for _ in 0..3 {
            let rounds = rounds.clone();
            waiting.push(tokio::spawn(async move {
                rounds.index(|| async { Err::<u64, _>(E::Down) }).await
            }));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        gate.notify_one();
        assert_eq!(first.await.unwrap(), Ok(1));
        let mut results = Vec::new();
        for h in waiting {
            results.push(h.await.unwrap());
        }
        assert_eq!(results.iter().filter(|r| **r == Err(E::Down)).count(), 1);
        assert_eq!(results.iter().filter(|r| **r == Err(E::Covered)).count(), 2);
        assert_eq!(rounds.index(|| async { Ok::<_, E>(7) }).await, Ok(7));
    }
}
