//! Seeded, replayable fault schedules for cluster tests.
//!
//! A schedule is a pure function of its seed and [`ScheduleConfig`]; its [`fmt::Display`]
//! form is one line that [`FaultSchedule::parse`] reads back, so a failing run can be replayed
//! by pasting the printed line.

use std::fmt;
use std::str::FromStr;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::error::LinError;

/// One fault for the test harness to inject. Nodes are numbered `0..nodes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Fault {
    /// Kill whichever node is leader at that moment; it comes back with the next `Heal`.
    KillLeader,
    /// Kill node `i`; it comes back with `Restart(i)` or `Heal`.
    KillNode(usize),
    /// Freeze node `i` (no progress, no messages) for the given milliseconds.
    Pause(usize, u64),
    /// Cut node `isolate` off from every other node (clients can still reach it).
    Partition {
        /// The node cut off.
        isolate: usize,
    },
    /// Remove all partitions and restart every killed node.
    Heal,
    /// Restart killed node `i`.
    Restart(usize),
}

/// A fault and when to inject it, in milliseconds after the workload starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TimedFault {
    /// Milliseconds after the start.
    pub at_ms: u64,
    /// What to do.
    pub fault: Fault,
}

/// Bounds for [`FaultSchedule::generate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScheduleConfig {
    /// Cluster size (at least 1).
    pub nodes: usize,
    /// Length of the run; faults are placed in `0..duration_ms`.
    pub duration_ms: u64,
    /// Upper bound on the number of faults, not counting the final `Heal`.
    pub max_faults: usize,
    /// Upper bound on a `Pause` duration (at least 1).
    pub max_pause_ms: u64,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self {
            nodes: 3,
            duration_ms: 10_000,
            max_faults: 8,
            max_pause_ms: 2_000,
        }
    }
}

/// A seeded list of timed faults.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultSchedule {
    /// The seed it was generated from (printed for replay).
    pub seed: u64,
    /// The cluster size it was generated for.
    pub nodes: usize,
    /// The faults, ordered by time.
    pub faults: Vec<TimedFault>,
}

/// Which nodes are currently harmed, to keep a majority healthy while generating.
#[derive(Default)]
struct Harm {
    killed: Vec<usize>,
    leader_killed: bool,
    isolated: Vec<usize>,
}

impl Harm {
    fn down(&self) -> usize {
        self.killed.len() + self.isolated.len() + usize::from(self.leader_killed)
    }

    fn healthy(&self, nodes: usize) -> Vec<usize> {
        (0..nodes)
            .filter(|n| !self.killed.contains(n) && !self.isolated.contains(n))
            .collect()
    }
}

impl FaultSchedule {
    /// Generates the schedule for `seed`; the same seed and config give the same schedule.
    ///
    /// At most a minority (`(nodes - 1) / 2`) of nodes is killed or isolated at any time,
    /// so the cluster can keep making progress; a `Heal` ends every schedule that leaves
    /// something broken.
    pub fn generate(seed: u64, config: &ScheduleConfig) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let nodes = config.nodes.max(1);
        let minority = (nodes - 1) / 2;
        let count = rng.gen_range(0..=config.max_faults);
        let span = config.duration_ms.max(1);
        let mut times: Vec<u64> = (0..count).map(|_| rng.gen_range(0..span)).collect();
        times.sort_unstable();
        let mut harm = Harm::default();
        let mut faults = Vec::with_capacity(count + 1);
        for at_ms in times {
            let healthy = harm.healthy(nodes);
            let mut options: Vec<Fault> = Vec::new();
            if harm.down() < minority {
                if !harm.leader_killed {
                    options.push(Fault::KillLeader);
                }
                for &n in &healthy {
                    options.push(Fault::KillNode(n));
                    options.push(Fault::Partition { isolate: n });
                }
            }
            for &n in &healthy {
                options.push(Fault::Pause(
                    n,
                    rng.gen_range(1..=config.max_pause_ms.max(1)),
                ));
            }
            options.extend(harm.killed.iter().map(|&n| Fault::Restart(n)));
            if harm.down() > 0 {
                options.push(Fault::Heal);
            }
            if options.is_empty() {
                continue;
            }
            let fault = options[rng.gen_range(0..options.len())];
            match fault {
                Fault::KillLeader => harm.leader_killed = true,
                Fault::KillNode(n) => harm.killed.push(n),
                Fault::Partition { isolate } => harm.isolated.push(isolate),
                Fault::Restart(n) => harm.killed.retain(|&k| k != n),
                Fault::Heal => harm = Harm::default(),
                Fault::Pause(..) => {}
            }
            faults.push(TimedFault { at_ms, fault });
        }
        if harm.down() > 0 {
            faults.push(TimedFault {
                at_ms: config.duration_ms,
                fault: Fault::Heal,
            });
        }
        Self {
            seed,
            nodes,
            faults,
        }
    }

    /// Reads back the one-line form printed by [`fmt::Display`].
    pub fn parse(text: &str) -> Result<Self, LinError> {
        let err = |msg: String| LinError::ScheduleParse(msg);
        let text = text.trim();
        let (head, rest) = text
            .split_once("faults=[")
            .ok_or_else(|| err("missing `faults=[`".into()))?;
        let body = rest
            .trim_end()
            .strip_suffix(']')
            .ok_or_else(|| err("missing closing `]`".into()))?;
        let mut seed = None;
        let mut nodes = None;
        for field in head.split_whitespace() {
            match field.split_once('=') {
                Some(("seed", v)) => seed = Some(parse_num::<u64>(v, "seed")?),
                Some(("nodes", v)) => nodes = Some(parse_num::<usize>(v, "nodes")?),
                _ => return Err(err(format!("unexpected field {field:?}"))),
            }
        }
        let seed = seed.ok_or_else(|| err("missing seed".into()))?;
        let nodes = nodes.ok_or_else(|| err("missing nodes".into()))?;
        let mut faults = Vec::new();
        for token in body.split_whitespace() {
            let timed: TimedFault = token.parse()?;
            if faults
                .last()
                .is_some_and(|prev: &TimedFault| prev.at_ms > timed.at_ms)
            {
                return Err(err(format!("fault {token:?} is out of time order")));
            }
            if timed.fault.node().is_some_and(|n| n >= nodes) {
                return Err(err(format!(
                    "fault {token:?} names a node outside 0..{nodes}"
                )));
            }
            faults.push(timed);
        }
        Ok(Self {
            seed,
            nodes,
            faults,
        })
    }
}

fn parse_num<T: FromStr>(text: &str, what: &str) -> Result<T, LinError> {
    text.parse()
        .map_err(|_| LinError::ScheduleParse(format!("bad {what}: {text:?}")))
}

impl Fault {
    /// The node a fault names explicitly, if any.
    pub fn node(&self) -> Option<usize> {
        match *self {
            Fault::KillNode(n) | Fault::Pause(n, _) | Fault::Restart(n) => Some(n),
            Fault::Partition { isolate } => Some(isolate),
            Fault::KillLeader | Fault::Heal => None,
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::KillLeader => write!(f, "kill-leader"),
            Fault::KillNode(n) => write!(f, "kill({n})"),
            Fault::Pause(n, ms) => write!(f, "pause({n},{ms}ms)"),
            Fault::Partition { isolate } => write!(f, "partition({isolate})"),
            Fault::Heal => write!(f, "heal"),
            Fault::Restart(n) => write!(f, "restart({n})"),
        }
    }
}

impl FromStr for Fault {
    type Err = LinError;

    fn from_str(s: &str) -> Result<Self, LinError> {
        let err = || LinError::ScheduleParse(format!("unknown fault {s:?}"));
        match s {
            "kill-leader" => return Ok(Fault::KillLeader),
            "heal" => return Ok(Fault::Heal),
            _ => {}
        }
        let (name, args) = s.split_once('(').ok_or_else(err)?;
        let args = args.strip_suffix(')').ok_or_else(err)?;
        let node = |v: &str| parse_num::<usize>(v, "node");
        match name {
            "kill" => Ok(Fault::KillNode(node(args)?)),
            "restart" => Ok(Fault::Restart(node(args)?)),
            "partition" => Ok(Fault::Partition {
                isolate: node(args)?,
            }),
            "pause" => {
                let (n, ms) = args.split_once(',').ok_or_else(err)?;
                let ms = ms.strip_suffix("ms").ok_or_else(err)?;
                Ok(Fault::Pause(node(n)?, parse_num(ms, "pause duration")?))
            }
            _ => Err(err()),
        }
    }
}

impl fmt::Display for TimedFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms:{}", self.at_ms, self.fault)
    }
}

impl FromStr for TimedFault {
    type Err = LinError;

    fn from_str(s: &str) -> Result<Self, LinError> {
        let (at, fault) = s.split_once("ms:").ok_or_else(|| {
            LinError::ScheduleParse(format!("expected `<ms>ms:<fault>`, got {s:?}"))
        })?;
        Ok(TimedFault {
            at_ms: parse_num(at, "time")?,
            fault: fault.parse()?,
        })
    }
}

/// `seed=42 nodes=3 faults=[120ms:kill-leader 900ms:pause(1,250ms) 2000ms:heal]`
impl fmt::Display for FaultSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seed={} nodes={} faults=[", self.seed, self.nodes)?;
        for (i, t) in self.faults.iter().enumerate() {
            if i > 0 {
                write!(f, " ")?;
            }
            write!(f, "{t}")?;
        }
        write!(f, "]")
    }
}

impl FromStr for FaultSchedule {
    type Err = LinError;

    fn from_str(s: &str) -> Result<Self, LinError> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_schedule_and_seeds_differ() {
        let cfg = ScheduleConfig::default();
        assert_eq!(
            FaultSchedule::generate(7, &cfg),
            FaultSchedule::generate(7, &cfg)
        );
        let distinct: std::collections::HashSet<String> = (0..20)
            .map(|s| FaultSchedule::generate(s, &cfg).to_string())
            .collect();
        assert!(distinct.len() > 10, "seeds should give different schedules");
    }

    #[test]
    fn display_parse_round_trip() {
        for seed in 0..200 {
            let cfg = ScheduleConfig {
                nodes: 5,
                ..ScheduleConfig::default()
            };
            let s = FaultSchedule::generate(seed, &cfg);
            let text = s.to_string();
            assert!(text.starts_with(&format!("seed={seed} nodes=5 faults=[")));
            assert_eq!(FaultSchedule::parse(&text).unwrap(), s, "{text}");
        }
    }

    #[test]
    fn parse_reads_every_fault_kind() {
        let text = "seed=9 nodes=3 faults=[1ms:kill-leader 2ms:kill(1) 3ms:pause(2,40ms) \
                    4ms:partition(0) 5ms:restart(1) 6ms:heal]";
        let s: FaultSchedule = text.parse().unwrap();
        let kinds: Vec<Fault> = s.faults.iter().map(|t| t.fault).collect();
        assert_eq!(
            kinds,
            vec![
                Fault::KillLeader,
                Fault::KillNode(1),
                Fault::Pause(2, 40),
                Fault::Partition { isolate: 0 },
                Fault::Restart(1),
                Fault::Heal
            ]
        );
        assert_eq!(
            s.to_string(),
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        );
    }

    #[test]
    fn parse_rejects_garbage() {
        for bad in [
            "",
            "seed=1 nodes=3",
            "seed=x nodes=3 faults=[]",
            "nodes=3 faults=[]",
            "seed=1 nodes=3 faults=[5ms:explode]",
            "seed=1 nodes=3 faults=[5ms:kill(7)]",
            "seed=1 nodes=3 faults=[9ms:heal 5ms:heal]",
            "seed=1 nodes=3 faults=[5ms:pause(1,20)]",
        ] {
            assert!(
                matches!(FaultSchedule::parse(bad), Err(LinError::ScheduleParse(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn generated_schedules_respect_bounds_and_keep_a_majority() {
        let cfg = ScheduleConfig {
            nodes: 5,
            duration_ms: 5_000,
            max_faults: 12,
            max_pause_ms: 300,
        };
        for seed in 0..300 {
            let s = FaultSchedule::generate(seed, &cfg);
            let injected = s
                .faults
                .iter()
                .filter(|t| t.at_ms < cfg.duration_ms)
                .count();
            assert!(injected <= cfg.max_faults);
            assert!(s.faults.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
            let mut harm = Harm::default();
            for t in &s.faults {
                match t.fault {
                    Fault::KillLeader => harm.leader_killed = true,
                    Fault::KillNode(n) => harm.killed.push(n),
                    Fault::Partition { isolate } => harm.isolated.push(isolate),
                    Fault::Restart(n) => {
                        assert!(harm.killed.contains(&n), "restart of a live node: {s}");
                        harm.killed.retain(|&k| k != n);
                    }
                    Fault::Heal => harm = Harm::default(),
                    Fault::Pause(n, ms) => assert!(n < 5 && (1..=300).contains(&ms)),
                }
                assert!(harm.down() <= 2, "majority lost: {s}");
            }
            assert_eq!(harm.down(), 0, "schedule must end healthy: {s}");
        }
    }
}
