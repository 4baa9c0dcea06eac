//! `operator health`: each node's role from its `sys/health` answer (the seeds' health-check
//! script as one command), then, with a token, the Raft peers and the audit devices.

use serde_json::{Value, json};

use super::text;
use crate::client::Client;
use crate::ctx::Ctx;
use crate::error::CliError;
use crate::output;
use crate::settings::Format;

const USAGE: &str = "Usage: vault operator health [options] [ADDRESS...]

  Asks each node (VAULT_ADDR when no ADDRESS is given) for sys/health and prints its role:
  ACTIVE, STANDBY, PERFORMANCE STANDBY (a standby answering reads itself), STANDBY (ACTIVE
  NODE OUT OF REACH), DR SECONDARY, SEALED, UNINITIALIZED or UNREACHABLE.
  With a token, also lists the Raft peers and the audit devices (table format).
  Exit status: 0 when every node answered and exactly one is active, 2 otherwise.

  -format=table|json
";

/// A node's role as its `sys/health` status code tells it (Vault's default codes).
pub(crate) fn role(code: Option<u16>) -> String {
    match code {
        Some(200) => "ACTIVE".into(),
        Some(429) => "STANDBY".into(),
        Some(472) => "DR SECONDARY".into(),
        Some(473) => "PERFORMANCE STANDBY".into(),
        Some(474) => "STANDBY (ACTIVE NODE OUT OF REACH)".into(),
        Some(501) => "UNINITIALIZED".into(),
        Some(503) => "SEALED".into(),
        Some(other) => format!("UNREACHABLE (HTTP {other})"),
        None => "UNREACHABLE".into(),
    }
}

/// Whether the answers describe a healthy cluster: every node answered with a known role and
/// exactly one is active.
pub(crate) fn healthy(codes: &[Option<u16>]) -> bool {
    codes.iter().filter(|c| **c == Some(200)).count() == 1
        && codes
            .iter()
            .all(|c| matches!(c, Some(200 | 429 | 472 | 473)))
}

pub(crate) async fn run(ctx: &mut Ctx<'_>, args: &[String]) -> Result<i32, CliError> {
    let Some(p) = ctx.parse(USAGE, &[], args)? else {
        return Ok(0);
    };
    let (st, client) = ctx.connect(&p)?;
    let addresses: Vec<String> = if p.positionals.is_empty() {
        vec![st.address.clone()]
    } else {
        p.positionals
            .iter()
            .map(|a| a.trim_end_matches('/').to_owned())
            .collect()
    };
    let mut rows = Vec::new();
    let mut nodes = Vec::new();
    let mut codes = Vec::new();
    for address in &addresses {
        let mut s = st.clone();
        s.address.clone_from(address);
        let (code, body) = match Client::new(&s) {
            Ok(c) => match c.send_raw("GET", "sys/health", &[], None, None).await {
                Ok((reply, _)) => (Some(reply.status), reply.body.unwrap_or(Value::Null)),
                Err(_) => (None, Value::Null),
            },
            Err(_) => (None, Value::Null),
        };
        codes.push(code);
        let version = match text(&body, "version") {
            v if v.is_empty() => "unknown".to_owned(),
            v => v,
        };
        rows.push(vec![address.clone(), role(code), version.clone()]);
        nodes.push(json!({
            "address": address,
            "status": role(code),
            "http_status": code,
            "version": version,
            "cluster_name": body.get("cluster_name").cloned().unwrap_or(Value::Null),
        }));
    }
    let ok = healthy(&codes);
    if st.format == Format::Json {
        ctx.print(&output::json(&json!({"nodes": nodes, "healthy": ok})));
        return Ok(if ok { 0 } else { 2 });
    }
    ctx.print(&output::table(Some(&["Node", "Status", "Version"]), &rows));
    if st.token.is_some() {
        ctx.print("\nRaft peers:\n");
        let peers = client.get("sys/storage/raft/configuration").await;
        match peers {
            Ok(Some(body)) => {
                let servers = super::data_of(&body)
                    .get("config")
                    .and_then(|c| c.get("servers"))
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let peer_rows: Vec<Vec<String>> = servers
                    .iter()
                    .map(|s| {
                        vec![
                            text(s, "node_id"),
                            text(s, "address"),
                            if s.get("leader").and_then(Value::as_bool) == Some(true) {
                                "leader".into()
                            } else {
                                "follower".into()
                            },
                            text(s, "voter"),
                        ]
                    })
                    .collect();
                ctx.print(&output::table(
                    Some(&["Node", "Address", "State", "Voter"]),
                    &peer_rows,
                ));
            }
            _ => ctx.print("Cannot list peers (no permission, or no Raft storage)\n"),
        }
        ctx.print("\nAudit devices:\n");
        match client.get("sys/audit").await {
            Ok(Some(body)) => {
                let devices: Vec<Vec<String>> = super::data_of(&body)
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .filter(|(_, v)| v.get("type").is_some())
                            .map(|(k, v)| vec![k.clone(), text(v, "type")])
                            .collect()
                    })
                    .unwrap_or_default();
                if devices.is_empty() {
                    ctx.print("No audit devices are enabled.\n");
                } else {
                    ctx.print(&output::table(Some(&["Path", "Type"]), &devices));
                }
            }
            _ => ctx.print("Cannot list audit devices (no permission)\n"),
        }
    }
    Ok(if ok { 0 } else { 2 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_from_health_codes() {
        assert_eq!(role(Some(200)), "ACTIVE");
        assert_eq!(role(Some(429)), "STANDBY");
        assert_eq!(role(Some(473)), "PERFORMANCE STANDBY");
        assert!(role(Some(474)).starts_with("STANDBY ("));
        assert_eq!(role(Some(503)), "SEALED");
        assert_eq!(role(Some(501)), "UNINITIALIZED");
        assert_eq!(role(Some(500)), "UNREACHABLE (HTTP 500)");
        assert_eq!(role(None), "UNREACHABLE");
    }

    #[test]
    fn healthy_means_all_answer_and_one_leads() {
        assert!(healthy(&[Some(200), Some(429), Some(429)]));
        assert!(!healthy(&[Some(429), Some(429)]), "no active node");
        assert!(!healthy(&[Some(200), Some(200)]), "two active nodes");
        assert!(!healthy(&[Some(200), Some(503)]), "a sealed node");
        assert!(!healthy(&[Some(200), None]), "an unreachable node");
        assert!(healthy(&[Some(200), Some(473), Some(473)]));
        assert!(
            !healthy(&[Some(200), Some(473), Some(474)]),
            "a standby out of touch"
        );
    }
}
