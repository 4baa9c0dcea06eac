//! Property tests: the field helpers never panic on any JSON, and the nesting scanner agrees
//! with a recursive reference on generated JSON and never panics on random text.
//!
//! Every run prints its seed; `PROPTEST_RNG_SEED=<seed> cargo test -p tresor-sdk --test
//! prop_fields_and_nesting` replays it. `PROPTEST_CASES` changes the number of cases.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use serde_json::{Map, Value};
use tresor_sdk::fields;
use tresor_sdk::nesting::{Syntax, check_depth, depth};

fn config(cases: u32) -> ProptestConfig {
    tresor_testkit::props::seeded_config(cases)
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        "[0-9hms.,: -]{0,10}".prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map("[a-z\"\\\\{\\[]{0,6}", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Containers only, as the reference for the scanner's JSON depth.
fn reference_depth(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(reference_depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(reference_depth).max().unwrap_or(0),
        _ => 0,
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn field_helpers_never_panic(v in json_value(), field in "[a-z]{0,3}") {
        let mut data = Map::new();
        data.insert(field.clone(), v);
        let _ = fields::get_str(&data, &field);
        let _ = fields::get_bool(&data, &field);
        let _ = fields::get_i64(&data, &field);
        let _ = fields::get_u64(&data, &field);
        let _ = fields::get_duration(&data, &field);
        let _ = fields::get_str_list(&data, &field);
        let _ = fields::get_str_map(&data, &field);
    }

    #[test]
    fn json_depth_matches_the_reference(v in json_value(), wraps in 0usize..150) {
        let mut v = v;
        for _ in 0..wraps {
            v = Value::Array(vec![v]);
        }
        let expected = reference_depth(&v);
        for text in [serde_json::to_string(&v).unwrap(), serde_json::to_string_pretty(&v).unwrap()] {
            prop_assert_eq!(depth(&text, Syntax::Json), expected);
            prop_assert_eq!(check_depth(&text, Syntax::Json, 100).is_ok(), expected <= 100);
        }
    }

    #[test]
    fn random_text_never_panics(text in any::<String>(), limit in 0usize..50) {
        let _ = check_depth(&text, Syntax::Hcl, limit);
        let _ = check_depth(&text, Syntax::Json, limit);
    }

    #[test]
    fn hcl_ish_text_never_panics(
        parts in prop::collection::vec(prop::sample::select(&[
            "{", "}", "[", "]", "(", ")", "\"", "\\", "${", "%{", "$${", "<<EOF\n", "<<-E\n",
            "EOF", "\n", "#", "//", "/*", "*/", "-", "!", "a", "1", " ", "é", "\r",
        ][..]), 0..200),
        limit in 0usize..50,
    ) {
        let text = parts.concat();
        let d = depth(&text, Syntax::Hcl);
        prop_assert_eq!(check_depth(&text, Syntax::Hcl, limit).is_ok(), d <= limit);
    }
}
