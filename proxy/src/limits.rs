//! What one client can hold of the proxy: connections, idle time, header
//! sizes, HTTP/2 streams. Each is a setting (`weft_api::contract::env`) with
//! a default meant to stay out of honest traffic's way, and is counted when
//! hit (`weft_proxy_refused_connections`, by reason).

use std::time::Duration;

#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// Concurrent connections accepted on the inbound side.
    pub max_connections_inbound: usize,
    /// Concurrent connections accepted from the app (outbound side).
    pub max_connections_outbound: usize,
    /// A byte stream with no bytes either way for this long is closed.
    pub tcp_idle: Duration,
    /// An HTTP connection with no bytes either way for this long is
    /// drained (requests in flight finish).
    pub http_idle: Duration,
    /// Time to receive an HTTP/1 request's headers.
    pub header_timeout: Duration,
    /// One request's header bytes (HTTP/1 head; HTTP/2 header list, so
    /// CONTINUATION frames included).
    pub max_header_bytes: usize,
    /// Header fields in one HTTP/1 request.
    pub max_headers: usize,
    /// Concurrent streams per HTTP/2 connection. All of one client pod's
    /// requests to this pod share one connection, so this is generous.
    pub h2_max_streams: u32,
}

/// Streams a client may reset before the server has accepted them (the
/// rapid-reset class); past it the connection is closed with GOAWAY.
pub const H2_MAX_PENDING_RESETS: usize = 20;
/// Streams the server may reset for a client's protocol errors before it
/// closes the connection.
pub const H2_MAX_ERROR_RESETS: usize = 1024;

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections_inbound: 10_000,
            max_connections_outbound: 10_000,
            tcp_idle: Duration::from_secs(3600),
            http_idle: Duration::from_secs(300),
            header_timeout: Duration::from_secs(10),
            max_header_bytes: 64 * 1024,
            max_headers: 100,
            h2_max_streams: 1000,
        }
    }
}
