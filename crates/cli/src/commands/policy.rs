//! `policy write|read|list|delete|fmt` (ACL policies under `sys/policies/acl`).

use serde_json::{Value, json};

use super::{data_of, subcommand, unknown};
use crate::ctx::{Ctx, want_args};
use crate::error::CliError;
use crate::output;
use crate::settings::Format;

const USAGE: &str = "Usage: vault policy <subcommand> [options] [args]

Subcommands:
    write NAME FILE|-    Upload a policy
    read NAME            Print a policy
    list                 List policy names
    delete NAME          Delete a policy
    fmt FILE             Format a policy file in place (locally)
";

fn name_arg(n: &str) -> String {
    n.trim().to_lowercase()
}

pub(crate) async fn run(ctx: &mut Ctx<'_>, args: &[String]) -> Result<i32, CliError> {
    let Some((sub, rest)) = subcommand(ctx, args, USAGE)? else {
        return Ok(0);
    };
    let Some(p) = ctx.parse(USAGE, &[], rest)? else {
        return Ok(0);
    };
    match sub {
        "write" => {
            want_args(&p, 2, 2, USAGE)?;
            let name = name_arg(&p.positionals[0]);
            let rules = ctx.value_arg(&match p.positionals[1].as_str() {
                "-" => "-".to_owned(),
                f => format!("@{f}"),
            })?;
            let (_, client) = ctx.connect(&p)?;
            client
                .put(
                    &format!("sys/policies/acl/{name}"),
                    &json!({"policy": rules}),
                )
                .await
                .map_err(|e| e.context("Error uploading policy"))?;
            ctx.print(&format!("Success! Uploaded policy: {name}\n"));
            Ok(0)
        }
        "read" => {
            want_args(&p, 1, 1, USAGE)?;
            let name = name_arg(&p.positionals[0]);
            let (st, client) = ctx.connect(&p)?;
            let path = format!("sys/policies/acl/{name}");
            let Some(body) = client
                .read(&path, &[])
                .await
                .map_err(|e| e.context(format!("Error reading policy named {name}")))?
            else {
                return Err(CliError::NotFound(path));
            };
            if st.format == Format::Json || st.field.is_some() {
                return ctx.show_secret(&st, &body);
            }
            let rules = data_of(&body)
                .get("policy")
                .or_else(|| data_of(&body).get("rules"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            ctx.print(&rules);
            if !rules.ends_with('\n') {
                ctx.print("\n");
            }
            Ok(0)
        }
        "list" => {
            want_args(&p, 0, 0, USAGE)?;
            let (st, client) = ctx.connect(&p)?;
            let body = client
                .list("sys/policies/acl")
                .await
                .map_err(|e| e.context("Error listing policies"))?
                .unwrap_or(Value::Null);
            let keys = data_of(&body).get("keys").cloned().unwrap_or(json!([]));
            if st.format == Format::Json {
                ctx.print(&output::json(&keys));
                return Ok(0);
            }
            for k in keys.as_array().into_iter().flatten() {
                ctx.print(&format!("{}\n", output::value_text(k)));
            }
            Ok(0)
        }
        "delete" => {
            want_args(&p, 1, 1, USAGE)?;
            let name = name_arg(&p.positionals[0]);
            let (_, client) = ctx.connect(&p)?;
            client
                .delete(&format!("sys/policies/acl/{name}"))
                .await
                .map_err(|e| e.context(format!("Error deleting {name}")))?;
            ctx.print(&format!("Success! Deleted policy: {name}\n"));
            Ok(0)
        }
        "fmt" => {
            want_args(&p, 1, 1, USAGE)?;
            let path = &p.positionals[0];
            let text = std::fs::read_to_string(path)
                .map_err(|e| CliError::io(format!("Error opening policy file {path}"), e))?;
            let formatted = crate::policy_fmt::format(&text)
                .map_err(|e| CliError::Failed(format!("Error formatting policy: {e}")))?;
            std::fs::write(path, formatted)
                .map_err(|e| CliError::io(format!("Error writing policy file {path}"), e))?;
            ctx.print(&format!("Success! Formatted policy: {path}\n"));
            Ok(0)
        }
        other => Err(unknown(ctx, "policy", other, USAGE)),
    }
}
