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
    limit_malloc_arenas(&args);
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

/// glibc's `malloc` gives each thread that allocates an arena of its own (up to eight per
/// core), and each keeps the memory freed in it: after load a node held 29–33 MiB there
/// against 4–10 MiB idle, and 39–40 MiB in all with one arena instead of 57–63
/// (docs/benchmarks.md). `MALLOC_ARENA_MAX` is read once, when the process starts, so a
/// server started without it re-executes itself (same process id, same arguments) with it
/// set to 1. An operator's own value is kept; other commands are left alone; if the
/// re-execution fails the server goes on as it is.
fn limit_malloc_arenas(args: &[String]) {
    use std::os::unix::process::CommandExt;
    if args.first().map(String::as_str) != Some("server")
        || std::env::var_os("MALLOC_ARENA_MAX").is_some()
    {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut cmd = std::process::Command::new(exe);
    if let Some(arg0) = std::env::args_os().next() {
        cmd.arg0(arg0);
    }
    let err = cmd.args(args).env("MALLOC_ARENA_MAX", "1").exec();
    eprintln!("note: could not restart with MALLOC_ARENA_MAX=1 ({err}); going on");
}
