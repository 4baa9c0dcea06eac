//! The JSON shapes KV v2 answers with (field names as Vault's API has them).

use serde_json::{Map, Value, json};
use tresor_sdk::duration::format_secs;

use super::model::{Config, KeyMeta, VersionMeta};
use crate::clock::rfc3339;

fn deletion_time(vm: &VersionMeta) -> String {
    vm.deletion_ns.map(rfc3339).unwrap_or_default()
}

fn custom_metadata(meta: &KeyMeta) -> Value {
    match &meta.custom_metadata {
        Some(m) => json!(m),
        None => Value::Null,
    }
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// `{created_time, custom_metadata, deletion_time, destroyed, version}` of one version.
pub(crate) fn version(meta: &KeyMeta, number: u64, vm: &VersionMeta) -> Map<String, Value> {
    object(json!({
        "created_time": rfc3339(vm.created_ns),
        "custom_metadata": custom_metadata(meta),
        "deletion_time": deletion_time(vm),
        "destroyed": vm.destroyed,
        "version": number,
    }))
}

/// The answer of `GET metadata/<path>`.
pub(crate) fn metadata(meta: &KeyMeta) -> Map<String, Value> {
    let versions: Map<String, Value> = meta
        .versions
        .iter()
        .map(|(n, vm)| {
            (
                n.to_string(),
                json!({
                    "created_time": rfc3339(vm.created_ns),
                    "deletion_time": deletion_time(vm),
                    "destroyed": vm.destroyed,
                }),
            )
        })
        .collect();
    object(json!({
        "cas_required": meta.cas_required,
        "created_time": rfc3339(meta.created_ns),
        "current_version": meta.current_version,
        "custom_metadata": custom_metadata(meta),
        "delete_version_after": format_secs(meta.delete_version_after),
        "max_versions": meta.max_versions,
        "oldest_version": meta.oldest_version,
        "updated_time": rfc3339(meta.updated_ns),
        "versions": versions,
    }))
}

/// The answer of `GET config`.
pub(crate) fn config(config: &Config) -> Map<String, Value> {
    object(json!({
        "cas_required": config.cas_required,
        "delete_version_after": format_secs(config.delete_version_after),
        "max_versions": config.max_versions,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn version_and_metadata_shapes() {
        let mut m = KeyMeta::new(1_521_685_446_000_000_000);
        m.add_version(&Config::default(), 1_521_685_446_945_319_214);
        m.soft_delete(&[1], 1_521_685_447_000_000_000);
        let v = version(&m, 1, &m.versions[&1]);
        assert_eq!(
            Value::Object(v),
            json!({
                "created_time": "2018-03-22T02:24:06.945319214Z",
                "custom_metadata": null,
                "deletion_time": "2018-03-22T02:24:07Z",
                "destroyed": false,
                "version": 1,
            })
        );
        m.custom_metadata = Some(BTreeMap::from([("k".into(), "v".into())]));
        m.delete_version_after = 90;
        let md = metadata(&m);
        assert_eq!(md["custom_metadata"], json!({"k": "v"}));
        assert_eq!(md["delete_version_after"], json!("1m30s"));
        assert_eq!(md["current_version"], json!(1));
        assert_eq!(md["created_time"], json!("2018-03-22T02:24:06Z"));
        assert_eq!(md["updated_time"], json!("2018-03-22T02:24:07Z"));
        assert_eq!(
            md["versions"]["1"],
            json!({"created_time": "2018-03-22T02:24:06.945319214Z",
                   "deletion_time": "2018-03-22T02:24:07Z", "destroyed": false})
        );
    }

    #[test]
    fn config_shape() {
        let c = config(&Config {
            max_versions: 5,
            cas_required: true,
            delete_version_after: 1800,
        });
        assert_eq!(
            Value::Object(c),
            json!({"cas_required": true, "delete_version_after": "30m0s", "max_versions": 5})
        );
    }
}
