//! Manual quorum-loss recovery from a `peers.json` file, as Vault's integrated storage offers.
//!
//! When a cluster has lost its quorum for good, the operator stops the survivors, writes the
//! same `peers.json` on each and starts them again. Before Raft starts, [`recover_if_present`]
//! rewrites the node's membership to exactly the listed peers and deletes the file.
//!
//! **Where.** Vault reads `<storage path>/raft/peers.json`; Tresor keeps its Raft files directly
//! in the storage path (`storage "raft" { path = ... }` is the data dir), so both
//! `<data dir>/raft/peers.json` (the Vault location) and `<data dir>/peers.json` are read. If
//! both exist the start fails: which one was meant is not guessed.
//!
//! **Format.** A JSON array of `{"id": "...", "address": "host:port", "non_voter": false}`:
//! `id` is the node id (`node_id` in the config), `address` the cluster address without a
//! scheme, `non_voter` (optional, default false) lists the node as a non-voting learner. The
//! node applying the file must be listed, at least one peer must be a voter, ids and addresses
//! are unique, and the file holds at most [`MAX_PEERS`] peers in [`MAX_FILE_BYTES`] bytes.
//! Anything else fails the start with the file's path and the reason.
//!
//! **How.** A membership entry is appended after the last log entry (or the last applied one,
//! whichever is later). It is the effective membership when openraft loads the log, so the
//! node starts with that configuration and the survivors elect a leader among themselves; the
//! entry commits with that leader's first entry. Its log id is `(last term + 1, node 0,
//! last index + 1)`:
//! - node id 0 is never a real node's (ids are SHA-256 prefixes), so no leader ever wrote an
//!   entry with this leader id: it can not be mistaken for a real entry of another log;
//! - survivors that hold the same log produce the same entry (the nodes of the membership are
//!   taken from the peers file and the log only, never from the local configuration), and
//!   between different logs the usual rule holds: the higher last term, then the longer log,
//!   wins the election, so the most up-to-date survivor leads and the others follow it;
//! - the stored vote is raised to at least `(last term + 1, this node)`, not committed, so the
//!   vote is never behind the log and the node starts as a follower (a lone voter elects
//!   itself at once).
//!
//! Nodes left out of the file must not be started again with their old data: wipe them and
//! join them as new nodes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use openraft::storage::{RaftLogStorage, RaftStateMachine};
use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, Membership, RaftLogReader, Vote};
use serde::Deserialize;

use crate::log_store::LogStore;
use crate::state_machine::StateMachine;
use crate::{NodeId, NodeInfo, RaftError, TypeConfig, node_id_of};

/// The file's name.
pub const FILE_NAME: &str = "peers.json";
/// The largest peers file read.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// The most peers a file may list.
pub const MAX_PEERS: usize = 1024;
/// The longest node id accepted.
const MAX_ID_LEN: usize = 256;
/// The leader id's node of the recovery entry: no real node has it.
pub const RECOVERY_NODE: NodeId = 0;

/// One peer of a `peers.json` file.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Peer {
    /// The node id.
    pub id: String,
    /// The cluster address, `host:port`.
    pub address: String,
    /// Whether the peer is a non-voting learner.
    #[serde(default)]
    pub non_voter: bool,
}

/// What a recovery did (for the log line and tests).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovered {
    /// The file that was applied (and deleted).
    pub file: PathBuf,
    /// Index of the membership entry written.
    pub index: u64,
    /// Term of the membership entry written.
    pub term: u64,
    /// Voter ids, in file order.
    pub voters: Vec<String>,
    /// Non-voter ids, in file order.
    pub non_voters: Vec<String>,
}

/// The candidate locations of the peers file under `data_dir`, the Vault one first.
pub fn candidate_paths(data_dir: &Path) -> [PathBuf; 2] {
    [
        data_dir.join("raft").join(FILE_NAME),
        data_dir.join(FILE_NAME),
    ]
}

/// Parses and validates a peers file's bytes (pure). The error is the reason, for the caller
/// to prefix with the path.
pub fn parse_peers(bytes: &[u8]) -> Result<Vec<Peer>, String> {
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("larger than {MAX_FILE_BYTES} bytes"));
    }
    let peers: Vec<Peer> = serde_json::from_slice(bytes).map_err(|e| {
        format!("not a JSON array of {{\"id\", \"address\", \"non_voter\"}} objects: {e}")
    })?;
    if peers.is_empty() {
        return Err("lists no peers".into());
    }
    if peers.len() > MAX_PEERS {
        return Err(format!("lists more than {MAX_PEERS} peers"));
    }
    let mut ids = BTreeSet::new();
    let mut addrs = BTreeSet::new();
    for (i, p) in peers.iter().enumerate() {
        validate_id(&p.id).map_err(|r| format!("peer {i}: id: {r}"))?;
        validate_address(&p.address)
            .map_err(|r| format!("peer {i} ({}): address {:?}: {r}", p.id, p.address))?;
        if !ids.insert(p.id.as_str()) {
            return Err(format!("peer {i}: id {:?} is listed twice", p.id));
        }
        if !addrs.insert(p.address.as_str()) {
            return Err(format!("peer {i}: address {:?} is listed twice", p.address));
        }
    }
    if peers.iter().all(|p| p.non_voter) {
        return Err("lists no voter (every peer has non_voter: true)".into());
    }
    Ok(peers)
}

fn validate_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("is empty".into());
    }
    if id.len() > MAX_ID_LEN {
        return Err(format!("longer than {MAX_ID_LEN} bytes"));
    }
    if id.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(format!("{id:?} holds whitespace or control characters"));
    }
    Ok(())
}

/// `host:port`: no scheme, a non-empty host (IPv6 in brackets), a port 1..=65535.
fn validate_address(addr: &str) -> Result<(), String> {
    if addr.contains("://") {
        return Err("must be host:port, without a scheme".into());
    }
    let Some((host, port)) = addr.rsplit_once(':') else {
        return Err("must be host:port".into());
    };
    let host_ok = if let Some(inner) = host.strip_prefix('[') {
        inner.strip_suffix(']').is_some_and(|h| !h.is_empty())
    } else {
        !host.is_empty() && !host.contains(':')
    };
    if !host_ok
        || host
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '/')
    {
        return Err("has no valid host".into());
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err("has no valid port (1-65535)".into()),
    }
}

/// The membership the peers file describes (pure). `known` are the nodes of the membership
/// the node had: a listed peer keeps its known API address (and cluster address scheme); its
/// cluster address becomes the listed one. The result depends on `peers` and `known` only, so
/// survivors with the same log build the same entry. Fails if `me` is not listed.
pub fn recovery_membership(
    peers: &[Peer],
    me: &str,
    known: &BTreeMap<NodeId, NodeInfo>,
) -> Result<Membership<NodeId, NodeInfo>, String> {
    if !peers.iter().any(|p| p.id == me) {
        return Err(format!(
            "this node ({me}) is not listed; list every surviving node, this one included"
        ));
    }
    // The scheme of the existing cluster addresses, for peers not known yet.
    let default_scheme = known
        .values()
        .find_map(|n| scheme_of(&n.cluster_addr))
        .unwrap_or_default();
    let mut voters = BTreeSet::new();
    let mut nodes = BTreeMap::new();
    for p in peers {
        let id = node_id_of(&p.id);
        let info = match known.get(&id) {
            Some(old) => NodeInfo {
                node_id: p.id.clone(),
                api_addr: old.api_addr.clone(),
                cluster_addr: with_address(&old.cluster_addr, &p.address),
            },
            None => NodeInfo {
                node_id: p.id.clone(),
                api_addr: String::new(),
                cluster_addr: format!("{default_scheme}{}", p.address),
            },
        };
        if !p.non_voter {
            voters.insert(id);
        }
        nodes.insert(id, info);
    }
    Ok(Membership::new(vec![voters], nodes))
}

/// `scheme://` of an address, if it has one.
fn scheme_of(addr: &str) -> Option<String> {
    addr.find("://").map(|i| addr[..i + 3].to_string())
}

/// `old` with its host:port replaced by `address` (kept as is when they already agree).
fn with_address(old: &str, address: &str) -> String {
    let scheme = scheme_of(old).unwrap_or_default();
    if old[scheme.len()..] == *address {
        old.to_string()
    } else {
        format!("{scheme}{address}")
    }
}

/// The log id of the recovery entry (pure): one past the later of the last log entry and the
/// last applied one, with the next term and [`RECOVERY_NODE`] as its leader.
pub fn recovery_log_id(
    last_log: Option<LogId<NodeId>>,
    last_applied: Option<LogId<NodeId>>,
) -> LogId<NodeId> {
    let base = std::cmp::max(last_log, last_applied);
    let term = base.map(|l| l.leader_id.term).unwrap_or(0) + 1;
    let index = base.map(|l| l.index + 1).unwrap_or(0);
    LogId::new(CommittedLeaderId::new(term, RECOVERY_NODE), index)
}

/// The vote to store with the recovery entry (pure): the current one if it is already ahead
/// of `(entry term, me)`, else that; never committed, so the node starts as a follower and
/// holds an election.
pub fn recovery_vote(
    current: Option<Vote<NodeId>>,
    entry: &LogId<NodeId>,
    me: NodeId,
) -> Vote<NodeId> {
    let floor = Vote::new(entry.leader_id.term, me);
    match current {
        Some(v) if v.leader_id > floor.leader_id => {
            Vote::new(v.leader_id.term, v.leader_id.node_id)
        }
        _ => floor,
    }
}

/// Finds the peers file under `data_dir`; an error if both locations hold one.
fn locate(data_dir: &Path) -> Result<Option<PathBuf>, RaftError> {
    let found: Vec<PathBuf> = candidate_paths(data_dir)
        .into_iter()
        .filter(|p| p.exists())
        .collect();
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.clone())),
        [a, b, ..] => Err(RaftError::PeersJson {
            path: a.display().to_string(),
            reason: format!("{} exists too; keep only one", b.display()),
        }),
    }
}

fn bad(path: &Path, reason: impl Into<String>) -> RaftError {
    RaftError::PeersJson {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

/// Reads the file, bounded.
fn read_bounded(path: &Path) -> Result<Vec<u8>, RaftError> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| bad(path, format!("open: {e}")))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| bad(path, format!("read: {e}")))?;
    Ok(bytes)
}

/// The nodes of the membership the node had: the last membership entry in the unapplied log,
/// else the applied one.
async fn known_nodes(
    log: &mut LogStore,
    since: u64,
    last: Option<u64>,
    applied: &openraft::StoredMembership<NodeId, NodeInfo>,
) -> Result<BTreeMap<NodeId, NodeInfo>, RaftError> {
    const STEP: u64 = 256;
    let mut end = last.map(|l| l + 1).unwrap_or(0);
    while end > since {
        let start = std::cmp::max(since, end.saturating_sub(STEP));
        let entries = log
            .try_get_log_entries(start..end)
            .await
            .map_err(|e| RaftError::Io(e.to_string()))?;
        for entry in entries.iter().rev() {
            if let EntryPayload::Membership(m) = &entry.payload {
                return Ok(m.nodes().map(|(id, n)| (*id, n.clone())).collect());
            }
        }
        end = start;
    }
    Ok(applied
        .membership()
        .nodes()
        .map(|(id, n)| (*id, n.clone()))
        .collect())
}

/// Applies a peers file under `data_dir`, if there is one, to the node's log before Raft
/// starts, then deletes it. `None` if there was no file.
pub(crate) async fn recover_if_present(
    data_dir: &Path,
    node_id: &str,
    log: &mut LogStore,
    sm: &mut StateMachine,
) -> Result<Option<Recovered>, RaftError> {
    let Some(path) = locate(data_dir)? else {
        return Ok(None);
    };
    let peers = parse_peers(&read_bounded(&path)?).map_err(|r| bad(&path, r))?;

    let state = log
        .get_log_state()
        .await
        .map_err(|e| RaftError::Io(e.to_string()))?;
    let (last_applied, applied_membership) = sm
        .applied_state()
        .await
        .map_err(|e| RaftError::Io(e.to_string()))?;
    let since = std::cmp::max(
        last_applied.map(|l| l.index + 1).unwrap_or(0),
        st_next(state.last_purged_log_id),
    );
    let known = known_nodes(
        log,
        since,
        state.last_log_id.map(|l| l.index),
        &applied_membership,
    )
    .await?;
    let membership = recovery_membership(&peers, node_id, &known).map_err(|r| bad(&path, r))?;
    let log_id = recovery_log_id(state.last_log_id, last_applied);
    let vote = recovery_vote(
        log.read_vote()
            .await
            .map_err(|e| RaftError::Io(e.to_string()))?,
        &log_id,
        node_id_of(node_id),
    );
    // A snapshot installed ahead of the log: drop the older entries first, so the log stays
    // contiguous up to the recovery entry (openraft would do the same at startup).
    if let Some(applied) = last_applied
        && state.last_log_id < last_applied
    {
        log.purge(applied)
            .await
            .map_err(|e| RaftError::Io(e.to_string()))?;
    }
    let entry = Entry::<TypeConfig> {
        log_id,
        payload: EntryPayload::Membership(membership),
    };
    log.append_recovery(entry, vote).await?;
    std::fs::remove_file(&path).map_err(|e| {
        bad(
            &path,
            format!("applied, but could not be deleted ({e}); delete it before the next start"),
        )
    })?;
    let recovered = Recovered {
        file: path,
        index: log_id.index,
        term: log_id.leader_id.term,
        voters: peers
            .iter()
            .filter(|p| !p.non_voter)
            .map(|p| p.id.clone())
            .collect(),
        non_voters: peers
            .iter()
            .filter(|p| p.non_voter)
            .map(|p| p.id.clone())
            .collect(),
    };
    tracing::warn!(
        file = %recovered.file.display(),
        index = recovered.index,
        term = recovered.term,
        voters = ?recovered.voters,
        non_voters = ?recovered.non_voters,
        "raft: peers.json applied: membership rewritten to the listed peers; the file was deleted"
    );
    Ok(Some(recovered))
}

fn st_next(purged: Option<LogId<NodeId>>) -> u64 {
    purged.map(|l| l.index + 1).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(id: &str, address: &str, non_voter: bool) -> Peer {
        Peer {
            id: id.into(),
            address: address.into(),
            non_voter,
        }
    }

    #[test]
    fn parses_the_vault_format() {
        let peers = parse_peers(
            br#"[{"id": "vault-1", "address": "10.0.0.1:8201", "non_voter": false},
                 {"id": "vault-2", "address": "[::1]:8201"},
                 {"id": "vault-3", "address": "node3.example:8201", "non_voter": true}]"#,
        )
        .unwrap();
        assert_eq!(
            peers,
            vec![
                peer("vault-1", "10.0.0.1:8201", false),
                peer("vault-2", "[::1]:8201", false),
                peer("vault-3", "node3.example:8201", true),
            ]
        );
    }

    #[test]
    fn rejects_malformed_files_with_a_reason() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "not a JSON array"),
            (b"{}", "not a JSON array"),
            (b"[]", "no peers"),
            (br#"[{"id":"a"}]"#, "not a JSON array"),
            (
                br#"[{"id":"a","address":"h:1","nonvoter":true}]"#,
                "unknown field",
            ),
            (br#"[{"id":"","address":"h:1"}]"#, "id: is empty"),
            (br#"[{"id":"a b","address":"h:1"}]"#, "whitespace"),
            (
                br#"[{"id":"a","address":"https://h:1"}]"#,
                "without a scheme",
            ),
            (br#"[{"id":"a","address":"h"}]"#, "host:port"),
            (br#"[{"id":"a","address":":1"}]"#, "no valid host"),
            (br#"[{"id":"a","address":"h:0"}]"#, "no valid port"),
            (br#"[{"id":"a","address":"h:99999"}]"#, "no valid port"),
            (br#"[{"id":"a","address":"::1:80"}]"#, "no valid host"),
            (
                br#"[{"id":"a","address":"h:1"},{"id":"a","address":"g:1"}]"#,
                "listed twice",
            ),
            (
                br#"[{"id":"a","address":"h:1"},{"id":"b","address":"h:1"}]"#,
                "listed twice",
            ),
            (
                br#"[{"id":"a","address":"h:1","non_voter":true}]"#,
                "no voter",
            ),
        ];
        for (bytes, want) in cases {
            let err = parse_peers(bytes).unwrap_err();
            assert!(
                err.contains(want),
                "{:?}: {err:?} lacks {want:?}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn rejects_oversized_files() {
        let big = vec![b' '; MAX_FILE_BYTES as usize + 1];
        assert!(parse_peers(&big).unwrap_err().contains("larger than"));
        let many: Vec<String> = (0..=MAX_PEERS)
            .map(|i| format!(r#"{{"id":"n{i}","address":"h{i}:1"}}"#))
            .collect();
        let json = format!("[{}]", many.join(","));
        assert!(
            parse_peers(json.as_bytes())
                .unwrap_err()
                .contains("more than")
        );
    }

    fn info(id: &str, api: &str, cluster: &str) -> NodeInfo {
        NodeInfo {
            node_id: id.into(),
            api_addr: api.into(),
            cluster_addr: cluster.into(),
        }
    }

    #[test]
    fn membership_keeps_known_nodes_and_lists_exactly_the_peers() {
        let known: BTreeMap<_, _> = [
            ("vault-1", "https://a:8200", "https://a:8201"),
            ("vault-2", "https://b:8200", "https://b:8201"),
            ("vault-3", "https://c:8200", "https://c:8201"),
        ]
        .into_iter()
        .map(|(id, api, cl)| (node_id_of(id), info(id, api, cl)))
        .collect();
        let peers = vec![
            peer("vault-1", "a:8201", false),
            peer("vault-2", "b2:8201", false),
            peer("vault-9", "z:8201", true),
        ];
        let m = recovery_membership(&peers, "vault-1", &known).unwrap();
        let voters: BTreeSet<_> = m.voter_ids().collect();
        assert_eq!(
            voters,
            [node_id_of("vault-1"), node_id_of("vault-2")].into()
        );
        let learners: Vec<_> = m.learner_ids().collect();
        assert_eq!(learners, vec![node_id_of("vault-9")]);
        let nodes: BTreeMap<_, _> = m.nodes().map(|(k, v)| (*k, v.clone())).collect();
        assert_eq!(nodes.len(), 3, "vault-3 is dropped");
        assert_eq!(
            nodes[&node_id_of("vault-1")],
            info("vault-1", "https://a:8200", "https://a:8201")
        );
        assert_eq!(
            nodes[&node_id_of("vault-2")],
            info("vault-2", "https://b:8200", "https://b2:8201"),
            "the listed address wins, the scheme and API address stay"
        );
        assert_eq!(
            nodes[&node_id_of("vault-9")],
            info("vault-9", "", "https://z:8201")
        );
        // Another survivor builds the same membership from the same inputs.
        assert_eq!(recovery_membership(&peers, "vault-2", &known).unwrap(), m);
    }

    #[test]
    fn membership_requires_this_node() {
        let peers = vec![peer("vault-2", "b:8201", false)];
        let err = recovery_membership(&peers, "vault-1", &BTreeMap::new()).unwrap_err();
        assert!(
            err.contains("vault-1") && err.contains("not listed"),
            "{err}"
        );
    }

    fn lid(term: u64, node: NodeId, index: u64) -> LogId<NodeId> {
        LogId::new(CommittedLeaderId::new(term, node), index)
    }

    #[test]
    fn recovery_entry_follows_the_log_in_a_new_term() {
        assert_eq!(recovery_log_id(None, None), lid(1, RECOVERY_NODE, 0));
        assert_eq!(
            recovery_log_id(Some(lid(3, 77, 10)), Some(lid(3, 77, 8))),
            lid(4, RECOVERY_NODE, 11)
        );
        // A snapshot ahead of the log.
        assert_eq!(
            recovery_log_id(Some(lid(2, 5, 4)), Some(lid(3, 9, 20))),
            lid(4, RECOVERY_NODE, 21)
        );
        // Never a real leader's id: no real node id is 0, and the entry sorts after the log.
        let last = lid(7, 1, 100);
        let e = recovery_log_id(Some(last), None);
        assert!(e > last);
        assert!(e < lid(8, 1, 0), "a real leader of the same term wins");
    }

    #[test]
    fn survivors_order_by_last_term_then_length() {
        // Two survivors with the same last term: the longer log's entry is the greater one,
        // so the longer log wins the election.
        let short = recovery_log_id(Some(lid(5, 42, 10)), None);
        let long = recovery_log_id(Some(lid(5, 42, 12)), None);
        assert!(long > short);
        let newer_term = recovery_log_id(Some(lid(6, 1, 3)), None);
        assert!(newer_term > long);
    }

    #[test]
    fn vote_is_raised_and_never_committed() {
        let entry = lid(4, RECOVERY_NODE, 11);
        assert_eq!(recovery_vote(None, &entry, 9), Vote::new(4, 9));
        let mut old = Vote::new(3, 5);
        old.commit();
        assert_eq!(recovery_vote(Some(old), &entry, 9), Vote::new(4, 9));
        let mut ahead = Vote::new(12, 5);
        ahead.commit();
        let v = recovery_vote(Some(ahead), &entry, 9);
        assert_eq!(v, Vote::new(12, 5));
        assert!(!v.is_committed());
        assert!(v.leader_id >= openraft::LeaderId::new(entry.leader_id.term, RECOVERY_NODE));
    }

    #[test]
    fn locate_finds_either_location_but_not_both() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(locate(dir.path()).unwrap(), None);
        std::fs::create_dir(dir.path().join("raft")).unwrap();
        let vault = dir.path().join("raft").join(FILE_NAME);
        std::fs::write(&vault, "[]").unwrap();
        assert_eq!(locate(dir.path()).unwrap(), Some(vault.clone()));
        let root = dir.path().join(FILE_NAME);
        std::fs::write(&root, "[]").unwrap();
        let err = locate(dir.path()).unwrap_err().to_string();
        assert!(err.contains("keep only one"), "{err}");
        std::fs::remove_file(&vault).unwrap();
        assert_eq!(locate(dir.path()).unwrap(), Some(root));
    }
}
