//! `tresor`: `tresor server ...` runs a node; every other command is the Vault-compatible
//! CLI (`status`, `operator ...`, `kv ...`, ...).

mod dev;
mod flags;
mod log_rotate;
mod logging;
mod seals;
mod server;
mod snapshots;

/// The allocator of every Rust allocation in the binary; a server tunes it with
/// [`SERVER_ALLOCATOR_ENV`].
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long the exit waits for blocking work (a storage commit, a file write) to finish.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    tune_allocators(&args);
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

/// The allocator settings `tresor server` runs with, unless the operator set them.
///
/// Rust's allocations go to mimalloc (the global allocator above); with glibc's `malloc`
/// and one arena, threads queued on the arena's lock for about a tenth of a loaded node's
/// CPU, and mimalloc served the same reads with a third less CPU (docs/benchmarks.md).
/// - `MIMALLOC_PURGE_DELAY=0`: hand freed pages back to the OS at once, not a second later.
/// - `MIMALLOC_ARENA_EAGER_COMMIT=0`: commit arena memory as it is used (idle 27–30 MiB
///   per node instead of 41–78).
/// - `MALLOC_ARENA_MAX=1`: one glibc arena for what C libraries (a PKCS#11 module) allocate.
const SERVER_ALLOCATOR_ENV: [(&str, &str); 3] = [
    ("MIMALLOC_PURGE_DELAY", "0"),
    ("MIMALLOC_ARENA_EAGER_COMMIT", "0"),
    ("MALLOC_ARENA_MAX", "1"),
];

/// Both allocators read their settings once, when the process starts, so a server started
/// without one of [`SERVER_ALLOCATOR_ENV`] re-executes itself (same process id, same
/// arguments) with the missing ones set. An operator's own values are kept; other commands
/// are left alone; if the re-execution fails the server goes on as it is.
fn tune_allocators(args: &[String]) {
    use std::os::unix::process::CommandExt;
    if args.first().map(String::as_str) != Some("server") {
        return;
    }
    let missing: Vec<(&str, &str)> = SERVER_ALLOCATOR_ENV
        .into_iter()
        .filter(|(name, _)| std::env::var_os(name).is_none())
        .collect();
    if missing.is_empty() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut cmd = std::process::Command::new(exe);
    if let Some(arg0) = std::env::args_os().next() {
        cmd.arg0(arg0);
    }
    let err = cmd.args(args).envs(missing).exec();
    eprintln!("note: could not restart with the allocator settings ({err}); going on");
}
