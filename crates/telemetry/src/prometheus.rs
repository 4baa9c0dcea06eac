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

/// `labels` plus one more label last (`quantile`, `le`), as `{a="1",le="0.5"}`.
fn label_set_with(labels: &[(String, String)], name: &str, v: &str) -> String {
    let mut all = labels.to_vec();
    all.push((name.to_owned(), v.to_owned()));
    label_set(&all)
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
/// samples (summaries as their quantiles 0.5, 0.9 and 0.99 over the recent window, `_sum`
/// and `_count`; histograms as cumulative `_bucket`s with `le`, `_sum` and `_count`). Series older than
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
            let base = opts.labels_of(&s.labels);
            let labels = label_set(&base);
            match &s.value {
                SeriesValue::Gauge(v) => {
                    let _ = writeln!(out, "{name}{labels} {}", value(*v));
                }
                SeriesValue::Counter(agg) => {
                    let _ = writeln!(out, "{name}{labels} {}", value(agg.sum));
                }
                SeriesValue::Summary(agg) => {
                    for (q, v) in &s.quantiles {
                        let with_q = label_set_with(&base, "quantile", &value(*q));
                        let _ = writeln!(out, "{name}{with_q} {}", value(*v));
                    }
                    let _ = writeln!(out, "{name}_sum{labels} {}", value(agg.sum));
                    let _ = writeln!(out, "{name}_count{labels} {}", agg.count);
                }
                SeriesValue::Histogram(h) => {
                    for (bound, n) in &h.buckets {
                        let with_le = label_set_with(&base, "le", &value(*bound));
                        let _ = writeln!(out, "{name}_bucket{with_le} {n}");
                    }
                    let with_le = label_set_with(&base, "le", "+Inf");
                    let _ = writeln!(out, "{name}_bucket{with_le} {}", h.count);
                    let _ = writeln!(out, "{name}_sum{labels} {}", value(h.sum));
                    let _ = writeln!(out, "{name}_count{labels} {}", h.count);
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
vault_seal_encrypt_time{seal_wrapper_name=\"awskms-1\",quantile=\"0.5\"} 1.5
vault_seal_encrypt_time{seal_wrapper_name=\"awskms-1\",quantile=\"0.9\"} 2.5
vault_seal_encrypt_time{seal_wrapper_name=\"awskms-1\",quantile=\"0.99\"} 2.5
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

    #[test]
    fn histograms_render_cumulative_buckets_sum_and_count() {
        const H: crate::MetricDef =
            crate::MetricDef::histogram("test.latency_seconds", "a histogram", &[0.1, 1.0]);
        let m = Metrics::new();
        let h = m.histogram(&H, &[("peer_id", "n2")]);
        for v in [0.05, 0.1, 0.5, 3.0] {
            h.observe(v);
        }
        m.histogram(&H, &[("peer_id", "n3")]);
        let text = render(&m.snapshot(), &RenderOptions::default());
        let expected = "\
# HELP vault_test_latency_seconds a histogram
# TYPE vault_test_latency_seconds histogram
vault_test_latency_seconds_bucket{peer_id=\"n2\",le=\"0.1\"} 2
vault_test_latency_seconds_bucket{peer_id=\"n2\",le=\"1\"} 3
vault_test_latency_seconds_bucket{peer_id=\"n2\",le=\"+Inf\"} 4
vault_test_latency_seconds_sum{peer_id=\"n2\"} 3.65
vault_test_latency_seconds_count{peer_id=\"n2\"} 4
vault_test_latency_seconds_bucket{peer_id=\"n3\",le=\"0.1\"} 0
vault_test_latency_seconds_bucket{peer_id=\"n3\",le=\"1\"} 0
vault_test_latency_seconds_bucket{peer_id=\"n3\",le=\"+Inf\"} 0
vault_test_latency_seconds_sum{peer_id=\"n3\"} 0
vault_test_latency_seconds_count{peer_id=\"n3\"} 0
";
        assert_eq!(text, expected);
    }

    #[test]
    fn the_real_histogram_names_render_as_the_seed_rules_read_them() {
        let m = Metrics::new();
        for def in [
            &names::CORE_HANDLE_REQUEST_DURATION,
            &names::AUDIT_LOG_REQUEST_DURATION,
            &names::AUDIT_LOG_RESPONSE_DURATION,
            &names::RAFT_COMMIT_TIME_DURATION,
        ] {
            m.histogram(def, &[]).observe(0.003);
        }
        m.gauge(&names::RAFT_LEADER_LAST_CONTACT_SECONDS, &[])
            .set(0.25);
        let text = render(&m.snapshot(), &RenderOptions::default());
        for line in [
            "vault_core_handle_request_duration_seconds_bucket{le=\"0.005\"} 1",
            "vault_core_handle_request_duration_seconds_bucket{le=\"0.0025\"} 0",
            "vault_core_handle_request_duration_seconds_count 1",
            "vault_audit_log_request_duration_seconds_bucket{le=\"+Inf\"} 1",
            "vault_audit_log_response_duration_seconds_sum 0.003",
            "vault_raft_commitTime_duration_seconds_bucket{le=\"10\"} 1",
            "vault_raft_leader_lastContact_seconds 0.25",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
    }

    #[test]
    fn empty_summaries_report_nan_quantiles() {
        let m = Metrics::new();
        m.summary(&names::CORE_HANDLE_REQUEST, &[]);
        let text = render(&m.snapshot(), &RenderOptions::default());
        assert!(
            text.contains("\nvault_core_handle_request{quantile=\"0.99\"} NaN\n"),
            "{text}"
        );
        assert!(text.contains("\nvault_core_handle_request_count 0\n"));
    }

    #[test]
    fn retention_drops_stale_summaries_and_histograms_too() {
        let m = Metrics::new();
        m.summary(&names::RAFT_COMMIT_TIME, &[]).observe(1.0);
        m.histogram(&names::RAFT_COMMIT_TIME_DURATION, &[])
            .observe(0.001);
        m.counter(&names::RAFT_APPLY, &[]).inc();
        let mut snap = m.snapshot();
        for f in &mut snap.families {
            if f.def.name != names::RAFT_APPLY.name {
                f.series[0].age = Duration::from_secs(61);
            }
        }
        let opts = RenderOptions {
            retention: Some(Duration::from_secs(60)),
            ..RenderOptions::default()
        };
        let text = render(&snap, &opts);
        assert!(!text.contains("commitTime"), "{text}");
        assert!(text.contains("\nvault_raft_apply 1\n"), "{text}");
        // Exactly at the retention a series is still shown.
        for f in &mut snap.families {
            f.series[0].age = Duration::from_secs(60);
        }
        let text = render(&snap, &opts);
        assert!(text.contains("vault_raft_commitTime_count 1"), "{text}");
    }
}
