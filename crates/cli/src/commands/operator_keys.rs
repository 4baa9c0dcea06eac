//! `operator generate-root` and `operator rekey`: the key-share ceremonies.

use serde_json::{Map, Value, json};

use super::text;
use crate::args::{b, s};
use crate::client::Client;
use crate::ctx::{Ctx, want_args};
use crate::error::CliError;
use crate::otp;
use crate::output::value_text;
use crate::settings::{Format, Settings};

const GR_USAGE: &str = "Usage: vault operator generate-root [options] [KEY]

  -init [-otp=OTP | -pgp-key=KEY]   start an attempt (the server makes an OTP if none given)
  -generate-otp                     print a fresh OTP
  -status                           show the attempt
  -cancel                           cancel the attempt
  -nonce=NONCE KEY                  submit an unseal key (read from stdin when omitted)
  -decode=ENCODED -otp=OTP          decode the final encoded token locally
";

/// Rows of a generate-root status.
pub(crate) fn gr_rows(v: &Value) -> Vec<(String, String)> {
    let mut rows = vec![
        ("Nonce".to_owned(), text(v, "nonce")),
        ("Started".to_owned(), text(v, "started")),
        (
            "Progress".to_owned(),
            format!("{}/{}", text(v, "progress"), text(v, "required")),
        ),
        ("Complete".to_owned(), text(v, "complete")),
    ];
    for (k, label) in [
        ("encoded_token", "Encoded Token"),
        ("encoded_root_token", "Encoded Root Token"),
        ("otp", "OTP"),
        ("pgp_fingerprint", "PGP Fingerprint"),
    ] {
        if let Some(x) = v.get(k).and_then(Value::as_str).filter(|x| !x.is_empty()) {
            rows.push((label.to_owned(), x.to_owned()));
        }
    }
    if let Some(n) = v.get("otp_length") {
        rows.push(("OTP Length".to_owned(), value_text(n)));
    }
    rows
}

async fn nonce_of(client: &Client, path: &str, given: Option<&str>) -> Result<String, CliError> {
    if let Some(n) = given {
        return Ok(n.to_owned());
    }
    let st = client
        .get(path)
        .await
        .map_err(|e| e.context("Error getting the current status"))?
        .unwrap_or(Value::Null);
    Ok(text(&st, "nonce"))
}

fn key_arg(ctx: &Ctx<'_>, positionals: &[String]) -> Result<String, CliError> {
    let key = match positionals.first() {
        Some(k) if k != "-" => k.trim().to_owned(),
        _ => ctx.stdin_line()?,
    };
    if key.is_empty() {
        return Err(CliError::Usage("Missing key".into()));
    }
    Ok(key)
}

pub(crate) async fn generate_root(ctx: &mut Ctx<'_>, args: &[String]) -> Result<i32, CliError> {
    let flags = [
        b("init"),
        b("cancel"),
        b("status"),
        b("generate-otp"),
        s("otp"),
        s("pgp-key"),
        s("nonce"),
        s("decode"),
        b("dr-token"),
    ];
    let Some(p) = ctx.parse(GR_USAGE, &flags, args)? else {
        return Ok(0);
    };
    want_args(&p, 0, 1, GR_USAGE)?;
    let modes = ["init", "cancel", "status", "generate-otp"]
        .iter()
        .filter(|m| p.bool(m))
        .count()
        + usize::from(p.has("decode"));
    if modes > 1 {
        return Err(CliError::Usage(
            "-init, -cancel, -status, -generate-otp and -decode are mutually exclusive".into(),
        ));
    }
    const ATTEMPT: &str = "sys/generate-root/attempt";
    if let Some(enc) = p.str("decode") {
        let Some(pad) = p.str("otp") else {
            return Err(CliError::Usage("-decode needs -otp".into()));
        };
        let enc = if enc == "-" {
            ctx.stdin_line()?
        } else {
            enc.to_owned()
        };
        let token = otp::decode(&enc, pad)
            .map_err(|e| CliError::Failed(format!("Error decoding root token: {e}")))?;
        ctx.print(&format!("{}\n", token.as_str()));
        return Ok(0);
    }
    let (st, client) = ctx.connect(&p)?;
    if p.bool("generate-otp") {
        let status = client
            .get(ATTEMPT)
            .await
            .map_err(|e| e.context("Error getting root generation status"))?
            .unwrap_or(Value::Null);
        let len = status
            .get("otp_length")
            .and_then(Value::as_u64)
            .filter(|l| *l > 0)
            .unwrap_or(28);
        let pad = otp::generate(usize::try_from(len).unwrap_or(28));
        ctx.print(&format!("{pad}\n"));
        return Ok(0);
    }
    let resp = if p.bool("cancel") {
        client
            .delete(ATTEMPT)
            .await
            .map_err(|e| e.context("Error canceling root token generation"))?;
        ctx.print("Success! Root token generation canceled (if it was started)\n");
        return Ok(0);
    } else if p.bool("status") {
        client
            .get(ATTEMPT)
            .await
            .map_err(|e| e.context("Error getting root generation status"))?
    } else if p.bool("init") {
        let mut body = Map::new();
        if let Some(o) = p.str("otp") {
            body.insert("otp".into(), json!(o));
        }
        if let Some(k) = p.str("pgp-key") {
            body.insert("pgp_key".into(), json!(k));
        }
        client
            .put(ATTEMPT, &Value::Object(body))
            .await
            .map_err(|e| e.context("Error initializing root generation"))?
    } else {
        let key = key_arg(ctx, &p.positionals)?;
        let nonce = nonce_of(&client, ATTEMPT, p.str("nonce")).await?;
        client
            .put(
                "sys/generate-root/update",
                &json!({"key": key, "nonce": nonce}),
            )
            .await
            .map_err(|e| e.context("Error posting unseal key"))?
    };
    let resp = resp.unwrap_or(Value::Null);
    let rows = gr_rows(&resp);
    ctx.show_object(&st, &resp, rows)
}

const REKEY_USAGE: &str = "Usage: vault operator rekey [options] [KEY]

  -init -key-shares=5 -key-threshold=3 [-verify] [-backup]   start a rekey
  -status | -cancel                                          (with -verify: the verification)
  -nonce=NONCE KEY                                           submit a key (stdin when omitted)
  -backup-retrieve | -backup-delete                          backed-up PGP-encrypted keys
  -target=barrier|recovery
";

/// Rows of a rekey (or rekey verification) status.
pub(crate) fn rekey_rows(v: &Value, verify: bool) -> Vec<(String, String)> {
    let mut rows = vec![("Nonce".to_owned(), text(v, "nonce"))];
    if verify {
        rows.push(("Started".to_owned(), text(v, "started")));
        rows.push(("New Shares".to_owned(), text(v, "n")));
        rows.push(("New Threshold".to_owned(), text(v, "t")));
        rows.push((
            "Verification Progress".to_owned(),
            format!("{}/{}", text(v, "progress"), text(v, "t")),
        ));
    } else {
        rows.push(("Started".to_owned(), text(v, "started")));
        rows.push((
            "Rekey Progress".to_owned(),
            format!("{}/{}", text(v, "progress"), text(v, "required")),
        ));
        rows.push(("New Shares".to_owned(), text(v, "n")));
        rows.push(("New Threshold".to_owned(), text(v, "t")));
        rows.push((
            "Verification Required".to_owned(),
            text(v, "verification_required"),
        ));
    }
    rows
}

/// The text printed when a rekey completes; `recovery` for `-target=recovery`.
pub(crate) fn rekey_done_text(v: &Value, shares: usize, recovery: bool) -> String {
    let what = if recovery {
        "recovery keys"
    } else {
        "unseal keys"
    };
    let mut out = String::new();
    let keys: Vec<String> = v
        .get("keys_base64")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(value_text).collect())
        .unwrap_or_default();
    for (i, k) in keys.iter().enumerate() {
        out.push_str(&format!("Key {}: {k}\n", i + 1));
    }
    out.push_str(&format!("\nOperation nonce: {}\n\n", text(v, "nonce")));
    if v.get("verification_required").and_then(Value::as_bool) == Some(true) {
        out.push_str(&format!(
            "The new keys ({shares}) are not active yet: submit them with \
             `vault operator rekey -verify -nonce={}` to finish.\n",
            text(v, "verification_nonce")
        ));
    } else {
        out.push_str(&format!(
            "Vault {what} rekeyed with {shares} key shares. Please securely distribute \
             the key shares printed above.\n"
        ));
    }
    out
}

fn show(ctx: &mut Ctx<'_>, st: &Settings, v: &Value, verify: bool) -> Result<i32, CliError> {
    let rows = rekey_rows(v, verify);
    ctx.show_object(st, v, rows)
}

pub(crate) async fn rekey(ctx: &mut Ctx<'_>, args: &[String]) -> Result<i32, CliError> {
    let flags = [
        b("init"),
        b("cancel"),
        b("status"),
        s("key-shares"),
        s("key-threshold"),
        s("nonce"),
        b("verify"),
        b("backup"),
        b("backup-retrieve"),
        b("backup-delete"),
        s("pgp-keys"),
        s("target"),
    ];
    let Some(p) = ctx.parse(REKEY_USAGE, &flags, args)? else {
        return Ok(0);
    };
    want_args(&p, 0, 1, REKEY_USAGE)?;
    let base = match p.str("target").unwrap_or("barrier") {
        "barrier" => "sys/rekey",
        "recovery" => "sys/rekey-recovery-key",
        other => return Err(CliError::Usage(format!("unknown -target {other:?}"))),
    };
    let verify = p.bool("verify");
    let (st, client) = ctx.connect(&p)?;
    let status_path = if verify {
        format!("{base}/verify")
    } else {
        format!("{base}/init")
    };
    if p.bool("cancel") {
        client
            .delete(&status_path)
            .await
            .map_err(|e| e.context("Error canceling rekey"))?;
        ctx.print("Success! Canceled rekeying (if it was started)\n");
        return Ok(0);
    }
    if p.bool("status") {
        let v = client
            .get(&status_path)
            .await
            .map_err(|e| e.context("Error reading rekey status"))?
            .unwrap_or(Value::Null);
        return show(ctx, &st, &v, verify);
    }
    if p.bool("backup-retrieve") {
        let v = client
            .get(&format!("{base}/backup"))
            .await
            .map_err(|e| e.context("Error retrieving rekey stored keys"))?
            .unwrap_or(Value::Null);
        let rows = vec![
            ("Nonce".to_owned(), text(&v, "nonce")),
            ("Keys".to_owned(), text(&v, "keys")),
        ];
        return ctx.show_object(&st, &v, rows);
    }
    if p.bool("backup-delete") {
        client
            .delete(&format!("{base}/backup"))
            .await
            .map_err(|e| e.context("Error deleting rekey stored keys"))?;
        ctx.print("Success! Delete stored keys (if they existed)\n");
        return Ok(0);
    }
    if p.bool("init") {
        let shares = p.int("key-shares")?.unwrap_or(5);
        let threshold = p.int("key-threshold")?.unwrap_or(3);
        let mut body = json!({
            "secret_shares": shares,
            "secret_threshold": threshold,
            "require_verification": verify,
            "backup": p.bool("backup"),
        });
        if let Some(k) = p.str("pgp-keys") {
            body["pgp_keys"] = json!(crate::args::comma_list(&[k.to_owned()]));
        }
        let v = client
            .put(&format!("{base}/init"), &body)
            .await
            .map_err(|e| e.context("Error initializing rekey"))?
            .unwrap_or(Value::Null);
        return show(ctx, &st, &v, false);
    }
    let key = key_arg(ctx, &p.positionals)?;
    let nonce = nonce_of(&client, &status_path, p.str("nonce")).await?;
    let update = if verify {
        format!("{base}/verify")
    } else {
        format!("{base}/update")
    };
    let v = client
        .put(&update, &json!({"key": key, "nonce": nonce}))
        .await
        .map_err(|e| e.context("Error posting unseal key"))?
        .unwrap_or(Value::Null);
    let complete = v.get("complete").and_then(Value::as_bool) == Some(true);
    if !complete || st.field.is_some() || st.format == Format::Json {
        return show(ctx, &st, &v, verify);
    }
    if verify {
        ctx.print(&format!(
            "Success! Rekey verification was successful. The rekey operation is complete and \
             the new keys are now active.\n\nOperation nonce: {}\n",
            text(&v, "nonce")
        ));
    } else {
        let n = v
            .get("keys_base64")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        ctx.print(&rekey_done_text(&v, n, base == "sys/rekey-recovery-key"));
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_rows() {
        let v = json!({"started":true,"nonce":"n1","progress":1,"required":3,"complete":false,
            "encoded_token":"","otp":"abc","otp_length":28});
        let rows = gr_rows(&v);
        assert!(rows.contains(&("Progress".into(), "1/3".into())));
        assert!(rows.contains(&("OTP".into(), "abc".into())));
        assert!(!rows.iter().any(|(k, _)| k == "Encoded Token"));
        let r = rekey_rows(
            &json!({"nonce":"x","started":true,"t":2,"n":3,"progress":1,"required":3}),
            false,
        );
        assert!(r.contains(&("Rekey Progress".into(), "1/3".into())));
        assert!(r.contains(&("New Shares".into(), "3".into())));
        let done = rekey_done_text(
            &json!({"complete":true,"nonce":"x","keys_base64":["k1","k2"]}),
            2,
            false,
        );
        assert!(done.starts_with("Key 1: k1\nKey 2: k2\n"));
        assert!(done.contains("Operation nonce: x"));
        assert!(done.contains("Vault unseal keys rekeyed with 2 key shares"));
        let recovery = rekey_done_text(
            &json!({"complete":true,"nonce":"x","keys_base64":["k1"]}),
            1,
            true,
        );
        assert!(
            recovery.contains("Vault recovery keys rekeyed with 1 key shares"),
            "{recovery}"
        );
    }
}
