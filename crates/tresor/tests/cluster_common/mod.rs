//! Cluster harness: several real `tresor server` processes on loopback forming one Raft
//! cluster through `retry_join`, with helpers to unseal, kill, restart and find the leader.
//! Every wait polls with a deadline.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};

use crate::common::{Init, bin, free_port, strings, wait_for};

/// One node process.
pub struct Node {
    pub dir: tempfile::TempDir,
    pub name: String,
    pub port: u16,
    pub cluster_port: u16,
    pub addr: String,
    config: PathBuf,
    child: Option<Child>,
}

impl Node {
    /// Writes the config of node `name`; `join` is the API address of a node to join.
    pub fn new(name: &str, join: Option<&str>) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let cluster_port = free_port();
        let data = dir.path().join("data");
        let retry = join
            .map(|j| format!("  retry_join {{\n    leader_api_addr = \"{j}\"\n  }}\n"))
            .unwrap_or_default();
        let config = dir.path().join("server.hcl");
        std::fs::write(
            &config,
            format!(
                r#"
storage "raft" {{
  path    = "{data}"
  node_id = "{name}"
  performance_multiplier = 1
{retry}}}
listener "tcp" {{
  address         = "127.0.0.1:{port}"
  cluster_address = "127.0.0.1:{cluster_port}"
  tls_disable     = true
}}
api_addr      = "http://127.0.0.1:{port}"
cluster_addr  = "https://127.0.0.1:{cluster_port}"
disable_mlock = true
log_level     = "info"
"#,
                data = data.display()
            ),
        )
        .unwrap();
        Node {
            dir,
            name: name.to_owned(),
            port,
            cluster_port,
            addr: format!("http://127.0.0.1:{port}"),
            config,
            child: None,
        }
    }

    /// Starts the process and waits until its API answers.
    pub fn spawn(&mut self, http: &Client) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))
            .unwrap();
        let child = Command::new(bin())
            .arg("server")
            .arg(format!("-config={}", self.config.display()))
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn tresor server");
        self.child = Some(child);
        let url = format!("{}/v1/sys/health", self.addr);
        wait_for(
            &format!("{} to answer", self.name),
            Duration::from_secs(30),
            || {
                if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                    panic!(
                        "{} exited early ({status}); log:\n{}",
                        self.name,
                        self.log()
                    );
                }
                http.get(&url).send().ok().map(|_| ())
            },
        );
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().ok();
            c.wait().ok();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A cluster of node processes; node 0 initialized it, the others joined it.
pub struct Cluster {
    pub nodes: Vec<Node>,
    pub init: Init,
    pub token: String,
    pub http: Client,
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

impl Cluster {
    /// Starts node 0, initializes it (3 shares, threshold 2) and unseals it, then starts
    /// `n - 1` nodes with `retry_join` to node 0, unseals them and waits until every node is
    /// a voter.
    pub fn start(n: usize) -> Cluster {
        let http = client();
        let mut first = Node::new("node-1", None);
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

    /// Starts a node joining node 0 and unseals it with the cluster's keys.
    pub fn add_node(&mut self, name: &str) -> usize {
        let leader = self.nodes[0].addr.clone();
        let mut node = Node::new(name, Some(&leader));
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

    /// Starts node `i` again (same data, same ports); it comes up sealed.
    pub fn restart(&mut self, i: usize) {
        self.nodes[i].kill9();
        let http = self.http.clone();
        self.nodes[i].spawn(&http);
    }

    /// The index of the node that reports itself active, if exactly one running node does.
    pub fn leader(&self) -> Option<usize> {
        let active: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].is_running())
            .filter(|&i| {
                self.http
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

fn tail(s: &str, lines: usize) -> String {
    let all: Vec<&str> = s.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
