//! The options every device type shares: what goes into an entry and how it is written.

use std::collections::BTreeMap;

use tresor_sdk::audit::{AuditDeviceConfig, AuditDeviceError};

use crate::filter::Filter;

/// How a device turns events into lines.
#[derive(Clone, Debug)]
pub struct FormatOptions {
    /// Record tokens and values in clear (`log_raw`).
    pub log_raw: bool,
    /// Hash accessors too (`hmac_accessor`, default true).
    pub hmac_accessor: bool,
    /// Replace the `keys` and `key_info` of list responses by their counts
    /// (`elide_list_responses`).
    pub elide_list_responses: bool,
    /// Text written before each JSON entry (`prefix`; needs `allow_audit_log_prefixing`).
    pub prefix: String,
    /// JSON pointers of fields removed from every entry (`exclude`).
    pub exclude: Vec<String>,
    /// Which events this device records (`filter`); all when `None`.
    pub filter: Option<Filter>,
}

impl Default for FormatOptions {
    fn default() -> Self {
        Self {
            log_raw: false,
            hmac_accessor: true,
            elide_list_responses: false,
            prefix: String::new(),
            exclude: Vec::new(),
            filter: None,
        }
    }
}

/// Options every device accepts besides its own (the broker reads `fallback`; `description`
/// and `local` belong to the audit table).
pub const COMMON: &[&str] = &[
    "log_raw",
    "hmac_accessor",
    "elide_list_responses",
    "format",
    "prefix",
    "exclude",
    "filter",
    "fallback",
];

impl FormatOptions {
    /// Reads the shared options of `config`.
    pub fn parse(config: &AuditDeviceConfig) -> Result<Self, AuditDeviceError> {
        let o = &config.options;
        let prefix = o.get("prefix").cloned().unwrap_or_default();
        if !prefix.is_empty() && !config.allow_prefix {
            return Err(AuditDeviceError::config(
                "prefix",
                "audit log prefixing is not allowed on this server (allow_audit_log_prefixing)",
            ));
        }
        match o.get("format").map(String::as_str) {
            None | Some("") | Some("json") => {}
            Some(other) => {
                return Err(AuditDeviceError::config(
                    "format",
                    format!("unsupported format {other:?}: only \"json\""),
                ));
            }
        }
        let exclude = match o.get("exclude").map(String::as_str) {
            None | Some("") => Vec::new(),
            Some(text) => parse_exclude(text)?,
        };
        let filter = match o.get("filter").map(|s| s.trim()) {
            None | Some("") => None,
            Some(text) => Some(
                Filter::parse(text)
                    .map_err(|e| AuditDeviceError::config("filter", e.to_string()))?,
            ),
        };
        Ok(Self {
            log_raw: flag(o, "log_raw", false)?,
            hmac_accessor: flag(o, "hmac_accessor", true)?,
            elide_list_responses: flag(o, "elide_list_responses", false)?,
            prefix,
            exclude,
            filter,
        })
    }
}

/// A boolean option as Go's `strconv.ParseBool` reads it.
pub fn flag(
    options: &BTreeMap<String, String>,
    name: &str,
    default: bool,
) -> Result<bool, AuditDeviceError> {
    match options.get(name).map(|s| s.trim()) {
        None | Some("") => Ok(default),
        Some(text) => tresor_sdk::fields::parse_go_bool(text)
            .ok_or_else(|| AuditDeviceError::config(name, format!("{text:?} is not a boolean"))),
    }
}

/// A non-zero Go duration option (`2s`, `500ms`), or `default` when absent or empty.
pub fn duration(
    options: &BTreeMap<String, String>,
    name: &str,
    default: std::time::Duration,
) -> Result<std::time::Duration, AuditDeviceError> {
    match options.get(name).map(|s| s.trim()) {
        None | Some("") => Ok(default),
        Some(t) => tresor_sdk::duration::parse_nanos(t)
            .ok()
            .and_then(|n| u64::try_from(n).ok())
            .map(std::time::Duration::from_nanos)
            .filter(|d| !d.is_zero())
            .ok_or_else(|| AuditDeviceError::config(name, format!("{t:?} is not a duration"))),
    }
}

/// `exclude` as a JSON array of JSON pointers or a comma-separated list of them.
fn parse_exclude(text: &str) -> Result<Vec<String>, AuditDeviceError> {
    let pointers: Vec<String> = if text.trim_start().starts_with('[') {
        serde_json::from_str(text).map_err(|e| {
            AuditDeviceError::config("exclude", format!("not a JSON list of strings: {e}"))
        })?
    } else {
        text.split(',').map(|s| s.trim().to_owned()).collect()
    };
    for p in &pointers {
        if !p.starts_with('/') {
            return Err(AuditDeviceError::config(
                "exclude",
                format!("{p:?} is not a JSON pointer (it must start with '/')"),
            ));
        }
    }
    Ok(pointers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)], allow_prefix: bool) -> AuditDeviceConfig {
        AuditDeviceConfig {
            options: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            allow_prefix,
            ..AuditDeviceConfig::default()
        }
    }

    #[test]
    fn defaults() {
        let o = FormatOptions::parse(&cfg(&[], false)).expect("parse");
        assert!(!o.log_raw && o.hmac_accessor && !o.elide_list_responses);
        assert!(o.prefix.is_empty() && o.exclude.is_empty() && o.filter.is_none());
    }

    #[test]
    fn prefix_needs_the_server_switch() {
        let err = FormatOptions::parse(&cfg(&[("prefix", "x")], false)).expect_err("refused");
        assert!(err.to_string().starts_with("prefix:"), "{err}");
        let o = FormatOptions::parse(&cfg(&[("prefix", "x")], true)).expect("allowed");
        assert_eq!(o.prefix, "x");
    }

    #[test]
    fn bad_values_name_their_option() {
        for (k, v) in [
            ("log_raw", "yes"),
            ("format", "jsonx"),
            ("exclude", "request/path"),
            ("filter", "path =="),
        ] {
            let err = FormatOptions::parse(&cfg(&[(k, v)], true)).expect_err(k);
            assert!(err.to_string().starts_with(&format!("{k}:")), "{err}");
        }
    }

    #[test]
    fn exclude_accepts_a_list_or_json() {
        let a =
            FormatOptions::parse(&cfg(&[("exclude", "/request/data, /auth")], false)).expect("csv");
        let b = FormatOptions::parse(&cfg(&[("exclude", r#"["/request/data","/auth"]"#)], false))
            .expect("json");
        assert_eq!(a.exclude, vec!["/request/data", "/auth"]);
        assert_eq!(a.exclude, b.exclude);
    }
}
