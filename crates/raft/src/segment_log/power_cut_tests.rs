//! Property test: random appends, truncations, purges and votes on the simulated disk, with
//! the disk failing at a random operation and the power cut (unsynced writes dropped or
//! torn) — after reopening, every append that returned `Ok` is there and intact, nothing
//! truncated comes back, and the vote is the last one saved. Seeds are printed; replay with
//! `PROPTEST_RNG_SEED=<seed>`.

use std::collections::BTreeMap;
use std::ops::Bound;

use openraft::CommittedLeaderId;
use proptest::prelude::*;

use super::tests::entry;
use super::*;
use crate::power_cut_fs::PowerCutFs;

const SEGMENT_BYTES: u64 = 1500;

#[derive(Clone, Debug)]
enum Op {
    Append { count: u64, size: usize },
    Truncate { back: u64 },
    Purge { ahead: u64 },
    Vote(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (1u64..6, 0usize..700).prop_map(|(count, size)| Op::Append { count, size }),
        2 => (0u64..8).prop_map(|back| Op::Truncate { back }),
        1 => (0u64..10).prop_map(|ahead| Op::Purge { ahead }),
        1 => (1u64..1000).prop_map(Op::Vote),
    ]
}

/// What the log must hold: the state after the last operation that returned `Ok`.
#[derive(Clone, Debug, Default)]
struct Model {
    /// Entries after the purge point, by index: (term, payload as JSON).
    entries: BTreeMap<u64, (u64, String)>,
    last_purged: Option<LogId<NodeId>>,
    vote: Option<Vote<NodeId>>,
    /// The term of the next appends: it grows with every truncation (as a new leader's
    /// would), so an entry that came back after a truncation would be told apart.
    term: u64,
}

/// The operation that failed when the disk died, and what it would have changed.
#[derive(Debug)]
enum InFlight {
    Append(Vec<(u64, (u64, String))>),
    Truncate(u64),
    Purge(LogId<NodeId>),
    Vote(Vote<NodeId>),
}

fn payload_of(e: &Entry<TypeConfig>) -> String {
    serde_json::to_string(&e.payload).unwrap_or_default()
}

fn id(term: u64, index: u64) -> LogId<NodeId> {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

impl Model {
    fn next_index(&self) -> u64 {
        match self.entries.last_key_value() {
            Some((i, _)) => i + 1,
            None => self.last_purged.map(|p| p.index + 1).unwrap_or(1),
        }
    }

    /// Runs `op` on `log`; `Err` carries what was in flight when the disk failed.
    fn run(&mut self, log: &mut SegmentLog, op: &Op) -> Result<(), InFlight> {
        match *op {
            Op::Append { count, size } => {
                let from = self.next_index();
                let batch: Vec<Entry<TypeConfig>> = (from..from + count)
                    .map(|i| entry(self.term, i, size))
                    .collect();
                let pairs: Vec<(u64, (u64, String))> = batch
                    .iter()
                    .map(|e| (e.log_id.index, (e.log_id.leader_id.term, payload_of(e))))
                    .collect();
                match log.append(&batch, None) {
                    Ok(_) => {
                        self.entries.extend(pairs);
                        Ok(())
                    }
                    Err(_) => Err(InFlight::Append(pairs)),
                }
            }
            Op::Truncate { back } => {
                let Some((&last, _)) = self.entries.last_key_value() else {
                    return Ok(());
                };
                let len = self.entries.len() as u64;
                let at = last + 1 - (back % len + 1);
                match log.truncate(at) {
                    Ok(()) => {
                        self.entries.split_off(&at);
                        // The next leader's entries have a higher term.
                        self.term += 1;
                        Ok(())
                    }
                    Err(_) => Err(InFlight::Truncate(at)),
                }
            }
            Op::Purge { ahead } => {
                let first = self.last_purged.map(|p| p.index + 1).unwrap_or(1);
                let upto = first + ahead % (self.entries.len() as u64 + 2);
                let term = self
                    .entries
                    .get(&upto)
                    .map(|(t, _)| *t)
                    .unwrap_or(self.term);
                let upto = id(term, upto);
                match log.purge(upto, None) {
                    Ok(()) => {
                        self.entries = self.entries.split_off(&(upto.index + 1));
                        self.last_purged = Some(upto);
                        Ok(())
                    }
                    Err(_) => Err(InFlight::Purge(upto)),
                }
            }
            Op::Vote(term) => {
                let vote = Vote::new(term, 1);
                match log.save_vote(vote, None) {
                    Ok(()) => {
                        self.vote = Some(vote);
                        Ok(())
                    }
                    Err(_) => Err(InFlight::Vote(vote)),
                }
            }
        }
    }

    /// Checks the reopened `log` against the model and what was in flight, and returns the
    /// model of what it holds.
    fn check(&self, log: &SegmentLog, in_flight: Option<&InFlight>) -> Result<Model, String> {
        let purged = log.last_purged();
        let purge_ok = purged == self.last_purged
            || matches!(in_flight, Some(InFlight::Purge(p)) if purged == Some(*p));
        if !purge_ok {
            return Err(format!(
                "last purged {purged:?}, expected {:?} (in flight {in_flight:?})",
                self.last_purged
            ));
        }
        let vote_ok = log.vote() == self.vote
            || matches!(in_flight, Some(InFlight::Vote(v)) if log.vote() == Some(*v));
        if !vote_ok {
            return Err(format!("vote {:?}, expected {:?}", log.vote(), self.vote));
        }
        let after = purged.map(|p| p.index + 1).unwrap_or(0);
        let got: Vec<(u64, (u64, String))> = log
            .read((Bound::Included(after), Bound::Unbounded))
            .map_err(|e| e.to_string())?
            .iter()
            .map(|e| (e.log_id.index, (e.log_id.leader_id.term, payload_of(e))))
            .collect();
        let base: Vec<(u64, (u64, String))> = self
            .entries
            .range(after..)
            .map(|(i, v)| (*i, v.clone()))
            .collect();
        let (longest, shortest) = match in_flight {
            Some(InFlight::Append(batch)) => {
                let mut all = base.clone();
                all.extend(batch.iter().filter(|(i, _)| *i >= after).cloned());
                (all, base.len())
            }
            Some(InFlight::Truncate(at)) => {
                let kept = base.iter().filter(|(i, _)| i < at).count();
                (base.clone(), kept)
            }
            _ => (base.clone(), base.len()),
        };
        let is_prefix = got.len() <= longest.len() && longest[..got.len()] == got[..];
        if !is_prefix || got.len() < shortest {
            return Err(format!(
                "log holds {:?}, expected a prefix of {:?} of at least {shortest} (in flight \
                 {in_flight:?})",
                got.iter().map(|(i, (t, _))| (*i, *t)).collect::<Vec<_>>(),
                longest
                    .iter()
                    .map(|(i, (t, _))| (*i, *t))
                    .collect::<Vec<_>>(),
            ));
        }
        let want_last = got.last().map(|(i, (t, _))| id(*t, *i));
        if log.last_log_id() != want_last {
            return Err(format!(
                "last log id {:?}, expected {want_last:?}",
                log.last_log_id()
            ));
        }
        let term = got
            .iter()
            .map(|(_, (t, _))| *t)
            .max()
            .unwrap_or(0)
            .max(self.term)
            + 1;
        Ok(Model {
            entries: got.into_iter().collect(),
            last_purged: purged,
            vote: log.vote(),
            term,
        })
    }
}

proptest! {
    #![proptest_config(tresor_testkit::props::seeded_config(256))]

    #[test]
    fn acknowledged_operations_survive_power_cuts(
        rounds in prop::collection::vec(
            (prop::collection::vec(op(), 1..25), prop::option::of(0u64..120), any::<u64>()),
            1..4,
        ),
    ) {
        let fs = PowerCutFs::new();
        let mut model = Model { term: 1, ..Model::default() };
        for (ops, fail_after, cut_seed) in rounds {
            let mut log = SegmentLog::open(Box::new(fs.clone()), SEGMENT_BYTES)
                .map_err(|e| TestCaseError::fail(format!("reopen: {e}")))?;
            fs.fail_after(fail_after);
            let mut in_flight = None;
            for op in &ops {
                if let Err(f) = model.run(&mut log, op) {
                    in_flight = Some(f);
                    break;
                }
            }
            drop(log);
            fs.power_cut(cut_seed);
            let log = SegmentLog::open(Box::new(fs.clone()), SEGMENT_BYTES)
                .map_err(|e| TestCaseError::fail(format!("open after the cut: {e}")))?;
            model = model
                .check(&log, in_flight.as_ref())
                .map_err(TestCaseError::fail)?;
        }
        // The recovered log takes appends.
        let mut log = SegmentLog::open(Box::new(fs.clone()), SEGMENT_BYTES)
            .map_err(|e| TestCaseError::fail(format!("final open: {e}")))?;
        model
            .run(&mut log, &Op::Append { count: 2, size: 50 })
            .map_err(|f| TestCaseError::fail(format!("append after recovery: {f:?}")))?;
        drop(log);
        let log = SegmentLog::open(Box::new(fs.clone()), SEGMENT_BYTES)
            .map_err(|e| TestCaseError::fail(format!("final reopen: {e}")))?;
        model.check(&log, None).map_err(TestCaseError::fail)?;
    }
}
