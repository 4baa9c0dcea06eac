//! The Raft store's metrics (Vault's `vault.raft.*` and `vault.raft_storage.stats.*` names,
//! plus Tresor's own few): where each is recorded, and the task that turns openraft's
//! metrics channel into state-transition counters.
//!
//! - leader: `raft.apply` (write transactions committed) and `raft.commitTime` (proposal to
//!   commit and apply, ms; also Tresor's `raft.commitTime_duration_seconds` histogram) by the
//!   group-commit writer; `raft.replication.appendEntries.rpc` / `.logs` per peer
//!   (`peer_id`) by the peer clients;
//! - follower: `raft.leader.lastContact` (the gap between two AppendEntries from the leader,
//!   heartbeats included, ms) as they arrive;
//! - every node: `raft.state.candidate` / `follower` / `leader` counted by [`watch_states`]
//!   (a learner counts as a follower, as a non-voter does in Vault), and at each scrape
//!   ([`RaftStore::refresh_metrics`](crate::RaftStore::refresh_metrics)) the
//!   `raft_storage.stats.*` gauges and `raft.leader.lastContact_seconds`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use openraft::ServerState;
use tresor_telemetry::{Counter, Histogram, Metrics, Summary, names};

use crate::{NodeId, NodeInfo};

/// Handles of the group-commit writer.
#[derive(Clone, Debug)]
pub(crate) struct CommitMetrics {
    apply: Counter,
    commit_time: Summary,
    commit_histogram: Histogram,
}

impl CommitMetrics {
    pub(crate) fn new(metrics: &Metrics) -> CommitMetrics {
        CommitMetrics {
            apply: metrics.counter(&names::RAFT_APPLY, &[]),
            commit_time: metrics.summary(&names::RAFT_COMMIT_TIME, &[]),
            commit_histogram: metrics.histogram(&names::RAFT_COMMIT_TIME_DURATION, &[]),
        }
    }

    /// One entry of `writes` transactions committed and applied, proposed at `since`.
    pub(crate) fn committed(&self, writes: usize, since: Instant) {
        let elapsed = since.elapsed();
        self.commit_time.observe(elapsed.as_secs_f64() * 1000.0);
        self.commit_histogram.observe(elapsed.as_secs_f64());
        self.apply.add(u64::try_from(writes).unwrap_or(u64::MAX));
    }
}

/// Handles of one peer client (label `peer_id`).
#[derive(Clone, Debug)]
pub(crate) struct PeerMetrics {
    rpc: Summary,
    logs: Counter,
}

impl PeerMetrics {
    pub(crate) fn new(metrics: &Metrics, peer: &NodeInfo) -> PeerMetrics {
        let labels = [(names::PEER_ID, peer.node_id.as_str())];
        PeerMetrics {
            rpc: metrics.summary(&names::RAFT_REPLICATION_APPEND_ENTRIES_RPC, &labels),
            logs: metrics.counter(&names::RAFT_REPLICATION_APPEND_ENTRIES_LOGS, &labels),
        }
    }

    /// One AppendEntries RPC carrying `entries` entries, sent at `since` and answered (or
    /// failed) now.
    pub(crate) fn append_entries(&self, entries: usize, since: Instant) {
        self.rpc.observe_since(since);
        if entries > 0 {
            self.logs.add(u64::try_from(entries).unwrap_or(u64::MAX));
        }
    }
}

/// When something last happened, on the monotonic clock, readable without a lock.
#[derive(Debug)]
pub(crate) struct Stamp {
    start: Instant,
    /// Milliseconds since `start` of the last mark, `u64::MAX` for never.
    last_ms: AtomicU64,
}

impl Stamp {
    /// A stamp never marked.
    pub(crate) fn new() -> Stamp {
        Stamp {
            start: Instant::now(),
            last_ms: AtomicU64::new(u64::MAX),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    /// Marks now; answers the milliseconds since the previous mark, if there was one.
    pub(crate) fn mark(&self) -> Option<u64> {
        let now = self.now_ms();
        match self.last_ms.swap(now, Ordering::AcqRel) {
            u64::MAX => None,
            prev => Some(now.saturating_sub(prev)),
        }
    }

    /// Milliseconds since the last mark; `None` when there was none.
    pub(crate) fn millis_since(&self) -> Option<u64> {
        match self.last_ms.load(Ordering::Acquire) {
            u64::MAX => None,
            ms => Some(self.now_ms().saturating_sub(ms)),
        }
    }

    /// Milliseconds since the last mark, or since the stamp was made when there was none.
    pub(crate) fn age_ms(&self) -> u64 {
        self.millis_since().unwrap_or_else(|| self.now_ms())
    }
}

/// When this node last heard from a leader, for `raft.leader.lastContact`.
#[derive(Debug)]
pub(crate) struct LeaderContact {
    last: Stamp,
    gaps: Summary,
}

impl LeaderContact {
    pub(crate) fn new(metrics: &Metrics) -> LeaderContact {
        LeaderContact {
            last: Stamp::new(),
            gaps: metrics.summary(&names::RAFT_LEADER_LAST_CONTACT, &[]),
        }
    }

    /// An AppendEntries (or heartbeat) arrived from the leader now.
    pub(crate) fn contacted(&self) {
        if let Some(gap) = self.last.mark() {
            self.gaps.observe(gap as f64);
        }
    }

    /// Milliseconds since the last contact; `None` when there was none.
    pub(crate) fn millis_since(&self) -> Option<u64> {
        self.last.millis_since()
    }

    /// Seconds since the last contact, or since the store opened when there was none.
    pub(crate) fn seconds_since(&self) -> f64 {
        self.last.age_ms() as f64 / 1000.0
    }
}

/// The state-transition counter of `state`, if it has one.
fn state_counter(metrics: &Metrics, state: ServerState) -> Option<Counter> {
    let def = match state {
        ServerState::Candidate => &names::RAFT_STATE_CANDIDATE,
        ServerState::Follower | ServerState::Learner => &names::RAFT_STATE_FOLLOWER,
        ServerState::Leader => &names::RAFT_STATE_LEADER,
        ServerState::Shutdown => return None,
    };
    Some(metrics.counter(def, &[]))
}

/// Which counter a move from `prev` to `next` increments: entering a state counts once
/// (learner to follower is no transition: both are followers in Vault's terms).
pub(crate) fn transition(prev: Option<ServerState>, next: ServerState) -> Option<ServerState> {
    let follower_like = |s: ServerState| matches!(s, ServerState::Follower | ServerState::Learner);
    match prev {
        Some(p) if p == next => None,
        Some(p) if follower_like(p) && follower_like(next) => None,
        _ if next == ServerState::Shutdown => None,
        _ => Some(next),
    }
}

/// Counts this node's Raft state transitions from openraft's metrics channel until it closes
/// (Raft shut down), marking `seen` at every new snapshot (see
/// [`crate::RaftStore::quorum_ack_age_ms`]). The three counters exist at zero from the start.
pub(crate) async fn watch_states(
    mut rx: tokio::sync::watch::Receiver<openraft::RaftMetrics<NodeId, NodeInfo>>,
    metrics: Metrics,
    seen: std::sync::Arc<Stamp>,
) {
    for s in [
        ServerState::Candidate,
        ServerState::Follower,
        ServerState::Leader,
    ] {
        state_counter(&metrics, s);
    }
    let mut prev = None;
    loop {
        seen.mark();
        let state = rx.borrow_and_update().state;
        if let Some(entered) = transition(prev, state)
            && let Some(c) = state_counter(&metrics, entered)
        {
            c.inc();
        }
        prev = Some(state);
        if rx.changed().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_ages_until_marked_again() {
        let stamp = Stamp::new();
        assert_eq!(stamp.millis_since(), None, "never marked");
        assert_eq!(stamp.mark(), None, "no previous mark");
        assert!(stamp.age_ms() < 50);
        std::thread::sleep(std::time::Duration::from_millis(60));
        assert!(stamp.age_ms() >= 60, "{}", stamp.age_ms());
        assert!(stamp.mark().is_some_and(|gap| gap >= 60));
        assert!(stamp.age_ms() < 50);
    }

    #[test]
    fn transitions_count_entering_a_state_once() {
        use ServerState::*;
        assert_eq!(transition(None, Follower), Some(Follower));
        assert_eq!(transition(None, Learner), Some(Learner));
        assert_eq!(transition(Some(Follower), Follower), None);
        assert_eq!(transition(Some(Learner), Follower), None);
        assert_eq!(transition(Some(Follower), Candidate), Some(Candidate));
        assert_eq!(transition(Some(Candidate), Candidate), None);
        assert_eq!(transition(Some(Candidate), Leader), Some(Leader));
        assert_eq!(transition(Some(Leader), Follower), Some(Follower));
        assert_eq!(transition(Some(Leader), Shutdown), None);
    }

    #[test]
    fn leader_contact_gaps_and_age() {
        let m = Metrics::new();
        let c = LeaderContact::new(&m);
        c.contacted();
        c.contacted();
        let s = m.summary(&names::RAFT_LEADER_LAST_CONTACT, &[]).get();
        assert_eq!(s.count, 1, "the first contact has no gap before it");
        assert!(c.seconds_since() >= 0.0);
    }
}
