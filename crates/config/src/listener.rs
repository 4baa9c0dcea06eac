//! `listener "tcp" { ... }` blocks.

use std::time::Duration;

use crate::addr::{default_cluster_address, normalize_listen};
use crate::error::ConfigError;
use crate::response_headers::CustomResponseHeaders;
use crate::section::{Section, bodies};

/// Default API listen address.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:8200";
/// Default `max_request_size`: 32 MiB.
pub const DEFAULT_MAX_REQUEST_SIZE: u64 = 33_554_432;
/// Default `max_request_duration`: 90 seconds.
pub const DEFAULT_MAX_REQUEST_DURATION: u64 = 90;
/// Default `http_idle_timeout` (Vault's): 5 minutes.
pub const DEFAULT_HTTP_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Default `http_read_header_timeout` (Vault's): 10 seconds.
pub const DEFAULT_HTTP_READ_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `http_read_timeout` (Vault's): 30 seconds.
pub const DEFAULT_HTTP_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Default `max_connections` (a Tresor setting; Vault has none): open connections per
/// listener. Connections beyond it wait in the kernel's accept queue until one closes.
pub const DEFAULT_MAX_CONNECTIONS: u64 = 4096;

/// Default `max_json_depth`: the deepest nesting of a JSON request body (Vault's effective
/// default; Vault's documentation has said 500, its servers report 300).
pub const DEFAULT_MAX_JSON_DEPTH: u64 = 300;
/// Default `max_json_string_value_length`: the longest string in a JSON request body, bytes
/// (1 MiB).
pub const DEFAULT_MAX_JSON_STRING_VALUE_LENGTH: u64 = 1_048_576;
/// Default `max_json_object_entry_count`: the most entries in one JSON object of a body.
pub const DEFAULT_MAX_JSON_OBJECT_ENTRY_COUNT: u64 = 10_000;
/// Default `max_json_array_element_count`: the most elements in one JSON array of a body.
pub const DEFAULT_MAX_JSON_ARRAY_ELEMENT_COUNT: u64 = 10_000;

/// A TLS protocol version as Vault names it (`tls10` ... `tls13`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TlsVersion {
    /// TLS 1.0 (recognised, refused by validation).
    Tls10,
    /// TLS 1.1 (recognised, refused by validation).
    Tls11,
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

impl TlsVersion {
    /// Parses Vault's spelling (`tls12`, `tls13`, ...).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "tls10" => Some(TlsVersion::Tls10),
            "tls11" => Some(TlsVersion::Tls11),
            "tls12" => Some(TlsVersion::Tls12),
            "tls13" => Some(TlsVersion::Tls13),
            _ => None,
        }
    }

    /// Vault's spelling of the version.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsVersion::Tls10 => "tls10",
            TlsVersion::Tls11 => "tls11",
            TlsVersion::Tls12 => "tls12",
            TlsVersion::Tls13 => "tls13",
        }
    }

    /// Whether Tresor can serve this version (TLS 1.2 and 1.3 only).
    pub fn is_supported(self) -> bool {
        self >= TlsVersion::Tls12
    }
}

/// The `telemetry { }` block inside a listener.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListenerTelemetry {
    /// Serve `/v1/sys/metrics` without a token on this listener.
    pub unauthenticated_metrics_access: bool,
}

/// One `listener` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    /// The listener type (the block label); only `tcp` passes validation.
    pub kind: String,
    /// The file the block came from.
    pub source: String,
    /// Address to listen on for the API (`:8200` is normalised to `0.0.0.0:8200`).
    pub address: String,
    /// Address for cluster (Raft/forwarding) traffic; defaults to the API port + 1 on the same
    /// host (empty only when that cannot be derived from a malformed `address`).
    pub cluster_address: String,
    /// Serve plain HTTP (`true`, `1`, `"1"`, `"true"` all accepted).
    pub tls_disable: bool,
    /// PEM certificate (chain) file.
    pub tls_cert_file: Option<String>,
    /// PEM private key file.
    pub tls_key_file: Option<String>,
    /// Minimum TLS version (default `tls12`, as Vault).
    pub tls_min_version: TlsVersion,
    /// Maximum TLS version (default: highest supported).
    pub tls_max_version: Option<TlsVersion>,
    /// TLS 1.2 cipher suites by Go name (empty: library defaults).
    pub tls_cipher_suites: Vec<String>,
    /// CA bundle for verifying client certificates.
    pub tls_client_ca_file: Option<String>,
    /// Require a valid client certificate on every connection.
    pub tls_require_and_verify_client_cert: bool,
    /// Do not request client certificates at all.
    pub tls_disable_client_certs: bool,
    /// Largest accepted request body in bytes; `None` means unlimited. Following Vault, an
    /// unset value or `0` means the default of 32 MiB and a negative value means unlimited.
    pub max_request_size: Option<u64>,
    /// Longest time a request may take, in seconds (default 90; `0` means the default).
    pub max_request_duration: u64,
    /// Deepest nesting of objects and arrays accepted in a JSON request body
    /// (`max_json_depth`, default [`DEFAULT_MAX_JSON_DEPTH`]).
    pub max_json_depth: u64,
    /// Longest string (key or value, in bytes once unescaped) accepted in a JSON request body
    /// (`max_json_string_value_length`, default [`DEFAULT_MAX_JSON_STRING_VALUE_LENGTH`]).
    pub max_json_string_value_length: u64,
    /// Most entries accepted in one JSON object of a request body
    /// (`max_json_object_entry_count`, default [`DEFAULT_MAX_JSON_OBJECT_ENTRY_COUNT`]).
    pub max_json_object_entry_count: u64,
    /// Most elements accepted in one JSON array of a request body
    /// (`max_json_array_element_count`, default [`DEFAULT_MAX_JSON_ARRAY_ELEMENT_COUNT`]).
    pub max_json_array_element_count: u64,
    /// Keep-alive idle timeout (Vault default 5m). Zero falls back to `http_read_timeout`,
    /// then to `http_read_header_timeout`, as in Vault.
    pub http_idle_timeout: Duration,
    /// Time allowed to read request headers (Vault default 10s; zero: no limit).
    pub http_read_header_timeout: Duration,
    /// Time allowed to read a whole request, body included (Vault default 30s; zero: no
    /// limit).
    pub http_read_timeout: Duration,
    /// Time allowed to write a response, from the end of its request's headers (zero: no
    /// limit, the Vault default).
    pub http_write_timeout: Duration,
    /// Most connections open at once on this listener (Tresor's own setting, default 4096,
    /// at least 1); further connections wait to be accepted until one closes.
    pub max_connections: u64,
    /// The `custom_response_headers` stanza, with Vault's default `Strict-Transport-Security`.
    pub custom_response_headers: CustomResponseHeaders,
    /// Listener-level telemetry settings.
    pub telemetry: ListenerTelemetry,
    /// Do not serve the unauthenticated `sys/generate-root/*` endpoints (OpenBao's key;
    /// default off, as Vault).
    pub disable_unauthed_generate_root_endpoints: bool,
    /// Do not serve the unauthenticated `sys/rekey/*` and `sys/rekey-recovery-key/*`
    /// endpoints (OpenBao's key; default off, as Vault).
    pub disable_unauthed_rekey_endpoints: bool,
    /// Peers (CIDRs) trusted to set `X-Forwarded-For`.
    pub x_forwarded_for_authorized_addrs: Vec<String>,
    /// Number of `X-Forwarded-For` entries to skip from the end.
    pub x_forwarded_for_hop_skips: u64,
    /// Refuse requests with `X-Forwarded-For` from untrusted peers (default true).
    pub x_forwarded_for_reject_not_authorized: bool,
    /// Refuse requests from trusted peers that lack `X-Forwarded-For` (default true).
    pub x_forwarded_for_reject_not_present: bool,
    /// Header carrying the client certificate from a TLS-terminating proxy.
    pub x_forwarded_for_client_cert_header: Option<String>,
    /// Decoders applied to that header (e.g. `URL,BASE64`).
    pub x_forwarded_for_client_cert_header_decoders: Option<String>,
    /// PROXY protocol handling: `use_always`, `allow_authorized` or `deny_unauthorized`.
    pub proxy_protocol_behavior: Option<String>,
    /// Peers (CIDRs) trusted to speak the PROXY protocol.
    pub proxy_protocol_authorized_addrs: Vec<String>,
}

impl ListenerConfig {
    /// A TCP listener on `address` with every other setting at its default.
    pub fn tcp(address: &str) -> Self {
        let address = normalize_listen(address);
        ListenerConfig {
            kind: "tcp".to_owned(),
            source: String::new(),
            cluster_address: default_cluster_address(&address).unwrap_or_default(),
            address,
            tls_disable: false,
            tls_cert_file: None,
            tls_key_file: None,
            tls_min_version: TlsVersion::Tls12,
            tls_max_version: None,
            tls_cipher_suites: Vec::new(),
            tls_client_ca_file: None,
            tls_require_and_verify_client_cert: false,
            tls_disable_client_certs: false,
            max_request_size: Some(DEFAULT_MAX_REQUEST_SIZE),
            max_request_duration: DEFAULT_MAX_REQUEST_DURATION,
            max_json_depth: DEFAULT_MAX_JSON_DEPTH,
            max_json_string_value_length: DEFAULT_MAX_JSON_STRING_VALUE_LENGTH,
            max_json_object_entry_count: DEFAULT_MAX_JSON_OBJECT_ENTRY_COUNT,
            max_json_array_element_count: DEFAULT_MAX_JSON_ARRAY_ELEMENT_COUNT,
            http_idle_timeout: DEFAULT_HTTP_IDLE_TIMEOUT,
            http_read_header_timeout: DEFAULT_HTTP_READ_HEADER_TIMEOUT,
            http_read_timeout: DEFAULT_HTTP_READ_TIMEOUT,
            http_write_timeout: Duration::ZERO,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            custom_response_headers: CustomResponseHeaders::default(),
            telemetry: ListenerTelemetry::default(),
            disable_unauthed_generate_root_endpoints: false,
            disable_unauthed_rekey_endpoints: false,
            x_forwarded_for_authorized_addrs: Vec::new(),
            x_forwarded_for_hop_skips: 0,
            x_forwarded_for_reject_not_authorized: true,
            x_forwarded_for_reject_not_present: true,
            x_forwarded_for_client_cert_header: None,
            x_forwarded_for_client_cert_header_decoders: None,
            proxy_protocol_behavior: None,
            proxy_protocol_authorized_addrs: Vec::new(),
        }
    }
}

/// Vault listener settings Tresor accepts but does not act on (warned about).
const IGNORED: &[&str] = &[
    "tls_prefer_server_cipher_suites",
    "profiling",
    "inflight_requests_logging",
    "redact_addresses",
    "redact_cluster_name",
    "redact_version",
    "disable_replication_status_endpoints",
    "chroot_namespace",
    "disable_request_limiter",
    "require_request_header",
    "unauthenticated_in_flight_requests_access",
    "agent_api",
    "role",
];

/// Decodes one listener block body (`kind` is its label).
pub(crate) fn decode_listener(
    kind: &str,
    mut sec: Section<'_>,
    file: &str,
    warnings: &mut Vec<String>,
) -> Result<ListenerConfig, ConfigError> {
    let address = sec
        .string("address")?
        .unwrap_or_else(|| DEFAULT_ADDRESS.to_owned());
    let mut l = ListenerConfig::tcp(&address);
    l.kind = kind.to_owned();
    l.source = file.to_owned();
    if kind != "tcp" {
        // Validation refuses the listener type; its settings mean nothing to Tresor.
        sec.consume_all();
        return Ok(l);
    }
    if let Some(c) = sec.string("cluster_address")? {
        l.cluster_address = normalize_listen(&c);
    }
    l.tls_disable = sec.bool("tls_disable")?.unwrap_or(false);
    l.tls_cert_file = sec.string("tls_cert_file")?;
    l.tls_key_file = sec.string("tls_key_file")?;
    if let Some(v) = tls_version(&mut sec, "tls_min_version")? {
        l.tls_min_version = v;
    }
    l.tls_max_version = tls_version(&mut sec, "tls_max_version")?;
    l.tls_cipher_suites = sec.string_list("tls_cipher_suites")?.unwrap_or_default();
    l.tls_client_ca_file = sec.string("tls_client_ca_file")?;
    l.tls_require_and_verify_client_cert = sec
        .bool("tls_require_and_verify_client_cert")?
        .unwrap_or(false);
    l.tls_disable_client_certs = sec.bool("tls_disable_client_certs")?.unwrap_or(false);
    match sec.int("max_request_size")? {
        None | Some(0) => {}
        Some(n) => l.max_request_size = u64::try_from(n).ok(),
    }
    match sec.secs("max_request_duration")? {
        None | Some(0) => {}
        Some(n) => l.max_request_duration = n,
    }
    if let Some(v) = positive(&mut sec, "max_json_depth")? {
        l.max_json_depth = v;
    }
    if let Some(v) = positive(&mut sec, "max_json_string_value_length")? {
        l.max_json_string_value_length = v;
    }
    if let Some(v) = positive(&mut sec, "max_json_object_entry_count")? {
        l.max_json_object_entry_count = v;
    }
    if let Some(v) = positive(&mut sec, "max_json_array_element_count")? {
        l.max_json_array_element_count = v;
    }
    if let Some(v) = sec.duration("http_idle_timeout")? {
        l.http_idle_timeout = v;
    }
    if let Some(v) = sec.duration("http_read_header_timeout")? {
        l.http_read_header_timeout = v;
    }
    if let Some(v) = sec.duration("http_read_timeout")? {
        l.http_read_timeout = v;
    }
    if let Some(v) = sec.duration("http_write_timeout")? {
        l.http_write_timeout = v;
    }
    l.disable_unauthed_generate_root_endpoints = sec
        .bool("disable_unauthed_generate_root_endpoints")?
        .unwrap_or(false);
    l.disable_unauthed_rekey_endpoints = sec
        .bool("disable_unauthed_rekey_endpoints")?
        .unwrap_or(false);
    if let Some(f) = sec.last("max_connections") {
        let key = sec.key("max_connections");
        let n = crate::section::to_int(f.node)
            .map_err(|reason| ConfigError::invalid(f.file, &key, reason))?;
        l.max_connections = u64::try_from(n).ok().filter(|n| *n >= 1).ok_or_else(|| {
            ConfigError::invalid(
                f.file,
                &key,
                format!(
                    "must be at least 1, got {n} (the limit cannot be switched off; the \
                     default is {DEFAULT_MAX_CONNECTIONS})"
                ),
            )
        })?;
    }
    if let Some(f) = sec.last("custom_response_headers") {
        let key = sec.key("custom_response_headers");
        l.custom_response_headers =
            crate::response_headers::decode(f.node, f.file, &key, warnings)?;
    }
    for f in sec.all("telemetry") {
        let key = sec.key("telemetry");
        for body in bodies(f, &key)? {
            let mut t = Section::new(key.clone(), f.file, body);
            if let Some(b) = t.bool("unauthenticated_metrics_access")? {
                l.telemetry.unauthenticated_metrics_access = b;
            }
            t.finish(warnings);
        }
    }
    l.x_forwarded_for_authorized_addrs = sec
        .string_list("x_forwarded_for_authorized_addrs")?
        .unwrap_or_default();
    l.x_forwarded_for_hop_skips = sec.uint("x_forwarded_for_hop_skips")?.unwrap_or(0);
    l.x_forwarded_for_reject_not_authorized = sec
        .bool("x_forwarded_for_reject_not_authorized")?
        .unwrap_or(true);
    l.x_forwarded_for_reject_not_present = sec
        .bool("x_forwarded_for_reject_not_present")?
        .unwrap_or(true);
    l.x_forwarded_for_client_cert_header = sec.string("x_forwarded_for_client_cert_header")?;
    l.x_forwarded_for_client_cert_header_decoders =
        sec.string("x_forwarded_for_client_cert_header_decoders")?;
    l.proxy_protocol_behavior = sec.string("proxy_protocol_behavior")?;
    l.proxy_protocol_authorized_addrs = sec
        .string_list("proxy_protocol_authorized_addrs")?
        .unwrap_or_default();
    for name in IGNORED {
        sec.ignore(name, warnings);
    }
    sec.finish(warnings);
    Ok(l)
}

/// A setting that must be a positive integer (quoted or not).
fn positive(sec: &mut Section<'_>, name: &str) -> Result<Option<u64>, ConfigError> {
    let Some(f) = sec.last(name) else {
        return Ok(None);
    };
    if matches!(f.node, crate::tree::Node::Null) {
        return Ok(None);
    }
    let key = sec.key(name);
    let n = crate::section::to_int(f.node)
        .map_err(|reason| ConfigError::invalid(f.file, &key, reason))?;
    match u64::try_from(n) {
        Ok(v) if v > 0 => Ok(Some(v)),
        _ => Err(ConfigError::invalid(
            f.file,
            &key,
            format!("must be a positive integer, got {n}"),
        )),
    }
}

fn tls_version(sec: &mut Section<'_>, name: &str) -> Result<Option<TlsVersion>, ConfigError> {
    let Some(f) = sec.last(name) else {
        return Ok(None);
    };
    let key = sec.key(name);
    let text = crate::section::to_string(f.node)
        .map_err(|reason| ConfigError::invalid(f.file, &key, reason))?;
    TlsVersion::parse(&text).map(Some).ok_or_else(|| {
        ConfigError::invalid(
            f.file,
            &key,
            format!("unknown TLS version {text:?} (supported: tls12, tls13)"),
        )
    })
}
