//! An event as one JSON line in Vault's audit entry shape: `time`, `type`, `auth`, `request`,
//! `response`, `error`, `forwarded_from`, with tokens, accessors and every string value of
//! request and response data hashed (unless `log_raw`), empty fields left out.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tresor_sdk::Operation;
use tresor_sdk::audit::{AuditAuth, AuditEvent, AuditKind, AuditResponseInfo, AuditWrapInfo};

use crate::hash::Hasher;
use crate::options::FormatOptions;

#[derive(Serialize)]
struct Entry<'a> {
    time: String,
    #[serde(rename = "type")]
    kind: &'static str,
    auth: EntryAuth,
    request: EntryRequest<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response: Option<EntryResponse>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    forwarded_from: Option<&'a str>,
}

fn empty(s: &str) -> bool {
    s.is_empty()
}

fn zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Serialize, Default)]
struct EntryAuth {
    #[serde(skip_serializing_if = "empty")]
    client_token: String,
    #[serde(skip_serializing_if = "empty")]
    accessor: String,
    #[serde(skip_serializing_if = "empty")]
    display_name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    policies: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    token_policies: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    metadata: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "empty")]
    entity_id: String,
    token_type: String,
    #[serde(skip_serializing_if = "zero")]
    token_ttl: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_issue_time: Option<String>,
}

#[derive(Serialize)]
struct Namespace {
    id: &'static str,
}

#[derive(Serialize)]
struct EntryRequest<'a> {
    id: &'a str,
    operation: &'static str,
    #[serde(skip_serializing_if = "empty")]
    mount_point: &'a str,
    #[serde(skip_serializing_if = "empty")]
    mount_type: &'a str,
    #[serde(skip_serializing_if = "empty")]
    mount_accessor: &'a str,
    #[serde(skip_serializing_if = "empty")]
    client_token: String,
    #[serde(skip_serializing_if = "empty")]
    client_token_accessor: String,
    namespace: Namespace,
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "empty")]
    remote_address: &'a str,
    #[serde(skip_serializing_if = "is_zero_port")]
    remote_port: u16,
    #[serde(skip_serializing_if = "zero")]
    wrap_ttl: u64,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    headers: BTreeMap<String, Vec<String>>,
}

fn is_zero_port(p: &u16) -> bool {
    *p == 0
}

#[derive(Serialize)]
struct EntryResponse {
    #[serde(skip_serializing_if = "empty")]
    mount_point: String,
    #[serde(skip_serializing_if = "empty")]
    mount_type: String,
    #[serde(skip_serializing_if = "empty")]
    mount_accessor: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth: Option<EntryAuth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<EntrySecret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    wrap_info: Option<EntryWrapInfo>,
}

#[derive(Serialize)]
struct EntrySecret {
    lease_id: String,
}

#[derive(Serialize)]
struct EntryWrapInfo {
    token: String,
    accessor: String,
    ttl: u64,
    creation_time: String,
    creation_path: String,
}

/// The operation as audit entries name it.
pub fn operation_name(op: Operation) -> &'static str {
    match op {
        Operation::Read => "read",
        Operation::Create => "create",
        Operation::Update => "update",
        Operation::Patch => "patch",
        Operation::Delete => "delete",
        Operation::List => "list",
        Operation::Renew => "renew",
        Operation::Revoke => "revoke",
    }
}

/// RFC 3339 with nanoseconds in UTC, as Vault writes `time`.
pub fn rfc3339(t: std::time::SystemTime) -> String {
    OffsetDateTime::from(t)
        .format(&Rfc3339)
        .unwrap_or_else(|_| String::from("1970-01-01T00:00:00Z"))
}

/// Turns events into entries for one device.
#[derive(Debug, Clone)]
pub struct Formatter {
    opts: FormatOptions,
    hasher: Hasher,
}

impl Formatter {
    /// A formatter with the device's options and salt.
    pub fn new(opts: FormatOptions, salt: &[u8]) -> Self {
        Self {
            opts,
            hasher: Hasher::new(salt),
        }
    }

    /// The device's options.
    pub fn options(&self) -> &FormatOptions {
        &self.opts
    }

    /// What the device records for `input`.
    pub fn hash(&self, input: &str) -> String {
        self.hasher.hash(input)
    }

    fn secret(&self, s: &str) -> String {
        if self.opts.log_raw || s.is_empty() {
            s.to_owned()
        } else {
            self.hasher.hash(s)
        }
    }

    fn accessor(&self, s: &str) -> String {
        if self.opts.hmac_accessor {
            self.secret(s)
        } else {
            s.to_owned()
        }
    }

    fn auth(&self, a: Option<&AuditAuth>) -> EntryAuth {
        let Some(a) = a else {
            return EntryAuth {
                token_type: "default".into(),
                ..EntryAuth::default()
            };
        };
        EntryAuth {
            client_token: self.secret(&a.client_token),
            accessor: self.accessor(&a.accessor),
            display_name: a.display_name.clone(),
            policies: a.policies.clone(),
            token_policies: a.token_policies.clone(),
            metadata: a.metadata.clone(),
            entity_id: a.entity_id.clone(),
            token_type: if a.token_type.is_empty() {
                "default".into()
            } else {
                a.token_type.clone()
            },
            token_ttl: a.token_ttl,
            token_issue_time: a.token_issue_time.clone(),
        }
    }

    fn data(
        &self,
        data: Option<&Map<String, Value>>,
        keep: &[String],
    ) -> Option<Map<String, Value>> {
        let mut data = data?.clone();
        if !self.opts.log_raw {
            self.hasher.hash_map(&mut data, keep);
        }
        Some(data)
    }

    fn response(&self, ev: &AuditEvent, r: &AuditResponseInfo) -> EntryResponse {
        let mut data = self.data(r.data.as_ref(), &r.non_hmac_keys);
        if let Some(d) = data
            .as_mut()
            .filter(|_| self.opts.elide_list_responses && ev.request.operation == Operation::List)
        {
            elide(d);
        }
        EntryResponse {
            mount_point: ev.request.mount_point.clone(),
            mount_type: ev.request.mount_type.clone(),
            mount_accessor: ev.request.mount_accessor.clone(),
            auth: r.auth.as_ref().map(|a| self.auth(Some(a))),
            secret: r.lease_id.as_ref().map(|l| EntrySecret {
                lease_id: l.clone(),
            }),
            data,
            warnings: r.warnings.clone(),
            wrap_info: r.wrap_info.as_ref().map(|w| self.wrap_info(w)),
        }
    }

    fn wrap_info(&self, w: &AuditWrapInfo) -> EntryWrapInfo {
        EntryWrapInfo {
            token: self.secret(&w.token),
            accessor: self.accessor(&w.accessor),
            ttl: w.ttl,
            creation_time: w.creation_time.clone(),
            creation_path: w.creation_path.clone(),
        }
    }

    /// The entry for `ev` as a JSON value (before `exclude` and `prefix`).
    pub fn entry(&self, ev: &AuditEvent) -> Value {
        let r = &ev.request;
        let headers = r
            .headers
            .iter()
            .map(|(name, values)| {
                let hashed = !self.opts.log_raw && r.hmac_headers.iter().any(|h| h == name);
                let values = values
                    .iter()
                    .map(|v| {
                        if hashed {
                            self.hasher.hash(v)
                        } else {
                            v.clone()
                        }
                    })
                    .collect();
                (name.clone(), values)
            })
            .collect();
        let entry = Entry {
            time: rfc3339(ev.time),
            kind: ev.kind.as_str(),
            auth: self.auth(ev.auth.as_ref()),
            request: EntryRequest {
                id: &r.id,
                operation: operation_name(r.operation),
                mount_point: &r.mount_point,
                mount_type: &r.mount_type,
                mount_accessor: &r.mount_accessor,
                client_token: self.secret(&r.client_token),
                client_token_accessor: self.accessor(&r.client_token_accessor),
                namespace: Namespace { id: "root" },
                path: &r.path,
                data: self.data(r.data.as_ref(), &r.non_hmac_keys),
                remote_address: &r.remote_address,
                remote_port: r.remote_port,
                wrap_ttl: r.wrap_ttl,
                headers,
            },
            response: match (ev.kind, &ev.response) {
                (AuditKind::Response, Some(resp)) => Some(self.response(ev, resp)),
                _ => None,
            },
            error: ev.error.as_deref().filter(|e| !e.is_empty()),
            forwarded_from: ev.forwarded_from.as_deref().filter(|f| !f.is_empty()),
        };
        serde_json::to_value(&entry).unwrap_or(Value::Null)
    }

    /// The line written for `ev`: prefix, the entry as JSON with excluded fields removed, and
    /// a newline.
    pub fn line(&self, ev: &AuditEvent) -> Vec<u8> {
        let mut entry = self.entry(ev);
        for pointer in &self.opts.exclude {
            remove_pointer(&mut entry, pointer);
        }
        let mut out = self.opts.prefix.as_bytes().to_vec();
        // Serializing a Value built from strings, numbers and maps cannot fail.
        if serde_json::to_writer(&mut out, &entry).is_err() {
            out.extend_from_slice(b"{}");
        }
        out.push(b'\n');
        out
    }
}

/// `keys` and `key_info` of a list response become their counts.
fn elide(data: &mut Map<String, Value>) {
    for field in ["keys", "key_info"] {
        let count = match data.get(field) {
            Some(Value::Array(a)) => a.len(),
            Some(Value::Object(o)) => o.len(),
            _ => continue,
        };
        data.insert(field.to_owned(), Value::from(count));
    }
}

/// Removes the field a JSON pointer (RFC 6901) names, if present.
pub fn remove_pointer(root: &mut Value, pointer: &str) {
    let Some(rest) = pointer.strip_prefix('/') else {
        return;
    };
    let tokens: Vec<String> = rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect();
    let Some((last, parents)) = tokens.split_last() else {
        return;
    };
    let mut cur = root;
    for t in parents {
        cur = match cur {
            Value::Object(m) => match m.get_mut(t) {
                Some(v) => v,
                None => return,
            },
            Value::Array(a) => match t.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                Some(v) => v,
                None => return,
            },
            _ => return,
        };
    }
    match cur {
        Value::Object(m) => {
            m.remove(last);
        }
        Value::Array(a) => {
            if let Some(i) = last.parse::<usize>().ok().filter(|i| *i < a.len()) {
                a.remove(i);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::{Duration, UNIX_EPOCH};
    use tresor_sdk::audit::AuditRequestInfo;

    fn event(kind: AuditKind) -> AuditEvent {
        let data = json!({"data": {"password": "hunter2", "n": 5}, "options": {}});
        AuditEvent {
            kind,
            time: UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789),
            auth: Some(AuditAuth {
                client_token: "s.token".into(),
                accessor: "acc".into(),
                display_name: "root".into(),
                policies: vec!["root".into()],
                token_policies: vec!["root".into()],
                token_type: "service".into(),
                ..AuditAuth::default()
            }),
            request: AuditRequestInfo {
                id: "req-1".into(),
                operation: Operation::Create,
                mount_point: "secret/".into(),
                mount_type: "kv".into(),
                mount_accessor: "kv_1".into(),
                client_token: "s.token".into(),
                client_token_accessor: "acc".into(),
                path: "secret/data/foo".into(),
                data: data.as_object().cloned(),
                remote_address: "127.0.0.1".into(),
                remote_port: 4242,
                ..AuditRequestInfo::default()
            },
            response: Some(AuditResponseInfo {
                data: json!({"version": 1, "created_time": "2023"})
                    .as_object()
                    .cloned(),
                ..AuditResponseInfo::default()
            }),
            error: None,
            forwarded_from: None,
        }
    }

    fn formatter(pairs: &[(&str, &str)]) -> Formatter {
        let cfg = tresor_sdk::audit::AuditDeviceConfig {
            options: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            allow_prefix: true,
            ..Default::default()
        };
        Formatter::new(FormatOptions::parse(&cfg).expect("options"), b"salt")
    }

    #[test]
    fn request_entry_hashes_tokens_and_strings() {
        let f = formatter(&[]);
        let e = f.entry(&event(AuditKind::Request));
        assert_eq!(e["time"], json!("2023-11-14T22:13:20.123456789Z"));
        assert_eq!(e["type"], json!("request"));
        assert_eq!(e["auth"]["client_token"], json!(f.hash("s.token")));
        assert_eq!(e["auth"]["accessor"], json!(f.hash("acc")));
        assert_eq!(e["auth"]["policies"], json!(["root"]));
        assert_eq!(e["request"]["operation"], json!("create"));
        assert_eq!(e["request"]["namespace"], json!({"id": "root"}));
        assert_eq!(
            e["request"]["data"]["data"]["password"],
            json!(f.hash("hunter2"))
        );
        assert_eq!(e["request"]["data"]["data"]["n"], json!(5));
        assert_eq!(e["request"]["remote_port"], json!(4242));
        assert!(e.get("response").is_none());
        assert!(e.get("error").is_none());
        let line = String::from_utf8(f.line(&event(AuditKind::Request))).expect("utf8");
        assert!(
            !line.contains("hunter2") && !line.contains("s.token"),
            "{line}"
        );
        assert!(line.ends_with('\n'));
    }

    #[test]
    fn response_entry_carries_the_mount_and_hashed_data() {
        let f = formatter(&[]);
        let e = f.entry(&event(AuditKind::Response));
        assert_eq!(e["response"]["mount_type"], json!("kv"));
        assert_eq!(e["response"]["data"]["version"], json!(1));
        assert_eq!(e["response"]["data"]["created_time"], json!(f.hash("2023")));
    }

    #[test]
    fn raw_and_accessor_options() {
        let raw = formatter(&[("log_raw", "true")]).entry(&event(AuditKind::Request));
        assert_eq!(raw["auth"]["client_token"], json!("s.token"));
        assert_eq!(raw["request"]["data"]["data"]["password"], json!("hunter2"));
        let f = formatter(&[("hmac_accessor", "false")]);
        let e = f.entry(&event(AuditKind::Request));
        assert_eq!(e["auth"]["accessor"], json!("acc"));
        assert_eq!(e["auth"]["client_token"], json!(f.hash("s.token")));
    }

    #[test]
    fn non_hmac_keys_stay_clear() {
        let f = formatter(&[]);
        let mut ev = event(AuditKind::Request);
        ev.request.non_hmac_keys = vec!["options".into()];
        ev.request.data = json!({"options": "clear", "other": "x"})
            .as_object()
            .cloned();
        let e = f.entry(&ev);
        assert_eq!(e["request"]["data"]["options"], json!("clear"));
        assert_eq!(e["request"]["data"]["other"], json!(f.hash("x")));
    }

    #[test]
    fn unauthenticated_requests_have_a_default_auth() {
        let f = formatter(&[]);
        let mut ev = event(AuditKind::Request);
        ev.auth = None;
        ev.error = Some("permission denied".into());
        let e = f.entry(&ev);
        assert_eq!(e["auth"], json!({"token_type": "default"}));
        assert_eq!(e["error"], json!("permission denied"));
    }

    #[test]
    fn elided_lists_exclusions_and_prefix() {
        let f = formatter(&[
            ("elide_list_responses", "true"),
            ("exclude", "/request/data,/auth/policies"),
            ("prefix", "AUDIT: "),
        ]);
        let mut ev = event(AuditKind::Response);
        ev.request.operation = Operation::List;
        ev.response = Some(AuditResponseInfo {
            data: json!({"keys": ["a", "b", "c"]}).as_object().cloned(),
            ..AuditResponseInfo::default()
        });
        let line = String::from_utf8(f.line(&ev)).expect("utf8");
        let json = line.strip_prefix("AUDIT: ").expect("prefix");
        let e: Value = serde_json::from_str(json).expect("json");
        assert_eq!(e["response"]["data"]["keys"], json!(3));
        assert!(e["request"].get("data").is_none());
        assert!(e["auth"].get("policies").is_none());
        assert!(e["auth"].get("client_token").is_some());
    }

    #[test]
    fn pointers() {
        let mut v = json!({"a": {"b/c": 1, "d~e": 2, "l": [1, 2, 3]}});
        remove_pointer(&mut v, "/a/b~1c");
        remove_pointer(&mut v, "/a/d~0e");
        remove_pointer(&mut v, "/a/l/1");
        remove_pointer(&mut v, "/missing/x");
        remove_pointer(&mut v, "/a/l/9");
        assert_eq!(v, json!({"a": {"l": [1, 3]}}));
    }
}
