//! Property-test helpers: a configuration whose seed is printed (and replayed with
//! `PROPTEST_RNG_SEED`), and strategies that produce hostile text from a few seeds.

use proptest::prelude::*;
use proptest::test_runner::RngSeed;

/// `cases` cases (unless `PROPTEST_CASES` says otherwise), no failure files, and a seed that
/// is printed on stderr so a failing run can be replayed with `PROPTEST_RNG_SEED=<seed>`.
pub fn seeded_config(cases: u32) -> ProptestConfig {
    let mut c = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = cases;
    }
    let seed = match c.rng_seed {
        RngSeed::Fixed(seed) => seed,
        RngSeed::Random => {
            use std::hash::{BuildHasher, Hasher};
            std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish()
        }
    };
    eprintln!("proptest seed {seed}: replay with PROPTEST_RNG_SEED={seed}");
    c.rng_seed = RngSeed::Fixed(seed);
    c
}

/// One of `seeds` with up to a dozen edits: at a position, a few characters replaced by a
/// token of `tokens` repeated one to three times.
pub fn mutated(
    seeds: &'static [&'static str],
    tokens: &'static [&'static str],
) -> impl Strategy<Value = String> {
    let edit = (
        any::<usize>(),
        0usize..4,
        prop::sample::select(tokens),
        1usize..4,
    );
    (
        prop::sample::select(seeds),
        prop::collection::vec(edit, 0..12),
    )
        .prop_map(|(seed, edits)| {
            let mut text: Vec<char> = seed.chars().collect();
            for (at, delete, token, times) in edits {
                let at = at % (text.len() + 1);
                let end = (at + delete).min(text.len());
                text.splice(at..end, token.repeat(times).chars());
            }
            text.into_iter().collect()
        })
}

/// Text made of up to 60 `tokens`, or any string at all.
pub fn noise(tokens: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(prop::sample::select(tokens), 0..60).prop_map(|t| t.concat()),
        any::<String>(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    #[test]
    fn mutations_start_from_a_seed_and_only_insert_tokens() {
        let mut runner = TestRunner::deterministic();
        let strategy = mutated(&["abc"], &["X"]);
        for _ in 0..200 {
            let text = strategy.new_tree(&mut runner).map(|t| t.current());
            let text = text.unwrap_or_default();
            assert!(
                text.chars().all(|c| "abcX".contains(c)),
                "{text:?} holds only seed characters and tokens"
            );
        }
    }

    #[test]
    fn the_configured_case_count_is_kept() {
        if std::env::var_os("PROPTEST_CASES").is_none() {
            assert_eq!(seeded_config(17).cases, 17);
        }
        assert!(matches!(seeded_config(1).rng_seed, RngSeed::Fixed(_)));
    }
}
