//! Hand-written histories with a known verdict.

use crate::common;

use common::{Builder, cas, r, w};
use tresor_linearizability::{
    CheckOptions, CheckResult, EventKind, KvOp, KvState, Op, Outcome, RegisterModel,
    VersionedKvModel, check, check_with,
};

type Verdict = CheckResult<Op, Option<String>>;

fn verdict(b: Builder) -> Verdict {
    check(&b.build(), &RegisterModel).expect("well-formed history")
}

fn anomaly(b: Builder) -> Box<tresor_linearizability::Anomaly<Op, Option<String>>> {
    match verdict(b) {
        CheckResult::NotLinearizable(a) => a,
        other => panic!("expected an anomaly, got {other}"),
    }
}

fn some(v: &str) -> Option<String> {
    Some(v.to_string())
}

#[test]
fn empty_history_is_linearizable() {
    assert!(verdict(Builder::new()).is_linearizable());
}

#[test]
fn sequential_history_is_linearizable() {
    let b = Builder::new()
        .seq(1, r("k", None))
        .seq(1, w("k", "a"))
        .seq(2, r("k", Some("a")))
        .seq(2, cas("k", Some("a"), "b"))
        .seq(1, r("k", Some("b")));
    assert!(verdict(b).is_linearizable());
}

#[test]
fn overlapping_operations_may_be_reordered() {
    // Both reads overlap the write: p2 (invoked before the write) may already see the new
    // value while p3 (invoked after it) still sees the old one, since p3's read can be
    // ordered before the write and p2's after it.
    let b = Builder::new()
        .seq(1, w("k", "a"))
        .invoke(2, r("k", None))
        .invoke(1, w("k", "b"))
        .invoke(3, r("k", None))
        .ok(2, r("k", Some("b")))
        .ok(3, r("k", Some("a")))
        .ok(1, w("k", "b"));
    assert!(verdict(b).is_linearizable());
}

#[test]
fn concurrent_writes_read_back_in_either_order() {
    for last in ["x", "y"] {
        let b = Builder::new()
            .invoke(1, w("k", "x"))
            .invoke(2, w("k", "y"))
            .ok(2, w("k", "y"))
            .ok(1, w("k", "x"))
            .seq(3, r("k", Some(last)));
        assert!(verdict(b).is_linearizable(), "last={last}");
    }
}

#[test]
fn unknown_write_may_apply_late() {
    // The write timed out, yet its value shows up after another acknowledged write.
    let b = Builder::new()
        .invoke(1, w("k", "lost?"))
        .info(1, w("k", "lost?"))
        .seq(2, w("k", "b"))
        .seq(3, r("k", Some("b")))
        .seq(3, r("k", Some("lost?")));
    assert!(verdict(b).is_linearizable());
}

#[test]
fn unknown_write_may_never_apply() {
    let b = Builder::new()
        .seq(2, w("k", "a"))
        .invoke(1, w("k", "maybe"))
        .info(1, w("k", "maybe"))
        .seq(3, r("k", Some("a")))
        .seq(3, r("k", Some("a")));
    assert!(verdict(b).is_linearizable());
}

#[test]
fn unknown_write_cannot_apply_twice_or_before_its_invocation() {
    // The crashed write is seen, then overwritten, then seen again: it would have to take
    // effect twice.
    let b = Builder::new()
        .invoke(1, w("k", "u"))
        .info(1, w("k", "u"))
        .seq(2, r("k", Some("u")))
        .seq(2, w("k", "v"))
        .seq(2, r("k", Some("u")));
    assert!(!verdict(b).is_linearizable());
    // A read that sees it before it was even invoked.
    let b = Builder::new()
        .seq(2, r("k", Some("u")))
        .invoke(1, w("k", "u"))
        .info(1, w("k", "u"));
    assert!(!verdict(b).is_linearizable());
}

#[test]
fn pending_operations_at_the_end_count_as_unknown() {
    let b = Builder::new()
        .invoke(1, w("k", "a"))
        .seq(2, r("k", Some("a")));
    assert!(verdict(b).is_linearizable());
}

#[test]
fn failed_operations_are_ignored() {
    let b = Builder::new()
        .seq(1, w("k", "a"))
        .invoke(2, cas("k", Some("zzz"), "b"))
        .fail(2, cas("k", Some("zzz"), "b"))
        .invoke(3, w("k", "c"))
        .fail(3, w("k", "c"))
        .seq(1, r("k", Some("a")));
    assert!(verdict(b).is_linearizable());
}

#[test]
fn stale_read_after_acknowledged_write_is_caught() {
    let a = anomaly(
        Builder::new()
            .seq(1, w("k", "1"))
            .seq(1, w("k", "2"))
            .seq(2, r("k", Some("1")))
            .seq(2, r("k", Some("1"))),
    );
    assert_eq!(a.key, "k");
    // The first stale read is the culprit, not the later one.
    assert_eq!(a.culprit.op, r("k", Some("1")));
    assert_eq!(a.culprit.invoked_ns, 40);
    assert_eq!(a.rejected_states, vec![some("2")]);
    let ops: Vec<&Op> = a.window.iter().map(|o| &o.op).collect();
    assert_eq!(ops, vec![&w("k", "2"), &r("k", Some("1"))]);
    assert!(a.explanation.contains("Some(\"2\")"), "{}", a.explanation);
    assert!(a.explanation.contains("process 2"), "{}", a.explanation);
}

#[test]
fn lost_acknowledged_write_is_caught() {
    let a = anomaly(
        Builder::new()
            .seq(1, w("k", "a"))
            .seq(1, w("k", "b"))
            .invoke(2, r("k", None))
            .invoke(3, w("k", "c"))
            .ok(2, r("k", None))
            .ok(3, w("k", "c")),
    );
    assert_eq!(a.culprit.process, 2);
    assert_eq!(a.rejected_states, vec![some("b"), some("c")]);
    let procs: Vec<u64> = a.window.iter().map(|o| o.process).collect();
    assert_eq!(procs, vec![1, 2, 3]);
}

#[test]
fn two_successful_cas_from_the_same_value_are_caught() {
    let a = anomaly(
        Builder::new()
            .seq(1, w("k", "a"))
            .invoke(2, cas("k", Some("a"), "b"))
            .invoke(3, cas("k", Some("a"), "c"))
            .ok(2, cas("k", Some("a"), "b"))
            .ok(3, cas("k", Some("a"), "c")),
    );
    assert_eq!(a.culprit.process, 3);
    assert_eq!(a.rejected_states, vec![some("b")]);
    assert_eq!(a.window.len(), 3);
    // The same with only one success is fine.
    let b = Builder::new()
        .seq(1, w("k", "a"))
        .invoke(2, cas("k", Some("a"), "b"))
        .invoke(3, cas("k", Some("a"), "c"))
        .ok(2, cas("k", Some("a"), "b"))
        .fail(3, cas("k", Some("a"), "c"));
    assert!(verdict(b).is_linearizable());
}

#[test]
fn read_of_a_never_written_value_is_caught() {
    let a = anomaly(
        Builder::new()
            .seq(1, w("k", "a"))
            .invoke(2, w("k", "b"))
            .seq(3, r("k", Some("ghost")))
            .ok(2, w("k", "b")),
    );
    assert_eq!(a.culprit.op, r("k", Some("ghost")));
    assert!(a.rejected_states.contains(&some("a")));
    assert!(a.rejected_states.contains(&some("b")));
    let shown = CheckResult::NotLinearizable(a).to_string();
    assert!(shown.starts_with("NOT linearizable"), "{shown}");
    assert!(shown.contains("ghost"), "{shown}");
}

#[test]
fn keys_are_checked_independently() {
    // Interleaved keys: each key alone is fine.
    let ok = Builder::new()
        .invoke(1, w("a", "1"))
        .invoke(2, w("b", "1"))
        .seq(3, r("b", Some("1")))
        .ok(1, w("a", "1"))
        .seq(3, r("a", Some("1")))
        .ok(2, w("b", "1"))
        .seq(3, r("c", None));
    assert!(verdict(ok).is_linearizable());
    // A value written to one key never shows up in another.
    let a = anomaly(
        Builder::new()
            .seq(1, w("a", "1"))
            .seq(1, w("b", "2"))
            .seq(2, r("b", Some("1"))),
    );
    assert_eq!(a.key, "b");
    assert_eq!(a.rejected_states, vec![some("2")]);
    assert!(a.window.iter().all(|o| match &o.op {
        Op::Write { key, .. } | Op::Read { key, .. } | Op::Cas { key, .. } => key == "b",
    }));
}

#[test]
fn step_budget_returns_unknown_instead_of_hanging() {
    // Many concurrent writes of distinct values and a final impossible read: proving
    // non-linearizability needs to explore a large number of orders.
    let mut b = Builder::new();
    for p in 0..11 {
        b = b.invoke(p, w("k", &p.to_string()));
    }
    for p in 0..11 {
        b = b.ok(p, w("k", &p.to_string()));
    }
    let h = b.seq(99, r("k", Some("none of them"))).build();
    let tiny = CheckOptions { max_steps: 50 };
    match check_with(&h, &RegisterModel, tiny).unwrap() {
        CheckResult::Unknown { key, steps } => {
            assert_eq!(key, "k");
            assert_eq!(steps, 50);
        }
        other => panic!("expected Unknown, got {other}"),
    }
    // With a generous budget the verdict is reached.
    assert!(matches!(
        check_with(
            &h,
            &RegisterModel,
            CheckOptions {
                max_steps: 50_000_000
            }
        )
        .unwrap(),
        CheckResult::NotLinearizable(_)
    ));
}

#[test]
fn malformed_history_is_an_error() {
    let h = Builder::new().ok(1, w("k", "a")).build();
    assert!(check(&h, &RegisterModel).is_err());
}

#[test]
fn recorder_history_checks() {
    let rec = tresor_linearizability::Recorder::new();
    rec.invoke(1, w("k", "a"));
    rec.invoke(2, r("k", None));
    rec.ok(1, w("k", "a"));
    rec.complete(2, EventKind::Ok, r("k", Some("a")));
    rec.invoke(3, w("k", "b"));
    rec.info(3, w("k", "b"));
    let h = rec.history();
    let ops = h.operations().unwrap();
    assert_eq!(ops[2].outcome, Outcome::Unknown);
    assert!(check(&h, &RegisterModel).unwrap().is_linearizable());
}

fn kv_seq(events: &mut Vec<tresor_linearizability::Event<KvOp>>, p: u64, invoke: KvOp, done: KvOp) {
    let t = events.len() as u64;
    events.push(tresor_linearizability::Event {
        process: p,
        kind: EventKind::Invoke,
        op: invoke,
        time: t,
    });
    events.push(tresor_linearizability::Event {
        process: p,
        kind: EventKind::Ok,
        op: done,
        time: t + 1,
    });
}

#[test]
fn versioned_kv_histories() {
    let write = |v: &str, version| KvOp::Write {
        key: "s".into(),
        value: v.into(),
        version,
    };
    let cas = |exp, v: &str, version| KvOp::Cas {
        key: "s".into(),
        expected_version: exp,
        value: v.into(),
        version,
    };
    let read = |cur: Option<(u64, &str)>| KvOp::Read {
        key: "s".into(),
        current: cur.map(|(n, v)| (n, v.to_string())),
    };
    let mut ev = Vec::new();
    kv_seq(&mut ev, 1, cas(0, "a", None), cas(0, "a", Some(1)));
    kv_seq(&mut ev, 2, write("b", None), write("b", Some(2)));
    kv_seq(&mut ev, 1, read(None), read(Some((2, "b"))));
    kv_seq(&mut ev, 1, cas(2, "c", None), cas(2, "c", Some(3)));
    let good = tresor_linearizability::History::from_events(ev.clone());
    assert!(check(&good, &VersionedKvModel).unwrap().is_linearizable());

    // A second check-and-set on version 2 cannot also succeed.
    kv_seq(&mut ev, 3, cas(2, "d", None), cas(2, "d", Some(3)));
    let bad = tresor_linearizability::History::from_events(ev);
    match check(&bad, &VersionedKvModel).unwrap() {
        CheckResult::NotLinearizable(a) => {
            assert_eq!(a.culprit.process, 3);
            assert_eq!(
                a.rejected_states,
                vec![KvState {
                    version: 3,
                    value: Some("c".into())
                }]
            );
        }
        other => panic!("expected anomaly, got {other}"),
    }
}
