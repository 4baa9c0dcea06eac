//! Who sent a request: the peer of the connection, or for a request a standby forwarded, the
//! client the standby saw. Set by the listener and by [`crate::serve_forwarded`] as a request
//! extension (never from a header, so a client cannot claim another address).

use std::net::SocketAddr;

/// The client of a request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientAddr {
    /// The client's address.
    pub remote: Option<SocketAddr>,
    /// The standby that forwarded the request, if one did.
    pub forwarded_from: Option<String>,
    /// The listener address the client connected to (a standby names itself with it when it
    /// forwards).
    pub local: Option<SocketAddr>,
}
