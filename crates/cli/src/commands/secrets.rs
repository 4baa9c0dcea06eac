//! `secrets enable|disable|list|tune|move` (mounts under `sys/mounts`).

use serde_json::{Map, Value, json};

use super::{subcommand, text, unknown};
use crate::args::{b, kv_pairs, m, s};
use crate::ctx::{Ctx, want_args};
use crate::error::CliError;
use crate::output;
use crate::settings::Format;

const USAGE: &str = "Usage: vault secrets <subcommand> [options] [args]

Subcommands:
    enable [-path=P] [-version=2] [-description=D] [-default-lease-ttl=DUR]
           [-max-lease-ttl=DUR] [-options=K=V] TYPE
    disable PATH
    list [-detailed]
    tune [-default-lease-ttl=DUR] [-max-lease-ttl=DUR] [-description=D] [-options=K=V] PATH
    move SRC DST
";

/// A mount path as shown and as `sys/remount` takes it: `secret/`.
fn mount_path(p: &str) -> String {
    format!("{}/", p.trim_matches('/'))
}

/// A mount path inside a request path: `secret` (a write to `sys/mounts/secret/` names a
/// directory, which the server refuses).
fn mount_name(p: &str) -> &str {
    p.trim_matches('/')
}

/// The mount config and options shared by `enable` and `tune`.
fn tune_fields(p: &crate::args::Parsed, body: &mut Map<String, Value>) -> Result<(), CliError> {
    for (flag, field) in [
        ("default-lease-ttl", "default_lease_ttl"),
        ("max-lease-ttl", "max_lease_ttl"),
    ] {
        if let Some(v) = p.str(flag) {
            p.duration(flag)?;
            body.insert(field.into(), json!(v));
        }
    }
    Ok(())
}

/// The `sys/mounts/<path>` body for `secrets enable`.
pub(crate) fn enable_body(p: &crate::args::Parsed, kind: &str) -> Result<Value, CliError> {
    let (kind, mut version) = match kind {
        "kv-v2" => ("kv", Some("2".to_owned())),
        "kv-v1" => ("kv", Some("1".to_owned())),
        k => (k, None),
    };
    if let Some(v) = p.str("version") {
        version = Some(v.to_owned());
    }
    let mut options: Map<String, Value> = kv_pairs(p.all("options"), "options")?
        .into_iter()
        .map(|(k, v)| (k, json!(v)))
        .collect();
    if let Some(v) = version {
        options.insert("version".into(), json!(v));
    }
    let mut config = Map::new();
    tune_fields(p, &mut config)?;
    let mut body = json!({"type": kind, "config": config});
    if !options.is_empty() {
        body["options"] = Value::Object(options);
    }
    if let Some(d) = p.str("description") {
        body["description"] = json!(d);
    }
    if p.bool("local") {
        body["local"] = json!(true);
    }
    if p.bool("seal-wrap") {
        body["seal_wrap"] = json!(true);
    }
    Ok(body)
}

/// Rows of `secrets list` from a `sys/mounts` response (mounts under `data` or top level).
pub(crate) fn list_rows(body: &Value, detailed: bool) -> Vec<Vec<String>> {
    let mounts = match body.get("data") {
        Some(Value::Object(d)) => d,
        _ => match body {
            Value::Object(o) => o,
            _ => return Vec::new(),
        },
    };
    let mut paths: Vec<&String> = mounts
        .iter()
        .filter(|(_, v)| v.get("type").is_some())
        .map(|(k, _)| k)
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let mnt = &mounts[path];
            let kind = text(mnt, "type");
            let desc = text(mnt, "description");
            let desc = if desc.is_empty() {
                "n/a".to_owned()
            } else {
                desc
            };
            if !detailed {
                return vec![path.clone(), kind, text(mnt, "accessor"), desc];
            }
            let cfg = mnt.get("config").cloned().unwrap_or(Value::Null);
            let ttl = |k: &str| match cfg.get(k).and_then(Value::as_u64) {
                Some(0) | None => "system".to_owned(),
                Some(s) => output::human_duration(s),
            };
            let opts = mnt
                .get("options")
                .map(output::value_text)
                .unwrap_or_default();
            vec![
                path.clone(),
                kind,
                text(mnt, "accessor"),
                ttl("default_lease_ttl"),
                ttl("max_lease_ttl"),
                text(mnt, "local"),
                text(mnt, "seal_wrap"),
                opts,
                desc,
                text(mnt, "uuid"),
            ]
        })
        .collect()
}

pub(crate) async fn run(ctx: &mut Ctx<'_>, args: &[String]) -> Result<i32, CliError> {
    let Some((sub, rest)) = subcommand(ctx, args, USAGE)? else {
        return Ok(0);
    };
    let flags = [
        s("path"),
        s("version"),
        s("description"),
        s("default-lease-ttl"),
        s("max-lease-ttl"),
        m("options"),
        b("detailed"),
        b("local"),
        b("seal-wrap"),
        s("plugin-name"),
    ];
    let Some(p) = ctx.parse(USAGE, &flags, rest)? else {
        return Ok(0);
    };
    match sub {
        "enable" => {
            want_args(&p, 1, 1, USAGE)?;
            let kind = p.positionals[0].as_str();
            let body = enable_body(&p, kind)?;
            let path = mount_path(p.str("path").unwrap_or(kind));
            let (_, client) = ctx.connect(&p)?;
            client
                .post(&format!("sys/mounts/{}", mount_name(&path)), &body)
                .await
                .map_err(|e| e.context("Error enabling"))?;
            let shown = body
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or(kind)
                .to_owned();
            ctx.print(&format!(
                "Success! Enabled the {shown} secrets engine at: {path}\n"
            ));
            Ok(0)
        }
        "disable" => {
            want_args(&p, 1, 1, USAGE)?;
            let path = mount_path(&p.positionals[0]);
            let (_, client) = ctx.connect(&p)?;
            client
                .delete(&format!("sys/mounts/{}", mount_name(&path)))
                .await
                .map_err(|e| e.context(format!("Error disabling secrets engine at {path}")))?;
            ctx.print(&format!(
                "Success! Disabled the secrets engine (if it existed) at: {path}\n"
            ));
            Ok(0)
        }
        "list" => {
            want_args(&p, 0, 0, USAGE)?;
            let (st, client) = ctx.connect(&p)?;
            let body = client
                .get("sys/mounts")
                .await
                .map_err(|e| e.context("Error listing secrets engines"))?
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
            tune_fields(&p, &mut body)?;
            if let Some(d) = p.str("description") {
                body.insert("description".into(), json!(d));
            }
            let mut options: Map<String, Value> = kv_pairs(p.all("options"), "options")?
                .into_iter()
                .map(|(k, v)| (k, json!(v)))
                .collect();
            if let Some(v) = p.str("version") {
                options.insert("version".into(), json!(v));
            }
            if !options.is_empty() {
                body.insert("options".into(), Value::Object(options));
            }
            let (_, client) = ctx.connect(&p)?;
            client
                .post(&format!("sys/mounts/{path}tune"), &Value::Object(body))
                .await
                .map_err(|e| e.context("Error tuning secrets engine"))?;
            ctx.print(&format!("Success! Tuned the secrets engine at: {path}\n"));
            Ok(0)
        }
        "move" => {
            want_args(&p, 2, 2, USAGE)?;
            let (from, to) = (mount_path(&p.positionals[0]), mount_path(&p.positionals[1]));
            let (_, client) = ctx.connect(&p)?;
            let resp = client
                .post("sys/remount", &json!({"from": from, "to": to}))
                .await
                .map_err(|e| e.context("Error moving secrets engine"))?
                .unwrap_or(Value::Null);
            let id = resp
                .get("migration_id")
                .or_else(|| resp.get("data").and_then(|d| d.get("migration_id")))
                .map(output::value_text);
            match id {
                Some(id) => ctx.print(&format!(
                    "Success! Started moving secrets engine {from} to {to}, with migration ID {id}\n"
                )),
                None => ctx.print(&format!("Success! Moved secrets engine {from} to {to}\n")),
            }
            Ok(0)
        }
        other => Err(unknown(ctx, "secrets", other, USAGE)),
    }
}
