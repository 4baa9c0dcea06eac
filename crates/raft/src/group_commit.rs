//! Group commit: many concurrent `apply` calls become one Raft entry.
//!
//! Callers enqueue their op list with a reply channel. A single writer task takes the first
//! queued request, waits for a free in-flight slot ([`MAX_IN_FLIGHT`]) and for openraft to have
//! taken in (appended and fsynced) its previous proposal, then drains whatever else has queued
//! meanwhile (up to [`MAX_BATCH_REQUESTS`] / [`MAX_BATCH_BYTES`]) into one `Command::Batch`
//! entry and proposes it. Each proposal's outcome is awaited in its own task, which answers
//! every caller of that batch; the writer moves on at once, so while one batch is committed,
//! applied and replicated the next one accumulates.
//!
//! Why the second wait: openraft 0.9 appends one entry per proposal and waits for each fsync in
//! turn, so proposals queued behind a running fsync would each cost an fsync of their own.
//! Holding the next batch back until the running append is flushed puts every caller that
//! arrived during that fsync into one entry instead.

use std::sync::Arc;
use std::time::Duration;

use openraft::error::ClientWriteError;
use tokio::sync::{Notify, Semaphore, mpsc, oneshot};

use crate::telemetry::CommitMetrics;
use crate::types::{Command, WireOp};
use crate::{RaftError, TypeConfig};

/// Proposals that may be outstanding at once (pipelining depth).
pub(crate) const MAX_IN_FLIGHT: usize = 3;
/// Most callers folded into one entry.
pub(crate) const MAX_BATCH_REQUESTS: usize = 4096;
/// Soft cap on the payload bytes of one entry (a single larger request still goes alone).
pub(crate) const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// How long a proposed write may stay unresolved before its outcome is declared unknown.
pub(crate) const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

type Reply = oneshot::Sender<Result<(), RaftError>>;

struct WriteRequest {
    ops: Vec<WireOp>,
    bytes: usize,
    reply: Reply,
}

/// The queue side of the group-commit writer.
#[derive(Clone)]
pub(crate) struct GroupCommit {
    tx: mpsc::UnboundedSender<WriteRequest>,
    stop: Arc<Notify>,
}

impl GroupCommit {
    /// Starts the writer task for `raft`; it ends on [`GroupCommit::stop`] or when every
    /// `GroupCommit` clone is dropped.
    ///
    /// A proposal still unresolved while this node leads a multi-voter cluster without hearing
    /// from a quorum for more than `quorum_stale_ms` is answered `Unknown` at that point instead
    /// of waiting for [`WRITE_TIMEOUT`].
    pub(crate) fn start(
        raft: openraft::Raft<TypeConfig>,
        quorum_stale_ms: u64,
        metrics: CommitMetrics,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let stop = Arc::new(Notify::new());
        let handle = tokio::spawn(writer(raft, rx, stop.clone(), quorum_stale_ms, metrics));
        (Self { tx, stop }, handle)
    }

    /// Tells the writer to stop proposing. Requests still queued (never proposed) are answered
    /// with `Unavailable`; proposals already in flight resolve on their own.
    pub(crate) fn stop(&self) {
        self.stop.notify_one();
    }

    /// Queues `ops` and waits until they are applied (or failed).
    pub(crate) async fn submit(&self, ops: Vec<WireOp>) -> Result<(), RaftError> {
        let bytes = ops.iter().map(op_size).sum();
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(WriteRequest { ops, bytes, reply })
            .map_err(|_| RaftError::Unavailable("raft store is shutting down".into()))?;
        match rx.await {
            Ok(res) => res,
            Err(_) => Err(RaftError::Unknown(
                "writer stopped before the write was resolved".into(),
            )),
        }
    }
}

fn op_size(op: &WireOp) -> usize {
    match op {
        WireOp::Put { key, value } => key.len() + value.len() + 16,
        WireOp::Delete { key } => key.len() + 16,
    }
}

async fn writer(
    raft: openraft::Raft<TypeConfig>,
    mut rx: mpsc::UnboundedReceiver<WriteRequest>,
    stop: Arc<Notify>,
    quorum_stale_ms: u64,
    commit_metrics: CommitMetrics,
) {
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut log_progress = raft.metrics();
    // The previous proposal: the last log index seen before it, and its resolution signal.
    let mut previous: Option<(Option<u64>, oneshot::Receiver<()>)> = None;
    loop {
        let first = tokio::select! {
            biased;
            _ = stop.notified() => break,
            next = rx.recv() => match next {
                Some(req) => req,
                None => break,
            },
        };
        let permit = tokio::select! {
            biased;
            _ = stop.notified() => {
                refuse(vec![first.reply]);
                break;
            }
            permit = slots.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        if let Some((mark, resolved)) = previous.take() {
            tokio::select! {
                biased;
                _ = stop.notified() => {
                    refuse(vec![first.reply]);
                    break;
                }
                () = taken_in(&mut log_progress, mark) => {}
                _ = resolved => {}
            }
        }
        let mut bytes = first.bytes;
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH_REQUESTS && bytes < MAX_BATCH_BYTES {
            match rx.try_recv() {
                Ok(req) => {
                    bytes += req.bytes;
                    batch.push(req);
                }
                Err(_) => break,
            }
        }
        let mut replies = Vec::with_capacity(batch.len());
        let mut lists = Vec::with_capacity(batch.len());
        for req in batch {
            replies.push(req.reply);
            lists.push(req.ops);
        }
        let mark = log_progress.borrow_and_update().last_log_index;
        let (resolved_tx, resolved) = oneshot::channel::<()>();
        let writes = lists.len();
        let proposed = std::time::Instant::now();
        match raft.client_write_ff(Command::Batch(lists)).await {
            Err(fatal) => {
                answer(
                    replies,
                    Err(RaftError::Unavailable(format!("raft stopped: {fatal}"))),
                );
            }
            Ok(pending) => {
                let metrics = raft.metrics();
                let commit_metrics = commit_metrics.clone();
                tokio::spawn(async move {
                    let outcome = tokio::select! {
                        res = pending => match res {
                            Err(_) => Err(RaftError::Unknown(
                                "raft stopped before the write was resolved".into(),
                            )),
                            Ok(res) => res.map(|_| ()).map_err(map_write_error),
                        },
                        () = quorum_lost(metrics, quorum_stale_ms) => Err(RaftError::Unknown(
                            "leader lost contact with its quorum while the write was pending"
                                .into(),
                        )),
                        () = tokio::time::sleep(WRITE_TIMEOUT) => Err(RaftError::Unknown(
                            "timed out waiting for the write to commit".into(),
                        )),
                    };
                    if outcome.is_ok() {
                        commit_metrics.committed(writes, proposed);
                    }
                    answer(replies, outcome);
                    drop(permit);
                    drop(resolved_tx);
                });
                previous = Some((mark, resolved));
            }
        }
    }
    rx.close();
    let mut queued = Vec::new();
    while let Ok(req) = rx.try_recv() {
        queued.push(req.reply);
    }
    refuse(queued);
}

/// Whether openraft has taken in a proposal made when its last log index was `mark`. Its core
/// publishes metrics only between rounds of work, after the appends of that round are flushed,
/// so a larger last log index means the proposal (or an entry after it) is on disk. An entry
/// from elsewhere (a blank or membership entry) can only release the next batch early.
fn past_mark(last_log_index: Option<u64>, mark: Option<u64>) -> bool {
    last_log_index > mark
}

/// Resolves once [`past_mark`] holds (never if the node stops; the proposal then resolves).
async fn taken_in(
    metrics: &mut tokio::sync::watch::Receiver<
        openraft::RaftMetrics<crate::NodeId, crate::NodeInfo>,
    >,
    mark: Option<u64>,
) {
    loop {
        if past_mark(metrics.borrow_and_update().last_log_index, mark) {
            return;
        }
        if metrics.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Resolves once this node is a leader of several voters that has not heard from a quorum for
/// more than `stale_ms`, or once the metrics channel closes (node stopped). Never resolves
/// otherwise.
async fn quorum_lost(
    mut metrics: tokio::sync::watch::Receiver<
        openraft::RaftMetrics<crate::NodeId, crate::NodeInfo>,
    >,
    stale_ms: u64,
) {
    loop {
        let lost = {
            let m = metrics.borrow_and_update();
            m.state == openraft::ServerState::Leader
                && m.membership_config.membership().voter_ids().count() > 1
                && m.millis_since_quorum_ack.is_some_and(|ms| ms > stale_ms)
        };
        if lost {
            return;
        }
        if metrics.changed().await.is_err() {
            // Node stopped: the responder side reports that outcome.
            std::future::pending::<()>().await;
        }
    }
}

/// Answers requests that were never proposed because the writer is stopping.
fn refuse(replies: Vec<Reply>) {
    answer(
        replies,
        Err(RaftError::Unavailable("raft store is shutting down".into())),
    );
}

/// Maps a definite refusal of a proposed write. `ForwardToLeader` is definite: openraft
/// reports it either before appending or after the entry was truncated by a newer leader.
pub(crate) fn map_write_error(e: ClientWriteError<crate::NodeId, crate::NodeInfo>) -> RaftError {
    match e {
        ClientWriteError::ForwardToLeader(f) => RaftError::NotLeader {
            leader: f.leader_node.map(|n| n.node_id),
        },
        ClientWriteError::ChangeMembershipError(e) => RaftError::Membership(e.to_string()),
    }
}

fn answer(replies: Vec<Reply>, outcome: Result<(), RaftError>) {
    for reply in replies {
        let res = match &outcome {
            Ok(()) => Ok(()),
            Err(e) => Err(clone_error(e)),
        };
        // A caller that gave up waiting is not an error.
        let _ = reply.send(res);
    }
}

fn clone_error(e: &RaftError) -> RaftError {
    match e {
        RaftError::NotLeader { leader } => RaftError::NotLeader {
            leader: leader.clone(),
        },
        RaftError::Unavailable(m) => RaftError::Unavailable(m.clone()),
        RaftError::Membership(m) => RaftError::Membership(m.clone()),
        other => RaftError::Unknown(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_to_leader_names_the_leader() {
        let node = crate::NodeInfo {
            node_id: "vault-2".into(),
            api_addr: "a".into(),
            cluster_addr: "c".into(),
        };
        let e = ClientWriteError::ForwardToLeader(openraft::error::ForwardToLeader::new(2, node));
        assert!(matches!(
            map_write_error(e),
            RaftError::NotLeader { leader: Some(l) } if l == "vault-2"
        ));
    }

    #[test]
    fn a_proposal_is_taken_in_once_the_log_grows_past_its_mark() {
        assert!(!past_mark(None, None));
        assert!(past_mark(Some(1), None));
        assert!(!past_mark(Some(7), Some(7)));
        assert!(!past_mark(Some(6), Some(7)));
        assert!(past_mark(Some(8), Some(7)));
    }

    #[test]
    fn op_sizes_count_payload() {
        let put = WireOp::Put {
            key: "abc".into(),
            value: vec![0; 100],
        };
        assert_eq!(op_size(&put), 119);
    }
}
