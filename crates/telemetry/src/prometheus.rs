//! Prometheus text exposition format 0.0.4.

use std::fmt::Write as _;

use crate::snapshot::{RenderOptions, SeriesValue, Snapshot};

/// The `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A metric name as Prometheus accepts it: every character outside `[a-zA-Z0-9_:]` (the dots
/// of Vault's names) becomes `_`, and a leading digit gets a `_` in front.
pub fn metric_name(dotted: &str) -> String {
    let mut out: String = dotted
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// A label name as Prometheus accepts it (`[a-zA-Z_][a-zA-Z0-9_]*`).
pub fn label_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// A label value with `\`, `"` and line feeds escaped.
fn label_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// `# HELP` text with `\` and line feeds escaped.
fn help_text(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A sample value: `NaN`, `+Inf`, `-Inf` or the shortest decimal form.
fn value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

/// `{a="1",b="2"}`, or nothing without labels.
fn label_set(labels: &[(String, String)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{}=\"{}\"", label_name(k), label_value(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// The whole snapshot as Prometheus text: per metric a `# HELP` and a `# TYPE` line, then its
/// samples (summaries as `_sum` and `_count`, without quantiles). Series older than
/// `opts.retention` are left out, and a metric left without series is omitted.
pub fn render(snapshot: &Snapshot, opts: &RenderOptions) -> String {
    let mut out = String::new();
    for family in &snapshot.families {
        let series: Vec<_> = family
            .series
            .iter()
            .filter(|s| opts.retention.is_none_or(|r| s.age <= r))
            .collect();
        if series.is_empty() {
            continue;
        }
        let name = metric_name(&opts.full_name(&family.def));
        let _ = writeln!(out, "# HELP {name} {}", help_text(family.def.help));
        let _ = writeln!(out, "# TYPE {name} {}", family.def.kind.prometheus_type());
        for s in series {
            let labels = label_set(&opts.labels_of(&s.labels));
            match s.value {
                SeriesValue::Gauge(v) => {
                    let _ = writeln!(out, "{name}{labels} {}", value(v));
                }
                SeriesValue::Counter(agg) => {
                    let _ = writeln!(out, "{name}{labels} {}", value(agg.sum));
                }
                SeriesValue::Summary(agg) => {
                    let _ = writeln!(out, "{name}_sum{labels} {}", value(agg.sum));
                    let _ = writeln!(out, "{name}_count{labels} {}", agg.count);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{Metrics, names};

    #[test]
    fn names_and_labels_are_sanitized_and_escaped() {
        assert_eq!(metric_name("vault.core.unsealed"), "vault_core_unsealed");
        assert_eq!(metric_name("vault.seal-x.a:b"), "vault_seal_x_a:b");
        assert_eq!(metric_name("1abc"), "_1abc");
        assert_eq!(label_name("seal-name"), "seal_name");
        assert_eq!(label_name("0x"), "_0x");
        assert_eq!(label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(value(1.0), "1");
        assert_eq!(value(0.25), "0.25");
        assert_eq!(value(f64::NAN), "NaN");
        assert_eq!(value(f64::INFINITY), "+Inf");
        assert_eq!(value(f64::NEG_INFINITY), "-Inf");
    }

    #[test]
    fn renders_help_type_and_samples_per_metric() {
        let m = Metrics::new();
        m.gauge(&names::CORE_UNSEALED, &[]).set(1.0);
        let seal = [(names::SEAL_WRAPPER_NAME, "awskms-1")];
        m.counter(&names::SEAL_ENCRYPT, &seal).add(3);
        let t = m.summary(&names::SEAL_ENCRYPT_TIME, &seal);
        t.observe(1.5);
        t.observe(2.5);
        let text = render(&m.snapshot(), &RenderOptions::default());
        let expected = "\
# HELP vault_core_unsealed Whether this node is unsealed (1) or sealed (0)
# TYPE vault_core_unsealed gauge
vault_core_unsealed 1
# HELP vault_seal_encrypt Number of encrypt (wrap) operations through a seal
# TYPE vault_seal_encrypt counter
vault_seal_encrypt{seal_wrapper_name=\"awskms-1\"} 3
# HELP vault_seal_encrypt_time Time taken to encrypt (wrap) a value through a seal, ms
# TYPE vault_seal_encrypt_time summary
vault_seal_encrypt_time_sum{seal_wrapper_name=\"awskms-1\"} 4
vault_seal_encrypt_time_count{seal_wrapper_name=\"awskms-1\"} 2
";
        assert_eq!(text, expected);
    }

    #[test]
    fn hostname_options_and_retention_apply() {
        let m = Metrics::new();
        m.gauge(&names::CORE_ACTIVE, &[]).set(0.0);
        m.counter(
            &names::SEAL_AUTO_UNSEAL_FAILURE,
            &[(names::SEAL_TYPE, "awskms")],
        )
        .inc();
        let mut snap = m.snapshot();
        let opts = RenderOptions {
            hostname_prefix: Some("node-a".into()),
            host_label: Some("node-a".into()),
            ..RenderOptions::default()
        };
        let text = render(&snap, &opts);
        assert!(
            text.contains("\nvault_node_a_core_active{host=\"node-a\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "\nvault_seal_auto_unseal_failure{host=\"node-a\",seal_type=\"awskms\"} 1\n"
            ),
            "counters keep their name: {text}"
        );
        // A series not updated for longer than the retention is left out, with its header.
        snap.families[0].series[0].age = Duration::from_secs(120);
        let kept = RenderOptions {
            retention: Some(Duration::from_secs(60)),
            ..RenderOptions::default()
        };
        let text = render(&snap, &kept);
        assert!(!text.contains("core_active"), "{text}");
        assert!(text.contains("vault_seal_auto_unseal_failure{seal_type=\"awskms\"} 1"));
    }
}
