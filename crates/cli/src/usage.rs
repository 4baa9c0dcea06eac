//! The top-level usage text.

/// Printed for `-h` and for unknown commands.
pub(crate) const TOP: &str = "\
Usage: vault <command> [args]

Common commands:
    read        Read data and retrieves secrets
    write       Write data, configuration, and secrets
    delete      Delete secrets and configuration
    list        List data or secrets
    login       Authenticate locally
    status      Print seal and HA status

Other commands:
    audit       Interact with audit devices
    auth        Interact with auth methods
    kv          Interact with the key/value secrets engine
    lease       Interact with leases (lookup, renew, revoke [-prefix] [-force])
    operator    Perform operator-specific tasks (init, unseal, seal, raft, ...)
    policy      Interact with policies
    secrets     Interact with secrets engines
    token       Interact with tokens
    version     Print the version

Flags go before positional arguments: vault kv get -mount=secret foo
Environment: VAULT_ADDR, VAULT_TOKEN, VAULT_CACERT, VAULT_CLIENT_CERT, VAULT_CLIENT_KEY,
VAULT_SKIP_VERIFY, VAULT_FORMAT (BAO_* as fallbacks); token file ~/.vault-token.
";
