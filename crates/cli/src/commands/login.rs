//! `login [-method=M] [TOKEN | K=V...]`: a token verified with `lookup-self`, or a login
//! through an auth method (`auth/<path>/login[/<username>]`); the token is stored in
//! `~/.vault-token`.

use serde_json::{Map, Value, json};

use crate::args::{b, s};
use crate::ctx::{Ctx, data_args, want_args};
use crate::error::CliError;
use crate::settings::token_file;

const USAGE: &str = "Usage: vault login [options] [AUTH K=V...]

  Authenticates and stores the token in ~/.vault-token (the token helper file).

    vault login [TOKEN]                         a token (from stdin when omitted or \"-\")
    vault login -method=userpass username=U [password=P]
                                                prompts for the password on a terminal
    vault login -method=approle role_id=R secret_id=S
    vault login -method=M [-path=P] K=V...      any other method: POST auth/P/login

  -method=M      token (default), userpass, approle, or another mounted method
  -path=P        the mount path of the method (default: the method's name)
  -no-store      do not store the token
  -token-only    print only the token
  -no-print      print nothing
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

/// The login request of a method other than `token`: the path under `auth/` and the body.
/// `username` goes into the path for userpass (and LDAP), as Vault's CLI sends it; a missing
/// userpass password is asked for on the terminal, never read from a pipe.
fn login_request(
    ctx: &Ctx<'_>,
    method: &str,
    mount: &str,
    mut data: Map<String, Value>,
) -> Result<(String, Value), CliError> {
    let mount = mount.trim_matches('/');
    match method {
        "userpass" | "ldap" => {
            let user = match data.remove("username") {
                Some(Value::String(u)) if !u.is_empty() => u,
                _ => return Err(CliError::Usage("'username' must be specified".into())),
            };
            if !data.contains_key("password") {
                let password = match ctx.env.read_secret("Password (will be hidden): ") {
                    Some(read) => read.map_err(|e| CliError::io("Error reading password", e))?,
                    None => return Err(CliError::Usage("'password' must be specified".into())),
                };
                data.insert("password".into(), Value::String(password));
            }
            Ok((format!("auth/{mount}/login/{user}"), Value::Object(data)))
        }
        _ => Ok((format!("auth/{mount}/login"), Value::Object(data))),
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
    let method = p.str("method").unwrap_or("token").to_owned();
    if method == "token" {
        return token_login(ctx, &p).await;
    }
    let data = data_args(ctx, &p.positionals)?;
    let mount = p.str("path").unwrap_or(&method).to_owned();
    let (path, body) = login_request(ctx, &method, &mount, data)?;
    let (st, client) = ctx.connect(&p)?;
    // A login presents no token, whatever VAULT_TOKEN holds.
    let client = client.without_token();
    let secret = client
        .post(&path, &body)
        .await
        .map_err(|e| e.context("Error authenticating"))?
        .unwrap_or(Value::Null);
    let token = secret
        .get("auth")
        .and_then(|a| a.get("client_token"))
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| CliError::Failed("Error authenticating: no token in the response".into()))?;
    let token = zeroize::Zeroizing::new(token.to_owned());
    finish(ctx, &p, &st, &token, &secret)
}

/// `-method=token`: verifies the token with `lookup-self`.
async fn token_login(ctx: &mut Ctx<'_>, p: &crate::args::Parsed) -> Result<i32, CliError> {
    want_args(p, 0, 1, USAGE)?;
    let token = match p.positionals.first() {
        Some(t) if t != "-" => t.trim().to_owned(),
        _ => ctx.stdin_line()?,
    };
    let token = zeroize::Zeroizing::new(token);
    if token.is_empty() {
        return Err(CliError::Usage("A token must be passed to auth".into()));
    }
    let (st, client) = ctx.connect(p)?;
    let client = client.with_token(&token);
    let info = client
        .get("auth/token/lookup-self")
        .await
        .map_err(|e| e.context("Error authenticating"))?
        .unwrap_or(Value::Null);
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
    finish(ctx, p, &st, &token, &secret)
}

/// Stores the token (unless `-no-store`) and prints the login as asked.
fn finish(
    ctx: &mut Ctx<'_>,
    p: &crate::args::Parsed,
    st: &crate::settings::Settings,
    token: &str,
    secret: &Value,
) -> Result<i32, CliError> {
    if !p.bool("no-store") {
        let path = token_file(ctx.env)
            .ok_or_else(|| CliError::Failed("Error storing token: no home directory".into()))?;
        store(&path, token)
            .map_err(|e| CliError::io(format!("Error storing token in {}", path.display()), e))?;
    }
    if p.bool("token-only") {
        ctx.print_raw(token);
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
    ctx.show_secret(st, secret)
}
