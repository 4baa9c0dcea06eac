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

    /// Asks for a secret on the terminal without echoing it (`prompt` on stderr). `None` when
    /// stdin is no terminal: a script must pass the secret itself.
    fn read_secret(&self, _prompt: &str) -> Option<std::io::Result<String>> {
        None
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

    fn read_secret(&self, prompt: &str) -> Option<std::io::Result<String>> {
        if !std::io::stdin().is_terminal() {
            return None;
        }
        Some(read_without_echo(prompt))
    }
}

/// Reads one line from the terminal with echo off (through `stty`, which acts on the terminal
/// stdin is), restoring echo afterwards whatever happened.
fn read_without_echo(prompt: &str) -> std::io::Result<String> {
    use std::io::Write as _;
    let stty = |arg: &str| {
        std::process::Command::new("stty")
            .arg(arg)
            .stdin(std::process::Stdio::inherit())
            .status()
    };
    let mut err = std::io::stderr();
    write!(err, "{prompt}")?;
    err.flush()?;
    let hidden = stty("-echo").is_ok_and(|s| s.success());
    let mut line = String::new();
    let read = std::io::stdin().read_line(&mut line);
    if hidden {
        let _ = stty("echo");
    }
    writeln!(err)?;
    read?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
