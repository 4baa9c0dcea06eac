//! `tresor server -dev`: a throwaway node on loopback, initialized, unsealed, with KV v2 at
//! `secret/`, its data in a temporary directory.

use tresor_core::{CoreRequest, InitRequest, Method};

use crate::flags::ServerFlags;

/// Runs dev mode until a signal; returns the exit code.
pub(crate) async fn run(flags: ServerFlags) -> i32 {
    if let Err(e) = crate::logging::init(
        flags.log_level.as_deref().unwrap_or("info"),
        None,
        Default::default(),
        false,
    ) {
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
    let config = tresor_config::dev_config(&listen, dir.path());
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
        path: "sys/mounts/secret".into(),
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
    let addr = node
        .api_addrs
        .first()
        .map(|a| format!("http://{a}"))
        .unwrap_or_default();
    println!(
        "==> Tresor server started in DEV mode. Do not run dev mode in production.\n\n\
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
    crate::server::wait_signal_public().await;
    node.stop().await;
    drop(dir);
    0
}
