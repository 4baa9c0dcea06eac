//! [`ServerConfig::validate`]: refuse what Tresor cannot run, naming file, key and reason.

use crate::addr::{check_url, split_host_port};
use crate::error::ConfigError;
use crate::listener::ListenerConfig;
use crate::seal::SUPPORTED_SEALS;
use crate::server::ServerConfig;
use crate::storage::{RaftConfig, StorageConfig};

const LOG_LEVELS: &[&str] = &["trace", "debug", "info", "warn", "warning", "err", "error"];
const LOG_FORMATS: &[&str] = &["standard", "json"];
const PROXY_BEHAVIORS: &[&str] = &["use_always", "allow_authorized", "deny_unauthorized"];

impl ServerConfig {
    /// Checks that Tresor can run this configuration. Returns the first problem found:
    /// unsupported storage, `ha_storage`, seal or listener types; TLS enabled without
    /// certificate and key; TLS versions other than `tls12`/`tls13`; malformed addresses;
    /// contradictory settings. Outside dev mode a `storage "raft"` block and at least one
    /// listener are required.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_storage()?;
        if let Some(kind) = &self.ha_storage {
            return Err(ConfigError::unsupported(
                &self.origin("ha_storage"),
                &format!("ha_storage.{kind}"),
                "ha_storage is not supported; integrated Raft storage (storage \"raft\") \
                 provides high availability itself",
            ));
        }
        self.validate_seals()?;
        if self.listeners.is_empty() && !self.dev {
            return Err(ConfigError::invalid(
                &self.origin("listener"),
                "listener",
                "no listener block; add listener \"tcp\" { address = \"0.0.0.0:8200\" ... }",
            ));
        }
        for l in &self.listeners {
            validate_listener(l)?;
        }
        for (key, value) in [
            ("api_addr", &self.api_addr),
            ("cluster_addr", &self.cluster_addr),
        ] {
            if let Some(url) = value {
                check_url(url)
                    .map_err(|reason| ConfigError::invalid(&self.origin(key), key, reason))?;
            }
        }
        if self.default_lease_ttl > self.max_lease_ttl {
            return Err(ConfigError::invalid(
                &self.origin("default_lease_ttl"),
                "default_lease_ttl",
                format!(
                    "default lease TTL ({}s) is greater than max_lease_ttl ({}s)",
                    self.default_lease_ttl, self.max_lease_ttl
                ),
            ));
        }
        one_of(self, "log_level", self.log_level.as_deref(), LOG_LEVELS)?;
        one_of(self, "log_format", self.log_format.as_deref(), LOG_FORMATS)?;
        Ok(())
    }

    fn validate_storage(&self) -> Result<(), ConfigError> {
        match &self.storage {
            None if self.dev => Ok(()),
            None => Err(ConfigError::invalid(
                &self.origin("storage"),
                "storage",
                "no storage block; Tresor needs integrated Raft storage: \
                 storage \"raft\" { path = \"/opt/tresor/data\" } (or run with -dev)",
            )),
            Some(StorageConfig::Other { kind }) => Err(ConfigError::unsupported(
                &self.origin("storage"),
                &format!("storage.{kind}"),
                format!(
                    "storage type {kind:?} is not supported; Tresor uses integrated Raft \
                     storage (storage \"raft\")"
                ),
            )),
            Some(StorageConfig::Raft(r)) => validate_raft(r, &self.origin("storage")),
        }
    }

    fn validate_seals(&self) -> Result<(), ConfigError> {
        for s in &self.seals {
            if s.kind != "shamir" && !SUPPORTED_SEALS.contains(&s.kind.as_str()) {
                return Err(ConfigError::unsupported(
                    &s.source,
                    &format!("seal.{}", s.kind),
                    format!(
                        "seal type {:?} is not supported (supported: {})",
                        s.kind,
                        SUPPORTED_SEALS.join(", ")
                    ),
                ));
            }
        }
        // Several enabled auto seals form a seal set (any one of them unseals); Shamir cannot
        // be part of one.
        let enabled: Vec<_> = self.seals.iter().filter(|s| !s.disabled).collect();
        if enabled.len() > 1
            && let Some(shamir) = enabled.iter().find(|s| s.kind == "shamir")
        {
            return Err(ConfigError::unsupported(
                &shamir.source,
                "seal.shamir",
                "a shamir seal cannot be combined with other enabled seals; several enabled \
                 auto seals (awskms, transit, pkcs11) form a seal set, and for a seal migration \
                 the old seal is marked disabled = true",
            ));
        }
        Ok(())
    }
}

fn one_of(
    c: &ServerConfig,
    key: &str,
    value: Option<&str>,
    allowed: &[&str],
) -> Result<(), ConfigError> {
    match value {
        Some(v) if !allowed.contains(&v.trim().to_ascii_lowercase().as_str()) => {
            Err(ConfigError::invalid(
                &c.origin(key),
                key,
                format!("{v:?} is not one of {}", allowed.join(", ")),
            ))
        }
        _ => Ok(()),
    }
}

fn validate_raft(r: &RaftConfig, file: &str) -> Result<(), ConfigError> {
    if r.path.trim().is_empty() {
        return Err(ConfigError::invalid(
            file,
            "storage.raft.path",
            "path is required: the directory for Raft data",
        ));
    }
    if !(0..=10).contains(&r.performance_multiplier) {
        return Err(ConfigError::invalid(
            file,
            "storage.raft.performance_multiplier",
            format!("must be between 0 and 10, got {}", r.performance_multiplier),
        ));
    }
    if r.node_id.as_deref().is_some_and(|id| id.trim().is_empty()) {
        return Err(ConfigError::invalid(
            file,
            "storage.raft.node_id",
            "must not be empty (omit it to have one generated)",
        ));
    }
    for rj in &r.retry_join {
        let key = "storage.raft.retry_join";
        match (&rj.leader_api_addr, &rj.auto_join) {
            (None, None) => {
                return Err(ConfigError::invalid(
                    file,
                    key,
                    "each retry_join needs leader_api_addr or auto_join",
                ));
            }
            (Some(_), Some(_)) => {
                return Err(ConfigError::invalid(
                    file,
                    key,
                    "set either leader_api_addr or auto_join, not both",
                ));
            }
            (Some(addr), None) => {
                check_url(addr).map_err(|reason| {
                    ConfigError::invalid(file, &format!("{key}.leader_api_addr"), reason)
                })?;
            }
            (None, Some(_)) => {}
        }
        if let Some(scheme) = &rj.auto_join_scheme
            && scheme != "http"
            && scheme != "https"
        {
            return Err(ConfigError::invalid(
                file,
                &format!("{key}.auto_join_scheme"),
                format!("must be \"https\" or \"http\", got {scheme:?}"),
            ));
        }
        if rj.leader_client_cert_file.is_some() != rj.leader_client_key_file.is_some() {
            return Err(ConfigError::invalid(
                file,
                &format!("{key}.leader_client_key_file"),
                "leader_client_cert_file and leader_client_key_file must be set together",
            ));
        }
    }
    Ok(())
}

fn validate_listener(l: &ListenerConfig) -> Result<(), ConfigError> {
    let file = l.source.as_str();
    let key = |name: &str| format!("listener.{}.{name}", l.kind);
    if l.kind != "tcp" {
        return Err(ConfigError::unsupported(
            file,
            &format!("listener.{}", l.kind),
            format!(
                "listener type {:?} is not supported (supported: tcp)",
                l.kind
            ),
        ));
    }
    split_host_port(&l.address)
        .map_err(|reason| ConfigError::invalid(file, &key("address"), reason))?;
    if l.cluster_address.is_empty() {
        return Err(ConfigError::invalid(
            file,
            &key("cluster_address"),
            "cannot derive a cluster address from address; set cluster_address",
        ));
    }
    split_host_port(&l.cluster_address)
        .map_err(|reason| ConfigError::invalid(file, &key("cluster_address"), reason))?;
    if !l.tls_disable {
        for (name, value) in [
            ("tls_cert_file", &l.tls_cert_file),
            ("tls_key_file", &l.tls_key_file),
        ] {
            if value.as_deref().is_none_or(|v| v.trim().is_empty()) {
                return Err(ConfigError::invalid(
                    file,
                    &key(name),
                    format!(
                        "TLS is enabled but {name} is not set; set tls_cert_file and \
                         tls_key_file, or tls_disable = true"
                    ),
                ));
            }
        }
    }
    for (name, version) in [
        ("tls_min_version", Some(l.tls_min_version)),
        ("tls_max_version", l.tls_max_version),
    ] {
        if let Some(v) = version
            && !v.is_supported()
        {
            return Err(ConfigError::unsupported(
                file,
                &key(name),
                format!(
                    "TLS version {:?} is not supported (supported: tls12, tls13)",
                    v.as_str()
                ),
            ));
        }
    }
    if let Some(max) = l.tls_max_version
        && max < l.tls_min_version
    {
        return Err(ConfigError::invalid(
            file,
            &key("tls_max_version"),
            format!(
                "{:?} is lower than tls_min_version {:?}",
                max.as_str(),
                l.tls_min_version.as_str()
            ),
        ));
    }
    if l.tls_require_and_verify_client_cert && l.tls_disable_client_certs {
        return Err(ConfigError::invalid(
            file,
            &key("tls_disable_client_certs"),
            "tls_disable_client_certs and tls_require_and_verify_client_cert cannot both be true",
        ));
    }
    if let Some(b) = &l.proxy_protocol_behavior
        && !PROXY_BEHAVIORS.contains(&b.as_str())
    {
        return Err(ConfigError::invalid(
            file,
            &key("proxy_protocol_behavior"),
            format!("{b:?} is not one of {}", PROXY_BEHAVIORS.join(", ")),
        ));
    }
    Ok(())
}
