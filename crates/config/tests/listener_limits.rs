//! The listener's time limits, `max_connections` and `custom_response_headers`: defaults,
//! good values in HCL and JSON, and bad values named by file and key.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use tresor_config::{
    DEFAULT_MAX_CONNECTIONS, DEFAULT_STRICT_TRANSPORT_SECURITY, ListenerConfig, StatusSelector,
    parse_str,
};

fn listener(body: &str) -> ListenerConfig {
    let text = format!("listener \"tcp\" {{\n{body}\n}}\n");
    let mut c = parse_str(&text, "config.hcl").unwrap();
    c.listeners.remove(0)
}

fn refuse(body: &str) -> tresor_config::ConfigError {
    let text = format!("listener \"tcp\" {{\n{body}\n}}\n");
    parse_str(&text, "config.hcl").expect_err("should be refused")
}

#[test]
fn defaults_are_vaults() {
    let l = listener("tls_disable = true");
    assert_eq!(l.http_read_header_timeout, Duration::from_secs(10));
    assert_eq!(l.http_read_timeout, Duration::from_secs(30));
    assert_eq!(l.http_write_timeout, Duration::ZERO);
    assert_eq!(l.http_idle_timeout, Duration::from_secs(300));
    assert_eq!(l.max_connections, DEFAULT_MAX_CONNECTIONS);
    let default = &l.custom_response_headers.sections[&StatusSelector::Default];
    assert_eq!(
        default["Strict-Transport-Security"],
        DEFAULT_STRICT_TRANSPORT_SECURITY
    );
    assert_eq!(l.custom_response_headers.sections.len(), 1);
}

#[test]
fn timeouts_take_go_durations_and_seconds() {
    let l = listener(
        "http_read_header_timeout = \"300ms\"\nhttp_read_timeout = 45\n\
         http_write_timeout = \"1m30s\"\nhttp_idle_timeout = \"0\"\nmax_connections = \"2\"",
    );
    assert_eq!(l.http_read_header_timeout, Duration::from_millis(300));
    assert_eq!(l.http_read_timeout, Duration::from_secs(45));
    assert_eq!(l.http_write_timeout, Duration::from_secs(90));
    assert_eq!(l.http_idle_timeout, Duration::ZERO);
    assert_eq!(l.max_connections, 2);
}

#[test]
fn bad_limits_name_file_and_key() {
    for (body, key) in [
        (
            "http_read_header_timeout = \"soon\"",
            "http_read_header_timeout",
        ),
        ("http_read_timeout = -1", "http_read_timeout"),
        ("http_write_timeout = \"-5s\"", "http_write_timeout"),
        ("http_idle_timeout = true", "http_idle_timeout"),
        ("max_connections = 0", "max_connections"),
        ("max_connections = -3", "max_connections"),
        ("max_connections = \"many\"", "max_connections"),
    ] {
        let err = refuse(body);
        assert_eq!(err.file(), "config.hcl", "{body}");
        assert_eq!(
            err.key(),
            Some(format!("listener.tcp.{key}").as_str()),
            "{body}: {err}"
        );
    }
}

#[test]
fn custom_response_headers_in_hcl() {
    let l = listener(
        r#"custom_response_headers = {
  "default" = {
    "Strict-Transport-Security" = ["max-age=1", "includeSubDomains"],
    "x-custom-header" = ["default value"],
    "X-Vault-Reserved" = ["dropped"],
  },
  "2xx" = { "X-Custom-Header" = ["2xx value"] },
  "404" = { "X-Custom-Header" = ["404 value"] },
}"#,
    );
    let h = &l.custom_response_headers;
    assert_eq!(
        h.for_status(200),
        vec![
            ("Strict-Transport-Security", "max-age=1; includeSubDomains"),
            ("X-Custom-Header", "2xx value"),
        ]
    );
    assert_eq!(
        h.for_status(404),
        vec![
            ("Strict-Transport-Security", "max-age=1; includeSubDomains"),
            ("X-Custom-Header", "404 value"),
        ]
    );
    assert_eq!(
        h.for_status(403),
        vec![
            ("Strict-Transport-Security", "max-age=1; includeSubDomains"),
            ("X-Custom-Header", "default value"),
        ]
    );
}

#[test]
fn custom_response_headers_in_json_and_warnings() {
    let text = r#"{
      "listener": {"tcp": {
        "address": "127.0.0.1:8200",
        "custom_response_headers": {
          "3xx": {"X-A": ["three"]},
          "default": {"X-Vault-Reserved": ["x"]}
        }
      }}
    }"#;
    let c = parse_str(text, "config.json").unwrap();
    let h = &c.listeners[0].custom_response_headers;
    assert_eq!(
        h.for_status(307),
        vec![
            (
                "Strict-Transport-Security",
                DEFAULT_STRICT_TRANSPORT_SECURITY
            ),
            ("X-A", "three"),
        ]
    );
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("listener.tcp.custom_response_headers.default.X-Vault-Reserved")),
        "{:?}",
        c.warnings
    );
    assert!(
        !c.warnings
            .iter()
            .any(|w| w.contains("custom_response_headers is a Vault setting")),
        "{:?}",
        c.warnings
    );
}

#[test]
fn bad_custom_response_headers_name_the_key() {
    for (body, key) in [
        (
            r#"custom_response_headers = { "6xx" = { "X-A" = ["a"] } }"#,
            "listener.tcp.custom_response_headers.6xx",
        ),
        (
            r#"custom_response_headers = { "200" = { "X-A" = "not a list" } }"#,
            "listener.tcp.custom_response_headers.200.X-A",
        ),
        (
            r#"custom_response_headers = { "default" = { "Bad Name" = ["a"] } }"#,
            "listener.tcp.custom_response_headers.default.Bad Name",
        ),
        (
            r#"custom_response_headers = "default""#,
            "listener.tcp.custom_response_headers",
        ),
    ] {
        let err = refuse(body);
        assert_eq!(err.key(), Some(key), "{body}: {err}");
        assert_eq!(err.file(), "config.hcl");
    }
}
