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

use std::path::PathBuf;
use std::process::Command;

use tresor_config::SealStanza;

/// Marks a child process and names its phase.
const PHASE_VAR: &str = "TRESOR_PKCS11_TEST_PHASE";
/// `label=slot,label=slot` of the tokens the parent created.
const TOKENS_VAR: &str = "TRESOR_PKCS11_TEST_TOKENS";
/// A scratch directory shared by the phases of one test.
const DIR_VAR: &str = "TRESOR_PKCS11_TEST_DIR";
pub(crate) use tresor_testkit::softhsm::PIN;

/// The SoftHSM module to load; fails the test with instructions when it is not installed.
pub(crate) fn softhsm_lib() -> PathBuf {
    PathBuf::from(tresor_testkit::softhsm::softhsm_lib())
}

/// The parent's side: a private SoftHSM configuration with initialized tokens.
pub(crate) struct SoftHsm(tresor_testkit::softhsm::Hsm);

impl SoftHsm {
    /// A fresh token directory with one initialized token per label (user PIN [`PIN`]).
    pub(crate) fn new(labels: &[&str]) -> SoftHsm {
        SoftHsm(tresor_testkit::softhsm::Hsm::new(labels))
    }

    /// Runs `test` (this binary's test function of that name) in a child process with
    /// `SOFTHSM2_CONF` pointing at these tokens, as `phase`; fails if the child's test fails
    /// or did not run.
    pub(crate) fn run(&self, test: &str, phase: &str) {
        let tokens: Vec<String> = self
            .0
            .slots
            .iter()
            .map(|(label, slot)| format!("{label}={slot}"))
            .collect();
        let output = Command::new(std::env::current_exe().unwrap())
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env("SOFTHSM2_CONF", &self.0.conf)
            .env(PHASE_VAR, phase)
            .env(TOKENS_VAR, tokens.join(","))
            .env(DIR_VAR, self.0.dir.path())
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
