//! `tresor`: `tresor server ...` runs a node; every other command is the Vault-compatible
//! CLI (`status`, `operator ...`, `kv ...`, ...).

mod dev;
mod flags;
mod log_rotate;
mod logging;
mod seals;
mod server;
mod snapshots;

/// How long the exit waits for blocking work (a storage commit, a file write) to finish.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = match args.first().map(String::as_str) {
        Some("server") => runtime.block_on(server::run(args[1..].to_vec())),
        _ => runtime.block_on(tresor_cli::run(args)),
    };
    // Drop every task still holding storage handles before exiting: a Raft state database
    // that is closed (dropped) opens at once next time, one that is not must be checked
    // page by page, which takes seconds per GiB.
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    std::process::exit(code);
}
