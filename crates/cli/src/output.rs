//! Rendering: aligned tables, Go-like value text, section headers, and the key/value view of
//! a secret (pure functions, no I/O).

use serde_json::{Map, Value};

/// Gap between table columns.
const GLUE: &str = "    ";

/// Renders rows as aligned columns; with `header`, a dashed rule follows it (`Key  Value` /
/// `---  -----`). Trailing blanks are trimmed.
pub(crate) fn table(header: Option<&[&str]>, rows: &[Vec<String>]) -> String {
    let mut all: Vec<Vec<String>> = Vec::new();
    if let Some(h) = header {
        all.push(h.iter().map(|s| (*s).to_owned()).collect());
        all.push(h.iter().map(|s| "-".repeat(s.chars().count())).collect());
    }
    all.extend(rows.iter().cloned());
    let cols = all.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            all.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in &all {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if c + 1 < row.len() {
                let pad = widths[c].saturating_sub(cell.chars().count());
                line.push_str(&" ".repeat(pad));
                line.push_str(GLUE);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A `Key`/`Value` table.
pub(crate) fn kv_table(rows: &[(String, String)]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|(k, v)| vec![k.clone(), v.clone()])
        .collect();
    table(Some(&["Key", "Value"]), &rows)
}

/// A section title padded with `=` to `width` (at least `== title ==`).
pub(crate) fn header(title: &str, width: usize) -> String {
    let inner = title.chars().count() + 2;
    let total = width.max(inner + 4);
    let left = (total - inner) / 2;
    let right = total - inner - left;
    format!("{} {} {}", "=".repeat(left), title, "=".repeat(right))
}

/// The width of the widest line of rendered text.
pub(crate) fn width(text: &str) -> usize {
    text.lines().map(|l| l.chars().count()).max().unwrap_or(0)
}

/// Go's `%v`-like text of a JSON value: strings raw, `null` as `<nil>`, arrays `[a b]`,
/// objects `map[k:v]` with sorted keys.
pub(crate) fn value_text(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".to_owned(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(value_text).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            format!(
                "map[{}]",
                keys.iter()
                    .map(|k| format!("{k}:{}", value_text(&o[*k])))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }
    }
}

/// Table text of a value: like [`value_text`] but an empty string shows as `n/a`.
pub(crate) fn cell(v: &Value) -> String {
    match v {
        Value::String(s) if s.is_empty() => "n/a".to_owned(),
        other => value_text(other),
    }
}

/// Quoted list text (`["a" "b"]`), as Vault prints policies.
pub(crate) fn quoted_list(v: Option<&Value>) -> String {
    let items: Vec<String> = v
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|x| {
                    format!(
                        "{:?}",
                        x.as_str().map_or_else(|| x.to_string(), str::to_owned)
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    format!("[{}]", items.join(" "))
}

/// Seconds as Vault's CLI shows durations: Go's form with trailing zero units dropped
/// (`768h`, `1m30s`, `0s`).
pub(crate) fn human_duration(secs: u64) -> String {
    let mut s = tresor_sdk::duration::format_secs(secs);
    if s.ends_with("m0s") {
        s.truncate(s.len() - 2);
    }
    if s.ends_with("h0m") {
        s.truncate(s.len() - 2);
    }
    s
}

fn u64_of(v: Option<&Value>) -> u64 {
    match v {
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

/// The rows of the auth block of a response (`token`, `token_accessor`, ...).
pub(crate) fn auth_rows(auth: &Map<String, Value>) -> Vec<(String, String)> {
    let text = |k: &str| auth.get(k).map(value_text).unwrap_or_default();
    let mut rows = vec![
        ("token".to_owned(), text("client_token")),
        ("token_accessor".to_owned(), text("accessor")),
        (
            "token_duration".to_owned(),
            match u64_of(auth.get("lease_duration")) {
                0 => "∞".to_owned(),
                s => human_duration(s),
            },
        ),
        ("token_renewable".to_owned(), text("renewable")),
        (
            "token_policies".to_owned(),
            quoted_list(auth.get("token_policies")),
        ),
        (
            "identity_policies".to_owned(),
            quoted_list(auth.get("identity_policies")),
        ),
        ("policies".to_owned(), quoted_list(auth.get("policies"))),
    ];
    if let Some(Value::Object(meta)) = auth.get("metadata") {
        let mut keys: Vec<&String> = meta.keys().collect();
        keys.sort();
        for k in keys {
            rows.push((format!("token_meta_{k}"), value_text(&meta[k])));
        }
    }
    rows
}

/// The rows Vault's table view shows for a secret: lease facts, the auth block, then the
/// `data` keys sorted.
pub(crate) fn secret_rows(secret: &Value) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    let lease = u64_of(secret.get("lease_duration"));
    let lease_id = secret
        .get("lease_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if lease > 0 {
        if lease_id.is_empty() {
            rows.push(("refresh_interval".to_owned(), human_duration(lease)));
        } else {
            rows.push(("lease_id".to_owned(), lease_id.to_owned()));
            rows.push(("lease_duration".to_owned(), human_duration(lease)));
            rows.push((
                "lease_renewable".to_owned(),
                secret.get("renewable").map(value_text).unwrap_or_default(),
            ));
        }
    }
    if let Some(Value::Object(auth)) = secret.get("auth") {
        rows.extend(auth_rows(auth));
    }
    if let Some(Value::Object(data)) = secret.get("data") {
        rows.extend(map_rows(data));
    }
    rows
}

/// Sorted `key → cell` rows of a map.
pub(crate) fn map_rows(data: &Map<String, Value>) -> Vec<(String, String)> {
    let mut keys: Vec<&String> = data.keys().collect();
    keys.sort();
    keys.into_iter()
        .map(|k| (k.clone(), cell(&data[k])))
        .collect()
}

/// The value of `-field=NAME` in a secret: auth fields by their table names, else a `data`
/// key. Strings come out raw, everything else as [`value_text`].
pub(crate) fn field(secret: &Value, name: &str) -> Option<String> {
    if let Some(Value::Object(auth)) = secret.get("auth") {
        let key = match name {
            "token" => Some("client_token"),
            "token_accessor" => Some("accessor"),
            "token_duration" => Some("lease_duration"),
            "token_renewable" => Some("renewable"),
            "token_policies" | "identity_policies" | "policies" => Some(name),
            _ => None,
        };
        if let Some(v) = key.and_then(|k| auth.get(k)) {
            return Some(value_text(v));
        }
    }
    secret
        .get("data")
        .and_then(|d| d.get(name))
        .or_else(|| match name {
            "lease_id" | "lease_duration" | "renewable" | "refresh_interval" => {
                secret.get(if name == "refresh_interval" {
                    "lease_duration"
                } else {
                    name
                })
            }
            _ => None,
        })
        .map(value_text)
}

/// Vault's JSON output: the response indented by two spaces, with empty envelope parts
/// (`auth`, `wrap_info`, `mount_type`) left out when null.
pub(crate) fn json(v: &Value) -> String {
    let mut v = v.clone();
    if let Value::Object(o) = &mut v {
        for k in ["auth", "wrap_info"] {
            if o.get(k).is_some_and(Value::is_null) {
                o.remove(k);
            }
        }
    }
    let mut s = serde_json::to_string_pretty(&v).unwrap_or_else(|_| v.to_string());
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_aligns_columns_with_four_space_glue() {
        let t = kv_table(&[
            ("refresh_interval".into(), "768h".into()),
            ("foo".into(), "bar".into()),
        ]);
        assert_eq!(
            t,
            "Key                 Value\n---                 -----\nrefresh_interval    768h\nfoo                 bar\n"
        );
        let t = table(
            Some(&["Node", "Address", "State", "Voter"]),
            &[vec![
                "n1".into(),
                "10.0.0.1:8201".into(),
                "leader".into(),
                "true".into(),
            ]],
        );
        assert_eq!(
            t,
            "Node    Address          State     Voter\n----    -------          -----     -----\nn1      10.0.0.1:8201    leader    true\n"
        );
        assert_eq!(table(None, &[vec!["a".into(), "".into()]]), "a\n");
    }

    #[test]
    fn headers_are_padded_to_width() {
        assert_eq!(header("Data", 0), "== Data ==");
        let h = header("Data", 20);
        assert_eq!(h.chars().count(), 20);
        assert!(h.starts_with("====") && h.contains(" Data ") && h.ends_with('='));
    }

    #[test]
    fn go_like_values() {
        assert_eq!(value_text(&json!(null)), "<nil>");
        assert_eq!(value_text(&json!([1, "a", true])), "[1 a true]");
        assert_eq!(
            value_text(&json!({"b": 1, "a": {"c": "d"}})),
            "map[a:map[c:d] b:1]"
        );
        assert_eq!(cell(&json!("")), "n/a");
        assert_eq!(
            quoted_list(Some(&json!(["default", "x"]))),
            r#"["default" "x"]"#
        );
        assert_eq!(quoted_list(None), "[]");
    }

    #[test]
    fn durations_drop_zero_units() {
        assert_eq!(human_duration(768 * 3600), "768h");
        assert_eq!(human_duration(90), "1m30s");
        assert_eq!(human_duration(60), "1m");
        assert_eq!(human_duration(3661), "1h1m1s");
        assert_eq!(human_duration(0), "0s");
    }

    #[test]
    fn secret_rows_and_fields() {
        let s = json!({"lease_id":"","lease_duration":2764800,"renewable":false,
            "data":{"zeta":"1","alpha":"x"},"auth":null});
        let rows = secret_rows(&s);
        assert_eq!(rows[0], ("refresh_interval".into(), "768h".into()));
        assert_eq!(rows[1].0, "alpha");
        assert_eq!(rows[2].0, "zeta");
        assert_eq!(field(&s, "zeta").as_deref(), Some("1"));
        assert_eq!(field(&s, "missing"), None);

        let a = json!({"lease_duration":0,"data":null,"auth":{"client_token":"s.abc","accessor":"acc",
            "lease_duration":3600,"renewable":true,"policies":["default"],"token_policies":["default"],
            "metadata":{"user":"bob"}}});
        let rows = secret_rows(&a);
        assert_eq!(rows[0], ("token".into(), "s.abc".into()));
        assert_eq!(rows[2], ("token_duration".into(), "1h".into()));
        assert_eq!(rows[4], ("token_policies".into(), r#"["default"]"#.into()));
        assert!(rows.contains(&("token_meta_user".into(), "bob".into())));
        assert_eq!(field(&a, "token").as_deref(), Some("s.abc"));
        assert_eq!(field(&a, "token_accessor").as_deref(), Some("acc"));
    }

    #[test]
    fn json_drops_null_envelope_parts() {
        let out = json(&json!({"data":{"a":1},"auth":null,"wrap_info":null,"warnings":null}));
        assert!(!out.contains("auth"));
        assert!(out.contains("\"warnings\": null"));
        assert!(out.ends_with("}\n"));
    }
}
