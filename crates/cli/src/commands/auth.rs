//! `auth enable|disable|list|tune` (auth methods under `sys/auth`).

use serde_json::{Map, Value, json};

use super::secrets::{enable_body, list_rows};
use super::{subcommand, unknown};
use crate::args::{b, m, s};
use crate::ctx::{Ctx, want_args};
use crate::error::CliError;
use crate::output;
use crate::settings::Format;

const USAGE: &str = "Usage: vault auth <subcommand> [options] [args]

Subcommands:
    enable [-path=P] [-description=D] [-default-lease-ttl=DUR] [-max-lease-ttl=DUR]
           [-options=K=V] TYPE
    disable PATH
    list [-detailed]
    tune [-default-lease-ttl=DUR] [-max-lease-ttl=DUR] [-description=D] PATH
";

/// An auth mount path as shown: `userpass/`.
fn mount_path(p: &str) -> String {
    format!("{}/", p.trim_matches('/'))
}

pub(crate) async fn run(ctx: &mut Ctx<'_>, args: &[String]) -> Result<i32, CliError> {
    let Some((sub, rest)) = subcommand(ctx, args, USAGE)? else {
        return Ok(0);
    };
    let flags = [
        s("path"),
        s("description"),
        s("default-lease-ttl"),
        s("max-lease-ttl"),
        m("options"),
        b("detailed"),
        b("local"),
        b("seal-wrap"),
        s("plugin-name"),
        s("version"),
    ];
    let Some(p) = ctx.parse(USAGE, &flags, rest)? else {
        return Ok(0);
    };
    match sub {
        "enable" => {
            want_args(&p, 1, 1, USAGE)?;
            let kind = p.positionals[0].clone();
            let body = enable_body(&p, &kind)?;
            let path = mount_path(p.str("path").unwrap_or(&kind));
            let (_, client) = ctx.connect(&p)?;
            client
                .post(&format!("sys/auth/{}", path.trim_matches('/')), &body)
                .await
                .map_err(|e| e.context("Error enabling"))?;
            ctx.print(&format!("Success! Enabled {kind} auth method at: {path}\n"));
            Ok(0)
        }
        "disable" => {
            want_args(&p, 1, 1, USAGE)?;
            let path = mount_path(&p.positionals[0]);
            let (_, client) = ctx.connect(&p)?;
            client
                .delete(&format!("sys/auth/{}", path.trim_matches('/')))
                .await
                .map_err(|e| e.context(format!("Error disabling auth method at {path}")))?;
            ctx.print(&format!(
                "Success! Disabled the auth method (if it existed) at: {path}\n"
            ));
            Ok(0)
        }
        "list" => {
            want_args(&p, 0, 0, USAGE)?;
            let (st, client) = ctx.connect(&p)?;
            let body = client
                .get("sys/auth")
                .await
                .map_err(|e| e.context("Error listing enabled authentications"))?
                .unwrap_or(Value::Null);
            if st.format == Format::Json {
                let data = body.get("data").cloned().unwrap_or(body);
                ctx.print(&output::json(&data));
                return Ok(0);
            }
            let detailed = p.bool("detailed");
            let header: &[&str] = if detailed {
                &[
                    "Path",
                    "Plugin",
                    "Accessor",
                    "Default TTL",
                    "Max TTL",
                    "Local",
                    "Seal Wrap",
                    "Options",
                    "Description",
                    "UUID",
                ]
            } else {
                &["Path", "Type", "Accessor", "Description"]
            };
            ctx.print(&output::table(Some(header), &list_rows(&body, detailed)));
            Ok(0)
        }
        "tune" => {
            want_args(&p, 1, 1, USAGE)?;
            let path = mount_path(&p.positionals[0]);
            let mut body = Map::new();
            for (flag, field) in [
                ("default-lease-ttl", "default_lease_ttl"),
                ("max-lease-ttl", "max_lease_ttl"),
            ] {
                if let Some(v) = p.str(flag) {
                    p.duration(flag)?;
                    body.insert(field.into(), json!(v));
                }
            }
            if let Some(d) = p.str("description") {
                body.insert("description".into(), json!(d));
            }
            let (_, client) = ctx.connect(&p)?;
            client
                .post(&format!("sys/auth/{path}tune"), &Value::Object(body))
                .await
                .map_err(|e| e.context("Error tuning auth method"))?;
            ctx.print(&format!("Success! Tuned the auth method at: {path}\n"));
            Ok(0)
        }
        other => Err(unknown(ctx, "auth", other, USAGE)),
    }
}
