//! `operator init|unseal|seal|step-down|rotate|key-status` and dispatch of the other
//! operator subcommands.

use serde_json::{Value, json};

use super::{data_of, operator_keys, raft, status, subcommand, text, unknown};
use crate::args::{b, s};
use crate::ctx::{Ctx, want_args};
use crate::error::CliError;
use crate::output;
use crate::settings::{Format, Settings};

const USAGE: &str = "Usage: vault operator <subcommand> [options] [args]

Subcommands:
    init             Initialize a server
    unseal           Submit an unseal key
    seal             Seal the server
    step-down        Force the active node to give up leadership
    rotate           Rotate the barrier encryption key
    key-status       Show the barrier key term
    generate-root    Generate a new root token from unseal keys
    rekey            Replace the unseal keys
    raft             Manage the Raft cluster (list-peers, join, remove-peer, autopilot,
                     snapshot save|restore|inspect)
    health           Each node's role (active, standby, sealed, ...), the peers and audit devices
";

pub(crate) async fn run(ctx: &mut Ctx<'_>, args: &[String]) -> Result<i32, CliError> {
    let Some((sub, rest)) = subcommand(ctx, args, USAGE)? else {
        return Ok(0);
    };
    match sub {
        "init" => init(ctx, rest).await,
        "unseal" => unseal(ctx, rest).await,
        "seal" => {
            simple(
                ctx,
                rest,
                "seal",
                "sys/seal",
                "Error sealing",
                "Success! Vault is sealed.\n",
            )
            .await
        }
        "step-down" => {
            simple(
                ctx,
                rest,
                "step-down",
                "sys/step-down",
                "Error stepping down",
                "",
            )
            .await
        }
        "rotate" => rotate(ctx, rest).await,
        "key-status" => key_status(ctx, rest).await,
        "generate-root" => operator_keys::generate_root(ctx, rest).await,
        "rekey" => operator_keys::rekey(ctx, rest).await,
        "raft" => raft::run(ctx, rest).await,
        "health" => super::health::run(ctx, rest).await,
        other => Err(unknown(ctx, "operator", other, USAGE)),
    }
}

const INIT_USAGE: &str = "Usage: vault operator init [options]

  -key-shares=5  -key-threshold=3  -recovery-shares=N  -recovery-threshold=N
  -status        exit 0 if initialized, 2 if not
  -format=json   print keys as JSON
";

/// The JSON document `operator init -format=json` prints.
pub(crate) fn init_json(
    resp: &Value,
    shares: u64,
    threshold: u64,
    rshares: u64,
    rthreshold: u64,
) -> Value {
    let list = |k: &str| {
        resp.get(k)
            .cloned()
            .filter(Value::is_array)
            .unwrap_or(json!([]))
    };
    json!({
        "unseal_keys_b64": list("keys_base64"),
        "unseal_keys_hex": list("keys"),
        "unseal_shares": shares,
        "unseal_threshold": threshold,
        "recovery_keys_b64": list("recovery_keys_base64"),
        "recovery_keys_hex": list("recovery_keys"),
        "recovery_keys_shares": rshares,
        "recovery_keys_threshold": rthreshold,
        "root_token": resp.get("root_token").cloned().unwrap_or(json!("")),
    })
}

/// The text `operator init` prints in table format.
pub(crate) fn init_text(
    resp: &Value,
    shares: u64,
    threshold: u64,
    rshares: u64,
    rthreshold: u64,
) -> String {
    let strs = |k: &str| -> Vec<String> {
        resp.get(k)
            .and_then(Value::as_array)
            .map(|a| a.iter().map(output::value_text).collect())
            .unwrap_or_default()
    };
    let mut out = String::new();
    let keys = strs("keys_base64");
    for (i, k) in keys.iter().enumerate() {
        out.push_str(&format!("Unseal Key {}: {k}\n", i + 1));
    }
    let rkeys = strs("recovery_keys_base64");
    for (i, k) in rkeys.iter().enumerate() {
        out.push_str(&format!("Recovery Key {}: {k}\n", i + 1));
    }
    out.push_str(&format!(
        "\nInitial Root Token: {}\n\n",
        text(resp, "root_token")
    ));
    if !keys.is_empty() {
        out.push_str(&format!(
            "Vault initialized with {shares} key shares and a key threshold of {threshold}. \
             Please securely\ndistribute the key shares printed above. When the server is \
             re-sealed, restarted, or\nstopped, you must supply at least {threshold} of these \
             keys to unseal it before it can\nstart servicing requests.\n"
        ));
    } else {
        out.push_str("Success! Vault is initialized\n");
    }
    if !rkeys.is_empty() {
        out.push_str(&format!(
            "\nRecovery key initialized with {rshares} key shares and a key threshold of \
             {rthreshold}.\nPlease securely distribute the key shares printed above.\n"
        ));
    }
    out
}

async fn init(ctx: &mut Ctx<'_>, args: &[String]) -> Result<i32, CliError> {
    let flags = [
        s("key-shares"),
        s("key-threshold"),
        s("recovery-shares"),
        s("recovery-threshold"),
        b("status"),
    ];
    let Some(p) = ctx.parse(INIT_USAGE, &flags, args)? else {
        return Ok(0);
    };
    want_args(&p, 0, 0, INIT_USAGE)?;
    let (st, client) = ctx.connect(&p)?;
    if p.bool("status") {
        let body = client
            .get("sys/init")
            .await
            .map_err(|e| e.context("Error checking init status"))?
            .unwrap_or(Value::Null);
        let init = body.get("initialized").and_then(Value::as_bool) == Some(true);
        if init {
            ctx.print("Vault is initialized\n");
            return Ok(0);
        }
        ctx.print("Vault is not initialized\n");
        return Ok(2);
    }
    let int = |name: &str, default: i64| -> Result<u64, CliError> {
        let v = p.int(name)?.unwrap_or(default);
        u64::try_from(v).map_err(|_| CliError::Usage(format!("-{name} must not be negative")))
    };
    // With an auto-unseal seal the server wants recovery keys, not unseal shares.
    let recovery_seal = client
        .get("sys/seal-status")
        .await
        .ok()
        .flatten()
        .and_then(|b| b.get("recovery_seal").and_then(Value::as_bool))
        == Some(true);
    let mut body = serde_json::Map::new();
    let (mut shares, mut threshold, mut rshares, mut rthreshold) = (0, 0, 0, 0);
    if !recovery_seal || p.has("key-shares") || p.has("key-threshold") {
        shares = int("key-shares", 5)?;
        threshold = int("key-threshold", 3)?;
        body.insert("secret_shares".into(), json!(shares));
        body.insert("secret_threshold".into(), json!(threshold));
    }
    if recovery_seal || p.has("recovery-shares") || p.has("recovery-threshold") {
        rshares = int("recovery-shares", 5)?;
        rthreshold = int("recovery-threshold", 3)?;
        body.insert("recovery_shares".into(), json!(rshares));
        body.insert("recovery_threshold".into(), json!(rthreshold));
    }
    let resp = client
        .put("sys/init", &Value::Object(body))
        .await
        .map_err(|e| e.context("Error initializing"))?
        .unwrap_or(Value::Null);
    if st.field.is_some() {
        let doc = init_json(&resp, shares, threshold, rshares, rthreshold);
        return ctx.show_object(&st, &doc, vec![]);
    }
    match st.format {
        Format::Json => ctx.print(&output::json(&init_json(
            &resp, shares, threshold, rshares, rthreshold,
        ))),
        Format::Table => ctx.print(&init_text(&resp, shares, threshold, rshares, rthreshold)),
    }
    Ok(0)
}

const UNSEAL_USAGE: &str = "Usage: vault operator unseal [options] [KEY]

  Submits one unseal key (read from stdin when KEY is omitted).
  -reset     discard the unseal progress
  -migrate   seal migration: submit a key of the OLD seal (the Shamir unseal keys when
             moving to an auto seal, the recovery keys when moving away from one); required
             while seal-status reports migration = true
";

async fn unseal(ctx: &mut Ctx<'_>, args: &[String]) -> Result<i32, CliError> {
    let Some(p) = ctx.parse(UNSEAL_USAGE, &[b("reset"), b("migrate")], args)? else {
        return Ok(0);
    };
    want_args(&p, 0, 1, UNSEAL_USAGE)?;
    let (st, client) = ctx.connect(&p)?;
    let body = if p.bool("reset") {
        json!({"reset": true})
    } else {
        let key = match p.positionals.first() {
            Some(k) => k.trim().to_owned(),
            None => ctx.stdin_line()?,
        };
        if key.is_empty() {
            return Err(CliError::Usage("Missing unseal key".into()));
        }
        let mut b = json!({"key": key});
        if p.bool("migrate") {
            b["migrate"] = json!(true);
        }
        b
    };
    let resp = client
        .put("sys/unseal", &body)
        .await
        .map_err(|e| e.context("Error unsealing"))?
        .unwrap_or(Value::Null);
    let rows = status::status_rows(&resp, None);
    ctx.show_object(&st, &resp, rows)
}

async fn simple(
    ctx: &mut Ctx<'_>,
    args: &[String],
    name: &str,
    path: &str,
    err: &str,
    success: &str,
) -> Result<i32, CliError> {
    let usage = format!("Usage: vault operator {name} [options]\n");
    let Some(p) = ctx.parse(&usage, &[], args)? else {
        return Ok(0);
    };
    want_args(&p, 0, 0, &usage)?;
    let (_, client) = ctx.connect(&p)?;
    client
        .put(path, &json!({}))
        .await
        .map_err(|e| e.context(err))?;
    if success.is_empty() {
        ctx.print(&format!("Success! Stepped down: {}\n", client.address()));
    } else {
        ctx.print(success);
    }
    Ok(0)
}

fn key_rows(body: &Value) -> Vec<Vec<String>> {
    let d = data_of(body);
    vec![
        vec!["Key Term".into(), text(d, "term")],
        vec!["Install Time".into(), text(d, "install_time")],
        vec!["Encryption Count".into(), text(d, "encryptions")],
    ]
}

fn show_key_status(ctx: &mut Ctx<'_>, st: &Settings, body: &Value) -> Result<i32, CliError> {
    if st.field.is_some() || st.format == Format::Json {
        let rows = key_rows(body)
            .into_iter()
            .map(|mut r| (r.remove(0), r.remove(0)))
            .collect();
        return ctx.show_object(st, body, rows);
    }
    ctx.print(&output::table(None, &key_rows(body)));
    Ok(0)
}

async fn key_status(ctx: &mut Ctx<'_>, args: &[String]) -> Result<i32, CliError> {
    let usage = "Usage: vault operator key-status [options]\n";
    let Some(p) = ctx.parse(usage, &[], args)? else {
        return Ok(0);
    };
    want_args(&p, 0, 0, usage)?;
    let (st, client) = ctx.connect(&p)?;
    let body = client
        .get("sys/key-status")
        .await
        .map_err(|e| e.context("Error reading key status"))?
        .unwrap_or(Value::Null);
    show_key_status(ctx, &st, &body)
}

async fn rotate(ctx: &mut Ctx<'_>, args: &[String]) -> Result<i32, CliError> {
    let usage = "Usage: vault operator rotate [options]\n";
    let Some(p) = ctx.parse(usage, &[], args)? else {
        return Ok(0);
    };
    want_args(&p, 0, 0, usage)?;
    let (st, client) = ctx.connect(&p)?;
    client
        .put("sys/rotate", &json!({}))
        .await
        .map_err(|e| e.context("Error rotating key"))?;
    let body = client
        .get("sys/key-status")
        .await
        .map_err(|e| e.context("Error reading key status"))?
        .unwrap_or(Value::Null);
    if st.format == Format::Table && st.field.is_none() {
        ctx.print("Success! Rotated key\n\n");
    }
    show_key_status(ctx, &st, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_outputs() {
        let resp = json!({"keys":["aa","bb"],"keys_base64":["qg==","uw=="],"root_token":"s.root"});
        let j = init_json(&resp, 2, 1, 0, 0);
        assert_eq!(j["unseal_keys_b64"], json!(["qg==", "uw=="]));
        assert_eq!(j["unseal_keys_hex"], json!(["aa", "bb"]));
        assert_eq!(j["unseal_threshold"], json!(1));
        assert_eq!(j["recovery_keys_b64"], json!([]));
        assert_eq!(j["root_token"], json!("s.root"));
        let t = init_text(&resp, 2, 1, 0, 0);
        assert!(t.starts_with("Unseal Key 1: qg==\nUnseal Key 2: uw==\n"));
        assert!(t.contains("Initial Root Token: s.root"));
        assert!(t.contains("2 key shares and a key threshold of 1"));
    }
}
