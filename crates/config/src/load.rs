//! Reading configuration files and directories (the only I/O of this crate).

use std::path::{Path, PathBuf};

use tresor_sdk::nesting::{Syntax, check_depth};
use zeroize::Zeroizing;

use crate::error::ConfigError;
use crate::from_hcl::parse_hcl;
use crate::from_json::parse_json;
use crate::server::{ServerConfig, decode};
use crate::tree::Node;

/// How deeply configuration text may nest, as scored by [`tresor_sdk::nesting`] (brackets,
/// strings, operators and block labels). Vault's configuration nests a few levels
/// (`listener "tcp" { telemetry { ... } }`, `storage "raft" { retry_join { ... } }`); the bound
/// exists because the HCL and JSON parsers recurse per level, and text nested thousands deep
/// would overflow the stack instead of failing with an error.
pub const MAX_CONFIG_DEPTH: usize = 100;

/// Parses one configuration text. `source` names it in errors and warnings (usually the file
/// name). JSON is recognised by a `.json` source name or a leading `{`; anything else is HCL.
/// The result is not validated; partial configurations (e.g. only a `seal` block) parse.
pub fn parse_str(text: &str, source: &str) -> Result<ServerConfig, ConfigError> {
    let mut warnings = Vec::new();
    let entries = parse_text(text, source, &mut warnings)?;
    decode(&[(source.to_owned(), entries)], warnings)
}

/// Loads and merges configuration from files and directories.
///
/// A directory contributes all its `*.hcl` and `*.json` files (not recursing), sorted by name.
/// Files merge in order: later top-level settings win, `listener` and `seal` blocks accumulate,
/// `telemetry` blocks merge key by key, and a second `storage` block anywhere is an error. The
/// result is not validated.
pub fn load(paths: &[PathBuf]) -> Result<ServerConfig, ConfigError> {
    let mut files = Vec::new();
    for path in paths {
        files.extend(expand(path)?);
    }
    let mut warnings = Vec::new();
    let mut parsed: Vec<(String, Vec<(String, Node)>)> = Vec::with_capacity(files.len());
    for file in files {
        let name = file.display().to_string();
        let text = read(&file, &name)?;
        let entries = parse_text(&text, &name, &mut warnings)?;
        parsed.push((name, entries));
    }
    decode(&parsed, warnings)
}

/// The files a path stands for.
fn expand(path: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let name = || path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|source| ConfigError::Read {
        file: name(),
        source,
    })?;
    if !meta.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let dir = std::fs::read_dir(path).map_err(|source| ConfigError::Read {
        file: name(),
        source,
    })?;
    let mut files = Vec::new();
    for entry in dir {
        let entry = entry.map_err(|source| ConfigError::Read {
            file: name(),
            source,
        })?;
        let p = entry.path();
        let is_config = matches!(p.extension().and_then(|e| e.to_str()), Some("hcl" | "json"));
        if is_config && p.is_file() {
            files.push(p);
        }
    }
    if files.is_empty() {
        return Err(ConfigError::NoFiles { file: name() });
    }
    files.sort();
    Ok(files)
}

fn read(path: &Path, name: &str) -> Result<Zeroizing<String>, ConfigError> {
    std::fs::read_to_string(path)
        .map(Zeroizing::new)
        .map_err(|source| ConfigError::Read {
            file: name.to_owned(),
            source,
        })
}

fn parse_text(
    text: &str,
    source: &str,
    warnings: &mut Vec<String>,
) -> Result<Vec<(String, Node)>, ConfigError> {
    let is_json = source.ends_with(".json") || text.trim_start().starts_with('{');
    let syntax = if is_json { Syntax::Json } else { Syntax::Hcl };
    // Before any recursive parser sees the text (see MAX_CONFIG_DEPTH).
    check_depth(text, syntax, MAX_CONFIG_DEPTH).map_err(|e| {
        let key = e.key.clone().unwrap_or_else(|| "(top level)".to_owned());
        ConfigError::invalid(
            source,
            &key,
            format!("{e}; server configuration nests only a few levels deep"),
        )
    })?;
    if is_json {
        parse_json(text, source, warnings)
    } else {
        parse_hcl(text, source, warnings)
    }
}
