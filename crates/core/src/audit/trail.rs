//! The trail one request leaves: the event the pipeline fills in as it learns the request's
//! mount, caller and operation, recorded before the backend runs and again with the answer.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::SystemTime;

use serde_json::{Map, Value};
use tresor_sdk::Operation;
use tresor_sdk::audit::{
    AuditAuth, AuditEvent, AuditKind, AuditRequestInfo, AuditResponseInfo, AuditWrapInfo,
};
use tresor_token::TokenEntry;

use super::table::HeaderConfig;
use crate::wrapping::{Reply, WrapInfo};

/// What the http layer knows about a request besides its path, body and token.
#[derive(Clone, Debug, Default)]
pub struct RequestMeta {
    /// The client's address.
    pub remote: Option<SocketAddr>,
    /// The standby's address, when a standby forwarded the request.
    pub forwarded_from: Option<String>,
    /// The request headers (lower-case names); only those configured in
    /// `sys/config/auditing/request-headers` reach an entry.
    pub headers: Vec<(String, String)>,
}

/// The event of one request, completed stage by stage.
#[derive(Debug)]
pub(crate) struct AuditTrail {
    event: AuditEvent,
    /// Response keys kept in clear (the mount's `audit_non_hmac_response_keys`).
    response_keep: Vec<String>,
    /// Whether the request entry is written (then an error is recorded in the response entry
    /// only).
    pub(crate) request_logged: bool,
}

fn rfc3339_secs(secs: u64) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp(i64::try_from(secs).ok()?).ok()?;
    t.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// The caller as audit entries describe it.
pub(crate) fn auth_of(entry: &TokenEntry) -> AuditAuth {
    AuditAuth {
        client_token: entry.id.clone(),
        accessor: entry.accessor.clone(),
        display_name: entry.display_name.clone(),
        policies: entry.policies.clone(),
        token_policies: entry.policies.clone(),
        metadata: entry.meta.clone(),
        entity_id: entry.entity_id.clone(),
        token_type: if entry.token_type.is_empty() {
            "service".into()
        } else {
            entry.token_type.clone()
        },
        token_ttl: entry.creation_ttl,
        token_issue_time: rfc3339_secs(entry.creation_time),
    }
}

impl AuditTrail {
    /// Starts the trail of a request.
    pub(crate) fn new(
        path: &str,
        operation: Operation,
        token: Option<&str>,
        data: Option<&Map<String, Value>>,
        wrap_ttl: Option<u64>,
        meta: &RequestMeta,
        headers: &HeaderConfig,
    ) -> Self {
        let mut audited = BTreeMap::new();
        let mut hmac_headers = Vec::new();
        for (name, value) in &meta.headers {
            if let Some(setting) = headers.headers.get(name) {
                audited
                    .entry(name.clone())
                    .or_insert_with(Vec::new)
                    .push(value.clone());
                if setting.hmac && !hmac_headers.contains(name) {
                    hmac_headers.push(name.clone());
                }
            }
        }
        Self {
            event: AuditEvent {
                kind: AuditKind::Request,
                time: SystemTime::now(),
                auth: None,
                request: AuditRequestInfo {
                    id: uuid::Uuid::new_v4().to_string(),
                    operation,
                    path: path.to_owned(),
                    client_token: token.unwrap_or_default().to_owned(),
                    data: data.filter(|d| !d.is_empty()).cloned(),
                    remote_address: meta.remote.map(|a| a.ip().to_string()).unwrap_or_default(),
                    remote_port: meta.remote.map_or(0, |a| a.port()),
                    wrap_ttl: wrap_ttl.unwrap_or(0),
                    headers: audited,
                    hmac_headers,
                    ..AuditRequestInfo::default()
                },
                response: None,
                error: None,
                forwarded_from: meta.forwarded_from.clone(),
            },
            response_keep: Vec::new(),
            request_logged: false,
        }
    }

    /// Records the serving mount.
    pub(crate) fn mount(&mut self, point: &str, kind: &str, accessor: &str) {
        let r = &mut self.event.request;
        point.clone_into(&mut r.mount_point);
        kind.clone_into(&mut r.mount_type);
        accessor.clone_into(&mut r.mount_accessor);
    }

    /// Records the mount's keys kept in clear (`audit_non_hmac_*_keys`).
    pub(crate) fn non_hmac_keys(&mut self, request: Vec<String>, response: Vec<String>) {
        self.event.request.non_hmac_keys = request;
        self.response_keep = response;
    }

    /// Records the caller.
    pub(crate) fn caller(&mut self, entry: &TokenEntry) {
        self.event.request.client_token_accessor = entry.accessor.clone();
        self.event.auth = Some(auth_of(entry));
    }

    /// Records the operation decided for the request.
    pub(crate) fn operation(&mut self, op: Operation) {
        self.event.request.operation = op;
    }

    /// The request entry (with the error that ended the request before its backend, if any).
    pub(crate) fn request_event(&self, error: Option<&str>) -> AuditEvent {
        let mut ev = self.event.clone();
        ev.kind = AuditKind::Request;
        ev.error = error.map(str::to_owned);
        ev
    }

    /// The response entry for `reply` (or the error).
    pub(crate) fn response_event(&self, reply: Result<&Reply, &str>) -> AuditEvent {
        let mut ev = self.event.clone();
        ev.kind = AuditKind::Response;
        ev.time = SystemTime::now();
        match reply {
            Err(e) => {
                ev.error = Some(e.to_owned());
                // As Vault's error answers are recorded: the message also as the response's
                // `data.error` (hashed like any response string unless `log_raw`), which is
                // what `jq 'select(.response.data.error != null)'` finds denied requests by.
                let mut data = Map::new();
                data.insert("error".into(), Value::String(e.to_owned()));
                ev.response = Some(AuditResponseInfo {
                    data: Some(data),
                    non_hmac_keys: self.response_keep.clone(),
                    ..AuditResponseInfo::default()
                });
            }
            Ok(Reply::Response(resp)) => {
                ev.response = Some(match resp {
                    None => AuditResponseInfo::default(),
                    Some(r) => AuditResponseInfo {
                        data: r.data.clone(),
                        warnings: r.warnings.clone(),
                        auth: r.auth.as_ref().map(|a| AuditAuth {
                            client_token: a.client_token.clone(),
                            accessor: a.accessor.clone(),
                            display_name: a.display_name.clone(),
                            policies: a.policies.clone(),
                            token_policies: a.token_policies.clone(),
                            metadata: a.metadata.clone().unwrap_or_default(),
                            entity_id: a.entity_id.clone(),
                            token_type: a.token_type.clone(),
                            token_ttl: a.lease_duration,
                            ..AuditAuth::default()
                        }),
                        lease_id: r.secret.as_ref().map(|s| s.lease_id.clone()),
                        wrap_info: None,
                        non_hmac_keys: self.response_keep.clone(),
                    },
                });
            }
            Ok(Reply::Wrapped(info)) => {
                ev.response = Some(AuditResponseInfo {
                    wrap_info: Some(wrap_info(info)),
                    ..AuditResponseInfo::default()
                });
            }
            Ok(Reply::Unwrapped(_)) => {
                // The unwrapped answer was recorded when it was wrapped; only the fact of the
                // unwrap is recorded here.
                ev.response = Some(AuditResponseInfo::default());
            }
        }
        ev
    }
}

fn wrap_info(info: &WrapInfo) -> AuditWrapInfo {
    AuditWrapInfo {
        token: info.token.clone(),
        accessor: info.accessor.clone(),
        ttl: info.ttl,
        creation_time: info.creation_time.clone(),
        creation_path: info.creation_path.clone(),
    }
}
