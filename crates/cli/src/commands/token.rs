//! `token create|lookup|renew|revoke`.

use serde_json::{Map, Value, json};

use super::{subcommand, unknown};
use crate::args::{b, comma_list, kv_pairs, m, s};
use crate::ctx::{Ctx, want_args};
use crate::error::CliError;

const USAGE: &str = "Usage: vault token <subcommand> [options] [args]

Subcommands:
    create    Create a new token
    lookup    Display information about a token (the own token when none given)
    renew     Renew a token's lease
    revoke    Revoke a token and its children
";

pub(crate) async fn run(ctx: &mut Ctx<'_>, args: &[String]) -> Result<i32, CliError> {
    let Some((sub, rest)) = subcommand(ctx, args, USAGE)? else {
        return Ok(0);
    };
    match sub {
        "create" => create(ctx, rest).await,
        "lookup" => lookup(ctx, rest).await,
        "renew" => renew(ctx, rest).await,
        "revoke" => revoke(ctx, rest).await,
        other => Err(unknown(ctx, "token", other, USAGE)),
    }
}

const CREATE_USAGE: &str = "Usage: vault token create [options]

  -policy=NAME (repeatable)  -ttl=DUR  -explicit-max-ttl=DUR  -period=DUR  -use-limit=N
  -orphan  -display-name=NAME  -metadata=K=V (repeatable)  -renewable=BOOL  -id=ID
  -no-default-policy  -role=NAME  -type=service|batch
";

/// The body of `auth/token/create` from parsed flags.
pub(crate) fn create_body(p: &crate::args::Parsed) -> Result<Value, CliError> {
    let mut body = Map::new();
    let policies = comma_list(p.all("policy"));
    if !policies.is_empty() {
        body.insert("policies".into(), json!(policies));
    }
    for (flag, field) in [
        ("ttl", "ttl"),
        ("explicit-max-ttl", "explicit_max_ttl"),
        ("period", "period"),
    ] {
        if let Some(v) = p.str(flag) {
            p.duration(flag)?;
            body.insert(field.into(), json!(v));
        }
    }
    if let Some(n) = p.int("use-limit")? {
        body.insert("num_uses".into(), json!(n));
    }
    if p.bool("orphan") {
        body.insert("no_parent".into(), json!(true));
    }
    if let Some(v) = p.str("display-name") {
        body.insert("display_name".into(), json!(v));
    }
    let meta = kv_pairs(p.all("metadata"), "metadata")?;
    if !meta.is_empty() {
        body.insert("meta".into(), json!(meta));
    }
    if p.has("renewable") {
        body.insert("renewable".into(), json!(p.bool("renewable")));
    }
    if let Some(v) = p.str("id") {
        body.insert("id".into(), json!(v));
    }
    if p.bool("no-default-policy") {
        body.insert("no_default_policy".into(), json!(true));
    }
    if let Some(v) = p.str("type") {
        body.insert("type".into(), json!(v));
    }
    Ok(Value::Object(body))
}

async fn create(ctx: &mut Ctx<'_>, args: &[String]) -> Result<i32, CliError> {
    let flags = [
        m("policy"),
        s("ttl"),
        s("explicit-max-ttl"),
        s("period"),
        s("use-limit"),
        b("orphan"),
        s("display-name"),
        m("metadata"),
        b("renewable"),
        s("id"),
        b("no-default-policy"),
        s("role"),
        s("type"),
        s("entity-alias"),
    ];
    let Some(p) = ctx.parse(CREATE_USAGE, &flags, args)? else {
        return Ok(0);
    };
    want_args(&p, 0, 0, CREATE_USAGE)?;
    let body = create_body(&p)?;
    let (st, client) = ctx.connect(&p)?;
    let path = match p.str("role") {
        Some(r) => format!("auth/token/create/{r}"),
        None => "auth/token/create".to_owned(),
    };
    let resp = client
        .post(&path, &body)
        .await
        .map_err(|e| e.context("Error creating token"))?
        .unwrap_or(Value::Null);
    ctx.show_secret(&st, &resp)
}

async fn lookup(ctx: &mut Ctx<'_>, args: &[String]) -> Result<i32, CliError> {
    let usage = "Usage: vault token lookup [options] [TOKEN | ACCESSOR]\n\n  -accessor   treat the argument as an accessor\n";
    let Some(p) = ctx.parse(usage, &[b("accessor")], args)? else {
        return Ok(0);
    };
    want_args(&p, 0, 1, usage)?;
    let (st, client) = ctx.connect(&p)?;
    let resp = match (p.positionals.first(), p.bool("accessor")) {
        (None, true) => {
            return Err(CliError::Usage(format!(
                "-accessor needs an accessor argument\n\n{usage}"
            )));
        }
        (None, false) => client.get("auth/token/lookup-self").await,
        (Some(a), true) => {
            client
                .post("auth/token/lookup-accessor", &json!({"accessor": a}))
                .await
        }
        (Some(t), false) => client.post("auth/token/lookup", &json!({"token": t})).await,
    }
    .map_err(|e| e.context("Error looking up token"))?
    .unwrap_or(Value::Null);
    ctx.show_secret(&st, &resp)
}

async fn renew(ctx: &mut Ctx<'_>, args: &[String]) -> Result<i32, CliError> {
    let usage = "Usage: vault token renew [options] [TOKEN]\n\n  -increment=DUR   requested TTL extension\n";
    let Some(p) = ctx.parse(usage, &[s("increment"), b("accessor")], args)? else {
        return Ok(0);
    };
    want_args(&p, 0, 1, usage)?;
    let mut body = Map::new();
    if let Some(v) = p.str("increment") {
        p.duration("increment")?;
        body.insert("increment".into(), json!(v));
    }
    let (st, client) = ctx.connect(&p)?;
    let path = match (p.positionals.first(), p.bool("accessor")) {
        (None, _) => "auth/token/renew-self",
        (Some(a), true) => {
            body.insert("accessor".into(), json!(a));
            "auth/token/renew-accessor"
        }
        (Some(t), false) => {
            body.insert("token".into(), json!(t));
            "auth/token/renew"
        }
    };
    let resp = client
        .post(path, &Value::Object(body))
        .await
        .map_err(|e| e.context("Error renewing token"))?
        .unwrap_or(Value::Null);
    ctx.show_secret(&st, &resp)
}

async fn revoke(ctx: &mut Ctx<'_>, args: &[String]) -> Result<i32, CliError> {
    let usage = "Usage: vault token revoke [options] [TOKEN | ACCESSOR]\n\n  -self  -accessor  -mode=orphan|path\n";
    let Some(p) = ctx.parse(usage, &[b("self"), b("accessor"), s("mode")], args)? else {
        return Ok(0);
    };
    let (_, client) = ctx.connect(&p)?;
    let arg = p.positionals.first();
    if p.bool("self") {
        want_args(&p, 0, 0, usage)?;
        client
            .post("auth/token/revoke-self", &json!({}))
            .await
            .map_err(|e| e.context("Error revoking token"))?;
        ctx.print("Success! Revoked token (if it existed)\n");
        return Ok(0);
    }
    want_args(&p, 1, 1, usage)?;
    let Some(arg) = arg else {
        return Err(CliError::Usage(usage.to_owned()));
    };
    let (path, body) = match (p.bool("accessor"), p.str("mode").unwrap_or("")) {
        (_, m) if !matches!(m, "" | "orphan") => {
            return Err(CliError::Usage(format!(
                "unsupported -mode {m:?} (use orphan)"
            )));
        }
        (true, "orphan") => {
            return Err(CliError::Usage(
                "-accessor cannot be combined with -mode=orphan".into(),
            ));
        }
        (true, _) => ("auth/token/revoke-accessor", json!({"accessor": arg})),
        (false, "orphan") => ("auth/token/revoke-orphan", json!({"token": arg})),
        (false, _) => ("auth/token/revoke", json!({"token": arg})),
    };
    client
        .post(path, &body)
        .await
        .map_err(|e| e.context("Error revoking token"))?;
    ctx.print("Success! Revoked token (if it existed)\n");
    Ok(0)
}
