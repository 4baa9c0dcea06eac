//! SoftHSM2 for PKCS#11 tests: a private configuration and token directory per test, tokens
//! initialized with `softhsm2-util`, key objects that can be taken away and brought back (an
//! HSM outage), and `seal "pkcs11"` stanzas. The module comes from `bash scripts/ci-deps.sh`
//! (or `TRESOR_SOFTHSM_LIB`).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // test support panics on setup failure

use std::path::{Path, PathBuf};
use std::process::Command;

/// The user PIN of every test token.
pub const PIN: &str = "1234";
const SO_PIN: &str = "5678";

/// The SoftHSM2 module (override with TRESOR_SOFTHSM_LIB).
pub fn softhsm_lib() -> String {
    let lib = std::env::var("TRESOR_SOFTHSM_LIB")
        .unwrap_or_else(|_| "/usr/lib/softhsm/libsofthsm2.so".into());
    assert!(
        Path::new(&lib).is_file(),
        "SoftHSM2 not found at {lib}: run `bash scripts/ci-deps.sh` (softhsm2)"
    );
    lib
}

/// A private SoftHSM2 configuration with its own token directory.
pub struct Hsm {
    pub dir: tempfile::TempDir,
    pub conf: PathBuf,
    pub token_dir: PathBuf,
    /// The initialized tokens: label and the slot SoftHSM assigned.
    pub slots: Vec<(String, u64)>,
}

impl Hsm {
    /// A fresh token directory with one initialized token per label.
    pub fn new(labels: &[&str]) -> Hsm {
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
        let mut hsm = Hsm {
            dir,
            conf,
            token_dir,
            slots: Vec::new(),
        };
        for label in labels {
            let slot = hsm.init_token(label);
            hsm.slots.push(((*label).to_owned(), slot));
        }
        hsm
    }

    /// `softhsm2-util --init-token --free --label <label>`; returns the slot it was assigned.
    pub fn init_token(&self, label: &str) -> u64 {
        let out = Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", label])
            .args(["--pin", PIN, "--so-pin", SO_PIN])
            .env("SOFTHSM2_CONF", &self.conf)
            .output()
            .expect("run softhsm2-util (install softhsm2)");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "softhsm2-util: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
            .split_whitespace()
            .last()
            .and_then(|slot| slot.parse().ok())
            .unwrap_or_else(|| panic!("no slot number in softhsm2-util's output: {stdout}"))
    }

    /// Moves every key object out of the token directory: a node started now finds its token
    /// but not its key (the HSM cannot unwrap). SoftHSM2 sees token objects added or removed by
    /// other processes, but not new tokens, so this is the outage it can recover from.
    pub fn take_keys_away(&self) {
        let away = self.dir.path().join("keys.away");
        std::fs::create_dir_all(&away).unwrap();
        for token in std::fs::read_dir(&self.token_dir).unwrap() {
            let token = token.unwrap().path();
            let name = token.file_name().unwrap().to_owned();
            let target = away.join(&name);
            std::fs::create_dir_all(&target).unwrap();
            for f in std::fs::read_dir(&token).unwrap() {
                let f = f.unwrap().path();
                let file = f.file_name().unwrap().to_string_lossy().into_owned();
                if !file.starts_with("token.") {
                    std::fs::rename(&f, target.join(&file)).unwrap();
                }
            }
        }
    }

    /// Puts the key objects back.
    pub fn bring_keys_back(&self) {
        let away = self.dir.path().join("keys.away");
        for token in std::fs::read_dir(&away).unwrap() {
            let token = token.unwrap().path();
            let target = self.token_dir.join(token.file_name().unwrap());
            for f in std::fs::read_dir(&token).unwrap() {
                let f = f.unwrap().path();
                std::fs::rename(&f, target.join(f.file_name().unwrap())).unwrap();
            }
        }
    }

    /// A `seal "pkcs11"` stanza for token `token` and key `key_label`, generating the key if
    /// it is missing.
    pub fn stanza(&self, token: &str, key_label: &str, disabled: bool) -> String {
        self.stanza_with(token, key_label, disabled, true)
    }

    /// A `seal "pkcs11"` stanza for token `token` and key `key_label`, with `generate_key`.
    pub fn stanza_with(
        &self,
        token: &str,
        key_label: &str,
        disabled: bool,
        generate: bool,
    ) -> String {
        format!(
            "seal \"pkcs11\" {{\n  lib = \"{lib}\"\n  token_label = \"{token}\"\n  pin = \"{PIN}\"\n  \
             key_label = \"{key_label}\"\n  mechanism = \"0x1087\"\n  generate_key = \"{generate}\"\n  \
             disabled = \"{disabled}\"\n}}\n",
            lib = softhsm_lib()
        )
    }
}
