//! `kv put|get|patch|delete|undelete|destroy|list|metadata get|put|delete`, with KV version
//! detection through `sys/internal/ui/mounts/<path>`.

use serde_json::{Map, Value, json};

use super::{data_of, generic, subcommand, unknown};
use crate::args::{Parsed, kv_pairs, m, s};
use crate::client::Client;
use crate::ctx::{Ctx, data_args, want_args};
use crate::error::CliError;
use crate::kv_path::{self, KvMount};
use crate::output;
use crate::settings::{Format, Settings};

const USAGE: &str = "Usage: vault kv <subcommand> [options] [args]

Subcommands:
    put [-mount=M] [-cas=N] KEY K=V...       (K=@file, K=- for stdin)
    get [-mount=M] [-version=N] [-field=F] KEY
    patch [-mount=M] [-cas=N] KEY K=V...
    delete [-mount=M] [-versions=1,2] KEY
    undelete -versions=1,2 [-mount=M] KEY
    destroy -versions=1,2 [-mount=M] KEY
    list [-mount=M] [PATH]
    metadata get|put|delete [-mount=M] KEY
        put: -max-versions=N -cas-required -delete-version-after=DUR -custom-metadata=K=V

KEY is a full path (secret/foo) or, with -mount, a path inside the mount.
";

/// A KV path after version detection.
struct Target {
    kv: KvMount,
    /// The user-facing full path, e.g. `secret/foo`.
    full: String,
}

impl Target {
    /// The API path with `segment` inserted for v2 (`data`, `metadata`, ...).
    fn api(&self, segment: &str) -> String {
        if self.kv.version == 2 {
            kv_path::v2_path(&self.full, &self.kv.mount, segment)
        } else {
            self.full.clone()
        }
    }

    fn require_v2(&self, what: &str) -> Result<(), CliError> {
        if self.kv.version == 2 {
            Ok(())
        } else {
            Err(CliError::Failed(format!(
                "{what} not supported on KV Version 1"
            )))
        }
    }
}

async fn resolve(
    client: &Client,
    p: &Parsed,
    key: &str,
    keep_trailing: bool,
) -> Result<Target, CliError> {
    let (probe, full) = match p.str("mount") {
        Some(mount) => (
            kv_path::sanitize(mount, false),
            kv_path::sanitize(&kv_path::join(mount, key), keep_trailing),
        ),
        None => (
            kv_path::sanitize(key, false),
            kv_path::sanitize(key, keep_trailing),
        ),
    };
    let (reply, url) = client
        .send_raw(
            "GET",
            &format!("sys/internal/ui/mounts/{probe}"),
            &[],
            None,
            None,
        )
        .await?;
    let mut kv = match reply.status {
        404 => kv_path::from_probe(None),
        s if s >= 400 => {
            let err = CliError::Status {
                context: String::new(),
                method: "GET".into(),
                url,
                code: s,
                errors: reply
                    .body
                    .as_ref()
                    .and_then(|b| b.get("errors"))
                    .and_then(Value::as_array)
                    .map(|a| a.iter().map(output::value_text).collect())
                    .unwrap_or_default(),
                raw: String::new(),
            };
            return Err(err.context("Error making API request"));
        }
        _ => kv_path::from_probe(reply.body.as_ref()),
    };
    if kv.mount.is_empty() {
        kv.mount = match p.str("mount") {
            Some(m) => format!("{}/", m.trim_matches('/')),
            None => format!("{}/", full.split('/').next().unwrap_or("")),
        };
    }
    Ok(Target { kv, full })
}

pub(crate) async fn run(ctx: &mut Ctx<'_>, args: &[String]) -> Result<i32, CliError> {
    let Some((sub, rest)) = subcommand(ctx, args, USAGE)? else {
        return Ok(0);
    };
    if sub == "metadata" {
        let Some((msub, mrest)) = subcommand(ctx, rest, USAGE)? else {
            return Ok(0);
        };
        return metadata(ctx, msub, mrest).await;
    }
    if !matches!(
        sub,
        "put" | "get" | "patch" | "delete" | "undelete" | "destroy" | "list"
    ) {
        return Err(unknown(ctx, "kv", sub, USAGE));
    }
    let flags = [
        s("mount"),
        s("version"),
        s("versions"),
        s("cas"),
        s("method"),
    ];
    let Some(p) = ctx.parse(USAGE, &flags, rest)? else {
        return Ok(0);
    };
    let (st, client) = ctx.connect(&p)?;
    match sub {
        "put" | "patch" => {
            want_args(&p, 2, usize::MAX, USAGE)?;
            let data = data_args(ctx, &p.positionals[1..])?;
            let t = resolve(&client, &p, &p.positionals[0], false).await?;
            write(ctx, &st, &client, &p, &t, data, sub == "patch").await
        }
        "get" => {
            want_args(&p, 1, 1, USAGE)?;
            let t = resolve(&client, &p, &p.positionals[0], false).await?;
            get(ctx, &st, &client, &p, &t).await
        }
        "list" => {
            let min = usize::from(!p.has("mount"));
            want_args(&p, min, 1, USAGE)?;
            let key = p.positionals.first().map_or("", String::as_str);
            let t = resolve(&client, &p, key, true).await?;
            generic::list(ctx, &st, &client, &t.api("metadata"), &t.api("metadata")).await
        }
        _ => {
            want_args(&p, 1, 1, USAGE)?;
            let t = resolve(&client, &p, &p.positionals[0], false).await?;
            let versions = match p.str("versions") {
                Some(v) => Some(kv_path::versions(v).map_err(CliError::Usage)?),
                None => None,
            };
            match (sub, versions) {
                ("delete", None) => {
                    let path = t.api("data");
                    client
                        .delete(&path)
                        .await
                        .map_err(|e| e.context(format!("Error deleting {path}")))?;
                    ctx.print(&format!(
                        "Success! Data deleted (if it existed) at: {path}\n"
                    ));
                }
                ("delete", Some(v)) => {
                    t.require_v2("Deleting specific versions is")?;
                    let path = t.api("delete");
                    client
                        .post(&path, &json!({"versions": v}))
                        .await
                        .map_err(|e| e.context(format!("Error deleting {path}")))?;
                    ctx.print(&format!(
                        "Success! Data deleted (if it existed) at: {path}\n"
                    ));
                }
                (op, v) => {
                    t.require_v2(if op == "undelete" {
                        "Undelete"
                    } else {
                        "Destroy"
                    })?;
                    let Some(v) = v.filter(|v| !v.is_empty()) else {
                        return Err(CliError::Usage(format!(
                            "No versions provided, use the \"-versions\" flag\n\n{USAGE}"
                        )));
                    };
                    let path = t.api(op);
                    let method = if op == "undelete" { "POST" } else { "PUT" };
                    client
                        .send(method, &path, &[], Some(&json!({"versions": v})))
                        .await
                        .map_err(|e| e.context(format!("Error writing data to {path}")))?;
                    ctx.print(&format!("Success! Data written to: {path}\n"));
                }
            }
            Ok(0)
        }
    }
}

/// The v2 table layout: a `Secret Path` section, then one section per (title, map).
fn sectioned(path_title: &str, path: &str, sections: &[(String, &Map<String, Value>)]) -> String {
    let mut out = format!(
        "{}\n{path}\n",
        output::header(path_title, path.chars().count())
    );
    for (title, map) in sections {
        let t = output::kv_table(&output::map_rows(map));
        out.push('\n');
        out.push_str(&output::header(title, output::width(&t)));
        out.push('\n');
        out.push_str(&t);
    }
    out
}

async fn write(
    ctx: &mut Ctx<'_>,
    st: &Settings,
    client: &Client,
    p: &Parsed,
    t: &Target,
    data: Map<String, Value>,
    patch: bool,
) -> Result<i32, CliError> {
    if t.kv.version != 2 {
        if patch {
            return Err(CliError::Usage(
                "K/V engine mount must be version 2 for patch support".into(),
            ));
        }
        let path = &t.full;
        let resp = client
            .put(path, &Value::Object(data))
            .await
            .map_err(|e| e.context(format!("Error writing data to {path}")))?;
        return match resp {
            Some(r) if r.get("data").is_some_and(Value::is_object) => ctx.show_secret(st, &r),
            _ => {
                ctx.print(&format!("Success! Data written to: {path}\n"));
                Ok(0)
            }
        };
    }
    let path = t.api("data");
    let mut body = json!({"data": data});
    if let Some(cas) = p.int("cas")? {
        body["options"] = json!({"cas": cas});
    }
    let resp = if patch {
        client
            .send_typed(
                "PATCH",
                &path,
                &[],
                Some(&body),
                Some("application/merge-patch+json"),
            )
            .await
    } else {
        client.send("POST", &path, &[], Some(&body)).await
    }
    .map_err(|e| e.context(format!("Error writing data to {path}")))?
    .body
    .unwrap_or(Value::Null);
    if st.field.is_some() || st.format == Format::Json {
        return ctx.show_secret(st, &resp);
    }
    ctx.warnings(&resp);
    let meta = resp
        .get("data")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    ctx.print(&sectioned(
        "Secret Path",
        &path,
        &[("Metadata".to_owned(), &meta)],
    ));
    Ok(0)
}

async fn get(
    ctx: &mut Ctx<'_>,
    st: &Settings,
    client: &Client,
    p: &Parsed,
    t: &Target,
) -> Result<i32, CliError> {
    let path = t.api("data");
    let mut query = Vec::new();
    if let Some(v) = p.int("version")?
        && t.kv.version == 2
    {
        query.push(("version", v.to_string()));
    }
    let Some(secret) = client
        .read(&path, &query)
        .await
        .map_err(|e| e.context(format!("Error reading {path}")))?
    else {
        return Err(CliError::NotFound(path));
    };
    if t.kv.version != 2 {
        return ctx.show_secret(st, &secret);
    }
    let d = data_of(&secret);
    let inner = d.get("data").and_then(Value::as_object);
    let meta = d.get("metadata").and_then(Value::as_object);
    if let Some(f) = &st.field {
        let v = inner
            .and_then(|m| m.get(f))
            .or_else(|| meta.and_then(|m| m.get(f)))
            .or_else(|| d.get(f));
        return match v {
            Some(v) => {
                ctx.print_raw(&output::value_text(v));
                Ok(0)
            }
            None => Err(CliError::Failed(format!(
                "Field {f:?} not present in secret"
            ))),
        };
    }
    if st.format == Format::Json {
        ctx.print(&output::json(&secret));
        return Ok(0);
    }
    ctx.warnings(&secret);
    let empty = Map::new();
    let mut sections = vec![("Metadata".to_owned(), meta.unwrap_or(&empty))];
    if let Some(inner) = inner {
        sections.push(("Data".to_owned(), inner));
    }
    ctx.print(&sectioned("Secret Path", &path, &sections));
    Ok(0)
}

async fn metadata(ctx: &mut Ctx<'_>, sub: &str, args: &[String]) -> Result<i32, CliError> {
    if !matches!(sub, "get" | "put" | "delete") {
        return Err(unknown(ctx, "kv metadata", sub, USAGE));
    }
    let flags = [
        s("mount"),
        s("max-versions"),
        s("cas-required"),
        s("delete-version-after"),
        m("custom-metadata"),
    ];
    let Some(p) = ctx.parse(USAGE, &flags, args)? else {
        return Ok(0);
    };
    want_args(&p, 1, 1, USAGE)?;
    let (st, client) = ctx.connect(&p)?;
    let t = resolve(&client, &p, &p.positionals[0], false).await?;
    t.require_v2("Metadata")?;
    let path = t.api("metadata");
    match sub {
        "get" => {
            let Some(body) = client
                .read(&path, &[])
                .await
                .map_err(|e| e.context(format!("Error reading {path}")))?
            else {
                return Err(CliError::NotFound(path));
            };
            if st.field.is_some() || st.format == Format::Json {
                return ctx.show_secret(&st, &body);
            }
            let d = data_of(&body).as_object().cloned().unwrap_or_default();
            let mut top = d.clone();
            top.remove("versions");
            let mut versions: Vec<(u64, Map<String, Value>)> = d
                .get("versions")
                .and_then(Value::as_object)
                .map(|vs| {
                    vs.iter()
                        .map(|(k, v)| {
                            (
                                k.parse().unwrap_or(0),
                                v.as_object().cloned().unwrap_or_default(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            versions.sort_by_key(|(n, _)| *n);
            let mut sections = vec![("Metadata".to_owned(), &top)];
            for (n, v) in &versions {
                sections.push((format!("Version {n}"), v));
            }
            ctx.print(&sectioned("Metadata Path", &path, &sections));
            Ok(0)
        }
        "put" => {
            let mut body = Map::new();
            if let Some(n) = p.int("max-versions")? {
                body.insert("max_versions".into(), json!(n));
            }
            if let Some(v) = p.str("cas-required") {
                let b = crate::args::parse_bool(v).ok_or_else(|| {
                    CliError::Usage(format!("invalid boolean {v:?} for -cas-required"))
                })?;
                body.insert("cas_required".into(), json!(b));
            }
            if let Some(v) = p.str("delete-version-after") {
                p.duration("delete-version-after")?;
                body.insert("delete_version_after".into(), json!(v));
            }
            let custom = kv_pairs(p.all("custom-metadata"), "custom-metadata")?;
            if !custom.is_empty() {
                body.insert("custom_metadata".into(), json!(custom));
            }
            client
                .post(&path, &Value::Object(body))
                .await
                .map_err(|e| e.context(format!("Error writing data to {path}")))?;
            ctx.print(&format!("Success! Data written to: {path}\n"));
            Ok(0)
        }
        _ => {
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
