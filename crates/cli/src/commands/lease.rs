//! `lease lookup|renew|revoke` (leases of dynamic secrets under `sys/leases`).

use serde_json::{Value, json};

use super::{subcommand, unknown};
use crate::args::{b, s};
use crate::ctx::{Ctx, want_args};
use crate::error::CliError;
use crate::output;

const USAGE: &str = "Usage: vault lease <subcommand> [options] ID

Subcommands:
    lookup ID                       Show a lease's issue and expire times, TTL, renewability
    renew [-increment=DUR] ID       Ask for more time on a lease
    revoke [-prefix] [-force] ID    Revoke a lease, or every lease under a prefix (-prefix);
                                    -force (with -prefix) deletes leases whose secrets engine
                                    fails to revoke them
";

/// The `lease lookup` table rows, from the `data` of `sys/leases/lookup`.
fn lookup_rows(data: &Value) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = [
        "expire_time",
        "id",
        "issue_time",
        "last_renewal",
        "renewable",
    ]
    .iter()
    .map(|k| {
        let v = data.get(*k).unwrap_or(&Value::Null);
        let text = if v.is_null() {
            "<nil>".to_owned()
        } else {
            output::value_text(v)
        };
        ((*k).to_owned(), text)
    })
    .collect();
    let ttl = data.get("ttl").and_then(Value::as_u64).unwrap_or(0);
    rows.push(("ttl".to_owned(), output::human_duration(ttl)));
    rows
}

/// Where `lease revoke` sends its request, and the body.
fn revoke_target(id: &str, prefix: bool, force: bool) -> Result<(String, Value), CliError> {
    match (prefix, force) {
        (_, true) if !prefix => Err(CliError::Usage(
            "Specifying -force requires also specifying -prefix".into(),
        )),
        (true, true) => Ok((format!("sys/leases/revoke-force/{id}"), json!({}))),
        (true, false) => Ok((format!("sys/leases/revoke-prefix/{id}"), json!({}))),
        (false, _) => Ok(("sys/leases/revoke".to_owned(), json!({ "lease_id": id }))),
    }
}

pub(crate) async fn run(ctx: &mut Ctx<'_>, args: &[String]) -> Result<i32, CliError> {
    let Some((sub, rest)) = subcommand(ctx, args, USAGE)? else {
        return Ok(0);
    };
    let flags = [s("increment"), b("prefix"), b("force"), b("f"), b("sync")];
    let Some(p) = ctx.parse(USAGE, &flags, rest)? else {
        return Ok(0);
    };
    want_args(&p, 1, 1, USAGE)?;
    let id = p.positionals[0].trim_start_matches('/').to_owned();
    let (st, client) = ctx.connect(&p)?;
    match sub {
        "lookup" => {
            let body = client
                .put("sys/leases/lookup", &json!({ "lease_id": id }))
                .await
                .map_err(|e| e.context(format!("error looking up lease id {id}")))?
                .unwrap_or(Value::Null);
            let rows = lookup_rows(super::data_of(&body));
            ctx.show_object(&st, &body, rows)
        }
        "renew" => {
            let mut body = json!({ "lease_id": id });
            if let Some(inc) = p.str("increment") {
                body["increment"] = json!(inc);
            }
            let secret = client
                .put("sys/leases/renew", &body)
                .await
                .map_err(|e| e.context("Error renewing lease"))?
                .unwrap_or(Value::Null);
            ctx.show_secret(&st, &secret)
        }
        "revoke" => {
            let prefix = p.bool("prefix");
            let force = p.bool("force") || p.bool("f");
            let (path, body) = revoke_target(&id, prefix, force)?;
            if force {
                ctx.eprint(
                    "Warning! Force-removing leases can cause the server to become out of sync with secrets engines!\n",
                );
            }
            client
                .put(&path, &body)
                .await
                .map_err(|e| e.context(format!("Error revoking leases with prefix {id}")))?;
            ctx.print(&match (prefix, force) {
                (true, true) => format!("Success! Force revoked any leases with prefix: {id}\n"),
                (true, false) => format!("Success! Revoked any leases with prefix: {id}\n"),
                _ => format!("Success! Revoked lease: {id}\n"),
            });
            Ok(0)
        }
        other => Err(unknown(ctx, "lease", other, USAGE)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revoke_picks_the_endpoint() {
        assert_eq!(
            revoke_target("db/creds/r/x", false, false)
                .expect("plain")
                .0,
            "sys/leases/revoke"
        );
        assert_eq!(
            revoke_target("db/creds", true, false).expect("prefix").0,
            "sys/leases/revoke-prefix/db/creds"
        );
        assert_eq!(
            revoke_target("db/creds", true, true).expect("force").0,
            "sys/leases/revoke-force/db/creds"
        );
        assert!(revoke_target("db/creds", false, true).is_err());
    }

    #[test]
    fn lookup_rows_show_nil_and_a_human_ttl() {
        let rows = lookup_rows(&json!({"id": "db/creds/r/x", "issue_time": "t0",
            "expire_time": "t1", "last_renewal": null, "renewable": true, "ttl": 592}));
        assert!(rows.contains(&("last_renewal".to_owned(), "<nil>".to_owned())));
        assert!(rows.contains(&("ttl".to_owned(), "9m52s".to_owned())));
        assert!(rows.contains(&("renewable".to_owned(), "true".to_owned())));
    }
}
