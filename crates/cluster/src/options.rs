//! Limits and timeouts of the cluster server and client, with defaults tuned for Raft.

use std::time::Duration;

use tresor_raft::Timing;

/// Largest request or reply body accepted by default. Raft snapshot chunks are JSON-encoded
/// (about 3.5 bytes per payload byte for openraft's 3 MiB chunks), so this is generous.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Limits of [`ClusterServer`](crate::ClusterServer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerOptions {
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Time allowed to read a request body and run its handler.
    pub request_timeout: Duration,
    /// Time allowed for a client to finish the TLS handshake.
    pub handshake_timeout: Duration,
    /// Connections served at once; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// Streams (requests in flight) per HTTP/2 connection.
    pub max_concurrent_streams: u32,
    /// Time given to open connections to finish after shutdown is requested.
    pub shutdown_grace: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            request_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            max_connections: 256,
            max_concurrent_streams: 128,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// Timeouts and limits of [`ClusterClient`](crate::ClusterClient).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientOptions {
    /// Time allowed for DNS, TCP connect, TLS handshake and HTTP/2 setup to one peer.
    pub connect_timeout: Duration,
    /// Time allowed for one request, from sending to the last byte of the reply.
    pub request_timeout: Duration,
    /// Largest accepted reply body.
    pub max_body_bytes: usize,
    /// HTTP/2 keep-alive ping interval on idle pooled connections (`None`: no pings).
    pub keep_alive_interval: Option<Duration>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self::for_timing(Timing::for_multiplier(0))
    }
}

impl ClientOptions {
    /// Options for a Raft node with timers `timing`:
    ///
    /// - connect timeout = the minimum election timeout, at least 500 ms: a peer that cannot
    ///   be reached within one election period is reported down, and openraft retries;
    /// - request timeout = four maximum election timeouts, at least 5 s (snapshot chunks);
    /// - keep-alive pings every election timeout, so a silently dead connection is noticed.
    pub fn for_timing(timing: Timing) -> Self {
        let ms = Duration::from_millis;
        Self {
            connect_timeout: ms(timing.election_min_ms).max(ms(500)),
            request_timeout: ms(timing.election_max_ms.saturating_mul(4)).max(ms(5_000)),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            keep_alive_interval: Some(ms(timing.election_min_ms).max(ms(500))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_timeouts_follow_the_multiplier_with_floors() {
        let fast = ClientOptions::for_timing(Timing::for_multiplier(1));
        assert_eq!(fast.connect_timeout, Duration::from_millis(500));
        assert_eq!(fast.request_timeout, Duration::from_secs(5));
        let t = Timing::for_multiplier(20);
        let slow = ClientOptions::for_timing(t);
        assert_eq!(
            slow.connect_timeout,
            Duration::from_millis(t.election_min_ms)
        );
        assert!(t.election_min_ms > 500 && t.election_max_ms * 4 > 5_000);
        assert_eq!(
            slow.request_timeout,
            Duration::from_millis(t.election_max_ms * 4)
        );
        assert_eq!(
            ClientOptions::default(),
            ClientOptions::for_timing(Timing::for_multiplier(5))
        );
    }
}
