//! The `tresor-bench` binary: parse, run, print, and exit non-zero on broken runs.
//!
//! Exit codes: 0 healthy run, 1 run could not start, 2 invalid arguments, 3 error rate above
//! `--max-error-rate` (or nothing was measured), 130 aborted by a second Ctrl-C.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Parser;
use tresor_bench::{Cli, OutputFormat, run};

/// Exit code of a run whose error rate is too high.
const EXIT_ERROR_RATE: u8 = 3;
/// Exit code after a second Ctrl-C (128 + SIGINT, as shells report it).
const EXIT_ABORTED: i32 = 130;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match cli.validate(|k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let on_signal = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("interrupted: finishing requests in flight (Ctrl-C again to abort)");
            on_signal.store(true, Ordering::Relaxed);
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(EXIT_ABORTED);
            }
        }
    });
    eprintln!(
        "tresor-bench: {} against {} with {} workers (seed {})",
        config.scenario,
        config.targets.join(", "),
        config.concurrency,
        config.seed
    );
    let report = match run(&config, stop).await {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    match config.format {
        OutputFormat::Table => print!("{}", report.to_table()),
        OutputFormat::Json => println!("{}", report.to_json()),
    }
    if report.passes(config.max_error_rate) {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "tresor-bench: error rate {:.3}% of {} ops exceeds --max-error-rate {:.3}%",
            report.error_rate * 100.0,
            report.ops,
            config.max_error_rate * 100.0
        );
        ExitCode::from(EXIT_ERROR_RATE)
    }
}

fn fail(e: &tresor_bench::BenchError) -> ExitCode {
    eprintln!("tresor-bench: {e}");
    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
}
