//! Vault's JSON format of `GET /v1/sys/metrics` (the in-memory sink's summary): `Timestamp`,
//! `Gauges`, `Points`, `Counters`, `Samples`.
//!
//! Tresor keeps totals since start rather than Vault's 10-second intervals: a counter's
//! `Count`/`Sum` are totals and `Rate` is `Sum` per second of uptime.

use std::collections::BTreeMap;

use serde::Serialize;
use time::OffsetDateTime;
use time::macros::format_description;

use crate::TelemetryError;
use crate::snapshot::{Aggregate, RenderOptions, SeriesValue, Snapshot};

/// One gauge.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GaugeValue {
    /// Dotted full name (`vault.core.unsealed`).
    pub name: String,
    /// Current value.
    pub value: f64,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

/// One counter or summary.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SampledValue {
    /// Dotted full name.
    pub name: String,
    /// Number of increments / observations.
    pub count: u64,
    /// `sum` per second of uptime.
    pub rate: f64,
    /// Total.
    pub sum: f64,
    /// Smallest increment / observation.
    pub min: f64,
    /// Largest increment / observation.
    pub max: f64,
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation.
    pub stddev: f64,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

/// A point series (Vault's `Points`; Tresor records none).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PointValue {
    /// Dotted full name.
    pub name: String,
    /// The points.
    pub points: Vec<f64>,
}

/// The whole document.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricsSummary {
    /// When it was taken, as Go prints a UTC time: `2026-01-02 15:04:05 +0000 UTC`.
    pub timestamp: String,
    /// Gauges.
    pub gauges: Vec<GaugeValue>,
    /// Points (always empty).
    pub points: Vec<PointValue>,
    /// Counters.
    pub counters: Vec<SampledValue>,
    /// Summaries (timings).
    pub samples: Vec<SampledValue>,
}

/// `t` as Go's `time.Time.String()` prints a UTC time, to the second.
pub fn go_timestamp(t: OffsetDateTime) -> String {
    let fmt = format_description!("[year]-[month]-[day] [hour]:[minute]:[second] +0000 UTC");
    t.to_offset(time::UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_default()
}

fn sampled(
    name: String,
    agg: &Aggregate,
    uptime_secs: f64,
    labels: BTreeMap<String, String>,
) -> SampledValue {
    SampledValue {
        name,
        count: agg.count,
        rate: if uptime_secs > 0.0 {
            agg.sum / uptime_secs
        } else {
            0.0
        },
        sum: agg.sum,
        min: agg.min,
        max: agg.max,
        mean: agg.mean(),
        stddev: agg.stddev(),
        labels,
    }
}

/// The snapshot as Vault's document (every series, whatever its age; histograms, which
/// Vault's format has no place for, left out).
pub fn summary(snapshot: &Snapshot, opts: &RenderOptions, now: OffsetDateTime) -> MetricsSummary {
    let uptime = snapshot.uptime.as_secs_f64();
    let mut doc = MetricsSummary {
        timestamp: go_timestamp(now),
        gauges: Vec::new(),
        points: Vec::new(),
        counters: Vec::new(),
        samples: Vec::new(),
    };
    for family in &snapshot.families {
        let name = opts.full_name(&family.def);
        for s in &family.series {
            let labels: BTreeMap<String, String> = opts.labels_of(&s.labels).into_iter().collect();
            match &s.value {
                SeriesValue::Gauge(v) => doc.gauges.push(GaugeValue {
                    name: name.clone(),
                    value: *v,
                    labels,
                }),
                SeriesValue::Counter(agg) => {
                    doc.counters
                        .push(sampled(name.clone(), agg, uptime, labels));
                }
                SeriesValue::Summary(agg) => {
                    doc.samples.push(sampled(name.clone(), agg, uptime, labels));
                }
                // Tresor's histograms are for Prometheus; the same timings are in `Samples`
                // as Vault's summaries (in ms).
                SeriesValue::Histogram(_) => {}
            }
        }
    }
    doc
}

/// [`summary`] serialized.
pub fn render(
    snapshot: &Snapshot,
    opts: &RenderOptions,
    now: OffsetDateTime,
) -> Result<String, TelemetryError> {
    Ok(serde_json::to_string(&summary(snapshot, opts, now))?)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use time::macros::datetime;

    use super::*;
    use crate::{Metrics, names};

    #[test]
    fn timestamps_print_as_go_does() {
        assert_eq!(
            go_timestamp(datetime!(2019-12-17 15:37:10.4 UTC)),
            "2019-12-17 15:37:10 +0000 UTC"
        );
        assert_eq!(
            go_timestamp(datetime!(2019-12-17 17:37:10 +02:00)),
            "2019-12-17 15:37:10 +0000 UTC"
        );
    }

    #[test]
    fn the_document_has_vaults_fields() {
        let m = Metrics::new();
        m.gauge(
            &names::SEAL_HEALTH,
            &[(names::SEAL_TYPE, "awskms"), (names::SEAL_NAME, "awskms-1")],
        )
        .set(0.0);
        let c = m.counter(
            &names::SEAL_DECRYPT_ERROR,
            &[(names::SEAL_WRAPPER_NAME, "awskms-1")],
        );
        c.inc();
        c.inc();
        m.summary(&names::SEAL_DECRYPT_TIME, &[]).observe(4.0);
        let text = render(
            &m.snapshot(),
            &RenderOptions::default(),
            datetime!(2026-01-02 03:04:05 UTC),
        )
        .unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["Timestamp"], "2026-01-02 03:04:05 +0000 UTC");
        assert_eq!(v["Points"], json!([]));
        assert_eq!(
            v["Gauges"],
            json!([{
                "Name": "vault.seal.health",
                "Value": 0.0,
                "Labels": {"seal_name": "awskms-1", "seal_type": "awskms"}
            }])
        );
        let counter = &v["Counters"][0];
        assert_eq!(counter["Name"], "vault.seal.decrypt.error");
        assert_eq!(counter["Count"], 2);
        assert_eq!(counter["Sum"], 2.0);
        assert_eq!(
            (counter["Min"].clone(), counter["Max"].clone()),
            (json!(1.0), json!(1.0))
        );
        assert_eq!(counter["Mean"], 1.0);
        assert_eq!(counter["Stddev"], 0.0);
        assert_eq!(counter["Labels"], json!({"seal_wrapper_name": "awskms-1"}));
        assert!(counter["Rate"].as_f64().unwrap() >= 0.0);
        let sample = &v["Samples"][0];
        assert_eq!(sample["Name"], "vault.seal.decrypt.time");
        assert_eq!(
            (sample["Count"].clone(), sample["Sum"].clone()),
            (json!(1), json!(4.0))
        );
        assert_eq!(sample["Labels"], json!({}));
    }
}
