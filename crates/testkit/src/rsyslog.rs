//! A real rsyslogd (Debian's `rsyslog`, installed by `scripts/ci-deps.sh`) listening on its own
//! datagram socket in a temporary directory (not `/dev/log`), writing what arrives for the
//! `auth` facility to a file as `TAG[PID]: MESSAGE` lines; killed on drop.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // test support panics on setup failure

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::process::wait_for;

/// A running rsyslogd.
pub struct Rsyslog {
    child: Option<Child>,
    dir: tempfile::TempDir,
}

/// `/usr/sbin/rsyslogd`, or `TRESOR_RSYSLOGD`.
fn rsyslogd() -> PathBuf {
    let path = std::env::var_os("TRESOR_RSYSLOGD")
        .map_or_else(|| PathBuf::from("/usr/sbin/rsyslogd"), PathBuf::from);
    assert!(
        path.exists(),
        "{} not found: run `bash scripts/ci-deps.sh` (apt package rsyslog) or set TRESOR_RSYSLOGD",
        path.display()
    );
    path
}

impl Rsyslog {
    /// Starts rsyslogd and waits until its socket exists.
    pub fn start() -> Rsyslog {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let config = dir.path().join("rsyslog.conf");
        std::fs::write(
            &config,
            format!(
                "global(workDirectory=\"{d}\" maxMessageSize=\"256k\")\n\
                 module(load=\"imuxsock\" SysSock.Use=\"off\")\n\
                 input(type=\"imuxsock\" Socket=\"{d}/log.sock\" CreatePath=\"on\")\n\
                 template(name=\"raw\" type=\"string\" string=\"%syslogtag%%msg%\\n\")\n\
                 auth.* action(type=\"omfile\" file=\"{d}/auth.log\" template=\"raw\")\n"
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("rsyslogd.out")).unwrap();
        let child = Command::new(rsyslogd())
            .arg("-n")
            .arg("-f")
            .arg(&config)
            .arg("-i")
            .arg(dir.path().join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn rsyslogd");
        let r = Rsyslog {
            child: Some(child),
            dir,
        };
        let socket = r.socket();
        wait_for("rsyslogd's socket", Duration::from_secs(20), || {
            socket.exists().then_some(())
        });
        r
    }

    /// The datagram socket it listens on.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("log.sock")
    }

    /// The file the `auth` facility's messages go to.
    pub fn auth_log(&self) -> PathBuf {
        self.dir.path().join("auth.log")
    }

    /// The messages logged so far with `tag`, without the `TAG[PID]:` prefix.
    pub fn messages(&self, tag: &str) -> Vec<String> {
        read_messages(&self.auth_log(), tag)
    }

    /// Stops the daemon (its socket then refuses datagrams).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn read_messages(path: &Path, tag: &str) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let prefix = format!("{tag}[");
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(&prefix)?;
            let (_, msg) = rest.split_once("]:")?;
            Some(msg.trim_start().to_owned())
        })
        .collect()
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        self.stop();
    }
}
