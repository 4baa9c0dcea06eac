//! Command-line arguments and their validation into a [`BenchConfig`].

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::config::{
    BenchConfig, KvVersion, MAX_CONCURRENCY, MAX_DURATION, MAX_KEYS, MAX_PAYLOAD, MAX_TIMEOUT,
    MAX_WARMUP, OutputFormat, Scenario, Token,
};
use crate::error::BenchError;
use crate::target::parse_target;

/// Address used for Vault scenarios when neither `--addr` nor `VAULT_ADDR` is given.
pub const DEFAULT_VAULT_ADDR: &str = "http://127.0.0.1:8200";
/// Address used for etcd scenarios when `--addr` is not given.
pub const DEFAULT_ETCD_ADDR: &str = "http://127.0.0.1:2379";

/// Raw command line of `tresor-bench`; turn it into a [`BenchConfig`] with [`Cli::validate`].
#[derive(Debug, Parser)]
#[command(
    name = "tresor-bench",
    version,
    about = "Bounded load generator for Vault-compatible servers (and etcd's v3 JSON gateway)"
)]
pub struct Cli {
    /// Load shape to generate.
    #[arg(value_enum)]
    pub scenario: Scenario,
    /// Server address; repeat for several nodes (workers are spread round-robin).
    /// Default: $VAULT_ADDR or http://127.0.0.1:8200 (etcd scenarios: http://127.0.0.1:2379).
    #[arg(long = "addr", value_name = "URL")]
    pub addr: Vec<String>,
    /// Vault token (default: $VAULT_TOKEN).
    #[arg(long)]
    pub token: Option<String>,
    /// Concurrent workers, each with one request in flight.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Length of the measured phase, e.g. 10s or 2m (at most 1h).
    #[arg(long)]
    pub duration: Option<String>,
    /// Number of measured operations.
    #[arg(long)]
    pub ops: Option<u64>,
    /// Payload size in bytes.
    #[arg(long, default_value_t = 256)]
    pub payload: usize,
    /// Secrets engine mount (default: secret; transit-encrypt: transit).
    #[arg(long)]
    pub mount: Option<String>,
    /// Key prefix under the mount.
    #[arg(long, default_value = "tresor-bench")]
    pub prefix: String,
    /// Size of the key set (read scenarios write it first).
    #[arg(long, default_value_t = 1000)]
    pub keys: u64,
    /// KV engine version at the mount (1 or 2).
    #[arg(long, default_value_t = 2)]
    pub kv_version: u8,
    /// Transit key name for transit-encrypt.
    #[arg(long, default_value = "tresor-bench")]
    pub transit_key: String,
    /// Load sent before measuring starts, excluded from the statistics.
    #[arg(long, default_value = "1s")]
    pub warmup: String,
    /// Per-request timeout.
    #[arg(long, default_value = "30s")]
    pub timeout: String,
    /// PEM file with a CA certificate to trust.
    #[arg(long, value_name = "PATH")]
    pub ca_cert: Option<PathBuf>,
    /// Skip TLS certificate verification.
    #[arg(long)]
    pub insecure: bool,
    /// Report format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Seed for key choice and payload (default: random, printed in the report).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Exit non-zero when more than this share of operations fail: a fraction (0.01) or a
    /// percentage (1%).
    #[arg(long, default_value = "1%")]
    pub max_error_rate: String,
    /// Allow targets that are not loopback addresses.
    #[arg(long)]
    pub allow_non_loopback: bool,
    /// Do not write the key set of kv-read/mixed first: an earlier run with the same
    /// `--keys`, `--prefix` and `--mount` wrote it.
    #[arg(long)]
    pub skip_prepare: bool,
    /// Login scenarios: the userpass user name or the AppRole role id; `db-creds`: the role.
    #[arg(long, default_value = "tresor-bench")]
    pub login_id: String,
    /// Login scenarios: the password or the secret id (default: $BENCH_LOGIN_SECRET).
    #[arg(long)]
    pub login_secret: Option<String>,
}

impl Cli {
    /// Checks every value and resolves defaults. `env` looks up environment variables
    /// (`VAULT_ADDR`, `VAULT_TOKEN`); pass `|k| std::env::var(k).ok()` in the binary.
    pub fn validate(self, env: impl Fn(&str) -> Option<String>) -> Result<BenchConfig, BenchError> {
        let scenario = self.scenario;

        let addrs = if !self.addr.is_empty() {
            self.addr
        } else if scenario.is_etcd() {
            vec![DEFAULT_ETCD_ADDR.to_owned()]
        } else {
            vec![
                env("VAULT_ADDR")
                    .filter(|a| !a.trim().is_empty())
                    .unwrap_or_else(|| DEFAULT_VAULT_ADDR.to_owned()),
            ]
        };
        let targets = addrs
            .iter()
            .map(|a| parse_target(a, self.allow_non_loopback))
            .collect::<Result<Vec<_>, _>>()?;

        let token = if scenario.is_etcd() {
            None
        } else {
            let token = self
                .token
                .or_else(|| env("VAULT_TOKEN"))
                .filter(|t| !t.is_empty())
                .ok_or(BenchError::MissingToken)?;
            if !token.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(BenchError::invalid("token", "must be printable ASCII"));
            }
            Some(Token::new(token))
        };

        if self.concurrency == 0 || self.concurrency > MAX_CONCURRENCY {
            return Err(BenchError::invalid(
                "concurrency",
                format!("must be between 1 and {MAX_CONCURRENCY}"),
            ));
        }
        let duration = self
            .duration
            .as_deref()
            .map(|d| parse_duration("duration", d, MAX_DURATION))
            .transpose()?;
        if duration == Some(Duration::ZERO) {
            return Err(BenchError::invalid("duration", "must be positive"));
        }
        if self.ops == Some(0) {
            return Err(BenchError::invalid("ops", "must be positive"));
        }
        if duration.is_none() && self.ops.is_none() {
            return Err(BenchError::Unbounded);
        }
        let warmup = parse_duration("warmup", &self.warmup, MAX_WARMUP)?;
        let timeout = parse_duration("timeout", &self.timeout, MAX_TIMEOUT)?;
        if timeout.is_zero() {
            return Err(BenchError::invalid("timeout", "must be positive"));
        }
        if self.payload > MAX_PAYLOAD {
            return Err(BenchError::invalid(
                "payload",
                format!("at most {MAX_PAYLOAD} bytes"),
            ));
        }
        if self.keys == 0 || self.keys > MAX_KEYS {
            return Err(BenchError::invalid(
                "keys",
                format!("must be between 1 and {MAX_KEYS}"),
            ));
        }
        let kv_version = match self.kv_version {
            1 => KvVersion::V1,
            2 => KvVersion::V2,
            _ => return Err(BenchError::invalid("kv-version", "must be 1 or 2")),
        };
        let mount = match (self.mount, scenario.default_mount()) {
            (Some(m), _) => clean_path("mount", &m)?,
            (None, Some(m)) => m.to_owned(),
            (None, None) => String::new(),
        };
        let prefix = clean_path("prefix", &self.prefix)?;
        let transit_key = self.transit_key;
        if transit_key.is_empty() || !transit_key.bytes().all(is_name_byte) {
            return Err(BenchError::invalid(
                "transit-key",
                "use letters, digits, '-', '_' and '.'",
            ));
        }
        let max_error_rate = parse_error_rate(&self.max_error_rate)?;
        if self.login_id.is_empty() || !self.login_id.bytes().all(is_name_byte) {
            return Err(BenchError::invalid(
                "login-id",
                "use letters, digits, '-', '_' and '.'",
            ));
        }
        let login_secret = Token::new(
            self.login_secret
                .or_else(|| env("BENCH_LOGIN_SECRET"))
                .unwrap_or_default(),
        );

        Ok(BenchConfig {
            scenario,
            targets,
            token,
            concurrency: self.concurrency,
            duration,
            ops: self.ops,
            warmup,
            payload_bytes: self.payload,
            mount,
            prefix,
            keys: self.keys,
            kv_version,
            transit_key,
            ca_cert: self.ca_cert,
            insecure: self.insecure,
            format: self.format,
            seed: self.seed.unwrap_or_else(rand::random),
            max_error_rate,
            timeout,
            login_id: self.login_id,
            login_secret,
            allow_non_loopback: self.allow_non_loopback,
            skip_prepare: self.skip_prepare,
        })
    }
}

/// Parses a Go-style duration (`10s`, `1m30s`, `250ms`, a bare number of seconds) no longer
/// than `max`.
fn parse_duration(flag: &'static str, text: &str, max: Duration) -> Result<Duration, BenchError> {
    let nanos = tresor_sdk::duration::parse_nanos(text)
        .map_err(|e| BenchError::invalid(flag, e.to_string()))?;
    let max_nanos = max.as_nanos();
    if nanos > max_nanos {
        return Err(BenchError::invalid(
            flag,
            format!("{text:?} is longer than the cap of {}s", max.as_secs()),
        ));
    }
    // Bounded by `max`, so it fits in u64 nanoseconds.
    Ok(Duration::from_nanos(nanos as u64))
}

/// Parses `0.01` or `1%` into a fraction in `0.0..=1.0`.
fn parse_error_rate(text: &str) -> Result<f64, BenchError> {
    let bad = || BenchError::invalid("max-error-rate", format!("{text:?}: expected 0.01 or 1%"));
    let text = text.trim();
    let rate = match text.strip_suffix('%') {
        Some(pct) => pct.trim().parse::<f64>().map_err(|_| bad())? / 100.0,
        None => text.parse::<f64>().map_err(|_| bad())?,
    };
    if !(0.0..=1.0).contains(&rate) {
        return Err(bad());
    }
    Ok(rate)
}

/// Trims slashes from a mount or prefix and rejects characters that would need URL escaping
/// or change the path's meaning (`..`, empty segments).
fn clean_path(flag: &'static str, text: &str) -> Result<String, BenchError> {
    let trimmed = text.trim_matches('/');
    if trimmed.is_empty() {
        return Err(BenchError::invalid(flag, "must not be empty"));
    }
    for segment in trimmed.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err(BenchError::invalid(
                flag,
                format!("{text:?}: bad path segment"),
            ));
        }
        if !segment.bytes().all(is_name_byte) {
            return Err(BenchError::invalid(
                flag,
                format!("{text:?}: use letters, digits, '-', '_', '.' and '/'"),
            ));
        }
    }
    Ok(trimmed.to_owned())
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<BenchConfig, BenchError> {
        parse_env(args, &[("VAULT_TOKEN", "s.envtoken")])
    }

    fn parse_env(args: &[&str], env: &[(&str, &str)]) -> Result<BenchConfig, BenchError> {
        let cli = Cli::try_parse_from(std::iter::once("tresor-bench").chain(args.iter().copied()))
            .map_err(|e| BenchError::invalid("clap", e.to_string()))?;
        cli.validate(|k| {
            env.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    fn invalid_flag(result: Result<BenchConfig, BenchError>) -> &'static str {
        match result {
            Err(BenchError::InvalidArg { flag, .. }) => flag,
            other => panic!("expected InvalidArg, got {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let c = parse(&["kv-write", "--ops", "10"]).unwrap();
        assert_eq!(c.scenario, Scenario::KvWrite);
        assert_eq!(c.targets, vec!["http://127.0.0.1:8200"]);
        assert_eq!(c.token.as_ref().map(Token::expose), Some("s.envtoken"));
        assert_eq!(c.concurrency, 32);
        assert_eq!(c.duration, None);
        assert_eq!(c.ops, Some(10));
        assert_eq!(c.warmup, Duration::from_secs(1));
        assert_eq!(c.payload_bytes, 256);
        assert_eq!(c.mount, "secret");
        assert_eq!(c.prefix, "tresor-bench");
        assert_eq!(c.keys, 1000);
        assert_eq!(c.kv_version, KvVersion::V2);
        assert_eq!(c.format, OutputFormat::Table);
        assert_eq!(c.max_error_rate, 0.01);
        assert_eq!(c.timeout, Duration::from_secs(30));
        assert!(!c.insecure);
        assert!(c.ca_cert.is_none());
    }

    #[test]
    fn every_flag_is_honoured() {
        let c = parse(&[
            "mixed",
            "--addr",
            "http://127.0.0.1:8201",
            "--addr",
            "https://localhost:8202/",
            "--token",
            "s.flag",
            "--concurrency",
            "4",
            "--duration",
            "1m30s",
            "--ops",
            "500",
            "--payload",
            "1024",
            "--mount",
            "/kv/",
            "--prefix",
            "bench/a",
            "--keys",
            "50",
            "--kv-version",
            "1",
            "--transit-key",
            "k1",
            "--warmup",
            "0",
            "--timeout",
            "250ms",
            "--ca-cert",
            "/tmp/ca.pem",
            "--insecure",
            "--format",
            "json",
            "--seed",
            "42",
            "--max-error-rate",
            "0.05",
        ])
        .unwrap();
        assert_eq!(c.scenario, Scenario::Mixed);
        assert_eq!(
            c.targets,
            vec!["http://127.0.0.1:8201", "https://localhost:8202"]
        );
        assert_eq!(c.token.as_ref().map(Token::expose), Some("s.flag"));
        assert_eq!(c.concurrency, 4);
        assert_eq!(c.duration, Some(Duration::from_secs(90)));
        assert_eq!(c.ops, Some(500));
        assert_eq!(c.payload_bytes, 1024);
        assert_eq!(c.mount, "kv");
        assert_eq!(c.prefix, "bench/a");
        assert_eq!(c.keys, 50);
        assert_eq!(c.kv_version, KvVersion::V1);
        assert_eq!(c.transit_key, "k1");
        assert_eq!(c.warmup, Duration::ZERO);
        assert_eq!(c.timeout, Duration::from_millis(250));
        assert_eq!(c.ca_cert, Some(PathBuf::from("/tmp/ca.pem")));
        assert!(c.insecure);
        assert_eq!(c.format, OutputFormat::Json);
        assert_eq!(c.seed, 42);
        assert_eq!(c.max_error_rate, 0.05);
    }

    #[test]
    fn vault_addr_from_environment_is_used_and_checked() {
        let env = [
            ("VAULT_TOKEN", "t"),
            ("VAULT_ADDR", "http://localhost:9200"),
        ];
        let c = parse_env(&["kv-read", "--duration", "5s"], &env).unwrap();
        assert_eq!(c.targets, vec!["http://localhost:9200"]);
        let remote = [
            ("VAULT_TOKEN", "t"),
            ("VAULT_ADDR", "https://vault.example:8200"),
        ];
        assert!(matches!(
            parse_env(&["kv-read", "--duration", "5s"], &remote),
            Err(BenchError::NonLoopback { .. })
        ));
        // An explicit --addr wins over the environment.
        let c = parse_env(
            &[
                "kv-read",
                "--duration",
                "5s",
                "--addr",
                "http://127.0.0.2:1",
            ],
            &remote,
        )
        .unwrap();
        assert_eq!(c.targets, vec!["http://127.0.0.2:1"]);
    }

    #[test]
    fn scenario_specific_defaults() {
        let c = parse(&["transit-encrypt", "--ops", "1"]).unwrap();
        assert_eq!(c.mount, "transit");
        let env = [("VAULT_ADDR", "http://127.0.0.1:8200")];
        let c = parse_env(&["etcd-put", "--ops", "1"], &env).unwrap();
        assert_eq!(c.targets, vec![DEFAULT_ETCD_ADDR]);
        assert!(c.token.is_none(), "etcd needs no token");
        let c = parse(&["token-create", "--ops", "1"]).unwrap();
        assert_eq!(c.mount, "");
    }

    #[test]
    fn loopback_refusal_and_override() {
        let args = ["kv-write", "--ops", "1", "--addr", "http://10.1.2.3:8200"];
        assert!(matches!(parse(&args), Err(BenchError::NonLoopback { .. })));
        let mut allowed = args.to_vec();
        allowed.push("--allow-non-loopback");
        assert_eq!(
            parse(&allowed).unwrap().targets,
            vec!["http://10.1.2.3:8200"]
        );
        // One remote address among loopback ones is enough to refuse.
        let mixed = [
            "kv-write",
            "--ops",
            "1",
            "--addr",
            "http://127.0.0.1:8200",
            "--addr",
            "http://192.0.2.7:8200",
        ];
        assert!(matches!(parse(&mixed), Err(BenchError::NonLoopback { .. })));
    }

    #[test]
    fn unbounded_and_overlong_runs_are_refused() {
        assert!(matches!(parse(&["kv-write"]), Err(BenchError::Unbounded)));
        assert_eq!(
            invalid_flag(parse(&["kv-write", "--duration", "61m"])),
            "duration"
        );
        assert_eq!(
            invalid_flag(parse(&["kv-write", "--duration", "0s"])),
            "duration"
        );
        assert!(parse(&["kv-write", "--duration", "1h"]).is_ok());
        assert_eq!(invalid_flag(parse(&["kv-write", "--ops", "0"])), "ops");
        assert_eq!(
            invalid_flag(parse(&["kv-write", "--ops", "1", "--warmup", "11m"])),
            "warmup"
        );
    }

    #[test]
    fn bad_values_are_rejected() {
        let base = ["kv-write", "--ops", "1"];
        let case = |extra: &[&str]| {
            let mut args = base.to_vec();
            args.extend_from_slice(extra);
            parse(&args)
        };
        assert_eq!(invalid_flag(case(&["--concurrency", "0"])), "concurrency");
        assert_eq!(
            invalid_flag(case(&["--concurrency", "5000"])),
            "concurrency"
        );
        assert_eq!(invalid_flag(case(&["--duration", "ten"])), "duration");
        assert_eq!(invalid_flag(case(&["--warmup=-1s"])), "warmup");
        assert_eq!(invalid_flag(case(&["--timeout", "0"])), "timeout");
        assert_eq!(invalid_flag(case(&["--keys", "0"])), "keys");
        assert_eq!(invalid_flag(case(&["--kv-version", "3"])), "kv-version");
        assert_eq!(invalid_flag(case(&["--payload", "40000000"])), "payload");
        assert_eq!(invalid_flag(case(&["--mount", "a/../b"])), "mount");
        assert_eq!(invalid_flag(case(&["--mount", "//"])), "mount");
        assert_eq!(invalid_flag(case(&["--prefix", "a b"])), "prefix");
        assert_eq!(invalid_flag(case(&["--prefix", "a//b"])), "prefix");
        assert_eq!(invalid_flag(case(&["--transit-key", "x/y"])), "transit-key");
        assert_eq!(
            invalid_flag(case(&["--max-error-rate", "2"])),
            "max-error-rate"
        );
        assert_eq!(
            invalid_flag(case(&["--max-error-rate=-1%"])),
            "max-error-rate"
        );
        assert_eq!(
            invalid_flag(case(&["--max-error-rate", "abc"])),
            "max-error-rate"
        );
        assert_eq!(invalid_flag(case(&["--token", "bad token"])), "token");
        assert_eq!(invalid_flag(case(&["--addr", "127.0.0.1:8200"])), "addr");
        // clap-level errors: unknown scenario, unknown format, non-numeric count.
        assert_eq!(invalid_flag(parse(&["kv-delete", "--ops", "1"])), "clap");
        assert_eq!(invalid_flag(case(&["--format", "xml"])), "clap");
        assert_eq!(invalid_flag(case(&["--ops", "many"])), "clap");
    }

    #[test]
    fn error_rate_accepts_fraction_and_percent() {
        assert_eq!(parse_error_rate("1%").unwrap(), 0.01);
        assert_eq!(parse_error_rate("0.5 %").unwrap(), 0.005);
        assert_eq!(parse_error_rate("0").unwrap(), 0.0);
        assert_eq!(parse_error_rate("100%").unwrap(), 1.0);
        assert!(parse_error_rate("101%").is_err());
    }

    #[test]
    fn missing_token_is_refused_for_vault_scenarios() {
        assert!(matches!(
            parse_env(&["kv-write", "--ops", "1"], &[]),
            Err(BenchError::MissingToken)
        ));
        assert!(parse_env(&["etcd-range", "--ops", "1"], &[]).is_ok());
    }

    #[test]
    fn token_is_not_printed_by_debug() {
        let c = parse(&["kv-write", "--ops", "1", "--token", "s.supersecret"]).unwrap();
        assert!(!format!("{c:?}").contains("supersecret"));
    }

    #[test]
    fn random_seed_when_not_given() {
        let seeds: std::collections::HashSet<u64> = (0..8)
            .map(|_| parse(&["kv-write", "--ops", "1"]).unwrap().seed)
            .collect();
        assert!(seeds.len() > 1, "seeds should vary between runs");
    }
}
