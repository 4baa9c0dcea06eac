//! Hostile configuration text (nesting far past the limit) and the listener's JSON body
//! limits (`max_json_*`).

#![allow(clippy::unwrap_used)] // tests may unwrap

use tresor_config::{
    ConfigError, DEFAULT_MAX_JSON_ARRAY_ELEMENT_COUNT, DEFAULT_MAX_JSON_DEPTH,
    DEFAULT_MAX_JSON_OBJECT_ENTRY_COUNT, DEFAULT_MAX_JSON_STRING_VALUE_LENGTH, MAX_CONFIG_DEPTH,
    parse_str,
};

/// Runs `f` on a thread with a tokio worker's default stack (an overflow aborts the binary).
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

#[test]
fn hundred_thousand_deep_config_is_an_error_with_file_and_key() {
    on_small_stack(|| {
        let n = 100_000;
        let cases = [
            (
                "vault.hcl",
                format!(
                    "ui = true\nlistener \"tcp\" {{\n  address = {}1{}\n}}\n",
                    "[".repeat(n),
                    "]".repeat(n)
                ),
                "listener",
            ),
            (
                "vault.hcl",
                format!("seal \"transit\" {}\n", "{ a ".repeat(n)),
                "seal",
            ),
            (
                "vault.hcl",
                format!("telemetry {} {{}}\n", "\"l\" ".repeat(n)),
                "telemetry",
            ),
            ("vault.hcl", format!("ui = {}true\n", "!".repeat(n)), "ui"),
            (
                "vault.json",
                format!(
                    "{{\"ui\": true, \"storage\": {}1{}}}",
                    "[".repeat(n),
                    "]".repeat(n)
                ),
                "storage",
            ),
        ];
        for (file, text, key) in cases {
            let err = parse_str(&text, file).unwrap_err();
            assert!(matches!(err, ConfigError::Invalid { .. }), "{err:?}");
            assert_eq!(err.file(), file);
            assert_eq!(err.key(), Some(key), "{err}");
            let msg = err.to_string();
            assert!(
                msg.contains(&format!("maximum depth of {MAX_CONFIG_DEPTH}")),
                "{msg}"
            );
            assert!(msg.contains("line "), "{msg}");
        }
    });
}

#[test]
fn nesting_inside_the_limit_reaches_the_parser() {
    on_small_stack(|| {
        let text = format!("x = {}1{}\n", "[".repeat(90), "]".repeat(90));
        // parses (the unknown key is a warning)
        let c = parse_str(&text, "c.hcl").unwrap();
        assert!(
            c.warnings.iter().any(|w| w.contains("x")),
            "{:?}",
            c.warnings
        );
        let text = format!("{{\"x\": {}1{}}}", "[".repeat(90), "]".repeat(90));
        parse_str(&text, "c.json").unwrap();
    });
}

fn listener(body: &str) -> Result<tresor_config::ServerConfig, ConfigError> {
    parse_str(
        &format!("listener \"tcp\" {{\n  tls_disable = true\n{body}\n}}\n"),
        "l.hcl",
    )
}

#[test]
fn json_limits_default_to_vaults() {
    let c = listener("").unwrap();
    let l = &c.listeners[0];
    assert_eq!(l.max_json_depth, DEFAULT_MAX_JSON_DEPTH);
    assert_eq!(
        l.max_json_string_value_length,
        DEFAULT_MAX_JSON_STRING_VALUE_LENGTH
    );
    assert_eq!(
        l.max_json_object_entry_count,
        DEFAULT_MAX_JSON_OBJECT_ENTRY_COUNT
    );
    assert_eq!(
        l.max_json_array_element_count,
        DEFAULT_MAX_JSON_ARRAY_ELEMENT_COUNT
    );
    assert_eq!(
        (DEFAULT_MAX_JSON_DEPTH, DEFAULT_MAX_JSON_STRING_VALUE_LENGTH),
        (300, 1_048_576)
    );
    assert_eq!(
        (
            DEFAULT_MAX_JSON_OBJECT_ENTRY_COUNT,
            DEFAULT_MAX_JSON_ARRAY_ELEMENT_COUNT
        ),
        (10_000, 10_000)
    );
}

#[test]
fn json_limits_are_read_quoted_or_not_and_from_json() {
    let c = listener(
        "max_json_depth = 50\nmax_json_string_value_length = \"4096\"\n\
         max_json_object_entry_count = 7\nmax_json_array_element_count = 8",
    )
    .unwrap();
    let l = &c.listeners[0];
    assert_eq!(
        (
            l.max_json_depth,
            l.max_json_string_value_length,
            l.max_json_object_entry_count,
            l.max_json_array_element_count
        ),
        (50, 4096, 7, 8)
    );
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let c = parse_str(
        r#"{"listener": {"tcp": {"tls_disable": true, "max_json_depth": 20}}}"#,
        "l.json",
    )
    .unwrap();
    assert_eq!(c.listeners[0].max_json_depth, 20);
}

#[test]
fn json_limits_must_be_positive_integers() {
    for (setting, why) in [
        ("max_json_depth = 0", "positive"),
        ("max_json_string_value_length = -1", "positive"),
        ("max_json_object_entry_count = \"many\"", "integer"),
        ("max_json_array_element_count = 1.5", "integer"),
        ("max_json_depth = [1]", "integer"),
    ] {
        let err = listener(setting).unwrap_err();
        let name = setting.split(' ').next().unwrap();
        assert!(matches!(err, ConfigError::Invalid { .. }), "{err:?}");
        assert_eq!(err.file(), "l.hcl");
        assert_eq!(err.key(), Some(format!("listener.tcp.{name}").as_str()));
        assert!(err.to_string().contains(why), "{setting}: {err}");
    }
}
