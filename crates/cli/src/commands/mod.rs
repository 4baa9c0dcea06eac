//! The commands, one module per command group, and the top-level dispatch.

mod audit;
mod auth;
mod generic;
mod health;
mod kv;
mod lease;
mod login;
mod operator;
mod operator_keys;
mod policy;
mod raft;
mod raft_snapshot;
mod secrets;
mod status;
mod token;

use serde_json::Value;

use crate::ctx::Ctx;
use crate::error::CliError;
use crate::usage;

/// Runs the command named by the first argument.
pub(crate) async fn dispatch(ctx: &mut Ctx<'_>, args: &[String]) -> Result<i32, CliError> {
    let Some((cmd, rest)) = args.split_first() else {
        ctx.eprint(usage::TOP);
        return Ok(127);
    };
    match cmd.as_str() {
        "status" => status::run(ctx, rest).await,
        "operator" => operator::run(ctx, rest).await,
        "login" => login::run(ctx, rest).await,
        "auth" => auth::run(ctx, rest).await,
        "token" => token::run(ctx, rest).await,
        "policy" => policy::run(ctx, rest).await,
        "secrets" => secrets::run(ctx, rest).await,
        "audit" => audit::run(ctx, rest).await,
        "kv" => kv::run(ctx, rest).await,
        "lease" => lease::run(ctx, rest).await,
        "read" | "write" | "list" | "delete" => generic::run(ctx, cmd, rest).await,
        "version" | "-v" | "-version" | "--version" => {
            ctx.print(&format!("Tresor v{}\n", env!("CARGO_PKG_VERSION")));
            Ok(0)
        }
        "-h" | "-help" | "--help" | "help" => {
            ctx.print(usage::TOP);
            Ok(0)
        }
        other => Err(CliError::UnknownCommand(other.to_owned())),
    }
}

/// Picks the subcommand of a group: `None` (after printing the group's usage) when missing
/// or asked for help.
pub(crate) fn subcommand<'a>(
    ctx: &mut Ctx<'_>,
    args: &'a [String],
    usage: &str,
) -> Result<Option<(&'a str, &'a [String])>, CliError> {
    match args.split_first() {
        None => {
            ctx.eprint(usage);
            Err(CliError::Usage("missing subcommand".into()))
        }
        Some((h, _)) if matches!(h.as_str(), "-h" | "-help" | "--help" | "help") => {
            ctx.print(usage);
            Ok(None)
        }
        Some((s, rest)) => Ok(Some((s.as_str(), rest))),
    }
}

/// A group's unknown subcommand.
pub(crate) fn unknown(ctx: &mut Ctx<'_>, group: &str, sub: &str, usage: &str) -> CliError {
    ctx.eprint(usage);
    CliError::UnknownCommand(format!("{group} {sub}"))
}

/// The `data` object of an envelope, or the body itself for raw responses.
pub(crate) fn data_of(body: &Value) -> &Value {
    match body.get("data") {
        Some(d) if d.is_object() => d,
        _ => body,
    }
}

/// Text of a field (`""` when absent).
pub(crate) fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .map(crate::output::value_text)
        .unwrap_or_default()
}
