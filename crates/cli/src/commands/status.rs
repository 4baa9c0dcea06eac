//! `status`: seal and HA status; exit 2 when sealed.

use serde_json::Value;

use super::text;
use crate::ctx::Ctx;
use crate::error::CliError;
use crate::settings::Format;

const USAGE: &str = "Usage: vault status [options]\n\n  Prints the seal and HA status of the server. Exit code 0 when unsealed, 2 when sealed, 1 on error.\n";

/// Rows of the status table from seal-status and (optionally) leader responses.
pub(crate) fn status_rows(seal: &Value, leader: Option<&Value>) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    let mut row = |k: &str, v: String| rows.push((k.to_owned(), v));
    let recovery = seal.get("recovery_seal").and_then(Value::as_bool) == Some(true);
    let sealed = seal.get("sealed").and_then(Value::as_bool).unwrap_or(true);
    row("Seal Type", text(seal, "type"));
    if recovery && let Some(t) = seal.get("recovery_seal_type") {
        row("Recovery Seal Type", crate::output::value_text(t));
    }
    row("Initialized", text(seal, "initialized"));
    row("Sealed", text(seal, "sealed"));
    if recovery {
        row("Total Recovery Shares", text(seal, "n"));
    } else {
        row("Total Shares", text(seal, "n"));
    }
    row("Threshold", text(seal, "t"));
    if sealed {
        row(
            "Unseal Progress",
            format!("{}/{}", text(seal, "progress"), text(seal, "t")),
        );
        row("Unseal Nonce", text(seal, "nonce"));
    }
    row("Version", text(seal, "version"));
    for (k, label) in [
        ("build_date", "Build Date"),
        ("storage_type", "Storage Type"),
        ("cluster_name", "Cluster Name"),
        ("cluster_id", "Cluster ID"),
    ] {
        if let Some(v) = seal.get(k).filter(|v| !v.is_null()) {
            row(label, crate::output::value_text(v));
        }
    }
    if let Some(l) = leader {
        let ha = l.get("ha_enabled").and_then(Value::as_bool) == Some(true);
        row("HA Enabled", ha.to_string());
        if ha {
            let is_self = l.get("is_self").and_then(Value::as_bool) == Some(true);
            row("HA Cluster", text(l, "leader_cluster_address"));
            row(
                "HA Mode",
                if is_self { "active" } else { "standby" }.to_owned(),
            );
            if is_self {
                if let Some(t) = l.get("active_time").and_then(Value::as_str) {
                    row("Active Since", t.to_owned());
                }
            } else {
                row("Active Node Address", text(l, "leader_address"));
            }
            for (k, label) in [
                ("raft_committed_index", "Raft Committed Index"),
                ("raft_applied_index", "Raft Applied Index"),
            ] {
                if let Some(v) = l.get(k) {
                    row(label, crate::output::value_text(v));
                }
            }
        }
    }
    rows
}

pub(crate) async fn run(ctx: &mut Ctx<'_>, args: &[String]) -> Result<i32, CliError> {
    let Some(p) = ctx.parse(USAGE, &[], args)? else {
        return Ok(0);
    };
    crate::ctx::want_args(&p, 0, 0, USAGE)?;
    let (st, client) = ctx.connect(&p)?;
    let seal = client
        .get("sys/seal-status")
        .await
        .map_err(|e| e.context("Error checking seal status"))?
        .unwrap_or(Value::Null);
    let sealed = seal.get("sealed").and_then(Value::as_bool).unwrap_or(true);
    let leader = if sealed {
        None
    } else {
        client.get("sys/leader").await.ok().flatten()
    };
    let rows = status_rows(&seal, leader.as_ref());
    let mut merged = seal.clone();
    if let (Value::Object(m), Some(Value::Object(l))) = (&mut merged, &leader) {
        for (k, v) in l {
            m.entry(k.clone()).or_insert(v.clone());
        }
    }
    if st.format == Format::Json || st.field.is_some() {
        ctx.show_object(&st, &merged, rows)?;
    } else {
        ctx.print(&crate::output::kv_table(&rows));
    }
    Ok(if sealed { 2 } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sealed_and_unsealed_rows() {
        let sealed = json!({"type":"shamir","initialized":true,"sealed":true,"t":3,"n":5,
            "progress":1,"nonce":"abc","version":"0.1.0"});
        let rows = status_rows(&sealed, None);
        assert!(rows.contains(&("Unseal Progress".into(), "1/3".into())));
        assert!(rows.contains(&("Total Shares".into(), "5".into())));
        assert!(!rows.iter().any(|(k, _)| k == "HA Enabled"));
        let open = json!({"type":"shamir","initialized":true,"sealed":false,"t":3,"n":5,
            "progress":0,"version":"0.1.0","cluster_name":"c1"});
        let leader = json!({"ha_enabled":true,"is_self":true,"active_time":"2024-01-01T00:00:00Z",
            "leader_cluster_address":"https://n1:8201","raft_committed_index":7});
        let rows = status_rows(&open, Some(&leader));
        assert!(!rows.iter().any(|(k, _)| k == "Unseal Progress"));
        assert!(rows.contains(&("HA Mode".into(), "active".into())));
        assert!(rows.contains(&("Raft Committed Index".into(), "7".into())));
        assert!(rows.contains(&("Cluster Name".into(), "c1".into())));
    }
}
