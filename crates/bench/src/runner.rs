//! Running a benchmark: probe, prepare the key set, warm up, measure.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rand::{SeedableRng, rngs::StdRng};
use tokio::time::Instant;

use crate::config::{BenchConfig, MAX_DURATION, Scenario};
use crate::error::BenchError;
use crate::http::Sender;
use crate::report::Report;
use crate::stats::{ErrorKind, RunStats};
use crate::workload::Workload;

/// Attempts per key while preparing the key set.
const PREPARE_ATTEMPTS: u32 = 3;

/// Where in the run a moment falls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Load is sent but not measured.
    Warmup,
    /// Operations started now are measured.
    Measure,
    /// No new operation may start.
    Done,
}

/// The timeline of a run, relative to its start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// End of the warm-up.
    pub warmup: Duration,
    /// End of the measured phase: warm-up plus `--duration`, or plus the 1h cap for `--ops`
    /// runs.
    pub deadline: Duration,
}

impl Plan {
    /// The plan `config` asks for.
    pub fn new(config: &BenchConfig) -> Self {
        let measured = config.duration.unwrap_or(MAX_DURATION).min(MAX_DURATION);
        Self {
            warmup: config.warmup,
            deadline: config.warmup + measured,
        }
    }

    /// The phase at `since_start` after the run began.
    pub fn phase(&self, since_start: Duration) -> Phase {
        if since_start < self.warmup {
            Phase::Warmup
        } else if since_start < self.deadline {
            Phase::Measure
        } else {
            Phase::Done
        }
    }
}

/// Runs the benchmark `config` describes and summarises it. Setting `stop` ends the run early
/// (the report then covers what was measured so far).
pub async fn run(config: &BenchConfig, stop: Arc<AtomicBool>) -> Result<Report, BenchError> {
    let ca_pem = match &config.ca_cert {
        Some(path) => Some(
            tokio::fs::read(path)
                .await
                .map_err(|e| BenchError::CaCert {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?,
        ),
        None => None,
    };
    let sender = Sender::new(config, ca_pem.as_deref())?;
    let workload = Arc::new(Workload::new(config));

    probe(config, &sender, &workload).await?;
    if config.scenario.needs_prepared_keys() && !config.skip_prepare {
        prepare(config, &sender, &workload, &stop).await?;
    }
    if stop.load(Ordering::Relaxed) {
        return Err(BenchError::Interrupted);
    }
    let (stats, elapsed) = measure(config, sender, workload, stop).await?;
    Ok(Report::new(config, &stats, elapsed))
}

/// Checks every target can serve a scenario whose engine may be missing (transit).
async fn probe(
    config: &BenchConfig,
    sender: &Sender,
    workload: &Workload,
) -> Result<(), BenchError> {
    let Some(op) = workload.probe_op() else {
        return Ok(());
    };
    for base in &config.targets {
        if let Err(kind) = sender.send(base, &op).await {
            return Err(BenchError::TransitUnavailable {
                scenario: config.scenario.name(),
                needs: match config.scenario {
                    Scenario::TransitEncrypt => "the transit engine exists",
                    _ => "the auth method and its user or role exist",
                },
                url: format!("{base}{}", op.path),
                answer: kind.to_string(),
            });
        }
    }
    Ok(())
}

/// Writes keys `0..keys` once, `concurrency` at a time, retrying each a few times.
async fn prepare(
    config: &BenchConfig,
    sender: &Sender,
    workload: &Arc<Workload>,
    stop: &Arc<AtomicBool>,
) -> Result<(), BenchError> {
    let next = Arc::new(AtomicU64::new(0));
    let targets = Arc::new(config.targets.clone());
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..config
        .concurrency
        .min(usize::try_from(config.keys).unwrap_or(usize::MAX))
    {
        let (next, targets, sender, workload, stop) = (
            next.clone(),
            targets.clone(),
            sender.clone(),
            workload.clone(),
            stop.clone(),
        );
        let keys = config.keys;
        tasks.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= keys {
                    return Ok(());
                }
                if stop.load(Ordering::Relaxed) {
                    return Err(BenchError::Interrupted);
                }
                let base = &targets[(n % targets.len() as u64) as usize];
                let op = workload.write_op(n);
                let mut last = ErrorKind::Transport;
                let mut done = false;
                for attempt in 1..=PREPARE_ATTEMPTS {
                    match sender.send(base, &op).await {
                        Ok(()) => {
                            done = true;
                            break;
                        }
                        Err(kind) => last = kind,
                    }
                    if attempt < PREPARE_ATTEMPTS {
                        tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
                    }
                }
                if !done {
                    return Err(BenchError::Prepare {
                        key: format!("{base}{}", op.path),
                        answer: last.to_string(),
                        attempts: PREPARE_ATTEMPTS,
                    });
                }
            }
        });
    }
    let mut result = Ok(());
    while let Some(joined) = tasks.join_next().await {
        let outcome = joined
            .map_err(|e| BenchError::Worker(e.to_string()))
            .and_then(|r| r);
        if let Err(e) = outcome
            && result.is_ok()
        {
            result = Err(e);
            // One failure is enough: stop the other writers.
            tasks.abort_all();
        }
    }
    result
}

/// The warm-up and measured phases: `concurrency` workers, each with one request in flight.
async fn measure(
    config: &BenchConfig,
    sender: Sender,
    workload: Arc<Workload>,
    stop: Arc<AtomicBool>,
) -> Result<(RunStats, Duration), BenchError> {
    let plan = Plan::new(config);
    let issued = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..config.concurrency {
        let base = config.targets[worker % config.targets.len()].clone();
        let (sender, workload, issued, stop) = (
            sender.clone(),
            workload.clone(),
            issued.clone(),
            stop.clone(),
        );
        let ops = config.ops;
        let mut rng = StdRng::seed_from_u64(worker_seed(config.seed, worker));
        tasks.spawn(async move {
            let mut stats = RunStats::default();
            while !stop.load(Ordering::Relaxed) {
                let measured = match plan.phase(start.elapsed()) {
                    Phase::Done => break,
                    Phase::Warmup => false,
                    Phase::Measure => true,
                };
                if measured
                    && let Some(limit) = ops
                    && issued.fetch_add(1, Ordering::Relaxed) >= limit
                {
                    break;
                }
                let op = workload.next_op(&mut rng);
                let began = Instant::now();
                let outcome = sender.send(&base, &op).await;
                if measured {
                    stats.record(outcome.map(|()| began.elapsed()));
                }
            }
            stats
        });
    }
    let mut total = RunStats::default();
    while let Some(joined) = tasks.join_next().await {
        let stats = joined.map_err(|e| BenchError::Worker(e.to_string()))?;
        total.merge(&stats);
    }
    let elapsed = start.elapsed().saturating_sub(plan.warmup);
    Ok((total, elapsed))
}

/// A distinct, reproducible generator seed per worker.
fn worker_seed(seed: u64, worker: usize) -> u64 {
    seed ^ (worker as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;

    fn config(extra: &[&str]) -> BenchConfig {
        let mut args = vec!["tresor-bench", "kv-write"];
        args.extend_from_slice(extra);
        Cli::try_parse_from(args)
            .unwrap()
            .validate(|k| (k == "VAULT_TOKEN").then(|| "t".to_owned()))
            .unwrap()
    }

    #[test]
    fn duration_plan() {
        let plan = Plan::new(&config(&["--duration", "10s", "--warmup", "2s"]));
        assert_eq!(plan.phase(Duration::ZERO), Phase::Warmup);
        assert_eq!(plan.phase(Duration::from_millis(1999)), Phase::Warmup);
        assert_eq!(plan.phase(Duration::from_secs(2)), Phase::Measure);
        assert_eq!(plan.phase(Duration::from_millis(11_999)), Phase::Measure);
        assert_eq!(plan.phase(Duration::from_secs(12)), Phase::Done);
    }

    #[test]
    fn ops_plan_is_capped_at_an_hour() {
        let plan = Plan::new(&config(&["--ops", "5", "--warmup", "0"]));
        assert_eq!(plan.phase(Duration::ZERO), Phase::Measure);
        assert_eq!(plan.phase(Duration::from_secs(3599)), Phase::Measure);
        assert_eq!(plan.phase(MAX_DURATION), Phase::Done);
    }

    #[test]
    fn worker_seeds_differ() {
        let seeds: std::collections::HashSet<u64> = (0..1000).map(|w| worker_seed(7, w)).collect();
        assert_eq!(seeds.len(), 1000);
        assert_eq!(worker_seed(7, 3), worker_seed(7, 3));
        assert_ne!(worker_seed(7, 3), worker_seed(8, 3));
    }
}
