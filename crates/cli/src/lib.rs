//! `tresor-cli`: a command-line client that speaks Vault's HTTP API, with Vault's CLI
//! conventions (single-dash flags before positionals, `VAULT_*` environment variables,
//! `~/.vault-token`, table/JSON/`-field` output, exit codes 0/1/2).
//!
//! The binary calls [`run`] with the arguments after the program name. Tests call
//! [`run_with`] with a fake [`Env`] and in-memory writers.
//!
//! Exit codes: 0 success; 1 API, connection or local I/O error; 2 usage error, "no value
//! found", or (for `status`) a sealed server; 127 unknown command (as Vault).

mod args;
mod client;
mod commands;
mod ctx;
mod env;
mod error;
mod kv_path;
mod otp;
mod output;
mod policy_fmt;
mod settings;
mod usage;

use std::io::Write;

pub use env::{Env, SystemEnv};
pub use error::CliError;
pub use settings::{DEFAULT_ADDRESS, TOKEN_FILE};

/// Runs one CLI invocation against the real environment, stdout and stderr; returns the exit
/// code.
pub async fn run(args: Vec<String>) -> i32 {
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    run_with(args, &SystemEnv, &mut out, &mut err).await
}

/// Runs one CLI invocation with the given environment and output streams; returns the exit
/// code.
pub async fn run_with(
    args: Vec<String>,
    env: &dyn Env,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let mut ctx = ctx::Ctx::new(env, out, err);
    let code = match commands::dispatch(&mut ctx, &args).await {
        Ok(code) => code,
        Err(e) => {
            match &e {
                CliError::UnknownCommand(_) => {
                    ctx.eprint(&format!("{e}\n\n{}", usage::TOP));
                }
                _ => ctx.eprint(&format!("{e}\n")),
            }
            e.exit_code()
        }
    };
    let _ = ctx.out.flush();
    let _ = ctx.err.flush();
    code
}
