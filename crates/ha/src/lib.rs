//! The HA runtime of a Tresor node, as a library.
//!
//! A node is built in one direction, without reference cycles ([`Node::build`]): the Raft
//! store (opened with elections off), the [`HaRuntime`] over it and the cluster port, then
//! the core, which receives the runtime as the small traits it knows
//! ([`tresor_core::Leadership`], [`tresor_core::Forwarding`], [`tresor_core::Membership`],
//! [`tresor_core::AutopilotControl`]). The runtime never holds the core: operations that need
//! the core's storage receive it as an argument, and [`Node::start`] hands it to the runtime's
//! background tasks (activation, autopilot, certificate rotation and revocation sync, joins),
//! which all run under one [`Supervisor`] and stop with the node.
//!
//! With the `testing` feature, [`testing`] builds clusters of complete nodes in one process.

mod activation;
mod autopilot;
mod cert_rotation;
mod cluster;
mod join_client;
mod node;
mod read_index;
mod revocation;
mod runtime;
mod supervisor;
#[cfg(feature = "testing")]
pub mod testing;

pub use join_client::{AutoJoin, JoinClient, JoinTarget};
pub use node::{Node, NodeError, NodeOptions, SHUTDOWN_GRACE};
pub use runtime::{HaRuntime, RuntimeOptions};
pub use supervisor::Supervisor;
