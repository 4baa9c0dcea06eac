//! Pure JSON transformations: merge patch (RFC 7396) and the subkeys view.

use serde_json::{Map, Value};

/// Applies `patch` to `target` as a JSON merge patch: objects merge recursively, `null`
/// removes a key, anything else replaces.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// The structure of `data` with every non-object leaf replaced by `null`, descending at most
/// `depth` levels (0 = no limit).
pub(crate) fn subkeys(data: &Map<String, Value>, depth: u64) -> Map<String, Value> {
    fn walk(m: &Map<String, Value>, level: u64, depth: u64) -> Map<String, Value> {
        m.iter()
            .map(|(k, v)| {
                let shape = match v {
                    Value::Object(inner) if depth == 0 || level < depth => {
                        Value::Object(walk(inner, level + 1, depth))
                    }
                    _ => Value::Null,
                };
                (k.clone(), shape)
            })
            .collect()
    }
    walk(data, 1, depth)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_semantics() {
        let mut t = json!({"a": "b", "c": {"d": "e", "f": "g"}, "keep": 1});
        merge_patch(
            &mut t,
            &json!({"a": "z", "c": {"f": null, "h": [1]}, "new": true, "gone": null}),
        );
        assert_eq!(
            t,
            json!({"a": "z", "c": {"d": "e", "h": [1]}, "keep": 1, "new": true})
        );
        let mut t = json!({"a": [1, 2]});
        merge_patch(&mut t, &json!({"a": [3]}));
        assert_eq!(t, json!({"a": [3]}), "arrays are replaced, not merged");
        let mut t = json!({"a": "s"});
        merge_patch(&mut t, &json!({"a": {"b": null, "c": 1}}));
        assert_eq!(t, json!({"a": {"c": 1}}));
    }

    #[test]
    fn subkeys_depths() {
        let d = json!({"foo": "bar", "baz": {"quux": {"x": 1}, "y": [1]}, "e": {}});
        let d = d.as_object().unwrap();
        assert_eq!(
            Value::Object(subkeys(d, 0)),
            json!({"foo": null, "baz": {"quux": {"x": null}, "y": null}, "e": {}})
        );
        assert_eq!(
            Value::Object(subkeys(d, 1)),
            json!({"foo": null, "baz": null, "e": null})
        );
        assert_eq!(
            Value::Object(subkeys(d, 2)),
            json!({"foo": null, "baz": {"quux": null, "y": null}, "e": {}})
        );
    }
}
