//! Property tests of the batch token format: any claims that fit round-trip; any other string,
//! random or a mutated real token, never opens and never panics, in bounded work.
//!
//! Every run prints its seed; `PROPTEST_RNG_SEED=<seed> cargo test -p tresor-token --test
//! batch_props` replays it. `PROPTEST_CASES` changes the number of cases.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use tresor_token::batch::{BatchClaims, MAX_TOKEN_LEN, open, seal};
use tresor_token::{BatchKeys, FixedBatchKeys};

fn config(cases: u32) -> ProptestConfig {
    tresor_testkit::props::seeded_config(cases)
}

fn claims() -> impl Strategy<Value = BatchClaims> {
    (
        prop::collection::vec("[a-z0-9-]{1,12}", 0..6),
        prop::collection::btree_map(".{0,8}", ".{0,40}", 0..5),
        ".{0,30}",
        any::<u64>(),
        any::<u64>(),
        prop::option::of(any::<u64>()),
        prop::option::of("[0-9a-f]{64}"),
        "[A-Za-z0-9]{0,24}",
    )
        .prop_map(
            |(policies, meta, display_name, creation_time, ttl, expire_time, parent, acc)| {
                BatchClaims {
                    policies,
                    meta: meta.into_iter().collect::<BTreeMap<_, _>>(),
                    display_name,
                    creation_time,
                    ttl,
                    expire_time,
                    parent,
                    parent_accessor: acc,
                    entity_id: String::new(),
                    path: "auth/token/create".into(),
                    role: None,
                    bound_cidrs: Vec::new(),
                }
            },
        )
}

/// One edit of a token's bytes: flip a bit, cut, insert or overwrite.
#[derive(Clone, Debug)]
enum Edit {
    Flip(usize, u8),
    Cut(usize),
    Insert(usize, u8),
    Term(u32),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(a, b)| Edit::Flip(a, b)),
        any::<usize>().prop_map(Edit::Cut),
        (any::<usize>(), any::<u8>()).prop_map(|(a, b)| Edit::Insert(a, b)),
        any::<u32>().prop_map(Edit::Term),
    ]
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn claims_round_trip(c in claims()) {
        let keys = FixedBatchKeys::generate();
        let (term, key) = keys.active().unwrap();
        let t = seal(&c, term, &key).unwrap();
        prop_assert!(t.len() <= MAX_TOKEN_LEN);
        prop_assert_eq!(open(&t, &keys).unwrap(), c);
    }

    #[test]
    fn mutated_tokens_never_open(c in claims(), edits in prop::collection::vec(edit(), 1..4)) {
        let keys = FixedBatchKeys::generate();
        let (term, key) = keys.active().unwrap();
        let t = seal(&c, term, &key).unwrap();
        let original = URL_SAFE_NO_PAD.decode(&t[4..]).unwrap();
        let mut blob = original.clone();
        for e in edits {
            match e {
                Edit::Flip(at, x) => { let i = at % blob.len().max(1); if let Some(b) = blob.get_mut(i) { *b ^= x; } }
                Edit::Cut(at) => blob.truncate(at % (blob.len() + 1)),
                Edit::Insert(at, x) => { let i = at % (blob.len() + 1); blob.insert(i, x); }
                Edit::Term(term) => if blob.len() >= 5 { blob[1..5].copy_from_slice(&term.to_be_bytes()); },
            }
        }
        prop_assume!(blob != original);
        let token = format!("hvb.{}", URL_SAFE_NO_PAD.encode(&blob));
        prop_assert!(open(&token, &keys).is_err());
    }

    #[test]
    fn arbitrary_strings_never_open(s in prop_oneof![
        any::<String>(),
        "[A-Za-z0-9_-]{0,300}",
        prop::collection::vec(any::<u8>(), 0..400).prop_map(|b| URL_SAFE_NO_PAD.encode(b)),
    ]) {
        let keys = FixedBatchKeys::generate();
        prop_assert!(open(&s, &keys).is_err());
        let prefixed = format!("hvb.{}", s);
        prop_assert!(open(&prefixed, &keys).is_err());
    }
}
