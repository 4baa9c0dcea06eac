//! Limits on the shape of JSON request bodies (Vault's listener settings `max_json_depth`,
//! `max_json_string_value_length`, `max_json_object_entry_count`,
//! `max_json_array_element_count`), checked on the raw bytes before serde_json parses them.
//!
//! [`check`] is one iterative pass over the bytes with memory bounded by the depth limit, so
//! a body nested 100,000 deep costs a scan, never a deep recursion. serde_json additionally
//! refuses nesting deeper than 128 with a parse error, so with a `max_json_depth` above 128 the
//! effective depth limit is 128.
//!
//! The scan does not validate JSON: malformed bodies pass through to serde_json, which reports
//! the syntax error. For well-formed JSON the counts are exact.

use std::fmt;

/// The four limits, per listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonLimits {
    /// Deepest nesting of objects and arrays (`{}` at the top is depth 1).
    pub max_depth: usize,
    /// Longest string, key or value, in bytes once unescaped.
    pub max_string_value_length: usize,
    /// Most entries in one object.
    pub max_object_entry_count: usize,
    /// Most elements in one array.
    pub max_array_element_count: usize,
}

impl Default for JsonLimits {
    /// Vault's defaults: depth 300, strings of 1 MiB, 10,000 object entries and array elements.
    fn default() -> Self {
        JsonLimits {
            max_depth: 300,
            max_string_value_length: 1_048_576,
            max_object_entry_count: 10_000,
            max_array_element_count: 10_000,
        }
    }
}

/// Which limit a body exceeds. The messages are Vault's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonLimitError {
    /// Nested deeper than `max_depth`.
    Depth,
    /// A string longer than `max_string_value_length`.
    StringLength,
    /// An object with more than `max_object_entry_count` entries.
    ObjectEntries,
    /// An array with more than `max_array_element_count` elements.
    ArrayElements,
}

impl fmt::Display for JsonLimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JsonLimitError::Depth => "JSON input exceeds allowed nesting depth",
            JsonLimitError::StringLength => "JSON string value exceeds allowed length",
            JsonLimitError::ObjectEntries => "JSON object exceeds allowed entry count",
            JsonLimitError::ArrayElements => "JSON array exceeds allowed element count",
        })
    }
}

impl std::error::Error for JsonLimitError {}

/// One open object or array.
struct Container {
    is_object: bool,
    /// Entries (keys) or elements seen so far.
    count: usize,
    /// Whether the next token starts an entry (after `{`, `[` or `,`).
    expect_item: bool,
}

/// Checks `body` against `limits`, stopping at the first violation.
pub fn check(body: &[u8], limits: &JsonLimits) -> Result<(), JsonLimitError> {
    let mut stack: Vec<Container> = Vec::new();
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        if b.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        // Count the item this token starts, if it starts one.
        if let Some(top) = stack.last_mut()
            && top.expect_item
            && b != b']'
            && b != b'}'
            && b != b','
            && (!top.is_object || b == b'"')
        {
            top.expect_item = false;
            top.count += 1;
            if top.is_object && top.count > limits.max_object_entry_count {
                return Err(JsonLimitError::ObjectEntries);
            }
            if !top.is_object && top.count > limits.max_array_element_count {
                return Err(JsonLimitError::ArrayElements);
            }
        }
        match b {
            b'{' | b'[' => {
                if stack.len() >= limits.max_depth {
                    return Err(JsonLimitError::Depth);
                }
                stack.push(Container {
                    is_object: b == b'{',
                    count: 0,
                    expect_item: true,
                });
                i += 1;
            }
            b'}' | b']' => {
                stack.pop();
                i += 1;
            }
            b',' => {
                if let Some(top) = stack.last_mut() {
                    top.expect_item = true;
                }
                i += 1;
            }
            b'"' => i = skip_string(body, i + 1, limits.max_string_value_length)?,
            _ => i += 1,
        }
    }
    Ok(())
}

/// Skips a string whose body starts at `i`; returns the index after its closing quote (or the
/// end of the input). Fails when its unescaped length passes `max`.
fn skip_string(body: &[u8], mut i: usize, max: usize) -> Result<usize, JsonLimitError> {
    let mut len: usize = 0;
    while i < body.len() {
        match body[i] {
            b'"' => return Ok(i + 1),
            b'\\' => {
                if body.get(i + 1) == Some(&b'u') {
                    len = len.saturating_add(escaped_unit_len(body.get(i + 2..i + 6)));
                    i += 6;
                } else {
                    len = len.saturating_add(1);
                    i += 2;
                }
            }
            _ => {
                len = len.saturating_add(1);
                i += 1;
            }
        }
        if len > max {
            return Err(JsonLimitError::StringLength);
        }
    }
    Ok(body.len())
}

/// Bytes a `\uXXXX` escape adds once decoded to UTF-8 (each half of a surrogate pair counts
/// two, the pair four).
fn escaped_unit_len(hex: Option<&[u8]>) -> usize {
    let unit = hex
        .and_then(|h| std::str::from_utf8(h).ok())
        .and_then(|h| u32::from_str_radix(h, 16).ok());
    match unit {
        Some(u) if u < 0x80 => 1,
        Some(u) if u < 0x800 => 2,
        Some(u) if (0xD800..0xE000).contains(&u) => 2,
        _ => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> JsonLimits {
        JsonLimits {
            max_depth: 3,
            max_string_value_length: 5,
            max_object_entry_count: 2,
            max_array_element_count: 3,
        }
    }

    fn check_small(s: &str) -> Result<(), JsonLimitError> {
        check(s.as_bytes(), &small())
    }

    #[test]
    fn depth_counts_containers() {
        assert_eq!(check_small("[[[]]]"), Ok(()));
        assert_eq!(check_small(r#"{"a": {"b": [1]}}"#), Ok(()));
        assert_eq!(check_small("[[[[]]]]"), Err(JsonLimitError::Depth));
        assert_eq!(
            check_small(r#"{"a": {"b": [{}]}}"#),
            Err(JsonLimitError::Depth)
        );
        // brackets inside strings do not count
        assert_eq!(check_small(r#"["[[[["]"#), Ok(()));
    }

    #[test]
    fn string_length_is_unescaped() {
        assert_eq!(check_small(r#"["abcde"]"#), Ok(()));
        assert_eq!(
            check_small(r#"["abcdef"]"#),
            Err(JsonLimitError::StringLength)
        );
        assert_eq!(check_small(r#"["\u0041\u0042\n\"\\"]"#), Ok(()));
        assert_eq!(
            check_small(r#"{"abcdef": 1}"#),
            Err(JsonLimitError::StringLength)
        );
        // é is two bytes in UTF-8
        assert_eq!(check_small(r#"["ééé"]"#), Err(JsonLimitError::StringLength));
    }

    #[test]
    fn entries_and_elements() {
        assert_eq!(check_small(r#"{"a": 1, "b": [1, 2, 3]}"#), Ok(()));
        assert_eq!(
            check_small(r#"{"a": 1, "b": 2, "c": 3}"#),
            Err(JsonLimitError::ObjectEntries)
        );
        assert_eq!(
            check_small("[1, 2, 3, 4]"),
            Err(JsonLimitError::ArrayElements)
        );
        // commas inside strings and nested containers belong to them
        assert_eq!(check_small(r#"{"a": ",,,,", "b": [1, 2]}"#), Ok(()));
        assert_eq!(check_small("[[1, 2], [3], []]"), Ok(()));
        assert_eq!(check_small("[]"), Ok(()));
        assert_eq!(check_small("{}"), Ok(()));
    }

    #[test]
    fn messages_are_vaults() {
        assert_eq!(
            JsonLimitError::Depth.to_string(),
            "JSON input exceeds allowed nesting depth"
        );
        assert_eq!(
            JsonLimitError::StringLength.to_string(),
            "JSON string value exceeds allowed length"
        );
    }

    #[test]
    fn hundred_thousand_deep_is_refused() {
        let body = "[".repeat(100_000);
        assert_eq!(
            check(body.as_bytes(), &JsonLimits::default()),
            Err(JsonLimitError::Depth)
        );
    }

    #[test]
    fn malformed_input_does_not_panic() {
        for s in [
            "\"", "\"\\", "\"\\u", "\"\\u12", "]]]}}}", ",,,", "[,,,]", "{\"a\"", "\u{0}",
        ] {
            let _ = check_small(s);
        }
    }
}
