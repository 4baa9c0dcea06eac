//! Tresor's core: everything between the HTTP layer and storage.
//!
//! - [`Core`] owns the seal lifecycle: `init`, `unseal`, `seal`, generate-root and rekey
//!   ceremonies, and the post-unseal state (mount tables, policy store, token store).
//! - [`Core::handle`] runs a logical request through authentication (token), routing
//!   (longest-prefix mount match), the ACL check (create vs update decided by the backend's
//!   existence check, sudo for root paths) and the backend.
//! - [`Core::serve`] is the same pipeline with response wrapping (`X-Vault-Wrap-TTL`), answering
//!   a [`Reply`]; `wrapping` also serves `sys/wrapping/{lookup,unwrap,rewrap}`.
//! - `system` implements the `sys/` logical endpoints (mounts, policies, capabilities,
//!   key rotation, audit devices, automated snapshots, internal UI mounts).
//! - [`audit`] keeps the audit table and the broker the pipeline records through (fail
//!   closed); `snapshot` saves and restores the storage through a [`SnapshotStore`].
//!
//! With auto seals (`CoreOptions::seals`) the node unseals itself ([`Core::auto_unseal`],
//! retried in the background by [`run_auto_unseal`]) and operators hold recovery keys, which
//! authorize generate-root and recovery-key rekeys but never unseal on their own.
//!
//! A node whose configured seal differs from the one storage is sealed with is in seal
//! migration mode ([`SealMigration`], [`Core::unseal_migrate`]).
//!
//! HA-awareness comes through [`HaHandles`]: small traits by which the cluster layer tells the
//! core whether this node is the active one and who leads ([`Leadership`]), forwards requests
//! ([`Forwarding`]), changes the membership ([`Membership`]) and runs autopilot
//! ([`AutopilotControl`]).

mod active;
pub mod audit;
mod auto_seal;
mod autopilot_store;
mod batch_keys;
mod ceremony;
mod core;
mod envelope;
mod error;
mod ha;
mod ha_ops;
mod identity;
mod init;
mod join;
mod key_rotation;
mod leases;
mod metrics;
mod migration;
pub mod mounts;
mod periodic;
mod pipeline;
mod policy_store;
mod recovery;
mod rekey;
pub mod snapshot;
mod standby;
mod status;
mod system;
mod wrapping;

pub use crate::core::{Core, CoreOptions};
pub use audit::{AuditBroker, AuditError, AuditSettings, RequestMeta};
pub use auto_seal::{AutoUnsealTiming, Backoff, format_delay, jittered, run_auto_unseal};
pub use autopilot_store::AUTOPILOT_PREFIX;
pub use ceremony::{GenerateRootStatus, RekeyStatus, RekeyTarget, RekeyUpdate, RekeyVerifyStatus};
pub use envelope::{envelope, wrapped_envelope};
pub use error::CoreError;
pub use ha::{
    AdmittedNode, AutopilotConfiguration, AutopilotControl, AutopilotServer, AutopilotState,
    ForwardedRequest, ForwardedResponse, Forwarding, HaHandles, JoinAdmission, JoinParams,
    LeaderInfo, Leadership, Membership, Peer, RaftConfiguration, RaftServer, RaftSummary,
    SingleNode,
};
pub use init::{InitRequest, InitResponse};
pub use join::{CHALLENGE_TTL, CLUSTER_TLS_PREFIX, JoinChallenge, MAX_SERVER_ID_LEN};
pub use key_rotation::{
    FLUSH_BATCH, FLUSH_INTERVAL, MAX_MAX_OPERATIONS, MIN_INTERVAL, MIN_MAX_OPERATIONS,
    ROTATION_CONFIG_PATH, RotationConfig, RotationReason,
};
pub use metrics::{MeteredSeal, metered_seals};
pub use migration::SealMigration;
pub use pipeline::{CoreRequest, Method, WRITE_TO_DIRECTORY};
pub use snapshot::{SnapshotStore, SnapshotStoreError};
pub use status::{
    HealthReport, HealthStatus, LeaderStatus, SealHealth, SealStatus, SealStatusReport,
};
pub use wrapping::{Reply, WrapInfo};
