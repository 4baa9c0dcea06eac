//! `tresor server -dev`: a throwaway node on loopback, initialized, unsealed, with KV v2 at
//! `secret/`, its data in a temporary directory. With `-dev-three-node`, three such nodes form
//! one Raft cluster (API ports base, base+2, base+4; cluster ports one above each).

use std::time::{Duration, Instant};

use tresor_config::{RetryJoin, ServerConfig, StorageConfig};
use tresor_core::{CoreRequest, InitRequest, Method};

use crate::flags::ServerFlags;
use crate::server::Node;

/// Nodes of `-dev-three-node`.
const DEV_NODES: u16 = 3;

/// Splits `host:port` (the port defaults to 8200).
fn split_listen(listen: &str) -> (String, u16) {
    match listen.rsplit_once(':') {
        Some((h, p)) => (h.to_owned(), p.parse().unwrap_or(8200)),
        None => (listen.to_owned(), 8200),
    }
}

/// The config of dev node `index` (0-based) of a cluster whose first API port is `base`.
fn node_config(host: &str, base: u16, index: u16, dir: &std::path::Path) -> ServerConfig {
    let port = base + 2 * index;
    let mut config = tresor_config::dev_config(&format!("{host}:{port}"), dir);
    if let Some(l) = config.listeners.first_mut() {
        l.cluster_address = format!("{host}:{}", port + 1);
    }
    config.cluster_addr = Some(format!("https://{host}:{}", port + 1));
    if let Some(StorageConfig::Raft(r)) = config.storage.as_mut() {
        r.node_id = Some(format!("node{}", index + 1));
        if index > 0 {
            r.retry_join.push(RetryJoin {
                leader_api_addr: Some(format!("http://{host}:{base}")),
                ..RetryJoin::default()
            });
        }
    }
    config
}

/// Runs dev mode until a signal; returns the exit code.
pub(crate) async fn run(flags: ServerFlags) -> i32 {
    let level = flags
        .log_level
        .clone()
        .or_else(|| std::env::var("VAULT_LOG_LEVEL").ok())
        .unwrap_or_else(|| "info".into());
    let json = crate::logging::json_format(
        flags.log_format.as_deref(),
        std::env::var("VAULT_LOG_FORMAT").ok().as_deref(),
        None,
    );
    if let Err(e) =
        json.and_then(|json| crate::logging::init(&level, None, Default::default(), json))
    {
        eprintln!("Error: {e}");
        return 1;
    }
    let dir = match tempfile::Builder::new().prefix("tresor-dev-").tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("Error: cannot create a temporary directory: {e}");
            return 1;
        }
    };
    let listen = flags
        .dev_listen_address
        .clone()
        .unwrap_or_else(|| "127.0.0.1:8200".into());
    let (host, base) = split_listen(&listen);
    let config = if flags.dev_three_node {
        node_config(&host, base, 0, &dir.path().join("node1"))
    } else {
        tresor_config::dev_config(&listen, dir.path())
    };
    let node = match crate::server::start(&config, &flags).await {
        Ok(n) => n,
        Err(e) => {
            eprintln!("Error: {e}");
            return 1;
        }
    };
    let root_id = flags.dev_root_token_id.clone();
    let init = node
        .core
        .init_with_root_token(InitRequest::shamir(1, 1), root_id.as_deref())
        .await;
    let init = match init {
        Ok(i) => i,
        Err(e) => {
            eprintln!("Error initializing dev server: {e}");
            return 1;
        }
    };
    let key = init.keys_base64.first().cloned().unwrap_or_default();
    if let Err(e) = node.core.unseal(Some(&key), false).await {
        eprintln!("Error unsealing dev server: {e}");
        return 1;
    }
    let mount = CoreRequest {
        method: Method::Write,
        path: tresor_sdk::CanonicalPath::parse("sys/mounts/secret")
            .expect("a literal canonical path"),
        data: serde_json::json!({"type": "kv", "options": {"version": "2"}, "description": "key/value secret storage"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        token: Some(init.root_token.clone()),
    };
    if let Err(e) = node.core.handle(mount).await {
        eprintln!("Error mounting secret/: {e}");
        return 1;
    }
    let mut nodes = vec![node];
    if flags.dev_three_node {
        for i in 1..DEV_NODES {
            match start_follower(&flags, &host, base, i, dir.path(), &key).await {
                Ok(n) => nodes.push(n),
                Err(e) => {
                    eprintln!("Error starting dev node {}: {e}", i + 1);
                    for n in nodes {
                        n.stop().await;
                    }
                    return 1;
                }
            }
        }
    }
    let addrs: Vec<String> = nodes
        .iter()
        .filter_map(|n| n.api_addrs.first().map(|a| format!("http://{a}")))
        .collect();
    let addr = addrs.first().cloned().unwrap_or_default();
    let cluster_note = if flags.dev_three_node {
        format!(
            "Three-node Raft cluster: {} (node1 is the first leader; every node\nanswers and forwards to the active node).\n\n",
            addrs.join(", ")
        )
    } else {
        String::new()
    };
    println!(
        "==> Tresor server started in DEV mode. Do not run dev mode in production.\n\n\
         {cluster_note}\
         Data is kept in a temporary directory and deleted on exit; the node is unsealed and\n\
         already initialized with one unseal key.\n\n\
         You may need to set the following environment variables:\n\n    \
         $ export VAULT_ADDR='{addr}'\n\n\
         The unseal key and root token are displayed below in case you want to\n\
         seal/unseal the node or re-authenticate.\n\n\
         Unseal Key: {key}\n\
         Root Token: {}\n",
        init.root_token
    );
    crate::server::wait_signal_public(nodes.first().map(|n| &n.core)).await;
    for n in nodes.into_iter().rev() {
        n.stop().await;
    }
    drop(dir);
    0
}

/// Starts dev node `index`, lets it join node 1 and unseals it with `key`.
async fn start_follower(
    flags: &ServerFlags,
    host: &str,
    base: u16,
    index: u16,
    dir: &std::path::Path,
    key: &str,
) -> Result<Node, String> {
    let config = node_config(host, base, index, &dir.join(format!("node{}", index + 1)));
    let node = crate::server::start(&config, flags).await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !node.core.has_pending_join() {
        if Instant::now() >= deadline {
            return Err("no join challenge from node1 within 30s".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    node.core
        .unseal(Some(key), false)
        .await
        .map_err(|e| format!("unsealing: {e}"))?;
    Ok(node)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_node_ports_follow_the_base() {
        let dir = std::path::Path::new("/tmp/x");
        let c = node_config("127.0.0.1", 8200, 2, dir);
        assert_eq!(c.listeners[0].address, "127.0.0.1:8204");
        assert_eq!(c.listeners[0].cluster_address, "127.0.0.1:8205");
        assert_eq!(c.cluster_addr.as_deref(), Some("https://127.0.0.1:8205"));
        let r = c.raft().unwrap();
        assert_eq!(r.node_id.as_deref(), Some("node3"));
        assert_eq!(
            r.retry_join[0].leader_api_addr.as_deref(),
            Some("http://127.0.0.1:8200")
        );
        let first = node_config("127.0.0.1", 9000, 0, dir);
        assert!(first.raft().unwrap().retry_join.is_empty());
        assert_eq!(split_listen("127.0.0.1:9000"), ("127.0.0.1".into(), 9000));
    }
}
