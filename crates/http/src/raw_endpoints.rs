//! The raw `sys/` endpoints as declarations: which need no token, which need `sudo`, which
//! are audited, which every node answers itself. The pipeline's rules for them (canonical
//! path, bounds, authentication, audit) are applied from this table in one place
//! ([`crate::raw::handle`]), never inside a handler.

use axum::http::Method;
use tresor_policy::Capability;

/// Who may call a raw endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// Anyone: a sealed or uninitialized node must answer it.
    Unauthenticated,
    /// A token holding `sudo` and the method's capability on the path.
    Sudo,
}

/// A listener switch that turns an unauthenticated endpoint off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Switch {
    /// `disable_unauthed_generate_root_endpoints`.
    GenerateRoot,
    /// `disable_unauthed_rekey_endpoints`.
    Rekey,
}

/// The listener's switches for unauthenticated endpoints (OpenBao's keys, default off as in
/// Vault).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawSwitches {
    /// `disable_unauthed_generate_root_endpoints`: `sys/generate-root/*` is not served.
    pub disable_unauthed_generate_root: bool,
    /// `disable_unauthed_rekey_endpoints`: `sys/rekey/*` and `sys/rekey-recovery-key/*` are
    /// not served.
    pub disable_unauthed_rekey: bool,
}

impl RawSwitches {
    /// Whether `switch` is on.
    pub(crate) fn disables(self, switch: Option<Switch>) -> bool {
        match switch {
            None => false,
            Some(Switch::GenerateRoot) => self.disable_unauthed_generate_root,
            Some(Switch::Rekey) => self.disable_unauthed_rekey,
        }
    }
}

/// The methods a raw endpoint takes (bits: [`GET`] also covers HEAD, [`WRITE`] is PUT and
/// POST, [`DELETE`]).
pub(crate) type Methods = u8;
/// GET and HEAD.
pub(crate) const GET: Methods = 1;
/// PUT and POST.
pub(crate) const WRITE: Methods = 2;
/// DELETE.
pub(crate) const DELETE: Methods = 4;

/// Whether `method` is one of `methods`.
pub(crate) fn takes(methods: Methods, method: &Method) -> bool {
    let bit = match *method {
        Method::GET | Method::HEAD => GET,
        Method::PUT | Method::POST => WRITE,
        Method::DELETE => DELETE,
        _ => 0,
    };
    methods & bit != 0
}

/// One raw endpoint.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RawEndpoint {
    /// The canonical path (after `/v1/`), matched exactly.
    pub(crate) path: &'static str,
    /// The methods it takes (any other is answered 405 before anything else).
    pub(crate) methods: Methods,
    /// Who may call it.
    pub(crate) access: Access,
    /// Whether requests are recorded by the audit stage (Vault leaves init, seal-status,
    /// seal, unseal, leader, health and the raft join handshake out of audit, so a health
    /// check or an unseal never depends on an audit device).
    pub(crate) audited: bool,
    /// Whether every node answers it itself (a standby does not forward it).
    pub(crate) local: bool,
    /// The listener switch that turns it off, if any.
    pub(crate) switch: Option<Switch>,
}

const fn ep(
    path: &'static str,
    methods: Methods,
    access: Access,
    audited: bool,
    local: bool,
) -> RawEndpoint {
    RawEndpoint {
        path,
        methods,
        access,
        audited,
        local,
        switch: None,
    }
}

const fn switched(path: &'static str, methods: Methods, switch: Switch) -> RawEndpoint {
    RawEndpoint {
        path,
        methods,
        access: Access::Unauthenticated,
        audited: true,
        local: false,
        switch: Some(switch),
    }
}

use Access::{Sudo, Unauthenticated};

/// Every raw endpoint.
pub(crate) const RAW_ENDPOINTS: &[RawEndpoint] = &[
    ep("sys/init", GET | WRITE, Unauthenticated, false, true),
    ep("sys/seal-status", GET, Unauthenticated, false, true),
    ep("sys/unseal", WRITE, Unauthenticated, false, true),
    ep("sys/seal", WRITE, Sudo, false, false),
    ep("sys/health", GET, Unauthenticated, false, true),
    ep("sys/leader", GET, Unauthenticated, false, true),
    ep("sys/step-down", WRITE, Sudo, true, false),
    switched(
        "sys/generate-root",
        GET | WRITE | DELETE,
        Switch::GenerateRoot,
    ),
    switched(
        "sys/generate-root/attempt",
        GET | WRITE | DELETE,
        Switch::GenerateRoot,
    ),
    switched("sys/generate-root/update", WRITE, Switch::GenerateRoot),
    switched("sys/rekey/init", GET | WRITE | DELETE, Switch::Rekey),
    switched("sys/rekey/update", WRITE, Switch::Rekey),
    switched("sys/rekey/verify", GET | WRITE | DELETE, Switch::Rekey),
    switched("sys/rekey/backup", GET | DELETE, Switch::Rekey),
    switched("sys/rekey/recovery-key-backup", GET | DELETE, Switch::Rekey),
    switched(
        "sys/rekey-recovery-key/init",
        GET | WRITE | DELETE,
        Switch::Rekey,
    ),
    switched("sys/rekey-recovery-key/update", WRITE, Switch::Rekey),
    switched(
        "sys/rekey-recovery-key/verify",
        GET | WRITE | DELETE,
        Switch::Rekey,
    ),
    ep("sys/storage/raft/join", WRITE, Unauthenticated, false, true),
    ep(
        "sys/storage/raft/bootstrap/challenge",
        WRITE,
        Unauthenticated,
        false,
        false,
    ),
    ep(
        "sys/storage/raft/bootstrap/answer",
        WRITE,
        Unauthenticated,
        false,
        false,
    ),
    ep("sys/storage/raft/configuration", GET, Sudo, true, false),
    ep("sys/storage/raft/remove-peer", WRITE, Sudo, true, false),
    ep(
        "sys/storage/raft/autopilot/configuration",
        GET | WRITE,
        Sudo,
        true,
        false,
    ),
    ep("sys/storage/raft/autopilot/state", GET, Sudo, true, false),
];

/// The raw endpoint at `path`, if it is one.
pub(crate) fn lookup(path: &str) -> Option<&'static RawEndpoint> {
    RAW_ENDPOINTS.iter().find(|e| e.path == path)
}

/// The capability a method needs on a raw endpoint (with `sudo`).
pub(crate) fn capability(method: &Method) -> Capability {
    match *method {
        Method::GET | Method::HEAD => Capability::Read,
        Method::DELETE => Capability::Delete,
        _ => Capability::Update,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_path_is_declared_once() {
        for (i, e) in RAW_ENDPOINTS.iter().enumerate() {
            assert!(
                RAW_ENDPOINTS[i + 1..].iter().all(|o| o.path != e.path),
                "{} twice",
                e.path
            );
            assert!(
                tresor_sdk::CanonicalPath::parse(e.path).is_some(),
                "{}",
                e.path
            );
        }
    }

    #[test]
    fn vaults_unaudited_endpoints_stay_out_of_audit() {
        for path in [
            "sys/init",
            "sys/seal-status",
            "sys/seal",
            "sys/unseal",
            "sys/leader",
            "sys/health",
            "sys/storage/raft/join",
            "sys/storage/raft/bootstrap/challenge",
            "sys/storage/raft/bootstrap/answer",
        ] {
            assert!(!lookup(path).is_some_and(|e| e.audited), "{path}");
        }
        assert!(lookup("sys/step-down").is_some_and(|e| e.audited));
    }

    #[test]
    fn sudo_endpoints() {
        for path in [
            "sys/seal",
            "sys/step-down",
            "sys/storage/raft/configuration",
            "sys/storage/raft/remove-peer",
            "sys/storage/raft/autopilot/configuration",
            "sys/storage/raft/autopilot/state",
        ] {
            assert_eq!(lookup(path).map(|e| e.access), Some(Access::Sudo), "{path}");
        }
        assert!(lookup("sys/health/").is_none(), "matched exactly");
    }

    #[test]
    fn switches() {
        let off = RawSwitches::default();
        let on = RawSwitches {
            disable_unauthed_generate_root: true,
            disable_unauthed_rekey: false,
        };
        let gr = lookup("sys/generate-root/attempt").map(|e| e.switch);
        let rk = lookup("sys/rekey/init").map(|e| e.switch);
        assert!(!off.disables(gr.flatten()));
        assert!(on.disables(gr.flatten()));
        assert!(!on.disables(rk.flatten()));
    }
}
