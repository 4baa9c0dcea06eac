//! What the CLI reads from its surroundings: environment variables, the home directory,
//! stdin. Behind a trait so tests can run many CLI invocations in one process.

use std::io::{IsTerminal as _, Read as _};
use std::path::PathBuf;

/// The process environment as the CLI sees it.
pub trait Env: Send + Sync {
    /// An environment variable (`None` when unset or empty).
    fn var(&self, name: &str) -> Option<String>;

    /// The user's home directory (where `.vault-token` lives).
    fn home_dir(&self) -> Option<PathBuf> {
        self.var("HOME").map(PathBuf::from)
    }

    /// Reads all of stdin.
    fn read_stdin(&self) -> std::io::Result<String>;

    /// Whether stdout is a terminal (raw `-field` output then ends with a newline).
    fn stdout_is_tty(&self) -> bool {
        false
    }
}

/// The real process environment.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemEnv;

impl Env for SystemEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }

    fn home_dir(&self) -> Option<PathBuf> {
        self.var("HOME")
            .or_else(|| self.var("USERPROFILE"))
            .map(PathBuf::from)
    }

    fn read_stdin(&self) -> std::io::Result<String> {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        Ok(s)
    }

    fn stdout_is_tty(&self) -> bool {
        std::io::stdout().is_terminal()
    }
}
