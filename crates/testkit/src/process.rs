//! One `tresor server` process: runs the real binary as a child process on loopback, with
//! its own data directory, and talks to it over HTTP. Waits are polls with deadlines, never
//! bare sleeps.
//!
//! The binary is found by [`bin`]: `$TRESOR_BIN` if set, else `tresor` next to the test
//! executable's `deps/` directory (where cargo builds it for the `tresor` crate's integration
//! tests).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // test support panics on setup failure

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};

/// The binary under test: `$TRESOR_BIN`, else `<target>/<profile>/tresor` found from the
/// running test executable (`<target>/<profile>/deps/<test>`).
pub fn bin() -> PathBuf {
    if let Some(p) = std::env::var_os("TRESOR_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("the test executable's path");
    let mut dir = exe
        .parent()
        .expect("the test executable's directory")
        .to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let bin = dir.join(format!("tresor{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} not found: build it (cargo builds it for the tresor crate's tests) or set TRESOR_BIN",
        bin.display()
    );
    bin
}

/// A free loopback port, outside the ephemeral range (see [`crate::ports`]).
pub fn free_port() -> u16 {
    crate::ports::free_port()
}

/// Polls `f` every 50 ms until it returns `Some`, or panics after `timeout` naming `what`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A `tresor server` child process.
pub struct Server {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub addr: String,
    pub config: PathBuf,
    child: Option<Child>,
    pub http: Client,
    pub token: Option<String>,
}

impl Server {
    /// Writes a config (Raft storage in a temp dir, plain-HTTP listener) and starts the server.
    pub fn start() -> Server {
        Self::start_with("")
    }

    /// Like [`Server::start`], with extra top-level HCL appended to the config.
    pub fn start_with(extra: &str) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let cport = free_port();
        let data = dir.path().join("data");
        let config = dir.path().join("server.hcl");
        std::fs::write(
            &config,
            format!(
                r#"
storage "raft" {{
  path    = "{data}"
  node_id = "node-1"
}}
listener "tcp" {{
  address          = "127.0.0.1:{port}"
  cluster_address  = "127.0.0.1:{cport}"
  tls_disable      = true
  max_request_size = 1048576
}}
api_addr      = "http://127.0.0.1:{port}"
cluster_addr  = "https://127.0.0.1:{cport}"
disable_mlock = true
log_level     = "warn"
{extra}
"#,
                data = data.display()
            ),
        )
        .unwrap();
        let mut s = Server {
            dir,
            port,
            addr: format!("http://127.0.0.1:{port}"),
            config,
            child: None,
            http: Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            token: None,
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
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
        let addr = self.addr.clone();
        let http = self.http.clone();
        wait_answering(
            "the server",
            Duration::from_secs(60),
            &mut self.child,
            self.dir.path(),
            || http.get(format!("{addr}/v1/sys/health")).send().is_ok(),
        );
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        log_text(self.dir.path())
    }

    /// SIGKILL, no shutdown path.
    /// Sends `signal` (a `kill` name such as `HUP`) to the running server.
    pub fn signal(&self, signal: &str) {
        if let Some(c) = &self.child {
            let ok = Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(c.id().to_string())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            assert!(ok, "kill -{signal} failed");
        }
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().ok();
            c.wait().ok();
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status()
                .ok();
            let waited = wait_for_exit(&mut c, Duration::from_secs(30));
            if !waited {
                c.kill().ok();
                c.wait().ok();
            }
        }
    }

    /// Starts the same server (same data, same port) again.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Starts it again after a `kill -9`.
    pub fn restart_after_kill(&mut self) {
        self.kill9();
        self.spawn();
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/v1/{}", self.addr, path.trim_start_matches('/'))
    }

    /// A request with this server's token, if any.
    pub fn req(&self, method: &str, path: &str) -> reqwest::blocking::RequestBuilder {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut r = self.http.request(m, self.url(path));
        if let Some(t) = &self.token {
            r = r.header("X-Vault-Token", t);
        }
        r
    }

    pub fn get(&self, path: &str) -> Response {
        self.req("GET", path).send().unwrap()
    }

    pub fn put(&self, path: &str, body: Value) -> Response {
        self.req("PUT", path).json(&body).send().unwrap()
    }

    pub fn post(&self, path: &str, body: Value) -> Response {
        self.req("POST", path).json(&body).send().unwrap()
    }

    pub fn delete(&self, path: &str) -> Response {
        self.req("DELETE", path).send().unwrap()
    }

    pub fn list(&self, path: &str) -> Response {
        self.req("LIST", path).send().unwrap()
    }

    /// Initializes with `shares`/`threshold`, unseals, and keeps the root token.
    pub fn init_unseal(&mut self, shares: u32, threshold: u32) -> Init {
        let r = self.put(
            "sys/init",
            json!({"secret_shares": shares, "secret_threshold": threshold}),
        );
        assert_eq!(r.status(), 200, "init failed");
        let v: Value = r.json().unwrap();
        let init = Init {
            keys: strings(&v["keys"]),
            keys_base64: strings(&v["keys_base64"]),
            root_token: v["root_token"].as_str().unwrap().to_owned(),
        };
        self.unseal(&init.keys[..threshold as usize]);
        self.token = Some(init.root_token.clone());
        init
    }

    /// Submits keys until unsealed.
    pub fn unseal(&self, keys: &[String]) {
        for k in keys {
            let r = self.put("sys/unseal", json!({ "key": k }));
            assert_eq!(r.status(), 200, "unseal: {}", r.text().unwrap_or_default());
        }
        let st: Value = self.get("sys/seal-status").json().unwrap();
        assert_eq!(
            st["sealed"],
            false,
            "still sealed after {} keys: {st}",
            keys.len()
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn wait_for_exit(c: &mut Child, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = c.try_wait() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Waits up to `timeout` until `answers` says the freshly spawned server `child` (named `name`,
/// logging to `dir/server.log`) answers HTTP; panics with its log if it exits first.
pub(crate) fn wait_answering(
    name: &str,
    timeout: Duration,
    child: &mut Option<Child>,
    dir: &Path,
    mut answers: impl FnMut() -> bool,
) {
    wait_for(&format!("{name} to answer"), timeout, || {
        if let Some(Ok(Some(status))) = child.as_mut().map(Child::try_wait) {
            panic!("{name} exited early ({status}); log:\n{}", log_text(dir));
        }
        answers().then_some(())
    });
}

pub(crate) fn log_text(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
}

/// What `sys/init` returned.
#[derive(Clone, Debug)]
pub struct Init {
    pub keys: Vec<String>,
    pub keys_base64: Vec<String>,
    pub root_token: String,
}

pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The body of a response as JSON (panics with the text when it is not JSON).
pub fn body(r: Response) -> Value {
    let text = r.text().unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The last `lines` lines of `s`.
pub fn tail(s: &str, lines: usize) -> String {
    let all: Vec<&str> = s.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
