//! A real PostgreSQL server (Debian's `postgresql` 15, installed by `scripts/ci-deps.sh`) in a
//! temporary directory: `initdb` with a superuser password, then `postgres` on a free loopback
//! port with password (SCRAM-SHA-256) authentication over TCP and its Unix socket in the
//! directory. PostgreSQL refuses to run as root, so as root both run as the `postgres` user
//! (through `setpriv`, which execs in place, so the child is the postmaster itself) with the
//! directory handed to it. Stopped (fast shutdown) on drop; [`Postgres::stop`] and
//! [`Postgres::start_again`] make an outage on the same port and data.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // test support panics on setup failure

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::process::wait_for;

/// The superuser's name.
pub const SUPERUSER: &str = "postgres";

/// A running PostgreSQL.
pub struct Postgres {
    child: Option<Child>,
    dir: tempfile::TempDir,
    port: u16,
    password: String,
    as_postgres_user: bool,
    /// `-c` settings added to every start (TLS files).
    settings: Vec<String>,
}

/// The directory of PostgreSQL's binaries: `$TRESOR_PG_BIN`, else Debian's for version 15.
fn bin_dir() -> PathBuf {
    let dir = std::env::var_os("TRESOR_PG_BIN").map_or_else(
        || PathBuf::from("/usr/lib/postgresql/15/bin"),
        PathBuf::from,
    );
    assert!(
        dir.join("postgres").exists(),
        "{} has no postgres: run `bash scripts/ci-deps.sh` (apt package postgresql) or set TRESOR_PG_BIN",
        dir.display()
    );
    dir
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Postgres {
    /// Initialises a cluster and starts it; returns once it accepts connections.
    pub fn start() -> Postgres {
        Self::start_with(None)
    }

    /// As [`Postgres::start`], with TLS on (`ssl=on`) using this server certificate chain
    /// and key (PEM); clients may still connect without TLS.
    pub fn start_tls(cert_pem: &str, key_pem: &str) -> Postgres {
        Self::start_with(Some((cert_pem, key_pem)))
    }

    fn start_with(tls: Option<(&str, &str)>) -> Postgres {
        let dir = tempfile::tempdir().unwrap();
        let as_postgres_user = running_as_root();
        let password = format!("root-{}", std::process::id());
        let pwfile = dir.path().join("pwfile");
        std::fs::write(&pwfile, format!("{password}\n")).unwrap();
        std::fs::create_dir(dir.path().join("sock")).unwrap();
        if as_postgres_user {
            let status = Command::new("chown")
                .arg("-R")
                .arg("postgres:postgres")
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(
                status.success(),
                "chown of the PostgreSQL test directory failed"
            );
        }
        let mut settings = Vec::new();
        if let Some((cert, key)) = tls {
            let cert_path = dir.path().join("server.crt");
            let key_path = dir.path().join("server.key");
            std::fs::write(&cert_path, cert).unwrap();
            std::fs::write(&key_path, key).unwrap();
            let status = Command::new("chmod")
                .arg("600")
                .arg(&key_path)
                .status()
                .unwrap();
            assert!(status.success());
            if as_postgres_user {
                let status = Command::new("chown")
                    .arg("postgres:postgres")
                    .arg(&cert_path)
                    .arg(&key_path)
                    .status()
                    .unwrap();
                assert!(status.success());
            }
            settings.push("ssl=on".to_owned());
            settings.push(format!("ssl_cert_file={}", cert_path.display()));
            settings.push(format!("ssl_key_file={}", key_path.display()));
        }
        let mut pg = Postgres {
            child: None,
            dir,
            port: crate::ports::free_port(),
            password,
            as_postgres_user,
            settings,
        };
        let out = pg
            .command(&bin_dir().join("initdb"))
            .arg("-D")
            .arg(pg.data_dir())
            .arg("-U")
            .arg(SUPERUSER)
            .arg("--pwfile")
            .arg(&pwfile)
            .arg("--auth-local=trust")
            .arg("--auth-host=scram-sha-256")
            .arg("--no-sync")
            .arg("-E")
            .arg("UTF8")
            .arg("--locale=C")
            .output()
            .expect("spawn initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        pg.start_again();
        pg
    }

    fn command(&self, program: &Path) -> Command {
        if self.as_postgres_user {
            let mut c = Command::new("setpriv");
            c.args([
                "--reuid=postgres",
                "--regid=postgres",
                "--init-groups",
                "--",
            ])
            .arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Starts the server (again) on the same port and data; returns once it answers.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "PostgreSQL is already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("postgres.log"))
            .unwrap();
        let mut command = self.command(&bin_dir().join("postgres"));
        for setting in &self.settings {
            command.arg("-c").arg(setting);
        }
        let child = command
            .arg("-D")
            .arg(self.data_dir())
            .arg("-k")
            .arg(self.dir.path().join("sock"))
            .arg("-h")
            .arg("127.0.0.1")
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-c", "fsync=off", "-c", "max_connections=60"])
            .args([
                "-c",
                "shared_buffers=16MB",
                "-c",
                "password_encryption=scram-sha-256",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn postgres");
        self.child = Some(child);
        let port = self.port.to_string();
        let ready = bin_dir().join("pg_isready");
        let log_path = self.dir.path().join("postgres.log");
        wait_for(
            "PostgreSQL to accept connections",
            Duration::from_secs(60),
            || {
                if let Some(c) = self.child.as_mut()
                    && let Ok(Some(status)) = c.try_wait()
                {
                    panic!(
                        "postgres exited with {status}: {}",
                        std::fs::read_to_string(&log_path).unwrap_or_default()
                    );
                }
                let ok = Command::new(&ready)
                    .args(["-q", "-h", "127.0.0.1", "-p", &port, "-U", SUPERUSER])
                    .status()
                    .map(|s| s.success())
                    .unwrap_or(false);
                ok.then_some(())
            },
        );
    }

    /// Stops the server (fast shutdown: sessions are ended) and waits until it is gone.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-INT")
                .arg(c.id().to_string())
                .status();
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            loop {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                if std::time::Instant::now() > deadline {
                    let _ = c.kill();
                    let _ = c.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// The TCP port (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The superuser's password.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// A `postgresql://` URL for `user`/`password` on database `postgres` (no TLS).
    pub fn url(&self, user: &str, password: &str) -> String {
        format!(
            "postgresql://{user}:{password}@127.0.0.1:{}/postgres?sslmode=disable",
            self.port
        )
    }

    /// A path inside the server's temporary directory (for files a test writes there).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}
