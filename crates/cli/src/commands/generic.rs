//! `read`, `write`, `list`, `delete` on any API path.

use serde_json::{Value, json};

use super::data_of;
use crate::args::b;
use crate::client::Client;
use crate::ctx::{Ctx, data_args, want_args};
use crate::error::CliError;
use crate::output;
use crate::settings::{Format, Settings};

const USAGE: &str = "Usage:
    vault read [options] PATH [K=V...]
    vault write [options] PATH [K=V...]     (-force to write an empty body)
    vault list [options] PATH
    vault delete [options] PATH
";

/// Whether a write response carries something worth showing.
fn has_content(v: &Value) -> bool {
    let non_empty = |k: &str| match v.get(k) {
        None | Some(Value::Null) => false,
        Some(Value::Object(o)) => !o.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(_) => true,
    };
    non_empty("data") || non_empty("auth") || non_empty("warnings")
}

pub(crate) async fn run(ctx: &mut Ctx<'_>, cmd: &str, args: &[String]) -> Result<i32, CliError> {
    let Some(p) = ctx.parse(USAGE, &[b("force"), b("f")], args)? else {
        return Ok(0);
    };
    want_args(&p, 1, usize::MAX, USAGE)?;
    let path = p.positionals[0].trim_start_matches('/').to_owned();
    let data = data_args(ctx, &p.positionals[1..])?;
    let (st, client) = ctx.connect(&p)?;
    match cmd {
        "read" => {
            let query: Vec<(&str, String)> = data
                .iter()
                .map(|(k, v)| (k.as_str(), output::value_text(v)))
                .collect();
            let body = client
                .read(&path, &query)
                .await
                .map_err(|e| e.context(format!("Error reading {path}")))?;
            match body {
                Some(b) => ctx.show_secret(&st, &b),
                None => Err(CliError::NotFound(path)),
            }
        }
        "write" => {
            if data.is_empty() && !(p.bool("force") || p.bool("f")) {
                return Err(CliError::Usage("Must supply data or use -force".to_owned()));
            }
            let resp = client
                .put(&path, &Value::Object(data))
                .await
                .map_err(|e| e.context(format!("Error writing data to {path}")))?;
            match resp {
                Some(r) if has_content(&r) => ctx.show_secret(&st, &r),
                _ => {
                    ctx.print(&format!("Success! Data written to: {path}\n"));
                    Ok(0)
                }
            }
        }
        "list" => list(ctx, &st, &client, &path, &path).await,
        _ => {
            want_args(&p, 1, 1, USAGE)?;
            client
                .delete(&path)
                .await
                .map_err(|e| e.context(format!("Error deleting {path}")))?;
            ctx.print(&format!(
                "Success! Data deleted (if it existed) at: {path}\n"
            ));
            Ok(0)
        }
    }
}

/// Lists `api_path` and prints the keys (`shown` names the path in messages).
pub(crate) async fn list(
    ctx: &mut Ctx<'_>,
    st: &Settings,
    client: &Client,
    api_path: &str,
    shown: &str,
) -> Result<i32, CliError> {
    let body = client
        .list(api_path)
        .await
        .map_err(|e| e.context(format!("Error listing {shown}")))?;
    let keys = body
        .as_ref()
        .and_then(|b| data_of(b).get("keys"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if keys.is_empty() {
        return Err(CliError::NotFound(shown.to_owned()));
    }
    if st.format == Format::Json {
        ctx.print(&output::json(&json!(keys)));
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = keys.iter().map(|k| vec![output::value_text(k)]).collect();
    ctx.print(&output::table(Some(&["Keys"]), &rows));
    Ok(0)
}
