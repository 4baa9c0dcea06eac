//! What a device records in place of a sensitive string: `hmac-sha256:<hex>` of HMAC-SHA256
//! keyed with the device's own salt. Anyone with `sys/audit-hash` can compute the same value
//! for a string they know and search the log for it; nobody can read it back.

use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

/// The prefix of every hashed value.
pub const PREFIX: &str = "hmac-sha256:";

/// Hashes strings with one device's salt.
#[derive(Clone)]
pub struct Hasher {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hasher(..)")
    }
}

impl Hasher {
    /// A hasher keyed with `salt` (any length).
    pub fn new(salt: &[u8]) -> Self {
        // HMAC accepts keys of any length; the error branch cannot be taken.
        let mac = match Hmac::<Sha256>::new_from_slice(salt) {
            Ok(mac) => mac,
            Err(_) => unreachable_key_length(),
        };
        Self { mac }
    }

    /// `hmac-sha256:<hex>` of `input`.
    pub fn hash(&self, input: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(input.as_bytes());
        format!("{PREFIX}{}", hex::encode(mac.finalize().into_bytes()))
    }

    /// Hashes, in place, every string anywhere inside `map` (objects and arrays at any depth;
    /// numbers, booleans and nulls stay), except the values of the top-level keys in `keep`.
    pub fn hash_map(&self, map: &mut Map<String, Value>, keep: &[String]) {
        for (key, value) in map.iter_mut() {
            if !keep.iter().any(|k| k == key) {
                self.hash_value(value);
            }
        }
    }

    /// Hashes every string inside `value`.
    pub fn hash_value(&self, value: &mut Value) {
        // An explicit stack: request data is bounded in depth by the JSON limits, but the
        // hasher does not rely on it.
        let mut stack = vec![value];
        while let Some(v) = stack.pop() {
            match v {
                Value::String(s) => *s = self.hash(s),
                Value::Array(items) => stack.extend(items.iter_mut()),
                Value::Object(map) => stack.extend(map.values_mut()),
                Value::Null | Value::Bool(_) | Value::Number(_) => {}
            }
        }
    }
}

#[cold]
fn unreachable_key_length() -> ! {
    // `Hmac::new_from_slice` only fails for MACs with a fixed key size; HMAC has none.
    panic!("HMAC-SHA256 refused a key")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn known_answer() {
        // RFC 4231 test case 2: key "Jefe".
        let h = Hasher::new(b"Jefe");
        assert_eq!(
            h.hash("what do ya want for nothing?"),
            "hmac-sha256:5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn salts_differ() {
        assert_ne!(Hasher::new(b"a").hash("x"), Hasher::new(b"b").hash("x"));
    }

    #[test]
    fn strings_at_any_depth_are_hashed_and_kept_keys_stay() {
        let h = Hasher::new(b"salt");
        let mut v = json!({
            "password": "hunter2",
            "n": 5,
            "flag": true,
            "nested": {"list": ["a", {"b": "c"}], "none": null},
            "plain": "visible",
        });
        let Value::Object(map) = &mut v else {
            panic!("object")
        };
        h.hash_map(map, &["plain".to_owned()]);
        assert_eq!(v["password"], json!(h.hash("hunter2")));
        assert_eq!(v["n"], json!(5));
        assert_eq!(v["flag"], json!(true));
        assert_eq!(v["nested"]["list"][0], json!(h.hash("a")));
        assert_eq!(v["nested"]["list"][1]["b"], json!(h.hash("c")));
        assert_eq!(v["nested"]["none"], Value::Null);
        assert_eq!(v["plain"], json!("visible"));
    }
}
