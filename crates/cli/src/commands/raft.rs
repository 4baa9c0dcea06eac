//! `operator raft list-peers|join|remove-peer|autopilot ...`.

use serde_json::{Map, Value, json};

use super::{data_of, subcommand, text, unknown};
use crate::args::{b, s};
use crate::ctx::{Ctx, want_args};
use crate::error::CliError;
use crate::output::{self, value_text};
use crate::settings::Format;

const USAGE: &str = "Usage: vault operator raft <subcommand> [options] [args]

Subcommands:
    list-peers                 List the Raft peers (Node, Address, State, Voter)
    join LEADER_API_ADDR       Join this (uninitialized) node to a cluster
    remove-peer SERVER_ID      Remove a peer from the configuration
    autopilot get-config|set-config|state
    snapshot save|restore|inspect FILE
";

pub(crate) async fn run(ctx: &mut Ctx<'_>, args: &[String]) -> Result<i32, CliError> {
    let Some((sub, rest)) = subcommand(ctx, args, USAGE)? else {
        return Ok(0);
    };
    match sub {
        "list-peers" => list_peers(ctx, rest).await,
        "join" => join(ctx, rest).await,
        "remove-peer" => remove_peer(ctx, rest).await,
        "autopilot" => autopilot(ctx, rest).await,
        "snapshot" => super::raft_snapshot::run(ctx, rest).await,
        other => Err(unknown(ctx, "operator raft", other, USAGE)),
    }
}

/// The peer table rows from a `sys/storage/raft/configuration` response.
pub(crate) fn peer_rows(body: &Value) -> Vec<Vec<String>> {
    data_of(body)
        .get("config")
        .and_then(|c| c.get("servers"))
        .and_then(Value::as_array)
        .map(|servers| {
            servers
                .iter()
                .map(|srv| {
                    let leader = srv.get("leader").and_then(Value::as_bool) == Some(true);
                    vec![
                        text(srv, "node_id"),
                        text(srv, "address"),
                        if leader { "leader" } else { "follower" }.to_owned(),
                        text(srv, "voter"),
                    ]
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn list_peers(ctx: &mut Ctx<'_>, args: &[String]) -> Result<i32, CliError> {
    let usage = "Usage: vault operator raft list-peers [options]\n";
    let Some(p) = ctx.parse(usage, &[], args)? else {
        return Ok(0);
    };
    want_args(&p, 0, 0, usage)?;
    let (st, client) = ctx.connect(&p)?;
    let body = client
        .get("sys/storage/raft/configuration")
        .await
        .map_err(|e| e.context("Error reading the raft cluster configuration"))?
        .unwrap_or(Value::Null);
    if st.format == Format::Json {
        ctx.print(&output::json(&body));
        return Ok(0);
    }
    ctx.print(&output::table(
        Some(&["Node", "Address", "State", "Voter"]),
        &peer_rows(&body),
    ));
    Ok(0)
}

/// A TLS flag value: `@path` or an existing file path is read; anything else is PEM text.
fn pem_arg(v: &str) -> Result<String, CliError> {
    let path = v.strip_prefix('@').unwrap_or(v);
    if v.starts_with('@') || std::path::Path::new(path).is_file() {
        return std::fs::read_to_string(path)
            .map_err(|e| CliError::io(format!("Error reading {path}"), e));
    }
    Ok(v.to_owned())
}

const JOIN_USAGE: &str = "Usage: vault operator raft join [options] LEADER_API_ADDR

  -leader-ca-cert=FILE  -leader-client-cert=FILE  -leader-client-key=FILE
  -leader-tls-servername=NAME  -retry  -non-voter
";

async fn join(ctx: &mut Ctx<'_>, args: &[String]) -> Result<i32, CliError> {
    let flags = [
        s("leader-ca-cert"),
        s("leader-client-cert"),
        s("leader-client-key"),
        s("leader-tls-servername"),
        s("auto-join-scheme"),
        s("auto-join-port"),
        b("retry"),
        b("non-voter"),
    ];
    let Some(p) = ctx.parse(JOIN_USAGE, &flags, args)? else {
        return Ok(0);
    };
    want_args(&p, 1, 1, JOIN_USAGE)?;
    let (st, client) = ctx.connect(&p)?;
    let mut body = Map::new();
    body.insert("leader_api_addr".into(), json!(p.positionals[0]));
    for (flag, field) in [
        ("leader-ca-cert", "leader_ca_cert"),
        ("leader-client-cert", "leader_client_cert"),
        ("leader-client-key", "leader_client_key"),
    ] {
        if let Some(v) = p.str(flag) {
            body.insert(field.into(), json!(pem_arg(v)?));
        }
    }
    if let Some(v) = p.str("leader-tls-servername") {
        body.insert("leader_tls_servername".into(), json!(v));
    }
    body.insert("retry".into(), json!(p.bool("retry")));
    body.insert("non_voter".into(), json!(p.bool("non-voter")));
    let resp = client
        .post("sys/storage/raft/join", &Value::Object(body))
        .await
        .map_err(|e| e.context("Error joining the node to the Raft cluster"))?
        .unwrap_or(Value::Null);
    let rows = vec![("Joined".to_owned(), text(&resp, "joined"))];
    ctx.show_object(&st, &resp, rows)
}

async fn remove_peer(ctx: &mut Ctx<'_>, args: &[String]) -> Result<i32, CliError> {
    let usage = "Usage: vault operator raft remove-peer [options] SERVER_ID\n";
    let Some(p) = ctx.parse(usage, &[], args)? else {
        return Ok(0);
    };
    want_args(&p, 1, 1, usage)?;
    let (_, client) = ctx.connect(&p)?;
    client
        .post(
            "sys/storage/raft/remove-peer",
            &json!({"server_id": p.positionals[0]}),
        )
        .await
        .map_err(|e| e.context("Error removing the peer from raft cluster"))?;
    ctx.print("Peer removed successfully!\n");
    Ok(0)
}

const AP_USAGE: &str =
    "Usage: vault operator raft autopilot <get-config|set-config|state> [options]

  set-config: -cleanup-dead-servers -dead-server-last-contact-threshold=DUR
              -last-contact-threshold=DUR -max-trailing-logs=N -min-quorum=N
              -server-stabilization-time=DUR
";

const AP_CONFIG: &str = "sys/storage/raft/autopilot/configuration";

async fn autopilot(ctx: &mut Ctx<'_>, args: &[String]) -> Result<i32, CliError> {
    let Some((sub, rest)) = subcommand(ctx, args, AP_USAGE)? else {
        return Ok(0);
    };
    match sub {
        "get-config" => {
            let Some(p) = ctx.parse(AP_USAGE, &[], rest)? else {
                return Ok(0);
            };
            want_args(&p, 0, 0, AP_USAGE)?;
            let (st, client) = ctx.connect(&p)?;
            let body = client
                .get(AP_CONFIG)
                .await
                .map_err(|e| e.context("Error reading the autopilot configuration"))?
                .unwrap_or(Value::Null);
            let rows = config_rows(data_of(&body));
            ctx.show_object(&st, &body, rows)
        }
        "set-config" => set_config(ctx, rest).await,
        "state" => {
            let Some(p) = ctx.parse(AP_USAGE, &[], rest)? else {
                return Ok(0);
            };
            want_args(&p, 0, 0, AP_USAGE)?;
            let (st, client) = ctx.connect(&p)?;
            let body = client
                .get("sys/storage/raft/autopilot/state")
                .await
                .map_err(|e| e.context("Error checking autopilot state"))?
                .unwrap_or(Value::Null);
            if st.format == Format::Table && st.field.is_none() {
                ctx.print(&state_text(data_of(&body)));
                return Ok(0);
            }
            ctx.show_object(&st, &body, vec![])
        }
        other => Err(unknown(ctx, "operator raft autopilot", other, AP_USAGE)),
    }
}

/// Rows of the autopilot configuration table.
pub(crate) fn config_rows(d: &Value) -> Vec<(String, String)> {
    [
        ("cleanup_dead_servers", "Cleanup Dead Servers"),
        ("last_contact_threshold", "Last Contact Threshold"),
        (
            "dead_server_last_contact_threshold",
            "Dead Server Last Contact Threshold",
        ),
        ("server_stabilization_time", "Server Stabilization Time"),
        ("min_quorum", "Min Quorum"),
        ("max_trailing_logs", "Max Trailing Logs"),
    ]
    .iter()
    .map(|(k, label)| ((*label).to_owned(), text(d, k)))
    .collect()
}

/// The autopilot state as text: a summary table and one table per server.
pub(crate) fn state_text(d: &Value) -> String {
    let mut out = output::kv_table(&[
        ("Healthy".into(), text(d, "healthy")),
        ("Failure Tolerance".into(), text(d, "failure_tolerance")),
        ("Leader".into(), text(d, "leader")),
        ("Voters".into(), text(d, "voters")),
    ]);
    if let Some(Value::Object(servers)) = d.get("servers") {
        let mut ids: Vec<&String> = servers.keys().collect();
        ids.sort();
        for id in ids {
            let srv = &servers[id];
            out.push_str(&format!("\nServer {id}\n"));
            let rows: Vec<Vec<String>> = [
                ("name", "Name"),
                ("address", "Address"),
                ("status", "Status"),
                ("node_status", "Node Status"),
                ("healthy", "Healthy"),
                ("last_contact", "Last Contact"),
                ("last_term", "Last Term"),
                ("last_index", "Last Index"),
                ("version", "Version"),
            ]
            .iter()
            .filter_map(|(k, label)| {
                srv.get(*k)
                    .map(|v| vec![format!("   {label}"), value_text(v)])
            })
            .collect();
            out.push_str(&output::table(None, &rows));
        }
    }
    out
}

async fn set_config(ctx: &mut Ctx<'_>, args: &[String]) -> Result<i32, CliError> {
    let flags = [
        b("cleanup-dead-servers"),
        s("dead-server-last-contact-threshold"),
        s("last-contact-threshold"),
        s("max-trailing-logs"),
        s("min-quorum"),
        s("server-stabilization-time"),
    ];
    let Some(p) = ctx.parse(AP_USAGE, &flags, args)? else {
        return Ok(0);
    };
    want_args(&p, 0, 0, AP_USAGE)?;
    let mut body = Map::new();
    if p.has("cleanup-dead-servers") {
        body.insert(
            "cleanup_dead_servers".into(),
            json!(p.bool("cleanup-dead-servers")),
        );
    }
    for (flag, field) in [
        (
            "dead-server-last-contact-threshold",
            "dead_server_last_contact_threshold",
        ),
        ("last-contact-threshold", "last_contact_threshold"),
        ("server-stabilization-time", "server_stabilization_time"),
    ] {
        if let Some(secs) = p.duration(flag)? {
            body.insert(field.into(), json!(tresor_sdk::duration::format_secs(secs)));
        }
    }
    for (flag, field) in [
        ("max-trailing-logs", "max_trailing_logs"),
        ("min-quorum", "min_quorum"),
    ] {
        if let Some(n) = p.int(flag)? {
            body.insert(field.into(), json!(n));
        }
    }
    let (_, client) = ctx.connect(&p)?;
    client
        .post(AP_CONFIG, &Value::Object(body))
        .await
        .map_err(|e| e.context("Error updating the autopilot configuration"))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_and_state() {
        let body = json!({"data":{"config":{"index":3,"servers":[
            {"node_id":"n1","address":"10.0.0.1:8201","leader":true,"voter":true},
            {"node_id":"n2","address":"10.0.0.2:8201","leader":false,"voter":false}]}}});
        let rows = peer_rows(&body);
        assert_eq!(rows[0], vec!["n1", "10.0.0.1:8201", "leader", "true"]);
        assert_eq!(rows[1], vec!["n2", "10.0.0.2:8201", "follower", "false"]);
        assert!(peer_rows(&json!({})).is_empty());
        let st = state_text(
            &json!({"healthy":true,"failure_tolerance":1,"leader":"n1","voters":["n1","n2"],
            "servers":{"n1":{"name":"n1","address":"a:1","status":"leader","healthy":true}}}),
        );
        assert!(st.contains("Failure Tolerance    1"));
        assert!(st.contains("Server n1"));
        assert!(
            st.lines()
                .any(|l| l.trim_start().starts_with("Status") && l.ends_with("leader")),
            "{st}"
        );
    }
}
