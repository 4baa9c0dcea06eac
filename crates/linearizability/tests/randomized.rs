//! Histories generated from a real sequential execution with random overlaps must check as
//! linearizable; corrupting one read must (usually) be caught.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use tresor_linearizability::{
    CheckResult, Event, EventKind, History, KeyedOp, Model, Op, OpRecord, Outcome, RegisterModel,
    check,
};

const KEYS: [&str; 3] = ["a", "b", "c"];

enum Client {
    Idle,
    /// Invoked, not yet applied.
    Sent(Op),
    /// Applied at its linearization point; `Some` carries the result op, `None` a refused CAS.
    Applied(Option<Op>, Op),
}

/// Runs `steps` random actions of `processes` clients against a real map of registers.
/// Each operation takes effect atomically at a random moment between its invocation and its
/// completion (or, if the client crashes, maybe later or never).
fn generate(seed: u64, processes: u64, steps: usize) -> History<Op> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut store: HashMap<&str, Option<String>> = HashMap::new();
    let mut clients: Vec<Client> = (0..processes).map(|_| Client::Idle).collect();
    let mut zombies: Vec<Op> = Vec::new();
    let mut events = Vec::new();
    let mut next_value = 0u32;
    let mut time = 0u64;
    let mut emit = |events: &mut Vec<Event<Op>>, process: u64, kind, op| {
        time += 1;
        events.push(Event {
            process,
            kind,
            op,
            time,
        });
    };
    fn apply(store: &mut HashMap<&'static str, Option<String>>, op: &Op) -> Option<Op> {
        let key = KEYS.iter().copied().find(|k| match op {
            Op::Write { key, .. } | Op::Read { key, .. } | Op::Cas { key, .. } => key == k,
        })?;
        let cur = store.entry(key).or_default();
        match op {
            Op::Write { value, .. } => {
                *cur = Some(value.clone());
                Some(op.clone())
            }
            Op::Read { key, .. } => Some(Op::Read {
                key: key.clone(),
                value: cur.clone(),
            }),
            Op::Cas { expected, new, .. } => {
                if cur == expected {
                    *cur = Some(new.clone());
                    Some(op.clone())
                } else {
                    None
                }
            }
        }
    }

    for _ in 0..steps {
        if !zombies.is_empty() && rng.gen_bool(0.05) {
            let i = rng.gen_range(0..zombies.len());
            let op = zombies.swap_remove(i);
            apply(&mut store, &op);
        }
        let p = rng.gen_range(0..processes);
        let client = &mut clients[p as usize];
        match std::mem::replace(client, Client::Idle) {
            Client::Idle => {
                let key = KEYS[rng.gen_range(0..KEYS.len())].to_string();
                next_value += 1;
                let op = match rng.gen_range(0..10) {
                    0..=3 => Op::Write {
                        key,
                        value: format!("v{next_value}"),
                    },
                    4..=7 => Op::Read { key, value: None },
                    _ => {
                        let expected = if rng.gen_bool(0.7) {
                            store.get(key.as_str()).cloned().flatten()
                        } else {
                            Some(format!("v{}", rng.gen_range(0..=next_value)))
                        };
                        Op::Cas {
                            key,
                            expected,
                            new: format!("v{next_value}"),
                        }
                    }
                };
                emit(&mut events, p, EventKind::Invoke, op.clone());
                *client = Client::Sent(op);
            }
            Client::Sent(op) => {
                if rng.gen_bool(0.08) {
                    // The client crashes before the op took effect; it may still apply later.
                    emit(&mut events, p, EventKind::Info, op.clone());
                    if rng.gen_bool(0.5) {
                        zombies.push(op);
                    }
                } else {
                    let result = apply(&mut store, &op);
                    *client = Client::Applied(result, op);
                }
            }
            Client::Applied(result, invoked) => match result {
                Some(done) if rng.gen_bool(0.93) => emit(&mut events, p, EventKind::Ok, done),
                Some(_) => emit(&mut events, p, EventKind::Info, invoked),
                None => emit(&mut events, p, EventKind::Fail, invoked),
            },
        }
    }
    History::from_events(events)
}

/// Replaces the value of one acknowledged read by a different one.
fn corrupt_one_read(h: &History<Op>, rng: &mut StdRng, ghost: bool) -> Option<History<Op>> {
    let mut events = h.events().to_vec();
    let reads: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.kind == EventKind::Ok && matches!(e.op, Op::Read { .. }))
        .map(|(i, _)| i)
        .collect();
    let &i = reads.choose(rng)?;
    let Op::Read { key, value } = events[i].op.clone() else {
        return None;
    };
    let mut candidates: Vec<Option<String>> = vec![None];
    for e in h.events() {
        if let Op::Write { key: k, value }
        | Op::Cas {
            key: k, new: value, ..
        } = &e.op
            && *k == key
        {
            candidates.push(Some(value.clone()));
        }
    }
    candidates.retain(|c| *c != value);
    let new_value = if ghost {
        Some("never-written".to_string())
    } else {
        candidates.choose(rng)?.clone()
    };
    events[i].op = Op::Read {
        key,
        value: new_value,
    };
    Some(History::from_events(events))
}

/// The largest number of operations in flight at once.
fn max_in_flight(h: &History<Op>) -> usize {
    let (mut now, mut max) = (0usize, 0usize);
    for e in h.events() {
        if e.kind == EventKind::Invoke {
            now += 1;
            max = max.max(now);
        } else {
            now -= 1;
        }
    }
    max
}

#[test]
fn histories_from_real_executions_are_linearizable() {
    let (mut unknown, mut overlap) = (0, 0);
    for seed in 0..150 {
        let h = generate(seed, 5, 240);
        let verdict = check(&h, &RegisterModel).unwrap();
        assert!(verdict.is_linearizable(), "seed {seed}: {verdict}");
        let ops = h.operations().unwrap();
        unknown += ops.iter().filter(|o| o.outcome == Outcome::Unknown).count();
        overlap = overlap.max(max_in_flight(&h));
    }
    // The generator really exercises crashed operations and concurrency.
    assert!(unknown > 150, "only {unknown} unknown operations");
    assert!(overlap >= 4, "at most {overlap} operations overlapped");
}

/// Exhaustive reference: tries every order of the operations that respects real time,
/// with every subset of the unknown operations.
fn brute_force(ops: &[OpRecord<Op>]) -> bool {
    fn go(state: &Option<String>, left: &mut Vec<OpRecord<Op>>) -> bool {
        if left.iter().all(|o| o.outcome == Outcome::Unknown) {
            return true;
        }
        // The earliest acknowledgement among the remaining ops bounds who may go next.
        let horizon = left
            .iter()
            .filter_map(|o| o.completed_ns)
            .min()
            .unwrap_or(u64::MAX);
        for i in 0..left.len() {
            if left[i].invoked_ns > horizon {
                continue;
            }
            let op = left.remove(i);
            let found = match RegisterModel.step(state, &op.op) {
                Some(next) => go(&next, left),
                None => false,
            } || (op.outcome == Outcome::Unknown && go(state, left));
            left.insert(i, op);
            if found {
                return true;
            }
        }
        false
    }
    let mut by_key: HashMap<String, Vec<OpRecord<Op>>> = HashMap::new();
    for o in ops {
        by_key
            .entry(o.op.key().to_string())
            .or_default()
            .push(o.clone());
    }
    by_key.values_mut().all(|ops| go(&None, ops))
}

#[test]
fn agrees_with_an_exhaustive_search_on_small_histories() {
    let mut rng = StdRng::seed_from_u64(99);
    let (mut good, mut bad) = (0, 0);
    for seed in 0..400 {
        let mut h = generate(1_000 + seed, 3, 22);
        if rng.gen_bool(0.6)
            && let Some(c) = corrupt_one_read(&h, &mut rng, false)
        {
            h = c;
        }
        let expected = brute_force(&h.operations().unwrap());
        let verdict = check(&h, &RegisterModel).unwrap();
        assert_eq!(
            verdict.is_linearizable(),
            expected,
            "seed {seed}: {verdict}\n{h:?}"
        );
        if expected { good += 1 } else { bad += 1 }
    }
    assert!(good > 50 && bad > 50, "{good} linearizable, {bad} not");
}

#[test]
fn corrupted_reads_are_usually_caught() {
    let mut rng = StdRng::seed_from_u64(0xC0FFEE);
    let (mut tried, mut caught) = (0, 0);
    for seed in 0..150 {
        let h = generate(seed, 5, 240);
        let Some(bad) = corrupt_one_read(&h, &mut rng, false) else {
            continue;
        };
        tried += 1;
        match check(&bad, &RegisterModel).unwrap() {
            CheckResult::NotLinearizable(a) => {
                caught += 1;
                assert!(!a.explanation.is_empty());
                assert!(a.window.iter().any(|o| o == &a.culprit));
            }
            CheckResult::Linearizable => {}
            CheckResult::Unknown { .. } => panic!("seed {seed}: budget exhausted"),
        }
    }
    assert!(tried > 100, "too few histories had reads: {tried}");
    // A replaced read can still be explained when the new value was concurrent with it;
    // most replacements are not.
    assert!(caught * 10 >= tried * 7, "caught only {caught} of {tried}");
}

#[test]
fn reads_of_never_written_values_are_always_caught() {
    let mut rng = StdRng::seed_from_u64(7);
    for seed in 0..100 {
        let h = generate(seed, 4, 200);
        let Some(bad) = corrupt_one_read(&h, &mut rng, true) else {
            continue;
        };
        match check(&bad, &RegisterModel).unwrap() {
            CheckResult::NotLinearizable(a) => {
                assert_eq!(
                    a.culprit.op,
                    Op::Read {
                        key: a.key.clone(),
                        value: Some("never-written".into())
                    },
                    "seed {seed}"
                );
            }
            other => panic!("seed {seed}: ghost read not caught: {other}"),
        }
    }
}
