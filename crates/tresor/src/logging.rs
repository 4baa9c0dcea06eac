//! Logging setup: level from `-log-level`, `VAULT_LOG_LEVEL` or the config; to stderr, or to
//! `log_file` when set.

use std::path::Path;
use std::sync::Mutex;

use crate::log_rotate::{RotatePolicy, RotatingFile};

use tracing_subscriber::EnvFilter;

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
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let result = match log_file {
        Some(path) => {
            let file = RotatingFile::open(Path::new(path), rotate, std::time::SystemTime::now)
                .map_err(|e| format!("log_file {path}: {e}"))?;
            if json {
                builder.json().with_writer(Mutex::new(file)).try_init()
            } else {
                builder
                    .with_ansi(false)
                    .with_writer(Mutex::new(file))
                    .try_init()
            }
        }
        None if json => builder.json().with_writer(std::io::stderr).try_init(),
        None => builder.with_writer(std::io::stderr).try_init(),
    };
    result.map_err(|e| e.to_string())
}
