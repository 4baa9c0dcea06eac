//! `difftest`: the long differential run (100,000 cases by default) outside the test suite.
//!
//! ```text
//! cargo run -p tresor-difftest --bin difftest -- [CASES] [SEED]
//! ```
//!
//! Environment as for the test (`DIFFTEST_SEED`, `DIFFTEST_CASES`, `DIFFTEST_CASE`,
//! `DIFFTEST_THREADS`, `DIFFTEST_MAX_FAILURES` — default 50 here — `BAO_BIN`, `TRESOR_BIN`).
//! Exits 1 when any case differs; prints the count, the categories and replay seeds.

use std::io::Write as _;
use std::time::Instant;

use tresor_difftest::allowed::allowances;
use tresor_difftest::runner::{RunConfig, run};
use tresor_difftest::server::DevServer;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut cfg = RunConfig::from_env(1, 100_000);
    if let Some(n) = args.first().and_then(|a| a.parse().ok()) {
        cfg.cases = n;
    }
    if let Some(s) = args.get(1).and_then(|a| a.parse().ok()) {
        cfg.seed = s;
    }
    if std::env::var_os("DIFFTEST_MAX_FAILURES").is_none() {
        cfg.max_failures = 50;
    }
    let servers = DevServer::start_openbao().and_then(|b| Ok((b, DevServer::start_tresor()?)));
    let (openbao, tresor) = match servers {
        Ok(s) => s,
        Err(e) => {
            eprintln!("difftest: {e}");
            std::process::exit(2);
        }
    };
    eprintln!(
        "difftest: seed {} cases {} threads {} (openbao {}, tresor {})",
        cfg.seed, cfg.cases, cfg.threads, openbao.addr, tresor.addr
    );
    let start = Instant::now();
    let total = cfg.cases;
    let progress = |n: u64| {
        if n.is_multiple_of(5000) {
            let secs = start.elapsed().as_secs_f64();
            eprintln!(
                "difftest: {n}/{total} cases, {:.0}/s",
                n as f64 / secs.max(0.001)
            );
        }
    };
    let summary = run(&cfg, &openbao.addr, &tresor.addr, &allowances(), &progress);
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", summary.report(3));
    let _ = writeln!(
        out,
        "difftest: {} cases in {:.1}s",
        summary.total,
        start.elapsed().as_secs_f64()
    );
    let failed = summary.failure_count() > 0 || !summary.errors.is_empty();
    // `process::exit` skips destructors: stop both servers first.
    drop(openbao);
    drop(tresor);
    if failed {
        std::process::exit(1);
    }
}
