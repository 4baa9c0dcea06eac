//! The crate's error type.

use crate::MetricKind;

/// What can go wrong when registering or rendering metrics.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TelemetryError {
    /// A metric name is already registered with another kind (a gauge asked for as a
    /// counter): a programming error, reported instead of mixing two kinds in one family.
    #[error("metric {name} is a {registered:?}, not a {requested:?}")]
    KindMismatch {
        /// The dotted metric name.
        name: String,
        /// The kind it was registered with first.
        registered: MetricKind,
        /// The kind asked for now.
        requested: MetricKind,
    },
    /// A gauge already has `maximum_gauge_cardinality` label sets: the new one is dropped.
    #[error("metric {name} has reached its limit of {limit} label sets")]
    CardinalityExceeded {
        /// The dotted metric name.
        name: String,
        /// The limit.
        limit: usize,
    },
    /// The JSON document could not be serialized.
    #[error("serializing metrics: {0}")]
    Json(#[from] serde_json::Error),
}
