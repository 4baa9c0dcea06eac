//! Headers added to every API response: `Cache-Control: no-store` (as Vault) and the
//! listener's `custom_response_headers` (default, status class, exact status; the most
//! specific wins for a header name).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{CACHE_CONTROL, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// Which responses a configured header applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderScope {
    /// Every response.
    All,
    /// Responses whose status is in the class (the hundreds digit, 1-5).
    Class(u8),
    /// Responses with exactly this status.
    Status(u16),
}

/// A header name or value that HTTP cannot carry.
#[derive(Debug, thiserror::Error)]
#[error("invalid response header {name:?}: {reason}")]
pub struct InvalidHeader {
    /// The header name as given.
    pub name: String,
    /// What is wrong.
    pub reason: String,
}

type Headers = Vec<(HeaderName, HeaderValue)>;

/// The headers a listener adds to its responses.
#[derive(Debug, Clone, Default)]
pub struct ResponseHeaders {
    all: Headers,
    classes: [Headers; 6],
    statuses: HashMap<u16, Headers>,
}

impl ResponseHeaders {
    /// No configured headers (only `Cache-Control: no-store` is added).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a configured header for `scope` (a later value for the same scope and name
    /// replaces the earlier one).
    pub fn add(
        &mut self,
        scope: HeaderScope,
        name: &str,
        value: &str,
    ) -> Result<(), InvalidHeader> {
        let invalid = |reason: String| InvalidHeader {
            name: name.to_owned(),
            reason,
        };
        let n = HeaderName::from_bytes(name.as_bytes()).map_err(|e| invalid(e.to_string()))?;
        let v = HeaderValue::from_str(value).map_err(|e| invalid(e.to_string()))?;
        let list = match scope {
            HeaderScope::All => &mut self.all,
            HeaderScope::Class(c @ 1..=5) => &mut self.classes[usize::from(c)],
            HeaderScope::Class(c) => return Err(invalid(format!("no status class {c}xx"))),
            HeaderScope::Status(s @ 100..=599) => self.statuses.entry(s).or_default(),
            HeaderScope::Status(s) => return Err(invalid(format!("no status {s}"))),
        };
        list.retain(|(existing, _)| *existing != n);
        list.push((n, v));
        Ok(())
    }

    /// Sets the headers on `response`: `Cache-Control: no-store`, then the `All` headers,
    /// then the status class's, then the exact status's, each replacing earlier values of the
    /// same name.
    pub fn apply(&self, response: &mut Response) {
        let status = response.status().as_u16();
        let headers = response.headers_mut();
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        let class = self.classes.get(usize::from(status / 100));
        let exact = self.statuses.get(&status);
        for list in [Some(&self.all), class, exact].into_iter().flatten() {
            for (n, v) in list {
                headers.insert(n.clone(), v.clone());
            }
        }
    }
}

/// Middleware: [`ResponseHeaders::apply`] on every response.
pub(crate) async fn add_headers(
    State(headers): State<Arc<ResponseHeaders>>,
    req: Request,
    next: Next,
) -> Response {
    let mut resp = next.run(req).await;
    headers.apply(&mut resp);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    fn resp(status: u16) -> Response {
        let mut r = Response::new(axum::body::Body::empty());
        *r.status_mut() = StatusCode::from_u16(status).unwrap();
        r
    }

    fn get(r: &Response, name: &str) -> Option<String> {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }

    #[test]
    fn most_specific_scope_wins() {
        let mut h = ResponseHeaders::new();
        h.add(HeaderScope::Status(307), "X-Custom", "code").unwrap();
        h.add(HeaderScope::Class(3), "X-Custom", "class").unwrap();
        h.add(HeaderScope::All, "X-Custom", "default").unwrap();
        h.add(HeaderScope::All, "X-Other", "o").unwrap();
        for (status, want) in [
            (307, "code"),
            (306, "class"),
            (200, "default"),
            (404, "default"),
        ] {
            let mut r = resp(status);
            h.apply(&mut r);
            assert_eq!(get(&r, "x-custom").as_deref(), Some(want), "{status}");
            assert_eq!(get(&r, "x-other").as_deref(), Some("o"));
            assert_eq!(get(&r, "cache-control").as_deref(), Some("no-store"));
        }
    }

    #[test]
    fn configured_cache_control_overrides_and_bad_headers_refused() {
        let mut h = ResponseHeaders::new();
        h.add(HeaderScope::Class(2), "Cache-Control", "private")
            .unwrap();
        let mut ok = resp(200);
        h.apply(&mut ok);
        assert_eq!(get(&ok, "cache-control").as_deref(), Some("private"));
        let mut err = resp(500);
        h.apply(&mut err);
        assert_eq!(get(&err, "cache-control").as_deref(), Some("no-store"));
        assert!(h.add(HeaderScope::All, "Bad Name", "x").is_err());
        assert!(h.add(HeaderScope::All, "X-A", "a\r\nb").is_err());
        assert!(h.add(HeaderScope::Class(6), "X-A", "a").is_err());
        assert!(h.add(HeaderScope::Status(600), "X-A", "a").is_err());
    }
}
