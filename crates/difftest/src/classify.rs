//! Turning an HTTP answer into an access *decision*, and comparing two servers' decisions.
//!
//! Both servers check the ACL before routing a request to a backend (OpenBao answers 403 even
//! for a path nothing is mounted at), so any answer other than 403 tells that the request got
//! past the ACL — or never reached it (redirects and malformed requests are answered first).
//!
//! | answer                      | decision     |
//! |-----------------------------|--------------|
//! | 2xx                         | `Allowed`    |
//! | 404 (not found *after* the ACL: a missing secret, an empty list) | `Allowed` |
//! | 404 whose error names no route (`unsupported path`, `no handler for route`) | `Unrouted` |
//! | 403                         | `Denied`     |
//! | 3xx                         | `Redirect(location)` (path and query; an absolute URL's scheme and authority are dropped) |
//! | 400, 405                    | `Refused`    |
//! | anything else               | `Other(status)` |
//!
//! Within one decision the exact status may still differ (200 against 204, 200 against 404):
//! such a pair is a *soft* difference, reported but not failing. For `sys/capabilities-self`
//! answers the capabilities themselves are the ACL decision and are compared exactly.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use crate::http::Response;

/// The access decision an answer reveals.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Decision {
    /// 2xx, or 404 after the ACL check.
    Allowed,
    /// 403.
    Denied,
    /// 3xx, with the `Location` (path and query).
    Redirect(String),
    /// 400 or 405: refused as bad input.
    Refused,
    /// 404 naming no route (`unsupported path`, `no handler for route`): the request was
    /// routed before (or without) the ACL check.
    Unrouted,
    /// Any other status.
    Other(u16),
}

impl Decision {
    /// The decision's kind without its detail (`redirect` without the location).
    pub fn kind(&self) -> String {
        match self {
            Decision::Allowed => "allowed".into(),
            Decision::Denied => "denied".into(),
            Decision::Redirect(_) => "redirect".into(),
            Decision::Refused => "refused".into(),
            Decision::Unrouted => "unrouted".into(),
            Decision::Other(s) => format!("other({s})"),
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::Redirect(l) => write!(f, "redirect({l})"),
            other => f.write_str(&other.kind()),
        }
    }
}

/// Capabilities per path, sorted, from a `sys/capabilities-self` answer.
pub type CapabilityMap = BTreeMap<String, Vec<String>>;

/// One server's classified answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The HTTP status.
    pub status: u16,
    /// The decision.
    pub decision: Decision,
    /// The `errors` array of a JSON error body, joined (for reports only).
    pub errors: String,
    /// For `sys/capabilities-self` answers with status 200: the capabilities.
    pub capabilities: Option<CapabilityMap>,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]", self.decision, self.status)?;
        if !self.errors.is_empty() {
            write!(f, " errors={:?}", truncate(&self.errors, 160))?;
        }
        if let Some(c) = &self.capabilities {
            write!(f, " caps={c:?}")?;
        }
        Ok(())
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n).collect();
        t.push('…');
        t
    }
}

/// The path-and-query part of a `Location` value.
pub fn location_path(location: &str) -> String {
    for scheme in ["http://", "https://"] {
        if let Some(rest) = location.strip_prefix(scheme) {
            return match rest.find('/') {
                Some(i) => rest[i..].to_owned(),
                None => "/".to_owned(),
            };
        }
    }
    location.to_owned()
}

/// Classifies `resp`; `capabilities_request` tells whether it answered `sys/capabilities-self`.
pub fn classify(resp: &Response, capabilities_request: bool) -> Outcome {
    let status = resp.status;
    let decision = match status {
        200..=299 | 404 => Decision::Allowed,
        403 => Decision::Denied,
        300..=399 => Decision::Redirect(location_path(resp.header("location").unwrap_or_default())),
        400 | 405 => Decision::Refused,
        s => Decision::Other(s),
    };
    let json = resp.json();
    let errors = json
        .as_ref()
        .and_then(|j| j.get("errors"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_owned))
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_else(|| {
            if status >= 400 && json.is_none() {
                truncate(resp.text().trim(), 160)
            } else {
                String::new()
            }
        });
    let decision = if status == 404 && names_no_route(&errors) {
        Decision::Unrouted
    } else {
        decision
    };
    let capabilities = if capabilities_request && status == 200 {
        json.as_ref().map(capability_map)
    } else {
        None
    };
    Outcome {
        status,
        decision,
        errors,
        capabilities,
    }
}

/// Whether a 404's error text says that no backend serves the path.
fn names_no_route(errors: &str) -> bool {
    let e = errors.to_ascii_lowercase();
    e.contains("unsupported path") || e.contains("no handler for route")
}

/// The per-path capabilities of a `sys/capabilities-self` answer (`data`, else the top level;
/// the aggregate `capabilities` key is kept too, it is what single-path requests return).
pub fn capability_map(body: &Value) -> CapabilityMap {
    let obj = body
        .get("data")
        .filter(|d| d.is_object())
        .unwrap_or(body)
        .as_object();
    let mut out = CapabilityMap::new();
    if let Some(o) = obj {
        for (k, v) in o {
            if let Some(arr) = v.as_array() {
                let mut caps: Vec<String> = arr
                    .iter()
                    .filter_map(|c| c.as_str().map(str::to_owned))
                    .collect();
                caps.sort();
                caps.dedup();
                out.insert(k.clone(), caps);
            }
        }
    }
    out
}

/// How two outcomes compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Same decision and status.
    Same,
    /// Same decision, different status (e.g. 200 against 404); reported, not failing.
    Soft(String),
    /// Different decisions (or redirect targets, or capabilities).
    Different(String),
}

/// Compares OpenBao's outcome (`bao`) with Tresor's (`tresor`).
pub fn compare(bao: &Outcome, tresor: &Outcome) -> Verdict {
    if bao.decision != tresor.decision {
        return Verdict::Different(format!(
            "decision: openbao {} / tresor {}",
            bao.decision, tresor.decision
        ));
    }
    if bao.capabilities != tresor.capabilities {
        return Verdict::Different(format!(
            "capabilities: openbao {:?} / tresor {:?}",
            bao.capabilities, tresor.capabilities
        ));
    }
    if bao.status != tresor.status {
        return Verdict::Soft(format!(
            "status: openbao {} / tresor {}",
            bao.status, tresor.status
        ));
    }
    Verdict::Same
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resp(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        Response {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn statuses_map_to_decisions() {
        let cases = [
            (200, Decision::Allowed),
            (204, Decision::Allowed),
            (404, Decision::Allowed),
            (403, Decision::Denied),
            (400, Decision::Refused),
            (405, Decision::Refused),
            (500, Decision::Other(500)),
            (503, Decision::Other(503)),
            (429, Decision::Other(429)),
        ];
        for (status, want) in cases {
            assert_eq!(
                classify(&resp(status, &[], ""), false).decision,
                want,
                "{status}"
            );
        }
    }

    #[test]
    fn redirects_keep_path_and_query_only() {
        let o = classify(&resp(307, &[("location", "/v1/kv/a?list=true")], ""), false);
        assert_eq!(o.decision, Decision::Redirect("/v1/kv/a?list=true".into()));
        let o = classify(
            &resp(301, &[("location", "http://127.0.0.1:8200/v1/kv/a")], ""),
            false,
        );
        assert_eq!(o.decision, Decision::Redirect("/v1/kv/a".into()));
        assert_eq!(location_path("https://h"), "/");
        let o = classify(&resp(307, &[], ""), false);
        assert_eq!(o.decision, Decision::Redirect(String::new()));
    }

    #[test]
    fn errors_are_extracted() {
        let o = classify(
            &resp(403, &[], r#"{"errors":["permission denied"]}"#),
            false,
        );
        assert_eq!(o.errors, "permission denied");
        let o = classify(&resp(400, &[], "400 Bad Request"), false);
        assert_eq!(o.errors, "400 Bad Request");
        let o = classify(&resp(404, &[], r#"{"errors":[]}"#), false);
        assert_eq!(o.errors, "");
        assert_eq!(o.decision, Decision::Allowed);
    }

    #[test]
    fn not_found_without_a_route_is_unrouted() {
        for body in [
            r#"{"errors":["unsupported path"]}"#,
            r#"{"errors":["no handler for route \"KV/a\". route entry not found."]}"#,
        ] {
            assert_eq!(
                classify(&resp(404, &[], body), false).decision,
                Decision::Unrouted,
                "{body}"
            );
        }
    }

    #[test]
    fn capabilities_are_read_sorted_from_data() {
        let body = json!({
            "capabilities": ["read"],
            "kv/a": ["update", "read"],
            "data": {"capabilities": ["read"], "kv/a": ["update", "read", "read"]}
        });
        let o = classify(&resp(200, &[], &body.to_string()), true);
        let caps = o.capabilities.unwrap_or_default();
        assert_eq!(caps["kv/a"], vec!["read", "update"]);
        assert_eq!(caps["capabilities"], vec!["read"]);
        // Not a capabilities request: not extracted.
        assert!(
            classify(&resp(200, &[], &body.to_string()), false)
                .capabilities
                .is_none()
        );
    }

    #[test]
    fn verdicts() {
        let a = classify(&resp(200, &[], "{}"), false);
        let b = classify(&resp(404, &[], r#"{"errors":[]}"#), false);
        let d = classify(&resp(403, &[], "{}"), false);
        assert_eq!(compare(&a, &a), Verdict::Same);
        assert!(matches!(compare(&a, &b), Verdict::Soft(_)));
        assert!(matches!(compare(&a, &d), Verdict::Different(_)));
        let r1 = classify(&resp(307, &[("location", "/v1/a")], ""), false);
        let r2 = classify(&resp(307, &[("location", "/v1/b")], ""), false);
        assert!(matches!(compare(&r1, &r2), Verdict::Different(_)));
        let c1 = classify(&resp(200, &[], r#"{"data":{"p":["read"]}}"#), true);
        let c2 = classify(&resp(200, &[], r#"{"data":{"p":["deny"]}}"#), true);
        assert!(matches!(compare(&c1, &c2), Verdict::Different(_)));
    }
}
