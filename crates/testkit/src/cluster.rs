//! Cluster harness: several real `tresor server` processes forming one Raft cluster through
//! `retry_join`, either on loopback or each in its own network namespace
//! ([`Cluster::start_netns`]), with helpers to unseal, kill -9, pause (SIGSTOP), resume,
//! restart, isolate and find the leader. Every wait polls with a deadline; dropping a node
//! resumes and kills its process, dropping a cluster also removes its namespaces.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // test support panics on setup failure

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};

use crate::process::{Init, bin, free_port, strings};

pub use crate::netns::Netns;

/// Where a node listens: loopback ports, or a namespace address.
#[derive(Clone)]
pub struct Place {
    /// The namespace to run in (`None`: the test's own).
    pub ns: Option<String>,
    /// The listen address.
    pub ip: String,
    pub port: u16,
    pub cluster_port: u16,
}

impl Place {
    /// Two free loopback ports.
    pub fn loopback() -> Place {
        Place {
            ns: None,
            ip: "127.0.0.1".into(),
            port: free_port(),
            cluster_port: free_port(),
        }
    }
}

/// Extra configuration written into every node's config of a cluster.
#[derive(Clone, Debug, Default)]
pub struct Extra {
    /// Appended at the top level (e.g. a `telemetry { … }` stanza).
    pub top: String,
    /// Appended inside the `listener "tcp"` block (e.g. its `telemetry { … }`).
    pub listener: String,
}

impl Extra {
    /// What Prometheus needs: host names left out of metric names and `sys/metrics` served
    /// without a token, so that a sealed node still reports `vault_core_unsealed 0`.
    pub fn observed() -> Extra {
        Extra {
            top: "telemetry {\n  disable_hostname = true\n}\n".into(),
            listener: "  telemetry {\n    unauthenticated_metrics_access = true\n  }\n".into(),
        }
    }
}

/// One node process.
pub struct Node {
    pub dir: tempfile::TempDir,
    pub name: String,
    pub port: u16,
    pub cluster_port: u16,
    pub addr: String,
    pub place: Place,
    /// Extra configuration (see [`Extra`]); takes effect at the next [`Node::write_config`].
    pub extra: Extra,
    config: PathBuf,
    child: Option<Child>,
    paused: bool,
}

impl Node {
    /// Writes the config of node `name` on loopback; `join` is the API address of a node to
    /// join.
    pub fn new(name: &str, join: Option<&str>) -> Node {
        Self::new_at(
            name,
            Place::loopback(),
            join.into_iter().map(str::to_owned).collect(),
        )
    }

    /// Writes the config of node `name` listening at `place`, with one `retry_join` block per
    /// address of `join`.
    pub fn new_at(name: &str, place: Place, join: Vec<String>) -> Node {
        Self::new_with(name, place, join, Extra::default())
    }

    /// Like [`Node::new_at`], with `extra` configuration.
    pub fn new_with(name: &str, place: Place, join: Vec<String>, extra: Extra) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let mut node = Node {
            config: dir.path().join("server.hcl"),
            dir,
            name: name.to_owned(),
            port: place.port,
            cluster_port: place.cluster_port,
            addr: format!("http://{}:{}", place.ip, place.port),
            place,
            extra,
            child: None,
            paused: false,
        };
        node.write_config(&join);
        node
    }

    /// (Re)writes the config with one `retry_join` block per address of `join`.
    pub fn write_config(&mut self, join: &[String]) {
        let data = self.dir.path().join("data");
        let retry: String = join
            .iter()
            .map(|j| format!("  retry_join {{\n    leader_api_addr = \"{j}\"\n  }}\n"))
            .collect();
        let (ip, port, cport, name) = (&self.place.ip, self.port, self.cluster_port, &self.name);
        std::fs::write(
            &self.config,
            format!(
                r#"
storage "raft" {{
  path    = "{data}"
  node_id = "{name}"
  performance_multiplier = 1
{retry}}}
listener "tcp" {{
  address         = "{ip}:{port}"
  cluster_address = "{ip}:{cport}"
  tls_disable     = true
{listener_extra}}}
api_addr      = "http://{ip}:{port}"
cluster_addr  = "https://{ip}:{cport}"
disable_mlock = true
log_level     = "info"
{top_extra}"#,
                data = data.display(),
                listener_extra = self.extra.listener,
                top_extra = self.extra.top,
            ),
        )
        .unwrap();
    }

    /// Deletes the node's Raft data (the process must not be running).
    pub fn wipe_data(&mut self) {
        assert!(self.child.is_none(), "wipe_data on a running node");
        let data = self.dir.path().join("data");
        if data.exists() {
            std::fs::remove_dir_all(&data).unwrap();
        }
    }

    /// Starts the process and waits until its API answers.
    pub fn spawn(&mut self, http: &Client) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))
            .unwrap();
        let mut cmd = match &self.place.ns {
            // `ip netns exec` execs the binary, so the child's pid is the server's pid.
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(bin());
                c
            }
            None => Command::new(bin()),
        };
        let child = cmd
            .arg("server")
            .arg(format!("-config={}", self.config.display()))
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn tresor server");
        self.child = Some(child);
        self.paused = false;
        let url = format!("{}/v1/sys/health", self.addr);
        crate::process::wait_answering(
            &self.name,
            Duration::from_secs(30),
            &mut self.child,
            self.dir.path(),
            || http.get(&url).send().is_ok(),
        );
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Whether the process is stopped with SIGSTOP.
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn signal(&self, sig: &str) {
        if let Some(pid) = self.pid() {
            let st = Command::new("kill")
                .args([sig, &pid.to_string()])
                .status()
                .expect("run kill");
            assert!(st.success(), "kill {sig} {pid} failed");
        }
    }

    /// Freezes the process (SIGSTOP): its sockets stay open but nothing is answered.
    pub fn pause(&mut self) {
        if self.child.is_some() && !self.paused {
            self.signal("-STOP");
            self.paused = true;
        }
    }

    /// Lets a paused process run again (SIGCONT).
    pub fn resume(&mut self) {
        if self.paused {
            self.signal("-CONT");
            self.paused = false;
        }
    }

    /// SIGTERM, as an init system stops a node, then waits (at most 60 s) for the process to
    /// exit and returns its exit code; SIGKILL if it does not.
    pub fn terminate(&mut self) -> Option<i32> {
        self.resume();
        self.signal("-TERM");
        let mut child = self.child.take()?;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return status.code(),
                Ok(None) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                _ => {
                    child.kill().ok();
                    child.wait().ok();
                    return None;
                }
            }
        }
    }

    /// SIGKILL, then reaps the process.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().ok();
            c.wait().ok();
        }
        self.paused = false;
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.resume();
        self.kill9();
        // A failing test shows what each node was doing: its log goes with its temp dir.
        if std::thread::panicking() {
            eprintln!(
                "---- last log lines of {} ----\n{}",
                self.name,
                tail(&self.log(), 60)
            );
        }
    }
}

/// A cluster of node processes; node 0 initialized it, the others joined it.
pub struct Cluster {
    /// The nodes (dropped before `net`: processes die before their namespaces go).
    pub nodes: Vec<Node>,
    pub init: Init,
    pub token: String,
    /// Client with a 30 s timeout for requests expected to answer.
    pub http: Client,
    /// Client with a 2 s timeout for probing nodes that may be paused or cut off.
    pub probe: Client,
    /// The namespaces of a [`Cluster::start_netns`] cluster.
    pub net: Option<Netns>,
    /// Extra configuration of every node, including nodes added later.
    pub extra: Extra,
}

/// A blocking client with `timeout`, ignoring any proxy settings of the environment.
pub fn client_with_timeout(timeout: Duration) -> Client {
    Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(2)))
        .no_proxy()
        .build()
        .unwrap()
}

fn client() -> Client {
    client_with_timeout(Duration::from_secs(30))
}

impl Cluster {
    /// Starts node 0, initializes it (3 shares, threshold 2) and unseals it, then starts
    /// `n - 1` nodes with `retry_join` to node 0, unseals them and waits until every node is
    /// a voter.
    pub fn start(n: usize) -> Cluster {
        Self::start_with(n, None, Extra::default())
    }

    /// Like [`Cluster::start`], with `extra` configuration on every node.
    pub fn start_configured(n: usize, extra: Extra) -> Cluster {
        Self::start_with(n, None, extra)
    }

    /// Like [`Cluster::start`], each node in its own network namespace (see [`Netns`]), so
    /// that [`Cluster::isolate`] can cut it off. Needs root.
    pub fn start_netns(n: usize) -> Cluster {
        Self::start_with(n, Some(Netns::create(n)), Extra::default())
    }

    fn place(net: Option<&Netns>, i: usize) -> Place {
        match net {
            Some(net) => Place {
                ns: Some(net.nodes[i].clone()),
                ip: net.ip(i),
                port: 8200,
                cluster_port: 8201,
            },
            None => Place::loopback(),
        }
    }

    fn start_with(n: usize, net: Option<Netns>, extra: Extra) -> Cluster {
        let http = client();
        let mut first = Node::new_with(
            "node-1",
            Self::place(net.as_ref(), 0),
            Vec::new(),
            extra.clone(),
        );
        first.spawn(&http);
        let r = http
            .put(format!("{}/v1/sys/init", first.addr))
            .json(&json!({"secret_shares": 3, "secret_threshold": 2}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().unwrap();
        let init = Init {
            keys: strings(&v["keys"]),
            keys_base64: strings(&v["keys_base64"]),
            root_token: v["root_token"].as_str().unwrap().to_owned(),
        };
        let mut c = Cluster {
            token: init.root_token.clone(),
            init,
            nodes: vec![first],
            http,
            probe: client_with_timeout(Duration::from_secs(2)),
            net,
            extra,
        };
        c.unseal(0);
        c.wait_for("node-1 to be active", Duration::from_secs(20), |c| {
            (c.get(0, "sys/health").status() == 200).then_some(())
        });
        for i in 1..n {
            c.add_node(&format!("node-{}", i + 1));
        }
        c.wait_for_voters(n);
        c
    }

    /// Seed 002's formation: `n` nodes whose configs all carry `retry_join` blocks for the
    /// others. `sys/init` on node `init_on` forms the cluster there (3 shares, threshold 2);
    /// it is unsealed, then every other node once it holds a join challenge; returns when all
    /// `n` are voters.
    pub fn form_all_retry_join(n: usize, init_on: usize) -> Cluster {
        let http = client();
        let places: Vec<Place> = (0..n).map(|_| Place::loopback()).collect();
        let addrs: Vec<String> = places
            .iter()
            .map(|p| format!("http://{}:{}", p.ip, p.port))
            .collect();
        let mut nodes: Vec<Node> = places
            .into_iter()
            .enumerate()
            .map(|(i, place)| {
                let others = (0..n).filter(|&j| j != i).map(|j| addrs[j].clone());
                Node::new_at(&format!("node-{}", i + 1), place, others.collect())
            })
            .collect();
        for node in &mut nodes {
            node.spawn(&http);
        }
        let r = http
            .put(format!("{}/v1/sys/init", addrs[init_on]))
            .json(&json!({"secret_shares": 3, "secret_threshold": 2}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "init on node {init_on}");
        let v: Value = r.json().unwrap();
        let init = Init {
            keys: strings(&v["keys"]),
            keys_base64: strings(&v["keys_base64"]),
            root_token: v["root_token"].as_str().unwrap().to_owned(),
        };
        let c = Cluster {
            token: init.root_token.clone(),
            init,
            nodes,
            http,
            probe: client_with_timeout(Duration::from_secs(2)),
            net: None,
            extra: Default::default(),
        };
        c.unseal(init_on);
        c.wait_for(
            "the initialized node to be active",
            Duration::from_secs(20),
            |c| (c.get(init_on, "sys/health").status() == 200).then_some(()),
        );
        for i in (0..n).filter(|&i| i != init_on) {
            c.wait_for_challenge(i);
            c.unseal(i);
        }
        c.wait_for(&format!("{n} voters"), Duration::from_secs(30), |c| {
            let s = c.servers(init_on);
            (s.len() == n && s.iter().all(|x| x["voter"] == true)).then_some(())
        });
        c
    }

    /// Runs the `tresor` CLI with `args` against node `i` (`VAULT_ADDR`, and `VAULT_TOKEN`
    /// with the root token), with an empty environment otherwise.
    pub fn cli(&self, i: usize, args: &[&str]) -> std::process::Output {
        let home = self.nodes[i].dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        Command::new(bin())
            .args(args)
            .env_clear()
            .env("HOME", &home)
            .env("VAULT_ADDR", &self.nodes[i].addr)
            .env("VAULT_TOKEN", &self.token)
            .stdin(Stdio::null())
            .output()
            .expect("run the tresor CLI")
    }

    /// Starts a node joining node 0 and unseals it with the cluster's keys.
    pub fn add_node(&mut self, name: &str) -> usize {
        let leader = self.nodes[0].addr.clone();
        let place = Self::place(self.net.as_ref(), self.nodes.len());
        let mut node = Node::new_with(name, place, vec![leader], self.extra.clone());
        node.spawn(&self.http);
        self.nodes.push(node);
        let i = self.nodes.len() - 1;
        self.wait_for_challenge(i);
        self.unseal(i);
        i
    }

    /// Waits until node `i` holds a join challenge (reports initialized, sealed).
    pub fn wait_for_challenge(&self, i: usize) {
        self.wait_for(
            &format!("node {i} to get a join challenge"),
            Duration::from_secs(20),
            |c| {
                let st = c.seal_status(i);
                (st["initialized"] == true).then_some(())
            },
        );
    }

    pub fn url(&self, i: usize, path: &str) -> String {
        format!("{}/v1/{}", self.nodes[i].addr, path.trim_start_matches('/'))
    }

    pub fn req(&self, i: usize, method: &str, path: &str) -> reqwest::blocking::RequestBuilder {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        self.http
            .request(m, self.url(i, path))
            .header("X-Vault-Token", &self.token)
    }

    pub fn get(&self, i: usize, path: &str) -> Response {
        self.req(i, "GET", path).send().unwrap()
    }

    pub fn put(&self, i: usize, path: &str, body: Value) -> Response {
        self.req(i, "PUT", path).json(&body).send().unwrap()
    }

    pub fn post(&self, i: usize, path: &str, body: Value) -> Response {
        self.req(i, "POST", path).json(&body).send().unwrap()
    }

    pub fn seal_status(&self, i: usize) -> Value {
        self.get(i, "sys/seal-status").json().unwrap()
    }

    /// Submits the threshold of keys to node `i` and checks it ends up unsealed.
    pub fn unseal(&self, i: usize) {
        let keys = self.init.keys.clone();
        self.unseal_with(i, &keys[..2]).unwrap();
        let st = self.seal_status(i);
        assert_eq!(st["sealed"], false, "node {i} still sealed: {st}");
    }

    /// Submits `keys` to node `i`; `Err` carries the first non-200 answer.
    pub fn unseal_with(&self, i: usize, keys: &[String]) -> Result<(), String> {
        for k in keys {
            let r = self.put(i, "sys/unseal", json!({ "key": k }));
            if r.status() != 200 {
                return Err(format!("{}: {}", r.status(), r.text().unwrap_or_default()));
            }
        }
        Ok(())
    }

    pub fn kill9(&mut self, i: usize) {
        self.nodes[i].kill9();
    }

    /// SIGSTOP node `i`.
    pub fn pause(&mut self, i: usize) {
        self.nodes[i].pause();
    }

    /// SIGCONT node `i`.
    pub fn resume(&mut self, i: usize) {
        self.nodes[i].resume();
    }

    /// Cuts node `i` off from the other nodes (netns clusters only); the test can still
    /// reach it.
    pub fn isolate(&self, i: usize) {
        self.net
            .as_ref()
            .expect("isolate needs a cluster started with start_netns")
            .isolate(i);
    }

    /// Removes every partition.
    pub fn heal(&self) {
        if let Some(net) = &self.net {
            net.heal();
        }
    }

    /// The HTTP status of `sys/health` on node `i`, `None` if it does not answer within the
    /// probe timeout.
    pub fn health(&self, i: usize) -> Option<u16> {
        if !self.nodes[i].is_running() || self.nodes[i].is_paused() {
            return None;
        }
        self.probe
            .get(self.url(i, "sys/health"))
            .send()
            .ok()
            .map(|r| r.status().as_u16())
    }

    /// `sys/leader` of node `i`, if it answers within the probe timeout.
    pub fn leader_status(&self, i: usize) -> Option<Value> {
        if !self.nodes[i].is_running() || self.nodes[i].is_paused() {
            return None;
        }
        self.probe
            .get(self.url(i, "sys/leader"))
            .send()
            .ok()?
            .json()
            .ok()
    }

    /// The API addresses of every node (they do not change across restarts).
    pub fn addrs(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.addr.clone()).collect()
    }

    /// Starts node `i` again (same data, same ports); it comes up sealed.
    pub fn restart(&mut self, i: usize) {
        self.nodes[i].kill9();
        let http = self.http.clone();
        self.nodes[i].spawn(&http);
    }

    /// The index of the node that reports itself active, if exactly one running node does.
    pub fn leader(&self) -> Option<usize> {
        let active: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].is_running() && !self.nodes[i].is_paused())
            .filter(|&i| {
                self.probe
                    .get(self.url(i, "sys/leader"))
                    .send()
                    .ok()
                    .and_then(|r| r.json::<Value>().ok())
                    .is_some_and(|v| v["is_self"] == true)
            })
            .collect();
        (active.len() == 1).then(|| active[0])
    }

    /// Waits for a leader that is not `not` (if given).
    pub fn wait_leader(&self, not: Option<usize>, timeout: Duration) -> usize {
        self.wait_for("a leader", timeout, |c| {
            c.leader().filter(|l| Some(*l) != not)
        })
    }

    /// `sys/storage/raft/configuration` servers, read through node `i`.
    pub fn servers(&self, i: usize) -> Vec<Value> {
        let r = self.get(i, "sys/storage/raft/configuration");
        if r.status() != 200 {
            return Vec::new();
        }
        let v: Value = r.json().unwrap();
        v["data"]["config"]["servers"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Waits until the configuration lists `n` voters.
    pub fn wait_for_voters(&self, n: usize) {
        self.wait_for(&format!("{n} voters"), Duration::from_secs(30), |c| {
            let s = c.servers(0);
            (s.len() == n && s.iter().all(|x| x["voter"] == true)).then_some(())
        });
    }

    pub fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut f: impl FnMut(&Cluster) -> Option<T>,
    ) -> T {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(v) = f(self) {
                return v;
            }
            if std::time::Instant::now() >= deadline {
                let logs: Vec<String> = self
                    .nodes
                    .iter()
                    .map(|n| format!("--- {} ---\n{}", n.name, tail(&n.log(), 40)))
                    .collect();
                panic!(
                    "timed out after {timeout:?} waiting for {what}\n{}",
                    logs.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

pub use crate::process::tail;

/// Samples `sys/health` of every node in a loop on a background thread and remembers every
/// round in which more than one node answered 200 (two active nodes: split brain).
pub struct ActiveSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<(usize, Vec<Vec<u16>>)>>,
}

impl ActiveSampler {
    /// Starts sampling the nodes at `addrs`.
    pub fn start(addrs: Vec<String>) -> ActiveSampler {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let http = client_with_timeout(Duration::from_millis(700));
            let (mut rounds, mut bad) = (0, Vec::new());
            while !flag.load(Ordering::Relaxed) {
                let codes: Vec<u16> = addrs
                    .iter()
                    .map(|a| {
                        http.get(format!("{a}/v1/sys/health"))
                            .send()
                            .map(|r| r.status().as_u16())
                            .unwrap_or(0)
                    })
                    .collect();
                rounds += 1;
                if codes.iter().filter(|c| **c == 200).count() > 1 {
                    bad.push(codes);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            (rounds, bad)
        });
        ActiveSampler {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops sampling; returns the number of rounds and the rounds with several active nodes.
    pub fn finish(mut self) -> (usize, Vec<Vec<u16>>) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for ActiveSampler {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The status of a request, or `None` when it did not complete (timeout, reset, refused).
pub fn send_status(rb: reqwest::blocking::RequestBuilder) -> Option<u16> {
    rb.send().ok().map(|r| r.status().as_u16())
}
