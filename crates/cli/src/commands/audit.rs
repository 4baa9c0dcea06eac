//! `audit enable|disable|list` (devices under `sys/audit`).

use serde_json::{Map, Value, json};

use super::{subcommand, text, unknown};
use crate::args::{b, s};
use crate::ctx::{Ctx, want_args};
use crate::error::CliError;
use crate::output;
use crate::settings::Format;

const USAGE: &str = "Usage: vault audit <subcommand> [options] [args]

Subcommands:
    enable [-path=P] [-description=D] [-local] TYPE [KEY=VALUE...]
    disable PATH
    list [-detailed]

Types: file (file_path=PATH|stdout|discard, mode=0600), socket (address=HOST:PORT,
socket_type=tcp|udp|unix, write_timeout=2s), syslog (facility=AUTH, tag=vault),
http (uri=URL). Every type takes log_raw, hmac_accessor, elide_list_responses, format,
prefix, filter, exclude and fallback.
";

/// A device path as shown: `file/`.
fn device_path(p: &str) -> String {
    format!("{}/", p.trim_matches('/'))
}

/// The `sys/audit/<path>` body for `audit enable`.
fn enable_body(
    kind: &str,
    description: Option<&str>,
    local: bool,
    options: &[String],
) -> Result<Value, CliError> {
    let mut opts = Map::new();
    for pair in options {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| CliError::Usage(format!("option {pair:?} is not KEY=VALUE")))?;
        opts.insert(k.to_owned(), json!(v));
    }
    let mut body = json!({"type": kind, "options": opts});
    if let Some(d) = description {
        body["description"] = json!(d);
    }
    if local {
        body["local"] = json!(true);
    }
    Ok(body)
}

/// Rows of `audit list` from a `sys/audit` response.
fn list_rows(body: &Value, detailed: bool) -> Vec<Vec<String>> {
    let devices = match super::data_of(body) {
        Value::Object(d) => d,
        _ => return Vec::new(),
    };
    let mut paths: Vec<&String> = devices
        .iter()
        .filter(|(_, v)| v.get("type").is_some())
        .map(|(k, _)| k)
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let d = &devices[path];
            let desc = match text(d, "description") {
                t if t.is_empty() => "n/a".to_owned(),
                t => t,
            };
            if !detailed {
                return vec![path.clone(), text(d, "type"), desc];
            }
            let replication = if d.get("local").and_then(Value::as_bool) == Some(true) {
                "local"
            } else {
                "replicated"
            };
            let options = d
                .get("options")
                .and_then(Value::as_object)
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| format!("{k}={}", output::value_text(v)))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            vec![
                path.clone(),
                text(d, "type"),
                desc,
                replication.to_owned(),
                options,
            ]
        })
        .collect()
}

pub(crate) async fn run(ctx: &mut Ctx<'_>, args: &[String]) -> Result<i32, CliError> {
    let Some((sub, rest)) = subcommand(ctx, args, USAGE)? else {
        return Ok(0);
    };
    let flags = [s("path"), s("description"), b("local"), b("detailed")];
    let Some(p) = ctx.parse(USAGE, &flags, rest)? else {
        return Ok(0);
    };
    match sub {
        "enable" => {
            want_args(&p, 1, usize::MAX, USAGE)?;
            let kind = p.positionals[0].as_str();
            let body = enable_body(
                kind,
                p.str("description"),
                p.bool("local"),
                &p.positionals[1..],
            )?;
            let path = device_path(p.str("path").unwrap_or(kind));
            let (_, client) = ctx.connect(&p)?;
            client
                .put(&format!("sys/audit/{}", path.trim_end_matches('/')), &body)
                .await
                .map_err(|e| e.context("Error enabling audit device"))?;
            ctx.print(&format!(
                "Success! Enabled the {kind} audit device at: {path}\n"
            ));
            Ok(0)
        }
        "disable" => {
            want_args(&p, 1, 1, USAGE)?;
            let path = device_path(&p.positionals[0]);
            let (_, client) = ctx.connect(&p)?;
            client
                .delete(&format!("sys/audit/{}", path.trim_end_matches('/')))
                .await
                .map_err(|e| e.context("Error disabling audit device"))?;
            ctx.print(&format!(
                "Success! Disabled audit device (if it was enabled) at: {path}\n"
            ));
            Ok(0)
        }
        "list" => {
            want_args(&p, 0, 0, USAGE)?;
            let (st, client) = ctx.connect(&p)?;
            let body = client
                .get("sys/audit")
                .await
                .map_err(|e| e.context("Error listing audits"))?
                .unwrap_or(Value::Null);
            if st.format == Format::Json {
                ctx.print(&output::json(super::data_of(&body)));
                return Ok(0);
            }
            let detailed = p.bool("detailed");
            let rows = list_rows(&body, detailed);
            if rows.is_empty() {
                ctx.print("No audit devices are enabled.\n");
                return Ok(2);
            }
            let header: &[&str] = if detailed {
                &["Path", "Type", "Description", "Replication", "Options"]
            } else {
                &["Path", "Type", "Description"]
            };
            ctx.print(&output::table(Some(header), &rows));
            Ok(0)
        }
        other => Err(unknown(ctx, "audit", other, USAGE)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enable_body_takes_key_value_options() {
        let b = enable_body(
            "file",
            Some("main"),
            false,
            &["file_path=/var/log/a.log".into(), "mode=0640".into()],
        )
        .expect("body");
        assert_eq!(
            b,
            json!({"type": "file", "description": "main",
                   "options": {"file_path": "/var/log/a.log", "mode": "0640"}})
        );
        assert!(enable_body("file", None, false, &["oops".into()]).is_err());
    }

    #[test]
    fn list_rows_sorted_with_details() {
        let body = json!({"data": {
            "z/": {"type": "socket", "description": "", "local": false, "options": {"address": "a:1"}},
            "file/": {"type": "file", "description": "main", "local": true, "options": {"file_path": "/x"}},
        }});
        assert_eq!(
            list_rows(&body, false),
            vec![
                vec!["file/".to_owned(), "file".into(), "main".into()],
                vec!["z/".to_owned(), "socket".into(), "n/a".into()],
            ]
        );
        assert_eq!(
            list_rows(&body, true)[0][3..],
            ["local".to_owned(), "file_path=/x".into()]
        );
    }
}
