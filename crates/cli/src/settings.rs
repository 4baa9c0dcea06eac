//! Resolving where and how to connect from flags and the environment (pure).

use std::path::PathBuf;

use zeroize::Zeroizing;

use crate::args::{Parsed, parse_bool};
use crate::env::Env;
use crate::error::CliError;

/// The address used when neither `-address`, `VAULT_ADDR` nor `BAO_ADDR` is set.
pub const DEFAULT_ADDRESS: &str = "https://127.0.0.1:8200";

/// Name of the token file in the home directory.
pub const TOKEN_FILE: &str = ".vault-token";

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// Aligned key/value tables (the default).
    Table,
    /// The API response as indented JSON.
    Json,
}

/// Everything a command needs to reach the server and print results.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Server address without trailing slash, e.g. `https://127.0.0.1:8200`.
    pub(crate) address: String,
    /// The client token, if any.
    pub(crate) token: Option<Zeroizing<String>>,
    /// PEM file with CA certificates to trust instead of the built-in roots.
    pub(crate) ca_cert: Option<PathBuf>,
    /// PEM client certificate for mutual TLS.
    pub(crate) client_cert: Option<PathBuf>,
    /// PEM client key for mutual TLS.
    pub(crate) client_key: Option<PathBuf>,
    /// Skip server certificate verification.
    pub(crate) skip_verify: bool,
    /// Output format.
    pub(crate) format: Format,
    /// Print only this field, raw.
    pub(crate) field: Option<String>,
}

fn first(env: &dyn Env, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| env.var(n))
}

/// Parses a `-format` / `VAULT_FORMAT` value.
pub(crate) fn parse_format(v: &str) -> Result<Format, CliError> {
    match v.to_ascii_lowercase().as_str() {
        "table" => Ok(Format::Table),
        "json" => Ok(Format::Json),
        other => Err(CliError::Usage(format!(
            "invalid output format {other:?}: supported formats are table and json"
        ))),
    }
}

/// The token file path for this environment.
pub(crate) fn token_file(env: &dyn Env) -> Option<PathBuf> {
    env.home_dir().map(|h| h.join(TOKEN_FILE))
}

impl Settings {
    /// Flags win over `VAULT_*` variables, which win over `BAO_*` ones; the token falls back to
    /// `~/.vault-token`.
    pub(crate) fn resolve(p: &Parsed, env: &dyn Env) -> Result<Self, CliError> {
        let address = p
            .str("address")
            .map(str::to_owned)
            .or_else(|| first(env, &["VAULT_ADDR", "BAO_ADDR"]))
            .unwrap_or_else(|| DEFAULT_ADDRESS.to_owned())
            .trim_end_matches('/')
            .to_owned();
        let token = match first(env, &["VAULT_TOKEN", "BAO_TOKEN"]) {
            Some(t) => Some(Zeroizing::new(t.trim().to_owned())),
            None => token_file(env)
                .and_then(|f| std::fs::read_to_string(f).ok())
                .map(|t| Zeroizing::new(t.trim().to_owned()))
                .filter(|t| !t.is_empty()),
        };
        let path = |flag: &str, vars: &[&str]| {
            p.str(flag)
                .map(str::to_owned)
                .or_else(|| first(env, vars))
                .map(PathBuf::from)
        };
        let skip_verify = if p.has("tls-skip-verify") {
            p.bool("tls-skip-verify")
        } else {
            match first(env, &["VAULT_SKIP_VERIFY", "BAO_SKIP_VERIFY"]) {
                Some(v) => parse_bool(&v).ok_or_else(|| {
                    CliError::Usage(format!("invalid value {v:?} for VAULT_SKIP_VERIFY"))
                })?,
                None => false,
            }
        };
        let format = match p.str("format") {
            Some(f) => parse_format(f)?,
            None => match first(env, &["VAULT_FORMAT", "BAO_FORMAT"]) {
                Some(f) => parse_format(&f)?,
                None => Format::Table,
            },
        };
        Ok(Self {
            address,
            token,
            ca_cert: path("ca-cert", &["VAULT_CACERT", "BAO_CACERT"]),
            client_cert: path("client-cert", &["VAULT_CLIENT_CERT", "BAO_CLIENT_CERT"]),
            client_key: path("client-key", &["VAULT_CLIENT_KEY", "BAO_CLIENT_KEY"]),
            skip_verify,
            format,
            field: p.str("field").map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{COMMON, parse};
    use std::collections::HashMap;

    struct FakeEnv(HashMap<&'static str, String>);
    impl Env for FakeEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).cloned()
        }
        fn read_stdin(&self) -> std::io::Result<String> {
            Ok(String::new())
        }
    }

    fn resolve(args: &[&str], vars: &[(&'static str, &str)]) -> Result<Settings, CliError> {
        let env = FakeEnv(vars.iter().map(|(k, v)| (*k, v.to_string())).collect());
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        Settings::resolve(&parse(&[COMMON], &args)?, &env)
    }

    #[test]
    fn precedence_flag_then_vault_then_bao_then_default() {
        let s = resolve(&[], &[]).unwrap();
        assert_eq!(s.address, DEFAULT_ADDRESS);
        assert_eq!(s.format, Format::Table);
        assert!(s.token.is_none());
        let s = resolve(&[], &[("BAO_ADDR", "http://b:1/"), ("BAO_TOKEN", "bt")]).unwrap();
        assert_eq!(s.address, "http://b:1");
        assert_eq!(s.token.as_deref().map(String::as_str), Some("bt"));
        let s = resolve(
            &[],
            &[
                ("BAO_ADDR", "http://b:1"),
                ("VAULT_ADDR", "http://v:2"),
                ("VAULT_TOKEN", "vt"),
                ("BAO_TOKEN", "bt"),
            ],
        )
        .unwrap();
        assert_eq!(s.address, "http://v:2");
        assert_eq!(s.token.as_deref().map(String::as_str), Some("vt"));
        let s = resolve(
            &["-address=http://f:3", "-format=JSON"],
            &[("VAULT_ADDR", "http://v:2")],
        )
        .unwrap();
        assert_eq!(s.address, "http://f:3");
        assert_eq!(s.format, Format::Json);
    }

    #[test]
    fn tls_and_format_from_env() {
        let s = resolve(
            &[],
            &[
                ("VAULT_SKIP_VERIFY", "true"),
                ("VAULT_CACERT", "/ca.pem"),
                ("VAULT_FORMAT", "json"),
            ],
        )
        .unwrap();
        assert!(s.skip_verify);
        assert_eq!(s.ca_cert, Some(PathBuf::from("/ca.pem")));
        assert_eq!(s.format, Format::Json);
        let s = resolve(&["-tls-skip-verify=false"], &[("VAULT_SKIP_VERIFY", "1")]).unwrap();
        assert!(!s.skip_verify);
        assert_eq!(resolve(&["-format=yaml"], &[]).unwrap_err().exit_code(), 2);
        assert!(resolve(&[], &[("VAULT_SKIP_VERIFY", "maybe")]).is_err());
    }
}
