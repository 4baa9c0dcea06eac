//! `login [TOKEN]`: verify a token with `lookup-self` and store it in `~/.vault-token`.

use serde_json::{Value, json};

use crate::args::{b, s};
use crate::ctx::{Ctx, want_args};
use crate::error::CliError;
use crate::settings::token_file;

const USAGE: &str = "Usage: vault login [options] [TOKEN]

  Authenticates with a token (read from stdin when omitted or \"-\"), verifies it and stores
  it in ~/.vault-token. Only -method=token is supported.
  -no-store      verify only, do not store
  -token-only    print only the token
";

/// Writes the token file with owner-only permissions.
fn store(path: &std::path::Path, token: &str) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        f.write_all(token.as_bytes())
    }
    #[cfg(not(unix))]
    {
        std::fs::write(path, token)
    }
}

pub(crate) async fn run(ctx: &mut Ctx<'_>, args: &[String]) -> Result<i32, CliError> {
    let flags = [
        s("method"),
        s("path"),
        b("no-store"),
        b("token-only"),
        b("no-print"),
    ];
    let Some(p) = ctx.parse(USAGE, &flags, args)? else {
        return Ok(0);
    };
    want_args(&p, 0, 1, USAGE)?;
    if let Some(m) = p.str("method").filter(|m| *m != "token") {
        return Err(CliError::Usage(format!(
            "Unsupported auth method {m:?}: only -method=token is supported"
        )));
    }
    let token = match p.positionals.first() {
        Some(t) if t != "-" => t.trim().to_owned(),
        _ => ctx.stdin_line()?,
    };
    let token = zeroize::Zeroizing::new(token);
    if token.is_empty() {
        return Err(CliError::Usage("A token must be passed to auth".into()));
    }
    let (st, client) = ctx.connect(&p)?;
    let client = client.with_token(&token);
    let info = client
        .get("auth/token/lookup-self")
        .await
        .map_err(|e| e.context("Error authenticating"))?
        .unwrap_or(Value::Null);
    if !p.bool("no-store") {
        let path = token_file(ctx.env)
            .ok_or_else(|| CliError::Failed("Error storing token: no home directory".into()))?;
        store(&path, &token)
            .map_err(|e| CliError::io(format!("Error storing token in {}", path.display()), e))?;
    }
    let data = info.get("data").cloned().unwrap_or(json!({}));
    let num = |k: &str| data.get(k).and_then(Value::as_u64).unwrap_or(0);
    let auth = json!({
        "client_token": token.as_str(),
        "accessor": data.get("accessor").cloned().unwrap_or(json!("")),
        "lease_duration": num("ttl"),
        "renewable": data.get("renewable").cloned().unwrap_or(json!(false)),
        "policies": data.get("policies").cloned().unwrap_or(json!([])),
        "token_policies": data.get("policies").cloned().unwrap_or(json!([])),
        "identity_policies": data.get("identity_policies").cloned().unwrap_or(json!([])),
        "metadata": data.get("meta").cloned().unwrap_or(Value::Null),
    });
    let secret = json!({"request_id": info.get("request_id").cloned().unwrap_or(json!("")),
        "lease_id": "", "lease_duration": 0, "renewable": false, "data": null,
        "warnings": info.get("warnings").cloned().unwrap_or(Value::Null), "auth": auth});
    if p.bool("token-only") {
        ctx.print_raw(&token);
        return Ok(0);
    }
    if p.bool("no-print") {
        return Ok(0);
    }
    if st.format == crate::settings::Format::Table && st.field.is_none() {
        let msg = if p.bool("no-store") {
            "Success! You are now authenticated. The token was not stored (-no-store).\n\n"
        } else {
            "Success! You are now authenticated. The token information displayed below\n\
             is already stored in the token helper. You do NOT need to run \"vault login\"\n\
             again. Future Vault requests will automatically use this token.\n\n"
        };
        ctx.print(msg);
    }
    ctx.show_secret(&st, &secret)
}
