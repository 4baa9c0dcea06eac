//! A SoftHSM2 harness for the pkcs11 seal tests.
//!
//! SoftHSM reads the path of its configuration file from `SOFTHSM2_CONF` when the library is
//! initialized, and keeps process-wide state from then on. Setting a variable in a running
//! test process needs `unsafe` (`std::env::set_var`, edition 2024), which the workspace
//! denies, and pointing SoftHSM at `/etc/softhsm2.conf` would share tokens between runs. So
//! each HSM test runs twice: in the test process ("parent") it creates a temporary token
//! directory, a `softhsm2.conf` and the tokens (`softhsm2-util --init-token`), then re-runs
//! this same test binary for only that test (`<test> --exact`) with `SOFTHSM2_CONF` set on
//! the child's command; in that child ([`ChildHsm::current`] returns `Some`) it runs the real
//! test body. Every test gets its own tokens and its own fresh library state, and a test
//! may run several children one after another ("phases") on the same tokens, which shows
//! that keys persist across processes.

use std::path::{Path, PathBuf};
use std::process::Command;

use tresor_config::SealStanza;

/// Marks a child process and names its phase.
const PHASE_VAR: &str = "TRESOR_PKCS11_TEST_PHASE";
/// `label=slot,label=slot` of the tokens the parent created.
const TOKENS_VAR: &str = "TRESOR_PKCS11_TEST_TOKENS";
/// A scratch directory shared by the phases of one test.
const DIR_VAR: &str = "TRESOR_PKCS11_TEST_DIR";
/// Overrides where libsofthsm2.so is looked for.
const LIB_VAR: &str = "TRESOR_SOFTHSM_LIB";
const DEFAULT_LIB: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// The user PIN of every test token.
pub(crate) const PIN: &str = "1234";
const SO_PIN: &str = "5678";

/// The SoftHSM module to load; fails the test with instructions when it is not installed.
pub(crate) fn softhsm_lib() -> PathBuf {
    let lib = std::env::var_os(LIB_VAR).map_or_else(|| PathBuf::from(DEFAULT_LIB), PathBuf::from);
    assert!(
        lib.is_file(),
        "SoftHSM2 not found at {} (set {LIB_VAR} to override): run `bash scripts/ci-deps.sh`, \
         which installs the softhsm2 package",
        lib.display()
    );
    lib
}

/// The parent's side: a private SoftHSM configuration with initialized tokens.
pub(crate) struct SoftHsm {
    dir: tempfile::TempDir,
    conf: PathBuf,
    tokens: Vec<(String, u64)>,
}

impl SoftHsm {
    /// A fresh token directory with one initialized token per label (user PIN [`PIN`]).
    pub(crate) fn new(labels: &[&str]) -> SoftHsm {
        softhsm_lib();
        let dir = tempfile::tempdir().unwrap();
        let token_dir = dir.path().join("tokens");
        std::fs::create_dir(&token_dir).unwrap();
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n\
                 slots.removable = false\n",
                token_dir.display()
            ),
        )
        .unwrap();
        let tokens = labels
            .iter()
            .map(|label| ((*label).to_owned(), init_token(&conf, label)))
            .collect();
        SoftHsm { dir, conf, tokens }
    }

    /// Runs `test` (this binary's test function of that name) in a child process with
    /// `SOFTHSM2_CONF` pointing at these tokens, as `phase`; fails if the child's test fails
    /// or did not run.
    pub(crate) fn run(&self, test: &str, phase: &str) {
        let tokens: Vec<String> = self
            .tokens
            .iter()
            .map(|(label, slot)| format!("{label}={slot}"))
            .collect();
        let output = Command::new(std::env::current_exe().unwrap())
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env("SOFTHSM2_CONF", &self.conf)
            .env(PHASE_VAR, phase)
            .env(TOKENS_VAR, tokens.join(","))
            .env(DIR_VAR, self.dir.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() && stdout.contains("1 passed"),
            "{test} (phase {phase}) failed in its SoftHSM child ({}):\n--- stdout\n{stdout}\n\
             --- stderr\n{stderr}",
            output.status
        );
    }
}

/// `softhsm2-util --init-token --free`; returns the slot the token was assigned to.
fn init_token(conf: &Path, label: &str) -> u64 {
    let output = Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", label])
        .args(["--pin", PIN, "--so-pin", SO_PIN])
        .env("SOFTHSM2_CONF", conf)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run softhsm2-util ({e}): run `bash scripts/ci-deps.sh` (softhsm2)")
        });
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "softhsm2-util --init-token failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .split_whitespace()
        .last()
        .and_then(|slot| slot.parse().ok())
        .unwrap_or_else(|| panic!("no slot number in softhsm2-util's output: {stdout}"))
}

/// The child's side: the tokens its parent created.
pub(crate) struct ChildHsm {
    /// The phase the parent asked for.
    pub(crate) phase: String,
    /// A scratch directory shared by all phases of the test.
    pub(crate) dir: PathBuf,
    tokens: Vec<(String, u64)>,
}

impl ChildHsm {
    /// `Some` in a child process started by [`SoftHsm::run`].
    pub(crate) fn current() -> Option<ChildHsm> {
        let phase = std::env::var(PHASE_VAR).ok()?;
        let tokens = std::env::var(TOKENS_VAR)
            .unwrap()
            .split(',')
            .map(|pair| {
                let (label, slot) = pair.split_once('=').unwrap();
                (label.to_owned(), slot.parse().unwrap())
            })
            .collect();
        let dir = PathBuf::from(std::env::var_os(DIR_VAR).unwrap());
        Some(ChildHsm { phase, dir, tokens })
    }

    /// The slot of the token labelled `label`.
    pub(crate) fn slot(&self, label: &str) -> u64 {
        self.tokens
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, slot)| *slot)
            .unwrap()
    }

    /// A `seal "pkcs11"` stanza for the token `token_label`, the key `key_label`, the right
    /// PIN, and `generate_key` as given.
    pub(crate) fn stanza(
        &self,
        token_label: &str,
        key_label: &str,
        generate_key: bool,
    ) -> SealStanza {
        let mut s = SealStanza::new("pkcs11");
        let lib = softhsm_lib();
        for (k, v) in [
            ("lib", lib.to_str().unwrap()),
            ("token_label", token_label),
            ("pin", PIN),
            ("key_label", key_label),
            ("mechanism", "0x1087"),
            ("generate_key", if generate_key { "true" } else { "false" }),
        ] {
            s.params.insert(k.to_owned(), v.to_owned());
        }
        s
    }
}

/// Runs a future to completion on a fresh multi-threaded runtime (the seal uses
/// `spawn_blocking`).
pub(crate) fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}
