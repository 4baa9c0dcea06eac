//! `tresor`: `tresor server ...` runs a node; every other command is the Vault-compatible
//! CLI (`status`, `operator ...`, `kv ...`, ...).

mod dev;
mod flags;
mod log_rotate;
mod logging;
mod seals;
mod server;
mod snapshots;

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
    std::process::exit(code);
}
