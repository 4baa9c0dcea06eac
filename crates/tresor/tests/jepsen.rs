//! Jepsen-style check of a three-node cluster: concurrent clients write, read and
//! check-and-set a few KV v2 secrets through all three nodes (standbys answer the reads
//! themselves, after a read index from the active node) while a seeded fault schedule
//! kills (-9), restarts, pauses (SIGSTOP) and partitions (network namespaces) nodes; the
//! recorded history is then checked for linearizability against the KV v2 model.
//!
//! Replay: the seed and the schedule are printed first; run again with
//! `TRESOR_JEPSEN_SEED=<seed>` (same schedule and client choices) or override the faults with
//! `TRESOR_JEPSEN_SCHEDULE='seed=… nodes=3 faults=[…]'`. `TRESOR_JEPSEN_NETNS=0` runs on
//! loopback without root (partitions are then skipped).
//!
//! PRODUCT BUG this test finds (reported to the lead, not fixed here): a leader killed with
//! -9 and restarted comes back as Raft leader of its old term (openraft 0.9 restores a
//! persisted committed self-vote as leadership), its `millis_since_quorum_ack` is `None`,
//! and `RaftHa::is_active` treats `None` as fresh, so after unseal it becomes active and
//! serves reads from its pre-crash state until it hears the newer term (stale reads, e.g.
//! seed 1795395698097989339).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use tresor_testkit::cluster;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cluster::{Cluster, client_with_timeout};
use serde_json::{Value, json};
use tresor_linearizability::{
    CheckOptions, EventKind, Fault, FaultSchedule, KvOp, Recorder, ScheduleConfig,
    VersionedKvModel, check_with,
};

const CLIENTS: u64 = 5;
const KEYS: u64 = 20;
/// Faults are injected during this window; the schedule ends with a heal at its end.
const FAULT_WINDOW_MS: u64 = 25_000;
/// Operations continue this long after the final heal.
const SETTLE_MS: u64 = 8_000;
/// Schedules with fewer faults are skipped (the next seed is tried).
const MIN_FAULTS: usize = 4;

/// xorshift64*: a tiny deterministic generator for the clients' choices.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

struct Target {
    addrs: Vec<String>,
    token: String,
    /// (process, invocation time) → the node the request was sent to, for failure reports.
    sent_to: std::sync::Mutex<BTreeMap<(u64, u64), usize>>,
}

impl Target {
    fn note(&self, process: u64, invoked_ns: u64, node: usize) {
        self.sent_to
            .lock()
            .unwrap()
            .insert((process, invoked_ns), node);
    }
}

fn key_path(k: u64) -> String {
    format!("secret/data/k{k}")
}

enum Reply {
    Status(u16, Value),
    /// The connection could not be opened: the request was never sent.
    NotSent,
    /// Timeout or reset connection: the request may have been executed.
    Lost,
}

fn send(rb: reqwest::blocking::RequestBuilder) -> Reply {
    match rb.send() {
        Ok(r) => {
            let code = r.status().as_u16();
            Reply::Status(code, r.json().unwrap_or(Value::Null))
        }
        Err(e) if e.is_connect() => Reply::NotSent,
        Err(_) => Reply::Lost,
    }
}

/// Whether a refused write certainly did nothing: never sent, or refused by a sealed node
/// (which does not forward). A standby's "no active node" 503 is not certain: it is also
/// the answer when forwarding broke after the active node got the request.
fn certainly_not_applied(reply: &Reply) -> bool {
    match reply {
        Reply::NotSent => true,
        Reply::Status(503, body) => {
            let text = body.to_string();
            text.contains("sealed") || text.contains("the request was not processed")
        }
        _ => false,
    }
}

/// Pause after an operation that did not succeed, so clients do not spin through outages
/// (every unknown write makes the check more expensive).
const BACKOFF: Duration = Duration::from_millis(400);

/// One client: a loop of random operations, each recorded before it is sent and after it
/// completes. A process whose operation ended unknown continues under a fresh process id.
fn run_client(client: u64, seed: u64, target: &Target, rec: &Recorder<KvOp>, stop: &AtomicBool) {
    let http = client_with_timeout(Duration::from_secs(3));
    let mut rng = Rng::new(seed ^ (client + 1).wrapping_mul(0xA076_1D64_78BD_642F));
    let mut process = client;
    let mut last_version: BTreeMap<u64, u64> = BTreeMap::new();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let k = rng.below(KEYS);
        let key = format!("k{k}");
        let node = usize::try_from(rng.below(target.addrs.len() as u64)).unwrap();
        let addr = &target.addrs[node];
        let url = format!("{addr}/v1/{}", key_path(k));
        let value = format!("c{client}-{n}");
        let dice = rng.below(10);
        // (answered, outcome unknown)
        let (answered, unknown) = if dice < 4 {
            let at = rec.invoke(
                process,
                KvOp::Read {
                    key: key.clone(),
                    current: None,
                },
            );
            target.note(process, at, node);
            match send(http.get(&url).header("X-Vault-Token", &target.token)) {
                Reply::Status(200, body) => {
                    let version = body["data"]["metadata"]["version"].as_u64().unwrap();
                    let v = body["data"]["data"]["v"].as_str().unwrap().to_owned();
                    last_version.insert(k, version);
                    rec.ok(
                        process,
                        KvOp::Read {
                            key,
                            current: Some((version, v)),
                        },
                    );
                    (true, false)
                }
                Reply::Status(404, _) => {
                    rec.ok(process, KvOp::Read { key, current: None });
                    (true, false)
                }
                _ => {
                    // A read that failed changed nothing.
                    rec.fail(process, KvOp::Read { key, current: None });
                    (false, false)
                }
            }
        } else {
            let expected = (dice >= 7).then(|| last_version.get(&k).copied().unwrap_or(0));
            let op = |version| match expected {
                Some(expected_version) => KvOp::Cas {
                    key: key.clone(),
                    expected_version,
                    value: value.clone(),
                    version,
                },
                None => KvOp::Write {
                    key: key.clone(),
                    value: value.clone(),
                    version,
                },
            };
            let at = rec.invoke(process, op(None));
            target.note(process, at, node);
            let body = match expected {
                Some(cas) => json!({"options": {"cas": cas}, "data": {"v": value}}),
                None => json!({"data": {"v": value}}),
            };
            let reply = send(
                http.put(&url)
                    .header("X-Vault-Token", &target.token)
                    .json(&body),
            );
            match reply {
                Reply::Status(200, body) => {
                    let version = body["data"]["version"].as_u64().unwrap();
                    last_version.insert(k, version);
                    rec.ok(process, op(Some(version)));
                    (true, false)
                }
                Reply::Status(400, body)
                    if body
                        .to_string()
                        .contains("check-and-set parameter did not match") =>
                {
                    rec.fail(process, op(None));
                    // Learn the current version on the next read.
                    last_version.remove(&k);
                    (true, false)
                }
                ref other if certainly_not_applied(other) => {
                    rec.fail(process, op(None));
                    (false, false)
                }
                _ => {
                    // Refused by a standby, timed out or reset: it may take effect later.
                    rec.info(process, op(None));
                    (false, true)
                }
            }
        };
        if unknown {
            process += CLIENTS;
        }
        if !answered {
            std::thread::sleep(BACKOFF);
        }
    }
}

/// Applies the schedule to the cluster in real time, then heals everything.
fn run_faults(c: &mut Cluster, schedule: &FaultSchedule, start: Instant) {
    // (time, node) of pending resumes of paused nodes.
    let mut resumes: Vec<(u64, usize)> = Vec::new();
    let mut faults = schedule.faults.iter().peekable();
    loop {
        let next_fault = faults.peek().map(|t| t.at_ms);
        let next_resume = resumes.iter().map(|r| r.0).min();
        let Some(at) = [next_fault, next_resume].into_iter().flatten().min() else {
            break;
        };
        let now = u64::try_from(start.elapsed().as_millis()).unwrap();
        if at > now {
            std::thread::sleep(Duration::from_millis(at - now));
        }
        if next_resume == Some(at) {
            let i = resumes.iter().position(|r| r.0 == at).unwrap();
            let (_, node) = resumes.remove(i);
            eprintln!("[{at}ms] resume({node})");
            c.resume(node);
            continue;
        }
        let fault = faults.next().unwrap().fault;
        eprintln!("[{}ms] {fault}", start.elapsed().as_millis());
        match fault {
            Fault::KillLeader => match c.leader() {
                Some(l) => {
                    eprintln!("  killing node {l}");
                    c.kill9(l);
                }
                None => eprintln!("  no single leader right now; skipped"),
            },
            Fault::KillNode(i) => c.kill9(i),
            Fault::Pause(i, ms) => {
                if c.nodes[i].is_running() {
                    c.pause(i);
                    resumes.push((at + ms, i));
                }
            }
            Fault::Partition { isolate } => {
                if c.net.is_some() {
                    c.isolate(isolate);
                } else {
                    eprintln!("  no network namespaces: skipped");
                }
            }
            Fault::Restart(i) => restart_and_unseal(c, i),
            Fault::Heal => heal_all(c),
        }
    }
    heal_all(c);
}

fn restart_and_unseal(c: &mut Cluster, i: usize) {
    if !c.nodes[i].is_running() {
        c.restart(i);
        c.unseal(i);
    }
}

fn heal_all(c: &mut Cluster) {
    c.heal();
    for i in 0..c.nodes.len() {
        c.resume(i);
        restart_and_unseal(c, i);
    }
}

fn seed() -> u64 {
    match std::env::var("TRESOR_JEPSEN_SEED") {
        Ok(s) => s.trim().parse().expect("TRESOR_JEPSEN_SEED must be a u64"),
        Err(_) => {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap();
            u64::try_from(t.as_nanos() % u128::from(u64::MAX)).unwrap()
                ^ u64::from(std::process::id())
        }
    }
}

/// The first schedule with at least [`MIN_FAULTS`] faults generated from `seed`, `seed + 1`,
/// … (deterministic in `seed`).
fn schedule_for(seed: u64) -> FaultSchedule {
    let config = ScheduleConfig {
        nodes: 3,
        duration_ms: FAULT_WINDOW_MS,
        max_faults: 10,
        max_pause_ms: 3_000,
    };
    (0..)
        .map(|n| FaultSchedule::generate(seed.wrapping_add(n), &config))
        .find(|s| s.faults.len() >= MIN_FAULTS)
        .unwrap()
}

/// How many requests node `i` ran through its own pipeline (`vault.core.handle_request`).
fn served_requests(c: &Cluster, i: usize) -> u64 {
    let doc: Value = c.get(i, "sys/metrics").json().unwrap_or_default();
    doc["Samples"]
        .as_array()
        .map(|samples| {
            samples
                .iter()
                .filter(|s| s["Name"] == "vault.core.handle_request")
                .filter_map(|s| s["Count"].as_u64())
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn kv_history_under_faults_is_linearizable() {
    let seed = seed();
    let schedule = match std::env::var("TRESOR_JEPSEN_SCHEDULE") {
        Ok(text) => FaultSchedule::parse(&text).expect("TRESOR_JEPSEN_SCHEDULE"),
        Err(_) => schedule_for(seed),
    };
    let replay = format!("TRESOR_JEPSEN_SEED={seed} TRESOR_JEPSEN_SCHEDULE='{schedule}'");
    eprintln!("jepsen: {replay}");
    let netns = std::env::var("TRESOR_JEPSEN_NETNS").map_or(true, |v| v != "0");
    let mut c = if netns {
        Cluster::start_netns(3)
    } else {
        Cluster::start(3)
    };
    let leader = c.wait_leader(None, Duration::from_secs(10));
    let r = c.post(
        leader,
        "sys/mounts/secret",
        json!({"type": "kv", "options": {"version": "2"}}),
    );
    assert_eq!(r.status(), 204, "{}", r.text().unwrap());

    let rec = Arc::new(Recorder::<KvOp>::new());
    let stop = Arc::new(AtomicBool::new(false));
    let target = Arc::new(Target {
        addrs: c.addrs(),
        token: c.token.clone(),
        sent_to: std::sync::Mutex::new(BTreeMap::new()),
    });
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (rec, stop, target) = (rec.clone(), stop.clone(), target.clone());
            std::thread::spawn(move || run_client(client, seed, &target, &rec, &stop))
        })
        .collect();
    let start = Instant::now();
    run_faults(&mut c, &schedule, start);
    let window = Duration::from_millis(FAULT_WINDOW_MS);
    if let Some(rest) = window.checked_sub(start.elapsed()) {
        std::thread::sleep(rest);
    }
    // Everything is healed: the cluster must serve again.
    let leader = wait_leader_or_explain(&c, &schedule, Duration::from_secs(20));
    let healed = start.elapsed();
    std::thread::sleep(Duration::from_millis(SETTLE_MS));
    stop.store(true, Ordering::Relaxed);
    for t in clients {
        t.join().unwrap();
    }
    eprintln!(
        "healed at {healed:?}, node {leader} leads; {} events",
        rec.len()
    );
    // The clients read through every node: the standbys answered reads themselves (their
    // own pipeline counts them), so the check below covers standby reads too.
    let standby_served: Vec<(usize, u64)> = (0..c.nodes.len())
        .filter(|i| *i != leader && c.health(*i) == Some(473))
        .map(|i| (i, served_requests(&c, i)))
        .collect();
    eprintln!("jepsen: requests served by standbys since their last start: {standby_served:?}");
    assert!(
        standby_served.iter().any(|(_, n)| *n > 0),
        "no standby answered a read itself: {standby_served:?}"
    );

    // Final reads of every key through the active node (a fresh process per key).
    let http = client_with_timeout(Duration::from_secs(5));
    for k in 0..KEYS {
        let process = 10_000 + k;
        let key = format!("k{k}");
        let read = |current| KvOp::Read {
            key: key.clone(),
            current,
        };
        c.wait_for("a final read", Duration::from_secs(20), |c| {
            rec.invoke(process, read(None));
            let r = http
                .get(c.url(leader, &key_path(k)))
                .header("X-Vault-Token", &c.token)
                .send();
            match r.as_ref().map(|r| r.status().as_u16()) {
                Ok(200) => {
                    let body: Value = r.unwrap().json().unwrap();
                    let version = body["data"]["metadata"]["version"].as_u64().unwrap();
                    let v = body["data"]["data"]["v"].as_str().unwrap().to_owned();
                    rec.ok(process, read(Some((version, v))));
                    Some(())
                }
                Ok(404) => {
                    rec.ok(process, read(None));
                    Some(())
                }
                _ => {
                    rec.fail(process, read(None));
                    None
                }
            }
        });
    }

    let history = rec.history();
    let ops = history.operations().unwrap();
    let mut counts: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    let events = history.events();
    for e in events.iter().filter(|e| e.kind != EventKind::Invoke) {
        let kind = match e.op {
            KvOp::Read { .. } => "read",
            KvOp::Write { .. } => "write",
            KvOp::Cas { .. } => "cas",
        };
        let outcome = match e.kind {
            EventKind::Ok => "ok",
            EventKind::Fail => "fail",
            _ => "info",
        };
        *counts.entry((kind, outcome)).or_default() += 1;
    }
    eprintln!("jepsen: {} operations; {counts:?}", ops.len());
    let ok_writes = counts.get(&("write", "ok")).copied().unwrap_or(0)
        + counts.get(&("cas", "ok")).copied().unwrap_or(0);
    let ok_total: usize = counts
        .iter()
        .filter(|((_, o), _)| *o == "ok")
        .map(|(_, n)| n)
        .sum();

    // Operations with unknown outcomes stay open to the end, which makes the search wide:
    // give it room. The budget is per key; twenty keys keep each key's history small enough
    // (a history of ~3,000 operations over ten keys once needed more than 20 million steps
    // on one key, and was linearizable with more).
    let options = CheckOptions {
        max_steps: 100_000_000,
    };
    let result = check_with(&history, &VersionedKvModel, options).unwrap();
    if !result.is_linearizable() {
        let dump = std::env::temp_dir().join(format!("tresor-jepsen-{seed}.json"));
        std::fs::write(&dump, serde_json::to_vec(&history).unwrap()).unwrap();
        let mut nodes = String::new();
        if let tresor_linearizability::CheckResult::NotLinearizable(a) = &result {
            let sent = target.sent_to.lock().unwrap();
            for r in &a.window {
                let node = sent.get(&(r.process, r.invoked_ns));
                nodes.push_str(&format!(
                    "  process {} invoked at {}ns was sent to node {node:?}\n",
                    r.process, r.invoked_ns
                ));
            }
        }
        panic!(
            "{result}\n{nodes}history written to {}\nreplay with: {replay}",
            dump.display()
        );
    }
    assert!(
        ok_total > 100 && ok_writes > 20,
        "too few acknowledged operations ({counts:?}); replay with: {replay}"
    );
    eprintln!("jepsen: linearizable ({replay})");
}

/// Waits for exactly one active node after the final heal; on timeout, prints what every node
/// reports and the tail of its log before failing, so the schedule can be diagnosed.
fn wait_leader_or_explain(c: &Cluster, schedule: &FaultSchedule, timeout: Duration) -> usize {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(i) = c.leader() {
            return i;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for (i, node) in c.nodes.iter().enumerate() {
        eprintln!(
            "node {i}: running {} health {:?} leader {:?}",
            node.is_running(),
            c.health(i),
            c.leader_status(i)
        );
        let log = node.log();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        for line in tail.into_iter().rev() {
            eprintln!("  node {i} | {line}");
        }
    }
    panic!("no single active node {timeout:?} after the final heal; schedule: {schedule}");
}
