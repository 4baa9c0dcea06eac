//! The validated run configuration and the small types it is made of.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use zeroize::Zeroizing;

/// Longest measured phase a run may have (also the hard stop of `--ops` runs).
pub const MAX_DURATION: Duration = Duration::from_secs(3600);
/// Longest warm-up.
pub const MAX_WARMUP: Duration = Duration::from_secs(600);
/// Longest per-request timeout.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(600);
/// Most concurrent workers.
pub const MAX_CONCURRENCY: usize = 4096;
/// Largest key set.
pub const MAX_KEYS: u64 = 10_000_000;
/// Largest payload (Vault's default `max_request_size`).
pub const MAX_PAYLOAD: usize = 32 * 1024 * 1024;

/// The load shape to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// KV writes to random keys of the key set.
    KvWrite,
    /// KV reads of random keys after writing the key set once.
    KvRead,
    /// 90% KV reads, 10% KV writes over a prepared key set.
    Mixed,
    /// Token creation (`auth/token/create`).
    TokenCreate,
    /// Transit encryption of the payload (needs a transit engine at the mount).
    TransitEncrypt,
    /// userpass logins (`auth/<mount>/login/<login-id>` with the password `--login-secret`).
    UserpassLogin,
    /// AppRole logins (`auth/<mount>/login` with role id `--login-id`, secret id
    /// `--login-secret`).
    ApproleLogin,
    /// Dynamic database credentials (`GET <mount>/creds/<role>`, the role named by
    /// `--login-id`); each one creates a database user and a lease.
    DbCreds,
    /// etcd v3 gateway puts.
    EtcdPut,
    /// etcd v3 gateway ranges (single-key gets) after writing the key set once.
    EtcdRange,
}

impl Scenario {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::KvWrite => "kv-write",
            Self::KvRead => "kv-read",
            Self::Mixed => "mixed",
            Self::TokenCreate => "token-create",
            Self::TransitEncrypt => "transit-encrypt",
            Self::UserpassLogin => "userpass-login",
            Self::ApproleLogin => "approle-login",
            Self::DbCreds => "db-creds",
            Self::EtcdPut => "etcd-put",
            Self::EtcdRange => "etcd-range",
        }
    }

    /// Whether the scenario targets etcd rather than a Vault-compatible server.
    pub fn is_etcd(self) -> bool {
        matches!(self, Self::EtcdPut | Self::EtcdRange)
    }

    /// Whether the key set must be written before the measured run.
    pub fn needs_prepared_keys(self) -> bool {
        matches!(self, Self::KvRead | Self::Mixed | Self::EtcdRange)
    }

    /// The mount used when `--mount` is not given (`None` for scenarios without a mount).
    pub fn default_mount(self) -> Option<&'static str> {
        match self {
            Self::KvWrite | Self::KvRead | Self::Mixed => Some("secret"),
            Self::TransitEncrypt => Some("transit"),
            Self::UserpassLogin => Some("userpass"),
            Self::ApproleLogin => Some("approle"),
            Self::DbCreds => Some("database"),
            Self::TokenCreate | Self::EtcdPut | Self::EtcdRange => None,
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// KV secrets engine version, which decides the request paths and body shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvVersion {
    /// `/v1/<mount>/<key>`, body `{"v": ...}`.
    V1,
    /// `/v1/<mount>/data/<key>`, body `{"data": {"v": ...}}`.
    V2,
}

/// How the report is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// An aligned text table.
    Table,
    /// One JSON object on one line.
    Json,
}

/// A Vault token, zeroed on drop and never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(Zeroizing<String>);

impl Token {
    /// Wraps a token.
    pub fn new(token: String) -> Self {
        Self(Zeroizing::new(token))
    }

    /// The token text, for the `X-Vault-Token` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Everything a run needs, validated (see [`crate::cli::Cli::validate`]).
#[derive(Clone, Debug)]
pub struct BenchConfig {
    /// The load shape.
    pub scenario: Scenario,
    /// Base URLs (`http://127.0.0.1:8200`), at least one; worker `i` uses `targets[i % len]`.
    pub targets: Vec<String>,
    /// Sent as `X-Vault-Token` by Vault scenarios; `None` only for etcd scenarios.
    pub token: Option<Token>,
    /// Number of workers, each with one request in flight.
    pub concurrency: usize,
    /// Length of the measured phase; the run also stops after `ops` operations if given.
    pub duration: Option<Duration>,
    /// Number of measured operations; the run also stops after `duration` if given.
    pub ops: Option<u64>,
    /// Time spent sending load before measuring starts.
    pub warmup: Duration,
    /// Payload size in bytes.
    pub payload_bytes: usize,
    /// Secrets engine mount (`secret`, `transit`), without slashes; empty when unused.
    pub mount: String,
    /// Key prefix under the mount (or etcd key prefix).
    pub prefix: String,
    /// Size of the key set keys are drawn from.
    pub keys: u64,
    /// KV engine version.
    pub kv_version: KvVersion,
    /// Transit key name used by `transit-encrypt`.
    pub transit_key: String,
    /// Extra CA certificate (PEM) to trust.
    pub ca_cert: Option<PathBuf>,
    /// Skip TLS certificate verification.
    pub insecure: bool,
    /// Report format.
    pub format: OutputFormat,
    /// Seed of the key and payload generators (printed in the report for reruns).
    pub seed: u64,
    /// Highest acceptable fraction of failed operations (0.0..=1.0).
    pub max_error_rate: f64,
    /// Per-request timeout.
    pub timeout: Duration,
    /// The login scenarios' name: the userpass user or the AppRole role id.
    pub login_id: String,
    /// The login scenarios' secret: the password or the secret id (never printed).
    pub login_secret: Token,
    /// Whether non-loopback hosts may be contacted (also decides which redirects are followed).
    pub allow_non_loopback: bool,
    /// Scenarios over a prepared key set: assume the keys exist (an earlier run wrote them)
    /// and measure at once, so that the writes of the preparation stay out of a cost window.
    pub skip_prepare: bool,
}
