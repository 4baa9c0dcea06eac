//! Logging setup: level from `-log-level`, `VAULT_LOG_LEVEL` or the config; format from
//! `-log-format`, `VAULT_LOG_FORMAT` or the config's `log_format`; to stderr, or to `log_file`
//! when set. Colour (ANSI escapes) only when the line goes to a terminal in the standard format.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Mutex;

use crate::log_rotate::{RotatePolicy, RotatingFile};

use tracing_subscriber::EnvFilter;

/// Whether log lines carry ANSI colour codes: only in the standard format, only to a terminal,
/// never to a `log_file` (a terminal check on stderr says nothing about the file).
pub(crate) fn use_ansi(is_terminal: bool, to_file: bool, json: bool) -> bool {
    is_terminal && !to_file && !json
}

/// Resolves the log format, first of the `-log-format` flag, `VAULT_LOG_FORMAT` and the
/// config's `log_format` (an empty value counts as unset); returns whether it is JSON.
/// Unknown values are errors.
pub(crate) fn json_format(
    flag: Option<&str>,
    env: Option<&str>,
    config: Option<&str>,
) -> Result<bool, String> {
    let chosen = [flag, env, config]
        .into_iter()
        .flatten()
        .find(|s| !s.is_empty());
    match chosen.map(str::to_ascii_lowercase).as_deref() {
        None | Some("standard") => Ok(false),
        Some("json") => Ok(true),
        Some(other) => Err(format!(
            "invalid log format {other:?} (want \"standard\" or \"json\")"
        )),
    }
}

/// Installs the global subscriber. `log_file` appends to that file (rotated per `rotate`)
/// instead of stderr.
pub(crate) fn init(
    level: &str,
    log_file: Option<&str>,
    rotate: RotatePolicy,
    json: bool,
) -> Result<(), String> {
    let level = match level.to_ascii_lowercase().as_str() {
        "err" => "error".to_owned(),
        "trace" | "debug" | "info" | "warn" | "error" => level.to_ascii_lowercase(),
        other => return Err(format!("invalid log level {other:?}")),
    };
    let filter = EnvFilter::try_from_env("TRESOR_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("{level},openraft=warn,h2=warn,hyper=warn")));
    let ansi = use_ansi(std::io::stderr().is_terminal(), log_file.is_some(), json);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi);
    let result = match log_file {
        Some(path) => {
            let file = RotatingFile::open(Path::new(path), rotate, std::time::SystemTime::now)
                .map_err(|e| format!("log_file {path}: {e}"))?;
            if json {
                builder.json().with_writer(Mutex::new(file)).try_init()
            } else {
                builder.with_writer(Mutex::new(file)).try_init()
            }
        }
        None if json => builder.json().with_writer(std::io::stderr).try_init(),
        None => builder.with_writer(std::io::stderr).try_init(),
    };
    result.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_for_standard_lines_to_a_terminal() {
        assert!(use_ansi(true, false, false));
        // Redirected stderr (a dev server's output piped to a file), a log_file, or JSON: none.
        assert!(!use_ansi(false, false, false));
        assert!(!use_ansi(true, true, false));
        assert!(!use_ansi(false, true, false));
        assert!(!use_ansi(true, false, true));
        assert!(!use_ansi(true, true, true));
    }

    #[test]
    fn format_precedence_flag_env_config() {
        assert_eq!(json_format(None, None, None), Ok(false));
        assert_eq!(json_format(None, None, Some("json")), Ok(true));
        assert_eq!(json_format(None, Some(""), Some("json")), Ok(true));
        assert_eq!(json_format(None, Some("standard"), Some("json")), Ok(false));
        assert_eq!(json_format(Some("JSON"), Some("standard"), None), Ok(true));
        assert_eq!(
            json_format(Some("standard"), Some("json"), Some("json")),
            Ok(false)
        );
        assert!(json_format(None, Some("xml"), None).is_err());
        assert!(json_format(Some("logfmt"), None, Some("json")).is_err());
    }
}
