//! The differential test: OpenBao and Tresor dev servers side by side, a seeded batch of
//! cases against both, failing on any difference not accepted in `src/allowed.rs`.
//!
//! ```text
//! cargo build -p tresor && cargo test -p tresor-difftest --test differential
//! DIFFTEST_SEED=7 DIFFTEST_CASES=2000 cargo test -p tresor-difftest --test differential
//! DIFFTEST_SEED=7 DIFFTEST_CASE=123 cargo test -p tresor-difftest --test differential -- --nocapture
//! ```
//!
//! Needs the real `bao` (`bash scripts/ci-deps.sh` installs it at `.tools/bin/bao`, or set
//! `BAO_BIN`) and a built `tresor` binary (`cargo build -p tresor`, or set `TRESOR_BIN`).

use tresor_difftest::allowed::allowances;
use tresor_difftest::runner::{RunConfig, run};
use tresor_difftest::server::DevServer;

/// Default seed: fixed, so CI runs the same cases every time; vary it with `DIFFTEST_SEED`.
const DEFAULT_SEED: u64 = 20_260_101;
/// Default number of cases.
const DEFAULT_CASES: u64 = 1000;

#[test]
fn tresor_decides_like_openbao() {
    let cfg = RunConfig::from_env(DEFAULT_SEED, DEFAULT_CASES);
    let openbao = match DevServer::start_openbao() {
        Ok(s) => s,
        Err(e) => panic!("cannot start OpenBao: {e}"),
    };
    let tresor = match DevServer::start_tresor() {
        Ok(s) => s,
        Err(e) => panic!("cannot start Tresor: {e}"),
    };
    let allow = allowances();
    let summary = run(&cfg, &openbao.addr, &tresor.addr, &allow, &|_| {});
    let report = summary.report(if cfg.only.is_some() { 1 } else { 2 });
    println!("{}", report.lines().next().unwrap_or_default());
    assert!(
        summary.total > 0 && summary.errors.is_empty() && summary.failure_count() == 0,
        "{} of {} cases differ (seed {}); replay one with DIFFTEST_SEED=<seed> DIFFTEST_CASE=<index>\n{report}",
        summary.failure_count() + summary.errors.len() as u64,
        summary.total,
        cfg.seed
    );
}
