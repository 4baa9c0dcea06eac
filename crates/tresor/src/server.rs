//! `tresor server`: load and validate the config, open Raft storage, start the core and the
//! listeners, and shut down in order on SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tresor_config::{ListenerConfig, ServerConfig};
use tresor_core::JoinParams;
use tresor_core::{Core, CoreOptions};
use tresor_ha::{AutoJoin, JoinClient, JoinTarget, NodeOptions, RuntimeOptions};
use tresor_http::{AppState, TlsOptions};
use tresor_raft::{NodeInfo, RaftOptions};

use crate::flags::{self, ServerFlags};

/// A running node: what tests and dev mode need to reach it.
pub(crate) struct Node {
    pub(crate) core: Arc<Core>,
    pub(crate) api_addrs: Vec<SocketAddr>,
    node: tresor_ha::Node,
}

impl Node {
    /// Ordered shutdown: stop listeners and every background task, then seal, then Raft.
    pub(crate) async fn stop(self) {
        self.node.stop(tresor_ha::SHUTDOWN_GRACE).await;
    }
}

/// Entry point of `tresor server`; returns the exit code.
pub(crate) async fn run(args: Vec<String>) -> i32 {
    let flags = match flags::parse(&args) {
        Ok(f) => f,
        Err(e) => {
            eprintln!(
                "Error: {e}\n\nUsage: tresor server -config=PATH [-config=PATH ...] [-check]\n       tresor server -dev [-dev-root-token-id=ID] [-dev-listen-address=ADDR] [-dev-three-node]\n       [-log-level=LEVEL] [-log-format=standard|json]"
            );
            return 2;
        }
    };
    if flags.dev {
        return crate::dev::run(flags).await;
    }
    let paths: Vec<PathBuf> = flags.config.iter().map(PathBuf::from).collect();
    let config = match tresor_config::load(&paths).and_then(|c| c.validate().map(|_| c)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Error loading configuration: {e}");
            return 1;
        }
    };
    for w in &config.warnings {
        eprintln!("Warning: {w}");
    }
    if flags.check {
        println!("Configuration is valid ({}).", config.sources.join(", "));
        return 0;
    }
    let level = flags
        .log_level
        .clone()
        .or_else(|| std::env::var("VAULT_LOG_LEVEL").ok())
        .or_else(|| config.log_level.clone())
        .unwrap_or_else(|| "info".into());
    let json_logs = match crate::logging::json_format(
        flags.log_format.as_deref(),
        std::env::var("VAULT_LOG_FORMAT").ok().as_deref(),
        config.log_format.as_deref(),
    ) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("Error: {e}");
            return 1;
        }
    };
    let rotate = crate::log_rotate::RotatePolicy {
        max_age: config.log_rotate_duration.map(Duration::from_secs),
        max_bytes: config.log_rotate_bytes,
        max_files: config.log_rotate_max_files.unwrap_or(0),
    };
    if let Err(e) = crate::logging::init(&level, config.log_file.as_deref(), rotate, json_logs) {
        eprintln!("Error: {e}");
        return 1;
    }
    if !config.disable_mlock
        && let Err(e) = tresor_crypto::lock_memory()
    {
        eprintln!(
            "Error initializing core: failed to lock memory: {e}\n\nTresor locks memory so that secrets never reach swap. Run as a user with CAP_IPC_LOCK (or raise RLIMIT_MEMLOCK), or set disable_mlock = true in the configuration."
        );
        return 1;
    }
    let node = match start(&config, &flags).await {
        Ok(n) => n,
        Err(e) => {
            eprintln!("Error: {e}");
            return 1;
        }
    };
    tracing::info!(addrs = ?node.api_addrs, "tresor server started");
    wait_for_signal_reopening(Some(&node.core)).await;
    tracing::info!("shutting down");
    node.stop().await;
    0
}

pub(crate) async fn wait_signal_public(core: Option<&Arc<Core>>) {
    wait_for_signal_reopening(core).await;
}

/// Waits for SIGINT or SIGTERM. Meanwhile each SIGHUP reopens `core`'s audit devices (a file
/// device writes to a fresh file after logrotate moved the old one away).
async fn wait_for_signal_reopening(core: Option<&Arc<Core>>) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = ctrl_c.await;
            return;
        }
    };
    let mut hup = signal(SignalKind::hangup()).ok();
    loop {
        tokio::select! {
            _ = &mut ctrl_c => return,
            _ = term.recv() => return,
            Some(()) = async {
                match hup.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                if let Some(core) = core {
                    tracing::info!("SIGHUP: reopening audit devices");
                    core.reopen_audit().await;
                }
            }
        }
    }
}

/// Reads the persisted node id, or makes and persists one.
fn node_id(config_id: Option<&str>, data_dir: &Path) -> Result<String, String> {
    if let Some(id) = config_id {
        return Ok(id.to_owned());
    }
    let file = data_dir.join("node-id");
    match std::fs::read_to_string(&file) {
        Ok(s) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        _ => {
            let id = uuid::Uuid::new_v4().to_string();
            std::fs::write(&file, &id).map_err(|e| format!("{}: {e}", file.display()))?;
            Ok(id)
        }
    }
}

/// PEM text given inline or in a file.
fn read_pem(inline: Option<&str>, file: Option<&str>) -> Result<Option<String>, String> {
    if let Some(t) = inline.filter(|t| !t.is_empty()) {
        return Ok(Some(t.to_owned()));
    }
    match file {
        Some(f) => std::fs::read_to_string(f)
            .map(Some)
            .map_err(|e| format!("retry_join: {f}: {e}")),
        None => Ok(None),
    }
}

fn listener_scheme(l: &ListenerConfig) -> &'static str {
    if l.tls_disable { "http" } else { "https" }
}

/// The machine's host name, as Vault puts it in metric names or labels.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// The listener's `max_json_*` settings as the http layer's limits.
fn json_limits(l: &ListenerConfig) -> tresor_http::JsonLimits {
    let size = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
    tresor_http::JsonLimits {
        max_depth: size(l.max_json_depth),
        max_string_value_length: size(l.max_json_string_value_length),
        max_object_entry_count: size(l.max_json_object_entry_count),
        max_array_element_count: size(l.max_json_array_element_count),
    }
}

/// The core options the `telemetry` blocks decide: a registry whose gauges keep at most
/// `maximum_gauge_cardinality` label sets (a negative value: no cap), and the
/// `usage_gauge_period` (`"none"` turns the usage gauges off).
fn telemetry_core_options(t: &tresor_config::TelemetryConfig) -> CoreOptions {
    CoreOptions {
        metrics: tresor_telemetry::Metrics::with_max_gauge_cardinality(
            usize::try_from(t.maximum_gauge_cardinality).unwrap_or(usize::MAX),
        ),
        usage_gauge_period: t.usage_gauge_period.map(Duration::from_secs),
        ..CoreOptions::default()
    }
}

/// How listener `l` serves `sys/metrics`, from the `telemetry` blocks (Vault's semantics:
/// `prometheus_retention_time = 0` turns the Prometheus format off; gauge names carry the host
/// name unless `disable_hostname`, or every series a `host` label with `enable_hostname_label`;
/// `unauthenticated_metrics_access` from the listener's block, or Tresor's top-level one).
fn metrics_settings(
    config: &ServerConfig,
    l: &ListenerConfig,
    host: &str,
) -> tresor_http::MetricsSettings {
    let t = &config.telemetry;
    let mut settings = tresor_http::MetricsSettings {
        unauthenticated_access: l.telemetry.unauthenticated_metrics_access
            || t.unauthenticated_metrics_access,
        prometheus_enabled: t.prometheus_retention_time > 0,
        ..Default::default()
    };
    let render = &mut settings.render;
    if let Some(prefix) = &t.metrics_prefix {
        render.prefix = prefix.clone();
    }
    render.retention = Some(Duration::from_secs(t.prometheus_retention_time));
    if t.enable_hostname_label {
        render.host_label = Some(host.to_owned());
    } else if !t.disable_hostname {
        render.hostname_prefix = Some(host.to_owned());
    }
    settings
}

/// The listener's limits and response headers for [`tresor_http::serve`].
fn serve_options(
    l: &ListenerConfig,
    tls: Option<TlsOptions>,
) -> Result<tresor_http::ServeOptions, String> {
    let mut headers = tresor_http::ResponseHeaders::new();
    for (selector, section) in &l.custom_response_headers.sections {
        let scope = match *selector {
            tresor_config::StatusSelector::Default => tresor_http::HeaderScope::All,
            tresor_config::StatusSelector::Class(c) => tresor_http::HeaderScope::Class(c),
            tresor_config::StatusSelector::Code(c) => tresor_http::HeaderScope::Status(c),
        };
        for (name, value) in section {
            headers
                .add(scope, name, value)
                .map_err(|e| format!("listener {}: custom_response_headers: {e}", l.address))?;
        }
    }
    Ok(tresor_http::ServeOptions {
        tls,
        timeouts: tresor_http::Timeouts::from_settings(
            l.http_read_header_timeout,
            l.http_read_timeout,
            l.http_write_timeout,
            l.http_idle_timeout,
        ),
        max_connections: usize::try_from(l.max_connections).unwrap_or(usize::MAX),
        response_headers: headers,
    })
}

/// Starts a node from a validated config.
pub(crate) async fn start(config: &ServerConfig, _flags: &ServerFlags) -> Result<Node, String> {
    let raft_cfg = config
        .raft()
        .ok_or_else(|| "storage \"raft\" is required".to_owned())?;
    let data_dir = PathBuf::from(&raft_cfg.path);
    std::fs::create_dir_all(&data_dir)
        .map_err(|e| format!("storage.raft.path {}: {e}", data_dir.display()))?;
    let node_id = node_id(raft_cfg.node_id.as_deref(), &data_dir)?;

    // Bind listeners first so that a port conflict fails fast, before storage opens.
    let mut bound = Vec::new();
    for l in &config.listeners {
        let listener = TcpListener::bind(&l.address)
            .await
            .map_err(|e| format!("listener {}: {e}", l.address))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let tls = if l.tls_disable {
            None
        } else {
            let (Some(cert), Some(key)) = (&l.tls_cert_file, &l.tls_key_file) else {
                return Err(format!(
                    "listener {}: tls_cert_file and tls_key_file are required unless tls_disable = true",
                    l.address
                ));
            };
            let cfg = tresor_http::load_server_config(
                Path::new(cert),
                Path::new(key),
                l.tls_min_version.as_str() == "tls13",
                l.tls_client_ca_file
                    .as_deref()
                    .map(Path::new)
                    .filter(|_| !l.tls_disable_client_certs),
                l.tls_require_and_verify_client_cert,
            )
            .map_err(|e| format!("listener {}: {e}", l.address))?;
            Some(TlsOptions { config: cfg })
        };
        let options = serve_options(l, tls)?;
        bound.push((l.clone(), listener, addr, options));
    }
    let first = bound.first();
    let api_addr = config.api_addr.clone().unwrap_or_else(|| {
        first
            .map(|(l, _, a, _)| format!("{}://{}", listener_scheme(l), a))
            .unwrap_or_default()
    });
    let cluster_addr = config.cluster_addr.clone().unwrap_or_else(|| {
        first
            .map(|(l, _, _, _)| format!("https://{}", l.cluster_address))
            .unwrap_or_default()
    });

    let cluster_listener = match bound.first().map(|(l, ..)| l.cluster_address.clone()) {
        Some(a) if !a.is_empty() => match TcpListener::bind(&a).await {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!(address = %a, error = %e, "cluster port unavailable; this node cannot cluster");
                None
            }
        },
        _ => None,
    };

    let mut opts = RaftOptions::new(&data_dir, &node_id, &api_addr, &cluster_addr);
    opts.performance_multiplier = raft_cfg.performance_multiplier.max(0) as u32;
    opts.snapshot_threshold = raft_cfg.snapshot_threshold;
    opts.trailing_logs = raft_cfg.trailing_logs;
    let me = NodeInfo {
        node_id: node_id.clone(),
        api_addr: api_addr.clone(),
        cluster_addr: cluster_addr.clone(),
    };

    let seals = crate::seals::build(config).await?;
    let auto_seal = seals.enabled.first().map(|s| s.seal_type());
    // One metrics registry per node; every enabled seal counts its encrypt/decrypt calls.
    let defaults = telemetry_core_options(&config.telemetry);
    let core_opts = CoreOptions {
        default_lease_ttl: config.default_lease_ttl,
        max_lease_ttl: config.max_lease_ttl,
        cluster_name: config.cluster_name.clone(),
        seals: tresor_core::metered_seals(seals.enabled, &defaults.metrics),
        migration_seals: seals.disabled,
        backends: {
            let mut registry = tresor_engines::registry();
            tresor_auth::register(&mut registry);
            registry
        },
        audit_types: tresor_audit::registry(),
        audit_settings: tresor_core::AuditSettings {
            declared: config
                .audits
                .iter()
                .map(|a| tresor_core::audit::DeclaredAudit {
                    kind: a.kind.clone(),
                    path: a.path.clone(),
                    description: a.description.clone(),
                    local: a.local,
                    options: a.options.clone(),
                })
                .collect(),
            allow_prefix: config.allow_audit_log_prefixing,
            api_creation: config.unsafe_allow_api_audit_creation,
        },
        ..defaults
    };
    let node = tresor_ha::Node::build(NodeOptions {
        raft: opts,
        core: core_opts,
        runtime: RuntimeOptions {
            standby_reads: !config.disable_standby_reads,
            ..RuntimeOptions::default()
        },
        wants_retry_join: !raft_cfg.retry_join.is_empty(),
        auto_unseal: auto_seal.is_some(),
    })
    .await
    .map_err(|e| e.to_string())?;
    // A fresh node with retry_join waits to be added by the cluster.
    let join_clients = if node.needs_join() {
        retry_join_targets(raft_cfg, &me)?
    } else {
        Vec::new()
    };
    let core = node.core.clone();
    core.refresh_metrics();
    let host = hostname();

    let mut api_addrs = Vec::new();
    let mut forward_state = None;
    for (l, listener, addr, options) in bound {
        let state = AppState {
            core: core.clone(),
            max_request_size: l.max_request_size.map(|s| s as usize).unwrap_or(0),
            max_request_duration: Duration::from_secs(l.max_request_duration.max(1)),
            metrics: metrics_settings(config, &l, &host),
            raw_switches: tresor_http::RawSwitches {
                disable_unauthed_generate_root: l.disable_unauthed_generate_root_endpoints,
                disable_unauthed_rekey: l.disable_unauthed_rekey_endpoints,
            },
            json_limits: json_limits(&l),
        };
        // Forwarded requests are answered as the first listener answers them.
        if forward_state.is_none() {
            forward_state = Some(state.clone());
        }
        let router = tresor_http::router(state);
        let token = node.supervisor().token();
        api_addrs.push(addr);
        tracing::info!(address = %addr, tls = options.tls.is_some(), "API listener");
        node.supervisor().spawn("api_listener", async move {
            tresor_http::serve(listener, options, router, token).await
        });
    }
    let forward_state = forward_state.unwrap_or_else(|| AppState::new(core.clone()));
    crate::snapshots::install(&core, &node.raft, node.supervisor());
    if let Some(kind) = auto_seal {
        tracing::info!(seal = kind, "auto-unseal enabled");
    }
    node.start(cluster_listener, forward_state, join_clients);
    match core.pending_migration().await {
        Ok(Some(m)) => tracing::warn!(
            migration = %m,
            "seal migration pending: storage is sealed with the {} seal, the configuration \
             names the {} seal; unseal this node with `operator unseal -migrate` and the {} \
             seal's keys (or restart it once another node has migrated)",
            m.from(),
            m.to(),
            m.from()
        ),
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "reading the seal configuration"),
    }
    Ok(Node {
        core,
        api_addrs,
        node,
    })
}

/// The join targets of the `retry_join` blocks.
fn retry_join_targets(
    raft_cfg: &tresor_config::RaftConfig,
    me: &NodeInfo,
) -> Result<Vec<JoinTarget>, String> {
    let mut join_clients = Vec::new();
    for rj in &raft_cfg.retry_join {
        let params = JoinParams {
            leader_api_addr: rj.leader_api_addr.clone().unwrap_or_default(),
            leader_ca_cert: read_pem(
                rj.leader_ca_cert.as_deref(),
                rj.leader_ca_cert_file.as_deref(),
            )?,
            leader_client_cert: read_pem(
                rj.leader_client_cert.as_deref(),
                rj.leader_client_cert_file.as_deref(),
            )?,
            leader_client_key: read_pem(
                rj.leader_client_key.as_deref().map(|k| k.as_str()),
                rj.leader_client_key_file.as_deref(),
            )?,
            leader_tls_servername: rj.leader_tls_servername.clone(),
            retry: true,
            non_voter: raft_cfg.retry_join_as_non_voter,
        };
        match (&rj.leader_api_addr, &rj.auto_join) {
            (Some(_), Some(_)) => {
                return Err("retry_join: set either leader_api_addr or auto_join, not both".into());
            }
            (Some(_), None) => join_clients.push(JoinTarget::Fixed(
                JoinClient::new(&params, me.clone()).map_err(|e| format!("retry_join: {e}"))?,
            )),
            (None, Some(query)) => {
                tresor_discover::validate(query).map_err(|e| format!("retry_join: {e}"))?;
                join_clients.push(JoinTarget::Auto(AutoJoin::new(
                    query.clone(),
                    rj.auto_join_scheme.clone(),
                    rj.auto_join_port,
                    params,
                )));
            }
            (None, None) => {
                return Err("retry_join: a block needs leader_api_addr or auto_join".into());
            }
        }
    }
    Ok(join_clients)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(hcl: &str) -> ServerConfig {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.hcl");
        std::fs::write(&path, hcl).unwrap();
        tresor_config::load(&[path]).unwrap()
    }

    const LISTENER: &str = "listener \"tcp\" {\n  address = \"127.0.0.1:8200\"\n  tls_disable = true\n  telemetry {\n    unauthenticated_metrics_access = true\n  }\n}\nlistener \"tcp\" {\n  address = \"127.0.0.1:8300\"\n  tls_disable = true\n}\n";

    #[test]
    fn metrics_settings_follow_the_telemetry_blocks() {
        let c = config(LISTENER);
        let open = metrics_settings(&c, &c.listeners[0], "h1");
        let closed = metrics_settings(&c, &c.listeners[1], "h1");
        assert!(open.unauthenticated_access);
        assert!(!closed.unauthenticated_access);
        // Vault's defaults: Prometheus on (Tresor keeps 24 h), host name in gauge names.
        assert!(open.prometheus_enabled);
        assert_eq!(open.render.retention, Some(Duration::from_secs(86_400)));
        assert_eq!(open.render.prefix, "vault");
        assert_eq!(open.render.hostname_prefix.as_deref(), Some("h1"));
        assert_eq!(open.render.host_label, None);

        let c = config(&format!(
            "{LISTENER}telemetry {{\n  prometheus_retention_time = \"0\"\n  disable_hostname = true\n  metrics_prefix = \"tresor\"\n}}\n"
        ));
        let s = metrics_settings(&c, &c.listeners[1], "h1");
        assert!(!s.prometheus_enabled);
        assert_eq!(s.render.prefix, "tresor");
        assert_eq!(s.render.hostname_prefix, None);

        let c = config(&format!(
            "{LISTENER}telemetry {{\n  enable_hostname_label = true\n  unauthenticated_metrics_access = true\n}}\n"
        ));
        let s = metrics_settings(&c, &c.listeners[1], "h1");
        assert!(
            s.unauthenticated_access,
            "the top-level flag opens every listener"
        );
        assert_eq!(s.render.host_label.as_deref(), Some("h1"));
        assert_eq!(s.render.hostname_prefix, None);
    }

    #[test]
    fn core_options_follow_the_telemetry_block() {
        let c = config(&format!(
            "{LISTENER}telemetry {{\n  usage_gauge_period = \"none\"\n  maximum_gauge_cardinality = 1\n}}\n"
        ));
        let o = telemetry_core_options(&c.telemetry);
        assert_eq!(o.usage_gauge_period, None);
        let def = tresor_telemetry::MetricDef::gauge("test.g", "");
        assert!(o.metrics.try_gauge(&def, &[("a", "1")]).is_ok());
        assert!(
            o.metrics.try_gauge(&def, &[("a", "2")]).is_err(),
            "capped at 1"
        );

        let c = config(&format!(
            "{LISTENER}telemetry {{\n  usage_gauge_period = \"30s\"\n}}\n"
        ));
        let o = telemetry_core_options(&c.telemetry);
        assert_eq!(o.usage_gauge_period, Some(Duration::from_secs(30)));
        // Defaults: Vault's 10 minutes and 500 label sets.
        let o = telemetry_core_options(&tresor_config::TelemetryConfig::default());
        assert_eq!(o.usage_gauge_period, Some(Duration::from_secs(600)));
        for i in 0..500 {
            let v = i.to_string();
            assert!(o.metrics.try_gauge(&def, &[("a", &v)]).is_ok());
        }
        assert!(o.metrics.try_gauge(&def, &[("a", "x")]).is_err());
    }
}
