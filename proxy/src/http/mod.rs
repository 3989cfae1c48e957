//! HTTP plumbing both directions share: the body type, serving a
//! connection, hop-by-hop header rules, the pooled HTTP/2 client, the
//! upgrade handshake and response metrics.
//!
//! Outbound, an app's HTTP/1 or HTTP/2 connection to a meshed destination
//! is served and each request carried over one pooled, multiplexed HTTP/2
//! connection inside mesh mTLS ([`crate::outbound::http`]). Inbound, HTTP
//! from a mesh link or from an unauthenticated client is served request by
//! request, so each is authorized on its own and the app receives the
//! verified client id ([`crate::inbound::http`]). Each request reaches the
//! app in the protocol the client app spoke.

pub mod body;
pub mod h1_pool;
pub mod headers;
pub mod observe;
pub mod pool;
pub mod server;
pub mod upgrade;

use tokio::io::{AsyncRead, AsyncWrite};

/// A connection's stream, whatever wraps it. hyper's clients and servers
/// take it boxed, so each is compiled once rather than once per stream type:
/// those copies were the largest share of the proxy's code, which every pod
/// maps. The cost is an indirect call per read and write.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}
