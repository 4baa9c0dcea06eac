//! One named automated-snapshot configuration: parsing a request body into it (create or
//! update), validating it, and rendering it the way `sys/storage/raft/snapshot-auto/config`
//! reads answer. Pure: no I/O.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tresor_sdk::fields;

use crate::error::ConfigError;

/// `file_prefix` when none is given.
pub const DEFAULT_FILE_PREFIX: &str = "vault-snapshot";
/// `retain` when none is given.
pub const DEFAULT_RETAIN: u64 = 1;
/// Longest config name accepted.
pub const MAX_NAME_LEN: usize = 128;
/// Longest string field accepted (prefixes, bucket, endpoint, keys).
pub const MAX_FIELD_LEN: usize = 1024;
/// Most snapshots a config may keep.
pub const MAX_RETAIN: u64 = 10_000;
/// Longest interval accepted (ten years): keeps every time computation in range.
pub const MAX_INTERVAL_SECS: u64 = 10 * 365 * 24 * 3600;

/// Where a config's snapshots go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StorageType {
    /// A directory on the active node's disk.
    #[serde(rename = "local")]
    Local,
    /// An S3 bucket (or an S3-compatible service).
    #[serde(rename = "aws-s3")]
    AwsS3,
}

impl StorageType {
    /// The API name (`local`, `aws-s3`).
    pub fn as_str(self) -> &'static str {
        match self {
            StorageType::Local => "local",
            StorageType::AwsS3 => "aws-s3",
        }
    }

    fn parse(s: &str) -> Result<StorageType, ConfigError> {
        match s {
            "local" => Ok(StorageType::Local),
            "aws-s3" => Ok(StorageType::AwsS3),
            "azure-blob" | "google-gcs" => Err(ConfigError::field(
                "storage_type",
                format!("{s:?} is not supported by this server; use \"local\" or \"aws-s3\""),
            )),
            other => Err(ConfigError::field(
                "storage_type",
                format!("unknown storage type {other:?}; use \"local\" or \"aws-s3\""),
            )),
        }
    }
}

/// The `aws_s3_*` settings of an `aws-s3` config.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct S3Settings {
    /// `aws_s3_bucket`.
    pub bucket: String,
    /// `aws_s3_region`.
    pub region: String,
    /// `aws_s3_endpoint`: an S3-compatible service instead of AWS (empty: AWS).
    #[serde(default)]
    pub endpoint: String,
    /// `aws_s3_disable_tls`: talk plain HTTP to `endpoint` (testing only).
    #[serde(default)]
    pub disable_tls: bool,
    /// `aws_s3_force_path_style`: `endpoint/bucket/key` addressing instead of
    /// `bucket.endpoint/key`.
    #[serde(default)]
    pub force_path_style: bool,
    /// `aws_s3_enable_kms`: server-side encryption with KMS.
    #[serde(default)]
    pub enable_kms: bool,
    /// `aws_s3_kms_key`: the KMS key for `enable_kms` (empty: the bucket's default key).
    #[serde(default)]
    pub kms_key: String,
    /// `aws_s3_server_side_encryption`: server-side encryption with S3-managed keys (AES256).
    #[serde(default)]
    pub server_side_encryption: bool,
    /// `aws_access_key_id` (empty: the AWS default credential chain).
    #[serde(default)]
    pub access_key_id: String,
    /// `aws_secret_access_key` (never read back).
    #[serde(default)]
    pub secret_access_key: String,
    /// `aws_session_token` (never read back).
    #[serde(default)]
    pub session_token: String,
}

/// One named configuration, as stored in the barrier.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoSnapshotConfig {
    /// The name (the last path segment).
    pub name: String,
    /// Seconds between snapshots (at least 1).
    pub interval_secs: u64,
    /// How many snapshots to keep (at least 1).
    pub retain: u64,
    /// The directory (local) or key prefix (S3).
    pub path_prefix: String,
    /// File names start with this, then `-<timestamp>.snap`.
    pub file_prefix: String,
    /// Where the snapshots go.
    pub storage_type: StorageType,
    /// Local only: the most bytes all of this config's snapshots may take (0: no limit).
    #[serde(default)]
    pub local_max_space: u64,
    /// S3 only.
    #[serde(default)]
    pub s3: Option<S3Settings>,
    /// When the config was first written (unix milliseconds): the first snapshot is due one
    /// interval after it.
    pub created_ms: i64,
}

/// Checks a config name taken from the request path.
pub fn validate_name(name: &str) -> Result<(), ConfigError> {
    if name.is_empty() {
        return Err(ConfigError::field("name", "must not be empty"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(ConfigError::field(
            "name",
            format!("must be at most {MAX_NAME_LEN} bytes"),
        ));
    }
    if name.contains('/') || name.chars().any(char::is_control) {
        return Err(ConfigError::field(
            "name",
            "must not contain '/' or control characters",
        ));
    }
    Ok(())
}

fn lenient<T>(r: Result<T, tresor_sdk::LogicalError>, field: &'static str) -> Result<T, String> {
    r.map_err(|e| match e {
        tresor_sdk::LogicalError::InvalidRequest(m) => m,
        other => format!("{field}: {other}"),
    })
}

/// Collects every problem of one request instead of stopping at the first.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn push(&mut self, field: &str, msg: impl std::fmt::Display) {
        self.0.push(format!("{field}: {msg}"));
    }

    fn take<T>(&mut self, r: Result<T, String>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(m) => {
                self.0.push(m);
                None
            }
        }
    }
}

fn string_field(
    p: &mut Problems,
    data: &Map<String, Value>,
    field: &'static str,
) -> Option<String> {
    let v = p.take(lenient(fields::get_str(data, field), field))??;
    if v.len() > MAX_FIELD_LEN {
        p.push(field, format!("must be at most {MAX_FIELD_LEN} bytes"));
        return None;
    }
    if v.chars().any(char::is_control) {
        p.push(field, "must not contain control characters");
        return None;
    }
    Some(v)
}

fn bool_field(p: &mut Problems, data: &Map<String, Value>, field: &'static str) -> Option<bool> {
    p.take(lenient(fields::get_bool(data, field), field))?
}

fn u64_field(p: &mut Problems, data: &Map<String, Value>, field: &'static str) -> Option<u64> {
    p.take(lenient(fields::get_u64(data, field), field))?
}

/// The fields this endpoint knows; anything else is refused so a typo does not go unnoticed.
const KNOWN_FIELDS: &[&str] = &[
    "interval",
    "retain",
    "path_prefix",
    "file_prefix",
    "storage_type",
    "local_max_space",
    "aws_s3_bucket",
    "aws_s3_region",
    "aws_s3_endpoint",
    "aws_s3_disable_tls",
    "aws_s3_force_path_style",
    "aws_s3_enable_kms",
    "aws_s3_kms_key",
    "aws_s3_server_side_encryption",
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "autoload_enabled",
];

/// Builds the config a write of `data` to `name` asks for. `existing` is the stored config
/// (an update keeps every field the body leaves out; `storage_type` cannot change);
/// `now_ms` stamps a new config's creation. Every problem is reported, each naming its field.
pub fn parse_config(
    name: &str,
    existing: Option<&AutoSnapshotConfig>,
    data: &Map<String, Value>,
    now_ms: i64,
) -> Result<AutoSnapshotConfig, ConfigError> {
    validate_name(name)?;
    let mut p = Problems::default();
    for key in data.keys() {
        if !KNOWN_FIELDS.contains(&key.as_str()) {
            p.push(key, "unknown field");
        }
    }

    let interval = p.take(lenient(fields::get_duration(data, "interval"), "interval"));
    let retain = u64_field(&mut p, data, "retain");
    let path_prefix = string_field(&mut p, data, "path_prefix");
    let file_prefix = string_field(&mut p, data, "file_prefix");
    let storage_type = string_field(&mut p, data, "storage_type");
    let local_max_space = u64_field(&mut p, data, "local_max_space");
    // Vault 1.21's `autoload_enabled` (load the latest snapshot for recovery operations) has
    // no counterpart here: `false` is accepted so that clients sending it keep working.
    if bool_field(&mut p, data, "autoload_enabled") == Some(true) {
        p.push("autoload_enabled", "is not supported by this server");
    }

    let mut cfg = match existing {
        Some(e) => e.clone(),
        None => AutoSnapshotConfig {
            name: name.to_owned(),
            interval_secs: 0,
            retain: DEFAULT_RETAIN,
            path_prefix: String::new(),
            file_prefix: DEFAULT_FILE_PREFIX.to_owned(),
            storage_type: StorageType::Local,
            local_max_space: 0,
            s3: None,
            created_ms: now_ms,
        },
    };

    match (interval.flatten(), existing) {
        (Some(secs), _) => cfg.interval_secs = secs,
        (None, None) if !data.contains_key("interval") => p.push("interval", "is required"),
        _ => {}
    }
    if let Some(r) = retain {
        cfg.retain = r;
    }
    match (path_prefix, existing) {
        (Some(v), _) => cfg.path_prefix = v,
        (None, None) if !data.contains_key("path_prefix") => p.push("path_prefix", "is required"),
        _ => {}
    }
    if let Some(v) = file_prefix {
        cfg.file_prefix = v;
    }
    match (storage_type, existing) {
        (Some(s), Some(e)) => {
            if let Some(t) = p.take(StorageType::parse(&s).map_err(|e| e.to_string()))
                && t != e.storage_type
            {
                p.push(
                    "storage_type",
                    format!(
                        "cannot be changed after creation (is {:?}); delete the config and \
                         write a new one",
                        e.storage_type.as_str()
                    ),
                );
            }
        }
        (Some(s), None) => {
            if let Some(t) = p.take(StorageType::parse(&s).map_err(|e| e.to_string())) {
                cfg.storage_type = t;
            }
        }
        (None, None) if !data.contains_key("storage_type") => p.push("storage_type", "is required"),
        _ => {}
    }
    if let Some(v) = local_max_space {
        cfg.local_max_space = v;
    }

    let s3_given: Vec<&str> = KNOWN_FIELDS
        .iter()
        .copied()
        .filter(|f| f.starts_with("aws_") && data.contains_key(*f))
        .collect();
    match cfg.storage_type {
        StorageType::Local => {
            cfg.s3 = None;
            for f in s3_given {
                p.push(f, "only applies to storage_type \"aws-s3\"");
            }
        }
        StorageType::AwsS3 => {
            if data.contains_key("local_max_space") {
                p.push("local_max_space", "only applies to storage_type \"local\"");
            }
            let mut s3 = cfg.s3.take().unwrap_or_default();
            if let Some(v) = string_field(&mut p, data, "aws_s3_bucket") {
                s3.bucket = v;
            }
            if let Some(v) = string_field(&mut p, data, "aws_s3_region") {
                s3.region = v;
            }
            if let Some(v) = string_field(&mut p, data, "aws_s3_endpoint") {
                s3.endpoint = v;
            }
            if let Some(v) = bool_field(&mut p, data, "aws_s3_disable_tls") {
                s3.disable_tls = v;
            }
            if let Some(v) = bool_field(&mut p, data, "aws_s3_force_path_style") {
                s3.force_path_style = v;
            }
            if let Some(v) = bool_field(&mut p, data, "aws_s3_enable_kms") {
                s3.enable_kms = v;
            }
            if let Some(v) = string_field(&mut p, data, "aws_s3_kms_key") {
                s3.kms_key = v;
            }
            if let Some(v) = bool_field(&mut p, data, "aws_s3_server_side_encryption") {
                s3.server_side_encryption = v;
            }
            if let Some(v) = string_field(&mut p, data, "aws_access_key_id") {
                s3.access_key_id = v;
            }
            if let Some(v) = string_field(&mut p, data, "aws_secret_access_key") {
                s3.secret_access_key = v;
            }
            if let Some(v) = string_field(&mut p, data, "aws_session_token") {
                s3.session_token = v;
            }
            cfg.s3 = Some(s3);
        }
    }

    validate_into(&cfg, &mut p);
    if p.0.is_empty() {
        Ok(cfg)
    } else {
        Err(ConfigError::Invalid(p.0))
    }
}

/// The rules on a complete config (each problem names its field).
fn validate_into(cfg: &AutoSnapshotConfig, p: &mut Problems) {
    if cfg.interval_secs == 0 && !p.0.iter().any(|m| m.starts_with("interval")) {
        p.push("interval", "must be at least 1 second");
    }
    if cfg.interval_secs > MAX_INTERVAL_SECS {
        p.push(
            "interval",
            format!("must be at most {MAX_INTERVAL_SECS} seconds"),
        );
    }
    if cfg.retain == 0 || cfg.retain > MAX_RETAIN {
        p.push("retain", format!("must be between 1 and {MAX_RETAIN}"));
    }
    if cfg.path_prefix.is_empty() && !p.0.iter().any(|m| m.starts_with("path_prefix")) {
        p.push("path_prefix", "must not be empty");
    }
    if cfg.file_prefix.is_empty() {
        p.push("file_prefix", "must not be empty");
    } else if cfg.file_prefix.contains('/') || cfg.file_prefix.starts_with('.') {
        p.push("file_prefix", "must not contain '/' or start with '.'");
    }
    if let Some(s3) = &cfg.s3 {
        if s3.bucket.is_empty() {
            p.push("aws_s3_bucket", "is required for storage_type \"aws-s3\"");
        }
        if s3.region.is_empty() {
            p.push("aws_s3_region", "is required for storage_type \"aws-s3\"");
        }
        // A bare host (`minio:9000`) is fine; a URL must be http(s).
        let scheme_ok = !s3.endpoint.contains("://")
            || s3.endpoint.starts_with("https://")
            || s3.endpoint.starts_with("http://");
        if !scheme_ok {
            p.push("aws_s3_endpoint", "must be an http(s) URL or a host name");
        }
        if !s3.kms_key.is_empty() && !s3.enable_kms {
            p.push("aws_s3_kms_key", "requires aws_s3_enable_kms=true");
        }
        if s3.enable_kms && s3.server_side_encryption {
            p.push(
                "aws_s3_server_side_encryption",
                "cannot be combined with aws_s3_enable_kms",
            );
        }
        if s3.access_key_id.is_empty() != s3.secret_access_key.is_empty() {
            p.push(
                "aws_access_key_id",
                "and aws_secret_access_key must be given together",
            );
        }
    }
}

impl AutoSnapshotConfig {
    /// The body of a read: the fields as Vault returns them (`interval` in seconds; the
    /// secret key and session token are never returned).
    pub fn to_response(&self) -> Map<String, Value> {
        let mut out = json!({
            "interval": self.interval_secs,
            "retain": self.retain,
            "path_prefix": self.path_prefix,
            "file_prefix": self.file_prefix,
            "storage_type": self.storage_type.as_str(),
        });
        if let Some(map) = out.as_object_mut() {
            match (&self.storage_type, &self.s3) {
                (StorageType::Local, _) => {
                    map.insert("local_max_space".into(), json!(self.local_max_space));
                }
                (StorageType::AwsS3, s3) => {
                    let s3 = s3.clone().unwrap_or_default();
                    for (k, v) in [
                        ("aws_s3_bucket", json!(s3.bucket)),
                        ("aws_s3_region", json!(s3.region)),
                        ("aws_s3_endpoint", json!(s3.endpoint)),
                        ("aws_s3_disable_tls", json!(s3.disable_tls)),
                        ("aws_s3_force_path_style", json!(s3.force_path_style)),
                        ("aws_s3_enable_kms", json!(s3.enable_kms)),
                        ("aws_s3_kms_key", json!(s3.kms_key)),
                        (
                            "aws_s3_server_side_encryption",
                            json!(s3.server_side_encryption),
                        ),
                        ("aws_access_key_id", json!(s3.access_key_id)),
                    ] {
                        map.insert(k.into(), v);
                    }
                }
            }
        }
        match out {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    /// The interval as a [`std::time::Duration`].
    pub fn interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.interval_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn problems(r: Result<AutoSnapshotConfig, ConfigError>) -> Vec<String> {
        match r {
            Err(ConfigError::Invalid(p)) => p,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn local_config_with_defaults() {
        let c = parse_config(
            "daily",
            None,
            &body(json!({"interval": "24h", "path_prefix": "/snaps", "storage_type": "local"})),
            1000,
        )
        .unwrap();
        assert_eq!(c.interval_secs, 86_400);
        assert_eq!(c.retain, 1);
        assert_eq!(c.file_prefix, "vault-snapshot");
        assert_eq!(c.storage_type, StorageType::Local);
        assert_eq!(c.local_max_space, 0);
        assert_eq!(c.created_ms, 1000);
        let r = c.to_response();
        assert_eq!(r["interval"], json!(86_400));
        assert_eq!(r["retain"], json!(1));
        assert_eq!(r["storage_type"], json!("local"));
        assert_eq!(r["local_max_space"], json!(0));
        assert!(!r.contains_key("aws_s3_bucket"));
    }

    #[test]
    fn numbers_may_arrive_as_strings() {
        // Vault's own example sends retain and local_max_space as strings.
        let c = parse_config(
            "x",
            None,
            &body(
                json!({"interval": "120m", "retain": "7", "local_max_space": "262144000",
                         "path_prefix": "/opt/vault/", "storage_type": "local",
                         "file_prefix": "localsnappy", "autoload_enabled": "false"}),
            ),
            0,
        )
        .unwrap();
        assert_eq!(c.interval_secs, 7200);
        assert_eq!(c.retain, 7);
        assert_eq!(c.local_max_space, 262_144_000);
        assert_eq!(c.file_prefix, "localsnappy");
        let c = parse_config(
            "x",
            None,
            &body(json!({"interval": 3600, "path_prefix": "p", "storage_type": "local"})),
            0,
        )
        .unwrap();
        assert_eq!(c.interval_secs, 3600);
    }

    #[test]
    fn missing_required_fields_are_all_named() {
        let p = problems(parse_config("x", None, &body(json!({})), 0));
        for f in ["interval", "path_prefix", "storage_type"] {
            assert!(p.iter().any(|m| m.starts_with(f)), "{f} missing from {p:?}");
        }
    }

    #[test]
    fn bad_values_name_their_field() {
        let cases = [
            (json!({"interval": "soon"}), "interval"),
            (json!({"interval": 0}), "interval"),
            (json!({"retain": 0}), "retain"),
            (json!({"retain": -3}), "retain"),
            (json!({"storage_type": "floppy"}), "storage_type"),
            (json!({"storage_type": "google-gcs"}), "storage_type"),
            (json!({"file_prefix": "a/b"}), "file_prefix"),
            (json!({"local_max_space": "lots"}), "local_max_space"),
            (json!({"aws_s3_bucket": "b"}), "aws_s3_bucket"),
            (json!({"colour": "blue"}), "colour"),
            (json!({"autoload_enabled": true}), "autoload_enabled"),
        ];
        for (extra, field) in cases {
            let mut b = body(json!({"interval": 60, "path_prefix": "/p", "storage_type": "local"}));
            b.extend(body(extra.clone()));
            let p = problems(parse_config("x", None, &b, 0));
            assert!(
                p.iter().any(|m| m.contains(field)),
                "{extra} should name {field}: {p:?}"
            );
        }
    }

    #[test]
    fn s3_needs_bucket_and_region() {
        let p = problems(parse_config(
            "s3",
            None,
            &body(json!({"interval": 60, "path_prefix": "snaps", "storage_type": "aws-s3"})),
            0,
        ));
        assert!(p.iter().any(|m| m.starts_with("aws_s3_bucket")), "{p:?}");
        assert!(p.iter().any(|m| m.starts_with("aws_s3_region")), "{p:?}");
        let c = parse_config(
            "s3",
            None,
            &body(
                json!({"interval": 60, "path_prefix": "snaps", "storage_type": "aws-s3",
                "aws_s3_bucket": "b", "aws_s3_region": "eu-west-1",
                "aws_s3_force_path_style": "true", "aws_s3_enable_kms": true,
                "aws_s3_kms_key": "alias/k", "aws_secret_access_key": "s",
                "aws_access_key_id": "a"}),
            ),
            0,
        )
        .unwrap();
        let r = c.to_response();
        assert_eq!(r["aws_s3_bucket"], json!("b"));
        assert_eq!(r["aws_s3_force_path_style"], json!(true));
        assert_eq!(r["aws_s3_kms_key"], json!("alias/k"));
        assert_eq!(r["aws_access_key_id"], json!("a"));
        assert!(!r.contains_key("aws_secret_access_key"));
        assert!(!r.contains_key("local_max_space"));
    }

    #[test]
    fn update_keeps_unsent_fields_and_storage_type_is_immutable() {
        let c = parse_config(
            "x",
            None,
            &body(
                json!({"interval": 60, "path_prefix": "/p", "storage_type": "local",
                         "retain": 3}),
            ),
            5,
        )
        .unwrap();
        let u = parse_config("x", Some(&c), &body(json!({"interval": "2m"})), 99).unwrap();
        assert_eq!(u.interval_secs, 120);
        assert_eq!(u.retain, 3);
        assert_eq!(u.path_prefix, "/p");
        assert_eq!(u.created_ms, 5, "an update keeps the creation time");
        let same = parse_config("x", Some(&c), &body(json!({"storage_type": "local"})), 0);
        assert!(same.is_ok());
        let p = problems(parse_config(
            "x",
            Some(&c),
            &body(json!({"storage_type": "aws-s3"})),
            0,
        ));
        assert!(p.iter().any(|m| m.starts_with("storage_type")), "{p:?}");
    }

    #[test]
    fn names_are_checked() {
        assert!(validate_name("daily-1").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name("a/b").is_err());
        assert!(validate_name("a\u{0}b").is_err());
        assert!(validate_name(&"n".repeat(MAX_NAME_LEN + 1)).is_err());
    }

    fn any_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            ".{0,40}".prop_map(Value::from),
            prop_oneof![
                Just("local"),
                Just("aws-s3"),
                Just("24h"),
                Just("-1"),
                Just("1e400"),
                Just("99999999999999999999"),
                Just("/tmp/x"),
                Just("a/b"),
                Just(".hidden"),
            ]
            .prop_map(Value::from),
            proptest::collection::vec(any::<i64>().prop_map(Value::from), 0..3)
                .prop_map(Value::from),
        ]
    }

    proptest::proptest! {
        #![proptest_config(tresor_testkit::props::seeded_config(512))]

        /// Hostile bodies never panic; what is accepted obeys every rule, and what is refused
        /// names a field.
        #[test]
        fn any_body_is_accepted_valid_or_refused_with_a_field(
            fields in proptest::collection::btree_map(
                proptest::sample::select(KNOWN_FIELDS.to_vec()), any_value(), 0..12),
        ) {
            let data: Map<String, Value> =
                fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            match parse_config("n", None, &data, 0) {
                Ok(c) => {
                    proptest::prop_assert!(c.interval_secs >= 1 && c.interval_secs <= MAX_INTERVAL_SECS);
                    proptest::prop_assert!(c.retain >= 1 && c.retain <= MAX_RETAIN);
                    proptest::prop_assert!(!c.path_prefix.is_empty());
                    proptest::prop_assert!(!c.file_prefix.is_empty() && !c.file_prefix.contains('/'));
                    proptest::prop_assert_eq!(c.s3.is_some(), c.storage_type == StorageType::AwsS3);
                }
                Err(ConfigError::Invalid(p)) => {
                    proptest::prop_assert!(!p.is_empty());
                    for m in p {
                        proptest::prop_assert!(
                            KNOWN_FIELDS.iter().chain(["name"].iter()).any(|f| m.contains(f)),
                            "{} names no field", m
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn stored_form_round_trips() {
        let c = parse_config(
            "x",
            None,
            &body(
                json!({"interval": 60, "path_prefix": "s", "storage_type": "aws-s3",
                         "aws_s3_bucket": "b", "aws_s3_region": "r"}),
            ),
            7,
        )
        .unwrap();
        let bytes = serde_json::to_vec(&c).unwrap();
        let back: AutoSnapshotConfig = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back, c);
    }
}
