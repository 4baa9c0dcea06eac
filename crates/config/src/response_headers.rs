//! The listener's `custom_response_headers { }` stanza.
//!
//! Each key of the stanza selects responses by status: `"default"` (every response), a class
//! (`"1xx"` ... `"5xx"`) or one code (`"100"` ... `"599"`). Its value maps header names to a
//! list of strings; the strings are trimmed, empty ones dropped, and the rest joined with
//! `"; "` into one header value. Header names are canonicalised (`x-custom` → `X-Custom`).
//! Headers starting with `X-Vault-` are Vault's own and are dropped with a warning. When the
//! `default` section does not name `Strict-Transport-Security`, it gets
//! `max-age=31536000; includeSubDomains` (Vault's default, sent with or without TLS).

use std::collections::BTreeMap;

use crate::error::ConfigError;
use crate::tree::{Node, join};

/// The `Strict-Transport-Security` value added to the `default` section unless configured.
pub const DEFAULT_STRICT_TRANSPORT_SECURITY: &str = "max-age=31536000; includeSubDomains";

/// Which responses a section of `custom_response_headers` applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StatusSelector {
    /// `"default"`: every response.
    Default,
    /// `"2xx"` etc.: every response whose status is in the class (the hundreds digit, 1-5).
    Class(u8),
    /// `"404"` etc.: responses with exactly this status (100-599).
    Code(u16),
}

impl StatusSelector {
    /// Parses a section key (`default`, `1xx`-`5xx`, `100`-`599`).
    pub fn parse(key: &str) -> Option<Self> {
        let k = key.trim();
        if k.eq_ignore_ascii_case("default") {
            return Some(StatusSelector::Default);
        }
        let b = k.as_bytes();
        if b.len() == 3 && (b'1'..=b'5').contains(&b[0]) && b[1..].eq_ignore_ascii_case(b"xx") {
            return Some(StatusSelector::Class(b[0] - b'0'));
        }
        match k.parse::<u16>() {
            Ok(c) if (100..600).contains(&c) && b.len() == 3 => Some(StatusSelector::Code(c)),
            _ => None,
        }
    }

    /// How specific the selector is for `status`: `None` when it does not apply, otherwise
    /// 0 (default) < 1 (class) < 2 (exact code).
    pub fn rank_for(self, status: u16) -> Option<u8> {
        match self {
            StatusSelector::Default => Some(0),
            StatusSelector::Class(c) => (status / 100 == u16::from(c)).then_some(1),
            StatusSelector::Code(c) => (status == c).then_some(2),
        }
    }
}

/// The parsed stanza: for each selector, header name → value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomResponseHeaders {
    /// Sections by selector; names are canonical, values joined.
    pub sections: BTreeMap<StatusSelector, BTreeMap<String, String>>,
}

impl Default for CustomResponseHeaders {
    /// Only Vault's default `Strict-Transport-Security`.
    fn default() -> Self {
        let mut h = CustomResponseHeaders {
            sections: BTreeMap::new(),
        };
        h.add_default_hsts();
        h
    }
}

impl CustomResponseHeaders {
    fn add_default_hsts(&mut self) {
        self.sections
            .entry(StatusSelector::Default)
            .or_default()
            .entry("Strict-Transport-Security".to_owned())
            .or_insert_with(|| DEFAULT_STRICT_TRANSPORT_SECURITY.to_owned());
    }

    /// The headers for a response with `status`: per header name, the value of the most
    /// specific section that names it (code over class over default).
    pub fn for_status(&self, status: u16) -> Vec<(&str, &str)> {
        let mut best: BTreeMap<&str, (u8, &str)> = BTreeMap::new();
        for (sel, headers) in &self.sections {
            let Some(rank) = sel.rank_for(status) else {
                continue;
            };
            for (name, value) in headers {
                let slot = best.entry(name.as_str()).or_insert((rank, value.as_str()));
                if rank > slot.0 {
                    *slot = (rank, value.as_str());
                }
            }
        }
        best.into_iter().map(|(n, (_, v))| (n, v)).collect()
    }
}

/// Canonical MIME header form: first letter and every letter after `-` upper case.
fn canonical_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        if upper {
            out.push(c.to_ascii_uppercase());
        } else {
            out.push(c.to_ascii_lowercase());
        }
        upper = c == '-';
    }
    out
}

/// An HTTP token (RFC 9110 `tchar`).
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A field value: visible ASCII, spaces and tabs (no control characters, no line breaks).
fn is_field_value(s: &str) -> bool {
    s.bytes()
        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80)
}

/// The entries of a map node, or of every map in a list of maps (HCL and JSON shapes).
fn map_entries<'a>(
    node: &'a Node,
    file: &str,
    key: &str,
) -> Result<Vec<&'a (String, Node)>, ConfigError> {
    match node {
        Node::Map(entries) => Ok(entries.iter().collect()),
        Node::List(items) => {
            let mut out = Vec::new();
            for item in items {
                out.extend(map_entries(item, file, key)?);
            }
            Ok(out)
        }
        other => Err(ConfigError::invalid(
            file,
            key,
            format!("expected a map, got {}", other.kind_name()),
        )),
    }
}

/// Decodes the stanza (`node` is its value, `key` its dotted key). Warnings collect the
/// dropped `X-Vault-` headers.
pub(crate) fn decode(
    node: &Node,
    file: &str,
    key: &str,
    warnings: &mut Vec<String>,
) -> Result<CustomResponseHeaders, ConfigError> {
    let mut out = CustomResponseHeaders {
        sections: BTreeMap::new(),
    };
    for (sel_key, headers) in map_entries(node, file, key)? {
        let section_key = join(key, sel_key);
        let selector = StatusSelector::parse(sel_key).ok_or_else(|| {
            ConfigError::invalid(
                file,
                &section_key,
                format!(
                    "invalid status selector {sel_key:?}; use \"default\", a class such as \
                     \"2xx\" (1xx-5xx) or a status code from 100 to 599"
                ),
            )
        })?;
        let section = out.sections.entry(selector).or_default();
        for (name, values) in map_entries(headers, file, &section_key)? {
            let header_key = join(&section_key, name);
            let name = name.trim();
            if !is_token(name) {
                return Err(ConfigError::invalid(
                    file,
                    &header_key,
                    format!("{name:?} is not a valid HTTP header name"),
                ));
            }
            let canonical = canonical_name(name);
            if canonical.starts_with("X-Vault-") {
                warnings.push(format!(
                    "{file}: {header_key}: headers starting with X-Vault- are reserved and \
                     not sent"
                ));
                continue;
            }
            let Node::List(items) = values else {
                return Err(ConfigError::invalid(
                    file,
                    &header_key,
                    format!(
                        "expected a list of strings such as [\"value\"], got {}",
                        values.kind_name()
                    ),
                ));
            };
            let mut parts = Vec::with_capacity(items.len());
            for item in items {
                let Node::Str(s) = item else {
                    return Err(ConfigError::invalid(
                        file,
                        &header_key,
                        format!("header values must be strings, got {}", item.kind_name()),
                    ));
                };
                let v = s.trim();
                if !is_field_value(v) {
                    return Err(ConfigError::invalid(
                        file,
                        &header_key,
                        format!("{s:?} contains characters not allowed in a header value"),
                    ));
                }
                if !v.is_empty() {
                    parts.push(v.to_owned());
                }
            }
            section.insert(canonical, parts.join("; "));
        }
    }
    out.add_default_hsts();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Node {
        Node::Str(v.to_owned())
    }

    fn map(entries: Vec<(&str, Node)>) -> Node {
        Node::Map(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        )
    }

    #[test]
    fn selectors() {
        assert_eq!(
            StatusSelector::parse("default"),
            Some(StatusSelector::Default)
        );
        assert_eq!(StatusSelector::parse("2xx"), Some(StatusSelector::Class(2)));
        assert_eq!(StatusSelector::parse("5XX"), Some(StatusSelector::Class(5)));
        assert_eq!(
            StatusSelector::parse("404"),
            Some(StatusSelector::Code(404))
        );
        for bad in ["6xx", "0xx", "99", "600", "2x", "abc", "", "+200", "0200"] {
            assert_eq!(StatusSelector::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn precedence_code_over_class_over_default() {
        let node = map(vec![
            ("default", map(vec![("x-custom", Node::List(vec![s("d")]))])),
            ("3xx", map(vec![("X-Custom", Node::List(vec![s("class")]))])),
            ("307", map(vec![("X-Custom", Node::List(vec![s("code")]))])),
        ]);
        let mut w = Vec::new();
        let h = decode(
            &node,
            "f.hcl",
            "listener.tcp.custom_response_headers",
            &mut w,
        )
        .unwrap();
        let get = |status| {
            h.for_status(status)
                .into_iter()
                .find(|(n, _)| *n == "X-Custom")
                .map(|(_, v)| v.to_owned())
        };
        assert_eq!(get(307).as_deref(), Some("code"));
        assert_eq!(get(306).as_deref(), Some("class"));
        assert_eq!(get(200).as_deref(), Some("d"));
        // HSTS default added to every status.
        assert!(h.for_status(404).contains(&(
            "Strict-Transport-Security",
            DEFAULT_STRICT_TRANSPORT_SECURITY
        )));
    }

    #[test]
    fn values_joined_and_reserved_headers_dropped() {
        let node = map(vec![(
            "default",
            map(vec![
                (
                    "Strict-Transport-Security",
                    Node::List(vec![s("max-age=1"), s(" "), s(" includeSubDomains ")]),
                ),
                ("X-Vault-Thing", Node::List(vec![s("x")])),
            ]),
        )]);
        let mut w = Vec::new();
        let h = decode(&node, "f.hcl", "k", &mut w).unwrap();
        assert_eq!(
            h.for_status(200),
            vec![("Strict-Transport-Security", "max-age=1; includeSubDomains")]
        );
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("k.default.X-Vault-Thing"), "{w:?}");
    }

    #[test]
    fn bad_input_names_the_key() {
        let cases = [
            (map(vec![("2xy", map(vec![]))]), "k.2xy"),
            (
                map(vec![("200", map(vec![("Bad Name", Node::List(vec![]))]))]),
                "k.200.Bad Name",
            ),
            (
                map(vec![("200", map(vec![("X-A", s("not a list"))]))]),
                "k.200.X-A",
            ),
            (
                map(vec![(
                    "200",
                    map(vec![("X-A", Node::List(vec![Node::Int(1)]))]),
                )]),
                "k.200.X-A",
            ),
            (
                map(vec![(
                    "200",
                    map(vec![("X-A", Node::List(vec![s("a\r\nb")]))]),
                )]),
                "k.200.X-A",
            ),
            (s("nope"), "k"),
        ];
        for (node, key) in cases {
            let err = decode(&node, "f.hcl", "k", &mut Vec::new()).unwrap_err();
            assert_eq!(err.key(), Some(key), "{err}");
            assert_eq!(err.file(), "f.hcl");
        }
    }

    #[test]
    fn default_is_hsts_only() {
        let h = CustomResponseHeaders::default();
        assert_eq!(
            h.for_status(500),
            vec![(
                "Strict-Transport-Security",
                DEFAULT_STRICT_TRANSPORT_SECURITY
            )]
        );
    }
}
