//! Starting the two servers under test in dev mode, each a child process on a free loopback
//! port, and locating their binaries.
//!
//! * OpenBao: `$BAO_BIN`, else `<repo>/.tools/bin/bao` (installed by `scripts/ci-deps.sh`).
//! * Tresor: `$TRESOR_BIN`, else `tresor` next to the running executable's profile directory
//!   (`<target>/debug/deps/<test>` → `<target>/debug/tresor`), else
//!   `$CARGO_TARGET_DIR/debug/tresor`, else `<repo>/target/debug/tresor`.
//!
//! Both are set up alike after start: `secret/` (KV v2, mounted by both dev modes) is waited
//! for until a write succeeds, and KV v1 is mounted at `kv/`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::error::DiffError;
use crate::http::Client;

/// The root token both dev servers are started with.
pub const ROOT_TOKEN: &str = "root";

/// The repository root (two levels above this crate's manifest).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// The OpenBao binary, or an error that says how to get it.
pub fn bao_bin() -> Result<PathBuf, DiffError> {
    if let Some(p) = std::env::var_os("BAO_BIN") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(DiffError::Server(format!(
                "BAO_BIN={} does not exist",
                p.display()
            )))
        };
    }
    let p = repo_root().join(".tools/bin/bao");
    if p.exists() {
        Ok(p)
    } else {
        Err(DiffError::Server(format!(
            "the OpenBao binary is missing at {} — run `bash scripts/ci-deps.sh` (installs it) \
             or set BAO_BIN=/path/to/bao",
            p.display()
        )))
    }
}

/// The Tresor binary, or an error that says how to build it.
pub fn tresor_bin() -> Result<PathBuf, DiffError> {
    if let Some(p) = std::env::var_os("TRESOR_BIN") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(DiffError::Server(format!(
                "TRESOR_BIN={} does not exist",
                p.display()
            )))
        };
    }
    let mut candidates = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        // <target>/<profile>/deps/<test binary> or <target>/<profile>/<binary>.
        for dir in exe.ancestors().skip(1).take(2) {
            candidates.push(dir.join("tresor"));
        }
    }
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.push(PathBuf::from(t).join("debug/tresor"));
    }
    candidates.push(repo_root().join("target/debug/tresor"));
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| {
            DiffError::Server(format!(
                "no tresor binary (looked at {candidates:?}) — run `cargo build -p tresor` \
                 first, or set TRESOR_BIN=/path/to/tresor"
            ))
        })
}

/// A loopback port `p` such that `p` and `p + 1` (dev-mode cluster port) are both free.
pub fn free_port_pair() -> Result<u16, DiffError> {
    for _ in 0..50 {
        let a = TcpListener::bind("127.0.0.1:0")?;
        let port = a.local_addr()?.port();
        if port < u16::MAX && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return Ok(port);
        }
    }
    Err(DiffError::Server("no pair of free ports found".into()))
}

/// A dev-mode server child process, killed on drop.
#[derive(Debug)]
pub struct DevServer {
    /// `openbao` or `tresor`.
    pub name: &'static str,
    /// `127.0.0.1:<port>`.
    pub addr: String,
    child: Option<Child>,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl DevServer {
    /// Starts `bao server -dev` and waits until it is ready.
    pub fn start_openbao() -> Result<DevServer, DiffError> {
        let bin = bao_bin()?;
        DevServer::start("openbao", &bin, &[])
    }

    /// Starts `tresor server -dev` and waits until it is ready.
    pub fn start_tresor() -> Result<DevServer, DiffError> {
        let bin = tresor_bin()?;
        DevServer::start("tresor", &bin, &["-log-level=warn"])
    }

    fn start(name: &'static str, bin: &Path, extra: &[&str]) -> Result<DevServer, DiffError> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("difftest-{name}-"))
            .tempdir()?;
        let log = dir.path().join("server.log");
        let port = free_port_pair()?;
        let addr = format!("127.0.0.1:{port}");
        let out = std::fs::File::create(&log)?;
        let child = Command::new(bin)
            .arg("server")
            .arg("-dev")
            .arg(format!("-dev-root-token-id={ROOT_TOKEN}"))
            .arg(format!("-dev-listen-address={addr}"))
            .args(extra)
            .env("HOME", dir.path())
            // A dev server killed with SIGKILL leaves its data directory: keep it in ours.
            .env("TMPDIR", dir.path())
            .env("VAULT_ADDR", format!("http://{addr}"))
            .env("BAO_ADDR", format!("http://{addr}"))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone()?))
            .stderr(Stdio::from(out))
            .spawn()
            .map_err(|e| DiffError::Server(format!("cannot start {}: {e}", bin.display())))?;
        let mut s = DevServer {
            name,
            addr,
            child: Some(child),
            log,
            _dir: dir,
        };
        s.wait_ready()?;
        s.mount_kv_v1()?;
        Ok(s)
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls until the server answers, is unsealed and active, and `secret/` accepts writes.
    fn wait_ready(&mut self) -> Result<(), DiffError> {
        let deadline = Instant::now() + Duration::from_secs(90);
        let mut client = Client::new(&self.addr);
        let body = json!({"data": {"ready": "yes"}}).to_string();
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                return Err(DiffError::Server(format!(
                    "{} exited early ({status}); log:\n{}",
                    self.name,
                    self.log()
                )));
            }
            let ok = client
                .send(
                    "PUT",
                    "/v1/secret/data/difftest-ready",
                    &[
                        ("X-Vault-Token", ROOT_TOKEN),
                        ("Content-Type", "application/json"),
                    ],
                    Some(body.as_bytes()),
                )
                .is_ok_and(|r| r.status == 200);
            if ok {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(DiffError::Server(format!(
                    "{} did not become ready in 90 s; log:\n{}",
                    self.name,
                    self.log()
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn mount_kv_v1(&self) -> Result<(), DiffError> {
        let mut client = Client::new(&self.addr);
        let body = json!({"type": "kv", "options": {"version": "1"}}).to_string();
        let r = client.send(
            "POST",
            "/v1/sys/mounts/kv",
            &[
                ("X-Vault-Token", ROOT_TOKEN),
                ("Content-Type", "application/json"),
            ],
            Some(body.as_bytes()),
        )?;
        if r.status / 100 != 2 {
            return Err(DiffError::Server(format!(
                "{}: mounting kv/ answered {}: {}",
                self.name,
                r.status,
                r.text()
            )));
        }
        Ok(())
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().ok();
            c.wait().ok();
        }
    }
}
